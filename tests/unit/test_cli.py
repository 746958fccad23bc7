"""The command line: the demo (including a SIGKILL half-way), deliver outcomes and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from phaseactors.publishers import read_jsonl
from support import REPO

GATE = "phase2_to_phase3"


def phaseactors(
    *args: str, cwd: Path, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines")}
    env.pop("PHASEACTORS_STORE", None)
    result = subprocess.run(
        [sys.executable, "-m", "phaseactors", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    value: dict[str, Any] = json.loads(lines[0])
    return value


@pytest.mark.parametrize("seed", [1, 2])
def test_demo_triggers_once_and_a_rerun_publishes_nothing(tmp_path: Path, seed: int) -> None:
    args = ("demo", "--workers", "8", "--duplicates", "3", "--seed", str(seed), "--json")
    first = as_json(phaseactors(*args, cwd=tmp_path))
    assert first["state"] == "triggered"
    assert first["completions_recorded"] == 21
    assert first["duplicates_ignored"] == 42
    assert first["triggers_published"] == 1
    assert first["trigger_id"] == f"{GATE}/2025-11-29/1"
    second = as_json(phaseactors(*args, cwd=tmp_path))
    assert (second["triggers_published"], second["duplicates_ignored"]) == (0, 63)
    messages = list(read_jsonl(tmp_path / "phaseactors.triggers.jsonl"))
    assert [m["attributes"]["trigger_id"] for m in messages] == [first["trigger_id"]]


def test_demo_human_output_shows_progress_transitions_status_and_trigger(tmp_path: Path) -> None:
    out = phaseactors("demo", "--seed", "5", "--mode", "threads", cwd=tmp_path).stdout
    assert "[ 63/63]" in out
    assert "waiting -> partial" in out
    assert "complete -> triggered" in out
    assert "21 of 21 done; missing: none" in out
    assert "1 trigger published by this run (phase2_to_phase3/2025-11-29/1)" in out


def test_demo_killed_half_way_and_restarted_triggers_once(tmp_path: Path) -> None:
    env = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines")}
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phaseactors",
            "demo",
            "--workers",
            "4",
            "--duplicates",
            "3",
            "--seed",
            "11",
            "--lease-seconds",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    for line in demo.stdout:
        if line.startswith("[  8/63]"):  # early: the killed run must leave work to do
            os.killpg(demo.pid, signal.SIGKILL)
            break
    demo.wait(timeout=60)
    assert demo.returncode == -signal.SIGKILL

    rerun = as_json(
        phaseactors("demo", "--seed", "12", "--lease-seconds", "1", "--json", cwd=tmp_path)
    )
    assert (rerun["state"], rerun["completions_recorded"]) == ("triggered", 21)
    assert rerun["outcomes"].get("applied", 0) >= 1  # the killed run left work to do
    assert rerun["outcomes"]["duplicate"] >= 19  # and had recorded what it applied
    messages = list(read_jsonl(tmp_path / "phaseactors.triggers.jsonl"))
    assert [m["entry_id"] for m in messages] == [f"{GATE}/2025-11-29/1"]


def deliver(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return phaseactors("deliver", "--gate", GATE, *args, cwd=cwd, stdin=stdin, check=False)


def test_deliver_outcomes_and_exit_codes(tmp_path: Path) -> None:
    applied = deliver(
        tmp_path,
        "--processor",
        "NbacGamebookProcessor",
        "--key",
        "2025-11-30",
        "--execution-id",
        "run-1",
        "--json",
    )
    assert applied.returncode == 0
    assert as_json(applied)["outcome"] == "applied"

    duplicate = deliver(
        tmp_path,
        "--processor",
        "nbac_gamebook_player_stats",
        "--key",
        "2025-11-30",
        "--execution-id",
        "run-1",
    )
    assert duplicate.returncode == 0
    assert "duplicate: already applied" in duplicate.stderr

    unknown = deliver(
        tmp_path,
        "--processor",
        "BdlStandingsProcessor",
        "--key",
        "2025-11-30",
        "--execution-id",
        "run-1",
    )
    assert unknown.returncode == 0
    assert "unknown processor: recorded apart" in unknown.stderr

    bad_date = deliver(
        tmp_path, "--processor", "bdl_injuries", "--key", "2025-02-30", "--execution-id", "run-1"
    )
    assert bad_date.returncode == 2
    assert "game_date: '2025-02-30' is not a calendar date" in bad_date.stderr

    malformed = deliver(tmp_path, stdin='{"processor_name": "bdl_injuries", "status": "done"}')
    assert malformed.returncode == 2
    assert "execution_id: missing" in malformed.stderr

    not_json = deliver(tmp_path, stdin="processor=bdl_injuries")
    assert not_json.returncode == 2
    assert "body: not valid JSON" in not_json.stderr

    status = as_json(phaseactors("status", "2025-11-30", "--gate", GATE, "--json", cwd=tmp_path))
    assert status["state"] == "partial"
    assert list(status["done"]) == ["nbac_gamebook_player_stats"]
    assert list(status["unknown"]) == ["BdlStandingsProcessor"]
    assert (len(status["missing"]), len(status["missing_optional"])) == (9, 11)

    from phaseactors.stores import SqliteStore

    reasons = [q.reason for q in SqliteStore(tmp_path / "phaseactors.db").quarantined()]
    assert reasons == [
        "InvalidMessage: body: not valid JSON: Expecting value: line 1 column 1 (char 0)",
        "InvalidMessage: execution_id: missing",
        "InvalidKey: game_date: '2025-02-30' is not a calendar date: day is out of range for month",
    ]


def test_completion_for_a_triggered_key_is_late(tmp_path: Path) -> None:
    phaseactors("demo", "--json", "--mode", "threads", cwd=tmp_path)
    body = {
        "processor_name": "bdl_injuries",
        "game_date": "2025-11-29",
        "status": "success",
        "execution_id": "rerun-2",
    }
    late = deliver(tmp_path, "--json", stdin=json.dumps(body))
    assert late.returncode == 0
    assert (as_json(late)["outcome"], as_json(late)["state"]) == ("late", "triggered")
    status = as_json(phaseactors("status", "2025-11-29", "--gate", GATE, "--json", cwd=tmp_path))
    assert [r["execution_id"] for r in status["late"]] == ["rerun-2"]
    assert status["trigger"]["published"] is True


def test_status_of_an_unknown_key_and_a_bad_gate_file(tmp_path: Path) -> None:
    nowhere = phaseactors("status", "2025-01-01", "--gate", GATE, cwd=tmp_path, check=False)
    assert nowhere.returncode == 2
    assert "no store at phaseactors.db" in nowhere.stderr
    assert list(tmp_path.iterdir()) == []  # reading never creates the store
    deliver(tmp_path, "--processor", "bdl_injuries", "--key", "2025-11-30", "--execution-id", "r")
    missing = phaseactors("status", "2025-01-01", "--gate", GATE, cwd=tmp_path, check=False)
    assert missing.returncode == 2
    assert "no such key" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[key]\nfield = "d"\n[topics]\noutput = "x"\n[processors]\n')
    result = phaseactors("status", "2025-01-01", "--gate", str(bad), cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert f"{bad}: processors.required: missing" in result.stderr


def test_import_phaseactors_loads_no_google_module() -> None:
    code = (
        "import sys; before = set(sys.modules); import phaseactors, phaseactors.cli; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'google'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
