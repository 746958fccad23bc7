"""The status view of one gate key: what is done, missing, unknown, failed, late, and why.

:class:`GateStatus` is typed; the CLI, the diagrams and the listings read its fields, and
:meth:`GateStatus.to_json` gives the stable ``status --json`` shape (also the function's
``status`` answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import frozen

from ..core.clock import format_utc
from ..core.codec import history_json, outbox_entry_json
from ..core.snapshot import HistoryEntry, OutboxEntry, Snapshot
from .changes import Change, definition_changes
from .data import CompletionRecord, GateData, Trigger
from .spec import DEFAULT_PROFILE, GateSpec

__all__ = ["DeadlineView", "DefinitionView", "GateStatus", "gate_status"]

_UNDECIDED = ("waiting", "partial")


@frozen(kw_only=True)
class DeadlineView:
    """One deadline tier of a key: when it passes (None until it can be known), whether it has
    passed, and what happens when it passes unmet."""

    name: str
    due_at: datetime | None
    passed: bool
    otherwise: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "due_at": format_utc(self.due_at),
            "passed": self.passed,
            "otherwise": self.otherwise,
        }


@frozen(kw_only=True)
class DefinitionView:
    """Which definition a key decides under, against the gate file as it is now.

    ``fingerprint`` is the key's (None: a key no event has changed since before definitions
    were versioned; its next change pins it to the current one), ``current`` the file's;
    ``drifted`` when they differ, and then ``changes`` says what differs (empty when the key's
    definition could not be read: ``known`` is False). ``first_seen`` is when the store first
    recorded the key's definition, if it was looked up."""

    fingerprint: str | None
    current: str
    changes: tuple[Change, ...] = ()
    known: bool = True
    first_seen: datetime | None = None
    on_change: str = "pin"

    @property
    def drifted(self) -> bool:
        return self.fingerprint is not None and self.fingerprint != self.current

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "current": self.current,
            "drifted": self.drifted,
            "changes": [c.to_json() for c in self.changes],
        }


