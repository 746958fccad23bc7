"""When a gate may trigger: profiles (who is expected for a key), the quorum, deadline tiers.

A key's profile is chosen once, from its first event's time, and frozen in its snapshot. The
completion condition relaxes over time: the profile's own quorum first, then each deadline
tier's condition once the tier's time has passed. A tier with ``otherwise = "fail"`` fails the
key when its time passes and its condition does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta

from attrs import field, frozen, validators

from .keys import KeyFormat

__all__ = ["DeadlineTier", "Profile", "parse_duration", "parse_wall_time", "upcoming"]

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_WALL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_fraction = [validators.instance_of(float), validators.ge(0.0), validators.le(1.0)]


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"2h"``, ``"1h30m"``, ``"1d"``, ``"45s"`` → timedelta (must be positive)."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30m, 2h, 1h30m or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    try:
        value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any duration Python can represent") from None
    if value <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return value


def parse_wall_time(text: str) -> time:
    """``"10:30"`` → time(10, 30)."""
    match = _WALL_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a wall-clock time like 10:30")
    return time(int(match[1]), int(match[2]))


def _share(done: int, total: int) -> float:
    return 1.0 if total == 0 else done / total


@frozen(kw_only=True)
class Profile:
    """Who is expected for a key: required processors, the rest optional with a quorum."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    optional_quorum: float = field(default=0.0, validator=_fraction)
    first_event_before: time | None = None
    day_offset: int = 0
    first_event_after_days: int | None = None
    deadlines: tuple[str, ...] | None = None

    def matches(self, key_date: date, first_event: datetime) -> bool:
        """Whether a key whose first event happened at ``first_event`` (local, aware, in the
        gate's zone) uses this profile: before ``first_event_before`` on the key's date plus
        ``day_offset`` days, or ``first_event_after_days`` or more days after the key's date
        (a backfill)."""
        if self.first_event_after_days is not None:
            return (first_event.date() - key_date).days >= self.first_event_after_days
        if self.first_event_before is None:
            return False
        limit = datetime.combine(
            key_date + timedelta(days=self.day_offset),
            self.first_event_before,
            tzinfo=first_event.tzinfo,
        )
        return first_event < limit

    def tiers(self, tiers: tuple[DeadlineTier, ...]) -> tuple[DeadlineTier, ...]:
        """The gate's deadline tiers that apply to keys of this profile."""
        if self.deadlines is None:
            return tiers
        return tuple(t for t in tiers if t.name in self.deadlines)

    def is_required(self, processor: str) -> bool:
        return processor in self.required

    def satisfied(self, done: Collection[str]) -> bool:
        """All required done and the optional quorum met."""
        return all(p in done for p in self.required) and (
            _share(sum(p in done for p in self.optional), len(self.optional))
            >= self.optional_quorum
        )

    def all_done(self, done: Collection[str]) -> bool:
        return all(p in done for p in self.required + self.optional)


@frozen(kw_only=True)
class DeadlineTier:
    """At a time (``after`` the first completion, or wall-clock ``at`` on the key's date plus
    ``day_offset`` days in the gate's zone), trigger if the tier's condition holds."""

    name: str
    after: timedelta | None = None
    at: time | None = None
    day_offset: int = 0
    required: float = field(default=1.0, validator=_fraction)
    optional: float = field(default=0.0, validator=_fraction)
    min_done: int = field(default=0, validator=validators.ge(0))
    otherwise: str = field(default="wait", validator=validators.in_(("wait", "fail")))

    def __attrs_post_init__(self) -> None:
        if (self.after is None) == (self.at is None):
            raise ValueError(f"deadline {self.name!r} needs exactly one of after_first or at")

    def due(
        self, key_format: KeyFormat, key: str, first_completion: datetime | None
    ) -> datetime | None:
        """When the tier passes (UTC), or None if it cannot yet (no completion to count from)."""
        if self.after is not None:
            return None if first_completion is None else first_completion + self.after
        assert self.at is not None
        local = key_format.local_datetime(key, self.at) + timedelta(days=self.day_offset)
        return local.astimezone(UTC)

    def holds(self, profile: Profile, done: Collection[str]) -> bool:
        required = _share(sum(p in done for p in profile.required), len(profile.required))
        optional = _share(sum(p in done for p in profile.optional), len(profile.optional))
        counted = sum(p in done for p in profile.required + profile.optional)
        return required >= self.required and optional >= self.optional and counted >= self.min_done


def upcoming(
    tiers: Collection[DeadlineTier],
    key_format: KeyFormat,
    key: str,
    first_completion: datetime | None,
    passed: Collection[str],
) -> list[tuple[DeadlineTier, datetime]]:
    """Tiers not passed yet whose time is known, earliest first."""
    pending = [
        (tier, due)
        for tier in tiers
        if tier.name not in passed and (due := tier.due(key_format, key, first_completion))
    ]
    return sorted(pending, key=lambda pair: pair[1])
