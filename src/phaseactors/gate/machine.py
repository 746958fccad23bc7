"""The gate: a fan-in barrier that triggers the next phase once per generation.

The class is declarative: states, events and transitions. Guards and actions are methods of
the bound model (:class:`~phaseactors.gate.model.GateModel`), which holds the working
copy of the snapshot during one step. Refused events raise (``StateMachine`` semantics), and a
raising action aborts the step, so nothing is committed.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine

__all__ = ["GateMachine"]

_DEADLINE_FAILED = ["pass_deadlines", "note_deadline_failed"]


def _redefinition(waiting: State, partial: State, complete: State, failed: State) -> Any:
    """A key of an undecided generation re-evaluated under the definition it has just switched
    to: it triggers if that definition's condition holds, fails on an outstanding failure of a
    processor it requires, reopens when no such failure is left; else it stays as it is."""
    return (
        waiting.to(complete, cond="holds_now")
        | partial.to(complete, cond="holds_now")
        | failed.to(complete, cond="holds_now")
        | waiting.to(failed, cond="fails_now", on="note_failed_now")
        | partial.to(failed, cond="fails_now", on="note_failed_now")
        | failed.to(partial, cond="reopens_now")
        | waiting.to.itself(internal=True)
        | partial.to.itself(internal=True)
        | failed.to.itself(internal=True)
    )


class GateMachine(StateMachine):
    """waiting → partial → complete → triggered, with failed, force, rearm, and the switch of
    an undecided generation to a changed definition (adopt, migrate)."""

    waiting = State("waiting", initial=True)
    partial = State("partial")
    complete = State("complete")
    triggered = State("triggered")
    failed = State("failed")

    report_done = (
        waiting.to(complete, cond="covers", on="record_done")
        | waiting.to(partial, on="record_done")
        | partial.to(complete, cond="covers", on="record_done")
        | partial.to.itself(internal=True, on="record_done")
        | failed.to(complete, cond="covers", on="record_done")
        | failed.to(partial, cond="recovers", on="record_done")
        | failed.to.itself(internal=True, on="record_done")
        | complete.to.itself(internal=True, on="record_late")
        | triggered.to.itself(internal=True, on="record_late")
    )
    report_failure = (
        waiting.to(failed, cond="fails_required", on=["record_failure", "note_required_failed"])
        | partial.to(failed, cond="fails_required", on=["record_failure", "note_required_failed"])
        | waiting.to.itself(internal=True, on="record_failure")
        | partial.to.itself(internal=True, on="record_failure")
        | failed.to.itself(internal=True, on="record_failure")
        | complete.to.itself(internal=True, on="record_late")
        | triggered.to.itself(internal=True, on="record_late")
    )
    confirm_trigger = complete.to(triggered, on="record_published")
    tick = (
        waiting.to(complete, cond="deadline_allows_trigger", on="pass_deadlines")
        | partial.to(complete, cond="deadline_allows_trigger", on="pass_deadlines")
        | waiting.to(failed, cond="final_deadline_missed", on=_DEADLINE_FAILED)
        | partial.to(failed, cond="final_deadline_missed", on=_DEADLINE_FAILED)
        | waiting.to.itself(internal=True, on="pass_deadlines")
        | partial.to.itself(internal=True, on="pass_deadlines")
    )
    force = waiting.to(complete) | partial.to(complete) | failed.to(complete)
    fail = waiting.to(failed, on="note_operator_failed") | partial.to(
        failed, on="note_operator_failed"
    )
    rearm = (
        triggered.to(waiting, on="start_generation")
        | failed.to(waiting, on="start_generation")
        | partial.to(waiting, on="start_generation")
    )
    # A changed gate definition: ``adopt`` (the gate's on_change policy, at the key's next
    # event) and ``migrate`` (an operator's command) switch an undecided generation to it.
    adopt = _redefinition(waiting, partial, complete, failed)
    migrate = _redefinition(waiting, partial, complete, failed)
