"""What a gate remembers about a key: who reported, who failed, what came late, the trigger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen, validators

from ..clock import format_utc, parse_utc
from ..completion import Completion
from ..validators import utc_datetime

__all__ = [
    "FAILURE_KINDS",
    "CompletionRecord",
    "GateData",
    "Trigger",
    "decode_gate_data",
    "encode_gate_data",
]

#: Why a key is failed: a required processor failed, a deadline passed, or an operator said so.
FAILURE_KINDS = ("processor", "deadline", "operator")


@frozen(kw_only=True)
class CompletionRecord:
    """One applied report, under the canonical name it resolved to (or its raw name if unknown)."""

    processor: str
    reported_as: str
    status: str
    execution_id: str
    correlation_id: str
    received_at: datetime = field(validator=utc_datetime)
    reported_at: datetime | None = field(default=None, validator=utc_datetime)
    message_id: str | None = None
    record_count: int | None = None
    output_table: str | None = None
    error_message: str | None = None
    payload: Mapping[str, Any] = field(factory=dict, hash=False)

    @classmethod
    def of(
        cls, processor: str, completion: Completion, at: datetime, payload: Mapping[str, Any]
    ) -> CompletionRecord:
        return cls(
            processor=processor,
            reported_as=completion.processor,
            status=completion.status.value,
            execution_id=completion.execution_id,
            correlation_id=completion.correlation_id,
            received_at=at,
            reported_at=completion.reported_at,
            message_id=completion.message_id,
            record_count=completion.record_count,
            output_table=completion.output_table,
            error_message=completion.error_message,
            payload=dict(payload),
        )

    def summary(self) -> dict[str, Any]:
        return _record_to_json(self)


@frozen(kw_only=True)
class Trigger:
    """The one trigger decision of a generation, and whether it has been published yet."""

    trigger_id: str
    generation: int = field(validator=validators.ge(1))
    reason: str
    decided_at: datetime = field(validator=utc_datetime)
    correlation_id: str | None = None
    missing: tuple[str, ...] = ()
    published_at: datetime | None = field(default=None, validator=utc_datetime)
    message_id: str | None = None

    @property
    def published(self) -> bool:
        return self.message_id is not None


def _empty() -> dict[str, Any]:
    return {}


@frozen(kw_only=True)
class GateData:
    """Gate-specific snapshot data. Maps are keyed by canonical processor name."""

    done: Mapping[str, CompletionRecord] = field(factory=_empty, hash=False)
    failures: Mapping[str, CompletionRecord] = field(factory=_empty, hash=False)
    failure_counts: Mapping[str, int] = field(factory=_empty, hash=False)
    unknown: Mapping[str, CompletionRecord] = field(factory=_empty, hash=False)
    late: tuple[CompletionRecord, ...] = ()
    trigger: Trigger | None = None
    first_completion_at: datetime | None = field(default=None, validator=utc_datetime)
    failed_reason: str | None = None
    failure_kind: str | None = field(
        default=None, validator=validators.optional(validators.in_(FAILURE_KINDS))
    )
    profile: str = "default"
    deadlines_passed: tuple[str, ...] = ()


def _record_to_json(record: CompletionRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "processor": record.processor,
        "reported_as": record.reported_as,
        "status": record.status,
        "execution_id": record.execution_id,
        "correlation_id": record.correlation_id,
        "received_at": format_utc(record.received_at),
    }
    optional = {
        "reported_at": format_utc(record.reported_at),
        "message_id": record.message_id,
        "record_count": record.record_count,
        "output_table": record.output_table,
        "error_message": record.error_message,
        "payload": dict(record.payload) or None,
    }
    out.update((k, v) for k, v in optional.items() if v is not None)
    return out


def _record_from_json(doc: Mapping[str, Any]) -> CompletionRecord:
    reported_at = doc.get("reported_at")
    return CompletionRecord(
        processor=doc["processor"],
        reported_as=doc["reported_as"],
        status=doc["status"],
        execution_id=doc["execution_id"],
        correlation_id=doc["correlation_id"],
        received_at=parse_utc(doc["received_at"]),
        reported_at=parse_utc(reported_at) if reported_at else None,
        message_id=doc.get("message_id"),
        record_count=doc.get("record_count"),
        output_table=doc.get("output_table"),
        error_message=doc.get("error_message"),
        payload=doc.get("payload") or {},
    )


def _trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    return {
        "trigger_id": trigger.trigger_id,
        "generation": trigger.generation,
        "reason": trigger.reason,
        "decided_at": format_utc(trigger.decided_at),
        "correlation_id": trigger.correlation_id,
        "missing": list(trigger.missing),
        "published_at": format_utc(trigger.published_at),
        "message_id": trigger.message_id,
    }


def _trigger_from_json(doc: Mapping[str, Any]) -> Trigger:
    published_at = doc.get("published_at")
    return Trigger(
        trigger_id=doc["trigger_id"],
        generation=doc["generation"],
        reason=doc["reason"],
        decided_at=parse_utc(doc["decided_at"]),
        correlation_id=doc.get("correlation_id"),
        missing=tuple(doc.get("missing") or ()),
        published_at=parse_utc(published_at) if published_at else None,
        message_id=doc.get("message_id"),
    )


def encode_gate_data(data: GateData) -> dict[str, Any]:
    """JSON-ready form of :class:`GateData` (the persisted schema)."""
    return {
        "done": {k: _record_to_json(v) for k, v in data.done.items()},
        "failures": {k: _record_to_json(v) for k, v in data.failures.items()},
        "failure_counts": dict(data.failure_counts),
        "unknown": {k: _record_to_json(v) for k, v in data.unknown.items()},
        "late": [_record_to_json(r) for r in data.late],
        "trigger": _trigger_to_json(data.trigger) if data.trigger else None,
        "first_completion_at": format_utc(data.first_completion_at),
        "failed_reason": data.failed_reason,
        "failure_kind": data.failure_kind,
        "profile": data.profile,
        "deadlines_passed": list(data.deadlines_passed),
    }


def decode_gate_data(doc: Mapping[str, Any]) -> GateData:
    """Inverse of :func:`encode_gate_data`."""
    first = doc.get("first_completion_at")
    trigger = doc.get("trigger")
    return GateData(
        done={k: _record_from_json(v) for k, v in (doc.get("done") or {}).items()},
        failures={k: _record_from_json(v) for k, v in (doc.get("failures") or {}).items()},
        failure_counts=dict(doc.get("failure_counts") or {}),
        unknown={k: _record_from_json(v) for k, v in (doc.get("unknown") or {}).items()},
        late=tuple(_record_from_json(r) for r in doc.get("late") or ()),
        trigger=_trigger_from_json(trigger) if trigger else None,
        first_completion_at=parse_utc(first) if first else None,
        failed_reason=doc.get("failed_reason"),
        failure_kind=doc.get("failure_kind"),
        profile=doc.get("profile", "default"),
        deadlines_passed=tuple(doc.get("deadlines_passed") or ()),
    )
