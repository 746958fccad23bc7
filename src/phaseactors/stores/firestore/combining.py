"""Combining: how concurrent handlers of one key agree on one commit without locks.

When a handler's direct commit loses (another writer committed first), its events go to the
key's ``inbox`` subcollection (one document per event: no contention), in the same commit as
the key's *folder lease* if nobody holds it. The handler holding the lease is the folder: it
waits a moment for the rest of the burst, then folds every pending event into one commit that
updates the state (under the state document's ``update_time`` precondition), marks the
folded events with their outcome and gives the lease up; its own events go last, so a trigger
they complete is its to publish. The others are waiters: they read the lease (one small read)
from the time its fold is due, and when it has changed, their own inbox documents; once those
show the outcome, they delete them. A waiter whose events a fold missed folds them itself
once the lease is given up (one commit, no query, on condition that nobody folded them
meanwhile); when the lease has run out (its holder died), a waiter takes it and folds.

A fold the store refuses for good is redone one event per commit, so only the offending
events are refused.
"""

from __future__ import annotations

import enum
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import frozen
from google.cloud.firestore_v1.base_query import FieldFilter

from ...core.actor import Actor, Outcome, Stepped
from ...core.clock import format_utc, utcnow
from ...core.events import Event
from ...core.snapshot import Snapshot
from ...core.store import Applied
from ...errors import ContentionError, PermanentError, StoreRejected, StoreUnavailable
from .client import EXPIRE_FIELD, Conflict, Read, final, get_all, translated

if TYPE_CHECKING:
    from .store import FirestoreStore

__all__ = ["INBOX_TTL", "Combining", "step_all"]

D = TypeVar("D")

_BATCH_DOCUMENTS = 450  # inbox documents per commit: Firestore allows 500 writes in one
# The handler holding a key's folder lease folds; the others read the lease every _POLL
# (jittered) once its fold is due, and their own inbox documents when it changes. A lease
# runs out after _TAKE_OVER_AFTER, so if its holder dies, a waiting handler takes over. The
# first holder waits _GATHER before it folds, so that one fold takes most of a burst.
_POLL = 0.04
_TAKE_OVER_AFTER = 10.0
_GATHER = 0.1
_LEASE = "~folder"  # the inbox document holding the folder lease; not an event
#: Folded inbox documents left behind by a crashed handler expire after this (TTL policy).
INBOX_TTL = timedelta(days=1)


class _Role(enum.Enum):
    """What a handler is for its key's inbox right now."""

    FOLDER = "folder"  # holds the folder lease: folds every pending event
    WAITER = "waiter"  # waits for a fold to take its events, or folds them once the lease is free


@frozen
class _Folded:
    """What a fold did with one inbox event: its outcome, or the error it was refused with
    (``error_kind``: ``rejected`` by the store, ``permanent``, or ``failed`` unexpectedly)."""

    outcome: str
    detail: str = ""
    error: str | None = None
    error_kind: str | None = None

    @classmethod
    def of(cls, step: Stepped[Any] | Exception) -> _Folded:
        if isinstance(step, StoreRejected):
            return cls("unchanged", "", str(step), "rejected")
        if isinstance(step, PermanentError):
            return cls("unchanged", "", str(step), "permanent")
        if isinstance(step, Exception):  # a poison event must not block every other one
            return cls("unchanged", "", f"{type(step).__name__}: {step}", "failed")
        return cls(step.outcome.value, step.detail)

    @classmethod
    def read(cls, fields: Mapping[str, Any]) -> _Folded:
        error = fields.get("error")
        kind = fields.get("error_kind")
        if error and kind is None:  # marked by a release that spelled the kind in the text
            kind, error = (
                ("permanent", error[11:])
                if error.startswith("permanent: ")
                else (
                    "failed",
                    error,
                )
            )
        return cls(fields["outcome"], fields.get("detail", ""), error, kind)

    def fields(self) -> dict[str, Any]:
        return {
            "status": "folded",
            "outcome": self.outcome,
            "detail": self.detail,
            "error": self.error,
            "error_kind": self.error_kind,
        }

    def result(self, snapshot: Snapshot[D], attempts: int) -> Applied[D] | Exception:
        if self.error_kind == "rejected":
            return StoreRejected(self.error or "refused by the store")
        if self.error_kind == "permanent":
            return PermanentError(self.error or "refused")
        if self.error is not None:
            return RuntimeError(f"event failed when another handler folded it: {self.error}")
        return Applied(snapshot, Outcome(self.outcome), self.detail, True, attempts)


