"""The audited operator actions of the console: force-trigger, rearm and fail a key.

An action is reviewed first (:func:`review`: who, why, which key and what it will do) and
carried out only when that reviewed summary comes back confirmed (:func:`carry_out`). Each
runs the gate's own command (:class:`~phaseactors.gate.operations.GateRuntime`), so the
identity and the reason land in the key's history like those of the CLI.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from ..core.runtime import Delivery
from ..core.untrusted import printable
from ..errors import InvalidMessage
from ..gate.data import GateData
from ..limits import MAX_REASON_LENGTH
from .lanes import GateLane

__all__ = ["ACTIONS", "Action", "ActionRefused", "allowed_actions", "carry_out", "review"]


@frozen(kw_only=True)
class Action:
    name: str
    label: str
    effect: str


ACTIONS = {
    action.name: action
    for action in (
        Action(
            name="force",
            label="Force-trigger",
            effect="triggers the next phase now, whatever is missing",
        ),
        Action(
            name="rearm",
            label="Rearm",
            effect="starts a new generation: completions are forgotten and the key may trigger"
            " again (processors must run again, with new execution ids)",
        ),
        Action(
            name="fail",
            label="Fail",
            effect="marks the key failed; completions no longer reopen it (rearm does)",
        ),
    )
}


class ActionRefused(Exception):
    """An action that may not run; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def allowed_actions(lane: GateLane, state: str) -> tuple[Action, ...]:
    """The actions the gate's machine accepts in ``state``."""
    events = set(lane.runtime.actor.allowed_events(state))
    return tuple(action for name, action in ACTIONS.items() if name in events)


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise ActionRefused(400, "a reason is required: say why, it is kept in the history")
    if len(reason) > MAX_REASON_LENGTH:
        raise ActionRefused(400, f"the reason is longer than {MAX_REASON_LENGTH} characters")
    return reason


def review(
    lane: GateLane, name: str, key: str, reason: str, identity: str | None
) -> dict[str, Any]:
    """What the action would do, for a person to confirm; refused before anything runs
    without an identity or a reason, for a key never seen, or in a state that forbids it."""
    action = ACTIONS.get(name)
    if action is None:
        raise ActionRefused(404, f"no action {printable(name)!r}")
    if identity is None:
        raise ActionRefused(403, "sign in first: actions need an authenticated identity")
    text = _reason(reason)
    try:
        snapshot = lane.runtime.load(key)
    except InvalidMessage as error:
        raise ActionRefused(404, str(error)) from None
    if snapshot is None:
        raise ActionRefused(404, f"{lane.name}/{printable(key)}: no such key (never seen)")
    if action not in allowed_actions(lane, snapshot.state):
        allowed = ", ".join(a.name for a in allowed_actions(lane, snapshot.state)) or "none"
        raise ActionRefused(
            409, f"{action.name} is not allowed from {snapshot.state} (allowed: {allowed})"
        )
    return {
        "action": action.name,
        "gate": lane.name,
        "key": snapshot.key,
        "reason": text,
        "by": identity,
        "state": snapshot.state,
        "generation": snapshot.generation,
        "version": snapshot.version,
    }


def carry_out(lane: GateLane, summary: dict[str, Any], identity: str | None) -> Delivery[GateData]:
    """Run a reviewed action if its reviewer confirms it and the key is as they saw it."""
    if identity is None or identity != summary.get("by"):
        raise ActionRefused(403, "this confirmation belongs to another identity")
    if summary.get("gate") != lane.name:
        raise ActionRefused(400, "this confirmation is for another gate")
    key = str(summary["key"])
    snapshot = lane.runtime.load(key)
    if snapshot is None:
        raise ActionRefused(404, f"{lane.name}/{printable(key)}: no such key (never seen)")
    if snapshot.version != summary.get("version"):
        raise ActionRefused(
            409,
            f"{lane.name}/{printable(key)} changed since you reviewed the action (now"
            f" {snapshot.state}, version {snapshot.version}): review it again",
        )
    method = {"force": lane.runtime.force, "rearm": lane.runtime.rearm, "fail": lane.runtime.fail}
    return method[str(summary["action"])](key, reason=str(summary["reason"]), by=identity)
