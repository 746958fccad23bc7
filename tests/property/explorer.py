"""The interleaving explorer: Hypothesis picks which in-flight delivery takes its next step
(read, commit, publish, confirm) and which fault happens there, with sweeps, lease expiry,
deadline ticks and an operator rearm mixed in. It drives the real GateRuntime over an instrumented
memory store; invariants are checked after every step and after a final fault-free sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import event, note
from hypothesis import strategies as st
from model import Reference
from observe import assert_agrees, messages, observe

from phaseactors import (
    ContentionError,
    GateActor,
    GateRuntime,
    PublishFailed,
    TransitionRefused,
    spec_from_mapping,
)
from phaseactors.core.events import OutboxPublished, Tick
from phaseactors.gate.completion import Status
from phaseactors.gate.events import CompletionReported, FailKey, ForceTrigger, Rearm
from phaseactors.testing.interleave import (
    InstrumentedMemoryStore,
    InstrumentedPublisher,
    Scheduler,
    WorkerCrash,
)
from phaseactors.testing.strategies import MOVES, batches
from support import KEY, ManualClock

GATE_FILE: dict[str, Any] = {
    "name": "explored",
    "key": {"field": "game_date", "timezone": "America/New_York"},
    "topics": {"output": "explored-out"},
    "processors": {"required": ["alpha", "beta", "gamma"]},
    "aliases": {"AlphaLoader": "alpha"},
    # an hour after the first completion two of the three are enough; after three hours
    # the key triggers with all three or fails
    "deadlines": [
        {"name": "1h", "after_first": "1h", "required": 0.6},
        {"name": "final", "after_first": "3h", "otherwise": "fail"},
    ],
}
GATE = spec_from_mapping(GATE_FILE)
DONE = ("success", "partial", "no_data")
EXPECTED_ERRORS = (PublishFailed, WorkerCrash, ContentionError, TransitionRefused)
MAX_MOVES = 60
FINAL_DEADLINE = timedelta(hours=4)  # past every tier, however late the first completion

Factory = Callable[[Scheduler, ManualClock], GateRuntime]


def correct_runtime(scheduler: Scheduler, clock: ManualClock) -> GateRuntime:
    store = InstrumentedMemoryStore(scheduler)
    return GateRuntime(GateActor(GATE), store, InstrumentedPublisher(scheduler), clock=clock)


class Invariants:
    """What must hold after every step, checked against the store and the published messages:
    the key as the reference model has it after the commits so far (replayed in commit order,
    each commit read as what its worker was asked to do), one trigger id per generation, and
    every published message one of the model's decisions."""

    def __init__(self, runtime: GateRuntime) -> None:
        self.runtime = runtime
        self.decisions: dict[int, str] = {}
        self.version = 0
        self.model = Reference(GATE_FILE, KEY)

    @property
    def messages(self) -> list[Any]:
        publisher = self.runtime.publisher
        assert isinstance(publisher, InstrumentedPublisher)
        return publisher.messages

    def replay(self) -> Reference:
        """The model after every commit so far. A sweep's commits are ticks, whatever event
        the sweeper built: nobody asked it to force a trigger."""
        store = self.runtime.store
        assert isinstance(store, InstrumentedMemoryStore)
        model = Reference(GATE_FILE, KEY)
        for (ev, applied), who in zip(store.applied, store.applied_by, strict=True):
            if not applied.committed:
                continue
            if isinstance(ev, OutboxPublished):
                model.published()
            elif (who or "").startswith("sweep") or isinstance(ev, Tick):
                model.tick(ev.at)
            elif isinstance(ev, CompletionReported):
                c = ev.completion
                outcome = model.completion(
                    c.processor, c.execution_id, c.status.value, ev.at, c.message_id
                )
                assert outcome == applied.outcome.value, f"{c.processor}: {applied.outcome}"
            elif isinstance(ev, Rearm | ForceTrigger | FailKey):
                command = {Rearm: model.rearm, ForceTrigger: model.force, FailKey: model.fail}
                assert command[type(ev)](ev.at), f"{ev.kind} committed where it is refused"
        return model

    def check(self) -> None:
        snapshot = self.runtime.load(KEY)
        if snapshot is None:
            assert self.messages == []
            return
        assert snapshot.version >= self.version, "the version went backwards"
        self.version = snapshot.version
        data = snapshot.data
        if data.trigger is not None:
            decided = self.decisions.setdefault(data.trigger.generation, data.trigger.trigger_id)
            assert decided == data.trigger.trigger_id, "a second trigger decision"
            assert decided == f"explored/{KEY}/{data.trigger.generation}"
        for message in self.messages:
            generation = message.body["generation"]
            assert message.attributes["trigger_id"] == self.decisions.get(generation), (
                "a publish without (or disagreeing with) the generation's one trigger decision"
            )
        self.model = self.replay()
        assert_agrees(self.model.view(), observe(self.runtime.actor, snapshot), "the step")
        decided_by_model = {m["trigger_id"]: m for m in self.model.sent}
        if self.model.message is not None:
            decided_by_model[self.model.message["trigger_id"]] = self.model.message
        for message in messages(self.runtime.publisher):
            assert decided_by_model.get(message["trigger_id"]) == message, (
                f"published {message}, which the model never decided"
            )

    def within_the_lease(self, sweep: Callable[[], None]) -> None:
        """Liveness before any lease runs out: once every worker has ended, a sweep at the
        same instant publishes each pending trigger nobody holds (a failed publish released
        its lease)."""
        snapshot = self.runtime.load(KEY)
        now = self.runtime.clock()
        held = snapshot is not None and any(
            e.lease is not None and e.lease.held_at(now) for e in snapshot.outbox
        )
        sweep()
        self.check()
        after = self.runtime.load(KEY)
        if not held and after is not None:
            assert after.outbox == (), f"{after.outbox[0].id} still pending after a sweep"
            assert after.state != "complete", "a complete key was not published by the sweep"

    def final(self, faults: set[str]) -> None:
        """After every worker ended and a fault-free sweep ran, past every deadline."""
        self.check()
        snapshot = self.runtime.load(KEY)
        if snapshot is None:
            return
        assert snapshot.state != "complete", "a decided trigger was left unpublished"
        for trigger_id in self.decisions.values():
            copies = [m for m in self.messages if m.attributes["trigger_id"] == trigger_id]
            assert copies, f"{trigger_id} was decided but never published"
            if not faults & {"fail", "crash", "crash-after", "lease-expires"}:
                assert len(copies) == 1, f"{trigger_id} published {len(copies)} times"
        event(f"explorer: ended {snapshot.state} in generation {snapshot.generation}")
        for reached in ("trigger", "failed", "rearm"):
            if reached in self.model.reached:
                event(f"explorer reached: {reached}")


