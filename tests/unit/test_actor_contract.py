"""The actor contract of the testing kit on the gate and on the pipeline run, on every store
(the docs' example machine passes it too: test_writing_an_actor.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from actor_stores import OnFirestore, OnMemory, OnSqlite
from phaseactors import Completion, GateActor, spec_from_mapping
from phaseactors.core.actor import Actor
from phaseactors.core.events import Event, Tick
from phaseactors.gate.events import CompletionReported
from phaseactors.pipeline import GateAnnounced, PipelineActor
from phaseactors.testing import ActorContract
from pipeline_support import HANDOFF, announcement, small_pipeline
from support import SMALL_GATE, T0

MINUTE = timedelta(minutes=1)


class GateSubject:
    """The small gate, announcing: a completion each, the third decides the trigger."""

    key = "2025-11-29"

    def create_actor(self) -> Actor[Any]:
        topics = {"output": "out", "lifecycle": "lifecycle", "alerts": "alerts"}
        deadlines = [{"name": "1h", "after_first": "1h", "required": 0.6}]
        return GateActor(
            spec_from_mapping({**SMALL_GATE, "topics": topics, "deadlines": deadlines})
        )

    def events(self, key: str) -> list[Event]:
        return [
            CompletionReported(
                at=T0 + n * MINUTE,
                completion=Completion(
                    processor=name, key=key, status="success", execution_id=f"{name}-1"
                ),
            )
            for n, name in enumerate(("alpha", "beta", "gamma"))
        ]


class PipelineSubject:
    """The small pipeline: Phase 1 triggers, its handoff passes (an alert), Phase 2 starts
    (a recovered notice)."""

    key = "2025-11-29"

    def create_actor(self) -> Actor[Any]:
        return PipelineActor(small_pipeline())

    def events(self, key: str) -> list[Event]:
        late = T0 + HANDOFF + 10 * MINUTE
        return [
            GateAnnounced(at=T0, announcement=announcement("g1", "started", T0, key=key)),
            GateAnnounced(
                at=T0 + MINUTE, announcement=announcement("g1", "triggered", T0 + MINUTE, key=key)
            ),
            Tick(at=late),
            GateAnnounced(
                at=late + MINUTE, announcement=announcement("g2", "started", late, key=key)
            ),
        ]


class TestGateOnMemory(GateSubject, OnMemory, ActorContract):
    pass


class TestGateOnSqlite(GateSubject, OnSqlite, ActorContract):
    pass


class TestGateOnFirestore(GateSubject, OnFirestore, ActorContract):
    pass


class TestPipelineRunOnMemory(PipelineSubject, OnMemory, ActorContract):
    pass


class TestPipelineRunOnSqlite(PipelineSubject, OnSqlite, ActorContract):
    pass


class TestPipelineRunOnFirestore(PipelineSubject, OnFirestore, ActorContract):
    pass
