"""The gate's own events and their JSON: a processor's completion and the operator commands.

The kernel's events (ticks, outbox confirmations) have their JSON in
:mod:`phaseactors.core.event_codec`; an inbox that queues gate events stores both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from attrs import field, frozen

from ..core.clock import format_utc, parse_utc
from ..core.events import Event, OperatorEvent
from ..core.validators import nonempty_str
from .completion import Completion

__all__ = [
    "CompletionReported",
    "FailKey",
    "ForceTrigger",
    "MigrateKey",
    "Rearm",
    "decode_gate_event",
    "encode_gate_event",
]


@frozen(kw_only=True)
class CompletionReported(Event):
    """A processor reported a completion (done or failed) for the key."""

    kind: ClassVar[str] = "completion"
    completion: Completion


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


@frozen(kw_only=True)
class MigrateKey(OperatorEvent):
    """Switch an undecided generation to the definition ``fingerprint`` and re-evaluate it
    there. The event carries that definition's document, so whichever handler steps it (a
    Firestore fold may be another process's) needs nothing else; a key already on it is left
    unchanged, so migrating twice does nothing."""

    kind: ClassVar[str] = "migrate"
    fingerprint: str = field(validator=nonempty_str)
    definition: Mapping[str, Any] = field(hash=False)


_OPERATOR: dict[str, type[OperatorEvent]] = {
    cls.kind: cls for cls in (ForceTrigger, Rearm, FailKey)
}


def _completion_to_json(completion: Completion) -> dict[str, Any]:
    return {
        "processor": completion.processor,
        "key": completion.key,
        "status": completion.status.value,
        "execution_id": completion.execution_id,
        "correlation_id": completion.correlation_id,
        "message_id": completion.message_id,
        "output_table": completion.output_table,
        "record_count": completion.record_count,
        "reported_at": format_utc(completion.reported_at),
        "error_message": completion.error_message,
        "metadata": dict(completion.metadata),
        "traceparent": completion.traceparent,
    }


def _completion_from_json(doc: Mapping[str, Any]) -> Completion:
    reported_at = doc.get("reported_at")
    return Completion(
        processor=doc["processor"],
        key=doc["key"],
        status=doc["status"],
        execution_id=doc["execution_id"],
        correlation_id=doc["correlation_id"],
        message_id=doc.get("message_id"),
        output_table=doc.get("output_table"),
        record_count=doc.get("record_count"),
        reported_at=parse_utc(reported_at) if reported_at else None,
        error_message=doc.get("error_message"),
        metadata=doc.get("metadata") or {},
        traceparent=doc.get("traceparent"),
    )


def encode_gate_event(event: Event) -> dict[str, Any]:
    """The fields of a gate event beyond ``kind``, ``at`` and ``claim``."""
    if isinstance(event, CompletionReported):
        return {"completion": _completion_to_json(event.completion)}
    if isinstance(event, MigrateKey):
        return {
            "reason": event.reason,
            "by": event.by,
            "fingerprint": event.fingerprint,
            "definition": dict(event.definition),
        }
    if isinstance(event, OperatorEvent) and event.kind in _OPERATOR:
        return {"reason": event.reason, "by": event.by}
    raise TypeError(f"{type(event).__name__} is not an event of the gate")


def decode_gate_event(kind: str, doc: Mapping[str, Any], common: dict[str, Any]) -> Event:
    """Inverse of :func:`encode_gate_event`; ``common`` holds the decoded ``at`` and claim."""
    if kind == CompletionReported.kind:
        return CompletionReported(completion=_completion_from_json(doc["completion"]), **common)
    if kind == MigrateKey.kind:
        return MigrateKey(
            reason=doc["reason"],
            by=doc["by"],
            fingerprint=doc["fingerprint"],
            definition=doc["definition"],
            **common,
        )
    if kind in _OPERATOR:
        return _OPERATOR[kind](reason=doc["reason"], by=doc["by"], **common)
    raise ValueError(f"unknown event kind {kind!r}")
