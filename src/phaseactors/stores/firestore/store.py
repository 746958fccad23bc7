"""Firestore store: one collection per actor type, one document per key, no transaction locks.

Why not ``@firestore.transactional``: a read-modify-write transaction per completion takes
locks, and on the emulator 21 simultaneous completions for one key deadlock on its 2 s lock
timeout — one commits, the rest fail after five attempts. This store commits optimistically:

1. **Direct commit.** Read the document, run the step, and write the whole snapshot guarded by
   an ``update_time`` precondition (``create`` for a new key). Uncontended, that is one read
   and one write, and a duplicate costs one read and no write.
2. **A queue on conflict.** When the precondition fails, another writer got there first; the
   events are appended to the key's queue and one handler folds them all (:mod:`.queue`, the
   default design; ``design=combining`` waits for each event's own outcome instead,
   :mod:`.combining`).
3. **One writer per key per process.** Requests for one key served by the same instance queue
   up, and one thread applies all that queued in one read and one commit, so an instance
   never conflicts with itself. A batch the store refuses for good is applied one event at a
   time, so only the offender is refused.

Errors become phaseactors errors (:mod:`.client`): a spent retry budget is
:class:`ContentionError`, an unreachable or refusing service :class:`StoreUnavailable`
(``StorePermissionDenied`` for IAM problems), a document the service refuses
:class:`StoreRejected`; never a bare ``ValueError``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.auth import exceptions as google_auth_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ...core.actor import Actor
from ...core.clock import parse_utc
from ...core.definitions import DefinitionRecord, resolve_definition
from ...core.events import Event, Tick
from ...core.snapshot import Snapshot
from ...core.store import Applied, Quarantined, Resolution, RetryPolicy
from ...errors import (
    ContentionError,
    CredentialsMissing,
    InvalidURL,
    StoreRejected,
    StoreUnavailable,
)
from ...limits import MAX_RETENTION_DAYS
from ..base import resolution_from_document
from .client import (
    EXPIRE_FIELD,
    Conflict,
    FirestoreStats,
    Read,
    commit_batch,
    final,
    get_document,
    translated,
    wait_until_reachable,
)
from .combining import Combining, step_all
from .queue import Queue

__all__ = ["FirestoreStore", "open_firestore_store"]

D = TypeVar("D")

_QUARANTINE_RAW_BYTES = 512 * 1024
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")  # as the client's auto ids are made
_DESIGNS = ("queue", "combining", "optimistic")


def _fitting(raw: str) -> str:
    """``raw``, cut to what a quarantine document can hold (Firestore's limit is 1 MiB): the
    message that was too large to apply must still be quarantined, with its size noted."""
    encoded = raw.encode()
    if len(encoded) <= _QUARANTINE_RAW_BYTES:
        return raw
    kept = encoded[:_QUARANTINE_RAW_BYTES].decode(errors="ignore")
    return f"{kept}... [truncated: {len(encoded)} bytes in all]"


class FirestoreStore:
    """Snapshots as Firestore documents under ``{prefix}{actor}/{key}``."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        prefix: str = "phaseactors.",
        retry: RetryPolicy | None = None,
        design: str = "queue",
        fold_limit: int = 400,
        retention: timedelta | None = None,
    ) -> None:
        if design not in _DESIGNS:
            raise ValueError(f"design must be one of {_DESIGNS}, got {design!r}")
        if not 1 <= fold_limit <= 499:
            raise ValueError("fold_limit must be between 1 and 499 (500 writes per commit)")
        self.client = client
        self.prefix = prefix
        self.retry = retry or RetryPolicy()
        self.design = design
        self.fold_limit = fold_limit
        self.retention = retention
        """How long a finished key is kept (None: for ever); see :meth:`_expire_at`."""
        self.stats = FirestoreStats()
        self._queues: dict[tuple[str, str], _KeyQueue] = {}
        self._queues_lock = threading.Lock()
        self._combining = Combining(self)
        self._queue = Queue(self)

    def __repr__(self) -> str:
        return f"FirestoreStore(project={self.client.project!r}, prefix={self.prefix!r})"

    # -- layout ----------------------------------------------------------------------------

    def collection(self, actor: str) -> Any:
        return self.client.collection(f"{self.prefix}{actor}")

    def _ref(self, actor: Actor[D], key: str) -> Any:
        return self.collection(actor.name).document(key)

    def _document(self, actor: Actor[D], snapshot: Snapshot[D], *, exists: bool) -> dict[str, Any]:
        document = actor.encode(snapshot)
        document["pending_outbox"] = len(snapshot.outbox)
        document["due_at"] = actor.due_at(snapshot)
        document["committed_at"] = firestore.SERVER_TIMESTAMP
        expire_at = self._expire_at(actor, snapshot)
        if expire_at is not None:
            document[EXPIRE_FIELD] = expire_at
        elif exists:  # an update keeps fields it does not name: a rearmed key must not expire
            document[EXPIRE_FIELD] = firestore.DELETE_FIELD
        return document

    def _expire_at(self, actor: Actor[D], snapshot: Snapshot[D]) -> datetime | None:
        """When the key's document may go (Firestore's TTL policy on ``expire_at`` deletes it):
        ``retention`` after its last change, once the actor says its work is over
        (``finished(snapshot)``, for actors that have it) and its outbox is empty."""
        finished = getattr(actor, "finished", None)
        if self.retention is None or finished is None or snapshot.outbox:
            return None
        if not finished(snapshot) or snapshot.updated_at is None:
            return None
        return snapshot.updated_at + self.retention

    # -- reads -----------------------------------------------------------------------------

    def _get(self, ref: Any) -> Read:
        return get_document(self.client, ref, self.stats)

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        """The snapshot and its update time. Every path that steps reads through here (direct
        commits and folds alike), so a versioned actor is given the definition the key is
        pinned to before any step (one read per definition and actor object)."""
        document = self._get(self._ref(actor, key))
        if document.fields is None:
            return None, None
        snapshot = actor.decode(document.fields)
        resolve_definition(self, actor, snapshot)
        return snapshot, document.update_time

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        with final("read"):
            return self._read(actor, key)[0]

    # -- commits ---------------------------------------------------------------------------

    def _put_state(
        self, batch: Any, actor: Actor[D], key: str, update_time: Any, snapshot: Snapshot[D]
    ) -> None:
        ref = self._ref(actor, key)
        document = self._document(actor, snapshot, exists=update_time is not None)
        with translated("encode"):  # the client encodes as it adds a write to the batch
            if update_time is None:
                batch.create(ref, document)
            else:
                option = self.client.write_option(last_update_time=update_time)
                batch.update(ref, document, option=option)

    def _guard(self, batch: Any, actor: Actor[D], key: str, update_time: Any) -> None:
        """Touch the key's document under its ``update_time`` precondition: a fold that
        changes no state still conflicts with any other commit since its read."""
        batch.update(
            self._ref(actor, key),
            {"committed_at": firestore.SERVER_TIMESTAMP},
            option=self.client.write_option(last_update_time=update_time),
        )

    def _commit(self, batch: Any, writes: int) -> bool:
        """Commit ``batch``; False when a precondition failed (another writer was first)."""
        return self._commit_transforms(batch, writes) is not None

    def _commit_transforms(self, batch: Any, writes: int) -> list[dict[str, Any]] | None:
        """Commit ``batch``: per write, its transforms' results by field; None when a
        precondition failed (another writer was first)."""
        try:
            with translated("commit"):
                transforms, units = commit_batch(self.client, batch)
        except Conflict:
            self.stats.add(conflicts=1)
            return None
        self.stats.add(writes=writes, write_units=units, commits=1)
        return transforms

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        """Queue the event for its key; one thread per key and process serves the queue,
        applying everything queued so far in one read and one commit."""
        queue = self._enter(actor.name, key)
        try:
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
        finally:
            self._leave(actor.name, key, queue)
        if waiter.error is not None:
            raise waiter.error
        result: Applied[D] = waiter.result
        return result

    def _enter(self, actor: str, key: str) -> _KeyQueue:
        with self._queues_lock:
            queue = self._queues.setdefault((actor, key), _KeyQueue())
            queue.users += 1
            return queue

    def _leave(self, actor: str, key: str, queue: _KeyQueue) -> None:
        """Forget a key's queue once nobody uses it, so idle keys hold no memory."""
        with self._queues_lock:
            queue.users -= 1
            if queue.users == 0:
                del self._queues[(actor, key)]

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
        ticks = [e for e in events if isinstance(e, Tick)]
        carried: tuple[Event, ...] = ()
        if ticks:  # a sweep: fold stranded events first, under the sweep's claim
            with final("fold"):
                self._combining.fold(actor, key, set())
                carried = tuple(self._queue.fold(actor, key, claim=ticks[0].claim).carried)
        policy = self.retry
        attempts = 0
        while attempts < policy.max_attempts:
            attempts += 1
            try:
                current, update_time = self._read(actor, key)
            except Conflict:
                time.sleep(policy.delay(attempts))
                continue
            base = current if current is not None else actor.initial(key)
            state, steps = step_all(actor, base, events)
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
                    if self.design == "queue":
                        return self._queue.enqueue(actor, key, base, events, steps, attempts)
                    if self.design == "combining":
                        return self._combining.combine(actor, key, events, steps, attempts)
                    time.sleep(policy.delay(attempts))
                    continue
            return [
                s
                if isinstance(s, Exception)
                else Applied(
                    state,
                    s.outcome,
                    s.detail,
                    state is not base,
                    attempts,
                    carried if ticks and events[i] is ticks[0] else (),  # the sweep reports them
                )
                for i, s in enumerate(steps)
            ]
        raise ContentionError(actor.name, key, attempts)

    # -- queries ---------------------------------------------------------------------------

    def scan(
        self,
        actor: Actor[D],
        *,
        states: Iterable[str] | None = None,
        pending_outbox: bool = False,
        due_before: datetime | None = None,
        limit: int | None = None,
        start: str | None = None,
        stop: str | None = None,
        descending: bool = False,
    ) -> Iterator[Snapshot[D]]:
        query = self.collection(actor.name)
        ranged = pending_outbox or due_before is not None
        # Key bounds and a descending order go into the query only when nothing else filters
        # it: on the document's ``key`` field (its id; Firestore scans no document id
        # descending), whose single-field indexes need no composite one. Otherwise they are
        # applied here, after the filtered read.
        keyed_query = states is None and not ranged
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", list(states)))
        if pending_outbox:
            query = query.where(filter=FieldFilter("pending_outbox", ">", 0))
        if due_before is not None:
            query = query.where(filter=FieldFilter("due_at", "<=", due_before))
        if keyed_query:
            if start is not None:
                query = query.where(filter=FieldFilter("key", ">=", start))
            if stop is not None:
                query = query.where(filter=FieldFilter("key", "<", stop))
            if descending:
                query = query.order_by("key", direction=firestore.Query.DESCENDING)
        unbounded = start is None and stop is None and not descending
        if limit is not None and (keyed_query or (not ranged and unbounded)):
            query = query.limit(limit)  # results come in document id (= key) order
        with final("scan"):
            documents = list(query.stream())
        self.stats.add(reads=max(1, len(documents)))
        snapshots = sorted(
            (
                actor.decode(d.to_dict())
                for d in documents
                if (start is None or d.id >= start) and (stop is None or d.id < stop)
            ),
            key=lambda s: s.key,
            reverse=descending,
        )
        # A range filter orders by its field, so the first by key are cut here.
        yield from snapshots[:limit] if limit is not None else snapshots

    def stranded(self, actor: Actor[D]) -> list[str]:
        """Keys with queued or inbox events nobody folded (their folder died); a tick folds
        them."""
        inbox = self.client.collection_group("inbox")
        with final("inbox scan"):
            documents = [
                *inbox.where(filter=FieldFilter("status", "==", "pending")).stream(),
                *inbox.where(filter=FieldFilter("pending", ">", 0)).stream(),
            ]
        prefix = f"{self.prefix}{actor.name}"
        keys = {
            d.reference.parent.parent.id
            for d in documents
            if d.reference.parent.parent.parent.id == prefix
        }
        return sorted(keys)

    # -- definitions -----------------------------------------------------------------------

    def _definition_ref(self, actor: str, fingerprint: str) -> Any:
        return self.client.collection(f"{self.prefix}definitions").document(
            f"{actor}@{fingerprint}"
        )

    def record_definition(self, record: DefinitionRecord) -> DefinitionRecord:
        """Read first (a handler records its definition once per start, and it is there
        already but for the first), then create: a create that loses to another handler's
        keeps theirs."""
        ref = self._definition_ref(record.actor, record.fingerprint)
        with final("record definition"):
            kept = self._get(ref)
            if kept.fields is None:
                try:
                    with translated("record definition"):
                        ref.create(
                            {
                                "gate": record.actor,  # the name other documents use
                                "fingerprint": record.fingerprint,
                                "definition": dict(record.document),
                                "recorded_at": record.recorded_at,
                            }
                        )
                    self.stats.add(writes=1)
                    return record
                except Conflict:  # created meanwhile by another handler
                    pass
                kept = self._get(ref)
        if kept.fields is None:
            raise StoreUnavailable(f"firestore: definition {record.fingerprint} vanished")
        return _definition_record(kept.fields)

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        with final("read definition"):
            found = self._get(self._definition_ref(actor, fingerprint))
        return None if found.fields is None else _definition_record(found.fields)

    def definitions(self, actor: str) -> list[DefinitionRecord]:
        query = self.client.collection(f"{self.prefix}definitions").where(
            filter=FieldFilter("gate", "==", actor)
        )
        with final("read definitions"):
            documents = [(d.id, d.to_dict() or {}) for d in query.stream()]
        self.stats.add(reads=max(1, len(documents)))
        records = [(_definition_record(fields), doc_id) for doc_id, fields in documents]
        return [r for r, _ in sorted(records, key=lambda pair: (pair[0].recorded_at, pair[1]))]

    # -- quarantine ------------------------------------------------------------------------

    def quarantine(self, record: Quarantined) -> str:
        ref = self.client.collection(f"{self.prefix}quarantine").document()
        with final("quarantine"):
            ref.set(
                {
                    "at": record.at,
                    "reason": record.reason,
                    "raw": _fitting(record.raw),
                    "source": record.source,
                    "gate": record.actor,  # the field's name since the first release
                    "message_id": record.message_id,
                }
            )
        self.stats.add(writes=1)
        return str(ref.id)

    def quarantined(self, actor: str | None = None, limit: int = 100) -> list[Quarantined]:
        query: Any = self.client.collection(f"{self.prefix}quarantine")
        if actor is not None:  # with the (gate, at) index of stores/firestore.indexes.json
            query = query.where(filter=FieldFilter("gate", "==", actor))
        query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        with final("quarantine read"):
            documents = list(query.stream())
        return [_quarantined(d.id, d.to_dict() or {}) for d in documents]

    def quarantined_record(self, record_id: str) -> Quarantined | None:
        if not _DOCUMENT_ID.fullmatch(record_id):
            return None
        read = self._get(self.client.collection(f"{self.prefix}quarantine").document(record_id))
        return None if read.fields is None else _quarantined(record_id, read.fields)

    def resolve_quarantined(self, resolution: Resolution) -> bool:
        if not _DOCUMENT_ID.fullmatch(resolution.id):
            return False
        record = self.client.collection(f"{self.prefix}quarantine").document(resolution.id)
        audit = self.client.collection(f"{self.prefix}quarantine_resolved").document(resolution.id)
        batch = self.client.batch()
        fields = resolution.fields()
        fields["gate"] = fields.pop("actor")  # as in the quarantine collection and its index
        batch.delete(record, option=self.client.write_option(exists=True))
        batch.set(audit, fields)
        try:
            committed = self._commit(batch, 2)
        except StoreRejected:  # a delete whose document is gone, as the emulator reports it
            return False
        return committed

    def resolutions(self, actor: str | None = None, limit: int = 100) -> list[Resolution]:
        query: Any = self.client.collection(f"{self.prefix}quarantine_resolved")
        if actor is not None:  # with the (gate, at) index of stores/firestore.indexes.json
            query = query.where(filter=FieldFilter("gate", "==", actor))
        query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        with final("quarantine resolutions read"):
            documents = [d.to_dict() or {} for d in query.stream()]
        self.stats.add(reads=max(1, len(documents)))
        for document in documents:
            document["actor"] = document.pop("gate", None)
        return [resolution_from_document(document) for document in documents]

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def _quarantined(record_id: str, document: Mapping[str, Any]) -> Quarantined:
    return Quarantined(
        id=record_id,
        at=parse_utc(document["at"].isoformat()),
        reason=document["reason"],
        raw=document["raw"],
        source=document["source"],
        actor=document.get("gate"),
        message_id=document.get("message_id"),
    )


