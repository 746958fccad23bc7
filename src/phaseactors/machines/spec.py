"""Gate definitions: a TOML file per gate, validated with errors naming the file and field."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from attrs import field, frozen

from ..completion import Status
from ..errors import SpecError, UnknownGate
from ..keys import KeyFormat
from ..limits import MAX_DURATION_DAYS
from .aggregate import AGGREGATIONS, Aggregation
from .names import NameResolver, NameRules
from .policy import DeadlineTier, Profile, parse_duration, parse_wall_time

__all__ = ["DEFAULT_PROFILE", "GateSpec", "find_gate", "load_spec", "spec_from_mapping"]

DEFAULT_PROFILE = "default"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_TOP_LEVEL = {
    "name",
    "description",
    "key",
    "topics",
    "statuses",
    "processors",
    "aliases",
    "names",
    "aggregate",
    "policy",
    "deadlines",
    "profiles",
}


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
    aggregations: tuple[Aggregation, ...] = ()
    optional_quorum: float = 0.0
    deadlines: tuple[DeadlineTier, ...] = ()
    profiles: tuple[Profile, ...] = ()
    _resolver: NameResolver = field(init=False, repr=False, eq=False, hash=False)
    _profiles: dict[str, Profile] = field(init=False, repr=False, eq=False, hash=False)

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

    def is_required(self, processor: str) -> bool:
        return processor in self.required


def find_gate(name_or_path: str | os.PathLike[str], search: list[Path] | None = None) -> Path:
    """Locate a gate file: an existing path, else ``NAME.toml`` in the search directories.

    The default search is ``$PHASEACTORS_MACHINES`` (``:``-separated), ``./machines``, and the
    ``machines/`` directory of a source checkout of phaseactors.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or os.sep in str(name_or_path):
        if candidate.is_file():
            return candidate
        raise UnknownGate(f"gate file {str(candidate)!r} does not exist")
    dirs = search if search is not None else _default_search()
    for directory in dirs:
        path = directory / f"{name_or_path}.toml"
        if path.is_file():
            return path
    looked = ", ".join(str(d) for d in dirs) or "nowhere"
    raise UnknownGate(f"no gate named {str(name_or_path)!r} (looked in {looked})")


def _default_search() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PHASEACTORS_MACHINES", "").split(":") if p]
    dirs.append(Path.cwd() / "machines")
    checkout = Path(__file__).resolve().parents[3] / "machines"
    if checkout.is_dir() and checkout not in dirs:
        dirs.append(checkout)
    return dirs


def load_spec(name_or_path: str | os.PathLike[str]) -> GateSpec:
    """Load and validate a gate definition by name or path."""
    path = find_gate(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "<toml>", str(exc)) from None
    except OSError as exc:
        raise SpecError(str(path), "<file>", exc.strerror or str(exc)) from None
    return spec_from_mapping(data, source=str(path))


