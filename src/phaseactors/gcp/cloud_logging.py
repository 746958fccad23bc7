"""Structured JSON logs in Cloud Logging's format: one object per line on stdout, with
``severity``, ``message``, the trace and span, labels, and the fields that explain a delivery:
those of the delivery being handled (:func:`phaseactors.core.telemetry.fields`) on every line,
and a line's own ``extra=`` fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from phaseactors.core import telemetry

__all__ = ["CloudLoggingFormatter", "configure_cloud_logging", "span_from", "trace_from"]

#: Fields copied into the entry when the delivery or the record has them.
FIELDS = (
    "gate",
    "pipeline",
    "key",
    "processor",
    "execution_id",
    "correlation_id",
    "message_id",
    "outcome",
    "state",
    "trigger_id",
    "reason",
    "published",
    "alert",
)
TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
LABELS = "logging.googleapis.com/labels"
_LABELLED = ("gate", "key")  # also as labels, which log-based metrics and alerts can group by


def span_from(traceparent: str | None) -> str | None:
    """The span id of a W3C ``traceparent``, or None."""
    parts = (traceparent or "").split("-")
    return parts[2] if len(parts) >= 4 and len(parts[2]) == 16 else None


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
        context = telemetry.fields()
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is not None:
                entry[name] = value
        trace = getattr(record, "trace", None) or context.get("trace")
        if trace:
            entry[TRACE] = trace
        span = getattr(record, "span_id", None) or context.get("span_id")
        if span:
            entry[SPAN] = span
        labels = {name: str(entry[name]) for name in _LABELLED if name in entry}
        if labels:
            entry[LABELS] = labels
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
