"""The alert message: one value, one JSON shape, one id per (source, key, generation, reason,
subject), whichever actor raises it.

``source`` names the actor type that raised it (a gate's or a pipeline's name) and
``source_type`` says which kind it is; ``subject`` says what the alert is about when a reason
can concern several things of one key (which handoff stalled, which deadline tier passed).
The id is a function of those five, so an alert re-published after a failure or a crash
carries the same id, and a consumer (a pager, a chat hook) drops repeats by it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen, validators

from ..core.clock import format_utc, parse_utc
from ..core.snapshot import OutboxEntry
from ..core.untrusted import check_json_value
from ..core.validators import nonempty_str, utc_datetime
from ..errors import InvalidMessage

__all__ = [
    "ALERT_KIND",
    "Alert",
    "Severity",
    "alert_entry",
    "alert_from_message",
    "alert_id",
    "is_alert",
]

#: The ``kind`` attribute of every alert message (lifecycle announcements carry their own).
ALERT_KIND = "alert"
_WORD = re.compile(r"[a-z][a-z0-9_]*")
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")


class Severity(enum.StrEnum):
    """How loud an alert is: ``error`` pages someone, ``notice`` says an error is over."""

    ERROR = "error"
    NOTICE = "notice"


def alert_id(source: str, key: str, generation: int, reason: str, subject: str | None) -> str:
    """``source/key/generation/alert/reason``, then ``/subject`` when there is one."""
    base = f"{source}/{key}/{generation}/alert/{reason}"
    return f"{base}/{subject}" if subject else base


@frozen(kw_only=True)
class Alert:
    """Something a person should know about one key, decided once per generation."""

    source: str = field(validator=nonempty_str)
    source_type: str = field(validator=validators.matches_re(_WORD))
    key: str = field(validator=nonempty_str)
    generation: int = field(validator=[validators.instance_of(int), validators.ge(1)])
    reason: str = field(validator=validators.matches_re(_WORD))
    subject: str | None = field(
        default=None, validator=validators.optional(validators.matches_re(_SUBJECT))
    )
    severity: Severity = field(default=Severity.ERROR, converter=Severity)
    summary: str = field(validator=nonempty_str)
    decided_at: datetime = field(validator=utc_datetime)
    details: Mapping[str, Any] = field(factory=dict, hash=False)
    correlation_id: str | None = None

    @property
    def id(self) -> str:
        return alert_id(self.source, self.key, self.generation, self.reason, self.subject)

    def to_json(self) -> dict[str, Any]:
        """The message body (and the shape ``status --json`` views show)."""
        return {
            "alert_id": self.id,
            "kind": ALERT_KIND,
            "source": self.source,
            "source_type": self.source_type,
            "key": self.key,
            "generation": self.generation,
            "reason": self.reason,
            "subject": self.subject,
            "severity": self.severity.value,
            "summary": self.summary,
            "decided_at": format_utc(self.decided_at),
            "correlation_id": self.correlation_id,
            "details": dict(self.details),
        }


def alert_entry(alert: Alert, topic: str) -> OutboxEntry:
    """The outbox entry of ``alert`` on ``topic``: the id is the alert's, and the attributes
    carry what a subscription filter or a log query selects on."""
    attributes = {
        "alert_id": alert.id,
        "kind": ALERT_KIND,
        "source": alert.source,
        "source_type": alert.source_type,
        "key": alert.key,
        "reason": alert.reason,
        "severity": alert.severity.value,
    }
    if alert.correlation_id:
        attributes["correlation_id"] = alert.correlation_id
    return OutboxEntry(
        id=alert.id,
        topic=topic,
        body=alert.to_json(),
        attributes=attributes,
        created_at=alert.decided_at,
    )


def is_alert(entry: OutboxEntry) -> bool:
    """Whether an outbox entry is an alert message."""
    return entry.attributes.get("kind") == ALERT_KIND and "alert_id" in entry.attributes


def alert_from_message(body: Mapping[str, Any]) -> Alert:
    """Read an alert message's body back, strictly: :class:`InvalidMessage` names the field."""
    if not isinstance(body, Mapping):
        raise InvalidMessage("alert", f"must be a JSON object, got {type(body).__name__}")
    check_json_value(body, "alert")
    if body.get("kind") != ALERT_KIND:
        raise InvalidMessage("kind", f"must be {ALERT_KIND!r}, got {body.get('kind')!r}")
    try:
        decided_at = parse_utc(body["decided_at"])
        alert = Alert(
            source=body["source"],
            source_type=body["source_type"],
            key=body["key"],
            generation=body["generation"],
            reason=body["reason"],
            subject=body.get("subject"),
            severity=body.get("severity", Severity.ERROR.value),
            summary=body["summary"],
            decided_at=decided_at,
            details=body.get("details") or {},
            correlation_id=body.get("correlation_id"),
        )
    except KeyError as missing:
        raise InvalidMessage(str(missing.args[0]), "missing") from None
    except (TypeError, ValueError) as exc:
        raise InvalidMessage("alert", str(exc)) from None
    if body.get("alert_id", alert.id) != alert.id:
        raise InvalidMessage("alert_id", f"{body['alert_id']!r} is not {alert.id!r}")
    return alert
