"""Publishers behind one port, chosen by URL (or ``$PHASEACTORS_PUBLISHER``).

``jsonl://PATH``, ``log://``, ``memory://`` (recording), ``pubsub://PROJECT``. The Pub/Sub
adapter is imported only when a Pub/Sub URL is opened.
"""

from __future__ import annotations

from ..config import Settings
from ..core.publisher import Publisher
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
    """Open the publisher named by ``url``, else ``$PHASEACTORS_PUBLISHER``, else ``default``."""
    url = url or Settings.from_env().publisher or default
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"publisher URL {url!r} has no scheme")
    if scheme == "jsonl":
        if not rest:
            raise ValueError(f"{url!r}: missing file path")
        return JsonlPublisher(rest)
    if scheme == "log":
        return LogPublisher()
    if scheme == "memory":
        return RecordingPublisher()
    if scheme == "pubsub":
        from .pubsub import open_pubsub_publisher

        return open_pubsub_publisher(rest)
    raise ValueError(
        f"unknown publisher URL {url!r}; expected jsonl://, log://, memory:// or pubsub://"
    )
