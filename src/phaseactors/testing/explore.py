"""Interleavings of any actor: deliveries arrive one by one, and Hypothesis picks when the
next arrives, which in-flight delivery takes its next step (read, commit, publish, confirm)
and which fault happens there, with sweeps and jumps of the clock in between; the subject's
invariants are checked after every step and once more after a final fault-free sweep.

A subject is what :func:`explore` is given to build for each example: a runtime over the
scheduler's :class:`~phaseactors.testing.interleave.InstrumentedMemoryStore` and
:class:`~phaseactors.testing.interleave.InstrumentedPublisher`, the deliveries to interleave,
and the checks::

    def subject(scheduler: Scheduler, clock: ManualClock, data: st.DataObject) -> Subject:
        runtime = Runtime(MyActor(), InstrumentedMemoryStore(scheduler),
                          InstrumentedPublisher(scheduler), clock=clock)
        events = data.draw(my_events())
        return Subject(runtime=runtime, deliveries=[...], check=..., final=...)

    @given(st.data())
    def test_my_actor(data):
        explore(data, subject)

The schedule is drawn up front, so a failing one shrinks to a short list of steps, printed
with the failure (``note``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import field, frozen
from hypothesis import note
from hypothesis import strategies as st

from ..core.runtime import Runtime
from ..errors import ContentionError, PublishFailed, TransitionRefused
from .interleave import Scheduler, WorkerCrash

__all__ = ["FAULTS_OF_SCHEDULES", "Arrival", "ManualClock", "Subject", "explore"]

#: Faults a schedule may contain; a subject's ``final`` check is told which ones happened.
FAULTS_OF_SCHEDULES = ("conflict", "fail", "crash", "crash-after", "lease-expires")
_EXPECTED = (PublishFailed, WorkerCrash, ContentionError, TransitionRefused)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2025, 11, 29, 23, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@frozen
class Arrival:
    """A piece of work that arrives ``after`` seconds (of the clock) after the one before."""

    name: str
    work: Callable[[], Any]
    after: float = 0.0


@frozen(kw_only=True)
class Subject:
    """What one example explores."""

    runtime: Runtime[Any]
    deliveries: Sequence[Arrival]
    """The work to interleave, each run by its own worker, arriving in order."""
    check: Callable[[], None]
    """Invariants that hold after every step (raise AssertionError otherwise)."""
    final: Callable[[frozenset[str]], None]
    """What holds once every worker ended and a fault-free sweep ran after every deadline;
    it is given the faults the schedule contained."""
    jumps: Sequence[float] = ()
    """Seconds the clock may jump by (deadlines); the lease's length is always one."""
    settle: float = 366 * 86400.0
    """Seconds the clock moves before the final sweep: past every deadline and lease."""
    expected_errors: tuple[type[BaseException], ...] = field(default=_EXPECTED)
    """Errors a worker may end with under faults; any other is raised."""


def explore(
    data: st.DataObject,
    build: Callable[[Scheduler, ManualClock, st.DataObject], Subject],
    *,
    max_moves: int = 60,
    max_sweeps: int = 2,
) -> None:
    """Draw and run one schedule of ``build``'s subject, checking it all along."""
    scheduler = Scheduler()
    clock = ManualClock()
    subject = build(scheduler, clock, data)
    runtime = subject.runtime
    waiting = list(subject.deliveries)  # they arrive one by one, the first at once

    def arrive() -> None:
        arrival = waiting.pop(0)
        if arrival.after:
            clock.advance(arrival.after)
            scheduler.log.append(f"clock +{arrival.after:.0f}s")
        scheduler.spawn(arrival.name, arrival.work)

    if waiting:
        arrive()
    jumps = [runtime.lease.total_seconds() + 1, *subject.jumps]
    moves = ("step", "arrive", "sweep", "jump")
    faults: set[str] = set()
    sweeps = 0
    schedule = data.draw(
        st.lists(
            st.tuples(st.integers(0, 2 * len(moves) - 2), st.integers(0, 7), st.integers(0, 3)),
            max_size=max_moves,
        ),
        label="schedule",
    )
    try:
        for pick, who, choice in schedule:
            if not scheduler.paused() and not waiting:
                break
            move = moves[max(0, pick - len(moves) + 1)]  # mostly plain steps
            if move == "arrive" or (move == "step" and not scheduler.paused()):
                if waiting:
                    if waiting[0].after and _lease_held(runtime):
                        faults.add("lease-expires")
                    arrive()
            elif move == "step":
                worker = scheduler.paused()[who % len(scheduler.paused())]
                action = worker.faults[choice % len(worker.faults)]
                faults.add(action)
                scheduler.step(worker, action)
            elif move == "sweep" and sweeps < max_sweeps:
                sweeps += 1
                scheduler.spawn(f"sweep{sweeps}", runtime.sweep)
            elif move == "jump":
                if _lease_held(runtime):
                    faults.add("lease-expires")
                seconds = jumps[choice % len(jumps)]
                clock.advance(seconds)
                scheduler.log.append(f"clock +{seconds:.0f}s")
            subject.check()
        while waiting:  # what has not arrived yet arrives now
            if waiting[0].after and _lease_held(runtime):
                faults.add("lease-expires")
            arrive()
        turn = 0
        while paused := scheduler.paused():  # the rest runs without faults, round-robin
            scheduler.step(paused[turn % len(paused)])
            turn += 1
            subject.check()
        for worker in scheduler.workers:
            if worker.error is not None and not isinstance(worker.error, subject.expected_errors):
                raise worker.error
        clock.advance(subject.settle)
        scheduler.log.append("final fault-free sweep, after every deadline")
        runtime.sweep()
        subject.final(frozenset(faults & set(FAULTS_OF_SCHEDULES)))
    finally:
        scheduler.abandon()
        note("schedule:\n  " + "\n  ".join(scheduler.log))


def _lease_held(runtime: Runtime[Any]) -> bool:
    """Whether a pending entry is leased: letting time pass may then overtake its holder."""
    return any(
        entry.lease is not None
        for snapshot in runtime.store.scan(runtime.actor, pending_outbox=True)
        for entry in snapshot.outbox
    )
