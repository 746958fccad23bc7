"""Embedded store on one SQLite file, safe across threads and processes.

WAL journal, a busy timeout, one connection per thread and process. Steps hold no database
lock; the commit is one statement that writes the whole snapshot only if the row still has
the version read (or, for a new key, only if there is no row yet). Two writers of one key
therefore serialize on the commit, and the loser re-runs its step on the winner's snapshot;
threads sharing one store object take turns per key before reading, so only other processes
conflict.

Durability: ``synchronous=NORMAL`` (default) survives process crashes; the last commits may be
lost on power failure. Use ``?synchronous=FULL`` in the URL to survive that too.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..core.actor import Actor
from ..core.clock import format_utc, parse_utc
from ..core.definitions import DefinitionRecord
from ..core.events import Event
from ..core.snapshot import Snapshot
from ..errors import (
    ConfigurationError,
    ContentionError,
    StoreNotFound,
    StoreRejected,
    StoreUnavailable,
)
from ..limits import MAX_DOCUMENT_BYTES
from .base import (
    Applied,
    OptimisticStore,
    Quarantined,
    Resolution,
    RetryPolicy,
    resolution_document,
    resolution_from_document,
)

__all__ = ["SqliteStore"]

D = TypeVar("D")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actors (
    gate TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL,
    pending_outbox INTEGER NOT NULL,
    due_at TEXT,
    updated_at TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (gate, key)
);
CREATE INDEX IF NOT EXISTS actors_state ON actors (gate, state);
CREATE INDEX IF NOT EXISTS actors_pending ON actors (gate, key) WHERE pending_outbox > 0;
CREATE INDEX IF NOT EXISTS actors_due ON actors (gate, due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    gate TEXT,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    message_id TEXT,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine_resolved (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    gate TEXT,
    at TEXT NOT NULL,
    doc TEXT NOT NULL
);
"""
# Versioned definitions, one row per (gate, fingerprint), written once and never updated.
_DEFINITIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS definitions (
    gate TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (gate, fingerprint)
);
"""
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_DECODED_LIMIT = 4096
_KEY_LOCKS = 64
_INDEXED = ("state", "pending_outbox", "due_at")  # the columns the indexes cover
_BUSY_SLEEP = 0.0004  # seconds, at most, between tries for a lock another connection holds
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # primary result codes
_NOT_A_DATABASE = 26  # SQLITE_NOTADB: the file is something else
_QUARANTINE_COLUMNS = "id, at, gate, reason, source, message_id, raw"


class SqliteStore(OptimisticStore):
    """Snapshots as JSON documents in one table, with indexed state, outbox and due columns."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retry: RetryPolicy | None = None,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
        create: bool = True,
    ) -> None:
        super().__init__(retry)
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreNotFound(f"{self.path} is a directory, not a store file")
        if not create and not self.path.exists():
            raise StoreNotFound(
                f"no store at {self.path}: nothing was ever delivered there"
                " (check the path: --store or $PHASEACTORS_STORE)"
            )
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._decoded: dict[tuple[str, str], tuple[int, Snapshot[Any]]] = {}
        self._key_locks = [threading.Lock() for _ in range(_KEY_LOCKS)]
        with self._errors("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._initialize()

    def _initialize(self) -> None:
        """Switch the file to WAL and create the schema. Switching the journal mode does not
        wait on the busy handler, so processes opening a new file together retry here."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn = self._conn()
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA + _DEFINITIONS_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        """Threads sharing this store take turns per key (a key hashes to one of a few
        locks), so they never conflict with each other; other processes still may."""
        with self._key_locks[hash((actor.name, key)) % _KEY_LOCKS]:
            return super().apply(actor, key, event)

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():  # never share a connection across fork
            # No busy handler: SQLite's sleeps 1 ms, then longer, for a lock held ~0.1 ms.
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            local.conn, local.pid = conn, os.getpid()
        return conn

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement, waiting out a lock held by another connection with short
        jittered sleeps, for up to ``busy_timeout`` seconds."""
        deadline = None
        while True:
            try:
                return self._conn().execute(sql, args)
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now >= deadline:
                    raise
                time.sleep(random.uniform(0, _BUSY_SLEEP))

    def _errors(self, what: str, *, actor: str = "", key: str = "") -> _SqliteErrors:
        return _SqliteErrors(self, what, actor=actor, key=key)

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        """The snapshot, and as token its version and indexed columns (see ``_commit``)."""
        with self._errors("read", actor=actor.name, key=key):
            row = self._execute(
                "SELECT version, state, pending_outbox, due_at, doc FROM actors"
                " WHERE gate=? AND key=?",
                (actor.name, key),
            ).fetchone()
        if row is None:
            return None, None
        version, *indexed, doc = row
        token = (version, tuple(indexed))
        cached = self._decoded.get((actor.name, key))
        if cached is not None and cached[0] == version:
            return cached[1], token
        snapshot = actor.decode(json.loads(doc))
        self._remember(actor.name, key, snapshot)
        return snapshot, token

    def _remember(self, gate: str, key: str, snapshot: Snapshot[Any]) -> None:
        """Cache the decoded snapshot of a version; a version's content never changes."""
        if len(self._decoded) >= _DECODED_LIMIT:
            self._decoded.clear()
        self._decoded[(gate, key)] = (snapshot.version, snapshot)

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        doc = json.dumps(actor.encode(snapshot), separators=(",", ":"))  # ASCII: chars = bytes
        if len(doc) > MAX_DOCUMENT_BYTES:  # as on Firestore, so a gate behaves alike on both
            raise StoreRejected(
                f"{actor.name}/{key}: the document would be {len(doc)} bytes,"
                f" over the limit of {MAX_DOCUMENT_BYTES}"
            )
        columns = {
            "version": snapshot.version,
            "generation": snapshot.generation,
            "updated_at": format_utc(snapshot.updated_at),
            "doc": doc,
        }
        indexed = (snapshot.state, len(snapshot.outbox), format_utc(actor.due_at(snapshot)))
        with self._errors("commit", actor=actor.name, key=key):
            # One statement, so one implicit transaction: the version guard and the write
            # are atomic, and the write lock is held for the write alone.
            if token is None:
                columns.update(zip(_INDEXED, indexed, strict=True))
                cursor = self._execute(
                    f"INSERT INTO actors (gate, key, {', '.join(columns)})"
                    f" VALUES (?, ?{', ?' * len(columns)}) ON CONFLICT (gate, key) DO NOTHING",
                    (actor.name, key, *columns.values()),
                )
            else:
                # Indexed columns are set only when they change: SQLite rewrites the index
                # entries of every column an UPDATE sets, whatever the value.
                version, before = token
                columns.update(
                    (name, new)
                    for name, old, new in zip(_INDEXED, before, indexed, strict=True)
                    if old != new
                )
                cursor = self._execute(
                    f"UPDATE actors SET {', '.join(f'{name}=?' for name in columns)}"
                    " WHERE gate=? AND key=? AND version=?",
                    (*columns.values(), actor.name, key, version),
                )
        if cursor.rowcount != 1:  # another writer committed first
            return False
        self._remember(actor.name, key, snapshot)
        return True

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
        sql = ["SELECT key, version, doc FROM actors WHERE gate=?"]
        args: list[Any] = [actor.name]
        if states is not None:
            wanted = list(states)
            sql.append(f"AND state IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        if pending_outbox:
            sql.append("AND pending_outbox > 0")
        if due_before is not None:
            sql.append("AND due_at IS NOT NULL AND due_at <= ?")
            args.append(format_utc(due_before))
        if start is not None:
            sql.append("AND key >= ?")
            args.append(start)
        if stop is not None:
            sql.append("AND key < ?")
            args.append(stop)
        sql.append("ORDER BY key DESC" if descending else "ORDER BY key")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        with self._errors("scan"):
            rows = self._execute(" ".join(sql), args).fetchall()
        for key, version, doc in rows:  # a version decoded before is not decoded again
            cached = self._decoded.get((actor.name, key))
            if cached is not None and cached[0] == version:
                yield cached[1]
                continue
            snapshot = actor.decode(json.loads(doc))
            self._remember(actor.name, key, snapshot)
            yield snapshot

    def record_definition(self, record: DefinitionRecord) -> DefinitionRecord:
        with self._errors("record definition"):
            self._execute(
                "INSERT INTO definitions (gate, fingerprint, recorded_at, doc) VALUES (?,?,?,?)"
                " ON CONFLICT (gate, fingerprint) DO NOTHING",
                (
                    record.actor,
                    record.fingerprint,
                    format_utc(record.recorded_at),
                    json.dumps(record.document, sort_keys=True, separators=(",", ":")),
                ),
            )
        kept = self.definition(record.actor, record.fingerprint)
        assert kept is not None  # just written, or written before
        return kept

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        with self._errors("read definition"):
            row = self._execute(
                "SELECT recorded_at, doc FROM definitions WHERE gate=? AND fingerprint=?",
                (actor, fingerprint),
            ).fetchone()
        if row is None:
            return None
        return _definition(actor, fingerprint, *row)

    def definitions(self, actor: str) -> list[DefinitionRecord]:
        with self._errors("read definitions"):
            rows = self._execute(
                "SELECT fingerprint, recorded_at, doc FROM definitions WHERE gate=?"
                " ORDER BY recorded_at, rowid",
                (actor,),
            ).fetchall()
        return [_definition(actor, *row) for row in rows]

    def quarantine(self, record: Quarantined) -> str:
        with self._errors("quarantine"):
            cursor = self._execute(
                "INSERT INTO quarantine (at, gate, reason, source, message_id, raw)"
                " VALUES (?,?,?,?,?,?)",
                (
                    format_utc(record.at),
                    record.actor,
                    record.reason,
                    record.source,
                    record.message_id,
                    record.raw,
                ),
            )
        return str(cursor.lastrowid)

    def quarantined(self, actor: str | None = None, limit: int = 100) -> list[Quarantined]:
        sql = f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine"
        args: list[Any] = []
        if actor is not None:
            sql += " WHERE gate=?"
            args.append(actor)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._errors("read quarantine"):
            rows = self._execute(sql, args).fetchall()
        return [_quarantined(row) for row in rows]

    def quarantined_record(self, record_id: str) -> Quarantined | None:
        if not record_id.isdigit():
            return None
        with self._errors("read quarantine"):
            row = self._execute(
                f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine WHERE id=?", (int(record_id),)
            ).fetchone()
        return None if row is None else _quarantined(row)

    def resolve_quarantined(self, resolution: Resolution) -> bool:
        if not resolution.id.isdigit():
            return False
        document = json.dumps(resolution_document(resolution), separators=(",", ":"))
        with self._errors("resolve quarantine"):
            self._execute("BEGIN IMMEDIATE")
            try:
                gone = self._execute(
                    "DELETE FROM quarantine WHERE id=?", (int(resolution.id),)
                ).rowcount
                if gone == 1:
                    self._execute(
                        "INSERT INTO quarantine_resolved (id, gate, at, doc) VALUES (?,?,?,?)",
                        (resolution.id, resolution.actor, format_utc(resolution.at), document),
                    )
                self._execute("COMMIT")
            except BaseException:
                self._execute("ROLLBACK")
                raise
        return gone == 1

    def resolutions(self, actor: str | None = None, limit: int = 100) -> list[Resolution]:
        sql = "SELECT doc FROM quarantine_resolved"
        args: list[Any] = []
        if actor is not None:
            sql += " WHERE gate=?"
            args.append(actor)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        with self._errors("read quarantine resolutions"):
            rows = self._execute(sql, args).fetchall()
        return [resolution_from_document(json.loads(doc)) for (doc,) in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()


def _quarantined(row: Sequence[Any]) -> Quarantined:
    record_id, at, gate, reason, source, message_id, raw = row
    return Quarantined(
        id=str(record_id),
        at=parse_utc(at),
        actor=gate,
        reason=reason,
        source=source,
        message_id=message_id,
        raw=raw,
    )


def _definition(actor: str, fingerprint: str, recorded_at: str, doc: str) -> DefinitionRecord:
    return DefinitionRecord(
        actor=actor,
        fingerprint=fingerprint,
        document=json.loads(doc),
        recorded_at=parse_utc(recorded_at),
    )


def _locked(error: sqlite3.Error) -> bool:
    """Another connection holds the lock (by SQLite's error code, not its message)."""
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES


class _SqliteErrors:
    """Translate sqlite3 errors: a lock held past the busy timeout is contention, the rest is
    the store being unavailable."""

    def __init__(self, store: SqliteStore, what: str, *, actor: str = "", key: str = "") -> None:
        self.store, self.what, self.actor, self.key = store, what, actor, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, sqlite3.Error):
            return
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == _NOT_A_DATABASE:
            raise ConfigurationError(
                f"{self.store.path} is not a phaseactors store: not an SQLite database"
            ) from exc
        if _locked(exc) and self.key:
            error: Exception = ContentionError(self.actor, self.key, 1)
        else:
            error = StoreUnavailable(f"{self.store!r}: {self.what} failed: {exc}")
        raise error from exc