@frozen
class _Fold:
    """One fold: each folded event's outcome, the key's state as committed (None when the
    fold changed no state), and whether the folder lease was given up with it."""

    outcomes: dict[str, _Folded]
    state: Snapshot[Any] | None
    released: bool


class Combining:
    """The combining protocol of one :class:`~phaseactors.stores.firestore.FirestoreStore`."""

    def __init__(self, store: FirestoreStore) -> None:
        self.store = store
        self.client = store.client
        self.stats = store.stats
        self.retry = store.retry
        self.fold_limit = store.fold_limit
        self.holder = uuid.uuid4().hex[:12]  # this store, as a folder lease holder

    def combine(
        self,
        actor: Actor[D],
        key: str,
        events: list[Event],
        steps: list[Stepped[D] | Exception],
        attempts: int,
    ) -> list[Applied[D] | Exception]:
        """Queue the events in the key's inbox and wait until they are folded: by this
        handler if it holds the key's folder lease, else by the handler that does."""
        queued_at = format_utc(utcnow())
        queued = {
            f"{queued_at}-{uuid.uuid4().hex[:12]}": i
            for i, e in enumerate(events)
            if not isinstance(steps[i], Exception)  # it raised on its own: do not queue it
        }
        expire_at = utcnow() + INBOX_TTL
        documents = {
            doc_id: {
                "status": "pending",
                "event": actor.encode_event(events[i]),
                EXPIRE_FIELD: expire_at,
            }
            for doc_id, i in queued.items()
        }
        took_lease, written, refused = self._write_inbox(actor, key, documents)
        role = _Role.FOLDER if took_lease else _Role.WAITER
        queued_time = min(written.values(), default=None)
        gather = took_lease  # the first folder of a burst lets the others queue theirs
        lease_ref = self.store._ref(actor, key).collection("inbox").document(_LEASE)
        lease_seen: Any = None  # update time of the folder lease at the last look
        mine = set(written)
        folded: dict[str, _Folded] = {}
        folded_here: set[str] = set()  # by this handler: their documents are gone already
        snapshot: Snapshot[D] | None = None
        policy = self.retry
        while attempts < policy.max_attempts and (role is _Role.FOLDER or len(folded) < len(mine)):
            try:
                if role is _Role.FOLDER:
                    attempts += 1
                    if gather:
                        time.sleep(_GATHER)
                        gather = False
                    waiting = mine - set(folded)
                    fold = self.fold(actor, key, waiting, release=True)
                    if fold is None:  # a direct commit got in first; the lease is still ours
                        continue
                    role = _Role.WAITER if fold.released else _Role.FOLDER
                    folded.update((i, r) for i, r in fold.outcomes.items() if i in mine)
                    folded_here |= waiting & set(fold.outcomes)
                    snapshot = fold.state or snapshot
                    continue
                lease = self.store._get(lease_ref)
                # Held, and unchanged since our events were queued or since the last look: no
                # fold has given it up in between, so none has taken our events yet.
                if not _lease_free(lease) and (
                    lease.update_time == lease_seen or lease.update_time < queued_time
                ):
                    lease_seen = lease.update_time
                    time.sleep(_until_next_look(lease))
                    continue
                attempts += 1
                lease_seen = lease.update_time
                found, state = self._folded_by_another(actor, key, sorted(mine - set(folded)))
                if found:
                    folded.update(found)
                    snapshot = state
                elif not lease.exists:  # given up by a fold that missed ours: fold them now
                    own: dict[str, tuple[Event | Exception, Any]] = {
                        i: (events[queued[i]], written[i]) for i in mine - set(folded)
                    }
                    fold = self.fold(actor, key, set(own), only=own)
                    if fold is None:  # another writer was first: look again shortly
                        time.sleep(random.uniform(0, _POLL / 2))
                        continue
                    folded.update(fold.outcomes)
                    folded_here |= set(own) & set(fold.outcomes)
                    snapshot = fold.state or snapshot
                elif _lease_free(lease):  # its holder let it run out: take over
                    if self._take_lease(lease_ref, lease):
                        role = _Role.FOLDER
                else:
                    time.sleep(_until_next_look(lease))
            except Conflict:
                continue
        if len(folded) < len(mine):
            raise ContentionError(actor.name, key, attempts)
        inbox = lease_ref.parent
        with final("inbox cleanup"):
            for chunk in _chunks(sorted(mine - folded_here), _BATCH_DOCUMENTS):
                batch = self.client.batch()
                for doc_id in chunk:
                    batch.delete(inbox.document(doc_id))
                batch.commit()
                self.stats.add(writes=len(chunk))
        if snapshot is None:  # folded with nothing to commit on a key never written
            snapshot = self.store.load(actor, key) or actor.initial(key)
        results: list[Applied[D] | Exception] = [
            s if isinstance(s, Exception) else Applied(snapshot, s.outcome, s.detail) for s in steps
        ]  # the queued ones are replaced below by the outcome their fold recorded
        for doc_id, index in queued.items():
            if doc_id in refused:
                results[index] = refused[doc_id]
            else:
                results[index] = folded[doc_id].result(snapshot, attempts)
        return results

    def _write_inbox(
        self, actor: Actor[D], key: str, documents: dict[str, dict[str, Any]]
    ) -> tuple[bool, dict[str, Any], dict[str, StoreRejected]]:
        """Write the inbox documents, and take the key's folder lease in the same commit if
        nobody holds it: whether this handler now holds it, the update time of each document
        as written (the server's commit time), and the documents the store refused (a batch
        refused for good is written one document at a time, so only its offenders are)."""
        inbox = self.store._ref(actor, key).collection("inbox")
        took = False
        written: dict[str, Any] = {}
        refused: dict[str, StoreRejected] = {}
        chunks = list(_chunks(list(documents), _BATCH_DOCUMENTS))
        try_lease = True
        while chunks:
            chunk = chunks.pop(0)
            for with_lease in (True, False) if try_lease else (False,):
                batch = self.client.batch()
                try:
                    with translated("encode"):
                        if with_lease:
                            batch.create(inbox.document(_LEASE), self._lease_fields(_GATHER))
                        for doc_id in chunk:
                            batch.set(inbox.document(doc_id), documents[doc_id])
                    committed = self.store._commit(batch, len(chunk) + with_lease)
                except StoreRejected as error:
                    if len(chunk) == 1:
                        refused[chunk[0]] = error
                    else:  # written one by one, next
                        chunks[:0] = [[doc_id] for doc_id in chunk]
                    break
                if committed:
                    took = took or with_lease
                    try_lease = False
                    written.update(dict.fromkeys(chunk, batch.commit_time))
                    break
                if not with_lease:  # plain writes of new documents cannot conflict
                    raise StoreUnavailable(f"firestore: inbox write for {key!r} refused")
        return took, written, refused

    def _lease_fields(self, gather: float = 0.0) -> dict[str, Any]:
        """A folder lease held by this store; its holder folds ``gather`` seconds from now."""
        now = utcnow()
        return {
            "holder": self.holder,
            "fold_at": now + timedelta(seconds=gather),
            "until": now + timedelta(seconds=_TAKE_OVER_AFTER),
            EXPIRE_FIELD: now + INBOX_TTL,
        }

    def _take_lease(self, ref: Any, lease: Read) -> bool:
        """Take the free folder lease read as ``lease``; False if another handler was first."""
        batch = self.client.batch()
        if lease.exists:
            option = self.client.write_option(last_update_time=lease.update_time)
            batch.update(ref, self._lease_fields(), option=option)
        else:
            batch.create(ref, self._lease_fields())
        return bool(self.store._commit(batch, 1))

    def _folded_by_another(
        self, actor: Actor[D], key: str, doc_ids: list[str]
    ) -> tuple[dict[str, _Folded], Snapshot[D] | None]:
        """Outcomes of those of ``doc_ids`` another handler folded, and the key's snapshot
        (None until they are folded). The first is read alone: a fold takes a handler's events
        in their order, so while the first is not folded, none is; only then are the others
        and the key read, the key last so that its snapshot includes the fold."""
        inbox = self.store._ref(actor, key).collection("inbox")
        first = self.store._get(inbox.document(doc_ids[0]))
        if (first.fields or {}).get("status") != "folded":
            return {}, None
        others = self._read_all([inbox.document(i) for i in doc_ids[1:]]) if doc_ids[1:] else []
        state, _ = self.store._read(actor, key)
        found = {
            document.id: _Folded.read(document.fields)
            for document in (first, *others)
            if document.fields is not None and document.fields.get("status") == "folded"
        }
        return found, state

    def _read_all(self, refs: list[Any]) -> list[Read]:
        return get_all(self.client, refs, self.stats)

    def fold(
        self,
        actor: Actor[D],
        key: str,
        mine: set[str],
        *,
        release: bool = False,
        only: dict[str, tuple[Event | Exception, Any]] | None = None,
    ) -> _Fold | None:
        """Apply every pending inbox event in one commit, or None if the commit lost to
        another writer. The documents of ``mine`` are deleted in the same commit, the others
        marked with their outcome; with ``release`` the folder lease is given up in it too.
        Given ``only`` (inbox id: event and the update time it was written at), those are
        folded, without a query, and deleted on condition that nobody folded them since.

        A commit the store refuses for good (the key's document would pass 1 MiB, say) is
        redone one event per commit, so that only the offending events are refused."""
        current, update_time = self.store._read(actor, key)
        inbox = self.store._ref(actor, key).collection("inbox")
        if only is None:
            with translated("inbox query"):
                documents = list(
                    inbox.where(filter=FieldFilter("status", "==", "pending"))
                    .limit(self.fold_limit)
                    .stream()
                )
            self.stats.add(reads=max(1, len(documents)))
            only = {d.id: (_inbox_event(actor, d.to_dict()), None) for d in documents}
        if not only:
            if release:
                with translated("lease release"):
                    inbox.document(_LEASE).delete()
                self.stats.add(writes=1)
            return _Fold({}, None, release)
        # Queue order, this handler's own events last: the event that completes a gate
        # claims its trigger, and the folder, which knows the outcome first, publishes it.
        pending = sorted(only, key=lambda doc_id: (doc_id in mine, doc_id))
        base = current if current is not None else actor.initial(key)
        state, steps = step_all(actor, base, [only[doc_id][0] for doc_id in pending])
        outcomes = {doc_id: _Folded.of(step) for doc_id, step in zip(pending, steps, strict=True)}
        marks = _Marks(pending, mine, only, release)
        try:
            committed = self._commit_fold(actor, key, update_time, base, state, outcomes, marks)
        except StoreRejected as refused:
            if len(pending) > 1:
                return self._fold_each(actor, key, mine, pending, only)
            state, outcomes = base, {pending[0]: _Folded.of(refused)}
            committed = self._commit_fold(actor, key, update_time, base, base, outcomes, marks)
        if not committed:
            return None
        self.stats.add(folds=1)
        return _Fold(outcomes, state, release)

    def _commit_fold(
        self,
        actor: Actor[D],
        key: str,
        update_time: Any,
        base: Snapshot[D],
        state: Snapshot[D],
        outcomes: dict[str, _Folded],
        marks: _Marks,
    ) -> bool:
        """One fold's commit: the new state (or, unchanged, a guard that keeps the fold
        exclusive), the folded inbox documents deleted or marked, the lease given up."""
        batch = self.client.batch()
        writes = len(marks.pending)
        if state is not base:
            self.store._put_state(batch, actor, key, update_time, state)
            writes += 1
        elif update_time is not None:
            self.store._guard(batch, actor, key, update_time)
            writes += 1
        inbox = self.store._ref(actor, key).collection("inbox")
        if marks.release:
            batch.delete(inbox.document(_LEASE))
            writes += 1
        for doc_id in marks.pending:
            if doc_id in marks.mine:
                written = marks.only[doc_id][1]
                option = self.client.write_option(last_update_time=written) if written else None
                batch.delete(inbox.document(doc_id), option=option)
            else:
                batch.update(inbox.document(doc_id), outcomes[doc_id].fields())
        return self.store._commit(batch, writes)

    def _fold_each(
        self,
        actor: Actor[D],
        key: str,
        mine: set[str],
        pending: list[str],
        only: dict[str, tuple[Event | Exception, Any]],
    ) -> _Fold:
        """Fold ``pending`` one event per commit, in order, keeping the folder lease; stop at
        the first commit another writer wins (the lease holder folds the rest next)."""
        outcomes: dict[str, _Folded] = {}
        state: Snapshot[D] | None = None
        for doc_id in pending:
            fold = self.fold(actor, key, mine, only={doc_id: only[doc_id]})
            if fold is None:
                break
            outcomes.update(fold.outcomes)
            state = fold.state
        return _Fold(outcomes, state, released=False)


