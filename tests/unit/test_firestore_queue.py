"""The Firestore store's queue (its default design), against the official emulator: contended
deliveries acknowledged once durably queued, one folder per burst, takeover of an abandoned
queue, the sweep folding a stranded one, and refused events quarantined."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from phaseactors import GateRuntime, RecordingPublisher, spec_from_mapping
from phaseactors.core.actor import Outcome
from phaseactors.core.clock import utcnow
from phaseactors.core.events import Claim, Event
from phaseactors.errors import StoreRejected
from phaseactors.gate.actor import GateActor
from phaseactors.stores.base import RetryPolicy, Store
from phaseactors.testing import StoreContract, contract_spec
from phaseactors.testing.store_contract import completion_event
from support import require_emulator

pytestmark = pytest.mark.emulator

PROJECT = "phaseactors-test"
KEY = "2025-11-29"


def queue_store(prefix: str, retry: RetryPolicy | None = None):  # type: ignore[no-untyped-def]
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from google.cloud import firestore

    from phaseactors.stores.firestore import FirestoreStore

    store = FirestoreStore(firestore.Client(project=PROJECT), prefix=prefix, retry=retry)
    assert store.design == "queue"  # the default
    return store


class TestQueueFirestoreStore(StoreContract):
    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        self.prefix = f"q{uuid.uuid4().hex[:10]}."
        return queue_store(self.prefix, retry)

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        return queue_store(self.prefix)


def claimed(event: Event, owner: str) -> Event:
    return attrs.evolve(event, claim=Claim(owner=owner, until=utcnow() + timedelta(minutes=1)))


def queue_document(store: Any, actor: GateActor) -> Any:
    return store.collection(actor.name).document(KEY).collection("inbox").document("~queue")


def queue_by_hand(store: Any, actor: GateActor, events: list[Any], since: float) -> None:
    """A queue as a handler that died after appending left it (values as it writes them)."""
    queue_document(store, actor).set(
        {
            "events": [
                {"id": f"0-{i}", "event": e if isinstance(e, dict) else actor.encode_event(e)}
                for i, e in enumerate(events)
            ],
            "pending": len(events),
            "since": since,
        }
    )


AGGREGATING = spec_from_mapping(
    {
        "name": "aggregating",
        "key": {"field": "day", "format": "date"},
        "topics": {"output": "aggregating-out"},
        "processors": {"required": [f"p{i}" for i in range(40)]},
        "aggregate": {"entities": {"from": "metadata.entities", "how": "union"}},
    }
)


def large_completion(processor: str) -> Event:
    """A completion whose entities add about 60 KB to its key's aggregate (the most one
    report may add is 64 KiB)."""
    event: Any = completion_event(processor)
    entities = [f"{processor}-{i:06d}-{'x' * 50}" for i in range(900)]
    completion = attrs.evolve(event.completion, metadata={"entities": entities})
    return attrs.evolve(event, completion=completion)


def test_a_burst_is_recorded_once_each_and_the_queued_deliveries_acknowledged() -> None:
    count = 21
    prefix = f"q{uuid.uuid4().hex[:10]}."
    actor = GateActor(contract_spec(count))
    stores = [queue_store(prefix) for _ in range(count)]
    start = threading.Barrier(count)
    outcomes: dict[str, Outcome] = {}

    def deliver(index: int) -> None:
        event = claimed(completion_event(f"p{index}"), owner=f"handler-{index}")
        start.wait()
        outcomes[f"handler-{index}"] = stores[index].apply(actor, KEY, event).outcome

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == count
    queued = [h for h, o in outcomes.items() if o is Outcome.QUEUED]
    applied = [h for h, o in outcomes.items() if o is Outcome.APPLIED]
    assert sorted(queued + applied) == sorted(outcomes)
    assert queued, "21 handlers at once: some must have queued"
    snapshot = stores[0].load(actor, KEY)
    assert snapshot is not None
    assert set(snapshot.data.done) == {f"p{i}" for i in range(count)}
    assert (snapshot.version, snapshot.state, len(snapshot.outbox)) == (count, "complete", 1)
    lease = snapshot.outbox[0].lease
    assert lease is not None
    assert lease.owner in applied  # a handler that returns with the trigger publishes it
    fields = queue_document(stores[0], actor).get().to_dict()
    assert (fields["pending"], fields["events"]) == (0, [])
    assert stores[0].stranded(actor) == []
    folds = sum(s.stats.folds for s in stores)
    writes = sum(s.stats.writes for s in stores)
    # one write per delivery (its direct commit, or its append), two per fold
    assert writes == count + 2 * folds


def test_the_folder_steps_every_queued_event_under_its_own_claim() -> None:
    """The event completing the gate was another handler's, which returned ``queued``: the
    trigger is leased to the folder, which returns with it and publishes it."""
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(3))
    store.apply(actor, KEY, completion_event("p0"))
    others = [claimed(completion_event(p), f"other-{p}") for p in ("p1", "p2")]
    queue_by_hand(store, actor, others, since=time.time())
    claim = Claim(owner="folder", until=utcnow() + timedelta(minutes=1))
    folds = store._queue.fold(actor, KEY, claim=claim)
    assert folds.state is not None
    assert (set(folds.state.data.done), folds.state.state) == ({"p0", "p1", "p2"}, "complete")
    assert [e.lease.owner if e.lease else None for e in folds.state.outbox] == ["folder"]
    assert folds.state == store.load(actor, KEY)


def test_an_append_behind_a_live_folder_returns_queued_and_one_behind_a_dead_one_folds() -> None:
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(4))
    store.apply(actor, KEY, completion_event("p0"))

    def append(processor: str) -> Any:
        event = claimed(completion_event(processor), processor)
        base = store.load(actor, KEY)
        [result] = store._queue.enqueue(actor, KEY, base, [event], [actor.step(base, event)], 1)
        return result

    queue_by_hand(store, actor, [completion_event("p1")], since=time.time())
    live = append("p2")
    assert (live.outcome, set(live.snapshot.data.done)) == (Outcome.QUEUED, {"p0"})
    assert queue_document(store, actor).get().to_dict()["pending"] == 2
    assert store.stranded(actor) == [KEY]  # until its folder folds, or a sweep

    queue_by_hand(store, actor, [completion_event("p1"), completion_event("p2")], since=0.0)
    taken_over = append("p3")
    assert taken_over.outcome is Outcome.APPLIED
    assert set(taken_over.snapshot.data.done) == {"p0", "p1", "p2", "p3"}
    assert [e.completion.processor for e in taken_over.carried] == ["p1", "p2"]  # reported here
    assert queue_document(store, actor).get().to_dict()["pending"] == 0
    assert store.stranded(actor) == []


def test_the_sweep_folds_a_queue_its_folder_left_and_publishes_the_trigger_once() -> None:
    """The dead folder's claim on the trigger would hold for another minute: the sweep folds
    under its own claim instead, so it publishes at once."""
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(2))
    store.apply(actor, KEY, completion_event("p0"))
    queue_by_hand(store, actor, [claimed(completion_event("p1"), "dead")], since=time.time())
    assert store.stranded(actor) == [KEY]
    publisher = RecordingPublisher()
    report = GateRuntime(actor, store, publisher).sweep()
    assert (report.visited, len(report.published), report.errors) == (1, 1, {})
    snapshot = store.load(actor, KEY)
    assert snapshot is not None
    assert (set(snapshot.data.done), snapshot.state) == ({"p0", "p1"}, "triggered")
    assert store.stranded(actor) == []
    assert GateRuntime(actor, store, publisher).sweep().published == ()
    assert [m.entry_id for m in publisher.messages] == [f"{actor.name}/{KEY}/1"]


def test_a_queued_event_refused_when_folded_is_quarantined_and_its_neighbours_applied() -> None:
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(3))
    store.apply(actor, KEY, completion_event("p0"))
    unreadable = {"kind": "no-such-event", "at": "2025-11-29T00:00:00Z"}
    queue_by_hand(store, actor, [unreadable, completion_event("p1")], since=0.0)
    folds = store._queue.fold(actor, KEY, claim=None)
    assert set(folds.outcomes) == {"0-0", "0-1"}
    snapshot = store.load(actor, KEY)
    assert snapshot is not None
    assert set(snapshot.data.done) == {"p0", "p1"}
    [record] = store.quarantined(actor.name)
    assert record.reason.endswith("(refused when its key's queue was folded)")
    assert '"kind": "no-such-event"' in record.raw
    assert queue_document(store, actor).get().to_dict()["pending"] == 0


def test_a_fold_the_store_refuses_is_redone_one_event_at_a_time() -> None:
    """One queued event makes the key's document too large: only it is refused (and
    quarantined); the events queued with it are applied."""
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(AGGREGATING)
    for i in range(3, 40):  # fill the key until one more large report does not fit
        try:
            store.apply(actor, KEY, large_completion(f"p{i}"))
        except StoreRejected:
            offender = f"p{i}"
            break
    else:
        raise AssertionError("the key never filled up")
    before = store.load(actor, KEY)
    assert before is not None
    queued = [completion_event("p0"), large_completion(offender), completion_event("p1")]
    queue_by_hand(store, actor, queued, since=0.0)
    store._queue.fold(actor, KEY, claim=None)
    snapshot = store.load(actor, KEY)
    assert snapshot is not None
    assert set(snapshot.data.done) == set(before.data.done) | {"p0", "p1"}
    [record] = store.quarantined(actor.name)
    assert record.reason.startswith("StoreRejected: ")
    assert f'"processor": "{offender}"' in record.raw
    assert queue_document(store, actor).get().to_dict()["pending"] == 0


def test_an_append_to_a_full_queue_goes_to_the_inbox_and_is_applied() -> None:
    """The queue document is near 1 MiB (a burst of large reports): the append is refused, so
    the handler queues its event as an inbox document of its own and folds it there."""
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(3))
    store.apply(actor, KEY, completion_event("p0"))
    filler = {"kind": "filler", "blob": "x" * 1_048_300}
    queue_by_hand(store, actor, [filler], since=time.time())
    event = completion_event("p1")
    base = store.load(actor, KEY)
    [result] = store._queue.enqueue(actor, KEY, base, [event], [actor.step(base, event)], 1)
    assert result.outcome is Outcome.APPLIED
    assert set(result.snapshot.data.done) == {"p0", "p1"}
    assert queue_document(store, actor).get().to_dict()["pending"] == 1  # for the sweep


def test_a_failure_folded_from_a_stranded_queue_is_logged_by_the_sweep(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handler of the failure report returned ``queued`` and its folder died: the sweep
    that folds it reports the failed key, as the report's own delivery would have."""
    store = queue_store(f"q{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(2))
    store.apply(actor, KEY, completion_event("p0"))
    failure: Any = completion_event("p1")
    failure = attrs.evolve(failure, completion=attrs.evolve(failure.completion, status="failed"))
    queue_by_hand(store, actor, [failure], since=time.time())
    with caplog.at_level(logging.ERROR, logger="phaseactors"):
        GateRuntime(actor, store, RecordingPublisher()).sweep()
    snapshot = store.load(actor, KEY)
    assert snapshot is not None
    assert snapshot.state == "failed"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith(f"{actor.name}/{KEY} failed:")
