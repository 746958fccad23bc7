"""UTC time helpers: every timestamp phaseactors stores is timezone-aware UTC.

The step never reads a clock; callers stamp events with :func:`utcnow` (or a clock of their
own, for tests and replays) before handing them in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "format_utc", "parse_utc", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; naive values are taken as UTC, others converted to UTC."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"expected an ISO-8601 timestamp, got {text!r}")
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable instant
        raise ValueError(f"{text!r} is outside the range of timestamps in UTC") from None


def format_utc(value: datetime | None) -> str | None:
    """The ISO-8601 text of a UTC datetime (``...+00:00``), or None."""
    return None if value is None else value.isoformat()
