"""The store contract on the memory and SQLite stores, plus what is specific to each."""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import pytest

from phaseactors import ConfigurationError
from phaseactors.errors import InvalidURL, StoreNotFound
from phaseactors.gate.actor import GateActor
from phaseactors.stores import MemoryStore, SqliteStore, open_store
from phaseactors.stores.base import RetryPolicy, Store
from phaseactors.testing import StoreContract, contract_spec
from phaseactors.testing.store_contract import completion_event


class TestMemoryStore(StoreContract):
    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        return MemoryStore(retry=retry)

    def test_injected_conflicts_rerun_the_step(self) -> None:
        store, actor = MemoryStore(), GateActor(contract_spec())
        store.inject_conflicts(2)
        applied = store.apply(actor, self.key, completion_event("p0"))
        assert (applied.attempts, store.conflicts, store.commits) == (3, 2, 1)


class TestSqliteStore(StoreContract):
    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        return SqliteStore(tmp_path / "actors.db", retry=retry)

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        return SqliteStore(tmp_path / "actors.db")

    def test_survives_reopening(self, tmp_path: Path) -> None:
        actor = GateActor(contract_spec())
        first = SqliteStore(tmp_path / "actors.db")
        first.apply(actor, self.key, completion_event("p0"))
        first.close()
        reopened = SqliteStore(tmp_path / "actors.db")
        loaded = reopened.load(actor, self.key)
        assert loaded is not None
        assert set(loaded.data.done) == {"p0"}

    def test_processes_on_one_key_lose_nothing(self, tmp_path: Path) -> None:
        count = 12
        path = tmp_path / "actors.db"
        SqliteStore(path).close()
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(count)
        workers = [
            context.Process(target=_deliver_in_process, args=(str(path), count, f"p{i}", start))
            for i in range(count)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0] * count
        loaded = SqliteStore(path).load(GateActor(contract_spec(count)), self.key)
        assert loaded is not None
        assert set(loaded.data.done) == {f"p{i}" for i in range(count)}
        assert (loaded.version, loaded.state, len(loaded.outbox)) == (count, "complete", 1)

    def test_a_directory_is_not_a_store(self, tmp_path: Path) -> None:
        (tmp_path / "dir.db").mkdir()
        with pytest.raises(StoreNotFound, match="is a directory"):
            SqliteStore(tmp_path / "dir.db")

    def test_a_file_that_is_not_a_database_is_said_to_be_one(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("not a database\n" * 100)
        with pytest.raises(ConfigurationError, match="not an SQLite database"):
            SqliteStore(tmp_path / "notes.txt")
        assert (tmp_path / "notes.txt").read_text() == "not a database\n" * 100

    def test_a_store_opened_for_reading_is_never_created(self, tmp_path: Path) -> None:
        with pytest.raises(StoreNotFound, match="no store at"):
            SqliteStore(tmp_path / "typo.db", create=False)
        with pytest.raises(StoreNotFound):
            open_store(f"sqlite:///{tmp_path}/typo.db", create=False)
        assert list(tmp_path.iterdir()) == []


def _deliver_in_process(path: str, count: int, name: str, start: object) -> None:
    store = SqliteStore(path)
    start.wait()  # type: ignore[attr-defined]
    store.apply(GateActor(contract_spec(count)), "2025-11-29", completion_event(name))


def test_open_store_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    sqlite = open_store(f"sqlite:///{tmp_path}/a.db?synchronous=full")
    assert isinstance(sqlite, SqliteStore)
    assert (sqlite.path, sqlite.synchronous) == (tmp_path / "a.db", "FULL")
    monkeypatch.setenv("PHASEACTORS_STORE", f"sqlite:///{tmp_path}/b.db")
    assert open_store().path == tmp_path / "b.db"  # type: ignore[attr-defined]
    bad_urls = {
        "redis://x": "unknown store URL 'redis://x'",
        "sqlite://host/x.db": "three slashes",
        "sqlite:///": "has no file path",
        "sqlite:///a.db?synchronus=full": "unknown option 'synchronus'",
        "sqlite:///a.db?busy_timeout=soon": "busy_timeout must be a number",
        "sqlite:///a.db?synchronous=maybe": "synchronous must be one of",
        "memory://?x=1": "unknown option 'x'",
        "firestore://": "needs a project",
        "firestore://p?design=fast": "design must be one of",
        "firestore://p?connect_timeout=-1": "connect_timeout must be",
    }
    for bad, reason in bad_urls.items():
        with pytest.raises(InvalidURL, match=re.escape(reason)) as caught:
            open_store(bad)
        assert isinstance(caught.value, ValueError)  # what release 0.1.0 raised


# -- SQLite specifics ---------------------------------------------------------------------------


class _Oversized:
    """A gate actor whose documents carry one more megabyte than the step made."""

    def __init__(self, inner: GateActor) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def encode(self, snapshot: object) -> dict[str, object]:
        from phaseactors.limits import MAX_DOCUMENT_BYTES

        return {**self.inner.encode(snapshot), "padding": "x" * MAX_DOCUMENT_BYTES}  # type: ignore[arg-type]


def test_sqlite_refuses_a_document_over_one_mib_for_good_and_keeps_the_key(tmp_path: Path) -> None:
    from phaseactors.errors import PermanentError, StoreRejected

    store = SqliteStore(tmp_path / "big.db")
    actor = GateActor(contract_spec())
    store.apply(actor, "2025-11-29", completion_event("p0"))
    with pytest.raises(StoreRejected, match=r"over the limit of 1048576") as refused:
        store.apply(_Oversized(actor), "2025-11-29", completion_event("p1"))  # type: ignore[arg-type]
    assert isinstance(refused.value, PermanentError)  # quarantined, never redelivered
    loaded = store.load(actor, "2025-11-29")
    assert loaded is not None
    assert (loaded.version, set(loaded.data.done)) == (1, {"p0"})


def test_sqlite_opening_an_existing_store_changes_no_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import phaseactors.stores.sqlite as sqlite_module

    SqliteStore(tmp_path / "s.db").close()
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite_module.sqlite3, "connect", traced)
    store = SqliteStore(tmp_path / "s.db")
    assert store.load(GateActor(contract_spec()), "2025-11-29") is None
    schema = [s for s in statements if re.match(r"\s*(CREATE|DROP|ALTER)\b", s, re.I)]
    assert not [s for s in schema if not re.match(r"\s*CREATE \w* ?\w+ IF NOT EXISTS", s, re.I)]
    assert not [s for s in statements if re.match(r"\s*DROP\b", s, re.I)]


def test_a_locked_sqlite_read_is_transient_and_names_gate_and_key(tmp_path: Path) -> None:
    import sqlite3

    from phaseactors.errors import ContentionError, TransientError

    path = tmp_path / "busy.db"
    actor = GateActor(contract_spec())
    writer = SqliteStore(path)
    writer.apply(actor, "2025-11-29", completion_event("p0"))
    writer.close()
    store = SqliteStore(path, busy_timeout=0.3)
    store.close()  # it connects again on its next statement, while the lock below is held
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")  # holds the lock, as another process's long write would
    try:
        with pytest.raises(ContentionError, match=rf"^{actor.name}/2025-11-29: ") as caught:
            store.load(actor, "2025-11-29")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert isinstance(caught.value, TransientError)
    cause = caught.value.__cause__
    assert isinstance(cause, sqlite3.OperationalError)
    assert cause.sqlite_errorname == "SQLITE_BUSY"  # told by its code, not its message
