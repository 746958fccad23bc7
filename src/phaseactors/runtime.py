"""Deliver an event: transact(step) → publish the outbox under a lease → confirm.

The delivery that commits a trigger decision also takes the lease on it in the same commit, so
exactly one live handler publishes. A failed publish releases the lease and raises
:class:`~phaseactors.errors.PublishFailed` (transient): the key stays ``complete`` with its
pending trigger until a redelivery or :meth:`Runtime.sweep` publishes it, with the same
``trigger_id``. A crashed handler's lease simply expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Generic, TypeVar

import attrs
from attrs import field, frozen

from .actor import Actor, Outcome
from .clock import Clock, utcnow
from .completion import Completion
from .errors import PhaseactorsError, PublishFailed
from .events import (
    Claim,
    CompletionReported,
    Event,
    FailKey,
    ForceTrigger,
    OutboxPublished,
    OutboxReleased,
    Rearm,
    Tick,
)
from .publishers.base import Publisher
from .snapshot import OutboxEntry, Snapshot
from .stores.base import Store

__all__ = ["Delivery", "Runtime", "SweepReport"]

D = TypeVar("D")
log = logging.getLogger("phaseactors.runtime")

# How long the delivery that decides a trigger holds it for publishing. Longer than the
# publisher's timeout (Pub/Sub: 30 s), so that a slow publish is not taken over mid-flight.
DEFAULT_LEASE = timedelta(seconds=60)


@frozen
class Delivery(Generic[D]):
    """The result of one delivery: the outcome, the snapshot after it, what it published."""

    key: str
    outcome: Outcome
    snapshot: Snapshot[D]
    detail: str = ""
    published: tuple[str, ...] = ()
    attempts: int = 1
    committed: bool = False


@frozen
class SweepReport:
    """What a sweep did: keys visited, messages published, and per-key errors."""

    visited: int = 0
    published: tuple[str, ...] = ()
    still_pending: tuple[str, ...] = ()
    errors: dict[str, str] = field(factory=dict)


def _owner_prefix() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Runtime(Generic[D]):
    """Drives one actor type over a store and a publisher."""

    def __init__(
        self,
        actor: Actor[D],
        store: Store,
        publisher: Publisher,
        *,
        clock: Clock = utcnow,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.actor = actor
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.lease = lease
        self._owner_prefix = _owner_prefix()

    # -- events --------------------------------------------------------------------------

    def deliver(self, completion: Completion) -> Delivery[D]:
        """Apply one completion (duplicates and late ones included) and publish what is due."""
        key = self.actor.validate_key(completion.key)
        return self.send(key, CompletionReported(at=self.clock(), completion=completion))

    def force(self, key: str, reason: str, by: str) -> Delivery[D]:
        return self.send(key, ForceTrigger(at=self.clock(), reason=reason, by=by))

    def rearm(self, key: str, reason: str, by: str) -> Delivery[D]:
        return self.send(key, Rearm(at=self.clock(), reason=reason, by=by))

    def fail(self, key: str, reason: str, by: str) -> Delivery[D]:
        return self.send(key, FailKey(at=self.clock(), reason=reason, by=by))

    def tick(self, key: str) -> Delivery[D]:
        """Evaluate deadlines and re-drive any pending outbox entry of ``key``."""
        return self.send(key, Tick(at=self.clock()))

    def send(self, key: str, event: Event) -> Delivery[D]:
        """Apply ``event`` to ``key``, claiming pending outbox entries, then publish them."""
        key = self.actor.validate_key(key)
        owner = f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"
        event = attrs.evolve(event, claim=Claim(owner=owner, until=event.at + self.lease))
        applied = self.store.apply(self.actor, key, event)
        snapshot, published = self._publish_leased(key, applied.snapshot, owner)
        return Delivery(
            key=key,
            outcome=applied.outcome,
            snapshot=snapshot,
            detail=applied.detail,
            published=published,
            attempts=applied.attempts,
            committed=applied.committed,
        )

    def load(self, key: str) -> Snapshot[D] | None:
        return self.store.load(self.actor, self.actor.validate_key(key))

    # -- outbox --------------------------------------------------------------------------

    def _publish_leased(
        self, key: str, snapshot: Snapshot[D], owner: str
    ) -> tuple[Snapshot[D], tuple[str, ...]]:
        published: list[str] = []
        for entry in snapshot.outbox:
            if entry.lease is None or entry.lease.owner != owner:
                continue
            if not entry.lease.held_at(self.clock()):  # too slow: another may already publish
                log.warning("lease on %s expired before publishing; leaving it", entry.id)
                continue
            message_id = self._publish(key, entry, owner)
            confirm = OutboxPublished(
                at=self.clock(), entry_id=entry.id, message_id=message_id, owner=owner
            )
            snapshot = self.store.apply(self.actor, key, confirm).snapshot
            published.append(message_id)
            log.info("published %s as %s", entry.id, message_id)
        return snapshot, tuple(published)

    def _publish(self, key: str, entry: OutboxEntry, owner: str) -> str:
        try:
            return self.publisher.publish(entry)
        except Exception as exc:
            error = exc if isinstance(exc, PublishFailed) else PublishFailed(f"{entry.id}: {exc}")
            log.warning("publish of %s failed: %s", entry.id, exc)
            release = OutboxReleased(
                at=self.clock(), entry_id=entry.id, owner=owner, error=str(exc)
            )
            try:
                self.store.apply(self.actor, key, release)
            except PhaseactorsError as release_error:  # the lease will expire on its own
                log.warning("could not release lease on %s: %s", entry.id, release_error)
            raise error from exc

    # -- sweeping ------------------------------------------------------------------------

    def sweep(self, keys: Iterable[str] | None = None) -> SweepReport:
        """Tick every key with a pending outbox, a due deadline or stranded events (or the
        given keys)."""
        if keys is None:
            now = self.clock()
            pending = {s.key for s in self.store.scan(self.actor, pending_outbox=True)}
            due = {s.key for s in self.store.scan(self.actor, due_before=now)}
            keys = sorted(pending | due | set(self.store.stranded(self.actor)))
        visited = 0
        published: list[str] = []
        still_pending: list[str] = []
        errors: dict[str, str] = {}
        for key in keys:
            visited += 1
            try:
                delivery = self.tick(key)
            except PhaseactorsError as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
                still_pending.append(key)
                continue
            published.extend(delivery.published)
            if delivery.snapshot.outbox:
                still_pending.append(key)
        return SweepReport(visited, tuple(published), tuple(still_pending), errors)
