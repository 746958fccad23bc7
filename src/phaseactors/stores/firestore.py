"""Firestore store: one collection per gate, one document per key, no transaction locks.

Why not ``@firestore.transactional``: a read-modify-write transaction per completion takes
locks, and on the emulator 21 simultaneous completions for one key deadlock on its 2 s lock
timeout — one commits, the rest fail after five attempts. This store commits optimistically:

1. **Direct commit.** Read the document, run the step, and write the whole snapshot guarded by
   an ``update_time`` precondition (``create`` for a new key). Uncontended, that is one read
   and one write, and a duplicate costs one read and no write.
2. **Combining on conflict.** When the precondition fails, another writer got there first. The
   event is written to the key's ``inbox`` subcollection (no contention: one document per
   event), in the same commit as the key's *folder lease* if nobody holds it. The lease holder
   waits a moment for the rest of the burst, then folds *every* pending event into one commit
   that updates the state (same precondition), marks the folded events with their outcome
   and gives the lease up; its own events go last, so a trigger they complete is its to
   publish. The others read the lease (one small read) from the time its fold is due; when it
   has changed, they read their own inbox document, and once it shows the outcome, delete it.
   A handler whose events the fold missed folds them itself once the lease is given up (one
   commit, no query, on condition that nobody folded them meanwhile); when the lease has run
   out (its holder died), a waiting handler takes it and folds everything pending.
3. **One writer per key per process.** Striped in-process locks serialize concurrent requests
   for one key served by the same instance, so an instance never conflicts with itself.

Errors become phaseactors errors: a spent retry budget is :class:`ContentionError`, an
unreachable or refusing service :class:`StoreUnavailable` (``StorePermissionDenied`` for
IAM problems); never a bare ``ValueError``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from attrs import frozen
from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers as firestore_helpers
from google.cloud.firestore_v1.base_query import FieldFilter
from google.protobuf import message as protobuf_message

from ..actor import Actor, Outcome, Stepped
from ..clock import format_utc, parse_utc, utcnow
from ..errors import ContentionError, PermanentError, StoreRejected, StoreUnavailable
from ..event_codec import decode_event, encode_event
from ..events import Event, Tick
from ..snapshot import Snapshot
from .base import Applied, Quarantined, RetryPolicy

__all__ = ["FirestoreStore", "StorePermissionDenied", "open_firestore_store"]

D = TypeVar("D")

_CONFLICTS = (
    google_errors.FailedPrecondition,
    google_errors.AlreadyExists,
    google_errors.Aborted,
    google_errors.NotFound,
)
_UNAVAILABLE = (
    google_errors.ServiceUnavailable,
    google_errors.DeadlineExceeded,
    google_errors.InternalServerError,
    google_errors.ResourceExhausted,
    google_errors.Unknown,
    google_errors.RetryError,
)
_DENIED = (google_errors.PermissionDenied, google_errors.Unauthenticated)
#: What the client raises for a value it cannot encode (seen: ValueError for integers past
#: 64 bits, UnicodeEncodeError for lone surrogates, protobuf's DecodeError and RecursionError
#: for deep nesting).
_UNENCODABLE = (ValueError, TypeError, OverflowError, RecursionError, protobuf_message.Error)
_QUARANTINE_RAW_BYTES = 512 * 1024
_BATCH_DOCUMENTS = 450  # inbox documents per commit: Firestore allows 500 writes in one
# Combining: the handler holding a key's folder lease folds; the others read the lease every
# _POLL (jittered) once its fold is due, and their own inbox documents when it changes. A lease
# runs out after _TAKE_OVER_AFTER, so if its holder dies, a waiting handler takes over. The
# first holder waits _GATHER before it folds, so that one fold takes most of a burst.
_POLL = 0.04
_TAKE_OVER_AFTER = 10.0
_GATHER = 0.1
_LEASE = "~folder"  # the inbox document holding the folder lease; not an event
#: Folded inbox documents left behind by a crashed handler expire after this (TTL policy).
INBOX_TTL = timedelta(days=1)


class StorePermissionDenied(StoreUnavailable):
    """The service refused the credentials; fix IAM, then redelivery succeeds."""


class FirestoreStats:
    """Operation counters (documents read and written), for benchmarks and monitoring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reads = 0
        self.writes = 0
        self.commits = 0
        self.conflicts = 0
        self.folds = 0

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


