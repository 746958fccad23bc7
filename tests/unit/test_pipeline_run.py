"""The pipeline run: states from the gates' announcements and ticks; stalled, failed and
overall-deadline alerts once per (pipeline, key, generation, reason, subject) and one
recovered notice each; late news after done recorded only; the first gate's rearm starts a
new generation; snapshots and events as JSON."""

from __future__ import annotations

from datetime import timedelta

from phaseactors import Outcome, RecordingPublisher
from phaseactors.alerts import alert_from_message
from phaseactors.core.events import Tick
from phaseactors.pipeline import GateAnnounced, PipelineActor
from pipeline_support import (
    HANDOFF,
    OVERALL_DUE,
    announcement,
    pipeline_runtime,
    small_pipeline,
)
from support import KEY, T0, CapturedLog, ManualClock

MINUTE = timedelta(minutes=1)


def alert_ids(publisher: RecordingPublisher) -> list[str]:
    return [m.entry_id for m in publisher.messages]


def test_a_run_goes_from_the_first_report_to_done_without_alerts(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    states = []
    for gate in ("g1", "g2", "g3"):
        for event in ("started", "triggered"):
            clock.advance(600)
            states.append(runtime.announce(announcement(gate, event, clock.now)).snapshot.state)
    assert states == ["running"] * 5 + ["done"]
    assert publisher.messages == []
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert [(h.source, h.target) for h in snapshot.history] == [
        ("waiting", "running"),
        ("running", "done"),
    ]
    assert snapshot.data.done_at == clock.now
    assert runtime.actor.due_at(snapshot) is None


def test_a_late_handoff_stalls_once_and_recovers_once(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "started", T0))
    runtime.announce(announcement("g1", "triggered", T0 + MINUTE))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert runtime.actor.due_at(snapshot) == T0 + MINUTE + HANDOFF
    clock.advance((HANDOFF + 11 * MINUTE).total_seconds())
    stalled = runtime.tick(KEY)
    assert stalled.snapshot.state == "stalled"
    again = runtime.tick(KEY)
    assert again.outcome is Outcome.UNCHANGED
    assert alert_ids(publisher) == [f"daily/{KEY}/1/alert/stalled/g2"]
    alert = alert_from_message(publisher.messages[0].body)
    assert (alert.source_type, alert.severity.value) == ("pipeline", "error")
    assert alert.details["late_by_seconds"] == 600
    assert (alert.details["from"], alert.details["to"]) == ("g1", "g2")
    assert "g2 has not started 10m after its handoff deadline" in alert.summary
    clock.advance(300)
    recovered_at = clock.now
    recovered = runtime.announce(announcement("g2", "started", clock.now))
    assert recovered.snapshot.state == "running"
    clock.advance(3 * 3600)
    runtime.tick(KEY)
    assert alert_ids(publisher) == [
        f"daily/{KEY}/1/alert/stalled/g2",
        f"daily/{KEY}/1/alert/recovered/stalled:g2",
    ]
    notice = publisher.messages[1].body
    assert (notice["severity"], notice["details"]["recovered"]) == ("notice", alert.id)
    [record, _] = runtime.load(KEY).data.alerts  # type: ignore[union-attr]
    assert record.cleared_at == recovered_at


def test_never_stalled_once_the_next_phase_reported(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "triggered", T0))
    runtime.announce(announcement("g2", "started", T0 + 30 * MINUTE))
    clock.advance(2 * HANDOFF.total_seconds())
    ticked = runtime.tick(KEY)
    assert (ticked.outcome, ticked.snapshot.state) == (Outcome.UNCHANGED, "running")
    assert publisher.messages == []


def test_news_in_any_order_counts_a_trigger_as_a_start(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g2", "triggered", T0 + 50 * MINUTE))  # forced: no start
    runtime.announce(announcement("g1", "triggered", T0))
    runtime.announce(announcement("g1", "started", T0 - MINUTE))
    clock.advance(5 * 3600)
    runtime.tick(KEY)
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "stalled"  # g3 never started within an hour of g2's trigger
    assert alert_ids(publisher) == [f"daily/{KEY}/1/alert/stalled/g3"]
    assert snapshot.data.phases["g1"].started_at == T0 - MINUTE


def test_a_failed_gate_fails_the_run_until_it_triggers(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "triggered", T0))
    runtime.announce(announcement("g2", "started", T0 + MINUTE))
    failed = runtime.announce(announcement("g2", "failed", T0 + 2 * MINUTE))
    assert failed.snapshot.state == "failed"
    again = runtime.announce(announcement("g2", "failed", T0 + 2 * MINUTE))
    assert again.outcome is Outcome.DUPLICATE
    recovered = runtime.announce(announcement("g2", "triggered", T0 + 9 * MINUTE))
    assert recovered.snapshot.state == "running"
    assert alert_ids(publisher) == [
        f"daily/{KEY}/1/alert/failed/g2",
        f"daily/{KEY}/1/alert/recovered/failed:g2",
    ]
    assert "required processor x failed" in publisher.messages[0].body["summary"]


def test_the_overall_deadline_alerts_once_and_recovers_when_the_run_is_done(
    clock: ManualClock,
) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "triggered", T0))
    runtime.announce(announcement("g2", "triggered", T0 + 10 * MINUTE))
    runtime.announce(announcement("g3", "started", T0 + 20 * MINUTE))
    clock.now = OVERALL_DUE + MINUTE
    assert runtime.tick(KEY).snapshot.state == "running"
    runtime.tick(KEY)
    runtime.announce(announcement("g3", "triggered", clock.now))
    assert alert_ids(publisher) == [
        f"daily/{KEY}/1/alert/overall_deadline_missed",
        f"daily/{KEY}/1/alert/recovered/overall_deadline_missed",
    ]
    assert publisher.messages[0].body["details"]["waiting_for"] == "g3"
    assert runtime.load(KEY).state == "done"  # type: ignore[union-attr]


