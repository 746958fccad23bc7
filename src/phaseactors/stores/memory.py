"""In-process store: thread-safe, optimistic by version, with injectable conflicts.

It is a real optimistic store, not a mock: concurrent writers conflict exactly as they would on
a database, and tests can force conflicts to prove that steps are re-run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ..core.actor import Actor
from ..core.definitions import DefinitionRecord, resolve_definition
from ..core.snapshot import Snapshot
from .base import OptimisticStore, Quarantined, Resolution, RetryPolicy

__all__ = ["MemoryStore"]

D = TypeVar("D")

#: Called before each commit with (gate, key); returning True makes that commit conflict.
ConflictHook = Callable[[str, str], bool]


class MemoryStore(OptimisticStore):
    """Snapshots in a dict guarded by a lock; commits compare versions."""

    def __init__(
        self, retry: RetryPolicy | None = None, conflict_hook: ConflictHook | None = None
    ) -> None:
        super().__init__(retry)
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], Snapshot[Any]] = {}
        self._quarantine: list[Quarantined] = []
        self._quarantine_ids = 0
        self._resolutions: list[Resolution] = []
        self._definitions: dict[tuple[str, str], DefinitionRecord] = {}
        self._forced_conflicts = 0
        self.conflict_hook = conflict_hook
        self.commits = 0
        self.conflicts = 0

    def inject_conflicts(self, count: int) -> None:
        """Make the next ``count`` commits fail as if another writer had committed first."""
        with self._lock:
            self._forced_conflicts += count

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        snapshot = self._snapshots.get((actor.name, key))
        return snapshot, (snapshot.version if snapshot is not None else None)

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        hook = self.conflict_hook
        if hook is not None and hook(actor.name, key):
            self.conflicts += 1
            return False
        with self._lock:
            current = self._snapshots.get((actor.name, key))
            if self._forced_conflicts or (current.version if current else None) != token:
                self._forced_conflicts = max(0, self._forced_conflicts - 1)
                self.conflicts += 1
                return False
            self._snapshots[(actor.name, key)] = snapshot
            self.commits += 1
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
        wanted = set(states) if states is not None else None
        with self._lock:
            items = sorted(
                (
                    (key, s)
                    for (gate, key), s in self._snapshots.items()
                    if gate == actor.name
                    and (start is None or key >= start)
                    and (stop is None or key < stop)
                ),
                key=lambda item: item[0],
                reverse=descending,
            )
        count = 0
        for _, snapshot in items:
            if wanted is not None and snapshot.state not in wanted:
                continue
            if pending_outbox and not snapshot.outbox:
                continue
            if due_before is not None:
                resolve_definition(self, actor, snapshot)  # due_at reads the key's definition
                due = actor.due_at(snapshot)
                if due is None or due > due_before:
                    continue
            if limit is not None and count >= limit:
                return
            count += 1
            yield snapshot

    def record_definition(self, record: DefinitionRecord) -> DefinitionRecord:
        with self._lock:
            return self._definitions.setdefault((record.actor, record.fingerprint), record)

    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        with self._lock:
            return self._definitions.get((actor, fingerprint))

    def definitions(self, actor: str) -> list[DefinitionRecord]:
        with self._lock:
            records = [r for (name, _), r in self._definitions.items() if name == actor]
        return sorted(records, key=lambda r: r.recorded_at)  # stable: ties in recording order

    def quarantine(self, record: Quarantined) -> str:
        with self._lock:
            self._quarantine_ids += 1
            record_id = str(self._quarantine_ids)
            self._quarantine.append(attrs.evolve(record, id=record_id))
        return record_id

    def quarantined(self, actor: str | None = None, limit: int = 100) -> list[Quarantined]:
        with self._lock:
            items = [q for q in reversed(self._quarantine) if actor is None or q.actor == actor]
        return items[:limit]

    def quarantined_record(self, record_id: str) -> Quarantined | None:
        with self._lock:
            return next((q for q in self._quarantine if q.id == record_id), None)

    def resolve_quarantined(self, resolution: Resolution) -> bool:
        with self._lock:
            kept = [q for q in self._quarantine if q.id != resolution.id]
            if len(kept) == len(self._quarantine):
                return False
            self._quarantine = kept
            self._resolutions.append(resolution)
            return True

    def resolutions(self, actor: str | None = None, limit: int = 100) -> list[Resolution]:
        with self._lock:
            items = [r for r in reversed(self._resolutions) if actor is None or r.actor == actor]
        return items[:limit]

    def close(self) -> None:
        """Nothing to release; the data lives as long as the object."""
