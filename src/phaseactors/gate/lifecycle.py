"""The gate's lifecycle announcements: ``started``, ``triggered`` and ``failed``, each decided
once per (gate, key, generation) each, inside the step and published through the outbox.

They are the input of whoever watches a whole pipeline (:mod:`phaseactors.pipeline`): the
message is this module's :class:`Announcement` as JSON, with the id
``gate/key/generation/event`` (the trigger's own id, ``gate/key/generation``, is unchanged),
and :func:`announcement_from_message` reads one back strictly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen, validators

from ..core.clock import format_utc, parse_utc
from ..core.snapshot import OutboxEntry
from ..core.untrusted import check_json_value
from ..core.validators import nonempty_str, utc_datetime
from ..errors import InvalidMessage
from ..limits import MAX_ID_LENGTH, MAX_KEY_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from .keys import check_document_id

__all__ = [
    "LIFECYCLE_KIND",
    "Announcement",
    "LifecycleEvent",
    "announcement_entry",
    "announcement_from_message",
    "announcement_id",
]

#: The ``kind`` attribute of every lifecycle message.
LIFECYCLE_KIND = "lifecycle"


class LifecycleEvent(enum.StrEnum):
    """What happened to a key of a gate."""

    STARTED = "started"
    """The first report of the generation arrived (a processor of the phase ran)."""
    TRIGGERED = "triggered"
    """The trigger was decided (``reason`` says why); it is published before this."""
    FAILED = "failed"
    """The key failed (``reason`` says why, ``failure_kind`` which way)."""


def announcement_id(gate: str, key: str, generation: int, event: LifecycleEvent | str) -> str:
    """``gate/key/generation/event``: one announcement of each event per generation."""
    return f"{gate}/{key}/{generation}/{LifecycleEvent(event).value}"


def _short(limit: int) -> Any:
    return validators.optional(
        [validators.instance_of(str), validators.min_len(1), validators.max_len(limit)]
    )


@frozen(kw_only=True)
class Announcement:
    """One lifecycle event of one key of a gate, as the gate's step decided it."""

    gate: str = field(validator=validators.and_(nonempty_str, validators.max_len(MAX_NAME_LENGTH)))
    key: str = field(validator=validators.and_(nonempty_str, validators.max_len(MAX_KEY_LENGTH)))
    generation: int = field(validator=[validators.instance_of(int), validators.ge(1)])
    event: LifecycleEvent = field(converter=LifecycleEvent)
    at: datetime = field(validator=utc_datetime)
    """When it happened at the gate (the time of the event that decided it)."""
    reason: str | None = field(default=None, validator=_short(MAX_TEXT_LENGTH))
    """Why the trigger was decided (``all_done``, ``deadline:2h``, ...) or the key failed."""
    trigger_id: str | None = field(default=None, validator=_short(MAX_ID_LENGTH))
    failure_kind: str | None = field(default=None, validator=_short(MAX_NAME_LENGTH))
    missing: tuple[str, ...] = field(default=(), converter=tuple)
    correlation_id: str | None = field(default=None, validator=_short(MAX_ID_LENGTH))

    @property
    def id(self) -> str:
        return announcement_id(self.gate, self.key, self.generation, self.event)

    def to_json(self) -> dict[str, Any]:
        return {
            "announcement_id": self.id,
            "kind": LIFECYCLE_KIND,
            "gate": self.gate,
            "key": self.key,
            "generation": self.generation,
            "event": self.event.value,
            "at": format_utc(self.at),
            "reason": self.reason,
            "trigger_id": self.trigger_id,
            "failure_kind": self.failure_kind,
            "missing": list(self.missing),
            "correlation_id": self.correlation_id,
        }


def announcement_entry(announcement: Announcement, topic: str) -> OutboxEntry:
    """The outbox entry of an announcement on the gate's lifecycle topic (ordered by key)."""
    attributes = {
        "announcement_id": announcement.id,
        "kind": LIFECYCLE_KIND,
        "gate": announcement.gate,
        "key": announcement.key,
        "event": announcement.event.value,
        "generation": str(announcement.generation),
    }
    if announcement.correlation_id:
        attributes["correlation_id"] = announcement.correlation_id
    return OutboxEntry(
        id=announcement.id,
        topic=topic,
        body=announcement.to_json(),
        attributes=attributes,
        ordering_key=announcement.key,
        created_at=announcement.at,
    )


def announcement_from_message(body: Any) -> Announcement:
    """An announcement from a message body, strictly: any defect raises
    :class:`~phaseactors.errors.InvalidMessage` naming the field."""
    if not isinstance(body, Mapping):
        raise InvalidMessage("body", f"must be a JSON object, got {type(body).__name__}")
    check_json_value(body, "body")
    if body.get("kind") != LIFECYCLE_KIND:
        raise InvalidMessage("kind", f"must be {LIFECYCLE_KIND!r}, got {body.get('kind')!r}")
    values: dict[str, Any] = {}
    for name in ("gate", "key", "event", "at"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidMessage(name, "missing" if value is None else f"not a string: {value!r}")
        values[name] = value
    generation = body.get("generation")
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise InvalidMessage("generation", f"must be a positive integer, got {generation!r}")
    missing = body.get("missing") or []
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise InvalidMessage("missing", "must be a list of processor names")
    for name in ("reason", "trigger_id", "failure_kind", "correlation_id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidMessage(name, f"not a string: {value!r}")
    try:
        check_document_id(values["key"])
        announcement = Announcement(
            gate=values["gate"],
            key=values["key"],
            generation=generation,
            event=values["event"],
            at=parse_utc(values["at"]),
            reason=body.get("reason") or None,
            trigger_id=body.get("trigger_id") or None,
            failure_kind=body.get("failure_kind") or None,
            missing=tuple(missing),
            correlation_id=body.get("correlation_id") or None,
        )
    except InvalidMessage:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidMessage("body", str(exc)) from None
    claimed = body.get("announcement_id")
    if claimed is not None and claimed != announcement.id:
        raise InvalidMessage("announcement_id", f"{claimed!r} is not {announcement.id!r}")
    return announcement
