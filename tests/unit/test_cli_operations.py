"""Operator commands, listing stuck keys, history, and the stuck-key demo."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from test_cli import GATE, as_json, phaseactors

from support import require_emulator


def run(cwd: Path, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    return phaseactors(*args, "--gate", GATE, cwd=cwd, check=check)


def report(cwd: Path, key: str = "2025-11-30", processor: str = "nbac_schedule") -> None:
    """One processor's completion for ``key``, delivered from flags."""
    run(cwd, "deliver", "--processor", processor, "--key", key, "--execution-id", "e1")


def test_force_fail_rearm_are_audited_and_refusals_explain(tmp_path: Path) -> None:
    report(tmp_path)
    failed = as_json(
        run(tmp_path, "fail", "2025-11-30", "--reason", "bad feed", "--by", "ana", "--json")
    )
    assert (failed["state"], failed["by"]) == ("failed", "ana")
    rearmed = as_json(run(tmp_path, "rearm", "2025-11-30", "--reason", "rerun", "--json"))
    assert (rearmed["state"], rearmed["generation"]) == ("waiting", 2)
    forced = as_json(run(tmp_path, "force-trigger", "2025-11-30", "--reason", "ship", "--json"))
    assert (forced["state"], forced["trigger_id"]) == ("triggered", f"{GATE}/2025-11-30/2")
    assert len(forced["published"]) == 1  # the trigger; its announcement goes to the pipeline run

    refused = run(tmp_path, "force-trigger", "2025-11-30", "--reason", "again", check=False)
    assert refused.returncode == 2
    assert refused.stderr == (
        "phaseactors force-trigger: 2025-11-30 is triggered, where force-trigger is not"
        " possible; a triggered key allows: deliver (recorded as late), rearm\n"
    )

    history = as_json(run(tmp_path, "history", "2025-11-30", "--json"))["history"]
    assert [(h["event"], h["target"], h.get("by")) for h in history] == [
        ("report_done", "partial", None),
        ("fail", "failed", "ana"),
        ("rearm", "waiting", history[2]["by"]),
        ("force", "complete", history[3]["by"]),
        ("confirm_trigger", "triggered", None),
    ]
    assert [h["cause"] for h in history[1:4]] == ["bad feed", "rerun", "ship"]


def test_missing_reason_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "fail", "2025-11-30", check=False)
    assert result.returncode == 2
    assert "--reason" in result.stderr


def test_list_shows_stuck_keys_with_their_missing_processors(tmp_path: Path) -> None:
    for key in ("2025-11-30", "2025-12-01"):
        run(
            tmp_path,
            "deliver",
            "--processor",
            "NbacScheduleProcessor",
            "--key",
            key,
            "--execution-id",
            f"e-{key}",
        )
    listed = as_json(run(tmp_path, "list", "--state", "partial", "--json"))["keys"]
    assert [k["key"] for k in listed] == ["2025-11-30", "2025-12-01"]
    assert "nbac_schedule" not in listed[0]["missing"]
    assert len(listed[0]["missing"]) == 9
    # replayed long after the game date: the backfill profile, relative deadlines only
    assert listed[0]["profile"] == "backfill"
    assert listed[0]["due_at"] > listed[0]["updated_at"]
    fresh = as_json(run(tmp_path, "list", "--state", "partial", "--older-than", "2h", "--json"))
    assert fresh["keys"] == []
    table = run(tmp_path, "list").stdout
    assert "9 missing: bdl_player_boxscores" in table


def test_stuck_scenario_triggers_at_the_right_tier_or_fails_once(tmp_path: Path) -> None:
    summary = as_json(phaseactors("demo", "--scenario", "stuck", "--json", cwd=tmp_path))
    triggered, failed = summary["keys"]["2025-12-01"], summary["keys"]["2025-12-02"]
    assert (triggered["state"], triggered["reason"], triggered["triggers_published"]) == (
        "triggered",
        "deadline:2h",
        1,
    )
    assert len(triggered["missing_optional"]) == 6
    assert triggered["deadlines_passed"] == ["30m", "2h"]
    assert (failed["state"], failed["triggers_published"]) == ("failed", 0)
    assert failed["reason"] == (
        "deadline final passed; missing: odds_api_player_points_props,"
        " bettingpros_player_points_props, nbac_player_list_current"
    )
    assert failed["deadlines_passed"] == ["30m", "2h", "final"]


