"""Pipeline files (``kind = "pipeline"`` in ``machines/``): found like gate files, validated
with errors that name the file and the field, and checked against the gates they list."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import SpecError, UnknownGate, UnknownPipeline
from ..gate.definitions import (
    definition_files,
    definition_kind,
    find_definition,
    read_definition,
    search_path,
)
from ..gate.policy import parse_duration, parse_wall_time
from ..gate.spec import GateSpec
from ..gate.spec_loader import find_gate, key_section, load_spec
from ..gate.toml_table import NAME, TomlTable
from ..limits import MAX_DURATION_DAYS
from .spec import OverallDeadline, Phase, PipelineSpec

__all__ = [
    "choose_pipeline",
    "find_pipeline",
    "load_pipeline",
    "load_pipeline_gates",
    "pipeline_files",
    "pipeline_from_mapping",
    "pipelines_of_gate",
]

_TOP_LEVEL = {"kind", "name", "description", "key", "topics", "phases", "deadline"}


def find_pipeline(name_or_path: str | os.PathLike[str], search: list[Path] | None = None) -> Path:
    """Locate a pipeline file by path, or as ``NAME.toml`` where gate files are looked up."""
    return find_definition(name_or_path, what="pipeline", missing=UnknownPipeline, search=search)


def pipeline_files(directories: list[Path] | None = None) -> list[Path]:
    """Every pipeline file in ``directories`` (default: the search path), by name."""
    return definition_files("pipeline", directories)


def load_pipeline(name_or_path: str | os.PathLike[str]) -> PipelineSpec:
    """Load and validate a pipeline definition by name or path."""
    path = find_pipeline(name_or_path)
    return pipeline_from_mapping(read_definition(path), source=str(path))


def choose_pipeline(name_or_path: str | os.PathLike[str] | None = None) -> PipelineSpec:
    """The pipeline named (or at a path), else ``$PHASEACTORS_PIPELINE``, else the only
    pipeline file on the search path."""
    chosen = name_or_path or Settings.from_env().pipeline
    if chosen:
        return load_pipeline(chosen)
    files = pipeline_files()
    if len(files) != 1:
        found = ", ".join(str(p) for p in files) or "none"
        raise UnknownPipeline(
            f"name the pipeline (--pipeline NAME or PHASEACTORS_PIPELINE): pipeline files: {found}"
        )
    return load_pipeline(files[0])


def load_pipeline_gates(spec: PipelineSpec) -> dict[str, GateSpec]:
    """The gate definitions of ``spec``, looked up next to its file first, each checked to
    announce on the pipeline's lifecycle topic with the pipeline's keys: a mismatch is a
    :class:`SpecError` naming the pipeline file and the phase."""
    directory = Path(spec.source).parent
    search = [directory, *search_path()] if directory.is_dir() else None
    gates: dict[str, GateSpec] = {}
    for i, phase in enumerate(spec.phases):
        where = f"phases[{i}].gate"
        try:
            gate = load_spec(find_gate(phase.gate, search))
        except UnknownGate as exc:
            raise SpecError(spec.source, where, str(exc)) from None
        if gate.lifecycle_topic != spec.lifecycle_topic:
            raise SpecError(
                spec.source,
                where,
                f"gate {gate.name} announces on {gate.lifecycle_topic!r}, not on this"
                f" pipeline's topics.lifecycle {spec.lifecycle_topic!r} ({gate.source})",
            )
        if (gate.key.format, gate.key.timezone) != (spec.key.format, spec.key.timezone):
            raise SpecError(
                spec.source,
                where,
                f"gate {gate.name} has {gate.key.format} keys in {gate.key.timezone}; the"
                f" pipeline's are {spec.key.format} in {spec.key.timezone}",
            )
        gates[phase.gate] = gate
    return gates


def pipelines_of_gate(gate: str) -> list[PipelineSpec]:
    """The pipelines on the search path that list ``gate``."""
    found = []
    for path in pipeline_files():
        spec = pipeline_from_mapping(read_definition(path), source=str(path))
        if gate in spec.gates:
            found.append(spec)
    return found


def pipeline_from_mapping(data: Mapping[str, Any], source: str = "<memory>") -> PipelineSpec:
    """Validate parsed TOML (or any mapping of the same shape) into a :class:`PipelineSpec`."""
    root = TomlTable(source, data)
    if definition_kind(root.data) != "pipeline":
        root.fail("kind", f"must be 'pipeline', got {root.data.get('kind')!r}")
    root.only(_TOP_LEVEL)
    name = root.actor_name()
    topics = root.table("topics")
    topics.only({"lifecycle", "alerts"})
    phases = _phases(root)
    if name in {phase.gate for phase in phases}:
        root.fail("name", f"{name!r} is also the name of one of its gates")
    key = key_section(root)
    overall = _overall(root)
    if overall is not None and key.format != "date":
        root.fail("deadline", "a wall-clock deadline needs date keys (key.format = 'date')")
    return PipelineSpec(
        name=name,
        description=str(root.data.get("description", "") or ""),
        source=source,
        key=key,
        phases=phases,
        overall=overall,
        lifecycle_topic=topics.text("lifecycle"),
        alerts_topic=topics.text("alerts"),
    )


def _phases(root: TomlTable) -> tuple[Phase, ...]:
    entries = root.data.get("phases")
    if entries is None:
        root.fail("phases", "missing: list the gates as [[phases]] tables, in order")
    if not isinstance(entries, list) or not entries:
        root.fail("phases", "must be a non-empty array of tables ([[phases]])")
    phases: list[Phase] = []
    for i, entry in enumerate(entries):
        table = TomlTable(root.source, entry, f"phases[{i}]")
        table.only({"gate", "handoff"})
        gate = table.text("gate")
        if not NAME.fullmatch(gate):
            table.fail(table.where("gate"), f"{gate!r} is not a valid gate name")
        if any(p.gate == gate for p in phases):
            table.fail(table.where("gate"), f"{gate!r} is listed twice")
        handoff = None
        if "handoff" in table.data:
            if i == 0:
                table.fail(table.where("handoff"), "the first gate has no handoff before it")
            handoff = _duration(table, "handoff")
        phases.append(Phase(gate=gate, handoff=handoff))
    return tuple(phases)


def _duration(table: TomlTable, name: str) -> timedelta:
    try:
        value = parse_duration(table.text(name))
    except ValueError as exc:
        table.fail(table.where(name), str(exc))
    if value > timedelta(days=MAX_DURATION_DAYS):
        table.fail(table.where(name), f"longer than {MAX_DURATION_DAYS} days")
    return value


def _overall(root: TomlTable) -> OverallDeadline | None:
    if "deadline" not in root.data:
        return None
    deadline = root.table("deadline")
    deadline.only({"at", "day_offset"})
    try:
        at = parse_wall_time(deadline.text("at"))
    except ValueError as exc:
        deadline.fail(deadline.where("at"), str(exc))
    day_offset = deadline.integer("day_offset", 0, minimum=0, maximum=MAX_DURATION_DAYS)
    return OverallDeadline(at=at, day_offset=day_offset)
