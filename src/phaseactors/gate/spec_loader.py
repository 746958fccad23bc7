"""Gate files: found by name or path, and read a TOML table per section, each validated with
errors that name the file and the field (``SpecError``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import UnknownGate
from ..limits import MAX_DURATION_DAYS
from .aggregate import AGGREGATIONS, Aggregation
from .completion import Status
from .definitions import definition_files, find_definition, read_definition, search_path
from .keys import KeyFormat
from .names import NameRules
from .policy import DeadlineTier, Profile, parse_duration, parse_wall_time
from .spec import DEFAULT_PROFILE, ON_CHANGE, GateSpec
from .toml_table import TomlTable

__all__ = [
    "available_gates",
    "default_search",
    "find_gate",
    "gate_files",
    "key_section",
    "load_spec",
    "spec_from_mapping",
]

_NAME_RULES = (
    "strip_prefixes",
    "strip_suffixes",
    "camel_case",
    "dataset_qualified",
    "match_output_table",
)
_TOP_LEVEL = {
    "kind",
    "name",
    "description",
    "on_change",
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


def find_gate(name_or_path: str | os.PathLike[str], search: list[Path] | None = None) -> Path:
    """Locate a gate file: an existing path, else ``NAME.toml`` in the search directories.

    The default search is ``$PHASEACTORS_MACHINES`` (``:``-separated), ``./machines``, then
    the example gates shipped in the package (``phaseactors/machines``), or in a source
    checkout its ``machines/`` directory. An unknown name is :class:`UnknownGate`, naming
    the closest gate found and where it looked.
    """
    return find_definition(name_or_path, what="gate", missing=UnknownGate, search=search)


def available_gates(search: list[Path] | None = None) -> dict[str, Path]:
    """Every gate file found by name in the search directories (pipelines left out): name →
    path (the first one found wins, as in :func:`find_gate`)."""
    return {path.stem: path for path in definition_files("gate", search)}


def default_search() -> list[Path]:
    """Where gate files are looked up by name (see :func:`find_gate`)."""
    return search_path()


def gate_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The gate files in ``directory`` (its pipeline definitions left out), by name."""
    return definition_files("gate", [Path(directory)])


def load_spec(name_or_path: str | os.PathLike[str]) -> GateSpec:
    """Load and validate a gate definition by name or path."""
    path = find_gate(name_or_path)
    return spec_from_mapping(read_definition(path), source=str(path))


def _statuses(fields: TomlTable, name: str, default: tuple[str, ...]) -> frozenset[Status]:
    values = fields.names(name, default)
    known = {s.value for s in Status}
    for i, value in enumerate(values):
        if value not in known:
            fields.fail(f"{fields.where(name)}[{i}]", f"{value!r} is not one of {sorted(known)}")
    return frozenset(Status(v) for v in values)


def spec_from_mapping(data: Mapping[str, Any], source: str = "<memory>") -> GateSpec:
    """Validate parsed TOML (or any mapping of the same shape) into a :class:`GateSpec`."""
    root = TomlTable(source, data)
    kind = root.data.get("kind", "gate")
    if kind == "pipeline":
        root.fail("kind", "this is a pipeline definition, not a gate (see docs/pipeline.md)")
    if kind != "gate":
        root.fail("kind", f"must be 'gate' (or absent), got {kind!r}")
    root.only(_TOP_LEVEL)
    name = root.actor_name()
    topics = root.table("topics")
    topics.only({"input", "output", "lifecycle", "alerts"})
    done, failed = _statuses_section(root)
    required, optional = _processors_section(root)
    expected = set(required) | set(optional)
    policy = root.table("policy", required=False)
    policy.only({"optional_quorum"})
    deadlines = _deadlines(root)
    on_change = root.text("on_change", "pin")
    if on_change not in ON_CHANGE:
        root.fail("on_change", f"must be 'pin' or 'adopt', got {on_change!r}")
    return GateSpec(
        name=name,
        description=root.data.get("description", "") or "",
        source=source,
        key=key_section(root),
        required=required,
        optional=optional,
        aliases=_aliases_section(root, expected),
        names=_names_section(root),
        done_statuses=done,
        failed_statuses=failed,
        input_topic=topics.text("input") if "input" in topics.data else None,
        output_topic=topics.text("output"),
        lifecycle_topic=_optional_text(topics, "lifecycle"),
        alerts_topic=_optional_text(topics, "alerts"),
        aggregations=_aggregate_section(root),
        optional_quorum=_fraction_field(policy, "optional_quorum", 0.0),
        deadlines=deadlines,
        profiles=_profiles(root, expected, deadlines),
        on_change=on_change,
    )


