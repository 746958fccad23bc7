"""Guards and actions of :class:`~phaseactors.pipeline.machine.PipelineMachine`.

``decide`` runs on every evaluation: each condition that holds (:mod:`.conditions`) and was
not alerted in this generation becomes an alert in the outbox, and each alert whose condition
stopped holding gets one ``recovered`` notice. Nothing is decided once the run is done: news
that arrives then is only recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ..alerts.alert import Alert, Severity, alert_entry, alert_id
from ..core.machine_actor import ActorModel
from ..gate.lifecycle import Announcement
from . import conditions
from .conditions import RECOVERED, SOURCE_TYPE, Condition
from .data import AlertRecord, LateAnnouncement, PipelineData
from .recording import restarted, with_late
from .spec import PipelineSpec

__all__ = ["PipelineModel"]

_RECOVERED = {
    conditions.STALLED: "{subject} started: no longer stalled",
    conditions.FAILED: "{subject} recovered: no longer failed",
    conditions.OVERALL_DEADLINE_MISSED: "the last gate triggered, after the overall deadline",
}


class PipelineModel(ActorModel[PipelineData]):
    """The run's working copy: phase records, alerts decided, late news."""

    audited = frozenset({"tick", "restart"})

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec

    def load_data(self, data: PipelineData) -> None:
        self.data = data
        self.alerts: list[AlertRecord] = list(data.alerts)

    def freeze_data(self) -> PipelineData:
        return attrs.evolve(self.data, alerts=tuple(self.alerts))

    # -- guards ------------------------------------------------------------------------------

    def finished(self) -> bool:
        return conditions.finished(self.spec, self.data)

    def failing(self) -> bool:
        return any(phase.failing for phase in self.data.phases.values())

    def stalling(self, at: datetime) -> bool:
        return any(edge.overdue(at) for edge in conditions.handoffs(self.spec, self.data))

    # -- actions -----------------------------------------------------------------------------

    def decide(self, at: datetime, target: Any) -> None:
        holding = conditions.active(self.spec, self.snapshot.key, self.data, at)
        if target.id != "done":
            decided = {record.id for record in self.alerts}
            for condition in holding:
                if self._id(condition.reason, condition.subject) not in decided:
                    self._raise(condition, at, Severity.ERROR)
        still = {(c.reason, c.subject) for c in holding}
        for i, record in enumerate(list(self.alerts)):
            if record.reason == RECOVERED or record.cleared_at is not None:
                continue
            if (record.reason, record.subject) in still:
                continue
            self.alerts[i] = attrs.evolve(record, cleared_at=at)
            what = f"{record.reason}:{record.subject}" if record.subject else record.reason
            self._raise(
                Condition(
                    reason=RECOVERED,
                    subject=what,
                    summary=_RECOVERED.get(record.reason, "{reason} is over").format(
                        reason=record.reason, subject=record.subject
                    ),
                    details={"recovered": record.id, "alerted_at": record.decided_at.isoformat()},
                ),
                at,
                Severity.NOTICE,
            )

    def on_enter_done(self, at: datetime) -> None:
        self.data = attrs.evolve(self.data, done_at=at)

    def record_late(self, announcement: Announcement, at: datetime) -> None:
        self.data = with_late(
            self.data, LateAnnouncement(announcement=announcement, received_at=at)
        )

    def start_generation(self, announcement: Announcement) -> None:
        self.generation += 1
        self.data = restarted(self.spec, self.data, announcement.at)
        self.alerts = []

    def cause(self, event: str, kwargs: dict[str, Any]) -> str:
        announcement: Announcement | None = kwargs.get("announcement")
        if event == "restart" and announcement is not None:
            return f"{announcement.gate} began generation {announcement.generation}"
        if announcement is not None:
            return f"{announcement.gate} {announcement.event.value}"
        decided = [a.id for a in self.alerts if a.decided_at == kwargs.get("at")]
        return f"deadline check; alerts: {', '.join(decided)}" if decided else "deadline check"

    # -- alerts ------------------------------------------------------------------------------

    def _id(self, reason: str, subject: str | None) -> str:
        return alert_id(self.spec.name, self.snapshot.key, self.generation, reason, subject)

    def _raise(self, condition: Condition, at: datetime, severity: Severity) -> None:
        alert = Alert(
            source=self.spec.name,
            source_type=SOURCE_TYPE,
            key=self.snapshot.key,
            generation=self.generation,
            reason=condition.reason,
            subject=condition.subject,
            severity=severity,
            summary=f"{self.spec.name}/{self.snapshot.key}: {condition.summary}",
            decided_at=at,
            details=dict(condition.details),
        )
        self.alerts.append(
            AlertRecord(
                id=alert.id,
                reason=alert.reason,
                subject=alert.subject,
                severity=severity.value,
                summary=alert.summary,
                decided_at=at,
            )
        )
        self.outbox.append(alert_entry(alert, self.spec.alerts_topic))
