"""Gates wired to the pipeline run in one process (no broker): the route delivers each gate's
announcements to the run in the same store, the intake's error contract, and the status
view of every phase of a key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from phaseactors import (
    GateActor,
    GateRuntime,
    InvalidKey,
    InvalidMessage,
    PublishFailed,
    RecordingPublisher,
    spec_from_mapping,
)
from phaseactors.core.actor import Actor
from phaseactors.core.events import Event
from phaseactors.errors import StoreUnavailable
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.status import gate_status
from phaseactors.pipeline import (
    PipelineActor,
    PipelineRoute,
    PipelineRuntime,
    accept_announcement,
    pipeline_status,
    route_lifecycle,
)
from phaseactors.stores import MemoryStore
from phaseactors.stores.base import Applied
from pipeline_support import HANDOFF, announcement, small_pipeline
from support import KEY, SMALL_GATE, T0, ManualClock, done


def gate(name: str) -> GateSpec:
    topics = {
        "output": f"{name}-out",
        "lifecycle": "small-lifecycle",
        "alerts": "small-alerts",
    }
    return spec_from_mapping({**SMALL_GATE, "name": name, "topics": topics})


class FlakyStore(MemoryStore):
    """Refuses the pipeline run's writes while ``down``."""

    down = False

    def apply(self, actor: Actor[Any], key: str, event: Event) -> Applied[Any]:
        if self.down and actor.name == "daily":
            raise StoreUnavailable("the run's store is down")
        return super().apply(actor, key, event)


def wired(
    clock: ManualClock, store: MemoryStore | None = None, inner: RecordingPublisher | None = None
) -> tuple[dict[str, GateRuntime], PipelineRuntime, RecordingPublisher]:
    store = store or MemoryStore()
    inner = inner or RecordingPublisher()
    pipeline = small_pipeline()
    gates = {}
    for name in pipeline.gates:
        spec = gate(name)
        route = route_lifecycle(spec, store, inner, pipelines=[pipeline], clock=clock)
        gates[name] = GateRuntime(GateActor(spec), store, route, clock=clock)
    run = PipelineRuntime(PipelineActor(pipeline), store, inner, clock=clock)
    return gates, run, inner


def report_all(runtime: GateRuntime, clock: ManualClock) -> None:
    for name in ("alpha", "beta", "gamma"):
        clock.advance(60)
        runtime.deliver(done(name))


def test_gates_drive_the_run_in_process(clock: ManualClock) -> None:
    gates, run, inner = wired(clock)
    report_all(gates["g1"], clock)
    clock.advance(HANDOFF.total_seconds() + 600)
    run.sweep()
    assert run.load(KEY).state == "stalled"  # type: ignore[union-attr]
    report_all(gates["g2"], clock)
    report_all(gates["g3"], clock)
    snapshot = run.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "done"
    assert [m.entry_id for m in inner.messages] == [
        f"g1/{KEY}/1",
        f"daily/{KEY}/1/alert/stalled/g2",
        f"daily/{KEY}/1/alert/recovered/stalled:g2",
        f"g2/{KEY}/1",
        f"g3/{KEY}/1",
    ]
    g1 = gates["g1"].load(KEY)
    assert g1 is not None
    assert (g1.state, g1.outbox) == ("triggered", ())
    confirmed = [h.cause for h in g1.history if h.event == "confirm_trigger"]
    assert confirmed == [f"published as {inner.messages[0].message_id}"]


def test_a_run_that_cannot_publish_its_alert_still_takes_the_announcement(
    clock: ManualClock,
) -> None:
    inner = RecordingPublisher(fail_when=lambda entry: entry.topic == "small-alerts")
    gates, run, _ = wired(clock, inner=inner)
    report_all(gates["g1"], clock)
    clock.advance(HANDOFF.total_seconds() + 600)
    with pytest.raises(PublishFailed):
        run.tick(KEY)
    report_all(gates["g2"], clock)  # the route takes g2's news although the run's alerts fail
    snapshot = run.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "running"
    assert [e.id for e in snapshot.outbox] == [
        f"daily/{KEY}/1/alert/stalled/g2",
        f"daily/{KEY}/1/alert/recovered/stalled:g2",
    ]
    assert gates["g2"].load(KEY).outbox == ()  # type: ignore[union-attr]
    inner.fail_when = None
    clock.advance(120)  # past the leases of the failed attempts
    run.sweep()
    assert [m.topic for m in inner.messages].count("small-alerts") == 2


