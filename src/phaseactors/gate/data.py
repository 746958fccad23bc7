"""What a gate remembers about a key: who reported, who failed, what came late, the trigger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from attrs import field, frozen, validators

from ..core.clock import format_utc, parse_utc
from ..core.validators import utc_datetime
from ..limits import MAX_LATE_RECORDS, MAX_UNKNOWN_NAMES
from .completion import Completion

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
    traceparent: str | None = None

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
            traceparent=completion.traceparent,
        )

    def summary(self) -> dict[str, Any]:
        """Every field, defaults spelled out: the record as the status view shows it."""
        return {
            "processor": self.processor,
            "reported_as": self.reported_as,
            "correlation_id": self.correlation_id,
            **self.fields_document,
        }

    @cached_property
    def fields_document(self) -> Mapping[str, Any]:
        """The persisted fields other than the processor, worked out once: every commit of a
        key writes all its records again, and a record never changes. Do not mutate."""
        optional = {
            "reported_as": None if self.reported_as == self.processor else self.reported_as,
            "correlation_id": (
                None if self.correlation_id == self.execution_id else self.correlation_id
            ),
            "reported_at": format_utc(self.reported_at),
            "message_id": self.message_id,
            "record_count": self.record_count,
            "output_table": self.output_table,
            "error_message": self.error_message,
            "payload": dict(self.payload) or None,
            "traceparent": self.traceparent,
        }
        out: dict[str, Any] = {
            "status": self.status,
            "execution_id": self.execution_id,
            "received_at": format_utc(self.received_at),
        }
        out.update((k, v) for k, v in optional.items() if v is not None)
        return out


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
    """The latest report of each unknown name, for at most MAX_UNKNOWN_NAMES names."""
    unknown_counts: Mapping[str, int] = field(factory=_empty, hash=False)
    """Reports per name in ``unknown`` (a name missing here was reported once)."""
    unknown_other: int = 0
    """Reports of unknown names beyond those kept."""
    late: tuple[CompletionRecord, ...] = ()
    """The most recent late reports, at most MAX_LATE_RECORDS."""
    late_dropped: int = 0
    """Late reports no longer kept."""
    trigger: Trigger | None = None
    first_completion_at: datetime | None = field(default=None, validator=utc_datetime)
    failed_reason: str | None = None
    failure_kind: str | None = field(
        default=None, validator=validators.optional(validators.in_(FAILURE_KINDS))
    )
    profile: str = "default"
    deadlines_passed: tuple[str, ...] = ()
    announced: tuple[str, ...] = ()
    """The lifecycle announcements and alerts this generation decided, by the part of their
    id after ``gate/key/generation/`` (``started``, ``alert/failed``): each is decided once."""
    definition: str | None = None
    """The fingerprint of the definition this generation decides under (recorded in the
    store's definitions); None for a key no event has changed since before definitions were
    versioned, which is pinned to the current definition at its next change."""


def _record_to_json(record: CompletionRecord, *, under: str | None = None) -> dict[str, Any]:
    """A record's document. Fields equal to their default are left out: the processor when
    the record sits under its name (``under``), ``reported_as`` when it is the processor,
    ``correlation_id`` when it is the execution id."""
    if record.processor == under:
        return dict(record.fields_document)
    return {"processor": record.processor, **record.fields_document}


def _record_from_json(doc: Mapping[str, Any], *, under: str | None = None) -> CompletionRecord:
    processor = doc.get("processor", under)
    if processor is None:
        raise ValueError("a completion record without its processor")
    reported_at = doc.get("reported_at")
    return CompletionRecord(
        processor=processor,
        reported_as=doc.get("reported_as", processor),
        status=doc["status"],
        execution_id=doc["execution_id"],
        correlation_id=doc.get("correlation_id", doc["execution_id"]),
        received_at=parse_utc(doc["received_at"]),
        reported_at=parse_utc(reported_at) if reported_at else None,
        message_id=doc.get("message_id"),
        record_count=doc.get("record_count"),
        output_table=doc.get("output_table"),
        error_message=doc.get("error_message"),
        payload=doc.get("payload") or {},
        traceparent=doc.get("traceparent"),
    )


def _records_to_json(records: Mapping[str, CompletionRecord]) -> dict[str, Any]:
    return {name: _record_to_json(record, under=name) for name, record in records.items()}


def _records_from_json(doc: Mapping[str, Any] | None) -> dict[str, CompletionRecord]:
    return {name: _record_from_json(record, under=name) for name, record in (doc or {}).items()}


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
        "done": _records_to_json(data.done),
        "failures": _records_to_json(data.failures),
        "failure_counts": dict(data.failure_counts),
        "unknown": _records_to_json(data.unknown),
        "late": [_record_to_json(r) for r in data.late],
        **_counters(data),
        "trigger": _trigger_to_json(data.trigger) if data.trigger else None,
        "first_completion_at": format_utc(data.first_completion_at),
        "failed_reason": data.failed_reason,
        "failure_kind": data.failure_kind,
        "profile": data.profile,
        "deadlines_passed": list(data.deadlines_passed),
        **({"announced": list(data.announced)} if data.announced else {}),
        **({"definition": data.definition} if data.definition else {}),
    }


def decode_gate_data(doc: Mapping[str, Any]) -> GateData:
    """Inverse of :func:`encode_gate_data`."""
    first = doc.get("first_completion_at")
    trigger = doc.get("trigger")
    return _bounded(
        done=_records_from_json(doc.get("done")),
        failures=_records_from_json(doc.get("failures")),
        failure_counts=dict(doc.get("failure_counts") or {}),
        unknown=_records_from_json(doc.get("unknown")),
        unknown_counts=dict(doc.get("unknown_counts") or {}),
        unknown_other=doc.get("unknown_other", 0),
        late=tuple(_record_from_json(r) for r in doc.get("late") or ()),
        late_dropped=doc.get("late_dropped", 0),
        trigger=_trigger_from_json(trigger) if trigger else None,
        first_completion_at=parse_utc(first) if first else None,
        failed_reason=doc.get("failed_reason"),
        failure_kind=doc.get("failure_kind"),
        profile=doc.get("profile", "default"),
        deadlines_passed=tuple(doc.get("deadlines_passed") or ()),
        announced=tuple(doc.get("announced") or ()),
        definition=doc.get("definition"),
    )


def _counters(data: GateData) -> dict[str, Any]:
    """The counters of what a key no longer keeps, written only once there is something."""
    out: dict[str, Any] = {}
    if data.unknown_counts:
        out["unknown_counts"] = dict(data.unknown_counts)
    if data.unknown_other:
        out["unknown_other"] = data.unknown_other
    if data.late_dropped:
        out["late_dropped"] = data.late_dropped
    return out


def _bounded(**fields: Any) -> GateData:
    """GateData within the per-key bounds: a key written by a release that kept every unknown
    and late report keeps the most recent ones and counts the rest."""
    unknown: dict[str, CompletionRecord] = fields["unknown"]
    if len(unknown) > MAX_UNKNOWN_NAMES:
        counts = fields["unknown_counts"]
        newest = sorted(unknown, key=lambda name: unknown[name].received_at, reverse=True)
        kept = set(newest[:MAX_UNKNOWN_NAMES])
        fields["unknown_other"] += sum(counts.get(n, 1) for n in unknown if n not in kept)
        fields["unknown"] = {n: r for n, r in unknown.items() if n in kept}
        fields["unknown_counts"] = {n: c for n, c in counts.items() if n in kept}
    late: tuple[CompletionRecord, ...] = fields["late"]
    if len(late) > MAX_LATE_RECORDS:
        fields["late_dropped"] += len(late) - MAX_LATE_RECORDS
        fields["late"] = late[-MAX_LATE_RECORDS:]
    return GateData(**fields)
