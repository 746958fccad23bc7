"""Deliberately broken pipeline runs, for the explorer to catch (test_pipeline_interleavings).

- :class:`AlertsOutsideTheStep`: the hand-rolled monitor. The step only keeps the state; after
  each delivery the runtime reads the run, publishes an alert for every condition it has not
  recorded yet, then records it in a second write. Two deliveries that read before either
  recorded both publish.
- :class:`StallStaysAfterReport`: once stalled, an announcement does not lift the stall (only
  done does), so the run stays stalled after the next phase reported.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from attrs import frozen

from phaseactors.alerts import Alert, Severity, alert_entry
from phaseactors.core.actor import Outcome, Stepped
from phaseactors.core.events import Event
from phaseactors.core.runtime import Delivery
from phaseactors.core.snapshot import Snapshot
from phaseactors.pipeline import PipelineActor, PipelineData, PipelineRuntime
from phaseactors.pipeline import conditions as run_conditions
from phaseactors.pipeline.data import AlertRecord
from phaseactors.pipeline.model import PipelineModel


@frozen(kw_only=True)
class AlertRecorded(Event):
    """The monitor's second write: it has sent this alert."""

    kind: ClassVar[str] = "alert-recorded"
    record: AlertRecord


class _SilentModel(PipelineModel):
    """Keeps the state; decides no alert."""

    def decide(self, at: Any, target: Any) -> None:
        return None


class _SilentActor(PipelineActor):
    def new_model(self) -> PipelineModel:
        return _SilentModel(self.spec)

    def handle(self, snapshot: Snapshot[PipelineData], event: Event) -> Stepped[PipelineData]:
        if isinstance(event, AlertRecorded):
            if snapshot.data.alert(event.record.id) is not None:
                return Stepped(snapshot, Outcome.DUPLICATE)
            data = attrs.evolve(snapshot.data, alerts=(*snapshot.data.alerts, event.record))
            return Stepped(snapshot.evolve(data=data), Outcome.APPLIED)
        return super().handle(snapshot, event)


class AlertsOutsideTheStep(PipelineRuntime):
    """Decides alerts after the commit, from what it reads: check, publish, then record."""

    def __init__(self, actor: PipelineActor, *args: Any, **kwargs: Any) -> None:
        super().__init__(_SilentActor(actor.spec), *args, **kwargs)

    def send(self, key: str, event: Event) -> Delivery[PipelineData]:
        delivery = super().send(key, event)
        if isinstance(event, AlertRecorded):
            return delivery
        snapshot = self.load(key)
        if snapshot is None or snapshot.state == "done":
            return delivery
        for condition in run_conditions.active(self.spec, key, snapshot.data, event.at):
            alert = Alert(
                source=self.spec.name,
                source_type="pipeline",
                key=key,
                generation=snapshot.generation,
                reason=condition.reason,
                subject=condition.subject,
                severity=Severity.ERROR,
                summary=condition.summary,
                decided_at=event.at,
            )
            if snapshot.data.alert(alert.id) is not None:
                continue
            self.publisher.publish(alert_entry(alert, self.spec.alerts_topic))
            record = AlertRecord(
                id=alert.id,
                reason=alert.reason,
                subject=alert.subject,
                severity="error",
                summary=alert.summary,
                decided_at=event.at,
            )
            self.store.apply(self.actor, key, AlertRecorded(at=event.at, record=record))
        return delivery


class _StickyModel(PipelineModel):
    def stalling(self, at: Any) -> bool:
        return self.state == "stalled" or super().stalling(at)


class StallStaysAfterReport(PipelineRuntime):
    """A stall that only done lifts."""

    def __init__(self, actor: PipelineActor, *args: Any, **kwargs: Any) -> None:
        sticky = type("StickyActor", (PipelineActor,), {"new_model": _sticky})(actor.spec)
        super().__init__(sticky, *args, **kwargs)


def _sticky(self: PipelineActor) -> PipelineModel:
    return _StickyModel(self.spec)
