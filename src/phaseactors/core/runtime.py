"""Deliver an event: transact(step) → publish the outbox under a lease → confirm.

The delivery whose commit puts a message in the outbox also takes the lease on it in the same
commit, so exactly one live handler publishes it. A transient publish failure
(:class:`~phaseactors.errors.PublishFailed`, or any ``OSError``) releases the lease and is
raised as ``PublishFailed``: the entry stays pending until a redelivery or
:meth:`Runtime.sweep` publishes it, with the same id. Any other exception from a publisher is
a bug that retrying cannot fix: the lease is released with the error, the delivery returns
(its event was applied) with the entry in ``unpublished``, and the sweep reports the key until
the publisher is fixed. A crashed handler's lease simply expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
import warnings
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Generic, TypeVar

import attrs
from attrs import field, frozen

from ..errors import PhaseactorsError, PublishFailed, TransientError
from . import telemetry
from .actor import Actor, Outcome
from .clock import Clock, utcnow
from .events import Claim, Event, OutboxPublished, OutboxReleased, Tick
from .publisher import Publisher
from .snapshot import OutboxEntry, Snapshot
from .store import Applied, Store

__all__ = ["DEFAULT_LEASE", "Delivery", "Runtime", "SweepReport"]

D = TypeVar("D")
log = logging.getLogger("phaseactors.runtime")

#: How long the delivery that commits an outbox entry holds it for publishing. Longer than
#: the publisher's timeout (Pub/Sub: 30 s), so that a slow publish is not taken over mid-flight.
DEFAULT_LEASE = timedelta(seconds=60)


@frozen
class Delivery(Generic[D]):
    """The result of one delivery: the outcome, the snapshot after it, what it published, and
    what it could not publish because the publisher failed for good (entry id: error)."""

    key: str
    outcome: Outcome
    snapshot: Snapshot[D]
    detail: str = ""
    published: tuple[str, ...] = ()
    attempts: int = 1
    committed: bool = False
    unpublished: dict[str, str] = field(factory=dict)
    carried: tuple[Event, ...] = ()
    """Other deliveries' events this one applied for them (see ``Applied.carried``)."""


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

    def send(self, key: str, event: Event) -> Delivery[D]:
        """Apply ``event`` to ``key``, claiming pending outbox entries, then publish them."""
        key = self.actor.validate_key(key)
        owner = f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"
        event = attrs.evolve(event, claim=Claim(owner=owner, until=event.at + self.lease))
        actor = self.actor.name
        applied = self._apply(key, event)
        telemetry.count("phaseactors.deliveries", actor=actor, outcome=applied.outcome.value)
        telemetry.record("phaseactors.attempts", applied.attempts, actor=actor)
        with telemetry.annotated(outcome=applied.outcome.value):  # the publish lines carry it
            snapshot, published, unpublished = self._publish_leased(key, applied.snapshot, owner)
        return Delivery(
            key=key,
            outcome=applied.outcome,
            snapshot=snapshot,
            detail=applied.detail,
            published=published,
            attempts=applied.attempts,
            committed=applied.committed,
            unpublished=unpublished,
            carried=applied.carried,
        )

    def _apply(self, key: str, event: Event) -> Applied[D]:
        with telemetry.span("phaseactors.apply", actor=self.actor.name, key=key, event=event.kind):
            return self.store.apply(self.actor, key, event)

    def tick(self, key: str) -> Delivery[D]:
        """Evaluate what is due for ``key`` and re-drive any pending outbox entry."""
        return self.send(key, Tick(at=self.clock()))

    def load(self, key: str) -> Snapshot[D] | None:
        return self.store.load(self.actor, self.actor.validate_key(key))

    def __getattr__(self, name: str) -> Any:
        """Commands that moved from this class to an actor type's own runtime class still
        work here for one release, with a warning: the actor names them
        (``moved_commands``) and the class (``runtime_class()``)."""
        actor = self.__dict__.get("actor")
        if actor is None or name not in getattr(actor, "moved_commands", ()):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        runtime_class = actor.runtime_class()
        warnings.warn(
            f"Runtime.{name} moved to {runtime_class.__name__}; this alias goes in the next"
            " release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(runtime_class, name).__get__(self)

    # -- outbox --------------------------------------------------------------------------

    def _publish_leased(
        self, key: str, snapshot: Snapshot[D], owner: str
    ) -> tuple[Snapshot[D], tuple[str, ...], dict[str, str]]:
        published: list[str] = []
        unpublished: dict[str, str] = {}
        for entry in snapshot.outbox:
            if entry.lease is None or entry.lease.owner != owner:
                continue
            if not entry.lease.held_at(self.clock()):  # too slow: another may already publish
                log.warning("lease on %s expired before publishing; leaving it", entry.id)
                continue
            message_id = self._publish(key, entry, owner)
            if message_id is None:
                unpublished[entry.id] = "the publisher failed for good; see the entry's last error"
                continue
            confirm = OutboxPublished(
                at=self.clock(), entry_id=entry.id, message_id=message_id, owner=owner
            )
            snapshot = self._apply(key, confirm).snapshot
            published.append(message_id)
            log.info("published %s as %s", entry.id, message_id)
        return snapshot, tuple(published), unpublished

    def _publish(self, key: str, entry: OutboxEntry, owner: str) -> str | None:
        """The message id, or None when the publisher failed in a way retrying cannot fix;
        raises :class:`PublishFailed` when it may succeed later."""
        try:
            with telemetry.span("phaseactors.publish", entry=entry.id, topic=entry.topic):
                return self.publisher.publish(entry)
        except Exception as exc:
            telemetry.count("phaseactors.publish_failures", actor=self.actor.name)
            transient = isinstance(exc, TransientError | OSError)  # OSError: network, timeouts
            if transient:
                log.warning("publish of %s failed: %s", entry.id, exc)
            else:
                log.error("publisher bug publishing %s (left pending): %r", entry.id, exc)
            release = OutboxReleased(
                at=self.clock(), entry_id=entry.id, owner=owner, error=f"{exc}"[:1000]
            )
            try:
                self._apply(key, release)
            except PhaseactorsError as release_error:  # the lease will expire on its own
                log.warning("could not release lease on %s: %s", entry.id, release_error)
            if not transient:
                return None
            if isinstance(exc, PublishFailed):
                raise
            raise PublishFailed(f"{entry.id}: {exc}") from exc

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
            if delivery.unpublished:
                errors[key] = "; ".join(f"{i}: {e}" for i, e in delivery.unpublished.items())
            if delivery.snapshot.outbox:
                still_pending.append(key)
        return SweepReport(visited, tuple(published), tuple(still_pending), errors)
