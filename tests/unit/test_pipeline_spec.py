"""Pipeline files: validated with errors naming the file and the field, checked against their
gates, found next to the gates and told apart from them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from phaseactors import SpecError, load_spec, spec_from_mapping
from phaseactors.errors import UnknownPipeline
from phaseactors.gate.spec_loader import gate_files
from phaseactors.pipeline import (
    find_pipeline,
    load_pipeline,
    load_pipeline_gates,
    pipeline_files,
    pipeline_from_mapping,
)
from pipeline_support import SMALL_PIPELINE
from support import REPO


def test_the_nba_pipeline_loads_with_its_gates() -> None:
    spec = load_pipeline("nba_daily")
    assert spec.gates == ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
    assert [p.handoff.total_seconds() if p.handoff else None for p in spec.phases] == [
        None,
        3600,
        3600,
    ]
    assert spec.overall_due("2025-11-29").isoformat() == "2025-11-30T16:00:00+00:00"  # type: ignore[union-attr]
    gates = load_pipeline_gates(spec)
    assert all(g.lifecycle_topic == spec.lifecycle_topic for g in gates.values())
    assert all(g.alerts_topic == spec.alerts_topic for g in gates.values())


def test_pipeline_and_gate_files_are_told_apart() -> None:
    machines = REPO / "machines"
    assert [p.stem for p in gate_files(machines)] == [
        "phase2_to_phase3",
        "phase3_to_phase4",
        "phase4_to_phase5",
    ]
    assert [p.stem for p in pipeline_files([machines])] == ["nba_daily"]
    with pytest.raises(SpecError, match=r"nba_daily.toml: kind: this is a pipeline definition"):
        load_spec(machines / "nba_daily.toml")
    with pytest.raises(SpecError, match=r"kind: must be 'pipeline'"):
        load_pipeline(machines / "phase2_to_phase3.toml")
    with pytest.raises(UnknownPipeline, match="no pipeline named 'nope'"):
        find_pipeline("nope")
    gate = spec_from_mapping(
        {"kind": "gate", "name": "g", "key": {"field": "k"}, "topics": {"output": "o"},
         "processors": {"required": ["a"]}}
    )  # fmt: skip
    assert gate.lifecycle_topic is None


def _with(change: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(SMALL_PIPELINE)
    for dotted, value in change.items():
        *path, last = dotted.split(".")
        target: Any = data
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return data


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"name": "a b"}, "name", "may only use"),
        ({"name": "quarantine_resolved"}, "name", "reserved"),
        ({"name": "g2"}, "name", "also the name of one of its gates"),
        ({"extra": 1}, "extra", "unknown field"),
        ({"topics.alerts": None}, "topics.alerts", "missing"),
        ({"topics.input": "x"}, "topics.input", "unknown field"),
        ({"phases": []}, "phases", "non-empty"),
        ({"phases": None}, "phases", "missing"),
        ({"phases.0.handoff": "1h"}, "phases[0].handoff", "the first gate has no handoff"),
        ({"phases.1.handoff": "an hour"}, "phases[1].handoff", "not a duration"),
        ({"phases.1.handoff": "400d"}, "phases[1].handoff", "longer than 366 days"),
        ({"phases.2.gate": "g1"}, "phases[2].gate", "listed twice"),
        ({"phases.2.gate": "g 3"}, "phases[2].gate", "not a valid gate name"),
        ({"phases.1.within": "1h"}, "phases[1].within", "unknown field"),
        ({"deadline.at": "25:00"}, "deadline.at", "wall-clock time"),
        ({"deadline.day_offset": -1}, "deadline.day_offset", "integer from 0"),
        ({"key.timezone": "Mars/Olympus"}, "key.timezone", "unknown time zone"),
        ({"key.format": "pattern", "key.pattern": "b-.*"}, "deadline", "needs date keys"),
    ],
)
def test_a_bad_pipeline_file_names_the_file_and_the_field(
    change: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        pipeline_from_mapping(_with(change), source="daily.toml")
    assert (caught.value.source, caught.value.field) == ("daily.toml", field)
    assert problem in caught.value.problem


def test_a_gate_that_announces_elsewhere_is_refused(tmp_path: Path) -> None:
    gate = (REPO / "machines" / "phase3_to_phase4.toml").read_text()
    (tmp_path / "phase3_to_phase4.toml").write_text(
        gate.replace('lifecycle = "nba-pipeline-lifecycle"', 'lifecycle = "elsewhere"')
    )
    (tmp_path / "nba_daily.toml").write_text((REPO / "machines" / "nba_daily.toml").read_text())
    spec = load_pipeline(tmp_path / "nba_daily.toml")
    with pytest.raises(SpecError) as caught:
        load_pipeline_gates(spec)
    assert caught.value.field == "phases[1].gate"
    assert "announces on 'elsewhere'" in caught.value.problem
