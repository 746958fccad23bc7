"""attrs validators shared by the value objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attrs import validators

__all__ = ["nonempty_str", "utc_datetime"]

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
