"""The kernel's events: what every actor handles the same way. Time is data: every event
carries ``at`` (UTC), so a step never reads a clock.

``claim`` lets any event take the lease on pending outbox entries in the same transaction, so
the delivery that decides a message is also the one that publishes it. A machine's own events
subclass :class:`Event` (or :class:`OperatorEvent`, for audited commands) in its package.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import field, frozen

from ..limits import MAX_OPERATOR_LENGTH, MAX_REASON_LENGTH
from .validators import audit_text, nonempty_str, utc_datetime

__all__ = [
    "Claim",
    "Event",
    "OperatorEvent",
    "OutboxPublished",
    "OutboxReleased",
    "Tick",
]


@frozen(kw_only=True)
class Claim:
    """A request to lease pending outbox entries to ``owner`` until ``until``."""

    owner: str = field(validator=nonempty_str)
    until: datetime = field(validator=utc_datetime)


@frozen(kw_only=True)
class Event:
    """Base of all events: when it happened and an optional outbox claim. ``kind`` names the
    event in its JSON form; it is unique within one actor type."""

    kind: ClassVar[str] = "event"
    at: datetime = field(validator=utc_datetime)
    claim: Claim | None = None


@frozen(kw_only=True)
class OutboxPublished(Event):
    """The lease holder published an outbox entry; ``message_id`` is the transport's id."""

    kind: ClassVar[str] = "published"
    entry_id: str = field(validator=nonempty_str)
    message_id: str = field(validator=nonempty_str)
    owner: str = field(validator=nonempty_str)


@frozen(kw_only=True)
class OutboxReleased(Event):
    """The lease holder failed to publish and gives the lease back so others may retry."""

    kind: ClassVar[str] = "released"
    entry_id: str = field(validator=nonempty_str)
    owner: str = field(validator=nonempty_str)
    error: str = ""


@frozen(kw_only=True)
class Tick(Event):
    """Time passed: whatever is due at ``at`` (a deadline) is evaluated."""

    kind: ClassVar[str] = "tick"


@frozen(kw_only=True)
class OperatorEvent(Event):
    """An audited command: who gave it and why (both kept in the actor's history)."""

    reason: str = field(validator=audit_text(MAX_REASON_LENGTH))
    by: str = field(validator=audit_text(MAX_OPERATOR_LENGTH))
