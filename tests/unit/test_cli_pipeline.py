"""The pipeline on the command line: ``demo --pipeline`` (again, and killed half-way), the
in-process wiring of ``deliver``, and ``pipeline status|list|sweep``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from phaseactors import GateActor, GateRuntime, JsonlPublisher, SqliteStore, load_spec
from phaseactors.pipeline import PipelineActor, PipelineRuntime, load_pipeline, route_lifecycle
from phaseactors.publishers import read_jsonl
from support import REPO, ManualClock, done

KEY = "2025-11-29"
GATES = ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
LATE = "phase4_to_phase5"
ENV = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines")}
ENV.pop("PHASEACTORS_STORE", None)
ENV.pop("PHASEACTORS_PUBLISHER", None)


def phaseactors(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "phaseactors", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    value: dict[str, Any] = json.loads(lines[0])
    return value


def published(cwd: Path) -> tuple[Counter[str], Counter[str]]:
    """Triggers per gate and alerts per reason in the demo's message file."""
    messages = list(read_jsonl(cwd / "phaseactors.triggers.jsonl"))
    assert len({m["entry_id"] for m in messages}) == len(messages)
    triggers = Counter(m["attributes"]["gate"] for m in messages if "trigger_id" in m["attributes"])
    alerts = Counter(
        m["data"]["reason"] for m in messages if m["attributes"].get("kind") == "alert"
    )
    return triggers, alerts


EXPECTED_ALERTS = [
    {"id": f"nba_daily/{KEY}/1/alert/stalled/{LATE}", "reason": "stalled"},
    {"id": f"nba_daily/{KEY}/1/alert/recovered/stalled:{LATE}", "reason": "recovered"},
]


def test_the_pipeline_demo_alerts_once_for_the_late_handoff_and_a_rerun_adds_nothing(
    tmp_path: Path,
) -> None:
    args = ("demo", "--pipeline", "--workers", "4", "--seed", "5", "--json")
    first = as_json(phaseactors(*args, cwd=tmp_path))
    assert (first["pipeline"], first["key"], first["state"]) == ("nba_daily", KEY, "done")
    assert first["gates"] == {
        gate: {"state": "triggered", "triggers_published": 1, "trigger_id": f"{gate}/{KEY}/1"}
        for gate in GATES
    }
    assert first["alerts"] == EXPECTED_ALERTS
    assert (first["alerts_published"], first["errors"]) == (2, [])
    assert first["deliveries"] == 3 * (21 + 5 + 5)
    second = as_json(phaseactors(*args, cwd=tmp_path))
    assert second["state"] == "done"
    assert [g["triggers_published"] for g in second["gates"].values()] == [0, 0, 0]
    assert (second["alerts_published"], second["alerts"]) == (0, EXPECTED_ALERTS)
    assert second["outcomes"] == {"duplicate": 93}
    triggers, alerts = published(tmp_path)
    assert (triggers, alerts) == (Counter(GATES), Counter(["stalled", "recovered"]))


def killed_then_rerun(cwd: Path, kill_at: str) -> dict[str, Any]:
    """Run the demo, SIGKILL it when ``kill_at`` is printed, rerun it; the rerun's summary."""
    cwd.mkdir()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phaseactors",
            "demo",
            "--pipeline",
            "--workers",
            "4",
            "--seed",
            "11",
            "--lease-seconds",
            "1",
        ],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    seen = []
    for line in demo.stdout:
        seen.append(line)
        if kill_at in line and (kill_at != "[  1/15]" or any(LATE in s for s in seen)):
            os.killpg(demo.pid, signal.SIGKILL)
            break
    demo.wait(timeout=60)
    assert demo.returncode == -signal.SIGKILL, "".join(seen)
    rerun = as_json(
        phaseactors("demo", "--pipeline", "--seed", "12", "--lease-seconds", "1", "--json", cwd=cwd)
    )
    assert rerun["state"] == "done"
    assert rerun["alerts"] == EXPECTED_ALERTS
    triggers, alerts = published(cwd)
    assert (triggers, alerts) == (Counter(GATES), Counter(["stalled", "recovered"]))
    return rerun


