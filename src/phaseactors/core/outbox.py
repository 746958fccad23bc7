"""Outbox lease rules: who may publish a pending entry, and what publishing or failing to
publish does to it. Applied by every actor's step, before and after its own transitions."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import attrs

from .actor import Outcome, Stepped
from .events import Claim, OutboxReleased
from .snapshot import Lease, OutboxEntry, Snapshot

__all__ = ["claim", "release", "without_entry"]

D = TypeVar("D")


def release(snapshot: Snapshot[D], event: OutboxReleased) -> Stepped[D]:
    """The lease holder gives a pending entry back after a failed publish (counted)."""
    entry = snapshot.outbox_entry(event.entry_id)
    if entry is None or entry.lease is None or entry.lease.owner != event.owner:
        return Stepped(snapshot, Outcome.STALE, "lease not held")
    released = _replace_entry(
        snapshot,
        attrs.evolve(
            entry,
            lease=None,
            publish_attempts=entry.publish_attempts + 1,
            last_error=event.error or None,
        ),
    )
    return Stepped(released, Outcome.APPLIED)


def claim(snapshot: Snapshot[D], request: Claim, now: datetime) -> Snapshot[D]:
    """Lease every pending entry that is free (or already ``request.owner``'s) to its owner."""
    result = snapshot
    for entry in snapshot.outbox:
        if entry.lease is not None and entry.lease.owner == request.owner:
            continue
        if entry.claimable_by(request.owner, now):
            lease = Lease(owner=request.owner, until=request.until)
            result = _replace_entry(result, attrs.evolve(entry, lease=lease))
    return result


def _replace_entry(snapshot: Snapshot[D], entry: OutboxEntry) -> Snapshot[D]:
    return snapshot.evolve(outbox=tuple(entry if e.id == entry.id else e for e in snapshot.outbox))


def without_entry(snapshot: Snapshot[D], entry_id: str) -> Snapshot[D]:
    """The snapshot with outbox entry ``entry_id`` gone (it was published)."""
    return snapshot.evolve(outbox=tuple(e for e in snapshot.outbox if e.id != entry_id))
