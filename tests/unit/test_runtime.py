"""The runtime: dedup, outbox and leases, publish failures, aliases, unknown names, late ones."""

from __future__ import annotations

import pytest

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    InvalidKey,
    Outcome,
    PublishFailed,
    RecordingPublisher,
)
from phaseactors.core.events import Claim
from phaseactors.gate.events import CompletionReported
from phaseactors.gate.spec import GateSpec
from phaseactors.stores import MemoryStore
from support import KEY, ManualClock, done

ALL = ("alpha", "beta", "gamma")


def deliver_all(runtime: GateRuntime, names: tuple[str, ...] = ALL) -> None:
    for name in names:
        runtime.deliver(done(name))


def test_all_required_done_publishes_one_trigger(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    deliveries = [runtime.deliver(done(name, correlation_id=f"c-{name}")) for name in ALL]
    assert [d.snapshot.state for d in deliveries] == ["partial", "partial", "triggered"]
    assert [len(d.published) for d in deliveries] == [0, 0, 1]
    [message] = publisher.messages
    assert message.entry_id == "small/2025-11-29/1"
    assert message.topic == "small-out"
    assert message.ordering_key == KEY
    assert message.attributes == {
        "trigger_id": "small/2025-11-29/1",
        "gate": "small",
        "key": KEY,
        "correlation_id": "c-gamma",
    }
    assert message.body["completed"] == list(ALL)
    assert message.body["correlation_ids"] == ["c-alpha", "c-beta", "c-gamma"]
    assert message.body["game_date"] == KEY
    assert message.body["reason"] == "all_done"
    trigger = deliveries[-1].snapshot.data.trigger
    assert trigger is not None
    assert trigger.message_id == message.message_id


@pytest.mark.parametrize(
    "duplicate",
    [
        done("alpha", "run-1", message_id="other-message"),  # same execution id
        done("alpha", "run-2", message_id="m-1"),  # same message id (redelivery)
        done("AlphaLoader", "run-1"),  # same run reported under an alias
    ],
)
def test_duplicates_change_nothing(runtime: GateRuntime, duplicate: Completion) -> None:
    first = runtime.deliver(done("alpha", "run-1", message_id="m-1"))
    again = runtime.deliver(duplicate)
    assert again.outcome is Outcome.DUPLICATE
    assert not again.committed
    assert again.snapshot.version == first.snapshot.version


def test_aliases_count_once_by_membership(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    runtime.deliver(done("alpha", "run-1"))
    runtime.deliver(done("AlphaLoader", "run-2"))
    runtime.deliver(done("raw.alpha", "run-3"))
    runtime.deliver(done("BetaProcessor", "run-1"))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "partial"
    assert set(snapshot.data.done) == {"alpha", "beta"}
    assert snapshot.data.done["alpha"].reported_as == "raw.alpha"
    assert publisher.messages == []


def test_output_table_resolves_a_drifted_name(runtime: GateRuntime) -> None:
    delivery = runtime.deliver(done("GammaV2Job", output_table="nba_raw.gamma"))
    assert delivery.outcome is Outcome.APPLIED
    assert set(delivery.snapshot.data.done) == {"gamma"}


def test_unknown_names_are_recorded_apart_and_never_count(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    for name in ("delta", "epsilon", "zeta"):
        delivery = runtime.deliver(done(name))
        assert delivery.outcome is Outcome.UNKNOWN
    runtime.deliver(done("alpha"))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "partial"
    assert set(snapshot.data.unknown) == {"delta", "epsilon", "zeta"}
    assert set(snapshot.data.done) == {"alpha"}
    assert publisher.messages == []


def test_invalid_key_is_rejected_before_any_state(runtime: GateRuntime) -> None:
    with pytest.raises(InvalidKey, match="game_date: '2025-11-31' is not a calendar date"):
        runtime.deliver(
            done("alpha").__class__(
                processor="alpha", key="2025-11-31", status="success", execution_id="e"
            )
        )
    assert list(runtime.store.scan(runtime.actor)) == []


def test_late_completions_are_recorded_and_never_trigger_again(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    deliver_all(runtime)
    late = runtime.deliver(done("beta", "run-2"))
    assert late.outcome is Outcome.LATE
    assert late.snapshot.state == "triggered"
    assert [r.execution_id for r in late.snapshot.data.late] == ["run-2"]
    assert len(publisher.messages) == 1


def test_publish_failure_is_transient_and_keeps_the_trigger_pending(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    deliver_all(runtime, ALL[:2])
    publisher.fail_next(1)
    with pytest.raises(PublishFailed):
        runtime.deliver(done("gamma"))
    pending = runtime.load(KEY)
    assert pending is not None
    assert pending.state == "complete"
    [entry] = pending.outbox
    assert entry.lease is None  # released, so a redelivery can publish at once
    assert entry.publish_attempts == 1
    assert "injected failure" in (entry.last_error or "")
    assert publisher.messages == []

    redelivery = runtime.deliver(done("gamma"))  # the transport redelivers the message
    assert redelivery.outcome is Outcome.DUPLICATE
    assert redelivery.snapshot.state == "triggered"
    [message] = publisher.messages
    assert message.entry_id == entry.id


def test_sweep_redrives_a_pending_trigger_with_the_same_id(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    deliver_all(runtime, ALL[:2])
    publisher.fail_next(2)
    with pytest.raises(PublishFailed):
        runtime.deliver(done("gamma"))
    failing = runtime.sweep()
    assert (failing.visited, failing.published, failing.still_pending) == (1, (), (KEY,))
    assert "PublishFailed" in failing.errors[KEY]
    report = runtime.sweep()
    assert (report.visited, len(report.published), report.errors) == (1, 1, {})
    assert [m.entry_id for m in publisher.messages] == ["small/2025-11-29/1"]
    assert runtime.sweep().visited == 0


def test_crash_between_commit_and_publish_is_redriven_after_the_lease(
    spec: GateSpec, clock: ManualClock
) -> None:
    """A handler commits the trigger decision with its lease, then dies before publishing."""
    store, publisher = MemoryStore(), RecordingPublisher()
    runtime = GateRuntime(GateActor(spec), store, publisher, clock=clock)
    deliver_all(runtime, ALL[:2])
    dead = Claim(owner="dead-handler", until=clock() + runtime.lease)
    store.apply(
        runtime.actor, KEY, CompletionReported(at=clock(), completion=done("gamma"), claim=dead)
    )

    clock.advance(10)
    early = runtime.deliver(done("gamma"))  # redelivered while the dead lease still holds
    assert (early.outcome, early.published, early.snapshot.state) == (
        Outcome.DUPLICATE,
        (),
        "complete",
    )
    clock.advance(runtime.lease.total_seconds())
    report = runtime.sweep()
    assert len(report.published) == 1
    assert [m.entry_id for m in publisher.messages] == ["small/2025-11-29/1"]
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "triggered"


def test_payload_is_aggregated_into_the_trigger(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    for name, changed in zip(ALL, (["p1", "p2"], ["p2"], None), strict=True):
        metadata = {"entities_changed": changed} if changed else {}
        runtime.deliver(done(name, metadata=metadata))
    assert publisher.messages[0].body["payload"] == {"entities_changed": ["p1", "p2"]}


def test_required_failure_fails_the_key_and_a_rerun_recovers(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    runtime.deliver(done("alpha"))
    failed = runtime.deliver(
        Completion(
            processor="beta",
            key=KEY,
            status="failed",
            execution_id="b-1",
            error_message="quota exceeded",
        )
    )
    assert failed.snapshot.state == "failed"
    assert failed.snapshot.data.failed_reason == "required processor beta failed: quota exceeded"
    runtime.deliver(done("gamma"))
    recovered = runtime.deliver(done("beta", "b-2"))
    assert recovered.snapshot.state == "triggered"
    assert recovered.snapshot.data.failure_counts == {"beta": 1}
    assert len(publisher.messages) == 1


def test_operator_commands_are_audited(runtime: GateRuntime, publisher: RecordingPublisher) -> None:
    runtime.deliver(done("alpha"))
    forced = runtime.force(KEY, reason="beta is down all day", by="oncall")
    assert forced.snapshot.state == "triggered"
    body = publisher.messages[0].body
    assert (body["reason"], body["missing"], body["forced_by"]) == (
        "forced",
        ["beta", "gamma"],
        "oncall",
    )
    rearmed = runtime.rearm(KEY, reason="rerun after fix", by="oncall")
    assert (rearmed.snapshot.state, rearmed.snapshot.generation) == ("waiting", 2)
    deliver_all(runtime)  # the same runs again: duplicates, whatever the generation
    assert len(publisher.messages) == 1
    for name in ALL:
        runtime.deliver(done(name, "run-2"))
    assert [m.entry_id for m in publisher.messages] == ["small/2025-11-29/1", "small/2025-11-29/2"]
    events = [(h.event, h.by) for h in runtime.load(KEY).history if h.by]  # type: ignore[union-attr]
    assert events == [("force", "oncall"), ("rearm", "oncall")]


def test_what_a_key_keeps_is_bounded_as_documented(
    runtime: GateRuntime, publisher: RecordingPublisher
) -> None:
    """docs/correctness.md, "What one key keeps": the late reports, the dedup tokens and the
    history each stop at their limit, and what falls out is counted, not lost silently."""
    from phaseactors.limits import MAX_HISTORY, MAX_LATE_RECORDS, SEEN_BASE, SEEN_PER_PROCESSOR

    deliver_all(runtime)
    reruns = MAX_LATE_RECORDS + 8
    for i in range(reruns):
        runtime.deliver(done(ALL[i % 3], f"rerun-{i}", message_id=f"m-{i}"))
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert len(snapshot.data.late) == MAX_LATE_RECORDS
    assert snapshot.data.late_dropped == reruns - MAX_LATE_RECORDS
    assert snapshot.data.late[-1].execution_id == f"rerun-{reruns - 1}"  # the most recent kept
    assert len(snapshot.seen) <= SEEN_BASE + SEEN_PER_PROCESSOR * len(ALL)
    assert len(publisher.messages) == 1
    for i in range(MAX_HISTORY):  # every rearm and force adds history
        runtime.rearm(KEY, reason=f"again {i}", by="ana")
        runtime.force(KEY, reason=f"ship {i}", by="ana")
    history = runtime.load(KEY).history
    assert len(history) == MAX_HISTORY
    assert [h.cause for h in history[-2:]] == [  # the most recent kept
        f"ship {MAX_HISTORY - 1}",
        f"published as recorded-{MAX_HISTORY + 1}",
    ]


class _BuggyPublisher:
    """A publisher with a bug: every publish raises something that is no transport error."""

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, entry: object) -> str:
        self.calls += 1
        raise ValueError("bug in publisher")


class _DownPublisher:
    """A publisher whose transport is down."""

    def publish(self, entry: object) -> str:
        raise ConnectionResetError("reset by peer")


def test_a_publisher_bug_is_permanent_and_a_transport_failure_transient(
    spec: GateSpec, clock: ManualClock
) -> None:
    """A bug is not redelivered forever: the delivery is acknowledged with the trigger left
    pending and its error recorded; a transport failure raises, so the transport redelivers."""
    buggy = GateRuntime(GateActor(spec), MemoryStore(), _BuggyPublisher(), clock=clock)
    delivery = None
    for name in ALL:
        delivery = buggy.deliver(done(name))
    assert delivery is not None
    assert (delivery.outcome, delivery.snapshot.state) == (Outcome.APPLIED, "complete")
    assert list(delivery.unpublished) == [f"small/{KEY}/1"]
    assert "failed for good" in delivery.unpublished[f"small/{KEY}/1"]
    pending = buggy.load(KEY).outbox
    assert [e.last_error for e in pending] == ["bug in publisher"]
    report = buggy.sweep()
    assert report.still_pending == (KEY,)
    assert "failed for good" in report.errors[KEY]

    down = GateRuntime(GateActor(spec), MemoryStore(), _DownPublisher(), clock=clock)
    for name in ALL[:-1]:
        down.deliver(done(name))
    with pytest.raises(PublishFailed, match="reset by peer"):
        down.deliver(done(ALL[-1]))
    assert down.load(KEY).state == "complete"  # committed first; the trigger waits in the outbox
