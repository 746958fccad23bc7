"""attrs validators shared by the value objects."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from attrs import validators

from ..errors import InvalidMessage

__all__ = ["TRACEPARENT", "audit_text", "nonempty_str", "utc_datetime", "w3c_traceparent"]

#: A W3C ``traceparent`` header: version, trace id, parent span id, flags (all-zero ids are
#: invalid).
TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

nonempty_str = validators.and_(validators.instance_of(str), validators.min_len(1))
"""A non-empty string."""


def utc_datetime(instance: Any, attribute: Any, value: Any) -> None:
    """The value is None or a timezone-aware datetime in UTC."""
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime, got {value!r}")
    if value.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"{attribute.name} must be in UTC, got {value.isoformat()}")


def audit_text(max_len: int) -> Any:
    """An operator's text (a reason, a name): not blank, at most ``max_len`` characters.
    Raises :class:`~phaseactors.errors.InvalidMessage`, so a caller's mistake is permanent."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise InvalidMessage(attribute.name, "must not be empty or blank")
        if len(value) > max_len:
            raise InvalidMessage(attribute.name, f"longer than {max_len} characters")

    return check


def w3c_traceparent(instance: Any, attribute: Any, value: Any) -> None:
    """The value is a W3C ``traceparent``."""
    if not isinstance(value, str) or not TRACEPARENT.fullmatch(value):
        raise ValueError(f"{attribute.name} must be a W3C traceparent, got {value!r}")
