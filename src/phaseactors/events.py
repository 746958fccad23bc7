"""Events an actor's step consumes. Time is data: every event carries ``at`` (UTC).

``claim`` lets any event take the lease on pending outbox entries in the same transaction, so
the delivery that decides a trigger is also the one that publishes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import field, frozen

from .completion import Completion
from .limits import MAX_OPERATOR_LENGTH, MAX_REASON_LENGTH
from .validators import audit_text, nonempty_str, utc_datetime

__all__ = [
    "Claim",
    "CompletionReported",
    "Event",
    "FailKey",
    "ForceTrigger",
    "OperatorEvent",
    "OutboxPublished",
    "OutboxReleased",
    "Rearm",
    "Tick",
]


@frozen(kw_only=True)
class Claim:
    """A request to lease pending outbox entries to ``owner`` until ``until``."""

    owner: str = field(validator=nonempty_str)
    until: datetime = field(validator=utc_datetime)


@frozen(kw_only=True)
class Event:
    """Base of all events: when it happened and an optional outbox claim."""

    kind: ClassVar[str] = "event"
    at: datetime = field(validator=utc_datetime)
    claim: Claim | None = None


@frozen(kw_only=True)
class CompletionReported(Event):
    """A processor reported a completion (done or failed) for the key."""

    kind: ClassVar[str] = "completion"
    completion: Completion


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
    """Time passed: deadlines due at ``at`` are evaluated."""

    kind: ClassVar[str] = "tick"


@frozen(kw_only=True)
class OperatorEvent(Event):
    """An audited operator command: who did it and why."""

    reason: str = field(validator=audit_text(MAX_REASON_LENGTH))
    by: str = field(validator=audit_text(MAX_OPERATOR_LENGTH))


@frozen(kw_only=True)
class ForceTrigger(OperatorEvent):
    """Trigger the next phase now, whatever is missing."""

    kind: ClassVar[str] = "force"


@frozen(kw_only=True)
class Rearm(OperatorEvent):
    """Start a new generation: forget completions, allow one more trigger."""

    kind: ClassVar[str] = "rearm"


@frozen(kw_only=True)
class FailKey(OperatorEvent):
    """Mark the key failed."""

    kind: ClassVar[str] = "fail"
