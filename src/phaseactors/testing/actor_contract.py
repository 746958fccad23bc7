"""The contract any actor passes on any store: the kernel's promises, checked with the
actor's own events.

Subclass :class:`ActorContract` in a test module (name it ``Test...``) and say which actor,
which store and which events::

    class TestMyActorOnSqlite(ActorContract):
        def create_actor(self):
            return MyActor()

        def create_store(self, tmp_path, retry=None):
            return SqliteStore(tmp_path / "db", retry=retry)

        def events(self, key):
            return [Started(at=T0, ...), Finished(at=T0 + MINUTE, ...)]

``events`` are events for ``key`` that each change it when applied in order, at least one of
them deciding an outbox entry. The contract then checks: versions, purity of the step, the
JSON of snapshots and events, a raising step persisting nothing, a conflict re-running the
step, the outbox committing with the state and leaving it on confirmation, redeliveries
changing nothing (for actors that deduplicate), and the sweeper finding due keys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from ..core.actor import Actor, Outcome
from ..core.events import Claim, Event, OutboxPublished, Tick
from ..core.snapshot import Snapshot
from ..core.store import RetryPolicy, Store
from .store_contract import InterferingActor

__all__ = ["ActorContract"]


class ActorContract:
    """Behaviour every actor shares on every store. Subclasses provide all three."""

    key: ClassVar[str] = "2025-11-29"
    #: Whether applying an event twice changes nothing the second time (a dedup token).
    deduplicates: ClassVar[bool] = True

    def create_actor(self) -> Actor[Any]:
        raise NotImplementedError

    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        raise NotImplementedError

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        """A second connection to the same data (the same object for in-process stores)."""
        return store

    def events(self, key: str) -> list[Event]:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.create_store(tmp_path)
        yield store
        store.close()

    @pytest.fixture
    def actor(self) -> Actor[Any]:
        return self.create_actor()

    # -- helpers -------------------------------------------------------------------------

    def folded(self, actor: Actor[Any], count: int) -> list[Snapshot[Any]]:
        """The snapshots after each of the first ``count`` events, by the pure step alone."""
        snapshot = actor.initial(self.key)
        snapshots = []
        for event in self.events(self.key)[:count]:
            snapshot = actor.step(snapshot, event).snapshot
            snapshots.append(snapshot)
        return snapshots

    # -- the contract --------------------------------------------------------------------

    def test_the_events_change_the_key_and_one_decides_a_message(self, actor: Actor[Any]) -> None:
        events = self.events(self.key)
        assert len(events) >= 2, "give at least two events"
        snapshot = actor.initial(self.key)
        for event in events:
            stepped = actor.step(snapshot, event)
            assert stepped.snapshot is not snapshot, f"{type(event).__name__} changed nothing"
            snapshot = stepped.snapshot
        assert any(s.outbox for s in self.folded(actor, len(events))), "no event decides a message"

    def test_a_missing_key_loads_none(self, store: Store, actor: Actor[Any]) -> None:
        assert store.load(actor, self.key) is None

    def test_each_event_commits_one_version(self, store: Store, actor: Actor[Any]) -> None:
        for number, (event, expected) in enumerate(
            zip(self.events(self.key), self.folded(actor, 99), strict=False), start=1
        ):
            applied = store.apply(actor, self.key, event)
            assert (applied.committed, applied.snapshot.version) == (True, number)
            assert applied.snapshot == expected
            assert store.load(actor, self.key) == expected

    def test_the_step_is_pure(self, actor: Actor[Any]) -> None:
        snapshot = actor.initial(self.key)
        for event in self.events(self.key):
            before = copy.deepcopy(snapshot)
            first, second = actor.step(snapshot, event), actor.step(snapshot, event)
            assert first == second, "the same step gave two results"
            assert snapshot == before, "the step changed its input"
            snapshot = first.snapshot

    def test_snapshots_and_events_survive_their_json(self, actor: Actor[Any]) -> None:
        for event in [*self.events(self.key), Tick(at=self.events(self.key)[0].at)]:
            document = json.loads(json.dumps(actor.encode_event(event)))
            assert actor.decode_event(document) == event
        for snapshot in self.folded(actor, 99):
            document = json.loads(json.dumps(actor.encode(snapshot)))
            assert actor.decode(document) == snapshot

    def test_a_redelivered_event_changes_nothing(self, store: Store, actor: Actor[Any]) -> None:
        if not self.deduplicates:
            pytest.skip("this actor does not deduplicate its events")
        for event in self.events(self.key):
            store.apply(actor, self.key, event)
            loaded = store.load(actor, self.key)
            again = store.apply(actor, self.key, event)
            assert not again.committed
            assert again.outcome in (Outcome.DUPLICATE, Outcome.STALE, Outcome.UNCHANGED)
            assert store.load(actor, self.key) == loaded

    def test_a_raising_step_persists_nothing(self, store: Store, actor: Actor[Any]) -> None:
        first, second, *_ = self.events(self.key)
        store.apply(actor, self.key, first)

        def boom() -> None:
            raise RuntimeError("step failed half-way")

        with pytest.raises(RuntimeError, match="half-way"):
            store.apply(InterferingActor(actor, boom, 1), self.key, second)
        assert store.load(actor, self.key) == self.folded(actor, 1)[0]

    def test_a_conflict_reruns_the_step(
        self, store: Store, actor: Actor[Any], tmp_path: Path
    ) -> None:
        first, second, *_ = self.events(self.key)
        store.apply(actor, self.key, first)
        other = self.other_handle(store, tmp_path)
        interfering = InterferingActor(actor, lambda: other.apply(actor, self.key, second), times=1)
        applied = store.apply(interfering, self.key, second)
        assert interfering.steps == 2
        assert applied.attempts == 2
        committed = self.folded(actor, 2)[1]
        expected = actor.step(committed, second).snapshot  # the rerun, on the winner's commit
        assert applied.snapshot == expected
        assert store.load(actor, self.key) == expected

    def test_the_outbox_commits_with_the_state_and_leaves_on_confirmation(
        self, store: Store, actor: Actor[Any]
    ) -> None:
        for event in self.events(self.key):
            claim = Claim(owner="contract", until=event.at + timedelta(minutes=1))
            applied = store.apply(actor, self.key, attrs.evolve(event, claim=claim))
            loaded = store.load(actor, self.key)
            assert loaded == applied.snapshot
            if loaded is not None and loaded.outbox:
                break
        else:
            pytest.fail("no event decided a message")
        entry = loaded.outbox[0]
        assert entry.lease is not None
        assert entry.lease.owner == "contract"
        confirm = OutboxPublished(
            at=event.at, entry_id=entry.id, message_id="m-1", owner="contract"
        )
        store.apply(actor, self.key, confirm)
        confirmed = store.load(actor, self.key)
        assert confirmed is not None
        assert confirmed.outbox_entry(entry.id) is None

    def test_due_keys_are_found_by_the_sweep(self, store: Store, actor: Actor[Any]) -> None:
        found_due = False
        for event in self.events(self.key):
            snapshot = store.apply(actor, self.key, event).snapshot
            due = actor.due_at(snapshot)
            if due is None:
                assert self.key not in {
                    s.key for s in store.scan(actor, due_before=event.at + timedelta(days=3650))
                }
                continue
            found_due = True
            assert self.key in {s.key for s in store.scan(actor, due_before=due)}
            early = due - timedelta(seconds=1)
            assert self.key not in {s.key for s in store.scan(actor, due_before=early)}
        if not found_due:
            pytest.skip("no event leaves the key with a deadline")
