"""What a pipeline run remembers about a key: per gate, when it started, triggered or failed
(in the generation it was last seen in); the alerts it decided; what arrived after it was done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import field, frozen, validators

from ..core.clock import format_utc, parse_utc
from ..core.validators import utc_datetime
from ..gate.lifecycle import Announcement, LifecycleEvent, announcement_from_message

__all__ = [
    "AlertRecord",
    "LateAnnouncement",
    "PhaseRecord",
    "PipelineData",
    "decode_pipeline_data",
    "encode_pipeline_data",
]


def _earliest(*times: datetime | None) -> datetime | None:
    return min((t for t in times if t is not None), default=None)


@frozen(kw_only=True)
class PhaseRecord:
    """One gate's life in the run: the newest generation announced, and what it announced."""

    gate: str
    generation: int = field(validator=validators.ge(1))
    started_at: datetime | None = field(default=None, validator=utc_datetime)
    triggered_at: datetime | None = field(default=None, validator=utc_datetime)
    trigger_id: str | None = None
    trigger_reason: str | None = None
    missing: tuple[str, ...] = ()
    """What the trigger went without (a deadline or a force)."""
    failed_at: datetime | None = field(default=None, validator=utc_datetime)
    failed_reason: str | None = None
    failure_kind: str | None = None

    @property
    def started(self) -> bool:
        """A processor of the phase reported (a trigger implies it: a force needs none)."""
        return self.started_at is not None or self.triggered_at is not None

    @property
    def failing(self) -> bool:
        """Failed, and not triggered since (a failed gate that recovers and triggers is fine)."""
        return self.failed_at is not None and self.triggered_at is None

    @classmethod
    def of(cls, announcement: Announcement) -> PhaseRecord:
        return cls(gate=announcement.gate, generation=announcement.generation).merged(announcement)

    def merged(self, announcement: Announcement) -> PhaseRecord:
        """This record with one more announcement of the same generation, whatever order
        announcements arrive in."""
        a = announcement
        if a.event is LifecycleEvent.STARTED:
            return attrs.evolve(self, started_at=_earliest(self.started_at, a.at))
        if a.event is LifecycleEvent.TRIGGERED:
            return attrs.evolve(
                self,
                triggered_at=a.at,
                trigger_id=a.trigger_id,
                trigger_reason=a.reason,
                missing=a.missing,
            )
        return attrs.evolve(
            self, failed_at=a.at, failed_reason=a.reason, failure_kind=a.failure_kind
        )


@frozen(kw_only=True)
class AlertRecord:
    """An alert (or a recovered notice) the run decided; ``cleared_at`` is when the condition
    of an alert stopped holding (and its recovered notice was decided)."""

    id: str
    reason: str
    subject: str | None
    severity: str
    summary: str
    decided_at: datetime = field(validator=utc_datetime)
    cleared_at: datetime | None = field(default=None, validator=utc_datetime)


@frozen(kw_only=True)
class LateAnnouncement:
    """An announcement that arrived once the run was done: recorded, never alerted on."""

    announcement: Announcement
    received_at: datetime = field(validator=utc_datetime)


def _empty() -> dict[str, Any]:
    return {}


@frozen(kw_only=True)
class PipelineData:
    """Pipeline-run snapshot data for one generation of the run."""

    phases: Mapping[str, PhaseRecord] = field(factory=_empty, hash=False)
    alerts: tuple[AlertRecord, ...] = ()
    began_at: datetime | None = field(default=None, validator=utc_datetime)
    """When the generation's first announcement happened (arms the overall deadline)."""
    since: datetime | None = field(default=None, validator=utc_datetime)
    """From a second generation on: announcements of later gates count only if they happened
    at or after this (when the first gate's new generation began)."""
    done_at: datetime | None = field(default=None, validator=utc_datetime)
    late: tuple[LateAnnouncement, ...] = ()
    late_dropped: int = 0

    def alert(self, alert_id: str) -> AlertRecord | None:
        return next((a for a in self.alerts if a.id == alert_id), None)


def _phase_to_json(record: PhaseRecord) -> dict[str, Any]:
    return {
        "generation": record.generation,
        "started_at": format_utc(record.started_at),
        "triggered_at": format_utc(record.triggered_at),
        "trigger_id": record.trigger_id,
        "trigger_reason": record.trigger_reason,
        "missing": list(record.missing),
        "failed_at": format_utc(record.failed_at),
        "failed_reason": record.failed_reason,
        "failure_kind": record.failure_kind,
    }


def _time(value: Any) -> datetime | None:
    return parse_utc(value) if value else None


def _phase_from_json(gate: str, doc: Mapping[str, Any]) -> PhaseRecord:
    return PhaseRecord(
        gate=gate,
        generation=doc["generation"],
        started_at=_time(doc.get("started_at")),
        triggered_at=_time(doc.get("triggered_at")),
        trigger_id=doc.get("trigger_id"),
        trigger_reason=doc.get("trigger_reason"),
        missing=tuple(doc.get("missing") or ()),
        failed_at=_time(doc.get("failed_at")),
        failed_reason=doc.get("failed_reason"),
        failure_kind=doc.get("failure_kind"),
    )


def _alert_to_json(record: AlertRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "reason": record.reason,
        "subject": record.subject,
        "severity": record.severity,
        "summary": record.summary,
        "decided_at": format_utc(record.decided_at),
        "cleared_at": format_utc(record.cleared_at),
    }


def _alert_from_json(doc: Mapping[str, Any]) -> AlertRecord:
    decided_at = parse_utc(doc["decided_at"])
    return AlertRecord(
        id=doc["id"],
        reason=doc["reason"],
        subject=doc.get("subject"),
        severity=doc["severity"],
        summary=doc["summary"],
        decided_at=decided_at,
        cleared_at=_time(doc.get("cleared_at")),
    )


def encode_pipeline_data(data: PipelineData) -> dict[str, Any]:
    """JSON-ready form of :class:`PipelineData` (the persisted schema)."""
    return {
        "phases": {gate: _phase_to_json(r) for gate, r in data.phases.items()},
        "alerts": [_alert_to_json(a) for a in data.alerts],
        "began_at": format_utc(data.began_at),
        "since": format_utc(data.since),
        "done_at": format_utc(data.done_at),
        "late": [
            {
                "announcement": late.announcement.to_json(),
                "received_at": format_utc(late.received_at),
            }
            for late in data.late
        ],
        "late_dropped": data.late_dropped,
    }


def decode_pipeline_data(doc: Mapping[str, Any]) -> PipelineData:
    """Inverse of :func:`encode_pipeline_data`."""
    late = tuple(
        LateAnnouncement(
            announcement=announcement_from_message(item["announcement"]),
            received_at=parse_utc(item["received_at"]),
        )
        for item in doc.get("late") or ()
    )
    return PipelineData(
        phases={gate: _phase_from_json(gate, r) for gate, r in (doc.get("phases") or {}).items()},
        alerts=tuple(_alert_from_json(a) for a in doc.get("alerts") or ()),
        began_at=_time(doc.get("began_at")),
        since=_time(doc.get("since")),
        done_at=_time(doc.get("done_at")),
        late=late,
        late_dropped=doc.get("late_dropped", 0),
    )
