"""Versioned definitions: what decides an actor's keys, recorded once per fingerprint.

An actor type's definition (for a gate: who must report, quorums, deadlines, profiles) may
change while keys are in flight. A *versioned* actor pins each key to the fingerprint of the
definition it started with and keeps the fingerprint in the snapshot, nothing more; the
definition itself is a :class:`DefinitionRecord` in the store, one per (actor, fingerprint),
written once and never changed.

The step stays pure: it reads definitions from the actor's own registry, never from the store.
A store fills that registry *before* it steps: :func:`resolve_definition` asks the actor which
fingerprint a snapshot needs that it does not know yet, reads that record (once per actor
object: a record never changes) and hands it over. Every path that steps does this right after
reading the snapshot, a Firestore fold of several handlers' events included, so every event of
one commit steps against the same snapshot and the same definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, cast

from attrs import field, frozen

from .snapshot import Snapshot
from .validators import nonempty_str, utc_datetime

__all__ = ["DefinitionRecord", "DefinitionSource", "Versioned", "resolve_definition"]


@frozen(kw_only=True)
class DefinitionRecord:
    """One version of an actor type's definition: its fingerprint (a hash of ``document``),
    the JSON document itself, and when a store first recorded it."""

    actor: str = field(validator=nonempty_str)
    fingerprint: str = field(validator=nonempty_str)
    document: Mapping[str, Any] = field(hash=False)
    recorded_at: datetime = field(validator=utc_datetime)


class DefinitionSource(Protocol):
    """Where recorded definitions are read from (every :class:`~phaseactors.core.store.Store`)."""

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None: ...


class Versioned(Protocol):
    """An actor whose snapshots are pinned to versioned definitions."""

    @property
    def name(self) -> str: ...

    def definition_needed(self, snapshot: Snapshot[Any]) -> str | None:
        """The fingerprint ``snapshot`` is pinned to, when this actor does not know that
        definition yet; else None."""
        ...

    def learn_definition(self, record: DefinitionRecord) -> None:
        """Add a recorded definition to the actor's registry (validated against its
        fingerprint)."""
        ...


def resolve_definition(store: DefinitionSource, actor: object, snapshot: Snapshot[Any]) -> None:
    """Before stepping ``snapshot``: give a versioned actor the definition the snapshot is
    pinned to, read from ``store``, if it does not know it yet. Nothing for other actors. A
    definition the store does not have is left unknown: the step then raises
    :class:`~phaseactors.errors.DefinitionMissing`, and nothing is committed."""
    needed = getattr(actor, "definition_needed", None)  # not isinstance: a runtime-checked
    if needed is None:  # protocol costs microseconds on every step
        return
    fingerprint = needed(snapshot)
    if fingerprint is None:
        return
    record = store.definition(cast(Versioned, actor).name, fingerprint)
    if record is not None:
        cast(Versioned, actor).learn_definition(record)
