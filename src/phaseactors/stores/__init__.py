"""Stores behind one protocol, chosen by URL (or ``$PHASEACTORS_STORE``).

``memory://``, ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
``firestore://PROJECT[/DATABASE]?prefix=...&design=combining|optimistic``. The Firestore
adapter is imported only when a Firestore URL is opened, so ``import phaseactors`` never loads
Google client libraries; the SQLite one when a SQLite URL is opened or ``SqliteStore`` is
first used, so a Cloud Function never loads ``sqlite3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..config import Settings
from ..errors import InvalidURL
from .base import Applied, OptimisticStore, Quarantined, RetryPolicy, Store
from .memory import MemoryStore

if TYPE_CHECKING:
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


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open the store named by ``url``, else ``$PHASEACTORS_STORE``, else the default file.

    With ``create=False`` (commands that only read) a SQLite file that does not exist is
    :class:`~phaseactors.errors.StoreNotFound` instead of a new, empty store. A URL that cannot
    be opened as written (unknown scheme or option, no path) is
    :class:`~phaseactors.errors.InvalidURL`.
    """
    url = url or Settings.from_env().store or DEFAULT_STORE_URL
    try:
        parts = urlsplit(url)
        options = {
            k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=bool(parts.query)).items()
        }
    except ValueError as exc:
        raise InvalidURL(f"store URL {url!r} is malformed: {exc}") from None
    if parts.scheme == "memory":
        _only(url, options, ())
        return MemoryStore()
    if parts.scheme == "sqlite":
        return _open_sqlite(url, parts.netloc, parts.path, options, create=create)
    if parts.scheme == "firestore":
        _only(url, options, ("prefix", "design", "connect_timeout", "retention_days"))
        from .firestore import open_firestore_store

        return open_firestore_store(parts.netloc, parts.path.strip("/") or None, options)
    raise InvalidURL(
        f"unknown store URL {url!r}: expected memory://, sqlite:///path.db or"
        " firestore://PROJECT[/DATABASE]"
    )


def _only(url: str, options: dict[str, str], known: tuple[str, ...]) -> None:
    for name in options:
        if name not in known:
            expected = ", ".join(known) or "none"
            raise InvalidURL(f"store URL {url!r}: unknown option {name!r} (options: {expected})")


def _open_sqlite(
    url: str, netloc: str, path: str, options: dict[str, str], *, create: bool
) -> SqliteStore:
    _only(url, options, ("synchronous", "busy_timeout"))
    if netloc:
        raise InvalidURL(
            f"store URL {url!r}: use sqlite:///relative.db or sqlite:////absolute.db"
            f" (three slashes, then the path; {netloc!r} would be a host)"
        )
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise InvalidURL(f"store URL {url!r} has no file path: use sqlite:///path.db")
    try:
        busy_timeout = float(options.get("busy_timeout", 30.0))
    except ValueError:
        raise InvalidURL(
            f"store URL {url!r}: busy_timeout must be a number of seconds,"
            f" got {options['busy_timeout']!r}"
        ) from None
    from .sqlite import SqliteStore

    try:
        return SqliteStore(
            path,
            synchronous=options.get("synchronous", "NORMAL"),
            busy_timeout=busy_timeout,
            create=create,
        )
    except ValueError as exc:  # a synchronous level SQLite does not know
        raise InvalidURL(f"store URL {url!r}: {exc}") from None


def __getattr__(name: str) -> Any:
    """``SqliteStore``, imported when it is first used (PEP 562)."""
    if name != "SqliteStore":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .sqlite import SqliteStore

    globals()[name] = SqliteStore
    return SqliteStore
