"""Firestore store: one collection per gate, one document per key, no transaction locks.

Why not ``@firestore.transactional``: a read-modify-write transaction per completion takes
locks, and on the emulator 21 simultaneous completions for one key deadlock on its 2 s lock
timeout — one commits, the rest fail after five attempts. This store commits optimistically:

1. **Direct commit.** Read the document, run the step, and write the whole snapshot guarded by
   an ``update_time`` precondition (``create`` for a new key). Uncontended, that is one read
   and one write, and a duplicate costs one read and no write.
2. **Combining on conflict.** When the precondition fails, another writer got there first. The
   event is written to the key's ``inbox`` subcollection (no contention: one document per
   event); then whichever handler wins folds *every* pending inbox event into one commit that
   updates the state (same precondition) and marks the folded events with their outcome in
   the same atomic batch. A handler whose event was folded by another reads its outcome from
   its inbox document and deletes it.
3. **One writer per key per process.** Striped in-process locks serialize concurrent requests
   for one key served by the same instance, so an instance never conflicts with itself.

Errors become phaseactors errors: a spent retry budget is :class:`ContentionError`, an
unreachable or refusing service :class:`StoreUnavailable` (``StorePermissionDenied`` for
IAM problems); never a bare ``ValueError``.
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.api_core import exceptions as google_errors
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..actor import Actor, Outcome
from ..clock import format_utc, parse_utc, utcnow
from ..errors import ContentionError, PermanentError, StoreUnavailable
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
_LOCK_STRIPES = 256
_PERMANENT = "permanent: "
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


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except _DENIED as exc:
        raise StorePermissionDenied(f"firestore {what}: permission denied: {exc}") from exc
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"firestore {what}: {exc}") from exc
    except google_errors.GoogleAPICallError as exc:
        if isinstance(exc, _CONFLICTS):
            raise
        raise StoreUnavailable(f"firestore {what}: {exc}") from exc


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
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def __repr__(self) -> str:
        return f"FirestoreStore(project={self.client.project!r}, prefix={self.prefix!r})"

    # -- layout ----------------------------------------------------------------------------

    def collection(self, gate: str) -> Any:
        return self.client.collection(f"{self.prefix}{gate}")

    def _ref(self, actor: Actor[D], key: str) -> Any:
        return self.collection(actor.name).document(key)

    def _lock(self, gate: str, key: str) -> threading.Lock:
        return self._locks[zlib.crc32(f"{gate}/{key}".encode()) % _LOCK_STRIPES]

    def _document(self, actor: Actor[D], snapshot: Snapshot[D]) -> dict[str, Any]:
        document = actor.encode(snapshot)
        due = actor.due_at(snapshot)
        document["pending_outbox"] = len(snapshot.outbox)
        document["due_at"] = due
        document["committed_at"] = firestore.SERVER_TIMESTAMP
        return document

    # -- reads -----------------------------------------------------------------------------

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        with _translated("read"):
            document = self._ref(actor, key).get()
        self.stats.add(reads=1)
        if not document.exists:
            return None, None
        return actor.decode(document.to_dict()), document.update_time

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        return self._read(actor, key)[0]

    # -- commits ---------------------------------------------------------------------------

    def _put_state(
        self, batch: Any, actor: Actor[D], key: str, update_time: Any, snapshot: Snapshot[D]
    ) -> None:
        ref = self._ref(actor, key)
        document = self._document(actor, snapshot)
        if update_time is None:
            batch.create(ref, document)
        else:
            batch.update(
                ref, document, option=self.client.write_option(last_update_time=update_time)
            )

    def _commit(self, batch: Any, writes: int) -> bool:
        """Commit ``batch``; False when a precondition failed (another writer was first)."""
        try:
            with _translated("commit"):
                batch.commit()
        except _CONFLICTS:
            self.stats.add(conflicts=1)
            return False
        self.stats.add(writes=writes, commits=1)
        return True

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        with self._lock(actor.name, key):
            if isinstance(event, Tick):  # a sweep: first fold events stranded in the inbox
                self._fold(actor, key, None)
            policy = self.retry
            attempts = 0
            while attempts < policy.max_attempts:
                attempts += 1
                current, update_time = self._read(actor, key)
                base = current if current is not None else actor.initial(key)
                stepped = actor.step(base, event)
                if stepped.snapshot is base:
                    return Applied(base, stepped.outcome, stepped.detail, False, attempts)
                batch = self.client.batch()
                self._put_state(batch, actor, key, update_time, stepped.snapshot)
                if self._commit(batch, 1):
                    return Applied(
                        stepped.snapshot, stepped.outcome, stepped.detail, True, attempts
                    )
                if self.design == "combining":
                    return self._combine(actor, key, event, attempts)
                time.sleep(policy.delay(attempts))
            raise ContentionError(actor.name, key, attempts)

    # -- combining -------------------------------------------------------------------------

    def _combine(self, actor: Actor[D], key: str, event: Event, attempts: int) -> Applied[D]:
        inbox = self._ref(actor, key).collection("inbox")
        mine = inbox.document(f"{format_utc(event.at)}-{uuid.uuid4().hex[:12]}")
        with _translated("inbox write"):
            mine.set(
                {
                    "status": "pending",
                    "event": encode_event(event),
                    "expire_at": utcnow() + INBOX_TTL,
                }
            )
        self.stats.add(writes=1)
        policy = self.retry
        while attempts < policy.max_attempts:
            attempts += 1
            result = self._fold(actor, key, mine.id)
            if result is None:
                result = self._folded_by_another(mine)
            if result is not None:
                outcome, detail, error = result
                with _translated("inbox cleanup"):
                    mine.delete()
                self.stats.add(writes=1)
                if error:
                    _raise_folded_error(error)
                snapshot = self.load(actor, key)
                assert snapshot is not None
                return Applied(snapshot, Outcome(outcome), detail, True, attempts)
            time.sleep(policy.delay(attempts))
        raise ContentionError(actor.name, key, attempts)

    def _folded_by_another(self, mine: Any) -> tuple[str, str, str | None] | None:
        with _translated("inbox read"):
            document = mine.get()
        self.stats.add(reads=1)
        fields = document.to_dict() if document.exists else None
        if not fields or fields.get("status") != "folded":
            return None
        return fields["outcome"], fields.get("detail", ""), fields.get("error")

    def _fold(
        self, actor: Actor[D], key: str, mine: str | None
    ) -> tuple[str, str, str | None] | None:
        """Apply every pending inbox event in one commit. Returns the result of ``mine`` if
        this fold applied it, None if the commit lost (or ``mine`` was not among them)."""
        current, update_time = self._read(actor, key)
        inbox = self._ref(actor, key).collection("inbox")
        with _translated("inbox query"):
            pending = list(
                inbox.where(filter=FieldFilter("status", "==", "pending"))
                .limit(self.fold_limit)
                .stream()
            )
        self.stats.add(reads=max(1, len(pending)))
        if not pending:
            return None
        pending.sort(key=lambda d: d.id)
        state = base = current if current is not None else actor.initial(key)
        results: dict[str, tuple[str, str, str | None]] = {}
        for document in pending:
            try:
                stepped = actor.step(state, decode_event(document.to_dict()["event"]))
            except PermanentError as exc:
                results[document.id] = ("unchanged", "", f"{_PERMANENT}{exc}")
                continue
            except Exception as exc:  # a poison event must not block every other one
                results[document.id] = ("unchanged", "", f"{type(exc).__name__}: {exc}")
                continue
            state = stepped.snapshot
            results[document.id] = (stepped.outcome.value, stepped.detail, None)
        batch = self.client.batch()
        writes = len(pending)
        if state is not base:
            self._put_state(batch, actor, key, update_time, state)
            writes += 1
        elif update_time is not None:  # nothing changed, but the fold must still be exclusive
            batch.update(
                self._ref(actor, key),
                {"committed_at": firestore.SERVER_TIMESTAMP},
                option=self.client.write_option(last_update_time=update_time),
            )
            writes += 1
        for document in pending:
            outcome, detail, error = results[document.id]
            batch.update(
                document.reference,
                {"status": "folded", "outcome": outcome, "detail": detail, "error": error},
            )
        if not self._commit(batch, writes):
            return None
        self.stats.add(folds=1)
        return results.get(mine) if mine is not None else None

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
        with _translated("scan"):
            documents = list(query.stream())
        self.stats.add(reads=max(1, len(documents)))
        snapshots = sorted((actor.decode(d.to_dict()) for d in documents), key=lambda s: s.key)
        yield from snapshots

    def stranded(self, actor: Actor[D]) -> list[str]:
        """Keys with inbox events nobody folded (their handler died); a tick folds them."""
        with _translated("inbox scan"):
            documents = list(
                self.client.collection_group("inbox")
                .where(filter=FieldFilter("status", "==", "pending"))
                .stream()
            )
        prefix = f"{self.prefix}{actor.name}"
        keys = {d.reference.parent.parent.id for d in documents
                if d.reference.parent.parent.parent.id == prefix}  # fmt: skip
        return sorted(keys)

    # -- quarantine ------------------------------------------------------------------------

    def quarantine(self, record: Quarantined) -> None:
        with _translated("quarantine"):
            self.client.collection(f"{self.prefix}quarantine").document().set(
                {
                    "at": record.at,
                    "reason": record.reason,
                    "raw": record.raw,
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
        with _translated("quarantine read"):
            documents: list[dict[str, Any]] = [d.to_dict() or {} for d in query.stream()]
        documents.sort(key=lambda d: d["at"], reverse=True)
        return [
            Quarantined(
                at=parse_utc(d["at"].isoformat()), reason=d["reason"], raw=d["raw"],
                source=d["source"], gate=d.get("gate"), message_id=d.get("message_id"),
            )
            for d in documents[:limit]
        ]  # fmt: skip

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def _raise_folded_error(error: str) -> None:
    if error.startswith(_PERMANENT):
        raise PermanentError(error[len(_PERMANENT) :])
    raise RuntimeError(f"event failed when another handler folded it: {error}")


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
