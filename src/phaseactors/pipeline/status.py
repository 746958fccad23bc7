"""The status view of one pipeline run: every phase of a key in one place — its gate's state,
when it started and triggered (and why), what the phase in progress still misses, each
handoff deadline, the alerts — with a stable JSON shape (``pipeline status --json``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from attrs import frozen

from ..core.clock import format_utc
from ..core.codec import history_json, outbox_entry_json
from ..core.snapshot import HistoryEntry, OutboxEntry, Snapshot
from ..gate.operations import GateRuntime
from ..gate.status import GateStatus
from . import conditions
from .data import AlertRecord, LateAnnouncement, PhaseRecord, PipelineData
from .spec import PipelineSpec

__all__ = [
    "STATES",
    "HandoffView",
    "PhaseView",
    "PipelineStatus",
    "gate_statuses",
    "pipeline_status",
]

#: Every state of a pipeline run, in the order of its life.
STATES = ("waiting", "running", "stalled", "failed", "done")


@frozen(kw_only=True)
class HandoffView:
    """The deadline into a phase: due ``within`` after the previous gate triggered."""

    within: timedelta
    due_at: datetime | None
    met_at: datetime | None
    overdue: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "within_seconds": int(self.within.total_seconds()),
            "due_at": format_utc(self.due_at),
            "met_at": format_utc(self.met_at),
            "overdue": self.overdue,
        }


@frozen(kw_only=True)
class PhaseView:
    """One gate of the run, as the run recorded it and as the gate's key stands now."""

    gate: str
    progress: str
    """``not started``, ``started``, ``triggered`` or ``failed``."""
    record: PhaseRecord | None
    handoff: HandoffView | None
    gate_state: str | None
    """The gate key's own state (None: not looked up, or no such key)."""
    missing: tuple[str, ...]
    """Required processors the gate still waits for (phases not triggered yet)."""

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "gate": self.gate,
            "progress": self.progress,
            "gate_state": self.gate_state,
            "generation": r.generation if r else None,
            "started_at": format_utc(r.started_at) if r else None,
            "triggered_at": format_utc(r.triggered_at) if r else None,
            "trigger_id": r.trigger_id if r else None,
            "trigger_reason": r.trigger_reason if r else None,
            "failed_at": format_utc(r.failed_at) if r else None,
            "failed_reason": r.failed_reason if r else None,
            "missing": list(self.missing),
            "handoff": self.handoff.to_json() if self.handoff else None,
        }


def _progress(record: PhaseRecord | None) -> str:
    if record is None or not (record.started or record.failed_at):
        return "not started"
    if record.triggered_at is not None:
        return "triggered"
    return "failed" if record.failing else "started"


