"""The ERROR line of a published alert: what a log-based alerting policy matches.

Written by the runtime of an actor that raises alerts, after the alert's publish returned a
message id, so the line appears once when nothing fails (at least once otherwise, always with
the same ``alert.id``). Notices (an error that is over) are logged at INFO.
"""

from __future__ import annotations

import logging

from ..core.snapshot import OutboxEntry
from .alert import Severity, is_alert

__all__ = ["log_published_alert"]

log = logging.getLogger("phaseactors.alerts")


def log_published_alert(entry: OutboxEntry, message_id: str) -> None:
    """Log ``entry`` if it is an alert: ERROR for errors, INFO for notices."""
    if not is_alert(entry):
        return
    body = entry.body
    level = logging.INFO if body.get("severity") == Severity.NOTICE.value else logging.ERROR
    fields = {
        "id": entry.id,
        "reason": body.get("reason"),
        "subject": body.get("subject"),
        "severity": body.get("severity"),
        "source": body.get("source"),
        "source_type": body.get("source_type"),
        "generation": body.get("generation"),
        "topic": entry.topic,
        "message_id": message_id,
    }
    log.log(
        level,
        "alert %s: %s",
        entry.id,
        body.get("summary", ""),
        extra={
            "alert": fields,
            "key": body.get("key"),
            "reason": body.get("reason"),
            "message_id": message_id,
            "correlation_id": body.get("correlation_id"),
        },
    )
