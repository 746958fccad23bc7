"""Sample keys for the console: many dates across a chain of gates, in every state, with the
causes an operator meets (a missing processor, a failure, a forced trigger, a rearm, an
unknown name, a late rerun). The console's tests, its screenshots and its benchmark use it.

Every completion goes through the gate's runtime, at times a :class:`SampleClock` sets, so
the keys are what production would hold.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from ..gate.completion import Completion
from ..gate.operations import GateRuntime

__all__ = ["SampleClock", "fill_sample"]


class SampleClock:
    """A clock that moves only when set; runtimes and the console can share one."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _report(
    runtime: GateRuntime,
    clock: SampleClock,
    key: str,
    processor: str,
    at: datetime,
    *,
    status: str = "success",
    run: int = 1,
    error: str | None = None,
) -> None:
    clock.now = at
    runtime.deliver(
        Completion(
            processor=processor,
            key=key,
            status=status,
            execution_id=f"{processor}-{key}-{run}",
            record_count=None if status == "failed" else 100 + len(processor) * 7,
            error_message=error,
        )
    )


def fill_sample(
    runtimes: Sequence[GateRuntime],
    clock: SampleClock,
    *,
    days: int,
    end: date,
    seed: int = 7,
) -> datetime:
    """Fill ``days`` game dates up to ``end`` across ``runtimes`` (a chain of gates, each
    starting once the one before triggered); returns the "now" the keys were made for:
    the morning after ``end``, US time. Most dates are triggered in every gate; the newest
    ones are still on their way, and a few old ones need a person."""
    rng = random.Random(seed)
    now = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1, hours=14)
    for age in range(days - 1, -1, -1):
        day = end - timedelta(days=age)
        key = day.isoformat()
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=28)
        _fill_date(runtimes, clock, key, start, age, rng, now)
    clock.now = now
    return now


def _fill_date(
    runtimes: Sequence[GateRuntime],
    clock: SampleClock,
    key: str,
    start: datetime,
    age: int,
    rng: random.Random,
    now: datetime,
) -> None:
    at = start
    for depth, runtime in enumerate(runtimes):
        spec = runtime.spec
        names = list(spec.required + spec.optional)
        rng.shuffle(names)
        held_back: set[str] = set()
        forced = age % 31 == 9 and depth == 0  # a feed that is down: forced without it
        if forced:
            held_back = {spec.required[1]}
        if age == 0:  # today: the first gate is still collecting
            if depth > 0:
                return
            held_back = set(rng.sample(list(spec.required), min(3, len(spec.required))))
            at = now - timedelta(minutes=50)
        elif age == 1 and depth == len(runtimes) - 1:  # yesterday: the last gate waits
            held_back = {spec.required[-1]}
        elif age % 23 == 5 and depth == 0:  # a required processor failed; nothing reran
            failing = spec.required[0]
            for name in names:
                at += timedelta(seconds=rng.randint(20, 240))
                if name == failing:
                    _report(
                        runtime,
                        clock,
                        key,
                        name,
                        at,
                        status="failed",
                        error="BigQuery load job failed: quota exceeded",
                    )
                else:
                    _report(runtime, clock, key, name, at)
            return
        for name in names:
            if name in held_back:
                continue
            at += timedelta(seconds=rng.randint(20, 240))
            _report(runtime, clock, key, name, at)
        if age % 17 == 3 and depth == 0:  # a producer under a name the gate does not know
            at += timedelta(seconds=30)
            _report(runtime, clock, key, "LegacyBoxscoreLoader", at)
        if held_back and forced:
            at += timedelta(minutes=10)
            clock.now = at
            reason = f"{spec.required[1]} is down today; the next phase needs the rest"
            runtime.force(key, reason=reason, by="ops@example.com")
        elif held_back:
            if age == 1:
                clock.now = now
                runtime.tick(key)  # the deadlines that passed overnight
            return
        if age % 29 == 11 and depth == 1:  # rerun after a bad feed: a new generation
            at += timedelta(minutes=40)
            clock.now = at
            runtime.rearm(key, reason="odds feed fixed; rerunning phase 3", by="ops@example.com")
            for name in names:
                at += timedelta(seconds=rng.randint(20, 240))
                _report(runtime, clock, key, name, at, run=2)
        if age % 13 == 7 and depth == 0:  # a late rerun after the trigger
            at += timedelta(minutes=25)
            _report(runtime, clock, key, names[0], at, run=2)
        at += timedelta(minutes=rng.randint(5, 30))