@frozen(kw_only=True)
class PipelineStatus:
    """Where one run stands, and why."""

    pipeline: str
    key: str
    generation: int
    state: str
    version: int
    updated_at: datetime | None
    began_at: datetime | None
    done_at: datetime | None
    overall_due: datetime | None
    due_at: datetime | None
    phases: tuple[PhaseView, ...]
    alerts: tuple[AlertRecord, ...]
    late: tuple[LateAnnouncement, ...]
    late_dropped: int
    pending_outbox: tuple[OutboxEntry, ...]
    history: tuple[HistoryEntry, ...]

    @property
    def open_alerts(self) -> tuple[AlertRecord, ...]:
        return tuple(
            a for a in self.alerts if a.reason != conditions.RECOVERED and a.cleared_at is None
        )

    @property
    def in_progress(self) -> str | None:
        """The first phase whose gate has not triggered, or None when every one has."""
        return next((p.gate for p in self.phases if p.progress != "triggered"), None)

    def row_json(self) -> dict[str, Any]:
        """The run as one row of ``phaseactors pipeline list --json``."""
        return {
            "key": self.key,
            "state": self.state,
            "generation": self.generation,
            "updated_at": format_utc(self.updated_at),
            "in_progress": self.in_progress,
            "open_alerts": [a.id for a in self.open_alerts],
            "due_at": format_utc(self.due_at),
        }

    def to_json(self) -> dict[str, Any]:
        """The stable ``phaseactors pipeline status --json`` shape."""
        return {
            "pipeline": self.pipeline,
            "key": self.key,
            "generation": self.generation,
            "state": self.state,
            "version": self.version,
            "updated_at": format_utc(self.updated_at),
            "began_at": format_utc(self.began_at),
            "done_at": format_utc(self.done_at),
            "overall_deadline": format_utc(self.overall_due),
            "due_at": format_utc(self.due_at),
            "phases": [p.to_json() for p in self.phases],
            "alerts": [
                {
                    "id": a.id,
                    "reason": a.reason,
                    "subject": a.subject,
                    "severity": a.severity,
                    "summary": a.summary,
                    "decided_at": format_utc(a.decided_at),
                    "cleared_at": format_utc(a.cleared_at),
                }
                for a in self.alerts
            ],
            "late": [
                {**late.announcement.to_json(), "received_at": format_utc(late.received_at)}
                for late in self.late
            ],
            "late_dropped": self.late_dropped,
            "pending_outbox": [outbox_entry_json(e) for e in self.pending_outbox],
            "history": [history_json(h) for h in self.history],
        }


def gate_statuses(gates: Mapping[str, GateRuntime], key: str) -> dict[str, GateStatus | None]:
    """Each gate's ``key`` as it stands now, read through the gate's runtime (so pinned to the
    definition the key decides by); None where the gate never saw the key."""
    statuses: dict[str, GateStatus | None] = {}
    for name, runtime in gates.items():
        snapshot = runtime.load(key)
        statuses[name] = runtime.status(snapshot) if snapshot is not None else None
    return statuses


def pipeline_status(
    spec: PipelineSpec,
    snapshot: Snapshot[PipelineData],
    *,
    gates: Mapping[str, GateStatus | None] | None = None,
    at: datetime | None = None,
) -> PipelineStatus:
    """The status of ``snapshot``; ``gates`` (the gates' keys, when looked up) adds each gate's
    state and what the phases not triggered yet miss; ``at`` (default: the snapshot's last
    change) is when handoffs count as overdue."""
    data = snapshot.data
    now = at or snapshot.updated_at
    edges = {edge.target: edge for edge in conditions.handoffs(spec, data)}
    phases = []
    for phase in spec.phases:
        record = data.phases.get(phase.gate)
        gate = (gates or {}).get(phase.gate)
        current = gate is not None and (record is None or gate.generation >= record.generation)
        underway = record is None or record.triggered_at is None
        missing = gate.missing if gate is not None and current and underway else ()
        edge = edges.get(phase.gate)
        phases.append(
            PhaseView(
                gate=phase.gate,
                progress=_progress(record),
                record=record,
                handoff=(
                    HandoffView(
                        within=edge.within,
                        due_at=edge.due_at,
                        met_at=edge.met_at,
                        overdue=now is not None and edge.overdue(now),
                    )
                    if edge is not None
                    else None
                ),
                gate_state=gate.state if gate is not None else None,
                missing=missing,
            )
        )
    return PipelineStatus(
        pipeline=spec.name,
        key=snapshot.key,
        generation=snapshot.generation,
        state=snapshot.state,
        version=snapshot.version,
        updated_at=snapshot.updated_at,
        began_at=data.began_at,
        done_at=data.done_at,
        overall_due=conditions.overall_due(spec, snapshot.key, data),
        due_at=(
            None
            if snapshot.state in ("waiting", "done")
            else conditions.next_due(spec, snapshot.key, data)
        ),
        phases=tuple(phases),
        alerts=data.alerts,
        late=data.late,
        late_dropped=data.late_dropped,
        pending_outbox=snapshot.outbox,
        history=snapshot.history,
    )
