"""Structured JSON logs in Cloud Logging's format: one object per line on stdout, with
``severity``, ``message``, the trace, and the fields that explain a delivery."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["CloudLoggingFormatter", "configure_cloud_logging", "trace_from"]

#: ``extra=`` fields copied into the entry when present on a record.
FIELDS = (
    "gate",
    "pipeline",
    "key",
    "outcome",
    "state",
    "correlation_id",
    "message_id",
    "trigger_id",
    "processor",
    "reason",
    "published",
    "alert",
)
TRACE = "logging.googleapis.com/trace"


def trace_from(traceparent: str | None, cloud_trace: str | None, project: str | None) -> str | None:
    """The Cloud Logging trace name from a W3C ``traceparent`` or ``X-Cloud-Trace-Context``."""
    trace_id = None
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) >= 3 and len(parts[1]) == 32:
            trace_id = parts[1]
    elif cloud_trace:
        trace_id = cloud_trace.split("/", 1)[0] or None
    if trace_id is None:
        return None
    return f"projects/{project}/traces/{trace_id}" if project else trace_id


class CloudLoggingFormatter(logging.Formatter):
    """Formats a record as a Cloud Logging structured entry."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        trace = getattr(record, "trace", None)
        if trace:
            entry[TRACE] = trace
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_cloud_logging(level: int = logging.INFO) -> None:
    """Route phaseactors' logs to stdout as Cloud Logging JSON (idempotent)."""
    logger = logging.getLogger("phaseactors")
    if any(isinstance(h.formatter, CloudLoggingFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
