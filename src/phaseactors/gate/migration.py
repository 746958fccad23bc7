"""What moving a key to the current definition does, or would do: trigger now, wait for more,
fail, nothing (already there), or refused (a decided generation keeps its definition).

:func:`plan_migration` runs the actor's pure step on a loaded snapshot without committing
anything (``phaseactors migrate --dry-run``); :func:`migration_result` reads the same out of
a committed delivery, so the dry run and the real run are described alike.
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen, validators

from ..core.actor import Outcome
from ..core.snapshot import Snapshot
from ..errors import TransitionRefused
from .actor import GateActor
from .data import GateData
from .events import MigrateKey
from .status import gate_status

__all__ = ["ACTIONS", "MigrationResult", "migration_result", "plan_migration", "refusal"]

#: What a migration does to one key.
ACTIONS = ("trigger", "wait", "fail", "unchanged", "refused")


@frozen(kw_only=True)
class MigrationResult:
    """One key's migration: its state and definition before, the definition it moves to,
    what happens (one of :data:`ACTIONS`), its state after, and why."""

    key: str
    state: str
    definition: str | None
    target: str
    action: str = field(validator=validators.in_(ACTIONS))
    state_after: str
    missing: tuple[str, ...] = ()
    missing_optional: tuple[str, ...] = ()
    reason: str = ""
    applied: bool = False

    def text(self) -> str:
        """What happens, for people: ``trigger now (all_done)``, ``wait for 2 more: a, b``."""
        if self.action == "trigger":
            return f"trigger now ({self.reason})"
        if self.action == "fail":
            return f"fail: {self.reason}"
        if self.action == "unchanged":
            return "nothing to do: already on the current definition"
        if self.action == "refused":
            return f"not migrated: {self.reason}"
        if self.missing:
            shown = ", ".join(self.missing[:3])
            more = f" (+{len(self.missing) - 3} more)" if len(self.missing) > 3 else ""
            return f"wait for {len(self.missing)} more: {shown}{more}"
        return f"wait for the optional quorum ({len(self.missing_optional)} optional missing)"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "state": self.state,
            "definition": self.definition,
            "target": self.target,
            "action": self.action,
            "state_after": self.state_after,
            "missing": list(self.missing),
            "missing_optional": list(self.missing_optional),
            "reason": self.reason,
            "applied": self.applied,
            "text": self.text(),
        }


def migration_result(
    actor: GateActor,
    before: Snapshot[GateData],
    after: Snapshot[GateData],
    outcome: Outcome,
    target: str,
    *,
    applied: bool,
) -> MigrationResult:
    """Describe the migration of ``before`` that gave ``after``."""
    common: dict[str, Any] = {
        "key": before.key,
        "state": before.state,
        "definition": before.data.definition,
        "target": target,
        "state_after": after.state,
    }
    if outcome is Outcome.UNCHANGED:
        return MigrationResult(action="unchanged", **common)
    trigger = after.data.trigger
    if after.state in ("complete", "triggered") and trigger is not None:
        return MigrationResult(action="trigger", reason=trigger.reason, applied=applied, **common)
    if after.state == "failed":
        return MigrationResult(
            action="fail", reason=after.data.failed_reason or "", applied=applied, **common
        )
    status = gate_status(actor.spec_of(target), after)
    return MigrationResult(
        action="wait",
        missing=status.missing,
        missing_optional=status.missing_optional,
        applied=applied,
        **common,
    )


def plan_migration(
    actor: GateActor, snapshot: Snapshot[GateData], event: MigrateKey
) -> MigrationResult:
    """What ``event`` would do to ``snapshot``: the step, run and thrown away."""
    try:
        stepped = actor.step(snapshot, event)
    except TransitionRefused as refused:
        return refusal(snapshot, event.fingerprint, str(refused))
    return migration_result(
        actor, snapshot, stepped.snapshot, stepped.outcome, event.fingerprint, applied=False
    )


def refusal(snapshot: Snapshot[GateData], target: str, why: str) -> MigrationResult:
    """A key whose migration the step refuses."""
    return MigrationResult(
        key=snapshot.key,
        state=snapshot.state,
        definition=snapshot.data.definition,
        target=target,
        action="refused",
        state_after=snapshot.state,
        reason=why,
    )
