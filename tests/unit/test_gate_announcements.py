"""A gate's lifecycle announcements and alerts: decided in the step once per (gate, key,
generation, kind or reason), ordered alerts-trigger-announcements in the outbox, published
through the runtime with stable ids; the trigger message unchanged; a gate file without the
topics announces nothing."""

from __future__ import annotations

from typing import Any

import pytest

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    PublishFailed,
    RecordingPublisher,
    spec_from_mapping,
)
from phaseactors.alerts import alert_from_message
from phaseactors.errors import InvalidMessage
from phaseactors.gate.lifecycle import announcement_from_message
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.status import gate_status
from phaseactors.stores import MemoryStore
from support import KEY, SMALL_GATE, CapturedLog, ManualClock, done

ANNOUNCING = {
    **SMALL_GATE,
    "topics": {
        "input": "small-in",
        "output": "small-out",
        "lifecycle": "small-lifecycle",
        "alerts": "small-alerts",
    },
    "deadlines": [
        {"name": "1h", "after_first": "1h", "required": 0.6},
        {"name": "3h", "after_first": "3h", "otherwise": "fail"},
    ],
}


@pytest.fixture
def gate() -> GateSpec:
    return spec_from_mapping(ANNOUNCING, source="announcing.toml")


def make_runtime(
    spec: GateSpec, clock: ManualClock, publisher: RecordingPublisher | None = None
) -> tuple[GateRuntime, RecordingPublisher]:
    publisher = publisher or RecordingPublisher()
    return GateRuntime(GateActor(spec), MemoryStore(), publisher, clock=clock), publisher


def ids(publisher: RecordingPublisher, topic: str | None = None) -> list[str]:
    return [m.entry_id for m in publisher.messages if topic is None or m.topic == topic]


def failed(processor: str, run: str = "run-1") -> Completion:
    return done(processor, f"{processor}-failed-{run}", status="failed", error_message="disk full")


def test_started_and_triggered_are_announced_once_and_the_trigger_is_unchanged(
    gate: GateSpec, clock: ManualClock
) -> None:
    runtime, publisher = make_runtime(gate, clock)
    plain, plain_publisher = make_runtime(
        spec_from_mapping({**ANNOUNCING, "topics": {"output": "small-out"}}), clock
    )
    for name in ("alpha", "alpha", "beta", "gamma", "gamma"):
        runtime.deliver(done(name, correlation_id="c-1"))
        plain.deliver(done(name, correlation_id="c-1"))
    assert ids(publisher) == [
        f"small/{KEY}/1/started",
        f"small/{KEY}/1",
        f"small/{KEY}/1/triggered",
    ]
    [trigger] = [m for m in publisher.messages if m.topic == "small-out"]
    [unchanged] = plain_publisher.messages
    assert (trigger.body, trigger.attributes, trigger.ordering_key) == (
        unchanged.body,
        unchanged.attributes,
        unchanged.ordering_key,
    )
    started, triggered = (m for m in publisher.messages if m.topic == "small-lifecycle")
    assert started.attributes == {
        "announcement_id": f"small/{KEY}/1/started",
        "kind": "lifecycle",
        "gate": "small",
        "key": KEY,
        "event": "started",
        "generation": "1",
        "correlation_id": "c-1",
    }
    assert (started.ordering_key, started.body["at"]) == (KEY, clock.now.isoformat())
    assert triggered.body["reason"] == "all_done"
    assert triggered.body["trigger_id"] == f"small/{KEY}/1"
    assert announcement_from_message(triggered.body).id == triggered.entry_id
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert (snapshot.state, snapshot.outbox) == ("triggered", ())
    assert snapshot.data.announced == ("started", "triggered")


def test_a_gate_without_the_topics_announces_nothing(spec: GateSpec, clock: ManualClock) -> None:
    runtime, publisher = make_runtime(spec, clock)
    runtime.deliver(failed("alpha"))
    for name in ("alpha", "beta", "gamma"):
        runtime.deliver(done(name))
    assert ids(publisher) == [f"small/{KEY}/1"]
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.data.announced == ()
    assert "announced" not in GateActor(spec).encode(snapshot)["data"]