def explore(data: st.DataObject, factory: Factory = correct_runtime) -> None:
    scheduler = Scheduler()
    clock = ManualClock()
    runtime = factory(scheduler, clock)
    invariants = Invariants(runtime)
    covering = data.draw(st.booleans(), label="every processor reports")
    batch = data.draw(
        batches(
            GATE,
            KEY,
            min_size=0 if covering else 2,
            max_size=3 if covering else 5,
            covering=covering,
            statuses=(Status.SUCCESS, Status.PARTIAL, Status.NO_DATA, Status.FAILED),
        ),
        label="deliveries",
    )
    for i, completion in enumerate(batch):
        name = f"d{i}({completion.processor}/{completion.execution_id})"
        scheduler.spawn(name, lambda c=completion: runtime.deliver(c))
    faults: set[str] = set()
    sweeps = rearms = 0
    # The schedule is drawn up front, so that shrinking can delete moves; each is (what
    # happens, which paused worker, which choice at its boundary), taken modulo what exists.
    schedule = data.draw(
        st.lists(
            st.tuples(st.integers(0, 2 * len(MOVES) - 2), st.integers(0, 7), st.integers(0, 3)),
            max_size=MAX_MOVES,
        ),
        label="schedule",
    )
    try:
        for pick, who, choice in schedule:
            if not scheduler.paused():
                break
            move = MOVES[max(0, pick - len(MOVES) + 1)]  # mostly plain steps
            if move == "step":
                worker = scheduler.paused()[who % len(scheduler.paused())]
                action = worker.faults[choice % len(worker.faults)]
                faults.add(action)
                scheduler.step(worker, action)
            elif move == "sweep" and sweeps < 2:
                sweeps += 1
                scheduler.spawn(f"sweep{sweeps}", runtime.sweep)
            elif move in ("lease-expires", "deadline-passes"):
                faults |= _overtaken(runtime)
                seconds = 3600 if move == "deadline-passes" else runtime.lease.total_seconds() + 1
                clock.advance(seconds)
                scheduler.log.append(f"clock +{seconds:.0f}s")
            elif move == "rearm" and rearms < 1:
                rearms += 1
                scheduler.spawn("rearm", lambda: runtime.rearm(KEY, reason="rerun", by="ops"))
            invariants.check()
        turn = 0
        while paused := scheduler.paused():  # the rest runs without faults, round-robin
            scheduler.step(paused[turn % len(paused)])
            turn += 1
            invariants.check()
        for worker in scheduler.workers:
            if worker.error is not None and not isinstance(worker.error, EXPECTED_ERRORS):
                raise worker.error
        scheduler.log.append("a sweep at the same instant, inside every lease")
        invariants.within_the_lease(lambda: _sweep_alone(scheduler, runtime, "sweep-at-once"))
        clock.advance(FINAL_DEADLINE.total_seconds())
        scheduler.log.append("final fault-free sweep, after every deadline")
        _sweep_alone(scheduler, runtime, "sweep-final")
        invariants.final(faults)
    finally:
        scheduler.abandon()
        note("schedule:\n  " + "\n  ".join(scheduler.log))


def _sweep_alone(scheduler: Scheduler, runtime: GateRuntime, name: str) -> None:
    """A sweep run to its end without faults, as a worker of its own: its commits are read
    as ticks like those of every other sweep (nobody asked it to force a trigger)."""
    worker = scheduler.spawn(name, runtime.sweep)
    while not worker.done:
        scheduler.step(worker)
    if worker.error is not None:
        raise worker.error


def _overtaken(runtime: GateRuntime) -> set[str]:
    """Letting time pass is a fault only when a lease is held: its live holder may then be
    overtaken by another publisher (at-least-once, same trigger id)."""
    snapshot = runtime.load(KEY)
    held = snapshot is not None and any(e.lease for e in snapshot.outbox)
    return {"lease-expires"} if held else set()


def with_store(factory: Callable[[Scheduler], Any]) -> Factory:
    """A runtime over another (instrumented) store, for broken variants."""

    def make(scheduler: Scheduler, clock: ManualClock) -> GateRuntime:
        return GateRuntime(
            GateActor(GATE), factory(scheduler), InstrumentedPublisher(scheduler), clock=clock
        )

    return make
