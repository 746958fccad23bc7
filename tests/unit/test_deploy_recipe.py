"""The deployment recipe (deploy.sh, a wrapper of ``phaseactors deploy``): retry enabled, a
dead-letter topic, the right entry points, the generated index file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from phaseactors.gate.spec_loader import gate_files
from phaseactors.pipeline import pipeline_files
from support import REPO

RECIPE = REPO / "examples" / "cloud_function"


def script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RECIPE / "deploy.sh"), "--project", "my-project", "--region", "us-west2", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )


def dry_run(gate: str) -> list[str]:
    """The create (+) and update (~) commands of the plan, each once."""
    result = script("--gate", gate, "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = [line[4:] for line in result.stdout.splitlines() if line[:4] in ("  + ", "  ~ ")]
    return list(dict.fromkeys(lines))


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
    dead_letter = f"--dead-letter-topic=projects/my-project/topics/{topic}-dead-letter"
    update = command(commands, "subscriptions", "update", dead_letter)
    assert "--max-delivery-attempts=10" in update.split()
    assert command(commands, "topics", "create", f"{topic}-dead-letter")
    assert command(commands, "subscriptions", "create", f"--topic={topic}-dead-letter")
    assert command(
        commands,
        "firestore",
        "indexes",
        "composite",
        "create",
        "--collection-group=phaseactors.quarantine",
    )
    assert any("firebaserules.googleapis.com" in c for c in commands)
    sweep = command(commands, "functions", "deploy", "--entry-point=sweep")
    assert "--no-allow-unauthenticated" in sweep.split()
    assert command(commands, "scheduler", "jobs", "create", "http")


def test_unknown_gate_is_refused() -> None:
    result = script("--gate", "phase9", "--dry-run")
    assert result.returncode == 2
    assert "no gate named 'phase9'" in result.stderr


def test_function_source_matches_the_package() -> None:
    from phaseactors import __version__ as version

    assert "version" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dynamic"]
    requirements = (RECIPE / "requirements.txt").read_text()
    assert f"./vendor/phaseactors-{version}-py3-none-any.whl[gcp]" in requirements
    main = (RECIPE / "main.py").read_text()
    assert "from phaseactors.gcp.functions import handle, push, status, sweep" in main


@pytest.mark.parametrize(
    "gate",
    [p.stem for p in [*gate_files(REPO / "machines"), *pipeline_files([REPO / "machines"])]],
)
def test_every_gate_has_its_indexes_and_leaves_its_snapshot_unindexed(gate: str) -> None:
    """A gate's queries each filter on one field, so it needs no composite index (the
    quarantine's newest-first listing has one); the snapshot's maps and arrays are exempt
    from automatic indexing, which keeps large gates far from 40,000 index entries; the TTL
    field of finished keys is not indexed either. The file is generated (test_deploy_plan
    keeps it equal to what ``phaseactors deploy --write-indexes`` writes)."""
    config = json.loads((REPO / "stores" / "firestore.indexes.json").read_text())
    group = f"phaseactors.{gate}"
    assert not [i for i in config["indexes"] if i["collectionGroup"] == group]
    exempt = {
        o["fieldPath"]
        for o in config["fieldOverrides"]
        if o["collectionGroup"] == group and o["indexes"] == []
    }
    assert exempt == {"data", "seen", "outbox", "history", "expire_at"}