def test_a_required_failure_alerts_once_ahead_of_its_announcement(
    gate: GateSpec, clock: ManualClock
) -> None:
    actor = GateActor(gate)
    runtime = GateRuntime(actor, MemoryStore(), RecordingPublisher(), clock=clock)
    snapshot = runtime.store.apply(actor, KEY, _event(clock, failed("alpha"))).snapshot
    assert snapshot.state == "failed"
    assert [e.id for e in snapshot.outbox] == [
        f"small/{KEY}/1/alert/failed",
        f"small/{KEY}/1/started",
        f"small/{KEY}/1/failed",
    ]
    alert = alert_from_message(snapshot.outbox[0].body)
    assert (alert.reason, alert.source, alert.source_type, alert.generation) == (
        "failed",
        "small",
        "gate",
        1,
    )
    assert alert.details["failure_kind"] == "processor"
    assert "disk full" in alert.summary
    # recovering and failing again in the same generation decides nothing new
    for completion in (done("alpha"), failed("beta"), failed("beta", "run-2")):
        snapshot = runtime.store.apply(actor, KEY, _event(clock, completion)).snapshot
    assert snapshot.state == "failed"
    assert [e.id for e in snapshot.outbox] == [
        f"small/{KEY}/1/alert/failed",
        f"small/{KEY}/1/started",
        f"small/{KEY}/1/failed",
    ]


def test_an_operator_failure_is_announced_but_raises_no_alert(
    gate: GateSpec, clock: ManualClock
) -> None:
    runtime, publisher = make_runtime(gate, clock)
    runtime.deliver(done("alpha"))
    runtime.fail(KEY, reason="bad feed", by="ops")
    assert ids(publisher) == [f"small/{KEY}/1/started", f"small/{KEY}/1/failed"]
    assert publisher.messages[-1].body["failure_kind"] == "operator"


def test_deadlines_alert_when_they_pass_without_a_trigger(
    gate: GateSpec, clock: ManualClock
) -> None:
    runtime, publisher = make_runtime(gate, clock)
    runtime.deliver(done("alpha"))
    clock.advance(3601)  # the 1h tier: 60 % of the required, one of three is not enough
    runtime.sweep()
    runtime.sweep()
    assert ids(publisher, "small-alerts") == [f"small/{KEY}/1/alert/deadline_passed/1h"]
    [alert] = [m for m in publisher.messages if m.topic == "small-alerts"]
    assert alert.body["details"]["missing"] == ["beta", "gamma"]
    assert alert.body["subject"] == "1h"
    clock.advance(2 * 3600)  # the 3h tier fails the key: one failed alert, no deadline one
    runtime.sweep()
    clock.advance(3600)
    assert runtime.sweep().visited == 0  # nothing due any more: a second sweep decides nothing
    runtime.sweep([KEY])
    assert ids(publisher, "small-alerts") == [
        f"small/{KEY}/1/alert/deadline_passed/1h",
        f"small/{KEY}/1/alert/failed",
    ]
    [failed] = [m for m in publisher.messages if m.entry_id.endswith("/alert/failed")]
    assert failed.body["details"]["failure_kind"] == "deadline"
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert gate_status(gate, snapshot).to_json()["announced"] == [
        "started",
        "alert/deadline_passed/1h",
        "failed",
        "alert/failed",
    ]


def test_a_deadline_that_triggers_raises_no_alert(gate: GateSpec, clock: ManualClock) -> None:
    runtime, publisher = make_runtime(gate, clock)
    runtime.deliver(done("alpha"))
    runtime.deliver(done("beta"))
    clock.advance(3601)
    runtime.sweep()
    assert ids(publisher, "small-alerts") == []
    assert ids(publisher, "small-out") == [f"small/{KEY}/1"]


def test_a_trigger_whose_publish_keeps_failing_alerts_once_while_it_fails(
    gate: GateSpec, clock: ManualClock
) -> None:
    publisher = RecordingPublisher(fail_when=lambda entry: entry.topic == "small-out")
    runtime, _ = make_runtime(gate, clock, publisher)
    runtime.deliver(done("alpha"))
    runtime.deliver(done("beta"))
    for _ in range(5):
        with pytest.raises(PublishFailed):
            runtime.deliver(done("gamma"))
        clock.advance(61)
    assert ids(publisher, "small-alerts") == [f"small/{KEY}/1/alert/publish_failing"]
    [alert] = [m for m in publisher.messages if m.topic == "small-alerts"]
    assert alert.body["details"]["publish_attempts"] == 3
    assert "injected failure" in alert.body["details"]["last_error"]
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "complete"
    assert [e.id for e in snapshot.outbox] == [f"small/{KEY}/1", f"small/{KEY}/1/triggered"]
    publisher.fail_when = None
    runtime.sweep()
    assert ids(publisher, "small-out") == [f"small/{KEY}/1"]
    assert ids(publisher)[-1] == f"small/{KEY}/1/triggered"


