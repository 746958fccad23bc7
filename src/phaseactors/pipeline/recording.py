"""Recording gate announcements into a run's data, purely: which announcement counts in which
phase record, and what a new generation of the run keeps.

Announcements may arrive in any order and more than once (the step dedups by id first). A
gate's record follows the newest generation the gate announced; an older generation's
announcement is stale. Rearming the *first* gate starts a new generation of the run
(:func:`restarts`): from then on a later gate's announcement counts only if it happened at
or after the first gate's new generation began, so a rerun of the date is measured afresh
while a late copy of the previous run's news is not mistaken for progress.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ..gate.lifecycle import Announcement
from ..limits import MAX_LATE_RECORDS
from .data import LateAnnouncement, PhaseRecord, PipelineData
from .spec import PipelineSpec

__all__ = ["record", "restarted", "restarts", "with_late"]


def restarts(spec: PipelineSpec, data: PipelineData, announcement: Announcement) -> bool:
    """Whether ``announcement`` is the first gate's move to a newer generation."""
    current = data.phases.get(spec.first_gate)
    return (
        announcement.gate == spec.first_gate
        and current is not None
        and announcement.generation > current.generation
    )


def record(
    spec: PipelineSpec, data: PipelineData, announcement: Announcement
) -> PipelineData | None:
    """``data`` with ``announcement`` in its gate's record, or None when it is stale (an older
    generation of the gate, or news from before this generation of the run began)."""
    a = announcement
    if a.gate != spec.first_gate and data.since is not None and a.at < data.since:
        return None
    current = data.phases.get(a.gate)
    if current is None or a.generation > current.generation:
        updated = PhaseRecord.of(a)
    elif a.generation < current.generation:
        return None
    else:
        updated = current.merged(a)
    return attrs.evolve(
        data,
        phases={**data.phases, a.gate: updated},
        began_at=data.began_at if data.began_at is not None else a.at,
    )


def _since(record: PhaseRecord, since: datetime) -> PhaseRecord | None:
    """What of ``record`` happened at or after ``since`` (None: nothing)."""
    kept = record
    if kept.started_at is not None and kept.started_at < since:
        kept = attrs.evolve(kept, started_at=None)
    if kept.triggered_at is not None and kept.triggered_at < since:
        kept = attrs.evolve(
            kept, triggered_at=None, trigger_id=None, trigger_reason=None, missing=()
        )
    if kept.failed_at is not None and kept.failed_at < since:
        kept = attrs.evolve(kept, failed_at=None, failed_reason=None, failure_kind=None)
    if kept.started_at is None and kept.triggered_at is None and kept.failed_at is None:
        return None
    return kept


def restarted(spec: PipelineSpec, data: PipelineData, since: datetime) -> PipelineData:
    """The data a new generation of the run starts from, its first gate's new generation
    having begun at ``since``: later gates' news from then on (including announcements that
    arrived while the previous generation was done), no alerts, nothing late."""
    phases = {}
    for gate, current in data.phases.items():
        if gate != spec.first_gate and (kept := _since(current, since)) is not None:
            phases[gate] = kept
    fresh = PipelineData(phases=phases, began_at=since, since=since)
    for late in sorted(data.late, key=lambda item: item.announcement.at):
        if late.announcement.gate != spec.first_gate:
            fresh = record(spec, fresh, late.announcement) or fresh
    return fresh


def with_late(data: PipelineData, late: LateAnnouncement) -> PipelineData:
    """``data`` with one more late announcement, keeping the most recent ones."""
    kept = (*data.late, late)
    dropped = max(0, len(kept) - MAX_LATE_RECORDS)
    return attrs.evolve(data, late=kept[dropped:], late_dropped=data.late_dropped + dropped)
