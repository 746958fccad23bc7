"""Publish to a JSON-lines file: one message per line, safe across processes.

The file is a local stand-in for a topic and its consumer at once: like a consumer that drops
repeats by ``trigger_id``, it keeps one line per outbox entry, so re-driving an entry after a
crash returns the first message id instead of appending a copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.clock import utcnow
from ..core.snapshot import OutboxEntry
from ..errors import PublishFailed

__all__ = ["JsonlPublisher", "read_jsonl"]


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The messages in a JSON-lines publisher file, in order (nothing if it does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    except FileNotFoundError:
        return


class JsonlPublisher:
    """Appends ``{"message_id", "entry_id", "topic", "attributes", "ordering_key",
    "published_at", "data"}`` lines under an exclusive file lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JsonlPublisher({str(self.path)!r})"

    def publish(self, entry: OutboxEntry) -> str:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.seek(0)
                for line in handle:
                    if line.strip():
                        existing = json.loads(line)
                        if existing.get("entry_id") == entry.id:
                            return str(existing["message_id"])
                message_id = uuid.uuid4().hex
                record = {
                    "message_id": message_id,
                    "entry_id": entry.id,
                    "topic": entry.topic,
                    "attributes": dict(entry.attributes),
                    "ordering_key": entry.ordering_key,
                    "published_at": utcnow().isoformat(),
                    "data": dict(entry.body),
                }
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
                return message_id
        except OSError as exc:
            raise PublishFailed(f"{self!r}: {exc}") from exc
