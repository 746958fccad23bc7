"""The store port: what the runtime needs from persistence, whatever the backend.

A store runs an actor's step inside its own notion of a transaction: the step may run several
times (on conflict), so it must be pure. Whatever the store, a commit either persists the whole
new snapshot (state, data, outbox, history) or nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from attrs import field, frozen, validators

from .actor import Actor, Outcome
from .definitions import DefinitionRecord
from .events import Event
from .snapshot import Snapshot
from .validators import utc_datetime

__all__ = ["Applied", "Quarantined", "RetryPolicy", "Store"]

D = TypeVar("D")


@frozen
class Applied(Generic[D]):
    """What ``Store.apply`` did: the snapshot after the event, and whether it committed."""

    snapshot: Snapshot[D]
    outcome: Outcome
    detail: str = ""
    committed: bool = False
    attempts: int = 1


@frozen(kw_only=True)
class Quarantined:
    """A message that can never be applied, kept with the reason so a person can act on it."""

    at: datetime = field(validator=utc_datetime)
    reason: str = field(validator=validators.min_len(1))
    raw: str
    source: str = "unknown"
    actor: str | None = None
    """The actor type the message was meant for (for a gate, its name)."""
    message_id: str | None = None


@frozen(kw_only=True)
class RetryPolicy:
    """How often a conflicting commit is retried, with exponential back-off and full jitter."""

    max_attempts: int = field(default=100, validator=validators.ge(1))
    base_delay: float = field(default=0.001, validator=validators.ge(0))
    max_delay: float = field(default=0.1, validator=validators.ge(0))

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


class Store(Protocol):
    """Persistence port: one snapshot per (actor, key), changed only through ``apply``."""

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        """Run ``actor.step`` on the key's snapshot (the initial one if missing) and commit."""
        ...

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        """The committed snapshot, or None if the key was never written."""
        ...

    def scan(
        self,
        actor: Actor[D],
        *,
        states: Iterable[str] | None = None,
        pending_outbox: bool = False,
        due_before: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[Snapshot[D]]:
        """Snapshots of one actor type, filtered by state, pending outbox or due time, in key
        order; with ``limit``, the first ``limit`` of them by key."""
        ...

    def stranded(self, actor: Actor[D]) -> list[str]:
        """Keys holding events the store accepted but never applied (their handler died
        mid-way); a tick applies them. Stores that apply events in one step return []."""
        ...

    def record_definition(self, record: DefinitionRecord) -> DefinitionRecord:
        """Keep a versioned definition once per (actor, fingerprint): the first record of a
        fingerprint stays as it was written (its document and ``recorded_at``); the kept
        record is returned."""
        ...

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        """The recorded definition of ``actor`` with ``fingerprint``, or None."""
        ...

    def definitions(self, actor: str) -> list[DefinitionRecord]:
        """Every recorded definition of ``actor``, oldest first."""
        ...

    def quarantine(self, record: Quarantined) -> None:
        """Keep a message that can never be applied, with its reason."""
        ...

    def quarantined(self, actor: str | None = None, limit: int = 100) -> list[Quarantined]:
        """The most recent quarantined messages (for ``actor``, if given), newest first, at
        most ``limit``."""
        ...

    def close(self) -> None: ...
