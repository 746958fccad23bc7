"""Key formats: a key is validated before it is used as a document id anywhere."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from attrs import frozen, validators

from ..core.validators import nonempty_str
from ..errors import InvalidKey
from ..limits import KEY_DATE_MAX, KEY_DATE_MIN, MAX_KEY_LENGTH

__all__ = ["KeyFormat", "check_document_id", "zone"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORBIDDEN_ID = re.compile(r"__.*__")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises ValueError for an unknown zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def check_document_id(key: str, *, field_name: str = "key") -> str:
    """Reject keys no store can use as an id: empty, '/', '.' or '..', ``__x__``, > 1500 bytes."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(field_name, f"must be a non-empty string, got {key!r}")
    if "/" in key or key in {".", ".."} or _FORBIDDEN_ID.fullmatch(key):
        raise InvalidKey(field_name, f"{key!r} cannot be used as a document id")
    if len(key.encode()) > 1500:
        raise InvalidKey(field_name, "longer than 1500 bytes")
    return key


@frozen(kw_only=True)
class KeyFormat:
    """How keys of a gate look: an ISO calendar date in ``timezone``, or a regular expression."""

    field: str = attrs.field(validator=nonempty_str)
    format: str = attrs.field(validator=validators.in_(("date", "pattern")))
    timezone: str = attrs.field(default="UTC")
    pattern: str | None = None
    _zone: ZoneInfo = attrs.field(init=False, repr=False, eq=False)
    _regex: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_zone", zone(self.timezone))
        if self.format == "pattern":
            if not self.pattern:
                raise ValueError("format 'pattern' needs a pattern")
            object.__setattr__(self, "_regex", re.compile(self.pattern))
        else:
            object.__setattr__(self, "_regex", None)

    @property
    def tz(self) -> ZoneInfo:
        return self._zone

    def validate(self, key: object) -> str:
        """Return ``key`` if it is valid for this format, else raise :class:`InvalidKey`."""
        if not isinstance(key, str) or not key:
            raise InvalidKey(self.field, f"must be a non-empty string, got {key!r}")
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidKey(self.field, f"longer than {MAX_KEY_LENGTH} characters")
        if self._regex is not None:
            if not self._regex.fullmatch(key):
                raise InvalidKey(self.field, f"{key!r} does not match {self.pattern!r}")
        else:
            if not _DATE.fullmatch(key):
                raise InvalidKey(self.field, f"{key!r} is not an ISO calendar date (YYYY-MM-DD)")
            try:
                date.fromisoformat(key)
            except ValueError as exc:
                raise InvalidKey(self.field, f"{key!r} is not a calendar date: {exc}") from None
            if not KEY_DATE_MIN <= key <= KEY_DATE_MAX:
                raise InvalidKey(
                    self.field, f"{key!r} is outside the dates {KEY_DATE_MIN} to {KEY_DATE_MAX}"
                )
        return check_document_id(key, field_name=self.field)

    def local_datetime(self, key: str, at: time) -> datetime:
        """The aware datetime of wall-clock ``at`` on the key's date, in the key's time zone."""
        if self.format != "date":
            raise ValueError("wall-clock times need date keys")
        return datetime.combine(date.fromisoformat(key), at, tzinfo=self._zone)
