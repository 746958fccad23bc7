"""Deliberately broken variants, kept to prove the property suite would catch them.

Each is a classic bug of hand-rolled phase gates. They live in the test tree only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from phaseactors import GateRuntime
from phaseactors.core.actor import Actor
from phaseactors.core.events import Event, OutboxPublished, Tick
from phaseactors.core.runtime import Delivery
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.data import GateData
from phaseactors.testing.interleave import InstrumentedMemoryStore

D = TypeVar("D")


class NoIsolationStore(InstrumentedMemoryStore):
    """Commits without checking that the key is still at the version it read: the last
    writer wins, as with a read-then-write that is not one transaction."""

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        if self.scheduler.pause("commit") == "conflict":
            return False
        with self._lock:
            self._snapshots[(actor.name, key)] = snapshot
            self.commits += 1
        return True


class FlagOutsideTransaction(GateRuntime):
    """Publishes when it *reads* a decided, unpublished trigger, then sets the flag in a second
    write (``flag_first`` sets it before publishing): no lease, the check-publish-flag sequence
    is not atomic."""

    flag_first = False

    def send(self, key: str, event: Event) -> Delivery[GateData]:
        key = self.actor.validate_key(key)
        applied = self.store.apply(self.actor, key, attrs.evolve(event, claim=None))
        snapshot = self.store.load(self.actor, key)
        assert snapshot is not None
        published = []
        for entry in snapshot.outbox:
            if self.flag_first:
                self._flag(key, entry.id, "pending")
            message_id = self.publisher.publish(entry)
            if not self.flag_first:
                self._flag(key, entry.id, message_id)
            published.append(message_id)
        return Delivery(key, applied.outcome, snapshot, published=tuple(published))

    def _flag(self, key: str, entry_id: str, message_id: str) -> None:
        confirm = OutboxPublished(
            at=self.clock(), entry_id=entry_id, message_id=message_id, owner="anyone"
        )
        self.store.apply(self.actor, key, confirm)


class FlagBeforePublish(FlagOutsideTransaction):
    flag_first = True


class SweeperDecidesOnReadSnapshot(GateRuntime):
    """A sweeper that reads the key, decides on that snapshot that a due tier lets it
    trigger, and then commits a forced trigger: whatever committed in between (an operator's
    rearm, say) is overruled, and a generation with no completion at all triggers."""

    def tick(self, key: str) -> Delivery[GateData]:
        return tick_on_read_snapshot(self, key, super().tick)


def tick_on_read_snapshot(
    runtime: GateRuntime, key: str, tick: Callable[[str], Delivery[GateData]]
) -> Delivery[GateData]:
    """The broken sweeper's tick of ``key`` (``tick``: the runtime's own)."""
    snapshot = runtime.load(key)
    if snapshot is not None and snapshot.state in ("waiting", "partial"):
        decided = runtime.actor.step(snapshot, Tick(at=runtime.clock())).snapshot
        if decided.state == "complete":
            return runtime.force(key, reason="a deadline tier passed", by="sweeper")
    return tick(key)
