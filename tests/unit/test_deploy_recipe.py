"""The deployment recipe: retry enabled, a dead-letter topic, the right entry points."""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest

from support import REPO

RECIPE = REPO / "examples" / "cloud_function"


def dry_run(gate: str) -> list[str]:
    result = subprocess.run(
        [str(RECIPE / "deploy.sh"), "--dry-run", "my-project", gate],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def command(commands: list[str], *words: str) -> str:
    [found] = [c for c in commands if all(w in c.split() for w in words)]
    return found


@pytest.mark.parametrize(
    ("gate", "topic"),
    [
        ("phase2_to_phase3", "nba-phase2-raw-complete"),
        ("phase4_to_phase5", "nba-phase4-precompute-complete"),
    ],
)
def test_trigger_has_retry_and_a_dead_letter_topic(gate: str, topic: str) -> None:
    commands = dry_run(gate)
    deploy = command(commands, "functions", "deploy", "--entry-point=handle")
    assert "--retry" in deploy.split()
    assert f"--trigger-topic={topic}" in deploy.split()
    assert f"PHASEACTORS_GATE={gate}" in deploy
    assert f"PHASEACTORS_DEAD_LETTER_TOPIC={topic}-dead-letter" in deploy
    update = command(commands, "subscriptions", "update")
    assert f"--dead-letter-topic={topic}-dead-letter" in update.split()
    assert "--max-delivery-attempts=10" in update.split()
    assert command(commands, "topics", "create", f"{topic}-dead-letter")
    assert command(commands, "firebase", "deploy")
    sweep = command(commands, "functions", "deploy", "--entry-point=sweep")
    assert "--no-allow-unauthenticated" in sweep.split()
    assert command(commands, "scheduler", "jobs", "create")


def test_unknown_gate_is_refused() -> None:
    result = subprocess.run(
        [str(RECIPE / "deploy.sh"), "--dry-run", "my-project", "phase9"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no gate definition" in result.stderr


def test_function_source_matches_the_package() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    requirements = (RECIPE / "requirements.txt").read_text()
    assert f"./vendor/phaseactors-{version}-py3-none-any.whl[gcp]" in requirements
    main = (RECIPE / "main.py").read_text()
    assert "from phaseactors.gcp.functions import handle, push, status, sweep" in main


@pytest.mark.parametrize("gate", sorted(p.stem for p in (REPO / "machines").glob("*.toml")))
def test_every_gate_has_its_indexes_and_leaves_its_snapshot_unindexed(gate: str) -> None:
    """The list query needs (state, updated_at); the snapshot's maps and arrays are exempt
    from automatic indexing, which keeps large gates far from 40,000 index entries."""
    config = json.loads((REPO / "stores" / "firestore.indexes.json").read_text())
    group = f"phaseactors.{gate}"
    [index] = [i for i in config["indexes"] if i["collectionGroup"] == group]
    assert [f["fieldPath"] for f in index["fields"]] == ["state", "updated_at"]
    exempt = {
        o["fieldPath"]
        for o in config["fieldOverrides"]
        if o["collectionGroup"] == group and o["indexes"] == []
    }
    assert exempt == {"data", "seen", "outbox", "history"}
