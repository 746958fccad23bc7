"""Parse the producers' completion body into a :class:`Completion`: tolerant of shape, strict on
values. Every defect raises :class:`~phaseactors.errors.InvalidMessage` naming the field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..core.clock import parse_utc
from ..errors import InvalidMessage
from ..limits import (
    INT64_MAX,
    MAX_ERROR_TEXT,
    MAX_ID_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
)
from .completion import PROCESSOR_NAME, Completion, Status

__all__ = ["parse_completion"]

_STATUSES = {s.value for s in Status}
_DIGITS = re.compile(r"[0-9]+")


def _text(
    body: Mapping[str, Any], name: str, *, required: bool, limit: int = MAX_ID_LENGTH
) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidMessage(name, "missing")
        return None
    if not isinstance(value, str):
        raise InvalidMessage(name, f"must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise InvalidMessage(name, f"longer than {limit} characters")
    return value


def _count(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessage(name, f"must be a non-negative integer, got {_shown(value)}")
    if not 0 <= value <= INT64_MAX:
        raise InvalidMessage(
            name, f"must be a non-negative integer of at most 64 bits, got {_shown(value)}"
        )
    return value


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut: an error reason quotes what was sent, never all of it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _error_message(body: Mapping[str, Any]) -> str | None:
    """A processor's error text is evidence, not a defect: keep it, cut to 4 KiB."""
    value = body.get("error_message")
    if value is None or value == "":
        return None
    return (value if isinstance(value, str) else repr(value))[:MAX_ERROR_TEXT]


def parse_completion(
    body: Mapping[str, Any], key_field: str, message_id: str | None = None
) -> Completion:
    """Validate a producer body (``processor_name``, ``execution_id``, ``status``, the key field,
    and optional ``correlation_id``, ``output_table``, ``record_count``, ``timestamp``,
    ``error_message``, ``metadata``)."""
    if not isinstance(body, Mapping):
        raise InvalidMessage("body", f"must be a JSON object, got {type(body).__name__}")
    processor = _text(body, "processor_name", required=True, limit=MAX_NAME_LENGTH)
    if processor is not None and not re.fullmatch(PROCESSOR_NAME, processor):
        raise InvalidMessage(
            "processor_name",
            f"{_shown(processor)} must start with a letter or digit and use only letters,"
            " digits and _ . : -",
        )
    execution_id = _text(body, "execution_id", required=True)
    if message_id is not None and not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise InvalidMessage("messageId", f"must be 1 to {MAX_ID_LENGTH} characters")
    key = body.get(key_field)
    if not isinstance(key, str) or not key.strip():
        problem = "missing" if key is None else f"invalid key {_shown(key)}"
        raise InvalidMessage(key_field, problem)
    if len(key.strip()) > MAX_KEY_LENGTH:
        raise InvalidMessage(key_field, f"longer than {MAX_KEY_LENGTH} characters")
    status = body.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise InvalidMessage("status", f"{_shown(status)} is not one of {sorted(_STATUSES)}")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidMessage("metadata", f"must be an object, got {type(metadata).__name__}")
    timestamp = body.get("timestamp")
    reported_at = None
    if timestamp is not None:
        try:
            reported_at = parse_utc(timestamp)
        except (ValueError, TypeError):
            raise InvalidMessage("timestamp", f"{_shown(timestamp)} is not ISO-8601") from None
    assert processor is not None
    assert execution_id is not None
    return Completion(
        processor=processor,
        key=key.strip(),
        status=Status(status),
        execution_id=execution_id,
        correlation_id=_text(body, "correlation_id", required=False) or execution_id,
        message_id=message_id,
        output_table=_text(body, "output_table", required=False, limit=MAX_TEXT_LENGTH),
        record_count=_count(body, "record_count"),
        reported_at=reported_at,
        error_message=_error_message(body),
        metadata=dict(metadata or {}),
    )
