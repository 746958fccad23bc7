"""The store contract on Firestore, against the official emulator."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from phaseactors.core.clock import utcnow
from phaseactors.gate.actor import GateActor
from phaseactors.stores.base import RetryPolicy, Store
from phaseactors.testing import StoreContract, contract_spec
from phaseactors.testing.store_contract import completion_event
from support import require_emulator

pytestmark = pytest.mark.emulator

PROJECT = "phaseactors-test"


def firestore_store(prefix: str, retry: RetryPolicy | None = None, design: str = "combining"):  # type: ignore[no-untyped-def]
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from google.cloud import firestore

    from phaseactors.stores.firestore import FirestoreStore

    return FirestoreStore(
        firestore.Client(project=PROJECT), prefix=prefix, retry=retry, design=design
    )


class TestFirestoreStore(StoreContract):
    design = "combining"

    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        return firestore_store(self.prefix, retry, self.design)

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        return firestore_store(self.prefix, design=self.design)


class TestOptimisticFirestoreStore(TestFirestoreStore):
    design = "optimistic"


@pytest.mark.parametrize(
    "dead_folder_lease_s",
    [None, -60.0, 1.0],
    ids=["no-lease", "lease-run-out", "lease-running-out-in-1s"],
)
def test_combining_records_every_simultaneous_completion_once(
    dead_folder_lease_s: float | None,
) -> None:
    """21 handlers at once; also with the folder lease of a dead handler left behind, which
    the waiting handlers take over once it runs out."""
    from phaseactors.stores.firestore import INBOX_TTL

    count = 21
    prefix = f"t{uuid.uuid4().hex[:10]}."
    actor = GateActor(contract_spec(count))
    stores = [firestore_store(prefix) for _ in range(count)]
    inbox = stores[0].collection(actor.name).document("2025-11-29").collection("inbox")
    if dead_folder_lease_s is not None:
        inbox.document("~folder").set(
            {
                "holder": "dead",
                "until": utcnow() + timedelta(seconds=dead_folder_lease_s),
                "expire_at": utcnow() + INBOX_TTL,
            }
        )
    start = threading.Barrier(count)
    outcomes: list[str] = []

    def deliver(index: int) -> None:
        start.wait()
        applied = stores[index].apply(
            actor, "2025-11-29", completion_event(f"p{index}", claim=True)
        )
        outcomes.append(applied.outcome.value)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["applied"] * count
    snapshot = stores[0].load(actor, "2025-11-29")
    assert snapshot is not None
    assert set(snapshot.data.done) == {f"p{i}" for i in range(count)}
    assert (snapshot.version, snapshot.state, len(snapshot.outbox)) == (count, "complete", 1)
    assert stores[0].stranded(actor) == []
    assert [d.id for d in inbox.stream()] == []  # events folded and removed, lease given up


def test_the_folder_folds_its_own_events_last_and_so_claims_the_trigger_they_complete() -> None:
    """Of the events pending in one fold, the folding handler's go last, whatever the queue
    order: the trigger is then claimed by the one handler that knows the outcome first."""
    import attrs

    from phaseactors.core.events import Claim

    store = firestore_store(f"t{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(3))
    store.apply(actor, "2025-11-29", completion_event("p0"))
    inbox = store.collection(actor.name).document("2025-11-29").collection("inbox")
    queued = {"1-folder": "p1", "2-other": "p2"}  # the folder's own event was queued first
    for doc_id, processor in queued.items():
        claim = Claim(owner=doc_id, until=utcnow() + timedelta(minutes=1))
        event = attrs.evolve(completion_event(processor), claim=claim)
        inbox.document(doc_id).set({"status": "pending", "event": actor.encode_event(event)})
    fold = store._combining.fold(actor, "2025-11-29", {"1-folder"})
    assert fold is not None
    state = fold.state
    assert set(fold.outcomes) == set(queued)
    assert state is not None
    assert state.state == "complete"
    assert [e.lease.owner if e.lease else None for e in state.outbox] == ["1-folder"]
    assert [d.id for d in inbox.stream()] == ["2-other"]  # the other's outcome waits for it


def test_a_handler_folding_its_own_events_loses_to_a_fold_that_took_them_first() -> None:
    """A waiter whose events a fold missed folds them itself once the lease is given up. If
    another fold took them in between, the waiter's commit must fail on them (not apply them
    twice) and the outcome the other fold recorded must stay for the waiter to read."""

    store = firestore_store(f"t{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(3))
    store.apply(actor, "2025-11-29", completion_event("p0"))
    inbox = store.collection(actor.name).document("2025-11-29").collection("inbox")
    event = completion_event("p1")
    written = inbox.document("q1").set({"status": "pending", "event": actor.encode_event(event)})
    combining = store._combining
    assert combining.fold(actor, "2025-11-29", set()) is not None  # e.g. a sweep takes it first
    before = store.load(actor, "2025-11-29")
    fold = combining.fold(actor, "2025-11-29", {"q1"}, only={"q1": (event, written.update_time)})
    assert fold is None
    assert (inbox.document("q1").get().to_dict() or {}).get("status") == "folded"
    assert store.load(actor, "2025-11-29") == before


def test_firestore_url(monkeypatch: pytest.MonkeyPatch) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from phaseactors.stores import open_store
    from phaseactors.stores.firestore import FirestoreStore

    store = open_store(f"firestore://{PROJECT}?prefix=u1.&design=optimistic")
    assert isinstance(store, FirestoreStore)
    assert (store.prefix, store.design) == ("u1.", "optimistic")
    with pytest.raises(ValueError, match="needs a project"):
        open_store("firestore://")


def test_sweep_folds_events_stranded_by_a_dead_handler() -> None:
    from phaseactors import GateRuntime, RecordingPublisher

    store = firestore_store(f"t{uuid.uuid4().hex[:10]}.")
    actor = GateActor(contract_spec(2))
    store.apply(actor, "2025-11-29", completion_event("p0"))
    inbox = store.collection(actor.name).document("2025-11-29").collection("inbox")
    inbox.document("stranded-1").set(
        {"status": "pending", "event": actor.encode_event(completion_event("p1"))}
    )
    assert store.stranded(actor) == ["2025-11-29"]
    report = GateRuntime(actor, store, RecordingPublisher()).sweep()
    assert (report.visited, len(report.published), report.errors) == (1, 1, {})
    snapshot = store.load(actor, "2025-11-29")
    assert snapshot is not None
    assert (set(snapshot.data.done), snapshot.state) == ({"p0", "p1"}, "triggered")
    assert store.stranded(actor) == []


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        ("PermissionDenied", "StorePermissionDenied"),
        ("Unauthenticated", "StorePermissionDenied"),
        ("ServiceUnavailable", "StoreUnavailable"),
        ("DeadlineExceeded", "StoreUnavailable"),
        ("InvalidArgument", "StoreRejected"),  # e.g. a document over 1 MiB: never retried
        ("FailedPrecondition", "Conflict"),  # retried by the store, never seen by callers
    ],
)
def test_google_errors_become_phaseactors_errors(raised: str, expected: str) -> None:
    pytest.importorskip("google.cloud.firestore")
    from google.api_core import exceptions

    from phaseactors.stores.firestore.client import translated

    with pytest.raises(Exception, match="boom") as caught, translated("read"):
        raise getattr(exceptions, raised)("boom")
    assert type(caught.value).__name__ == expected


def test_a_report_too_large_for_its_key_is_quarantined_and_the_key_left_alone() -> None:
    from phaseactors import GateRuntime, InvalidMessage, RecordingPublisher, load_spec
    from phaseactors.gate.intake import accept_message

    store = firestore_store(f"t{uuid.uuid4().hex[:10]}.")
    spec = load_spec("phase3_to_phase4")  # aggregates metadata.entities_changed into the record
    runtime = GateRuntime(GateActor(spec), store, RecordingPublisher())
    small = {"processor_name": "player_game_summary", "game_date": "2025-11-29"}
    accept_message(runtime, spec, {**small, "status": "success", "execution_id": "e1"}, source="t")
    before = runtime.load("2025-11-29")
    huge = {
        "processor_name": "team_defense_game_summary",
        "game_date": "2025-11-29",
        "status": "success",
        "execution_id": "e2",
        "metadata": {"entities_changed": [f"player-{i:07d}" for i in range(5_000)]},
    }
    with pytest.raises(InvalidMessage, match="over the limit of 65536"):
        accept_message(runtime, spec, huge, source="t")
    assert runtime.load("2025-11-29") == before  # the key is left as it was
    [record] = store.quarantined(spec.name)
    assert record.reason.startswith("InvalidMessage: metadata: contributes")
    assert record.raw.startswith('{"execution_id": "e2"')


def test_a_quarantined_message_is_cut_to_fit_its_document() -> None:
    from phaseactors.core.clock import utcnow
    from phaseactors.stores.base import Quarantined

    store = firestore_store(f"t{uuid.uuid4().hex[:10]}.")
    store.quarantine(Quarantined(at=utcnow(), reason="too big", raw="x" * 900_000, actor="g"))
    [record] = store.quarantined("g")
    assert record.raw.endswith("... [truncated: 900000 bytes in all]")


def test_a_fold_steps_every_handler_s_events_under_the_key_s_own_definition() -> None:
    """A key pinned to a definition the folding handler never saw: the fold reads it from the
    store before stepping, so all events of the one commit step against the key's snapshot
    under its own definition (here: p20 is still required; the handlers' file dropped it)."""
    from phaseactors.testing.store_contract import T0, contract_spec_changed

    count = 20
    prefix = f"t{uuid.uuid4().hex[:10]}."
    old = GateActor(contract_spec(count + 1))
    stores = [firestore_store(prefix) for _ in range(count)]
    stores[0].record_definition(old.definition_record(T0))
    stores[0].apply(old, "2025-11-29", completion_event("p0"))
    start = threading.Barrier(count - 1)

    def deliver(index: int) -> None:
        newer = GateActor(contract_spec_changed(count + 1))  # knows only its own definition
        start.wait()
        stores[index].apply(newer, "2025-11-29", completion_event(f"p{index}"))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(1, count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    snapshot = stores[0].load(old, "2025-11-29")
    assert snapshot is not None
    assert set(snapshot.data.done) == {f"p{i}" for i in range(count)}
    assert (snapshot.state, snapshot.outbox, snapshot.data.definition) == (
        "partial",
        (),
        old.fingerprint,
    )
    assert sum(store.stats.folds for store in stores) >= 1  # the combining path was taken


def test_with_a_retention_a_finished_key_expires_and_a_rearmed_one_does_not() -> None:
    """``retention_days``: a triggered and published key gets ``expire_at`` (the TTL policy
    deletes it then); an undecided key gets none; a rearm takes it away again."""
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from phaseactors import GateRuntime, RecordingPublisher
    from phaseactors.stores import open_store

    prefix = f"r{uuid.uuid4().hex[:10]}."
    store = open_store(f"firestore://{PROJECT}?prefix={prefix}&retention_days=30")
    spec = contract_spec()
    runtime = GateRuntime(GateActor(spec), store, RecordingPublisher())
    key = "2025-11-29"

    def expire_at() -> object:
        document = store.collection(spec.name).document(key).get().to_dict()  # type: ignore[attr-defined]
        return document.get("expire_at")

    store.apply(runtime.actor, key, completion_event("p0"))
    assert expire_at() is None  # partial: still at work
    for name in spec.required[1:]:
        store.apply(runtime.actor, key, completion_event(name))
    runtime.sweep()  # publishes the trigger
    snapshot = runtime.load(key)
    assert snapshot is not None
    assert (snapshot.state, snapshot.outbox) == ("triggered", ())
    assert expire_at() == snapshot.updated_at + timedelta(days=30)
    runtime.rearm(key, reason="rerun", by="ana")
    assert expire_at() is None  # waiting again: it must not be deleted


def test_a_retention_that_is_no_number_of_days_is_refused() -> None:
    from phaseactors.errors import InvalidURL
    from phaseactors.stores import open_store

    for value in ("0", "x", "3651", "-1"):
        with pytest.raises(InvalidURL, match="retention_days must be a whole number of days"):
            open_store(f"firestore://{PROJECT}?retention_days={value}")