def _definition_record(fields: Mapping[str, Any]) -> DefinitionRecord:
    return DefinitionRecord(
        actor=fields["gate"],
        fingerprint=fields["fingerprint"],
        document=fields["definition"],
        recorded_at=parse_utc(fields["recorded_at"].isoformat()),
    )


class _Waiter:
    """One apply() call waiting for its key's queue to be served."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.done = threading.Event()
        self.result: Any = None
        self.error: Exception | None = None


class _KeyQueue:
    """The events waiting for one key in this process, who is serving them, and how many
    apply() calls are using the queue (it is forgotten when none is)."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.serving = threading.Lock()
        self.waiting: list[_Waiter] = []
        self.users = 0

    def take(self) -> list[_Waiter]:
        with self.mutex:
            taken, self.waiting = self.waiting, []
        return taken


def open_firestore_store(
    project: str, database: str | None, options: Mapping[str, str]
) -> FirestoreStore:
    """Build the store for ``firestore://PROJECT[/DATABASE]?prefix=...&design=...``; with
    ``connect_timeout=SECONDS`` it first waits that long at most for Firestore to answer."""
    url = f"firestore://{project}" + (f"/{database}" if database else "")
    if not project:
        raise InvalidURL("firestore:// URL needs a project: firestore://PROJECT[/DATABASE]")
    if database and "/" in database:
        raise InvalidURL(f"store URL {url!r}: use firestore://PROJECT[/DATABASE]")
    design = options.get("design", "queue")
    if design not in _DESIGNS:
        raise InvalidURL(f"store URL {url!r}: design must be one of {', '.join(_DESIGNS)}")
    connect_timeout = _seconds(url, options.get("connect_timeout"))
    retention = _retention(url, options.get("retention_days"))
    try:
        client = firestore.Client(project=project, database=database or "(default)")
    except google_auth_errors.DefaultCredentialsError:
        raise CredentialsMissing.for_service("Firestore", url, "FIRESTORE_EMULATOR_HOST") from None
    if connect_timeout is not None:
        wait_until_reachable(client, connect_timeout, url)
    prefix = options.get("prefix", "phaseactors.")
    return FirestoreStore(client, prefix=prefix, design=design, retention=retention)


def _retention(url: str, text: str | None) -> timedelta | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_RETENTION_DAYS:
        raise InvalidURL(
            f"store URL {url!r}: retention_days must be a whole number of days from 1 to"
            f" {MAX_RETENTION_DAYS}"
        )
    return timedelta(days=int(text))


def _seconds(url: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise InvalidURL(f"store URL {url!r}: connect_timeout must be a number of seconds > 0")
    return value
