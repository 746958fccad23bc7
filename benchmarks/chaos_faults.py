"""Fault injection for the chaos soak: publisher and store wrappers, and the publish log.

The wrappers consult the faults of the delivery the current thread is working on
(:func:`activate`); outside a delivery (the final sweep) they pass everything through.

* :class:`FaultyPublisher` fails a publish with ``PublishFailed``, or crashes the worker right
  before publishing (after the trigger was committed) or right after (before the confirm). A
  crash is ``SIGKILL`` of the worker process, or :class:`SimulatedCrash` in a worker thread.
* :class:`FaultyStore` aborts a store call before it commits, or after (the commit happened
  but the caller sees ``StoreUnavailable``, as when a response is lost).
* :class:`ChaosMemoryStore` and :class:`ChaosSqliteStore` make commits conflict, as if another
  writer had committed first; Firestore's conflicts are natural, only counted.
* :class:`PublishLog` appends every publish, repeats included (``JsonlPublisher`` would drop
  repeats of an entry id), so the verifier sees what a subscriber would.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from chaos_plan import DeliveryFaults
from phaseactors import (
    Actor,
    Event,
    MemoryStore,
    OutboxEntry,
    Publisher,
    PublishFailed,
    Snapshot,
    SqliteStore,
    Store,
    StoreUnavailable,
)
from phaseactors.core.definitions import DefinitionRecord
from phaseactors.stores import Applied, Quarantined

__all__ = [
    "ChaosMemoryStore",
    "ChaosSqliteStore",
    "FaultyPublisher",
    "FaultyStore",
    "PublishLog",
    "SimulatedCrash",
    "activate",
    "current",
    "deactivate",
    "read_publish_log",
]

D = TypeVar("D")
_local = threading.local()


class SimulatedCrash(BaseException):
    """A worker thread dies here. A BaseException, so the runtime's ``except Exception`` does
    not release the lease: the key keeps its claimed trigger, as after a real crash."""


def activate(faults: DeliveryFaults) -> None:
    _local.faults = faults


def deactivate() -> None:
    _local.faults = None


def current() -> DeliveryFaults | None:
    faults: DeliveryFaults | None = getattr(_local, "faults", None)
    return faults


def crash(point: str, *, kill: bool) -> None:
    """Die now: SIGKILL this process, or (a thread) raise :class:`SimulatedCrash`."""
    if kill:
        os.kill(os.getpid(), signal.SIGKILL)
    raise SimulatedCrash(point)


class FaultyPublisher:
    """Publishes through ``inner`` unless this delivery's publish fault says otherwise.

    ``swallow_failures`` is sabotage for testing the verifier: an injected failure returns a
    made-up message id, as a handler that swallows publish errors would, instead of raising.
    """

    def __init__(self, inner: Publisher, *, kill: bool, swallow_failures: bool = False) -> None:
        self.inner = inner
        self.kill = kill
        self.swallow_failures = swallow_failures

    def publish(self, entry: OutboxEntry) -> str:
        faults = current()
        fault = faults.take_publish_fault() if faults is not None else None
        if fault == "crash_before_publish":
            crash(fault, kill=self.kill)
        if fault == "publish_failure":
            if self.swallow_failures:
                return f"swallowed-{uuid.uuid4().hex[:12]}"
            raise PublishFailed(f"injected publish failure for {entry.id}")
        message_id = self.inner.publish(entry)
        if fault == "crash_after_publish":
            crash(fault, kill=self.kill)
        return message_id


class FaultyStore:
    """A :class:`~phaseactors.Store` whose ``apply`` sometimes aborts, before or after commit."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"FaultyStore({self.inner!r})"

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        faults = current()
        abort = faults.take_abort() if faults is not None else None
        if abort == "before":
            raise StoreUnavailable(f"injected: store unavailable before committing {key}")
        applied = self.inner.apply(actor, key, event)
        if abort == "after":
            raise StoreUnavailable(f"injected: {key} committed but the response was lost")
        return applied

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        return self.inner.load(actor, key)

    def scan(
        self,
        actor: Actor[D],
        *,
        states: Iterable[str] | None = None,
        pending_outbox: bool = False,
        due_before: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[Snapshot[D]]:
        return self.inner.scan(
            actor,
            states=states,
            pending_outbox=pending_outbox,
            due_before=due_before,
            limit=limit,
        )

    def stranded(self, actor: Actor[D]) -> list[str]:
        return self.inner.stranded(actor)

    def record_definition(self, record: DefinitionRecord) -> DefinitionRecord:
        return self.inner.record_definition(record)

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        return self.inner.definition(actor, fingerprint)

    def definitions(self, actor: str) -> list[DefinitionRecord]:
        return self.inner.definitions(actor)

    def quarantine(self, record: Quarantined) -> None:
        self.inner.quarantine(record)

    def quarantined(self, gate: str | None = None, limit: int = 100) -> list[Quarantined]:
        return self.inner.quarantined(gate, limit)

    def close(self) -> None:
        self.inner.close()


def _injected_conflict() -> bool:
    faults = current()
    return faults is not None and faults.take_conflict()


def _note_natural_conflict() -> None:
    faults = current()
    if faults is not None:
        faults.note("natural_conflicts")


class ChaosMemoryStore(MemoryStore):
    """The memory store with injected conflicts, through its ``conflict_hook``."""

    def __init__(self) -> None:
        super().__init__(conflict_hook=self._hook)
        self._hooked = threading.local()

    def _hook(self, gate: str, key: str) -> bool:
        self._hooked.injected = _injected_conflict()
        return bool(self._hooked.injected)

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        self._hooked.injected = False
        committed = super()._commit(actor, key, token, snapshot)
        if not committed and not self._hooked.injected:
            _note_natural_conflict()
        return committed


class ChaosSqliteStore(SqliteStore):
    """The SQLite store whose commits sometimes report a conflict without trying."""

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        if _injected_conflict():
            return False
        committed = super()._commit(actor, key, token, snapshot)
        if not committed:
            _note_natural_conflict()
        return committed


class PublishLog:
    """A publisher that appends every message as a JSON line (O_APPEND under ``flock``), from
    any number of threads and processes. Nothing is deduplicated."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PublishLog({str(self.path)!r})"

    def publish(self, entry: OutboxEntry) -> str:
        message_id = f"log-{uuid.uuid4().hex}"
        record = {
            "message_id": message_id,
            "entry_id": entry.id,
            "topic": entry.topic,
            "attributes": dict(entry.attributes),
            "ordering_key": entry.ordering_key,
            "data": dict(entry.body),
            "pid": os.getpid(),
        }
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    os.write(fd, line)
                finally:
                    os.close(fd)  # closing releases the lock
        except OSError as exc:
            raise PublishFailed(f"{self!r}: {exc}") from exc
        return message_id


def read_publish_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every line of a :class:`PublishLog`, in order."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
