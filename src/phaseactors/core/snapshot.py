"""The persisted state of one actor and the outbox it carries.

A snapshot is immutable; the step returns a new one. ``version`` grows by one on every change,
which is what stores compare to commit optimistically.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
from attrs import field, frozen, validators

from .validators import nonempty_str, utc_datetime

__all__ = ["HistoryEntry", "Lease", "OutboxEntry", "Snapshot"]

D = TypeVar("D")


@frozen(kw_only=True)
class Lease:
    """Who may publish an outbox entry, and until when."""

    owner: str = field(validator=nonempty_str)
    until: datetime = field(validator=utc_datetime)

    def held_at(self, now: datetime) -> bool:
        return now < self.until


@frozen(kw_only=True)
class OutboxEntry:
    """A message decided inside the step, committed with the state, published after commit."""

    id: str = field(validator=nonempty_str)
    topic: str = field(validator=nonempty_str)
    body: Mapping[str, Any] = field(hash=False)
    attributes: Mapping[str, str] = field(factory=dict, hash=False)
    ordering_key: str | None = None
    created_at: datetime = field(validator=utc_datetime)
    lease: Lease | None = None
    publish_attempts: int = field(default=0, validator=validators.ge(0))
    last_error: str | None = None

    def claimable_by(self, owner: str, now: datetime) -> bool:
        return self.lease is None or self.lease.owner == owner or not self.lease.held_at(now)


@frozen(kw_only=True)
class HistoryEntry:
    """One transition in an actor's life: from, to, event, at, cause (and who, for operators)."""

    at: datetime = field(validator=utc_datetime)
    event: str = field(validator=nonempty_str)
    source: str = field(validator=nonempty_str)
    target: str = field(validator=nonempty_str)
    generation: int = field(validator=validators.ge(1))
    cause: str = ""
    by: str | None = None


@frozen(kw_only=True)
class Snapshot(Generic[D]):
    """The persisted state of one actor: machine state, data, dedup tokens, outbox, history.
    ``actor`` names the actor type (for a gate, the gate's name), ``key`` the instance."""

    actor: str = field(validator=nonempty_str)
    key: str = field(validator=nonempty_str)
    generation: int = field(validator=validators.ge(1))
    state: str = field(validator=nonempty_str)
    version: int = field(validator=validators.ge(0))
    data: D
    seen: tuple[str, ...] = field(default=(), converter=tuple)
    """Dedup tokens of events already applied, oldest first; the actor bounds how many."""
    outbox: tuple[OutboxEntry, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    updated_at: datetime | None = field(default=None, validator=utc_datetime)

    def evolve(self, **changes: Any) -> Snapshot[D]:
        return attrs.evolve(self, **changes)

    def outbox_entry(self, entry_id: str) -> OutboxEntry | None:
        return next((entry for entry in self.outbox if entry.id == entry_id), None)
