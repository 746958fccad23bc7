"""Every allowed and every refused transition of the gate machine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from phaseactors import GateActor, GateMachine, TransitionRefused
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.completion import Completion
from phaseactors.gate.data import GateData
from phaseactors.gate.model import GateModel
from phaseactors.gate.spec import GateSpec
from support import KEY, T0, done

STATES = ["waiting", "partial", "complete", "triggered", "failed"]


def failed_run(processor: str, execution_id: str = "bad-run") -> Completion:
    return Completion(
        processor=processor,
        key=KEY,
        status="failed",
        execution_id=execution_id,
        error_message="table missing",
    )


def in_state(actor: GateActor, state: str) -> Snapshot[GateData]:
    """A snapshot in ``state``, reached through real transitions."""
    snapshot = actor.initial(KEY)
    send = actor.transition
    if state == "waiting":
        return snapshot
    if state == "failed":
        return send(
            snapshot, "report_failure", processor="alpha", completion=failed_run("alpha"), at=T0
        )
    snapshot = send(snapshot, "report_done", processor="alpha", completion=done("alpha"), at=T0)
    if state == "partial":
        return snapshot
    snapshot = send(snapshot, "report_done", processor="beta", completion=done("beta"), at=T0)
    snapshot = send(snapshot, "report_done", processor="gamma", completion=done("gamma"), at=T0)
    if state == "complete":
        return snapshot
    entry = snapshot.outbox[0].id
    return send(snapshot, "confirm_trigger", entry_id=entry, message_id="m-1", at=T0)


def confirm_kwargs(snapshot: Snapshot[GateData]) -> dict[str, Any]:
    entry = snapshot.outbox[0].id if snapshot.outbox else "small/2025-11-29/1"
    return {"entry_id": entry, "message_id": "m-2", "at": T0}


OPERATOR = {"reason": "testing", "by": "ops@example.com", "at": T0}

# (state, event, kwargs, expected target)
ALLOWED: list[tuple[str, str, dict[str, Any], str]] = [
    ("waiting", "report_done", {"processor": "beta", "completion": done("beta")}, "partial"),
    ("partial", "report_done", {"processor": "beta", "completion": done("beta")}, "partial"),
    ("complete", "report_done", {"processor": "beta", "completion": done("beta", "x")}, "complete"),
    (
        "triggered",
        "report_done",
        {"processor": "beta", "completion": done("beta", "x")},
        "triggered",
    ),
    ("failed", "report_done", {"processor": "beta", "completion": done("beta")}, "failed"),
    ("failed", "report_done", {"processor": "alpha", "completion": done("alpha")}, "partial"),
    (
        "waiting",
        "report_failure",
        {"processor": "beta", "completion": failed_run("beta")},
        "failed",
    ),
    (
        "partial",
        "report_failure",
        {"processor": "beta", "completion": failed_run("beta")},
        "failed",
    ),
    (
        "partial",
        "report_failure",
        {"processor": "alpha", "completion": failed_run("alpha")},
        "partial",
    ),
    ("failed", "report_failure", {"processor": "beta", "completion": failed_run("beta")}, "failed"),
    (
        "complete",
        "report_failure",
        {"processor": "beta", "completion": failed_run("beta")},
        "complete",
    ),
    (
        "triggered",
        "report_failure",
        {"processor": "beta", "completion": failed_run("beta")},
        "triggered",
    ),
    ("complete", "confirm_trigger", {}, "triggered"),
    ("waiting", "force", OPERATOR, "complete"),
    ("partial", "force", OPERATOR, "complete"),
    ("failed", "force", OPERATOR, "complete"),
    ("waiting", "fail", OPERATOR, "failed"),
    ("partial", "fail", OPERATOR, "failed"),
    ("triggered", "rearm", OPERATOR, "waiting"),
    ("failed", "rearm", OPERATOR, "waiting"),
    ("partial", "rearm", OPERATOR, "waiting"),
    ("waiting", "tick", {}, "waiting"),  # nothing due: the gate has no deadlines
    ("partial", "tick", {}, "partial"),
    # Re-evaluated under the same definition, a key stays as it was.
    *(
        (state, event, {**OPERATOR, "change": "no change"}, state)
        for event in ("adopt", "migrate")
        for state in ("waiting", "partial", "failed")
    ),
]

REFUSED: list[tuple[str, str]] = [
    ("waiting", "confirm_trigger"),
    ("partial", "confirm_trigger"),
    ("triggered", "confirm_trigger"),
    ("failed", "confirm_trigger"),
    ("complete", "force"),
    ("triggered", "force"),
    ("complete", "fail"),
    ("triggered", "fail"),
    ("failed", "fail"),
    ("waiting", "rearm"),
    ("complete", "rearm"),
    ("complete", "tick"),
    ("triggered", "tick"),
    ("failed", "tick"),
    ("complete", "adopt"),
    ("triggered", "adopt"),
    ("complete", "migrate"),
    ("triggered", "migrate"),
]


@pytest.fixture
def actor(spec: GateSpec) -> GateActor:
    return GateActor(spec)


@pytest.mark.parametrize(("state", "event", "kwargs", "target"), ALLOWED)
def test_allowed_transition(
    actor: GateActor, state: str, event: str, kwargs: dict[str, Any], target: str
) -> None:
    snapshot = in_state(actor, state)
    arguments = {"at": T0, **kwargs}
    if event == "confirm_trigger":
        arguments = confirm_kwargs(snapshot)
    result = actor.transition(snapshot, event, **arguments)
    assert result.state == target


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_refused_transition_raises_and_changes_nothing(
    actor: GateActor, state: str, event: str
) -> None:
    snapshot = in_state(actor, state)
    arguments = {**OPERATOR, **(confirm_kwargs(snapshot) if event == "confirm_trigger" else {})}
    with pytest.raises(TransitionRefused, match=f"{event!r} is not allowed in state {state!r}"):
        actor.transition(snapshot, event, **arguments)
    assert snapshot.state == state


def test_every_state_and_event_pair_is_classified(actor: GateActor) -> None:
    """The tables above cover the whole event x state matrix of the machine."""
    covered = {(s, e) for s, e, _, _ in ALLOWED} | set(REFUSED)
    events = {str(e) for e in GateMachine(model=GateModel(actor.spec)).events}
    assert events == {
        "report_done",
        "report_failure",
        "confirm_trigger",
        "tick",
        "force",
        "fail",
        "rearm",
        "adopt",
        "migrate",
    }
    assert {(s, e) for s in STATES for e in events} <= covered


def test_entering_complete_appends_exactly_one_trigger(actor: GateActor) -> None:
    snapshot = in_state(actor, "complete")
    assert [e.id for e in snapshot.outbox] == ["small/2025-11-29/1"]
    assert snapshot.data.trigger is not None
    assert snapshot.data.trigger.trigger_id == "small/2025-11-29/1"
    late = actor.transition(
        snapshot, "report_done", processor="beta", completion=done("beta", "x"), at=T0
    )
    assert len(late.outbox) == 1
    assert [r.execution_id for r in late.data.late] == ["x"]


def test_hydration_does_not_reenter_the_initial_state(actor: GateActor) -> None:
    snapshot = in_state(actor, "triggered")
    model = GateModel(actor.spec)
    model.load(snapshot)
    machine = GateMachine(model=model)
    assert [s.id for s in machine.configuration] == ["triggered"]
    assert model.freeze().history == snapshot.history


def test_machine_is_reused_across_keys_without_leaking_state(actor: GateActor) -> None:
    triggered = in_state(actor, "triggered")
    fresh = actor.transition(
        actor.initial("2025-11-30"),
        "report_done",
        processor="alpha",
        completion=done("alpha").__class__(
            processor="alpha", key="2025-11-30", status="success", execution_id="e"
        ),
        at=T0,
    )
    assert fresh.state == "partial"
    assert set(fresh.data.done) == {"alpha"}
    assert fresh.data.trigger is None
    assert triggered.state == "triggered"


def test_a_raising_action_aborts_the_step(actor: GateActor) -> None:
    snapshot = in_state(actor, "complete")
    with pytest.raises(AssertionError):
        actor.transition(snapshot, "confirm_trigger", entry_id="wrong", message_id="m", at=T0)
    assert snapshot.state == "complete"
    assert snapshot.data.trigger is not None
    assert snapshot.data.trigger.message_id is None


def test_failed_key_recovers_when_the_failed_processor_succeeds(actor: GateActor) -> None:
    snapshot = in_state(actor, "failed")
    assert snapshot.data.failed_reason == "required processor alpha failed: table missing"
    for name in ("beta", "gamma"):
        snapshot = actor.transition(
            snapshot, "report_done", processor=name, completion=done(name), at=T0
        )
        assert snapshot.state == "failed"
    recovered = actor.transition(
        snapshot, "report_done", processor="alpha", completion=done("alpha"), at=T0 + timedelta(1)
    )
    assert recovered.state == "complete"
    assert recovered.data.failed_reason is None
    assert recovered.data.failure_counts == {"alpha": 1}


def test_operator_failure_is_not_reopened_by_a_completion(actor: GateActor) -> None:
    snapshot = actor.transition(in_state(actor, "partial"), "fail", **OPERATOR)
    assert snapshot.data.failed_reason == "failed by ops@example.com: testing"
    after = actor.transition(
        snapshot, "report_done", processor="beta", completion=done("beta"), at=T0
    )
    assert after.state == "failed"


def test_rearm_starts_a_new_generation(actor: GateActor) -> None:
    rearmed = actor.transition(in_state(actor, "triggered"), "rearm", **OPERATOR)
    assert (rearmed.state, rearmed.generation) == ("waiting", 2)
    assert rearmed.data.done == {}
    assert rearmed.data.trigger is None
    last = rearmed.history[-1]
    assert (last.event, last.source, last.target, last.by, last.cause) == (
        "rearm",
        "triggered",
        "waiting",
        "ops@example.com",
        "testing",
    )
