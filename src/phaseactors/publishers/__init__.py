"""Publishers behind one port, chosen by URL (or ``$PHASEACTORS_PUBLISHER``).

``jsonl://PATH``, ``log://``, ``memory://`` (recording), ``pubsub://PROJECT``. The Pub/Sub
adapter is imported only when a Pub/Sub URL is opened.
"""

from __future__ import annotations

from ..config import Settings
from ..core.publisher import Publisher
from ..errors import InvalidURL
from .jsonl import JsonlPublisher, read_jsonl
from .log import LogPublisher
from .recording import Published, RecordingPublisher

__all__ = [
    "JsonlPublisher",
    "LogPublisher",
    "Published",
    "Publisher",
    "RecordingPublisher",
    "open_publisher",
    "read_jsonl",
]


def open_publisher(url: str | None = None, default: str = "log://") -> Publisher:
    """Open the publisher named by ``url``, else ``$PHASEACTORS_PUBLISHER``, else ``default``.
    A URL that cannot be opened as written is :class:`~phaseactors.errors.InvalidURL`."""
    url = url or Settings.from_env().publisher or default
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidURL(
            f"publisher URL {url!r} has no scheme: expected jsonl://PATH, log://, memory://"
            " or pubsub://PROJECT"
        )
    if scheme == "jsonl":
        if not rest:
            raise InvalidURL(f"publisher URL {url!r} has no file path: use jsonl://PATH")
        return JsonlPublisher(rest)
    if scheme in ("log", "memory") and rest:
        raise InvalidURL(f"publisher URL {url!r}: {scheme}:// takes no path")
    if scheme == "log":
        return LogPublisher()
    if scheme == "memory":
        return RecordingPublisher()
    if scheme == "pubsub":
        from .pubsub import open_pubsub_publisher

        return open_pubsub_publisher(rest)
    raise InvalidURL(
        f"unknown publisher URL {url!r}: expected jsonl://PATH, log://, memory:// or"
        " pubsub://PROJECT"
    )
