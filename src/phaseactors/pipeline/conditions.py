"""What is wrong with a run at a given time, as data: each condition is an alert waiting to be
decided (once per generation), and an alerted condition that stops holding is recovered.

- ``stalled`` (subject: the gate waited for): the previous gate triggered more than the
  handoff ago and this gate has not started.
- ``failed`` (subject: the gate): a gate announced it failed and has not triggered since.
- ``overall_deadline_missed``: the last gate has not triggered by the overall deadline. Only
  a run that began before that deadline has one (a backfill, replayed days later, does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from attrs import field, frozen

from ..core.clock import format_utc
from .data import PipelineData
from .spec import PipelineSpec

__all__ = [
    "FAILED",
    "OVERALL_DEADLINE_MISSED",
    "RECOVERED",
    "SOURCE_TYPE",
    "STALLED",
    "Condition",
    "Handoff",
    "active",
    "finished",
    "handoffs",
    "next_due",
    "overall_due",
    "span",
]

#: ``source_type`` of the pipeline run's alerts.
SOURCE_TYPE = "pipeline"
STALLED = "stalled"
FAILED = "failed"
OVERALL_DEADLINE_MISSED = "overall_deadline_missed"
RECOVERED = "recovered"


def span(delta: timedelta) -> str:
    """``1h 05m``, ``12m``, ``40s``: a duration for people."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


@frozen(kw_only=True)
class Handoff:
    """The edge into ``target``: due ``within`` after ``source`` triggered; met when
    ``target`` started (None: not yet)."""

    source: str
    target: str
    within: timedelta
    due_at: datetime | None
    met_at: datetime | None

    def overdue(self, at: datetime) -> bool:
        return self.due_at is not None and self.met_at is None and at >= self.due_at


@frozen(kw_only=True)
class Condition:
    """One thing wrong with the run now: an alert's reason and subject, and its words."""

    reason: str
    subject: str | None
    summary: str
    details: Mapping[str, Any] = field(factory=dict, hash=False)


def handoffs(spec: PipelineSpec, data: PipelineData) -> list[Handoff]:
    edges = []
    for previous, phase in zip(spec.phases, spec.phases[1:], strict=False):
        if phase.handoff is None:
            continue
        before = data.phases.get(previous.gate)
        after = data.phases.get(phase.gate)
        triggered = before.triggered_at if before is not None else None
        met = None
        if after is not None and after.started:
            met = min(t for t in (after.started_at, after.triggered_at) if t is not None)
        edges.append(
            Handoff(
                source=previous.gate,
                target=phase.gate,
                within=phase.handoff,
                due_at=triggered + phase.handoff if triggered is not None else None,
                met_at=met,
            )
        )
    return edges


def finished(spec: PipelineSpec, data: PipelineData) -> bool:
    """The last gate triggered in this generation."""
    last = data.phases.get(spec.last_gate)
    return last is not None and last.triggered_at is not None


def overall_due(spec: PipelineSpec, key: str, data: PipelineData) -> datetime | None:
    """The overall deadline, if this generation has one: it began before that deadline."""
    due = spec.overall_due(key)
    if due is None or data.began_at is None or data.began_at >= due:
        return None
    return due


def active(spec: PipelineSpec, key: str, data: PipelineData, at: datetime) -> list[Condition]:
    """Every condition that holds at ``at``."""
    found = []
    for edge in handoffs(spec, data):
        if edge.overdue(at):
            assert edge.due_at is not None
            late = at - edge.due_at
            found.append(
                Condition(
                    reason=STALLED,
                    subject=edge.target,
                    summary=f"{edge.target} has not started {span(late)} after its handoff"
                    f" deadline ({span(edge.within)} after {edge.source} triggered)",
                    details={
                        "from": edge.source,
                        "to": edge.target,
                        "within_seconds": int(edge.within.total_seconds()),
                        "due_at": format_utc(edge.due_at),
                        "late_by_seconds": int(late.total_seconds()),
                    },
                )
            )
    for gate in spec.gates:
        phase = data.phases.get(gate)
        if phase is not None and phase.failing:
            found.append(
                Condition(
                    reason=FAILED,
                    subject=gate,
                    summary=f"{gate} failed: {phase.failed_reason or 'no reason given'}",
                    details={
                        "gate": gate,
                        "generation": phase.generation,
                        "failure_kind": phase.failure_kind,
                        "failed_reason": phase.failed_reason,
                        "failed_at": format_utc(phase.failed_at),
                    },
                )
            )
    due = overall_due(spec, key, data)
    if due is not None and at >= due and not finished(spec, data):
        waiting = next(
            (g for g in spec.gates if (p := data.phases.get(g)) is None or p.triggered_at is None),
            spec.last_gate,
        )
        found.append(
            Condition(
                reason=OVERALL_DEADLINE_MISSED,
                subject=None,
                summary=f"{spec.last_gate} has not triggered by the overall deadline"
                f" {format_utc(due)} ({span(at - due)} ago); waiting for {waiting}",
                details={
                    "due_at": format_utc(due),
                    "late_by_seconds": int((at - due).total_seconds()),
                    "waiting_for": waiting,
                },
            )
        )
    return found


def next_due(spec: PipelineSpec, key: str, data: PipelineData) -> datetime | None:
    """The earliest time a condition not alerted yet starts to hold by time alone."""
    alerted = {(a.reason, a.subject) for a in data.alerts}
    times = [
        edge.due_at
        for edge in handoffs(spec, data)
        if edge.due_at is not None and edge.met_at is None and (STALLED, edge.target) not in alerted
    ]
    due = overall_due(spec, key, data)
    if (
        due is not None
        and not finished(spec, data)
        and (OVERALL_DEADLINE_MISSED, None) not in alerted
    ):
        times.append(due)
    return min(times, default=None)
