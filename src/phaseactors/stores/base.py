"""The optimistic read-step-commit loop most stores share; the port itself is
:mod:`phaseactors.core.store` (re-exported here)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, TypeVar

from ..core import telemetry
from ..core.actor import Actor
from ..core.clock import format_utc, parse_utc
from ..core.definitions import DefinitionRecord, resolve_definition
from ..core.events import Event
from ..core.snapshot import Snapshot
from ..core.store import Applied, Quarantined, Resolution, RetryPolicy, Store
from ..errors import ContentionError

__all__ = [
    "Applied",
    "OptimisticStore",
    "Quarantined",
    "Resolution",
    "RetryPolicy",
    "Store",
    "resolution_document",
    "resolution_from_document",
]

D = TypeVar("D")


def resolution_document(resolution: Resolution) -> dict[str, Any]:
    """A resolution as JSON (times as ISO-8601 text), the form SQLite keeps."""
    return {
        name: format_utc(value) if isinstance(value, datetime) else value
        for name, value in resolution.fields().items()
    }


def resolution_from_document(document: dict[str, Any]) -> Resolution:
    """The resolution kept as ``document`` (times as text or as datetimes)."""
    values = dict(document)
    for name in ("at", "quarantined_at"):
        value = values[name]
        values[name] = parse_utc(value) if isinstance(value, str) else parse_utc(value.isoformat())
    return Resolution(**values)


class OptimisticStore(ABC):
    """Read, step outside any lock, commit if the version is unchanged; retry on conflict.
    Before stepping, a versioned actor is given the stored definition the key is pinned to
    (:func:`~phaseactors.core.definitions.resolve_definition`)."""

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.retry = retry or RetryPolicy()

    @abstractmethod
    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        """The committed snapshot and an opaque token identifying that version."""

    @abstractmethod
    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        """Write ``snapshot`` if the key is still at ``token``; False on conflict."""

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        policy = self.retry
        for attempt in range(1, policy.max_attempts + 1):
            current, token = self._read(actor, key)
            base = current if current is not None else actor.initial(key)
            resolve_definition(self, actor, base)  # a definition the key is pinned to
            with telemetry.span("phaseactors.step", attempt=attempt):
                stepped = actor.step(base, event)
            if stepped.snapshot is base:
                return Applied(base, stepped.outcome, stepped.detail, False, attempt)
            with telemetry.span("phaseactors.commit", attempt=attempt):
                committed = self._commit(actor, key, token, stepped.snapshot)
            if committed:
                return Applied(stepped.snapshot, stepped.outcome, stepped.detail, True, attempt)
            if attempt < policy.max_attempts:
                time.sleep(policy.delay(attempt))
        raise ContentionError(actor.name, key, policy.max_attempts)

    def load(self, actor: Actor[D], key: str) -> Snapshot[D] | None:
        return self._read(actor, key)[0]

    @abstractmethod
    def definition(self, actor: str, fingerprint: str) -> DefinitionRecord | None:
        """The recorded definition (see :class:`~phaseactors.core.store.Store`)."""

    def stranded(self, actor: Actor[D]) -> list[str]:
        return []
