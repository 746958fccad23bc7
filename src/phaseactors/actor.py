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
    """Already applied (same message id, or same processor and execution id): nothing changed."""
    LATE = "late"
    """Recorded as late: the key had already decided its trigger; it never triggers again."""
    UNKNOWN = "unknown"
    """The processor is not expected by this gate: recorded apart, never counted."""
    STALE = "stale"
    """The event refers to something already finished (an older outbox entry)."""
    UNCHANGED = "unchanged"
    """Nothing to do (a tick with nothing due)."""


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
        """The namespace in stores (a gate's name)."""
        ...

    def validate_key(self, key: object) -> str: ...

    def initial(self, key: str) -> Snapshot[D]: ...

    def step(self, snapshot: Snapshot[D], event: Event) -> Stepped[D]: ...

    def encode(self, snapshot: Snapshot[D]) -> dict[str, Any]: ...

    def decode(self, document: Mapping[str, Any]) -> Snapshot[D]: ...

    def due_at(self, snapshot: Snapshot[D]) -> datetime | None:
        """When this actor next needs a tick (for the sweeper's index), or None."""
        ...