@pytest.mark.emulator
def test_stuck_scenario_and_operator_commands_on_firestore(tmp_path: Path) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    store = f"firestore://phaseactors-test?prefix=o{uuid.uuid4().hex[:8]}."
    summary = as_json(
        phaseactors(
            "demo",
            "--scenario",
            "stuck",
            "--store",
            store,
            "--publisher",
            "log://",
            "--json",
            cwd=tmp_path,
        )
    )
    assert summary["keys"]["2025-12-01"]["reason"] == "deadline:2h"
    assert summary["keys"]["2025-12-02"]["state"] == "failed"
    listed = as_json(run(tmp_path, "list", "--state", "failed", "--store", store, "--json"))
    assert [k["key"] for k in listed["keys"]] == ["2025-12-02"]
    rearmed = as_json(
        run(tmp_path, "rearm", "2025-12-02", "--reason", "rerun", "--store", store, "--json")
    )
    assert (rearmed["state"], rearmed["generation"]) == ("waiting", 2)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_an_empty_blank_or_overlong_reason_is_one_line_and_exit_2(
    tmp_path: Path, reason: str
) -> None:
    result = run(tmp_path, "force-trigger", "2025-11-30", "--reason", reason, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "argument --reason: " in result.stderr.splitlines()[-1]


def test_a_reason_of_the_longest_allowed_length_is_taken_and_kept_whole(tmp_path: Path) -> None:
    """A gate that announces its lifecycle cuts the announcement, never the operator's text."""
    from phaseactors.limits import MAX_REASON_LENGTH

    reason = "r" * MAX_REASON_LENGTH
    report(tmp_path)
    failed = as_json(run(tmp_path, "fail", "2025-11-30", "--reason", reason, "--json"))
    assert failed["state"] == "failed"
    status = as_json(run(tmp_path, "status", "2025-11-30", "--json"))
    assert reason in status["failed_reason"]
    ranged = ("--from", "2025-11-30", "--to", "2025-11-30", "--reason", reason, "--yes")
    rearmed = run(tmp_path, "rearm", *ranged, "--json")
    assert rearmed.returncode == 0


def test_operator_text_is_validated_by_the_runtime_too(runtime) -> None:  # type: ignore[no-untyped-def]
    from phaseactors import InvalidMessage

    with pytest.raises(InvalidMessage, match="reason: must not be empty or blank"):
        runtime.force("2025-11-29", reason=" \t", by="ana")
    with pytest.raises(InvalidMessage, match="by: longer than 200"):
        runtime.force("2025-11-29", reason="ship", by="a" * 201)
    assert runtime.load("2025-11-29") is None


def test_the_default_operator_is_the_login_name_at_this_host(tmp_path: Path) -> None:
    import getpass
    import socket

    report(tmp_path)
    failed = as_json(run(tmp_path, "fail", "2025-11-30", "--reason", "bad feed", "--json"))
    assert failed["by"] == f"{getpass.getuser()}@{socket.gethostname()}"


def test_untrusted_text_cannot_forge_lines_or_restyle_the_terminal(tmp_path: Path) -> None:
    """A producer's ids and error text, and an operator's reason, are shown escaped."""
    hostile = "\x1b[2J\x1b]0;owned\x07\r\n12:00:00  1  partial -> triggered  force  ok\u202e"
    body = (
        '{"processor_name": "nbac_schedule", "game_date": "2025-11-30", "status": "failed",'
        f' "execution_id": {json.dumps(hostile)}, "error_message": {json.dumps(hostile)}}}'
    )
    phaseactors("deliver", "--gate", GATE, cwd=tmp_path, stdin=body)
    run(tmp_path, "rearm", "2025-11-30", "--reason", f"rerun {hostile}")
    for verb in ("status", "history"):
        shown = run(tmp_path, verb, "2025-11-30").stdout
        assert not any(c in shown for c in "\x1b\x07\r\u202e"), verb
        assert not any(line.startswith("12:00:00") for line in shown.splitlines()), verb
        assert "\\x1b[2J\\x1b]0;owned\\x07\\r\\n12:00:00" in shown, verb


def test_stats_summarise_only_the_keys_of_the_range(tmp_path: Path) -> None:
    for day in ("2025-11-01", "2025-11-02", "2025-11-03"):
        report(tmp_path, day)
    ranged = as_json(run(tmp_path, "stats", "--from", "2025-11-02", "--to", "2025-11-03", "--json"))
    assert (ranged["keys"], ranged["completions"], ranged["states"]) == (2, 2, {"partial": 2})
    whole = as_json(run(tmp_path, "stats", "--json"))
    assert (whole["keys"], whole["completions"]) == (3, 3)
    one = as_json(run(tmp_path, "stats", "--from", "2025-11-03", "--json"))
    assert one["keys"] == 1
