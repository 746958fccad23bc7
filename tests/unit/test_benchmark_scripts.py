"""Every benchmark script still runs: each once with the smallest workload, its output one
JSON object per line. Nothing here is timed (the figures come from full runs, see
docs/benchmarks.md); this only keeps the scripts from rotting as the library changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import REPO, require_emulator

SMALL: dict[str, str] = {
    "inprocess": "--scenario all --n 21 --min-completions 21 --keys 20 --floor-keys 5 --repeats 1",
    "sqlite_throughput": "--scenario all --processes 1 --keys 5 --n 10",
    "memory": "--part all --keys 50 --n 21 --n 40 --reruns 0",
    "flood": "--reports 200 --names 5",
    "console": "--days 5 --repeat 1",
    "cold_start": "--runs 1 --target phaseactors",
    "contention": "--store sqlite --n 3 --runs 1 --mode threads",
    "chaos": "--store sqlite --keys 3 --workers 2",
}
ON_THE_EMULATOR: dict[str, str] = {
    "contention": "--store firestore --n 3 --runs 1 --mode threads",
    "firestore_latency": "--keys 2 --duplicate-keys 1 --warm-up-keys 1",
}


def run(script: str, args: list[str]) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{script}.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"{script} printed nothing"
    return lines


@pytest.mark.parametrize("script", sorted(SMALL))
def test_a_benchmark_runs_on_a_small_workload(script: str) -> None:
    run(script, SMALL[script].split())


@pytest.mark.emulator
@pytest.mark.parametrize("script", sorted(ON_THE_EMULATOR))
def test_a_firestore_benchmark_runs_on_a_small_workload(script: str) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    run(script, ON_THE_EMULATOR[script].split())