@frozen
class _Read:
    """One document as read: its fields (None if it does not exist) and update time."""

    id: str
    fields: dict[str, Any] | None
    update_time: Any = None

    @property
    def exists(self) -> bool:
        return self.fields is not None


class _Conflict(Exception):
    """Another writer got in the way (a failed precondition, an aborted read); retry."""


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


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Google API errors become phaseactors errors; conflicts become :class:`_Conflict`."""
    try:
        yield
    except _DENIED as exc:
        raise StorePermissionDenied(f"firestore {what}: permission denied: {exc}") from exc
    except _CONFLICTS as exc:
        raise _Conflict(f"firestore {what}: {exc}") from exc
    except google_errors.InvalidArgument as exc:  # e.g. a document over 1 MiB
        raise StoreRejected(f"firestore {what}: rejected: {exc}") from exc
    except _UNENCODABLE as exc:  # the client could not encode a value (an int past 64 bits)
        raise StoreRejected(f"firestore {what}: cannot store: {type(exc).__name__}: {exc}") from exc
    except (*_UNAVAILABLE, google_errors.GoogleAPICallError) as exc:
        raise StoreUnavailable(f"firestore {what}: {exc}") from exc


@contextmanager
def _final(what: str) -> Iterator[None]:
    """For calls outside a retry loop: a conflict there means the service is overloaded."""
    try:
        with _translated(what):
            yield
    except _Conflict as exc:
        raise StoreUnavailable(str(exc)) from exc


def _fitting(raw: str) -> str:
    """``raw``, cut to what a quarantine document can hold (Firestore's limit is 1 MiB): the
    message that was too large to apply must still be quarantined, with its size noted."""
    encoded = raw.encode()
    if len(encoded) <= _QUARANTINE_RAW_BYTES:
        return raw
    kept = encoded[:_QUARANTINE_RAW_BYTES].decode(errors="ignore")
    return f"{kept}... [truncated: {len(encoded)} bytes in all]"


class FirestoreStore:
    """Snapshots as Firestore documents under ``{prefix}{gate}/{key}``."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        prefix: str = "phaseactors.",
        retry: RetryPolicy | None = None,
        design: str = "combining",
        fold_limit: int = 400,
    ) -> None:
        if design not in ("combining", "optimistic"):
            raise ValueError(f"design must be 'combining' or 'optimistic', got {design!r}")
        if not 1 <= fold_limit <= 499:
            raise ValueError("fold_limit must be between 1 and 499 (500 writes per commit)")
        self.client = client
        self.prefix = prefix
        self.retry = retry or RetryPolicy(max_attempts=100, base_delay=0.005, max_delay=0.2)
        self.design = design
        self.fold_limit = fold_limit
        self.stats = FirestoreStats()
        self._queues: dict[tuple[str, str], _KeyQueue] = {}
        self._queues_lock = threading.Lock()
        self._holder = uuid.uuid4().hex[:12]  # this store, as a folder lease holder

    def __repr__(self) -> str:
        return f"FirestoreStore(project={self.client.project!r}, prefix={self.prefix!r})"

    # -- layout ----------------------------------------------------------------------------

    def collection(self, gate: str) -> Any:
        return self.client.collection(f"{self.prefix}{gate}")

    def _ref(self, actor: Actor[D], key: str) -> Any:
        return self.collection(actor.name).document(key)

    def _document(self, actor: Actor[D], snapshot: Snapshot[D]) -> dict[str, Any]:
        document = actor.encode(snapshot)
        due = actor.due_at(snapshot)
        document["pending_outbox"] = len(snapshot.outbox)
        document["due_at"] = due
        document["committed_at"] = firestore.SERVER_TIMESTAMP
        return document

    # -- reads -----------------------------------------------------------------------------

    def _get(self, ref: Any) -> _Read:
        """Read one document with a unary ``GetDocument`` call. ``DocumentReference.get``
        streams ``BatchGetDocuments``, which costs four times the client CPU (2.1 ms against
        0.5 ms on the emulator); that CPU is what handlers polling under contention share."""
        with _translated("read"):
            try:
                found = self.client._firestore_api.get_document(
                    request={"name": ref._document_path}, metadata=self.client._rpc_metadata
                )
            except google_errors.NotFound:
                found = None
        self.stats.add(reads=1)
        if found is None:
            return _Read(ref.id, None)
        fields = cast(dict[str, Any], firestore_helpers.decode_dict(found.fields, self.client))
        return _Read(ref.id, fields, found.update_time)

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        document = self._get(self._ref(actor, key))
        if document.fields is None:
            return None, None
        return actor.decode(document.fields), document.update_time

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        with _final("read"):
            return self._read(actor, key)[0]

    # -- commits ---------------------------------------------------------------------------

    def _put_state(
        self, batch: Any, actor: Actor[D], key: str, update_time: Any, snapshot: Snapshot[D]
    ) -> None:
        ref = self._ref(actor, key)
        document = self._document(actor, snapshot)
        with _translated("encode"):  # the client encodes as it adds a write to the batch
            if update_time is None:
                batch.create(ref, document)
            else:
                option = self.client.write_option(last_update_time=update_time)
                batch.update(ref, document, option=option)

    def _commit(self, batch: Any, writes: int) -> bool:
        """Commit ``batch``; False when a precondition failed (another writer was first)."""
        try:
            with _translated("commit"):
                batch.commit()
        except _Conflict:
            self.stats.add(conflicts=1)
            return False
        self.stats.add(writes=writes, commits=1)
        return True

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        """Queue the event for its key; one thread per key and process serves the queue,
        applying everything queued so far in one read and one commit."""
        queue = self._queue(actor.name, key)
        waiter = _Waiter(event)
        with queue.mutex:
            queue.waiting.append(waiter)
        while not waiter.done.is_set():
            if queue.serving.acquire(blocking=False):
                try:
                    while batch := queue.take():
                        self._serve(actor, key, batch)
                finally:
                    queue.serving.release()
            else:
                waiter.done.wait(0.005)
        if waiter.error is not None:
            raise waiter.error
        result: Applied[D] = waiter.result
        return result

    def _queue(self, gate: str, key: str) -> _KeyQueue:
        with self._queues_lock:
            return self._queues.setdefault((gate, key), _KeyQueue())

    def _serve(self, actor: Actor[D], key: str, waiters: list[_Waiter]) -> None:
        try:
            results = self._apply_events(actor, key, [w.event for w in waiters])
        except Exception as exc:  # the store failed: every waiter of this batch sees it
            results = [exc] * len(waiters)
        for waiter, result in zip(waiters, results, strict=True):
            if isinstance(result, Exception):
                waiter.error = result
            else:
                waiter.result = result
            waiter.done.set()

    def _apply_events(
        self, actor: Actor[D], key: str, events: list[Event]
    ) -> list[Applied[D] | Exception]:
        if any(isinstance(e, Tick) for e in events):  # a sweep: fold stranded events first
            with _final("fold"):
                self._fold(actor, key, set())
        policy = self.retry
        attempts = 0
        while attempts < policy.max_attempts:
            attempts += 1
            try:
                current, update_time = self._read(actor, key)
            except _Conflict:
                time.sleep(policy.delay(attempts))
                continue
            base = current if current is not None else actor.initial(key)
            state, steps = _step_all(actor, base, events)
            if state is not base:
                batch = self.client.batch()
                try:
                    self._put_state(batch, actor, key, update_time, state)
                    committed = self._commit(batch, 1)
                except StoreRejected as refused:
                    if len(events) == 1:
                        return [refused]
                    # Nothing was written: apply each alone, so only the offender is refused.
                    return [r for e in events for r in self._apply_events(actor, key, [e])]
                if not committed:
                    if self.design == "combining":
                        return self._combine(actor, key, events, steps, attempts)
                    time.sleep(policy.delay(attempts))
                    continue
            return [
                s
                if isinstance(s, Exception)
                else Applied(state, s.outcome, s.detail, state is not base, attempts)
                for s in steps
            ]
        raise ContentionError(actor.name, key, attempts)

    # -- combining -------------------------------------------------------------------------

    def _combine(
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
            doc_id: {"status": "pending", "event": encode_event(events[i]), "expire_at": expire_at}
            for doc_id, i in queued.items()
        }
        leader, written, refused = self._write_inbox(actor, key, documents)
        queued_time = min(written.values(), default=None)
        gather = leader
        lease_ref = self._ref(actor, key).collection("inbox").document(_LEASE)
        lease_seen: Any = None  # update time of the folder lease at the last look
        mine = set(written)
        folded: dict[str, _Folded] = {}
        folded_here: set[str] = set()  # by this handler: their documents are gone already
        snapshot: Snapshot[D] | None = None
        policy = self.retry
        while attempts < policy.max_attempts and (leader or len(folded) < len(mine)):
            try:
                if leader:
                    attempts += 1
                    if gather:  # the first folder of a burst lets the others queue theirs
                        time.sleep(_GATHER)
                        gather = False
                    waiting = mine - set(folded)
                    fold = self._fold(actor, key, waiting, release=True)
                    if fold is None:  # a direct commit got in first; the lease is still ours
                        continue
                    leader = not fold.released
                    folded.update((i, r) for i, r in fold.outcomes.items() if i in mine)
                    folded_here |= waiting & set(fold.outcomes)
                    snapshot = fold.state or snapshot
                    continue
                lease = self._get(lease_ref)
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
                    fold = self._fold(actor, key, set(own), only=own)
                    if fold is None:  # another writer was first: look again shortly
                        time.sleep(random.uniform(0, _POLL / 2))
                        continue
                    folded.update(fold.outcomes)
                    folded_here |= set(own) & set(fold.outcomes)
                    snapshot = fold.state or snapshot
                elif _lease_free(lease):  # its holder let it run out: take over
                    leader = self._take_lease(lease_ref, lease)
                else:
                    time.sleep(_until_next_look(lease))
            except _Conflict:
                continue
        if len(folded) < len(mine):
            raise ContentionError(actor.name, key, attempts)
        inbox = lease_ref.parent
        with _final("inbox cleanup"):
            for chunk in _chunks(sorted(mine - folded_here), _BATCH_DOCUMENTS):
                batch = self.client.batch()
                for doc_id in chunk:
                    batch.delete(inbox.document(doc_id))
                batch.commit()
                self.stats.add(writes=len(chunk))
        if snapshot is None:  # folded with nothing to commit on a key never written
            snapshot = self.load(actor, key) or actor.initial(key)
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
        inbox = self._ref(actor, key).collection("inbox")
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
                    with _translated("encode"):
                        if with_lease:
                            batch.create(inbox.document(_LEASE), self._lease_fields(_GATHER))
                        for doc_id in chunk:
                            batch.set(inbox.document(doc_id), documents[doc_id])
                    committed = self._commit(batch, len(chunk) + with_lease)
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
            "holder": self._holder,
            "fold_at": now + timedelta(seconds=gather),
            "until": now + timedelta(seconds=_TAKE_OVER_AFTER),
            "expire_at": now + INBOX_TTL,
        }

    def _take_lease(self, ref: Any, lease: _Read) -> bool:
        """Take the free folder lease read as ``lease``; False if another handler was first."""
        batch = self.client.batch()
        if lease.exists:
            option = self.client.write_option(last_update_time=lease.update_time)
            batch.update(ref, self._lease_fields(), option=option)
        else:
            batch.create(ref, self._lease_fields())
        return bool(self._commit(batch, 1))

    def _folded_by_another(
        self, actor: Actor[D], key: str, doc_ids: list[str]
    ) -> tuple[dict[str, _Folded], Snapshot[D] | None]:
        """Outcomes of those of ``doc_ids`` another handler folded, and the key's snapshot
        (None until they are folded). The first is read alone: a fold takes a handler's events
        in their order, so while the first is not folded, none is; only then are the others
        and the key read, the key last so that its snapshot includes the fold."""
        inbox = self._ref(actor, key).collection("inbox")
        first = self._get(inbox.document(doc_ids[0]))
        if (first.fields or {}).get("status") != "folded":
            return {}, None
        others = self._get_all([inbox.document(i) for i in doc_ids[1:]]) if doc_ids[1:] else []
        state, _ = self._read(actor, key)
        found = {
            document.id: _Folded.read(document.fields)
            for document in (first, *others)
            if document.fields is not None and document.fields.get("status") == "folded"
        }
        return found, state

    def _get_all(self, refs: list[Any]) -> list[_Read]:
        """The documents of ``refs`` in their order, read at one point in time."""
        with _translated("read"):
            by_path = {d.reference.path: d for d in self.client.get_all(refs)}
        self.stats.add(reads=len(refs))
        return [
            _Read(ref.id, by_path[ref.path].to_dict(), by_path[ref.path].update_time)
            for ref in refs
        ]

    def _fold(
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
        current, update_time = self._read(actor, key)
        inbox = self._ref(actor, key).collection("inbox")
        if only is None:
            with _translated("inbox query"):
                documents = list(
                    inbox.where(filter=FieldFilter("status", "==", "pending"))
                    .limit(self.fold_limit)
                    .stream()
                )
            self.stats.add(reads=max(1, len(documents)))
            only = {d.id: (_inbox_event(d.to_dict()), None) for d in documents}
        if not only:
            if release:
                with _translated("lease release"):
                    inbox.document(_LEASE).delete()
                self.stats.add(writes=1)
            return _Fold({}, None, release)
        # Queue order, this handler's own events last: the event that completes a gate
        # claims its trigger, and the folder, which knows the outcome first, publishes it.
        pending = sorted(only, key=lambda doc_id: (doc_id in mine, doc_id))
        base = current if current is not None else actor.initial(key)
        state, steps = _step_all(actor, base, [only[doc_id][0] for doc_id in pending])
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
            self._put_state(batch, actor, key, update_time, state)
            writes += 1
        elif update_time is not None:
            batch.update(
                self._ref(actor, key),
                {"committed_at": firestore.SERVER_TIMESTAMP},
                option=self.client.write_option(last_update_time=update_time),
            )
            writes += 1
        inbox = self._ref(actor, key).collection("inbox")
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
        return self._commit(batch, writes)

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
            fold = self._fold(actor, key, mine, only={doc_id: only[doc_id]})
            if fold is None:
                break
            outcomes.update(fold.outcomes)
            state = fold.state
        return _Fold(outcomes, state, released=False)

    # -- queries ---------------------------------------------------------------------------

    def scan(
        self,
        actor: Actor[D],
        *,
        states: Iterable[str] | None = None,
        pending_outbox: bool = False,
        due_before: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[Snapshot[D]]:
        query = self.collection(actor.name)
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", list(states)))
        if pending_outbox:
            query = query.where(filter=FieldFilter("pending_outbox", ">", 0))
        if due_before is not None:
            query = query.where(filter=FieldFilter("due_at", "<=", due_before))
        if limit is not None:
            query = query.limit(limit)
        with _final("scan"):
            documents = list(query.stream())
        self.stats.add(reads=max(1, len(documents)))
        snapshots = sorted((actor.decode(d.to_dict()) for d in documents), key=lambda s: s.key)
        yield from snapshots

    def stranded(self, actor: Actor[D]) -> list[str]:
        """Keys with inbox events nobody folded (their handler died); a tick folds them."""
        with _final("inbox scan"):
            documents = list(
                self.client.collection_group("inbox")
                .where(filter=FieldFilter("status", "==", "pending"))
                .stream()
            )
        prefix = f"{self.prefix}{actor.name}"
        keys = {
            d.reference.parent.parent.id
            for d in documents
            if d.reference.parent.parent.parent.id == prefix
        }
        return sorted(keys)

    # -- quarantine ------------------------------------------------------------------------

    def quarantine(self, record: Quarantined) -> None:
        with _final("quarantine"):
            self.client.collection(f"{self.prefix}quarantine").document().set(
                {
                    "at": record.at,
                    "reason": record.reason,
                    "raw": _fitting(record.raw),
                    "source": record.source,
                    "gate": record.gate,
                    "message_id": record.message_id,
                }
            )
        self.stats.add(writes=1)

    def quarantined(self, gate: str | None = None, limit: int = 100) -> list[Quarantined]:
        query: Any = self.client.collection(f"{self.prefix}quarantine")
        if gate is not None:
            query = query.where(filter=FieldFilter("gate", "==", gate))
        with _final("quarantine read"):
            documents: list[dict[str, Any]] = [d.to_dict() or {} for d in query.stream()]
        documents.sort(key=lambda d: d["at"], reverse=True)
        return [
            Quarantined(
                at=parse_utc(d["at"].isoformat()),
                reason=d["reason"],
                raw=d["raw"],
                source=d["source"],
                gate=d.get("gate"),
                message_id=d.get("message_id"),
            )
            for d in documents[:limit]
        ]

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


@frozen
class _Marks:
    """Which inbox documents one fold takes (in order), which of them are this handler's
    own (deleted, on condition when their write time is known), and whether the folder
    lease is given up with them."""

    pending: list[str]
    mine: set[str]
    only: dict[str, tuple[Event | Exception, Any]]
    release: bool


def _inbox_event(fields: Mapping[str, Any] | None) -> Event | Exception:
    """The event of an inbox document, or the error decoding it raised: one unreadable
    document must not stop every fold of its key."""
    try:
        return decode_event((fields or {})["event"])
    except Exception as exc:
        return exc


def _lease_free(lease: _Read) -> bool:
    """Nobody holds the folder lease read as ``lease``, or its holder let it run out (it may
    have died)."""
    if not lease.exists:
        return True
    until = (lease.fields or {}).get("until")
    return until is None or until <= utcnow()


def _until_next_look(lease: _Read) -> float:
    """How long a waiting handler sleeps before it reads the folder lease again: until the
    holder's fold is due, then a jittered :data:`_POLL`."""
    fold_at = (lease.fields or {}).get("fold_at")
    due_in = (fold_at - utcnow()).total_seconds() if fold_at is not None else 0.0
    return min(max(due_in, 0.0), _GATHER) + random.uniform(0.5, 1.0) * _POLL


def _step_all(
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


class _Waiter:
    """One apply() call waiting for its key's queue to be served."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.done = threading.Event()
        self.result: Any = None
        self.error: Exception | None = None


class _KeyQueue:
    """The events waiting for one key in this process, and who is serving them."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.serving = threading.Lock()
        self.waiting: list[_Waiter] = []

    def take(self) -> list[_Waiter]:
        with self.mutex:
            taken, self.waiting = self.waiting, []
        return taken


def open_firestore_store(
    project: str, database: str | None, options: Mapping[str, str]
) -> FirestoreStore:
    """Build the store for ``firestore://PROJECT[/DATABASE]?prefix=...&design=...``."""
    if not project:
        raise ValueError("firestore:// URL needs a project: firestore://PROJECT[/DATABASE]")
    client = firestore.Client(project=project, database=database or "(default)")
    return FirestoreStore(
        client,
        prefix=options.get("prefix", "phaseactors."),
        design=options.get("design", "combining"),
    )
