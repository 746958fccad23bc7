"""The store port: what the runtime needs from persistence, whatever the backend.

A store runs an actor's step inside its own notion of a transaction: the step may run several
times (on conflict), so it must be pure. Whatever the store, a commit either persists the whole
new snapshot (state, data, outbox, history) or nothing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from attrs import field, frozen, validators

from .actor import Actor, Outcome
from .definitions import DefinitionRecord
from .events import Event
from .snapshot import Snapshot
from .validators import utc_datetime

__all__ = [
    "RESERVED_NAMES",
    "RESOLUTIONS",
    "Applied",
    "Quarantined",
    "Resolution",
    "RetryPolicy",
    "Store",
]

D = TypeVar("D")

#: What a store names its own records by (Firestore collections beside the actors'), so no
#: actor may be given one of these names.
RESERVED_NAMES = frozenset({"definitions", "quarantine", "quarantine_resolved"})


@frozen
class Applied(Generic[D]):
    """What ``Store.apply`` did: the snapshot after the event, and whether it committed."""

    snapshot: Snapshot[D]
    outcome: Outcome
    detail: str = ""
    committed: bool = False
    attempts: int = 1
    carried: tuple[Event, ...] = ()
    """Other deliveries' events this apply's commits applied for them, whose handlers did not
    wait for them (Firestore's queue): the delivery that carried them reports what they did."""


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
    id: str | None = field(default=None, eq=False)
    """The store's id of the record, once stored (not part of its value: a record read back
    equals the one written)."""


#: What can become of a quarantined message.
RESOLUTIONS = ("purged", "replayed")


@frozen(kw_only=True)
class Resolution:
    """The audit entry of a quarantined message that left the quarantine: purged, or replayed
    through the runtime; who did it, when, why, and with what outcome. It keeps what
    identifies the message (its id, gate, message id, source, reason, and the size and
    SHA-256 of its raw text), not the text: a purge is often there to get rid of it."""

    id: str = field(validator=validators.min_len(1))
    """The quarantined record's id."""
    action: str = field(validator=validators.in_(RESOLUTIONS))
    at: datetime = field(validator=utc_datetime)
    by: str = field(validator=validators.min_len(1))
    reason: str = field(validator=validators.min_len(1))
    outcome: str | None = None
    """For a replay: what the delivery did (``applied``, ``duplicate``, ...)."""
    actor: str | None = None
    message_id: str | None = None
    source: str = "unknown"
    quarantined_at: datetime = field(validator=utc_datetime)
    quarantine_reason: str = ""
    raw_bytes: int = 0
    raw_sha256: str = ""

    @classmethod
    def of(
        cls,
        record: Quarantined,
        *,
        action: str,
        at: datetime,
        by: str,
        reason: str,
        outcome: str | None = None,
    ) -> Resolution:
        """The entry for ``record`` (which must have its id)."""
        if record.id is None:
            raise ValueError("only a stored quarantine record (one with an id) can be resolved")
        raw = record.raw.encode("utf-8", "surrogatepass")
        return cls(
            id=record.id,
            action=action,
            at=at,
            by=by,
            reason=reason,
            outcome=outcome,
            actor=record.actor,
            message_id=record.message_id,
            source=record.source,
            quarantined_at=record.at,
            quarantine_reason=record.reason,
            raw_bytes=len(raw),
            raw_sha256=hashlib.sha256(raw).hexdigest(),
        )

    def fields(self) -> dict[str, Any]:
        """Every field by name (a store's row or document; times as datetimes)."""
        return {name: getattr(self, name) for name in _RESOLUTION_FIELDS}


_RESOLUTION_FIELDS = (
    "id",
    "action",
    "at",
    "by",
    "reason",
    "outcome",
    "actor",
    "message_id",
    "source",
    "quarantined_at",
    "quarantine_reason",
    "raw_bytes",
    "raw_sha256",
)


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
        start: str | None = None,
        stop: str | None = None,
        descending: bool = False,
    ) -> Iterator[Snapshot[D]]:
        """Snapshots of one actor type, filtered by state, pending outbox or due time, in key
        order (``descending``: newest key first); with ``limit``, the first ``limit`` of them
        in that order. ``start`` and ``stop`` bound the keys like a slice: ``start <= key <
        stop``, so a page of keys can be read without decoding the others."""
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

    def quarantine(self, record: Quarantined) -> str:
        """Keep a message that can never be applied, with its reason; return its id."""
        ...

    def quarantined(self, actor: str | None = None, limit: int = 100) -> list[Quarantined]:
        """The most recent quarantined messages (for ``actor``, if given), newest first, at
        most ``limit``, each with its id."""
        ...

    def quarantined_record(self, record_id: str) -> Quarantined | None:
        """The quarantined message with this id, or None (never stored, or resolved since)."""
        ...

    def resolve_quarantined(self, resolution: Resolution) -> bool:
        """In one commit, remove the quarantined message ``resolution.id`` and keep
        ``resolution`` as its audit entry; False, changing nothing, if it is not there (any
        more: two operators resolving one message, only one succeeds)."""
        ...

    def resolutions(self, actor: str | None = None, limit: int = 100) -> list[Resolution]:
        """The audit entries of resolved quarantined messages (for ``actor``, if given),
        newest first, at most ``limit``."""
        ...

    def close(self) -> None: ...