def test_a_run_whose_store_refuses_leaves_the_announcement_pending(clock: ManualClock) -> None:
    store = FlakyStore()
    gates, run, _ = wired(clock, store=store)
    store.down = True
    with pytest.raises(PublishFailed, match="the run's store is down"):
        gates["g1"].deliver(done("alpha"))
    pending = gates["g1"].load(KEY)
    assert pending is not None
    assert [e.id for e in pending.outbox] == [f"g1/{KEY}/1/started"]
    store.down = False
    clock.advance(120)
    gates["g1"].sweep()
    assert run.load(KEY).data.phases["g1"].started_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", InvalidMessage),
        ({"kind": "lifecycle", "gate": "g1"}, InvalidMessage),
        ({**announcement("g1", "started").to_json(), "key": "2025-02-30"}, InvalidKey),
    ],
)
def test_a_bad_lifecycle_message_is_quarantined_with_its_reason(
    clock: ManualClock, body: Any, error: type[Exception]
) -> None:
    _, run, _ = wired(clock)
    if isinstance(body, dict) and body.get("announcement_id"):
        body = {k: v for k, v in body.items() if k != "announcement_id"}
    with pytest.raises(error):
        accept_announcement(run, body, message_id="m-1", source="test")
    [quarantined] = run.store.quarantined("daily")
    assert quarantined.message_id == "m-1"
    assert quarantined.reason.startswith(error.__name__)


def test_another_pipelines_gate_is_ignored(clock: ManualClock) -> None:
    _, run, _ = wired(clock)
    other = announcement("elsewhere", "started").to_json()
    assert accept_announcement(run, other, source="test") is None
    assert run.load(KEY) is None
    assert run.store.quarantined() == []


def test_the_route_is_found_from_the_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    from phaseactors import load_spec
    from support import REPO

    monkeypatch.setenv("PHASEACTORS_MACHINES", str(REPO / "machines"))
    route = route_lifecycle(load_spec("phase3_to_phase4"), MemoryStore(), RecordingPublisher())
    assert isinstance(route, PipelineRoute)
    assert [r.spec.name for r in route.runtimes] == ["nba_daily"]
    plain = spec_from_mapping(SMALL_GATE)
    publisher = RecordingPublisher()
    assert route_lifecycle(plain, MemoryStore(), publisher) is publisher


def test_the_status_shows_every_phase_and_what_the_one_in_progress_misses(
    clock: ManualClock,
) -> None:
    gates, run, _ = wired(clock)
    report_all(gates["g1"], clock)
    gates["g2"].deliver(done("alpha"))
    snapshot = run.load(KEY)
    assert snapshot is not None
    statuses = {}
    for name, runtime in gates.items():
        loaded = runtime.load(KEY)
        statuses[name] = gate_status(runtime.spec, loaded) if loaded else None
    clock.advance(7200)
    status = pipeline_status(run.spec, snapshot, gates=statuses, at=clock.now)
    view = status.to_json()
    assert view["state"] == "running"
    assert [p["progress"] for p in view["phases"]] == ["triggered", "started", "not started"]
    assert [p["gate_state"] for p in view["phases"]] == ["triggered", "partial", None]
    assert view["phases"][1]["missing"] == ["beta", "gamma"]
    assert view["phases"][1]["handoff"]["overdue"] is False
    assert view["phases"][0]["trigger_reason"] == "all_done"
    assert view["overall_deadline"] == "2025-11-30T16:00:00+00:00"
    assert view["began_at"] == (T0 + timedelta(minutes=1)).isoformat()
