"""JSON form of events, for stores that queue events before applying them (an inbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .clock import format_utc, parse_utc
from .completion import Completion
from .events import (
    Claim,
    CompletionReported,
    Event,
    FailKey,
    ForceTrigger,
    OperatorEvent,
    OutboxPublished,
    OutboxReleased,
    Rearm,
    Tick,
)

__all__ = ["decode_event", "encode_event"]

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
    )


def encode_event(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with ``kind``, ``at``, ``claim`` and the event's own fields."""
    out: dict[str, Any] = {
        "kind": event.kind,
        "at": format_utc(event.at),
        "claim": (
            {"owner": event.claim.owner, "until": format_utc(event.claim.until)}
            if event.claim
            else None
        ),
    }
    if isinstance(event, CompletionReported):
        out["completion"] = _completion_to_json(event.completion)
    elif isinstance(event, OutboxPublished):
        out.update(entry_id=event.entry_id, message_id=event.message_id, owner=event.owner)
    elif isinstance(event, OutboxReleased):
        out.update(entry_id=event.entry_id, owner=event.owner, error=event.error)
    elif isinstance(event, OperatorEvent):
        out.update(reason=event.reason, by=event.by)
    elif not isinstance(event, Tick):
        raise TypeError(f"cannot encode {type(event).__name__}")
    return out


def decode_event(doc: Mapping[str, Any]) -> Event:
    """Inverse of :func:`encode_event`."""
    claim_doc = doc.get("claim")
    common: dict[str, Any] = {
        "at": parse_utc(doc["at"]),
        "claim": (
            Claim(owner=claim_doc["owner"], until=parse_utc(claim_doc["until"]))
            if claim_doc
            else None
        ),
    }
    kind = doc["kind"]
    if kind == CompletionReported.kind:
        return CompletionReported(completion=_completion_from_json(doc["completion"]), **common)
    if kind == OutboxPublished.kind:
        return OutboxPublished(
            entry_id=doc["entry_id"], message_id=doc["message_id"], owner=doc["owner"], **common
        )
    if kind == OutboxReleased.kind:
        return OutboxReleased(
            entry_id=doc["entry_id"], owner=doc["owner"], error=doc.get("error", ""), **common
        )
    if kind == Tick.kind:
        return Tick(**common)
    if kind in _OPERATOR:
        return _OPERATOR[kind](reason=doc["reason"], by=doc["by"], **common)
    raise ValueError(f"unknown event kind {kind!r}")
