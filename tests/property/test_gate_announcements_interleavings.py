"""The gate's lifecycle announcements and alerts under the kit's explorer: completions (and
ticks) arriving over time, duplicated, under aliases, with faults; the trigger decided once
per generation; each announcement and alert decided in a step, once per generation, and
published, exactly once when nothing failed."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from phaseactors import GateActor, GateRuntime, spec_from_mapping
from phaseactors.testing.explore import Arrival, ManualClock, Subject, explore
from phaseactors.testing.interleave import (
    InstrumentedMemoryStore,
    InstrumentedPublisher,
    Scheduler,
)
from phaseactors.testing.strategies import batches
from support import KEY, scaled

GATE = spec_from_mapping(
    {
        "name": "announcing",
        "key": {"field": "game_date", "timezone": "America/New_York"},
        "topics": {"output": "out", "lifecycle": "lifecycle", "alerts": "alerts"},
        "processors": {"required": ["alpha", "beta", "gamma"]},
        "aliases": {"AlphaLoader": "alpha"},
        "deadlines": [
            {"name": "1h", "after_first": "1h", "required": 0.6},
            {"name": "final", "after_first": "3h", "otherwise": "fail"},
        ],
    }
)
DUPLICATING = frozenset({"fail", "crash", "crash-after", "lease-expires"})


class GateInvariants:
    def __init__(self, runtime: GateRuntime) -> None:
        self.runtime = runtime
        self.triggers: dict[int, str] = {}
        self.decided: dict[int, list[str]] = {}

    @property
    def published(self) -> list[Any]:
        publisher = self.runtime.publisher
        assert isinstance(publisher, InstrumentedPublisher)
        return publisher.messages

    def ids(self) -> set[str]:
        """Every message id the gate decided: triggers, announcements, alerts."""
        made = set(self.triggers.values())
        for generation, markers in self.decided.items():
            made |= {f"announcing/{KEY}/{generation}/{m}" for m in markers}
        return made

    def check(self) -> None:
        snapshot = self.runtime.load(KEY)
        if snapshot is None:
            assert self.published == []
            return
        trigger = snapshot.data.trigger
        if trigger is not None:
            first = self.triggers.setdefault(trigger.generation, trigger.trigger_id)
            assert first == trigger.trigger_id, "a second trigger decision"
        seen = self.decided.setdefault(snapshot.generation, [])
        announced = list(snapshot.data.announced)
        assert announced[: len(seen)] == seen, "an announcement was forgotten or reordered"
        assert len(set(announced)) == len(announced), "an announcement decided twice"
        self.decided[snapshot.generation] = announced
        for message in self.published:
            assert message.entry_id in self.ids(), f"{message.entry_id} published, not decided"
        if "started" in announced:
            assert snapshot.data.first_completion_at is not None or snapshot.generation > 1

    def final(self, faults: frozenset[str]) -> None:
        self.check()
        for message_id in self.ids():
            copies = [m for m in self.published if m.entry_id == message_id]
            assert copies, f"{message_id} was decided but never published"
            if not faults & DUPLICATING:
                assert len(copies) == 1, f"{message_id} published {len(copies)} times, no fault"
        if self.triggers:
            event("reached: trigger")
        if any("failed" in markers for markers in self.decided.values()):
            event("reached: failed")


def subject(scheduler: Scheduler, clock: ManualClock, data: st.DataObject) -> Subject:
    runtime = GateRuntime(
        GateActor(GATE),
        InstrumentedMemoryStore(scheduler),
        InstrumentedPublisher(scheduler),
        clock=clock,
    )
    invariants = GateInvariants(runtime)
    covering = data.draw(st.booleans(), label="every processor reports")
    batch = data.draw(
        batches(GATE, KEY, min_size=1, max_size=3 if covering else 5, covering=covering),
        label="completions",
    )
    waits = data.draw(
        st.lists(st.sampled_from((0.0, 3601.0)), min_size=len(batch) + 1), label="waits"
    )
    arrivals = [
        Arrival(f"d{i}({c.processor}/{c.execution_id})", lambda c=c: runtime.deliver(c), after)
        for i, (c, after) in enumerate(zip(batch, waits, strict=False))
    ]
    arrivals.append(Arrival("tick", lambda: runtime.tick(KEY), waits[len(batch)]))
    return Subject(
        runtime=runtime,
        deliveries=arrivals,
        check=invariants.check,
        final=invariants.final,
        jumps=(3601.0,),
    )


@settings(
    max_examples=scaled(300),
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=False,
)
@given(st.data())
def test_announcements_and_alerts_are_decided_once_and_published(data: st.DataObject) -> None:
    explore(data, subject)
