"""A gate definition: the validated :class:`GateSpec` value (:mod:`.spec_loader` reads gate
files into it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from attrs import field, frozen, validators

from .aggregate import Aggregation
from .completion import Status
from .definition import GateDefinition
from .keys import KeyFormat
from .names import NameResolver, NameRules
from .policy import DeadlineTier, Profile

__all__ = ["DEFAULT_PROFILE", "ON_CHANGE", "GateSpec"]


DEFAULT_PROFILE = "default"
#: What a changed definition does to keys in flight: ``pin`` (they finish under the
#: definition they started with) or ``adopt`` (they switch at their next event).
ON_CHANGE = ("pin", "adopt")


@frozen(kw_only=True)
class GateSpec:
    """A validated gate: who must report for a key, how names resolve, where triggers go."""

    name: str
    description: str = ""
    source: str = "<memory>"
    key: KeyFormat
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(factory=dict, hash=False)
    names: NameRules = field(factory=NameRules)
    done_statuses: frozenset[Status] = frozenset({Status.SUCCESS, Status.PARTIAL, Status.NO_DATA})
    failed_statuses: frozenset[Status] = frozenset({Status.FAILED})
    input_topic: str | None = None
    output_topic: str
    lifecycle_topic: str | None = None
    """Where the gate announces started, triggered and failed (None: no announcements)."""
    alerts_topic: str | None = None
    """Where the gate's alerts go (None: no alerts)."""
    aggregations: tuple[Aggregation, ...] = ()
    optional_quorum: float = 0.0
    deadlines: tuple[DeadlineTier, ...] = ()
    profiles: tuple[Profile, ...] = ()
    on_change: str = field(default="pin", validator=validators.in_(ON_CHANGE))
    _resolver: NameResolver = field(init=False, repr=False, eq=False, hash=False)
    _profiles: dict[str, Profile] = field(init=False, repr=False, eq=False, hash=False)
    _definition: GateDefinition = field(init=False, repr=False, eq=False, hash=False)
    _fingerprint: str = field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        resolver = NameResolver(self.expected, self.aliases, self.names)
        object.__setattr__(self, "_resolver", resolver)
        default = Profile(
            name=DEFAULT_PROFILE,
            required=self.required,
            optional=self.optional,
            optional_quorum=self.optional_quorum,
        )
        profiles = {DEFAULT_PROFILE: default, **{p.name: p for p in self.profiles}}
        object.__setattr__(self, "_profiles", profiles)
        definition = GateDefinition(
            timezone=self.key.timezone,
            done_statuses=self.done_statuses,
            failed_statuses=self.failed_statuses,
            required=self.required,
            optional=self.optional,
            optional_quorum=self.optional_quorum,
            deadlines=self.deadlines,
            profiles=self.profiles,
        )
        object.__setattr__(self, "_definition", definition)
        object.__setattr__(self, "_fingerprint", definition.fingerprint)

    @property
    def definition(self) -> GateDefinition:
        """What decides this gate's keys (see :mod:`.definition`)."""
        return self._definition

    @property
    def fingerprint(self) -> str:
        """The fingerprint of :attr:`definition`: keys record it when they start."""
        return self._fingerprint

    def has_profile(self, name: str) -> bool:
        return name in self._profiles

    def profile(self, name: str) -> Profile:
        """The profile a key froze in its snapshot."""
        return self._profiles[name]

    def tiers(self, profile: Profile) -> tuple[DeadlineTier, ...]:
        """The deadline tiers that apply to a profile's keys."""
        return profile.tiers(self.deadlines)

    def choose_profile(self, key: str, first_event: datetime) -> Profile:
        """The profile for a new key, from the date (in the gate's zone) of its first event."""
        if self.key.format == "date":
            key_date = date.fromisoformat(key)
            local = first_event.astimezone(self.key.tz)
            for profile in self.profiles:
                if profile.matches(key_date, local):
                    return profile
        return self._profiles[DEFAULT_PROFILE]

    @property
    def expected(self) -> tuple[str, ...]:
        return self.required + self.optional

    def resolve(self, reported: str, output_table: str | None = None) -> str | None:
        """The canonical processor name for a reported name, or None when unknown."""
        return self._resolver.resolve(reported, output_table)