@pytest.mark.parametrize(
    "kill_at",
    ["[ 30/63]", f"{LATE}: 5 processors", "[  1/15]"],
    ids=["during the first phase", "right after the stall", "during the late phase"],
)
def test_the_pipeline_demo_killed_half_way_still_triggers_and_alerts_once(
    tmp_path: Path, kill_at: str
) -> None:
    # The workers run on while the test reads the line and kills; on a loaded machine they can
    # finish the phase first, and then the kill was not half-way. Such a run still has to end
    # with one trigger per gate and one alert per reason; it is tried again, a few times, until
    # a kill leaves work for the rerun.
    for attempt in range(5):
        rerun = killed_then_rerun(tmp_path / f"attempt-{attempt}", kill_at)
        if rerun["outcomes"].get("applied", 0) >= 1:
            return
    raise AssertionError(f"every kill at {kill_at!r} came after its phase's work was done")


def stalled_run(path: Path) -> ManualClock:
    """A SQLite file whose run is stalled: Phase 2 triggered two hours ago, Phase 3 silent."""
    spec = load_pipeline("nba_daily")
    store = SqliteStore(path / "ops.db")
    publisher = JsonlPublisher(path / "alerts.jsonl")
    clock = ManualClock()
    gate = load_spec("phase2_to_phase3")
    route = route_lifecycle(gate, store, publisher, pipelines=[spec], clock=clock)
    runtime = GateRuntime(GateActor(gate), store, route, clock=clock)
    for name in gate.expected:
        runtime.deliver(done(name))
    clock.advance(timedelta(hours=2).total_seconds())
    PipelineRuntime(PipelineActor(spec), store, publisher, clock=clock).sweep()
    store.close()
    return clock


def test_pipeline_status_list_and_sweep(tmp_path: Path) -> None:
    stalled_run(tmp_path)
    store = ("--store", "sqlite:///ops.db", "--publisher", "jsonl://alerts.jsonl")
    listed = as_json(
        phaseactors("pipeline", "list", "--state", "stalled", *store, "--json", cwd=tmp_path)
    )
    [row] = listed["runs"]
    assert (row["key"], row["state"], row["in_progress"]) == (KEY, "stalled", "phase3_to_phase4")
    assert row["open_alerts"] == [f"nba_daily/{KEY}/1/alert/stalled/phase3_to_phase4"]
    done_runs = phaseactors("pipeline", "list", "--state", "done", *store, "--json", cwd=tmp_path)
    assert as_json(done_runs)["runs"] == []

    status = as_json(phaseactors("pipeline", "status", KEY, *store, "--json", cwd=tmp_path))
    assert status["state"] == "stalled"
    assert [p["progress"] for p in status["phases"]] == ["triggered", "not started", "not started"]
    assert [p["gate_state"] for p in status["phases"]] == ["triggered", None, None]
    assert status["phases"][1]["handoff"]["overdue"] is True
    human = phaseactors("pipeline", "status", KEY, *store, cwd=tmp_path).stdout
    assert "nba_daily / 2025-11-29: STALLED" in human
    assert "60m: OVERDUE" in human
    assert "phase3_to_phase4 has not started" in human

    # the wall clock is long past the overall deadline (11:00 New York the next day): once
    swept = as_json(phaseactors("pipeline", "sweep", *store, "--json", cwd=tmp_path))
    assert (swept["visited"], len(swept["published"]), swept["errors"]) == (1, 1, {})
    [*_, alert] = read_jsonl(tmp_path / "alerts.jsonl")
    assert alert["entry_id"] == f"nba_daily/{KEY}/1/alert/overall_deadline_missed"
    again = as_json(phaseactors("pipeline", "sweep", *store, "--json", cwd=tmp_path))
    assert (again["visited"], again["published"]) == (0, [])
    missing = phaseactors("pipeline", "status", "2025-12-25", *store, check=False, cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such run" in missing.stderr


def test_deliver_routes_the_gates_news_to_the_run_in_process(tmp_path: Path) -> None:
    store = ("--store", "sqlite:///wired.db")
    phaseactors(
        "deliver", "--gate", "phase3_to_phase4", "--key", KEY, "--processor",
        "PlayerGameSummaryProcessor", "--execution-id", "run-1", *store, cwd=tmp_path,
    )  # fmt: skip
    status = as_json(phaseactors("pipeline", "status", KEY, *store, "--json", cwd=tmp_path))
    assert status["state"] == "running"
    phase = status["phases"][1]
    assert (phase["gate"], phase["progress"], phase["gate_state"]) == (
        "phase3_to_phase4",
        "started",
        "partial",
    )
    assert "player_game_summary" not in phase["missing"]
    assert len(phase["missing"]) == 4
