"""The outbound port: publish one outbox entry, return the transport's message id."""

from __future__ import annotations

from typing import Protocol

from .snapshot import OutboxEntry

__all__ = ["Publisher"]


class Publisher(Protocol):
    """Publishes outbox entries. Raise :class:`~phaseactors.errors.PublishFailed` on failure,
    never return as if published: the entry then stays pending and is re-driven later."""

    def publish(self, entry: OutboxEntry) -> str:
        """Publish ``entry`` to ``entry.topic``; return the message id."""
        ...