def test_a_run_that_begins_after_the_overall_deadline_has_none(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    clock.now = OVERALL_DUE + timedelta(days=3)  # a backfill
    runtime.announce(announcement("g1", "started", clock.now))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert runtime.actor.due_at(snapshot) is None
    clock.advance(3600)
    assert runtime.tick(KEY).outcome is Outcome.UNCHANGED
    assert publisher.messages == []


def test_news_after_done_is_recorded_and_never_alerts(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    for gate in ("g1", "g2", "g3"):
        runtime.announce(announcement(gate, "triggered", T0))
    late = runtime.announce(announcement("g2", "failed", T0 + MINUTE, generation=2))
    assert (late.outcome, late.snapshot.state) == (Outcome.LATE, "done")
    clock.now = OVERALL_DUE + timedelta(hours=5)
    runtime.tick(KEY)
    assert publisher.messages == []
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert [item.announcement.id for item in snapshot.data.late] == [f"g2/{KEY}/2/failed"]


def test_unknown_gates_stale_generations_and_duplicates_change_nothing(
    clock: ManualClock,
) -> None:
    runtime, _ = pipeline_runtime(clock)
    runtime.announce(announcement("g2", "started", T0, generation=2))
    before = runtime.load(KEY)
    outcomes = [
        runtime.announce(announcement("other", "started", T0)).outcome,
        runtime.announce(announcement("g2", "triggered", T0, generation=1)).outcome,
        runtime.announce(announcement("g2", "started", T0, generation=2)).outcome,
    ]
    assert outcomes == [Outcome.UNKNOWN, Outcome.STALE, Outcome.DUPLICATE]
    assert runtime.load(KEY) == before


def test_the_first_gates_rearm_starts_a_new_generation_of_the_run(clock: ManualClock) -> None:
    runtime, publisher = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "triggered", T0))
    runtime.announce(announcement("g2", "started", T0 + MINUTE))
    runtime.announce(announcement("g2", "failed", T0 + 2 * MINUTE))
    rerun = T0 + timedelta(hours=5)
    # while the run is done, g2 (rearmed) already reports for the rerun: kept for it
    for gate in ("g2", "g3"):
        runtime.announce(announcement(gate, "triggered", T0 + 3 * MINUTE))
    runtime.announce(announcement("g2", "started", rerun + 2 * MINUTE, generation=2))
    restarted = runtime.announce(announcement("g1", "started", rerun, generation=2))
    assert (restarted.snapshot.generation, restarted.snapshot.state) == (2, "running")
    data = restarted.snapshot.data
    assert set(data.phases) == {"g1", "g2"}
    assert (data.phases["g2"].generation, data.phases["g2"].started_at) == (
        2,
        rerun + 2 * MINUTE,
    )
    assert (data.since, data.alerts, data.late) == (rerun, (), ())
    # a copy of the first run's news arriving now is not progress of the second
    stale = runtime.announce(announcement("g3", "started", T0 + 4 * MINUTE, generation=3))
    assert stale.outcome is Outcome.STALE
    runtime.announce(announcement("g1", "triggered", rerun + MINUTE, generation=2))
    runtime.announce(announcement("g2", "triggered", rerun + 10 * MINUTE, generation=2))
    clock.now = rerun + timedelta(hours=5)  # g3 was not rearmed: the rerun stalls there
    runtime.tick(KEY)
    assert alert_ids(publisher)[-1] == f"daily/{KEY}/2/alert/stalled/g3"
    assert [h.event for h in runtime.load(KEY).history].count("restart") == 1  # type: ignore[union-attr]


def test_alerts_are_logged_at_error_and_notices_at_info(clock: ManualClock) -> None:
    runtime, _ = pipeline_runtime(clock)
    with CapturedLog("phaseactors.alerts") as log:
        runtime.announce(announcement("g1", "triggered", T0))
        clock.advance(2 * HANDOFF.total_seconds())
        runtime.tick(KEY)
        runtime.announce(announcement("g2", "started", clock.now))
    assert [(r.levelname, r.alert["reason"]) for r in log.records] == [  # type: ignore[attr-defined]
        ("ERROR", "stalled"),
        ("INFO", "recovered"),
    ]


def test_a_run_and_its_events_survive_their_json(clock: ManualClock) -> None:
    runtime, _ = pipeline_runtime(clock)
    runtime.announce(announcement("g1", "triggered", T0))
    clock.advance(2 * HANDOFF.total_seconds())
    runtime.tick(KEY)
    for gate in ("g2", "g3"):
        runtime.announce(announcement(gate, "triggered", clock.now))
    runtime.announce(announcement("g2", "failed", clock.now, generation=2))
    actor = runtime.actor
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.data.late
    assert snapshot.data.alerts
    assert actor.decode(actor.encode(snapshot)) == snapshot
    event = GateAnnounced(at=T0, announcement=announcement("g2", "failed", T0))
    assert actor.decode_event(actor.encode_event(event)) == event
    tick = Tick(at=T0)
    assert actor.decode_event(actor.encode_event(tick)) == tick


def test_the_step_is_pure_and_repeatable() -> None:
    actor = PipelineActor(small_pipeline())
    snapshot = actor.initial(KEY)
    event = GateAnnounced(at=T0, announcement=announcement("g1", "triggered", T0))
    first = actor.step(snapshot, event)
    assert actor.step(snapshot, event) == first
    tick = Tick(at=T0 + 2 * HANDOFF)
    assert actor.step(first.snapshot, tick) == actor.step(first.snapshot, tick)