@frozen(kw_only=True)
class GateStatus:
    """Where one key of a gate stands and why."""

    gate: str
    key: str
    generation: int
    state: str
    version: int
    updated_at: datetime | None
    profile: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    optional_quorum: float
    done: Mapping[str, CompletionRecord]
    missing: tuple[str, ...]
    missing_optional: tuple[str, ...]
    unknown: Mapping[str, CompletionRecord]
    unknown_counts: Mapping[str, int]
    unknown_other: int
    failures: Mapping[str, CompletionRecord]
    failure_counts: Mapping[str, int]
    failed_reason: str | None
    late: tuple[CompletionRecord, ...]
    late_dropped: int
    first_completion_at: datetime | None
    deadlines: tuple[DeadlineView, ...]
    trigger: Trigger | None
    pending_outbox: tuple[OutboxEntry, ...]
    history: tuple[HistoryEntry, ...]
    announced: tuple[str, ...] = ()
    """The announcements and alerts this generation decided (``started``, ``alert/failed``)."""
    definition: DefinitionView | None = None

    @property
    def expected(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def due_at(self) -> datetime | None:
        """The next deadline of an undecided key, else None."""
        if self.state not in _UNDECIDED:
            return None
        upcoming = [d.due_at for d in self.deadlines if not d.passed and d.due_at]
        return min(upcoming, default=None)

    def reports(self, name: str) -> int:
        """How many reports an unknown processor ``name`` sent."""
        return self.unknown_counts.get(name, 1)

    def row_json(self) -> dict[str, Any]:
        """The key as one row of a listing (``phaseactors list --json``, the console's grid)."""
        return {
            "key": self.key,
            "state": self.state,
            "generation": self.generation,
            "updated_at": format_utc(self.updated_at),
            "done": len(self.done),
            "missing": list(self.missing),
            "missing_optional": list(self.missing_optional),
            "failed_reason": self.failed_reason,
            "due_at": format_utc(self.due_at),
            "profile": self.profile,
            "definition": self.definition.fingerprint if self.definition else None,
            "drifted": bool(self.definition and self.definition.drifted),
        }

    def to_json(self) -> dict[str, Any]:
        """The stable ``phaseactors status --json`` shape."""
        trigger = self.trigger
        return {
            "gate": self.gate,
            "key": self.key,
            "generation": self.generation,
            "state": self.state,
            "version": self.version,
            "updated_at": format_utc(self.updated_at),
            "profile": self.profile,
            "required": list(self.required),
            "optional": list(self.optional),
            "optional_quorum": self.optional_quorum,
            "done": {name: record.summary() for name, record in self.done.items()},
            "missing": list(self.missing),
            "missing_optional": list(self.missing_optional),
            "unknown": {
                name: {**record.summary(), "reports": self.reports(name)}
                for name, record in self.unknown.items()
            },
            "unknown_other": self.unknown_other,
            "failures": {name: record.summary() for name, record in self.failures.items()},
            "failure_counts": dict(self.failure_counts),
            "failed_reason": self.failed_reason,
            "late": [record.summary() for record in self.late],
            "late_dropped": self.late_dropped,
            "first_completion_at": format_utc(self.first_completion_at),
            "deadlines": [d.to_json() for d in self.deadlines],
            "due_at": format_utc(self.due_at),
            "trigger": (
                None
                if trigger is None
                else {
                    "trigger_id": trigger.trigger_id,
                    "published": trigger.published,
                    "message_id": trigger.message_id,
                    "reason": trigger.reason,
                    "decided_at": format_utc(trigger.decided_at),
                    "published_at": format_utc(trigger.published_at),
                    "missing": list(trigger.missing),
                }
            ),
            "pending_outbox": [outbox_entry_json(e) for e in self.pending_outbox],
            "announced": list(self.announced),
            "history": [history_json(h) for h in self.history],
            "definition": self.definition.to_json() if self.definition else None,
        }


def gate_status(
    spec: GateSpec,
    snapshot: Snapshot[GateData],
    *,
    pinned: GateSpec | None = None,
    first_seen: datetime | None = None,
) -> GateStatus:
    """The status of ``snapshot``, a key of the gate ``spec`` (the file as it is now).

    A key pinned to another definition is shown as it decides: ``pinned`` is the gate as that
    key sees it (:meth:`~phaseactors.gate.actor.GateActor.spec_for`, which
    :meth:`~phaseactors.gate.operations.GateRuntime.status` looks up). Without it, such a key
    is shown against the current file, with its drift flagged and its changes unknown."""
    data = snapshot.data
    fingerprint = data.definition
    drifted = fingerprint is not None and fingerprint != spec.fingerprint
    if drifted and pinned is not None:
        view = DefinitionView(
            fingerprint=fingerprint,
            current=spec.fingerprint,
            changes=definition_changes(pinned.definition, spec.definition),
            first_seen=first_seen,
            on_change=spec.on_change,
        )
        spec = pinned
    else:
        view = DefinitionView(
            fingerprint=fingerprint,
            current=spec.fingerprint,
            known=not drifted,
            first_seen=first_seen,
            on_change=spec.on_change,
        )
    profile = spec.profile(data.profile if spec.has_profile(data.profile) else DEFAULT_PROFILE)
    deadlines = tuple(
        DeadlineView(
            name=tier.name,
            due_at=tier.due(spec.key, snapshot.key, data.first_completion_at),
            passed=tier.name in data.deadlines_passed,
            otherwise=tier.otherwise,
        )
        for tier in spec.tiers(profile)
    )
    return GateStatus(
        gate=spec.name,
        key=snapshot.key,
        generation=snapshot.generation,
        state=snapshot.state,
        version=snapshot.version,
        updated_at=snapshot.updated_at,
        profile=profile.name,
        required=profile.required,
        optional=profile.optional,
        optional_quorum=profile.optional_quorum,
        done=data.done,
        missing=tuple(p for p in profile.required if p not in data.done),
        missing_optional=tuple(p for p in profile.optional if p not in data.done),
        unknown=data.unknown,
        unknown_counts=data.unknown_counts,
        unknown_other=data.unknown_other,
        failures=data.failures,
        failure_counts=data.failure_counts,
        failed_reason=data.failed_reason,
        late=data.late,
        late_dropped=data.late_dropped,
        first_completion_at=data.first_completion_at,
        deadlines=deadlines,
        trigger=data.trigger,
        pending_outbox=snapshot.outbox,
        history=snapshot.history,
        announced=data.announced,
        definition=view,
    )