@frozen
class _Marks:
    """Which inbox documents one fold takes (in order), which of them are this handler's
    own (deleted, on condition when their write time is known), and whether the folder
    lease is given up with them."""

    pending: list[str]
    mine: set[str]
    only: dict[str, tuple[Event | Exception, Any]]
    release: bool


def _inbox_event(actor: Actor[Any], fields: Mapping[str, Any] | None) -> Event | Exception:
    """The event of an inbox document, or the error decoding it raised: one unreadable
    document must not stop every fold of its key."""
    try:
        return actor.decode_event((fields or {})["event"])
    except Exception as exc:
        return exc


def _lease_free(lease: Read) -> bool:
    """Nobody holds the folder lease read as ``lease``, or its holder let it run out (it may
    have died)."""
    if not lease.exists:
        return True
    until = (lease.fields or {}).get("until")
    return until is None or until <= utcnow()


def _until_next_look(lease: Read) -> float:
    """How long a waiting handler sleeps before it reads the folder lease again: until the
    holder's fold is due, then a jittered :data:`_POLL`."""
    fold_at = (lease.fields or {}).get("fold_at")
    due_in = (fold_at - utcnow()).total_seconds() if fold_at is not None else 0.0
    return min(max(due_in, 0.0), _GATHER) + random.uniform(0.5, 1.0) * _POLL


def step_all(
    actor: Actor[D], state: Snapshot[D], events: list[Event] | list[Event | Exception]
) -> tuple[Snapshot[D], list[Stepped[D] | Exception]]:
    """Apply events in order; one that raises is skipped (and reported), the others go on.
    An entry that is already an exception (an event that could not be read) is reported."""
    steps: list[Stepped[D] | Exception] = []
    for event in events:
        if isinstance(event, Exception):
            steps.append(event)
            continue
        try:
            stepped = actor.step(state, event)
        except Exception as exc:
            steps.append(exc)
            continue
        state = stepped.snapshot
        steps.append(stepped)
    return state, steps


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
