"""What decides a gate's keys, as a versioned value: :class:`GateDefinition` and its fingerprint.

A definition is the part of a gate file that decides when a key triggers or fails: the
expected processors (required, optional), the optional quorum, the deadline tiers, the
profiles, which statuses count as done or failed, and the time zone deadlines and profiles are
computed in. Its **fingerprint** is a hash of its canonical JSON document — made from the
parsed spec, not the file's text, so comments, layout and the order of tables or fields never
change it, nor does the order of processors in a list (a set: membership decides). The order
of deadline tiers and of profiles is kept: it decides which tier a trigger's reason names and
which profile a new key gets.

Everything else in a gate file (aliases and name rules, topics, aggregations, the key's field
and format, ``on_change``, the description) applies to every key at once, whichever definition
the key is pinned to (see :mod:`.pinning`).

The document is persisted, once per fingerprint, in the store's definitions: it is a contract.
A field added later must be left out of the document when it has its default value, so that
the fingerprints of existing definitions do not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any

from attrs import field, frozen, validators

from ..core.validators import nonempty_str
from .completion import Status
from .policy import DeadlineTier, Profile

__all__ = [
    "DEFINITION_SCHEMA",
    "GateDefinition",
    "decode_definition",
    "encode_definition",
    "fingerprint_of",
]

#: The version of the definition document's layout.
DEFINITION_SCHEMA = 1
_FINGERPRINT_LENGTH = 16  # hex digits of SHA-256: 64 bits, for the handful of versions a gate has


@frozen(kw_only=True)
class GateDefinition:
    """The deciding part of a gate: who is expected, the quorum, deadlines, profiles,
    statuses and time zone. ``profiles`` excludes the default profile (``required``,
    ``optional`` and ``optional_quorum`` are it)."""

    timezone: str = field(validator=nonempty_str)
    done_statuses: frozenset[Status] = field(validator=validators.instance_of(frozenset))
    failed_statuses: frozenset[Status] = field(validator=validators.instance_of(frozenset))
    required: tuple[str, ...] = field(validator=validators.min_len(1))
    optional: tuple[str, ...] = ()
    optional_quorum: float = field(default=0.0, validator=[validators.ge(0.0), validators.le(1.0)])
    deadlines: tuple[DeadlineTier, ...] = ()
    profiles: tuple[Profile, ...] = ()

    @property
    def expected(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(encode_definition(self))


def fingerprint_of(document: Mapping[str, Any]) -> str:
    """The fingerprint of a definition document: SHA-256 of its canonical JSON (sorted keys,
    no spaces), the first 16 hex digits."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:_FINGERPRINT_LENGTH]


def _wall(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _tier_document(tier: DeadlineTier) -> dict[str, Any]:
    return {
        "name": tier.name,
        "after_first_seconds": _seconds(tier.after),
        "at": _wall(tier.at),
        "day_offset": tier.day_offset,
        "required": tier.required,
        "optional": tier.optional,
        "min_done": tier.min_done,
        "otherwise": tier.otherwise,
    }


def _profile_document(profile: Profile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "required": sorted(profile.required),
        "optional": sorted(profile.optional),
        "optional_quorum": profile.optional_quorum,
        "first_event_before": _wall(profile.first_event_before),
        "day_offset": profile.day_offset,
        "first_event_after_days": profile.first_event_after_days,
        "deadlines": None if profile.deadlines is None else sorted(profile.deadlines),
    }


def encode_definition(definition: GateDefinition) -> dict[str, Any]:
    """The canonical JSON document of a definition (what its fingerprint hashes, and what a
    store records)."""
    return {
        "schema": DEFINITION_SCHEMA,
        "timezone": definition.timezone,
        "statuses": {
            "done": sorted(s.value for s in definition.done_statuses),
            "failed": sorted(s.value for s in definition.failed_statuses),
        },
        "required": sorted(definition.required),
        "optional": sorted(definition.optional),
        "optional_quorum": float(definition.optional_quorum),
        "deadlines": [_tier_document(t) for t in definition.deadlines],
        "profiles": [_profile_document(p) for p in definition.profiles],
    }


_FIELDS = {
    "schema",
    "timezone",
    "statuses",
    "required",
    "optional",
    "optional_quorum",
    "deadlines",
    "profiles",
}
_TIER_FIELDS = set(_tier_document(DeadlineTier(name="x", after=timedelta(1))))
_PROFILE_FIELDS = set(_profile_document(Profile(name="x", required=())))


def _only(document: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise ValueError(f"{what} has fields this release does not know: {unknown}")


def _parse_wall(text: str | None) -> time | None:
    if text is None:
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _tier(document: Mapping[str, Any]) -> DeadlineTier:
    _only(document, _TIER_FIELDS, "a deadline of the definition")
    after = document["after_first_seconds"]
    return DeadlineTier(
        name=document["name"],
        after=None if after is None else timedelta(seconds=after),
        at=_parse_wall(document["at"]),
        day_offset=document["day_offset"],
        required=float(document["required"]),
        optional=float(document["optional"]),
        min_done=document["min_done"],
        otherwise=document["otherwise"],
    )


def _profile(document: Mapping[str, Any]) -> Profile:
    _only(document, _PROFILE_FIELDS, "a profile of the definition")
    deadlines = document["deadlines"]
    return Profile(
        name=document["name"],
        required=tuple(document["required"]),
        optional=tuple(document["optional"]),
        optional_quorum=float(document["optional_quorum"]),
        first_event_before=_parse_wall(document["first_event_before"]),
        day_offset=document["day_offset"],
        first_event_after_days=document["first_event_after_days"],
        deadlines=None if deadlines is None else tuple(deadlines),
    )


def decode_definition(document: Mapping[str, Any]) -> GateDefinition:
    """Inverse of :func:`encode_definition`. Strict: a document with a field this release
    does not know raises ValueError rather than be applied without it."""
    if document.get("schema") != DEFINITION_SCHEMA:
        raise ValueError(f"unsupported definition schema {document.get('schema')!r}")
    _only(document, _FIELDS, "the definition")
    statuses = document["statuses"]
    return GateDefinition(
        timezone=document["timezone"],
        done_statuses=frozenset(Status(s) for s in statuses["done"]),
        failed_statuses=frozenset(Status(s) for s in statuses["failed"]),
        required=tuple(document["required"]),
        optional=tuple(document["optional"]),
        optional_quorum=float(document["optional_quorum"]),
        deadlines=tuple(_tier(t) for t in document["deadlines"]),
        profiles=tuple(_profile(p) for p in document["profiles"]),
    )
