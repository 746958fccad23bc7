"""The contract every :class:`~phaseactors.stores.base.Store` must pass.

Subclass :class:`StoreContract` in a test module (name it ``Test...``) and implement
:meth:`StoreContract.create_store` (and :meth:`StoreContract.other_handle` if a second
connection to the same data is a different object)::

    class TestMyStore(StoreContract):
        def create_store(self, tmp_path, retry=None):
            return MyStore(tmp_path / "db", retry=retry)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from ..core.actor import Actor, Outcome, Stepped
from ..core.definitions import DefinitionRecord
from ..core.events import Claim, Event, OutboxPublished
from ..core.snapshot import Snapshot
from ..errors import ContentionError
from ..gate.actor import GateActor
from ..gate.completion import Completion
from ..gate.events import CompletionReported
from ..gate.spec import GateSpec
from ..gate.spec_loader import spec_from_mapping
from ..stores.base import Quarantined, Resolution, RetryPolicy, Store

__all__ = ["InterferingActor", "StoreContract", "contract_spec", "contract_spec_changed"]

T0 = datetime(2025, 11, 29, 12, 0, tzinfo=UTC)
D = TypeVar("D")


def contract_spec(processors: int = 3) -> GateSpec:
    """A small gate: ``p0 .. p{n-1}`` all required; an hour after the first completion, any
    two are enough."""
    return spec_from_mapping(
        {
            "name": "contract_gate",
            "key": {"field": "day", "format": "date"},
            "topics": {"output": "contract-out"},
            "processors": {"required": [f"p{i}" for i in range(processors)]},
            "deadlines": [{"name": "1h", "after_first": "1h", "required": 0.0, "min_done": 2}],
        }
    )


def contract_spec_changed(processors: int = 3) -> GateSpec:
    """:func:`contract_spec` with its last required processor removed: another definition."""
    spec = contract_spec(processors)
    return spec_from_mapping(
        {
            "name": spec.name,
            "key": {"field": "day", "format": "date"},
            "topics": {"output": "contract-out"},
            "processors": {"required": list(spec.required[:-1])},
            "deadlines": [{"name": "1h", "after_first": "1h", "required": 0.0, "min_done": 2}],
        }
    )


def completion_event(
    processor: str, key: str = "2025-11-29", *, claim: bool = False, at: datetime = T0
) -> Event:
    return CompletionReported(
        at=at,
        completion=Completion(
            processor=processor, key=key, status="success", execution_id=f"{processor}-run"
        ),
        claim=Claim(owner="contract", until=T0 + timedelta(minutes=1)) if claim else None,
    )


class InterferingActor(Generic[D]):
    """Wraps any actor; before each of its first ``times`` steps, ``interfere()`` runs — e.g.
    a concurrent writer committing through another handle while this step is in flight."""

    def __init__(self, inner: Actor[D], interfere: Callable[[], object], times: int) -> None:
        self.inner = inner
        self.interfere = interfere
        self.times = times
        self.steps = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def validate_key(self, key: object) -> str:
        return self.inner.validate_key(key)

    def initial(self, key: str) -> Snapshot[D]:
        return self.inner.initial(key)

    def step(self, snapshot: Snapshot[D], event: Event) -> Stepped[D]:
        self.steps += 1
        if self.steps <= self.times:
            self.interfere()
        return self.inner.step(snapshot, event)

    def encode(self, snapshot: Snapshot[D]) -> dict[str, Any]:
        return self.inner.encode(snapshot)

    def decode(self, document: Mapping[str, Any]) -> Snapshot[D]:
        return self.inner.decode(document)

    def encode_event(self, event: Event) -> dict[str, Any]:
        return self.inner.encode_event(event)

    def decode_event(self, document: Mapping[str, Any]) -> Event:
        return self.inner.decode_event(document)

    def due_at(self, snapshot: Snapshot[D]) -> datetime | None:
        return self.inner.due_at(snapshot)


class StoreContract:
    """Behaviour every store shares. Subclasses provide the store."""

    key = "2025-11-29"

    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        raise NotImplementedError

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        """A second connection to the same data (the same object for in-process stores)."""
        return store

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.create_store(tmp_path)
        yield store
        store.close()

    @pytest.fixture
    def actor(self) -> GateActor:
        return GateActor(contract_spec())

    def test_missing_key_loads_none(self, store: Store, actor: GateActor) -> None:
        assert store.load(actor, self.key) is None

    def test_apply_creates_the_key_and_versions_increment(
        self, store: Store, actor: GateActor
    ) -> None:
        first = store.apply(actor, self.key, completion_event("p0"))
        second = store.apply(actor, self.key, completion_event("p1"))
        assert (first.committed, first.snapshot.version) == (True, 1)
        assert (second.committed, second.snapshot.version) == (True, 2)
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert loaded.version == 2
        assert set(loaded.data.done) == {"p0", "p1"}
        assert loaded == second.snapshot

    def test_unchanged_step_does_not_write(self, store: Store, actor: GateActor) -> None:
        store.apply(actor, self.key, completion_event("p0"))
        again = store.apply(actor, self.key, completion_event("p0"))
        assert again.outcome is Outcome.DUPLICATE
        assert not again.committed
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert loaded.version == 1

    def test_raising_step_persists_nothing(self, store: Store, actor: GateActor) -> None:
        store.apply(actor, self.key, completion_event("p0"))

        def boom() -> None:
            raise RuntimeError("step failed half-way")

        with pytest.raises(RuntimeError, match="half-way"):
            store.apply(InterferingActor(actor, boom, 1), self.key, completion_event("p1"))
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert (loaded.version, set(loaded.data.done)) == (1, {"p0"})

    def test_conflict_reruns_the_step(self, store: Store, actor: GateActor, tmp_path: Path) -> None:
        other = self.other_handle(store, tmp_path)
        interfering = InterferingActor(
            actor, lambda: other.apply(actor, self.key, completion_event("p1")), times=1
        )
        applied = store.apply(interfering, self.key, completion_event("p0"))
        assert interfering.steps == 2
        assert applied.attempts == 2
        assert set(applied.snapshot.data.done) == {"p0", "p1"}
        assert applied.snapshot.version == 2

    def test_exhausted_retry_budget_raises_contention_error(
        self, actor: GateActor, tmp_path: Path
    ) -> None:
        store = self.create_store(tmp_path, retry=RetryPolicy(max_attempts=3, base_delay=0))
        other = self.other_handle(store, tmp_path)
        writers = iter(["p1", "p2", "p0"])
        interfering = InterferingActor(
            actor, lambda: other.apply(actor, self.key, completion_event(next(writers))), times=3
        )
        with pytest.raises(ContentionError) as caught:
            store.apply(interfering, self.key, completion_event("p3-never"))
        assert caught.value.attempts == 3
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert set(loaded.data.done) == {"p0", "p1", "p2"}
        assert "p3-never" not in loaded.data.unknown
        store.close()

    def test_outbox_and_state_commit_together(self, store: Store, actor: GateActor) -> None:
        for name in ("p0", "p1"):
            store.apply(actor, self.key, completion_event(name))
        decided = store.apply(actor, self.key, completion_event("p2", claim=True))
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert loaded.state == "complete"
        assert [e.id for e in loaded.outbox] == ["contract_gate/2025-11-29/1"]
        assert loaded.outbox[0].lease is not None
        assert loaded == decided.snapshot
        confirm = OutboxPublished(
            at=T0, entry_id=loaded.outbox[0].id, message_id="m-1", owner="contract"
        )
        store.apply(actor, self.key, confirm)
        confirmed = store.load(actor, self.key)
        assert confirmed is not None
        assert (confirmed.state, confirmed.outbox) == ("triggered", ())
        assert confirmed.data.trigger is not None
        assert confirmed.data.trigger.message_id == "m-1"

    def test_threads_on_one_key_lose_nothing(self, tmp_path: Path) -> None:
        count = 16
        actor = GateActor(contract_spec(count))
        store = self.create_store(tmp_path)
        start = threading.Barrier(count)
        errors: list[BaseException] = []

        def deliver(name: str) -> None:
            handle = self.other_handle(store, tmp_path)
            start.wait()
            try:
                handle.apply(actor, self.key, completion_event(name))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(f"p{i}",)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        loaded = store.load(actor, self.key)
        assert loaded is not None
        assert set(loaded.data.done) == {f"p{i}" for i in range(count)}
        assert loaded.version == count
        assert loaded.state == "complete"
        assert len(loaded.outbox) == 1
        store.close()

    def test_scan_filters_by_state_and_pending_outbox(self, store: Store, actor: GateActor) -> None:
        store.apply(actor, "2025-11-01", completion_event("p0", "2025-11-01"))
        for name in ("p0", "p1", "p2"):
            store.apply(actor, "2025-11-02", completion_event(name, "2025-11-02"))
        assert [s.key for s in store.scan(actor)] == ["2025-11-01", "2025-11-02"]
        assert [s.key for s in store.scan(actor, states=["partial"])] == ["2025-11-01"]
        assert [s.key for s in store.scan(actor, pending_outbox=True)] == ["2025-11-02"]
        assert [s.key for s in store.scan(actor, limit=1)] == ["2025-11-01"]

    def test_a_scan_limit_keeps_the_first_keys_whatever_the_filter(
        self, store: Store, actor: GateActor
    ) -> None:
        """``limit`` means the first ``limit`` matching snapshots by key, on every store,
        also when a range filter orders a backend's results by another field."""
        later = T0 + timedelta(minutes=30)  # the later key's deadline falls later
        for key, at in (("2025-11-03", T0), ("2025-11-01", later), ("2025-11-02", T0)):
            store.apply(actor, key, completion_event("p0", key, at=at))
        due = later + timedelta(hours=2)
        assert [s.key for s in store.scan(actor, due_before=due)] == [
            "2025-11-01",
            "2025-11-02",
            "2025-11-03",
        ]
        assert [s.key for s in store.scan(actor, due_before=due, limit=2)] == [
            "2025-11-01",
            "2025-11-02",
        ]

    def test_a_scan_reads_a_page_of_keys_newest_first(self, store: Store, actor: GateActor) -> None:
        """``start <= key < stop``, ``descending`` and ``limit`` together read one page of a
        listing, newest first, on every store and with every filter."""
        keys = [f"2025-11-0{day}" for day in range(1, 7)]
        for key in keys:
            store.apply(actor, key, completion_event("p0", key))
        for name in ("p0", "p1", "p2"):  # one key leaves `partial`
            store.apply(actor, "2025-11-04", completion_event(name, "2025-11-04"))

        def page(**options: Any) -> list[str]:
            return [s.key for s in store.scan(actor, **options)]

        assert page(descending=True) == keys[::-1]
        assert page(descending=True, limit=2) == ["2025-11-06", "2025-11-05"]
        assert page(descending=True, limit=2, stop="2025-11-05") == ["2025-11-04", "2025-11-03"]
        assert page(start="2025-11-02", stop="2025-11-04") == ["2025-11-02", "2025-11-03"]
        assert page(start="2025-11-05", limit=1) == ["2025-11-05"]
        assert page(stop="2025-11-02\x00") == ["2025-11-01", "2025-11-02"]  # an inclusive end
        partial = {"states": ["partial"]}
        assert page(**partial, descending=True, limit=2) == ["2025-11-06", "2025-11-05"]
        assert page(**partial, stop="2025-11-05", descending=True, limit=2) == [
            "2025-11-03",
            "2025-11-02",
        ]
        assert page(**partial, start="2025-11-02", limit=2) == ["2025-11-02", "2025-11-03"]
        due = T0 + timedelta(hours=1)
        assert page(due_before=due, stop="2025-11-03", descending=True) == [
            "2025-11-02",
            "2025-11-01",
        ]

    def test_scan_finds_keys_by_due_deadline(self, store: Store, actor: GateActor) -> None:
        store.apply(actor, "2025-11-01", completion_event("p0", "2025-11-01"))
        for name in ("p0", "p1", "p2"):
            store.apply(actor, "2025-11-02", completion_event(name, "2025-11-02"))
        due = T0 + timedelta(hours=1)  # the 1h tier of the undecided key; none for the other
        assert [s.key for s in store.scan(actor, due_before=due - timedelta(seconds=1))] == []
        assert [s.key for s in store.scan(actor, due_before=due)] == ["2025-11-01"]

    def test_quarantine_keeps_reason_and_raw_message(self, store: Store) -> None:
        record = Quarantined(
            at=T0,
            reason="InvalidMessage: status: 'done' is not valid",
            raw='{"status": "done"}',
            source="test",
            actor="contract_gate",
            message_id="m-9",
        )
        store.quarantine(record)
        assert store.quarantined() == [record]
        assert store.quarantined("contract_gate") == [record]
        assert store.quarantined(actor="other") == []

    def test_quarantined_is_newest_first_and_limited(self, store: Store) -> None:
        for minute in range(5):
            store.quarantine(
                Quarantined(
                    at=T0 + timedelta(minutes=minute), reason=f"r{minute}", raw="x", actor="g"
                )
            )
        assert [q.reason for q in store.quarantined("g", limit=3)] == ["r4", "r3", "r2"]

    def test_each_quarantined_message_has_an_id_that_finds_it(self, store: Store) -> None:
        first = Quarantined(at=T0, reason="r1", raw='{"a": 1}', actor="g", message_id="m-1")
        second = Quarantined(at=T0 + timedelta(minutes=1), reason="r2", raw="x", actor="g")
        ids = [store.quarantine(first), store.quarantine(second)]
        assert len(set(ids)) == 2
        assert all(isinstance(i, str) and i for i in ids)
        assert [q.id for q in store.quarantined("g")] == ids[::-1]
        found = store.quarantined_record(ids[0])
        assert found == first
        assert found is not None
        assert found.id == ids[0]

    def test_an_unknown_quarantine_id_finds_nothing(self, store: Store) -> None:
        store.quarantine(Quarantined(at=T0, reason="r", raw="x", actor="g"))
        for unknown in ("999999", "nope", "../x", "a/b", " ", "-1", "1.0", "x" * 2000):
            assert store.quarantined_record(unknown) is None, unknown

    def _resolution(self, record: Quarantined, action: str, minute: int) -> Resolution:
        return Resolution.of(
            record, action=action, at=T0 + timedelta(minutes=minute), by="ana", reason="why"
        )

    def test_resolving_removes_the_message_and_keeps_its_audit_entry(self, store: Store) -> None:
        raw = '{"processor_name": "p0"}'
        record_id = store.quarantine(
            Quarantined(at=T0, reason="InvalidMessage: x", raw=raw, actor="g", message_id="m")
        )
        other = store.quarantine(Quarantined(at=T0, reason="r", raw="y", actor="g"))
        record = store.quarantined_record(record_id)
        assert record is not None
        resolution = self._resolution(record, "purged", 5)
        assert store.resolve_quarantined(resolution)
        assert store.quarantined_record(record_id) is None
        assert [q.id for q in store.quarantined()] == [other]
        [kept] = store.resolutions()
        assert kept == resolution
        assert (kept.id, kept.actor, kept.message_id, kept.quarantine_reason) == (
            record_id,
            "g",
            "m",
            "InvalidMessage: x",
        )
        assert kept.raw_bytes == len(raw)
        assert len(kept.raw_sha256) == 64

    def test_a_message_is_resolved_once(self, store: Store) -> None:
        record_id = store.quarantine(Quarantined(at=T0, reason="r", raw="x", actor="g"))
        record = store.quarantined_record(record_id)
        assert record is not None
        assert store.resolve_quarantined(self._resolution(record, "replayed", 1))
        assert not store.resolve_quarantined(self._resolution(record, "purged", 2))
        assert [r.action for r in store.resolutions()] == ["replayed"]

    def test_resolutions_are_newest_first_filtered_and_limited(self, store: Store) -> None:
        for minute, gate in enumerate(["g", "h", "g", "g"]):
            record_id = store.quarantine(
                Quarantined(at=T0, reason=f"r{minute}", raw="x", actor=gate)
            )
            record = store.quarantined_record(record_id)
            assert record is not None
            store.resolve_quarantined(self._resolution(record, "purged", minute))
        assert [r.quarantine_reason for r in store.resolutions("g", limit=2)] == ["r3", "r2"]
        assert [r.quarantine_reason for r in store.resolutions("h")] == ["r1"]
        assert len(store.resolutions()) == 4

    # -- versioned definitions ------------------------------------------------------------

    def test_a_definition_is_kept_once_per_fingerprint(self, store: Store) -> None:
        first = DefinitionRecord(
            actor="g", fingerprint="f1", document={"required": ["a"], "quorum": 0.5}, recorded_at=T0
        )
        later = DefinitionRecord(
            actor="g", fingerprint="f1", document={"other": True}, recorded_at=T0 + timedelta(1)
        )
        assert store.record_definition(first) == first
        assert store.record_definition(later) == first
        assert store.definition("g", "f1") == first
        assert store.definition("g", "f2") is None
        assert store.definition("other", "f1") is None

    def test_definitions_are_listed_per_actor_oldest_first(self, store: Store) -> None:
        for name, fingerprint, minutes in (("g", "f2", 5), ("g", "f1", 1), ("h", "f3", 0)):
            store.record_definition(
                DefinitionRecord(
                    actor=name,
                    fingerprint=fingerprint,
                    document={"n": minutes},
                    recorded_at=T0 + timedelta(minutes=minutes),
                )
            )
        assert [r.fingerprint for r in store.definitions("g")] == ["f1", "f2"]
        assert [r.fingerprint for r in store.definitions("h")] == ["f3"]
        assert store.definitions("none") == []

    def test_a_pinned_key_steps_under_its_definition_in_a_handler_that_never_saw_it(
        self, store: Store, actor: GateActor, tmp_path: Path
    ) -> None:
        """The key started under the three-processor definition; a handler whose gate file
        dropped p2 (and that never heard of the old definition) reads it from the store
        before it steps, so p0 and p1 do not trigger the key."""
        store.record_definition(actor.definition_record(T0))
        store.apply(actor, self.key, completion_event("p0"))
        newer = GateActor(contract_spec_changed())
        applied = self.other_handle(store, tmp_path).apply(newer, self.key, completion_event("p1"))
        assert (applied.snapshot.state, applied.snapshot.data.definition) == (
            "partial",
            actor.fingerprint,
        )
        assert newer.known_definition(actor.fingerprint) is not None

    def test_threads_on_a_pinned_key_all_step_under_its_definition(self, tmp_path: Path) -> None:
        """Concurrent handlers of one key (folded into one commit by a store that combines
        them) each know only the newer definition; all step under the key's own."""
        count = 12
        old = GateActor(contract_spec(count + 1))  # p0 .. p12: p12 never reports
        store = self.create_store(tmp_path)
        store.record_definition(old.definition_record(T0))
        store.apply(old, self.key, completion_event("p0"))
        start = threading.Barrier(count - 1)
        errors: list[BaseException] = []

        def deliver(name: str) -> None:
            handle = self.other_handle(store, tmp_path)
            newer = GateActor(contract_spec_changed(count + 1))  # p12 is not required there
            start.wait()
            try:
                handle.apply(newer, self.key, completion_event(name))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(f"p{i}",)) for i in range(1, count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        loaded = store.load(old, self.key)
        assert loaded is not None
        assert set(loaded.data.done) == {f"p{i}" for i in range(count)}
        assert (loaded.state, loaded.outbox, loaded.data.definition) == (
            "partial",
            (),
            old.fingerprint,
        )
        store.close()
