"""A small pipeline of three gates for the pipeline run's tests (importable as
``pipeline_support``): announcements built directly, a runtime over the memory store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from phaseactors import RecordingPublisher
from phaseactors.gate.lifecycle import Announcement, LifecycleEvent
from phaseactors.pipeline import (
    PipelineActor,
    PipelineRuntime,
    PipelineSpec,
    pipeline_from_mapping,
)
from phaseactors.stores import MemoryStore
from support import KEY, T0, ManualClock

GATES = ("g1", "g2", "g3")
HANDOFF = timedelta(hours=1)
SMALL_PIPELINE: dict[str, Any] = {
    "kind": "pipeline",
    "name": "daily",
    "key": {"field": "game_date", "format": "date", "timezone": "America/New_York"},
    "topics": {"lifecycle": "small-lifecycle", "alerts": "small-alerts"},
    "phases": [
        {"gate": "g1"},
        {"gate": "g2", "handoff": "1h"},
        {"gate": "g3", "handoff": "1h"},
    ],
    # 11:00 New York on the day after KEY: 16:00 UTC on 2025-11-30, 17 hours after T0
    "deadline": {"at": "11:00", "day_offset": 1},
}
OVERALL_DUE = datetime.fromisoformat("2025-11-30T16:00:00+00:00")


def small_pipeline() -> PipelineSpec:
    return pipeline_from_mapping(SMALL_PIPELINE, source="daily.toml")


def announcement(
    gate: str,
    event: str,
    at: datetime = T0,
    *,
    generation: int = 1,
    key: str = KEY,
    **fields: Any,
) -> Announcement:
    extra: dict[str, Any] = {}
    if event == "triggered":
        extra = {"trigger_id": f"{gate}/{key}/{generation}", "reason": "all_done"}
    elif event == "failed":
        extra = {"reason": "required processor x failed", "failure_kind": "processor"}
    return Announcement(
        gate=gate,
        key=key,
        generation=generation,
        event=LifecycleEvent(event),
        at=at,
        **{**extra, **fields},
    )


def pipeline_runtime(
    clock: ManualClock, publisher: RecordingPublisher | None = None
) -> tuple[PipelineRuntime, RecordingPublisher]:
    publisher = publisher or RecordingPublisher()
    actor = PipelineActor(small_pipeline())
    return PipelineRuntime(actor, MemoryStore(), publisher, clock=clock), publisher