class _Fields:
    """Typed access to one TOML table, raising :class:`SpecError` with the field's path."""

    def __init__(self, source: str, data: Any, path: str = "") -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            self.fail(path or "<root>", f"must be a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data

    def fail(self, name: str, problem: str) -> NoReturn:
        raise SpecError(self.source, name, problem)

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                self.fail(self.where(name), f"unknown field; expected one of {sorted(allowed)}")

    def table(self, name: str, required: bool = True) -> _Fields:
        if name not in self.data:
            if required:
                self.fail(self.where(name), "missing table")
            return _Fields(self.source, {}, self.where(name))
        return _Fields(self.source, self.data[name], self.where(name))

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value is None:
            self.fail(self.where(name), "missing")
        if not isinstance(value, str) or not value.strip():
            self.fail(self.where(name), f"must be a non-empty string, got {value!r}")
        return str(value).strip()

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.fail(self.where(name), f"must be true or false, got {value!r}")
        return bool(value)

    def names(self, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.data.get(name, default)
        if value is None:
            self.fail(self.where(name), "missing")
        if not isinstance(value, list | tuple):
            self.fail(self.where(name), f"must be a list of names, got {value!r}")
        seen: set[str] = set()
        for i, item in enumerate(value):
            if not isinstance(item, str) or not _NAME.fullmatch(item):
                self.fail(f"{self.where(name)}[{i}]", f"{item!r} is not a valid name")
            if item in seen:
                self.fail(f"{self.where(name)}[{i}]", f"{item!r} is listed twice")
            seen.add(item)
        return tuple(value)


def _statuses(fields: _Fields, name: str, default: tuple[str, ...]) -> frozenset[Status]:
    values = fields.names(name, default)
    known = {s.value for s in Status}
    for i, value in enumerate(values):
        if value not in known:
            fields.fail(f"{fields.where(name)}[{i}]", f"{value!r} is not one of {sorted(known)}")
    return frozenset(Status(v) for v in values)


def spec_from_mapping(data: Mapping[str, Any], source: str = "<memory>") -> GateSpec:
    """Validate parsed TOML (or any mapping of the same shape) into a :class:`GateSpec`."""
    root = _Fields(source, data)
    root.only(_TOP_LEVEL)
    name = root.text("name")
    if not _NAME.fullmatch(name):
        root.fail("name", f"{name!r} may only use letters, digits, '_', '.', '-'")

    key = root.table("key")
    key.only({"field", "format", "timezone", "pattern"})
    key_format = key.text("format", "date")
    if key_format not in ("date", "pattern"):
        key.fail(key.where("format"), f"must be 'date' or 'pattern', got {key_format!r}")
    try:
        key_spec = KeyFormat(
            field=key.text("field"),
            format=key_format,
            timezone=key.text("timezone", "UTC"),
            pattern=key.text("pattern") if key_format == "pattern" else None,
        )
    except (ValueError, re.error) as exc:
        key.fail(key.where("timezone" if "zone" in str(exc) else "pattern"), str(exc))

    topics = root.table("topics")
    topics.only({"input", "output"})
    statuses = root.table("statuses", required=False)
    statuses.only({"done", "failed"})
    done = _statuses(statuses, "done", ("success", "partial", "no_data"))
    failed = _statuses(statuses, "failed", ("failed",))
    if done & failed:
        statuses.fail("statuses", f"{sorted(done & failed)} cannot be both done and failed")
    if len(done | failed) != len(Status):
        missing = sorted(s.value for s in set(Status) - done - failed)
        statuses.fail("statuses", f"every status must be done or failed; unassigned: {missing}")

    processors = root.table("processors")
    processors.only({"required", "optional"})
    required = processors.names("required")
    optional = processors.names("optional", ())
    if not required:
        processors.fail(processors.where("required"), "a gate needs at least one processor")
    for both in sorted(set(required) & set(optional)):
        processors.fail("processors", f"{both!r} is both required and optional")
    expected = set(required) | set(optional)

    aliases = root.table("aliases", required=False)
    for alias, target in aliases.data.items():
        if not isinstance(target, str) or target not in expected:
            aliases.fail(aliases.where(alias), f"{target!r} is not an expected processor")
        if alias in expected and alias != target:
            aliases.fail(aliases.where(alias), "an alias may not shadow an expected processor")

    rules = root.table("names", required=False)
    rules.only(
        {
            "strip_prefixes",
            "strip_suffixes",
            "camel_case",
            "dataset_qualified",
            "match_output_table",
        }
    )
    name_rules = NameRules(
        strip_prefixes=_free_text_list(rules, "strip_prefixes"),
        strip_suffixes=_free_text_list(rules, "strip_suffixes"),
        camel_case=rules.flag("camel_case", False),
        dataset_qualified=rules.flag("dataset_qualified", False),
        match_output_table=rules.flag("match_output_table", False),
    )

    aggregations = []
    aggregate = root.table("aggregate", required=False)
    for agg_name in aggregate.data:
        agg = aggregate.table(agg_name)
        agg.only({"from", "how"})
        how = agg.text("how")
        if how not in AGGREGATIONS:
            agg.fail(agg.where("how"), f"{how!r} is not one of {list(AGGREGATIONS)}")
        aggregations.append(Aggregation(name=agg_name, source=agg.text("from"), how=how))

    policy = root.table("policy", required=False)
    policy.only({"optional_quorum"})
    optional_quorum = _fraction_field(policy, "optional_quorum", 0.0)
    deadlines = _deadlines(root)
    profiles = _profiles(root, set(required) | set(optional), deadlines)

    return GateSpec(
        name=name,
        description=root.data.get("description", "") or "",
        source=source,
        key=key_spec,
        required=required,
        optional=optional,
        aliases=dict(aliases.data),
        names=name_rules,
        done_statuses=done,
        failed_statuses=failed,
        input_topic=topics.text("input") if "input" in topics.data else None,
        output_topic=topics.text("output"),
        aggregations=tuple(aggregations),
        optional_quorum=optional_quorum,
        deadlines=deadlines,
        profiles=profiles,
    )


def _fraction_field(fields: _Fields, name: str, default: float) -> float:
    value = fields.data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        fields.fail(fields.where(name), f"must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _deadlines(root: _Fields) -> tuple[DeadlineTier, ...]:
    entries = root.data.get("deadlines", [])
    if not isinstance(entries, list):
        root.fail("deadlines", "must be an array of tables ([[deadlines]])")
    tiers: list[DeadlineTier] = []
    for i, entry in enumerate(entries):
        tier = _Fields(root.source, entry, f"deadlines[{i}]")
        tier.only(
            {
                "name",
                "after_first",
                "at",
                "day_offset",
                "required",
                "optional",
                "min_done",
                "otherwise",
            }
        )
        name = tier.text("name")
        if any(t.name == name for t in tiers):
            tier.fail(tier.where("name"), f"{name!r} is used twice")
        if ("after_first" in tier.data) == ("at" in tier.data):
            tier.fail(tier.path, "needs exactly one of after_first (duration) or at (HH:MM)")
        try:
            after = parse_duration(tier.text("after_first")) if "after_first" in tier.data else None
        except ValueError as exc:
            tier.fail(tier.where("after_first"), str(exc))
        if after is not None and after > timedelta(days=MAX_DURATION_DAYS):
            tier.fail(tier.where("after_first"), f"longer than {MAX_DURATION_DAYS} days")
        try:
            at = parse_wall_time(tier.text("at")) if "at" in tier.data else None
        except ValueError as exc:
            tier.fail(tier.where("at"), str(exc))
        otherwise = tier.text("otherwise", "wait")
        if otherwise not in ("wait", "fail"):
            tier.fail(tier.where("otherwise"), f"must be 'wait' or 'fail', got {otherwise!r}")
        tiers.append(
            DeadlineTier(
                name=name,
                after=after,
                at=at,
                day_offset=_int_field(tier, "day_offset", 0, minimum=0),
                required=_fraction_field(tier, "required", 1.0),
                optional=_fraction_field(tier, "optional", 0.0),
                min_done=_int_field(tier, "min_done", 0, minimum=0),
                otherwise=otherwise,
            )
        )
    return tuple(tiers)


def _int_field(
    fields: _Fields, name: str, default: int, *, minimum: int, maximum: int = MAX_DURATION_DAYS
) -> int:
    value = fields.data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        fields.fail(
            fields.where(name), f"must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return int(value)


def _profiles(
    root: _Fields, expected: set[str], tiers: tuple[DeadlineTier, ...]
) -> tuple[Profile, ...]:
    table = root.table("profiles", required=False)
    profiles = []
    for name in table.data:
        if name == DEFAULT_PROFILE:
            table.fail(table.where(name), "the default profile is [processors] itself")
        entry = table.table(name)
        entry.only(
            {
                "first_event_before",
                "day_offset",
                "first_event_after_days",
                "required",
                "optional_quorum",
                "deadlines",
            }
        )
        if ("first_event_before" in entry.data) == ("first_event_after_days" in entry.data):
            entry.fail(
                entry.path, "needs exactly one of first_event_before or first_event_after_days"
            )
        required = entry.names("required")
        for i, processor in enumerate(required):
            if processor not in expected:
                entry.fail(f"{entry.where('required')}[{i}]", f"{processor!r} is not a processor")
        before = None
        if "first_event_before" in entry.data:
            try:
                before = parse_wall_time(entry.text("first_event_before"))
            except ValueError as exc:
                entry.fail(entry.where("first_event_before"), str(exc))
        deadlines = entry.names("deadlines", tuple(t.name for t in tiers))
        for i, tier_name in enumerate(deadlines):
            if all(t.name != tier_name for t in tiers):
                entry.fail(f"{entry.where('deadlines')}[{i}]", f"no deadline named {tier_name!r}")
        profiles.append(
            Profile(
                name=name,
                required=required,
                optional=tuple(sorted(expected - set(required))),
                optional_quorum=_fraction_field(entry, "optional_quorum", 0.0),
                first_event_before=before,
                day_offset=_int_field(entry, "day_offset", 0, minimum=0),
                first_event_after_days=(
                    _int_field(entry, "first_event_after_days", 0, minimum=1)
                    if "first_event_after_days" in entry.data
                    else None
                ),
                deadlines=deadlines,
            )
        )
    return tuple(profiles)


def _free_text_list(fields: _Fields, name: str) -> tuple[str, ...]:
    value = fields.data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        fields.fail(fields.where(name), f"must be a list of non-empty strings, got {value!r}")
    return tuple(value)
