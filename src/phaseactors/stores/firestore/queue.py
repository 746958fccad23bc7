"""Queueing: a contended delivery is acknowledged as soon as its event is durably queued.

When a handler's direct commit loses, it appends its events to the key's queue document
(``inbox/~queue``) in one write, with no precondition (appends never conflict). The write's
transforms answer two questions at no extra cost: ``pending`` (incremented by the events
appended) tells how many events the queue now holds, and ``since`` (a ``minimum`` of the
append times, reset by every fold) when the queue last started waiting for a fold.

- The handler whose append made the queue non-empty is the key's **folder**: it waits a moment
  for the rest of the burst, then folds every queued event into one commit that updates the
  state (under the state document's ``update_time`` precondition) and removes exactly the
  events it folded, decrementing ``pending`` by as many. It folds again until a fold leaves
  ``pending`` at zero; the next append then makes its handler the folder.
- Every other handler returns at once with the outcome ``queued``: its event is durable, so the
  message is acknowledged. A contended delivery costs one read (the failed direct commit's) and
  one write; the folder adds two reads and two writes per fold, whatever the burst's size.
- A queue too full for an append (Firestore's 1 MiB per document) sends that handler's events
  to the key's inbox one document each (:mod:`.combining`), where they wait for their own fold.
- If the folder dies, the queue waits: a later append that finds it waiting for longer than
  :data:`TAKE_OVER_AFTER` takes over, and every sweep folds queues left waiting
  (:meth:`FirestoreStore.stranded`). The trigger then follows within one sweep interval.

A fold reads the key before the queue: a fold that commits read the key after every earlier
fold's commit, so the queue it read holds only events nobody removed, and ``pending`` stays the
number of events in the array. Two folders at once (a takeover, a sweep) are safe: one commit
wins, the other conflicts and reads again. Every folded event is stepped under the folder's
own outbox claim, so a trigger that someone else's event completes is still the folder's to
publish; a folded event the store or the actor refuses for good is quarantined with its reason
(its handler acknowledged it already).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from google.cloud import firestore

from ...core.actor import Actor, Outcome, Stepped
from ...core.clock import format_utc, utcnow
from ...core.events import Claim, Event
from ...core.snapshot import Snapshot
from ...core.store import Applied, Quarantined
from ...errors import ContentionError, StoreRejected
from .client import EXPIRE_FIELD, Conflict, translated
from .combining import INBOX_TTL, step_all

if TYPE_CHECKING:
    from .store import FirestoreStore

__all__ = ["QUEUE", "TAKE_OVER_AFTER", "Queue"]

D = TypeVar("D")

QUEUE = "~queue"  # the inbox document holding the key's queue; never an event's id
#: A queue that has waited this long for a fold (in seconds) is taken over by the next append.
TAKE_OVER_AFTER = 10.0
_GATHER = 0.1  # the first folder of a burst lets the others append first
_NEVER = 1e18  # ``since`` of a queue nobody waits on: larger than any append time


@attrs.frozen
class _Item:
    """One queued event: its id (queue order, then unique) and its encoded form."""

    id: str
    event: dict[str, Any]

    def value(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event}


class Queue:
    """The queueing protocol of one :class:`~phaseactors.stores.firestore.FirestoreStore`."""

    def __init__(self, store: FirestoreStore) -> None:
        self.store = store
        self.client = store.client
        self.stats = store.stats

    def enqueue(
        self,
        actor: Actor[D],
        key: str,
        base: Snapshot[D],
        events: list[Event],
        steps: list[Stepped[D] | Exception],
        attempts: int,
    ) -> list[Applied[D] | Exception]:
        """Append the events whose step did not raise to the key's queue; fold the queue if
        this append made it non-empty (or found it abandoned), else return them ``queued``."""
        queued_at = format_utc(utcnow())
        items = {
            i: _Item(f"{queued_at}-{uuid.uuid4().hex[:12]}", actor.encode_event(e))
            for i, e in enumerate(events)
            if not isinstance(steps[i], Exception)  # it raised on its own: do not queue it
        }
        detail = "queued behind a concurrent delivery"
        queued = Applied(base, Outcome.QUEUED, detail, True, attempts)
        results: list[Applied[D] | Exception] = [
            s if isinstance(s, Exception) else queued for s in steps
        ]
        if not items:
            return results
        try:
            pending, since = self._append(actor, key, list(items.values()))
        except StoreRejected:  # the queue is full (1 MiB): one document per event instead
            return self.store._combining.combine(actor, key, events, steps, attempts)
        abandoned = time.time() - since > TAKE_OVER_AFTER
        if pending > len(items) and not abandoned:
            return results  # a live folder takes them
        if pending == len(items):
            time.sleep(_GATHER)
        claim = next((e.claim for e in events if e.claim is not None), None)
        mine = {item.id for item in items.values()}
        folds = self.fold(actor, key, claim=claim, mine=mine, attempts=attempts)
        carried = tuple(folds.carried)
        for index, item in items.items():
            if item.id in folds.outcomes:  # else another folder took it: it stays ``queued``
                result = folds.result(item.id)
                if carried and isinstance(result, Applied):  # reported once, by the first
                    result, carried = attrs.evolve(result, carried=carried), ()
                results[index] = result
        return results

    def _append(self, actor: Actor[D], key: str, items: list[_Item]) -> tuple[int, float]:
        """Append ``items``; the queue's length after it and when it started waiting. An
        append has no precondition; only an aborted commit (a contended document in
        production) is retried, within the retry budget."""
        ref = self._ref(actor, key)
        policy = self.store.retry
        for attempt in range(1, policy.max_attempts + 1):
            batch = self.client.batch()
            with translated("encode"):
                batch.set(
                    ref,
                    {
                        "events": firestore.ArrayUnion([item.value() for item in items]),
                        "pending": firestore.Increment(len(items)),
                        "since": firestore.Minimum(time.time()),
                        EXPIRE_FIELD: utcnow() + INBOX_TTL,
                    },
                    merge=True,
                )
            transforms = self.store._commit_transforms(batch, 1)
            if transforms is not None:
                return int(transforms[0]["pending"]), float(transforms[0]["since"])
            time.sleep(policy.delay(attempt))
        raise ContentionError(actor.name, key, policy.max_attempts)

    def _ref(self, actor: Actor[D], key: str) -> Any:
        return self.store._ref(actor, key).collection("inbox").document(QUEUE)

    def fold(
        self,
        actor: Actor[D],
        key: str,
        *,
        claim: Claim | None,
        mine: set[str] | None = None,
        attempts: int = 0,
    ) -> _Folds:
        """Fold the key's queue until a fold leaves it empty (or nothing is queued), each
        fold in one commit; every folded event is stepped under ``claim``. ``mine`` are the
        ids of this handler's own events: the others' refused for good are quarantined.
        ``attempts`` were spent already (the retry budget is the delivery's); a spent budget
        raises :class:`ContentionError` and leaves what is queued for the next folder."""
        folds = _Folds(mine or set())
        policy = self.store.retry
        while attempts < policy.max_attempts:
            attempts += 1
            folds.attempts = attempts
            try:
                current, update_time = self.store._read(actor, key)  # the key first: see above
                queue = self.store._get(self._ref(actor, key))
                raw = (queue.fields or {}).get("events") or []
                if not raw:
                    return folds
                remaining = self._fold_once(actor, key, current, update_time, raw, claim, folds)
            except Conflict:
                time.sleep(policy.delay(attempts))
                continue
            if remaining is None:
                time.sleep(policy.delay(attempts))
                continue
            if remaining == 0:
                return folds
        raise ContentionError(actor.name, key, attempts)

    def _fold_once(
        self,
        actor: Actor[D],
        key: str,
        current: Snapshot[D] | None,
        update_time: Any,
        raw: list[dict[str, Any]],
        claim: Claim | None,
        folds: _Folds,
    ) -> int | None:
        """Fold the queued ``raw`` values in one commit: what remains queued after it, or None
        when another writer committed first. A commit the store refuses for good is redone
        one event at a time, so only the offending events are refused."""
        base = current if current is not None else actor.initial(key)
        events = [_decoded(actor, value, claim) for value in raw]
        state, steps = step_all(actor, base, events)
        try:
            remaining = self._commit_fold(actor, key, update_time, base, state, raw)
        except StoreRejected as refused:
            if len(raw) > 1:
                return self._fold_each(actor, key, raw, claim, folds)
            steps = [refused]
            state = base
            remaining = self._commit_fold(actor, key, update_time, base, base, raw)
        if remaining is None:
            return None
        self.stats.add(folds=1)
        folds.record(actor, state, raw, events, steps, self.store)
        return remaining

    def _fold_each(
        self,
        actor: Actor[D],
        key: str,
        raw: list[dict[str, Any]],
        claim: Claim | None,
        folds: _Folds,
    ) -> int | None:
        remaining: int | None = None
        for value in raw:
            current, update_time = self.store._read(actor, key)
            remaining = self._fold_once(actor, key, current, update_time, [value], claim, folds)
            if remaining is None:
                return None
        return remaining

    def _commit_fold(
        self,
        actor: Actor[D],
        key: str,
        update_time: Any,
        base: Snapshot[D],
        state: Snapshot[D],
        raw: list[dict[str, Any]],
    ) -> int | None:
        """The new state (or, unchanged, a guard that keeps the fold exclusive) and the folded
        events removed from the queue, in one commit; the events still queued after it, or
        None when the key changed since it was read."""
        batch = self.client.batch()
        if state is not base or update_time is None:
            self.store._put_state(batch, actor, key, update_time, state)
        else:
            self.store._guard(batch, actor, key, update_time)
        batch.set(
            self._ref(actor, key),
            {
                "events": firestore.ArrayRemove(raw),
                "pending": firestore.Increment(-len(raw)),
                "since": _NEVER,
            },
            merge=True,
        )
        transforms = self.store._commit_transforms(batch, 2)
        return None if transforms is None else int(transforms[1]["pending"])


class _Folds:
    """What one handler's folds did: each folded event's outcome (or error) by its id, and
    the key's state after the last of them."""

    def __init__(self, mine: set[str]) -> None:
        self.mine = mine
        self.outcomes: dict[str, Stepped[Any] | Exception] = {}
        self.state: Snapshot[Any] | None = None
        self.attempts = 0
        self.carried: list[Event] = []  # the others' events folded, their handlers gone

    def record(
        self,
        actor: Actor[Any],
        state: Snapshot[Any],
        raw: list[dict[str, Any]],
        events: list[Event | Exception],
        steps: list[Stepped[Any] | Exception],
        store: FirestoreStore,
    ) -> None:
        """Keep each folded event's outcome; quarantine the others' events refused for good
        (this handler's own are its runtime's to quarantine)."""
        self.state = state
        for value, event, step in zip(raw, events, steps, strict=True):
            item_id = str(value.get("id"))
            self.outcomes[item_id] = step
            if item_id in self.mine:
                continue
            if isinstance(step, Exception):
                _quarantine(store, actor, value, event, step)
            elif not isinstance(event, Exception):
                self.carried.append(event)

    def result(self, item_id: str) -> Applied[Any] | Exception:
        """A folded event's result, with the key's state after the last fold (which holds
        every trigger the folds decided, leased to this handler)."""
        step = self.outcomes[item_id]
        if isinstance(step, Exception):
            return step
        assert self.state is not None  # an outcome is recorded with its fold's state
        return Applied(self.state, step.outcome, step.detail, True, self.attempts)


def _decoded(actor: Actor[Any], value: Any, claim: Claim | None) -> Event | Exception:
    """The queued event, under the folder's claim; the error if it cannot be read (one
    unreadable value must not stop every fold of its key)."""
    try:
        event = actor.decode_event(value["event"])
    except Exception as exc:
        return exc
    return event if claim is None else attrs.evolve(event, claim=claim)


def _quarantine(
    store: FirestoreStore, actor: Actor[Any], value: Any, event: Any, error: Exception
) -> None:
    """Keep a folded event refused for good, with the reason: its handler acknowledged it."""
    store.quarantine(
        Quarantined(
            at=utcnow(),
            reason=f"{type(error).__name__}: {error} (refused when its key's queue was folded)",
            raw=json.dumps(value.get("event"), default=str, sort_keys=True),
            source="firestore queue",
            actor=actor.name,
            message_id=getattr(event, "message_id", None),
        )
    )
