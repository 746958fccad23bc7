"""The pipeline run under the kit's interleaving explorer (phaseactors.testing.explore): the
gates' announcements, duplicated and in any order, delivered concurrently with publish
faults, crashes, sweeps and handoffs passing; what must hold after every step and at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from phaseactors.gate.lifecycle import Announcement
from phaseactors.pipeline import PipelineActor, PipelineRuntime, PipelineSpec
from phaseactors.pipeline import conditions as run_conditions
from phaseactors.testing.explore import Arrival, ManualClock, Subject
from phaseactors.testing.interleave import (
    InstrumentedMemoryStore,
    InstrumentedPublisher,
    Scheduler,
)
from pipeline_support import HANDOFF, announcement, small_pipeline

KEY = "2025-11-29"
MINUTE = timedelta(minutes=1)
DUPLICATING = frozenset({"fail", "crash", "crash-after", "lease-expires"})

Factory = Callable[[Scheduler, ManualClock], PipelineRuntime]


def correct_runtime(scheduler: Scheduler, clock: ManualClock) -> PipelineRuntime:
    return PipelineRuntime(
        PipelineActor(small_pipeline()),
        InstrumentedMemoryStore(scheduler),
        InstrumentedPublisher(scheduler),
        clock=clock,
    )


def pool(start: datetime) -> list[Announcement]:
    """What the gates may announce about KEY, at fixed times, so that a copy is the same
    message (and id); the last is the first gate's rearm: a new generation of the run."""
    at = {
        ("g1", "started"): 0,
        ("g1", "triggered"): 5,
        ("g2", "started"): 30,
        ("g2", "failed"): 35,
        ("g2", "triggered"): 40,
        ("g3", "started"): 50,
        ("g3", "triggered"): 55,
    }
    made = [announcement(g, e, start + minutes * MINUTE) for (g, e), minutes in at.items()]
    made.append(announcement("g1", "started", start + 150 * MINUTE, generation=2))
    return made


class RunInvariants:
    """What must hold after every step, from the store and the published messages."""

    def __init__(self, runtime: PipelineRuntime, spec: PipelineSpec) -> None:
        self.runtime = runtime
        self.spec = spec
        self.decided: dict[str, datetime] = {}

    @property
    def published(self) -> list[Any]:
        publisher = self.runtime.publisher
        assert isinstance(publisher, InstrumentedPublisher)
        return publisher.messages

    def check(self) -> None:
        snapshot = self.runtime.load(KEY)
        if snapshot is None:
            assert self.published == []
            return
        data, state = snapshot.data, snapshot.state
        current = {a.id for a in data.alerts}
        for record in data.alerts:
            first = self.decided.setdefault(record.id, record.decided_at)
            assert first == record.decided_at, f"{record.id} decided a second time"
        gone = {
            i
            for i in self.decided
            if i.split("/")[2] == str(snapshot.generation) and i not in current
        }
        assert not gone, f"alerts forgotten within the generation: {gone}"
        for message in self.published:
            assert message.entry_id in self.decided, f"{message.entry_id} published, not decided"
        for record in data.alerts:
            if record.reason == run_conditions.STALLED and record.decided_at == snapshot.updated_at:
                target = data.phases.get(record.subject or "")
                assert target is None or not target.started or record.cleared_at, (
                    f"stalled alert for {record.subject}, which had reported"
                )
        at = snapshot.updated_at
        assert at is not None
        edges = run_conditions.handoffs(self.spec, data)
        if state == "stalled":
            assert any(e.overdue(at) for e in edges), "stalled, yet every next phase reported"
        if state == "done":
            assert run_conditions.finished(self.spec, data)
        elif state == "failed":
            assert any(p.failing for p in data.phases.values())
        elif state in ("running", "stalled"):
            assert not run_conditions.finished(self.spec, data), f"finished, yet {state}"
        into_done = [
            h
            for h in snapshot.history
            if h.target == "done" and h.generation == snapshot.generation
        ]
        assert len(into_done) <= 1, "done twice in one generation"

    def final(self, faults: frozenset[str]) -> None:
        self.check()
        for alert_id in self.decided:
            copies = [m for m in self.published if m.entry_id == alert_id]
            assert copies, f"{alert_id} was decided but never published"
            if not faults & DUPLICATING:
                assert len(copies) == 1, f"{alert_id} published {len(copies)} times, no fault"
        snapshot = self.runtime.load(KEY)
        if snapshot is not None:
            event(f"run: ended {snapshot.state} in generation {snapshot.generation}")
        if self.decided:
            event("run reached: an alert")


def subject_of(factory: Factory) -> Callable[[Scheduler, ManualClock, st.DataObject], Subject]:
    def build(scheduler: Scheduler, clock: ManualClock, data: st.DataObject) -> Subject:
        runtime = factory(scheduler, clock)
        invariants = RunInvariants(runtime, small_pipeline())
        news = data.draw(
            st.lists(st.sampled_from([*pool(clock.now), None]), min_size=2, max_size=6),
            label="news (None: a tick)",
        )
        if data.draw(st.booleans(), label="in the order they happened"):
            news.sort(key=lambda a: (0, 0) if a is None else (a.generation, a.at.timestamp()))
        waits = data.draw(
            st.lists(st.sampled_from((0.0, 2 * HANDOFF.total_seconds())), min_size=len(news)),
            label="time before each arrives",
        )
        deliveries = [
            Arrival(
                f"d{i}(tick)" if a is None else f"d{i}({a.gate}:{a.event.value}/{a.generation})",
                (lambda: runtime.tick(KEY)) if a is None else (lambda a=a: runtime.announce(a)),
                after,
            )
            for i, (a, after) in enumerate(zip(news, waits, strict=False))
        ]
        return Subject(
            runtime=runtime,
            deliveries=deliveries,
            check=invariants.check,
            final=invariants.final,
            jumps=(2 * HANDOFF.total_seconds(),),
        )

    return build