def key_section(root: TomlTable) -> KeyFormat:
    """The ``[key]`` table of a definition file (a gate's or a pipeline's)."""
    key = root.table("key")
    key.only({"field", "format", "timezone", "pattern"})
    key_format = key.text("format", "date")
    if key_format not in ("date", "pattern"):
        key.fail(key.where("format"), f"must be 'date' or 'pattern', got {key_format!r}")
    try:
        return KeyFormat(
            field=key.text("field"),
            format=key_format,
            timezone=key.text("timezone", "UTC"),
            pattern=key.text("pattern") if key_format == "pattern" else None,
        )
    except (ValueError, re.error) as exc:
        key.fail(key.where("timezone" if "zone" in str(exc) else "pattern"), str(exc))


def _statuses_section(root: TomlTable) -> tuple[frozenset[Status], frozenset[Status]]:
    statuses = root.table("statuses", required=False)
    statuses.only({"done", "failed"})
    done = _statuses(statuses, "done", ("success", "partial", "no_data"))
    failed = _statuses(statuses, "failed", ("failed",))
    if done & failed:
        statuses.fail("statuses", f"{sorted(done & failed)} cannot be both done and failed")
    if len(done | failed) != len(Status):
        missing = sorted(s.value for s in set(Status) - done - failed)
        statuses.fail("statuses", f"every status must be done or failed; unassigned: {missing}")
    return done, failed


def _processors_section(root: TomlTable) -> tuple[tuple[str, ...], tuple[str, ...]]:
    processors = root.table("processors")
    processors.only({"required", "optional"})
    required = processors.names("required")
    optional = processors.names("optional", ())
    if not required:
        processors.fail(processors.where("required"), "a gate needs at least one processor")
    for both in sorted(set(required) & set(optional)):
        processors.fail("processors", f"{both!r} is both required and optional")
    return required, optional


def _aliases_section(root: TomlTable, expected: set[str]) -> dict[str, str]:
    aliases = root.table("aliases", required=False)
    for alias, target in aliases.data.items():
        if not isinstance(target, str) or target not in expected:
            aliases.fail(aliases.where(alias), f"{target!r} is not an expected processor")
        if alias in expected and alias != target:
            aliases.fail(aliases.where(alias), "an alias may not shadow an expected processor")
    return dict(aliases.data)


def _names_section(root: TomlTable) -> NameRules:
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
    return NameRules(
        strip_prefixes=_free_text_list(rules, "strip_prefixes"),
        strip_suffixes=_free_text_list(rules, "strip_suffixes"),
        camel_case=rules.flag("camel_case", False),
        dataset_qualified=rules.flag("dataset_qualified", False),
        match_output_table=rules.flag("match_output_table", False),
    )


def _aggregate_section(root: TomlTable) -> tuple[Aggregation, ...]:
    aggregations = []
    aggregate = root.table("aggregate", required=False)
    for agg_name in aggregate.data:
        agg = aggregate.table(agg_name)
        agg.only({"from", "how"})
        how = agg.text("how")
        if how not in AGGREGATIONS:
            agg.fail(agg.where("how"), f"{how!r} is not one of {list(AGGREGATIONS)}")
        aggregations.append(Aggregation(name=agg_name, source=agg.text("from"), how=how))
    return tuple(aggregations)


def _fraction_field(fields: TomlTable, name: str, default: float) -> float:
    value = fields.data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        fields.fail(fields.where(name), f"must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _deadlines(root: TomlTable) -> tuple[DeadlineTier, ...]:
    entries = root.data.get("deadlines", [])
    if not isinstance(entries, list):
        root.fail("deadlines", "must be an array of tables ([[deadlines]])")
    tiers: list[DeadlineTier] = []
    for i, entry in enumerate(entries):
        tier = TomlTable(root.source, entry, f"deadlines[{i}]")
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
    fields: TomlTable, name: str, default: int, *, minimum: int, maximum: int = MAX_DURATION_DAYS
) -> int:
    value = fields.data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        fields.fail(
            fields.where(name), f"must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return int(value)


def _profiles(
    root: TomlTable, expected: set[str], tiers: tuple[DeadlineTier, ...]
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


def _optional_text(fields: TomlTable, name: str) -> str | None:
    return fields.text(name) if name in fields.data else None


def _free_text_list(fields: TomlTable, name: str) -> tuple[str, ...]:
    value = fields.data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        fields.fail(fields.where(name), f"must be a list of non-empty strings, got {value!r}")
    return tuple(value)
