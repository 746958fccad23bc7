"""Gate spec loading: the shipped gates, and bad files with errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from phaseactors import SpecError, UnknownGate, load_spec
from phaseactors.gate.completion import Status
from phaseactors.gate.spec_loader import find_gate
from support import REPO

GOOD = """
name = "tiny"
[key]
field = "game_date"
timezone = "America/New_York"
[topics]
output = "tiny-out"
[processors]
required = ["a", "b"]
optional = ["c"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "count", "input_topic", "output_topic"),
    [
        ("phase2_to_phase3", 21, "nba-phase2-raw-complete", "nba-phase3-trigger"),
        ("phase3_to_phase4", 5, "nba-phase3-analytics-complete", "nba-phase4-trigger"),
        ("phase4_to_phase5", 5, "nba-phase4-precompute-complete", "nba-predictions-trigger"),
    ],
)
def test_shipped_gates_load(name: str, count: int, input_topic: str, output_topic: str) -> None:
    spec = load_spec(REPO / "machines" / f"{name}.toml")
    assert len(spec.expected) == count
    assert (spec.input_topic, spec.output_topic) == (input_topic, output_topic)
    assert spec.key.field == "game_date"
    assert spec.key.timezone == "America/New_York"
    assert spec.done_statuses == {Status.SUCCESS, Status.PARTIAL, Status.NO_DATA}


def test_phase3_gate_aggregates_entities_changed() -> None:
    spec = load_spec(REPO / "machines" / "phase3_to_phase4.toml")
    assert next((a.name, a.source, a.how) for a in spec.aggregations) == (
        "entities_changed",
        "metadata.entities_changed",
        "union",
    )


@pytest.mark.parametrize(
    ("reported", "output_table", "canonical"),
    [
        ("nbac_gamebook_player_stats", None, "nbac_gamebook_player_stats"),
        ("NbacGamebookProcessor", None, "nbac_gamebook_player_stats"),
        ("nba_raw.bdl_player_boxscores", None, "bdl_player_boxscores"),
        ("BdlBoxscoresProcessor", None, "bdl_player_boxscores"),
        ("AsyncNbacScheduleProcessor", None, "nbac_schedule"),
        ("NbacTeamBoxscoreProcessor", None, "nbac_team_boxscore"),
        ("SomeRenamedProcessor", "nba_raw.espn_scoreboard", "espn_scoreboard"),
        ("SomeRenamedProcessor", None, None),
        ("bdl_standings", None, None),
    ],
)
def test_phase2_name_resolution(reported: str, output_table: str | None, canonical: str) -> None:
    spec = load_spec("phase2_to_phase3")
    assert spec.resolve(reported, output_table) == canonical


def test_find_gate_by_name_and_path() -> None:
    assert find_gate("phase4_to_phase5") == REPO / "machines" / "phase4_to_phase5.toml"
    with pytest.raises(UnknownGate, match="no gate named 'phase9'"):
        find_gate("phase9")
    with pytest.raises(UnknownGate, match="does not exist"):
        find_gate("nowhere/gate.toml")


def test_minimal_gate_has_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.expected == ("a", "b", "c")
    assert spec.key.format == "date"
    assert spec.failed_statuses == {Status.FAILED}
    assert spec.input_topic is None


BAD = [
    ("name = ", "<toml>", "Invalid"),
    (GOOD.replace('name = "tiny"', ""), "name", "missing"),
    (GOOD.replace('name = "tiny"', 'name = "quarantine"'), "name", "reserved"),
    (GOOD.replace('name = "tiny"', 'name = "definitions"'), "name", "reserved"),
    ("retries = 3\n" + GOOD, "retries", "unknown field"),
    (GOOD + "\nretries = 3\n", "processors.retries", "unknown field"),
    (GOOD.replace('"America/New_York"', '"Mars/Olympus"'), "key.timezone", "unknown time zone"),
    (GOOD.replace('field = "game_date"', 'field = ""'), "key.field", "non-empty"),
    (GOOD.replace("[key]", '[key]\nformat = "week"'), "key.format", "'date' or 'pattern'"),
    (GOOD.replace("[key]", '[key]\nformat = "pattern"'), "key.pattern", "missing"),
    (GOOD.replace('["a", "b"]', '["a", "a"]'), "processors.required[1]", "listed twice"),
    (GOOD.replace('["a", "b"]', '["a", "b c"]'), "processors.required[1]", "not a valid name"),
    (GOOD.replace('["a", "b"]', "[]"), "processors.required", "at least one"),
    (GOOD.replace('optional = ["c"]', 'optional = ["a"]'), "processors", "both required"),
    (GOOD + '\n[aliases]\nAProc = "z"\n', "aliases.AProc", "not an expected processor"),
    (GOOD + '\n[aliases]\nb = "a"\n', "aliases.b", "shadow"),
    (GOOD + '\n[statuses]\ndone = ["success"]\n', "statuses", "unassigned"),
    (
        GOOD + '\n[statuses]\ndone = ["success", "failed", "partial", "no_data"]\n',
        "statuses",
        "both done and failed",
    ),
    (GOOD + '\n[statuses]\ndone = ["ok"]\n', "statuses.done[0]", "not one of"),
    (GOOD + '\n[names]\ncamel_case = "yes"\n', "names.camel_case", "true or false"),
    (
        GOOD + '\n[aggregate.x]\nfrom = "metadata.x"\nhow = "median"\n',
        "aggregate.x.how",
        "not one of",
    ),
    (GOOD.replace('output = "tiny-out"', ""), "topics.output", "missing"),
    (GOOD + '\n[profiles.x]\nrequired = ["a"]\n', "profiles.x", "exactly one of"),
    (
        GOOD + '\n[profiles.x]\nrequired = ["z"]\nfirst_event_after_days = 2\n',
        "profiles.x.required[0]",
        "not a processor",
    ),
    (
        GOOD + '\n[profiles.x]\nrequired = ["a"]\nfirst_event_before = "25:00"\n',
        "profiles.x.first_event_before",
        "wall-clock",
    ),
    (
        GOOD
        + '\n[profiles.x]\nrequired = ["a"]\nfirst_event_after_days = 2\ndeadlines = ["soon"]\n',
        "profiles.x.deadlines[0]",
        "no deadline named",
    ),
    (GOOD + '\n[[deadlines]]\nname = "d"\n', "deadlines[0]", "exactly one of"),
    (
        GOOD + '\n[[deadlines]]\nname = "d"\nafter_first = "soon"\n',
        "deadlines[0].after_first",
        "not a duration",
    ),
    (
        GOOD + '\n[[deadlines]]\nname = "d"\nat = "10:30"\nrequired = 2\n',
        "deadlines[0].required",
        "fraction",
    ),
    (
        GOOD + '\n[[deadlines]]\nname = "d"\nat = "10:30"\notherwise = "panic"\n',
        "deadlines[0].otherwise",
        "'wait' or 'fail'",
    ),
    (GOOD + "\n[policy]\noptional_quorum = 1.5\n", "policy.optional_quorum", "fraction"),
]


@pytest.mark.parametrize(("text", "field", "problem"), BAD)
def test_bad_spec_names_file_and_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {field}: ")
