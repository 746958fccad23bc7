"""In-memory publisher for tests and demos, with injectable failures."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from ..core.snapshot import OutboxEntry
from ..errors import PublishFailed

__all__ = ["Published", "RecordingPublisher"]


@frozen
class Published:
    """One message as it left the process."""

    entry_id: str
    topic: str
    body: Mapping[str, Any]
    attributes: Mapping[str, str]
    ordering_key: str | None
    message_id: str


class RecordingPublisher:
    """Keeps every published message in ``messages``; can fail on demand."""

    def __init__(self, fail_when: Callable[[OutboxEntry], bool] | None = None) -> None:
        self.messages: list[Published] = []
        self.raw_messages: list[tuple[str, bytes, dict[str, str], str]] = []
        self.attempts = 0
        self.fail_when = fail_when
        self._failures_left = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, count: int = 1) -> None:
        """Make the next ``count`` publishes raise :class:`PublishFailed`."""
        with self._lock:
            self._failures_left += count

    def clear_failures(self) -> None:
        """Forget failures requested by :meth:`fail_next` that have not happened yet."""
        with self._lock:
            self._failures_left = 0

    def publish(self, entry: OutboxEntry) -> str:
        with self._lock:
            self.attempts += 1
            if self._failures_left:
                self._failures_left -= 1
                raise PublishFailed(f"injected failure publishing {entry.id}")
            if self.fail_when is not None and self.fail_when(entry):
                raise PublishFailed(f"injected failure publishing {entry.id}")
            message_id = f"recorded-{next(self._ids)}"
            self.messages.append(
                Published(
                    entry.id,
                    entry.topic,
                    dict(entry.body),
                    dict(entry.attributes),
                    entry.ordering_key,
                    message_id,
                )
            )
            return message_id

    def publish_raw(
        self,
        topic: str,
        data: bytes,
        attributes: Mapping[str, str],
        ordering_key: str | None = None,
    ) -> str:
        """Record a raw message (a dead letter) in ``raw_messages``."""
        with self._lock:
            message_id = f"recorded-{next(self._ids)}"
            self.raw_messages.append((topic, data, dict(attributes), message_id))
            return message_id