def test_a_rearmed_key_announces_again_under_its_new_generation(
    gate: GateSpec, clock: ManualClock
) -> None:
    runtime, publisher = make_runtime(gate, clock)
    for name in ("alpha", "beta", "gamma"):
        runtime.deliver(done(name))
    runtime.rearm(KEY, reason="rerun", by="ops")
    runtime.deliver(done("alpha", "alpha-run-2"))
    assert ids(publisher, "small-lifecycle")[-1] == f"small/{KEY}/2/started"
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.data.announced == ("started",)


def test_a_published_alert_is_logged_at_error_once(gate: GateSpec, clock: ManualClock) -> None:
    runtime, _ = make_runtime(gate, clock)
    with CapturedLog("phaseactors.alerts") as log:
        runtime.deliver(failed("alpha"))
        runtime.deliver(failed("alpha", "run-2"))
        runtime.sweep()
    records = log.records
    assert [(r.levelname, r.alert["id"]) for r in records] == [  # type: ignore[attr-defined]
        ("ERROR", f"small/{KEY}/1/alert/failed")
    ]
    assert records[0].key == KEY  # type: ignore[attr-defined]


def test_the_announced_record_survives_the_snapshot_codec(gate: GateSpec) -> None:
    actor = GateActor(gate)
    runtime = GateRuntime(actor, MemoryStore(), RecordingPublisher())
    runtime.deliver(failed("alpha"))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    document = actor.encode(snapshot)
    assert document["data"]["announced"] == ["started", "failed", "alert/failed"]
    assert actor.decode(document) == snapshot
    del document["data"]["announced"]  # a key written before announcements existed
    assert actor.decode(document).data.announced == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "trigger"}, "kind"),
        ({"generation": 0}, "generation"),
        ({"generation": True}, "generation"),
        ({"event": "exploded"}, "body"),
        ({"at": "yesterday"}, "body"),
        ({"key": "a/b"}, "key"),
        ({"gate": None}, "gate"),
        ({"missing": "alpha"}, "missing"),
        ({"announcement_id": "small/x/1/started"}, "announcement_id"),
        ({"reason": 7}, "reason"),
    ],
)
def test_a_bad_announcement_names_its_field(change: dict[str, Any], field: str) -> None:
    body = {
        "announcement_id": f"small/{KEY}/1/started",
        "kind": "lifecycle",
        "gate": "small",
        "key": KEY,
        "generation": 1,
        "event": "started",
        "at": "2025-11-29T23:00:00+00:00",
    }
    assert announcement_from_message(body).id == f"small/{KEY}/1/started"
    with pytest.raises(InvalidMessage) as caught:
        announcement_from_message({**body, **change})
    assert caught.value.field == field


def _event(clock: ManualClock, completion: Completion) -> Any:
    from phaseactors.gate.events import CompletionReported

    return CompletionReported(at=clock(), completion=completion)


def test_a_long_failure_reason_fails_the_key_and_its_announcement_is_cut() -> None:
    """A required processor's failure carries its error text (up to 4 KiB) into the key's
    reason; on a shipped gate, which announces its lifecycle, the key still fails, and the
    announcement says so in at most MAX_TEXT_LENGTH characters."""
    from phaseactors import Completion, GateActor, GateRuntime, RecordingPublisher, load_spec
    from phaseactors.limits import MAX_ERROR_TEXT, MAX_TEXT_LENGTH
    from phaseactors.stores import MemoryStore

    spec = load_spec("phase2_to_phase3")
    assert spec.lifecycle_topic is not None
    publisher = RecordingPublisher()
    runtime = GateRuntime(GateActor(spec), MemoryStore(), publisher)
    failed = Completion(
        processor=spec.required[0],
        execution_id="run-1",
        key="2025-11-29",
        status="failed",
        error_message="E" * MAX_ERROR_TEXT,
    )
    delivery = runtime.deliver(failed)
    assert delivery.snapshot.state == "failed"
    assert "E" * MAX_ERROR_TEXT in (delivery.snapshot.data.failed_reason or "")
    announced = [
        m.body
        for m in publisher.messages
        if m.topic == spec.lifecycle_topic and m.body["event"] == "failed"
    ]
    assert len(announced) == 1
    assert len(announced[0]["reason"]) == MAX_TEXT_LENGTH
    assert announced[0]["reason"].endswith("…")
    assert announcement_from_message(announced[0]).event.value == "failed"  # a run takes it
    assert runtime.store.quarantined() == []
