"""Stores behind one protocol, chosen by URL (or ``$PHASEACTORS_STORE``).

``memory://``, ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
``firestore://PROJECT[/DATABASE]?prefix=...&design=combining|optimistic``. The Firestore
adapter is imported only when a Firestore URL is opened, so ``import phaseactors`` never loads
Google client libraries.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..config import Settings
from .base import Applied, OptimisticStore, Quarantined, RetryPolicy, Store
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = [
    "DEFAULT_STORE_URL",
    "Applied",
    "MemoryStore",
    "OptimisticStore",
    "Quarantined",
    "RetryPolicy",
    "SqliteStore",
    "Store",
    "open_store",
]

DEFAULT_STORE_URL = "sqlite:///phaseactors.db"


def open_store(url: str | None = None) -> Store:
    """Open the store named by ``url``, else ``$PHASEACTORS_STORE``, else the default file."""
    url = url or Settings.from_env().store or DEFAULT_STORE_URL
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "memory":
        return MemoryStore()
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise ValueError(f"{url!r}: use sqlite:///relative.db or sqlite:////absolute.db")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ValueError(f"{url!r}: missing database path")
        return SqliteStore(
            path,
            synchronous=options.get("synchronous", "NORMAL"),
            busy_timeout=float(options.get("busy_timeout", 30.0)),
        )
    if parts.scheme == "firestore":
        from .firestore import open_firestore_store

        return open_firestore_store(parts.netloc, parts.path.strip("/") or None, options)
    raise ValueError(f"unknown store URL {url!r}; expected memory://, sqlite:/// or firestore://")
