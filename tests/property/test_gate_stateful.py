"""Model-based test: completions drawn from a bundle (so duplicates happen), delivered with
injected publish failures, sweeps and lease expiry, on the memory and SQLite stores.

After every step: at most one trigger id for the key, every publish carries it, no completion
is lost (recorded set == delivered set), the state agrees with that set, versions only grow.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    Outcome,
    PublishFailed,
    RecordingPublisher,
    spec_from_mapping,
)
from phaseactors.stores import MemoryStore, SqliteStore
from phaseactors.stores.base import Store
from support import KEY, SMALL_GATE, ManualClock, require_emulator, scaled

REQUIRED = {"alpha", "beta", "gamma"}
# The names producers use, and what the gate should count them as (None: not expected).
NAMES = {
    "alpha": "alpha",
    "AlphaLoader": "alpha",
    "beta": "beta",
    "raw.beta": "beta",
    "GammaProcessor": "gamma",
    "delta": None,
}
DONE, FAILED = ("success", "partial", "no_data"), ("failed",)
TRIGGER_ID = f"small/{KEY}/1"


class GateDeliveries(RuleBasedStateMachine):
    completions = Bundle("completions")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.publisher = RecordingPublisher()
        self.runtime: GateRuntime = GateRuntime(
            GateActor(spec_from_mapping(SMALL_GATE)),
            self.make_store(),
            self.publisher,
            clock=self.clock,
        )
        self.message_counter = 0
        self.seen_runs: set[tuple[str, str]] = set()
        self.seen_messages: set[str] = set()
        self.delivered_done: set[str] = set()
        self.failed_runs = 0
        self.last_version = 0

    def make_store(self) -> Store:
        return MemoryStore()

    @rule(
        target=completions,
        name=st.sampled_from(sorted(NAMES)),
        run=st.integers(1, 3),
        status=st.sampled_from(DONE + FAILED),
        redelivery_id=st.booleans(),
    )
    def report(self, name: str, run: int, status: str, redelivery_id: bool) -> Completion:
        self.message_counter += 1
        return Completion(
            processor=name,
            key=KEY,
            status=status,
            execution_id=f"{NAMES[name] or name}-{run}",
            message_id=f"m-{self.message_counter}" if redelivery_id else None,
        )

    @rule(completion=completions, publish_fails=st.booleans())
    def deliver(self, completion: Completion, publish_fails: bool) -> None:
        if publish_fails:
            self.publisher.fail_next(1)
        run = (NAMES[completion.processor] or completion.processor, completion.execution_id)
        duplicate = run in self.seen_runs or completion.message_id in self.seen_messages
        try:
            delivery = self.runtime.deliver(completion)
            outcome = delivery.outcome
        except PublishFailed:
            assert publish_fails
            outcome = None
        finally:
            self.publisher.clear_failures()
        canonical = NAMES[completion.processor]
        if canonical is None:  # recorded apart every time: it needs no dedup token
            assert outcome in (Outcome.UNKNOWN, None)
            return
        if duplicate:
            assert outcome in (Outcome.DUPLICATE, None)
            return
        assert outcome is not Outcome.DUPLICATE
        self.seen_runs.add(run)
        if completion.message_id:
            self.seen_messages.add(completion.message_id)
        if completion.status.value in DONE:
            self.delivered_done.add(canonical)
        else:
            self.failed_runs += 1

    @rule(publish_fails=st.booleans())
    def sweep(self, publish_fails: bool) -> None:
        if publish_fails:
            self.publisher.fail_next(1)
        self.runtime.sweep()
        self.publisher.clear_failures()

    @rule(seconds=st.sampled_from([1, 31]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.runtime.load(KEY)

    @invariant()
    def one_trigger_id_and_every_publish_carries_it(self) -> None:
        assert {m.attributes["trigger_id"] for m in self.publisher.messages} <= {TRIGGER_ID}
        assert len(self.publisher.messages) <= 1
        snapshot = self.snapshot()
        if snapshot is not None and snapshot.data.trigger is not None:
            assert snapshot.data.trigger.trigger_id == TRIGGER_ID
            assert {e.id for e in snapshot.outbox} <= {TRIGGER_ID}

    @invariant()
    def no_completion_is_lost(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            assert not self.delivered_done
            return
        data = snapshot.data
        late_done = {r.processor for r in data.late if r.status in DONE}
        assert set(data.done) | late_done == self.delivered_done
        late_failed = sum(1 for r in data.late if r.status in FAILED)
        assert sum(data.failure_counts.values()) + late_failed == self.failed_runs

    @invariant()
    def state_agrees_with_the_recorded_set(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        data, state = snapshot.data, snapshot.state
        outstanding = {p for p in data.failures if p in REQUIRED and p not in data.done}
        if state in ("complete", "triggered"):
            assert set(data.done) >= REQUIRED
            assert data.trigger is not None
            assert (state == "triggered") == data.trigger.published
            assert (state == "triggered") == (len(self.publisher.messages) == 1)
        elif state == "failed":
            assert outstanding
        else:
            assert not outstanding
            assert not set(data.done) >= REQUIRED
            assert (state == "waiting") == (not data.done and not data.failures)

    @invariant()
    def version_only_grows(self) -> None:
        snapshot = self.snapshot()
        version = snapshot.version if snapshot is not None else 0
        assert version >= self.last_version
        self.last_version = version

    def teardown(self) -> None:
        self.clock.advance(60)
        report = self.runtime.sweep()
        assert report.errors == {}
        snapshot = self.snapshot()
        covered = snapshot is not None and set(snapshot.data.done) >= REQUIRED
        if covered:
            assert snapshot is not None
            assert snapshot.state == "triggered"
        assert len(self.publisher.messages) == (1 if covered else 0)


class SqliteGateDeliveries(GateDeliveries):
    def make_store(self) -> Store:
        self.directory = Path(tempfile.mkdtemp(prefix="phaseactors-"))
        return SqliteStore(self.directory / "actors.db")

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.runtime.store.close()
            shutil.rmtree(self.directory, ignore_errors=True)


class FirestoreGateDeliveries(GateDeliveries):
    def make_store(self) -> Store:
        from google.cloud import firestore

        from phaseactors.stores.firestore import FirestoreStore

        prefix = f"s{uuid.uuid4().hex[:10]}."
        return FirestoreStore(firestore.Client(project="phaseactors-test"), prefix=prefix)


@pytest.mark.emulator
def test_gate_deliveries_on_firestore() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    run_state_machine_as_test(
        FirestoreGateDeliveries, settings=settings(max_examples=scaled(20), stateful_step_count=20)
    )


TestGateDeliveries = GateDeliveries.TestCase
TestGateDeliveries.settings = settings(max_examples=scaled(200), stateful_step_count=30)
TestSqliteGateDeliveries = SqliteGateDeliveries.TestCase
TestSqliteGateDeliveries.settings = settings(max_examples=scaled(100), stateful_step_count=30)
