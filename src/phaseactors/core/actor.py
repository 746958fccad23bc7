"""The actor port: what the runtime and the stores need from any persisted state machine."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from attrs import frozen

from .events import Event
from .snapshot import Snapshot

__all__ = ["Actor", "Outcome", "Stepped"]

D = TypeVar("D")


class Outcome(enum.StrEnum):
    """What one step did with its event."""

    APPLIED = "applied"
    """The event changed the actor."""
    DUPLICATE = "duplicate"
    """Already applied (its dedup token was seen): nothing changed."""
    LATE = "late"
    """Recorded as late: the actor had already decided; the event changes no decision."""
    UNKNOWN = "unknown"
    """From a sender the actor does not expect: recorded apart, never counted."""
    STALE = "stale"
    """The event refers to something already finished (an older outbox entry)."""
    UNCHANGED = "unchanged"
    """Nothing to do (a tick with nothing due)."""
    QUEUED = "queued"
    """Durably queued behind a concurrent delivery to the same key, not yet applied: the
    store applies it next (a store that combines concurrent deliveries, such as Firestore's)."""


@frozen
class Stepped(Generic[D]):
    """The result of a step: the new snapshot (the same object when nothing changed)."""

    snapshot: Snapshot[D]
    outcome: Outcome
    detail: str = ""


class Actor(Protocol[D]):
    """A persisted state machine type. ``step`` must be pure: no I/O, no clock, no randomness."""

    @property
    def name(self) -> str:
        """The namespace of this actor type's keys in stores (for a gate, its name)."""
        ...

    def validate_key(self, key: object) -> str: ...

    def initial(self, key: str) -> Snapshot[D]: ...

    def step(self, snapshot: Snapshot[D], event: Event) -> Stepped[D]: ...

    def encode(self, snapshot: Snapshot[D]) -> dict[str, Any]:
        """The snapshot's JSON document (the persisted format: a contract)."""
        ...

    def decode(self, document: Mapping[str, Any]) -> Snapshot[D]: ...

    def encode_event(self, event: Event) -> dict[str, Any]:
        """The JSON of an event this actor handles, for stores that queue events."""
        ...

    def decode_event(self, document: Mapping[str, Any]) -> Event: ...

    def due_at(self, snapshot: Snapshot[D]) -> datetime | None:
        """When this actor next needs a tick (for the sweeper's index), or None."""
        ...
