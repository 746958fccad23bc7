"""Publish by logging: each message is one structured log line (for dry runs)."""

from __future__ import annotations

import json
import logging
import uuid

from ..core.snapshot import OutboxEntry

__all__ = ["LogPublisher"]


class LogPublisher:
    """Logs the message as JSON at INFO on ``phaseactors.publish``; never fails."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("phaseactors.publish")

    def publish(self, entry: OutboxEntry) -> str:
        message_id = f"log-{uuid.uuid4().hex}"
        line = {
            "message_id": message_id,
            "topic": entry.topic,
            "attributes": dict(entry.attributes),
            "data": dict(entry.body),
        }
        self.logger.info("publish %s", json.dumps(line, sort_keys=True))
        return message_id
