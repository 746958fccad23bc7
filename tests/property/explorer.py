"""The interleaving explorer: Hypothesis picks which in-flight delivery takes its next step
(read, commit, publish, confirm) and which fault happens there, with sweeps, lease expiry,
deadline ticks and an operator rearm mixed in. It drives the real GateRuntime over an instrumented
memory store; invariants are checked after every step and after a final fault-free sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import note
from hypothesis import strategies as st

from phaseactors import (
    ContentionError,
    GateActor,
    GateRuntime,
    PublishFailed,
    TransitionRefused,
    spec_from_mapping,
)
from phaseactors.core.actor import Outcome
from phaseactors.gate.events import CompletionReported
from phaseactors.testing.interleave import (
    InstrumentedMemoryStore,
    InstrumentedPublisher,
    Scheduler,
    WorkerCrash,
)
from phaseactors.testing.strategies import MOVES, batches
from support import KEY, ManualClock

GATE = spec_from_mapping(
    {
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
)
DONE = ("success", "partial", "no_data")
EXPECTED_ERRORS = (PublishFailed, WorkerCrash, ContentionError, TransitionRefused)
MAX_MOVES = 60
FINAL_DEADLINE = timedelta(hours=4)  # past every tier, however late the first completion

Factory = Callable[[Scheduler, ManualClock], GateRuntime]


def correct_runtime(scheduler: Scheduler, clock: ManualClock) -> GateRuntime:
    store = InstrumentedMemoryStore(scheduler)
    return GateRuntime(GateActor(GATE), store, InstrumentedPublisher(scheduler), clock=clock)


class Invariants:
    """What must hold after every step, checked against the store and the published messages."""

    def __init__(self, runtime: GateRuntime) -> None:
        self.runtime = runtime
        self.decisions: dict[int, str] = {}
        self.version = 0

    @property
    def messages(self) -> list[Any]:
        publisher = self.runtime.publisher
        assert isinstance(publisher, InstrumentedPublisher)
        return publisher.messages

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
        self._nothing_lost(snapshot)
        self._state_agrees(snapshot)

    def _nothing_lost(self, snapshot: Any) -> None:
        store = self.runtime.store
        assert isinstance(store, InstrumentedMemoryStore)
        applied = [
            (event.completion, result)
            for event, result in store.applied
            if isinstance(event, CompletionReported) and result.outcome is not Outcome.DUPLICATE
        ]
        for completion, result in applied:
            processor = GATE.resolve(completion.processor)
            if processor is None:  # unknown names are recorded apart, without a dedup token
                if result.snapshot.generation == snapshot.generation:
                    assert completion.processor in snapshot.data.unknown, "unknown report lost"
                continue
            token = f"e:{processor}/{completion.execution_id}"
            assert token in snapshot.seen, f"applied completion {token} was lost"
        current = snapshot.generation
        done = {
            GATE.resolve(c.processor)
            for c, r in applied
            if r.snapshot.generation == current
            and r.outcome is Outcome.APPLIED
            and c.status.value in DONE
        }
        late = {
            (GATE.resolve(c.processor), c.execution_id)
            for c, r in applied
            if r.snapshot.generation == current and r.outcome is Outcome.LATE
        }
        assert set(snapshot.data.done) == done, "recorded set differs from the applied set"
        assert {(r.processor, r.execution_id) for r in snapshot.data.late} == late

    def _state_agrees(self, snapshot: Any) -> None:
        data, state = snapshot.data, snapshot.state
        covered = set(data.done) >= set(GATE.required)
        if covered:
            assert state in ("complete", "triggered"), f"covered but {state}"
        if state in ("complete", "triggered"):
            assert data.trigger is not None
            assert data.trigger.generation == snapshot.generation
            assert (state == "triggered") == data.trigger.published
        if state == "waiting":
            assert not data.done

    def final(self, faults: set[str]) -> None:
        """After every worker ended and a fault-free sweep ran."""
        self.check()
        snapshot = self.runtime.load(KEY)
        if snapshot is None:
            return
        if set(snapshot.data.done) >= set(GATE.required) or snapshot.state == "complete":
            assert snapshot.state == "triggered", f"covered key left {snapshot.state}"
        if snapshot.data.first_completion_at is not None:  # its deadlines have all passed
            assert snapshot.state in ("triggered", "failed"), f"{snapshot.state} after deadlines"
        for trigger_id in self.decisions.values():
            copies = [m for m in self.messages if m.attributes["trigger_id"] == trigger_id]
            assert copies, f"{trigger_id} was decided but never published"
            if not faults & {"fail", "crash", "crash-after", "lease-expires"}:
                assert len(copies) == 1, f"{trigger_id} published {len(copies)} times"


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
        clock.advance(FINAL_DEADLINE.total_seconds())
        scheduler.log.append("final fault-free sweep, after every deadline")
        runtime.sweep()
        invariants.final(faults)
    finally:
        scheduler.abandon()
        note("schedule:\n  " + "\n  ".join(scheduler.log))


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
