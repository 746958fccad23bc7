"""The chaos soak (``benchmarks/chaos.py``) at small size: 20 keys x 21 processors delivered
1-3 times by concurrent workers under publish failures, crashes (SIGKILLed worker processes),
store conflicts and aborts, bad messages and late reruns. The soak verifies itself from the
store and the published messages and exits non-zero on any violation; these tests run it and
check that the faults really happened, and that its verifier notices a broken pipeline.

Fault rates are raised above the defaults so that every kind occurs at this size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from support import REPO, require_emulator

CHAOS = REPO / "benchmarks" / "chaos.py"
KEYS = 20
PROCESSORS = 21
HARSH = [
    "--publish-failure-rate=0.3",
    "--crash-before-publish-rate=0.2",
    "--crash-after-publish-rate=0.15",
    "--abort-rate=0.05",
    "--seed=11",
]


def run_chaos(*args: str) -> tuple[int, dict[str, Any], str]:
    """Run the soak; its exit status, its one JSON line, and its stderr (the violations)."""
    process = subprocess.run(
        [sys.executable, str(CHAOS), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )
    lines = process.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line\n{process.stdout}\n{process.stderr}"
    return process.returncode, json.loads(lines[0]), process.stderr


def assert_clean(code: int, line: dict[str, Any], stderr: str, keys: int) -> None:
    assert line["violation_kinds"] == {}, stderr
    assert code == 0, stderr
    assert line["keys_triggered"] == keys
    assert line["distinct_trigger_ids"] == keys
    assert line["completions_recorded"] == keys * PROCESSORS
    assert line["late_recorded"] == line["late_completions"] > 0
    assert line["quarantined"] == line["faults"]["bad_messages"] > 0


def assert_faults_happened(faults: dict[str, int], *, injected_conflicts: bool) -> None:
    for kind in (
        "publish_failures",
        "store_aborts_before_commit",
        "store_aborts_after_commit",
        "redeliveries",
    ):
        assert faults[kind] > 0, kind
    assert faults["crashes_before_publish"] + faults["crashes_after_publish"] > 0
    if injected_conflicts:
        assert faults["store_conflicts_injected"] > 0


@pytest.mark.parametrize(
    ("store", "mode"), [("memory", "threads"), ("sqlite", "threads"), ("sqlite", "processes")]
)
def test_nothing_is_lost_and_each_key_triggers_once(store: str, mode: str) -> None:
    code, line, stderr = run_chaos(
        "--store", store, "--mode", mode, "--keys", str(KEYS), "--workers", "4", *HARSH
    )
    assert_clean(code, line, stderr, KEYS)
    assert_faults_happened(line["faults"], injected_conflicts=True)
    crashes = line["faults"]["crashes_before_publish"] + line["faults"]["crashes_after_publish"]
    assert line["worker_restarts"] == crashes


@pytest.mark.parametrize(
    ("sabotage", "violation", "extra"),
    [
        # a handler that swallows publish errors latches keys as triggered with nothing sent
        (
            "swallow-publish-errors",
            "trigger_message_not_published",
            ["--publish-failure-rate", "0.5"],
        ),
        # a transport without retries loses the completions whose commit was aborted
        ("no-redelivery", "completions_missing", ["--abort-rate", "0.2", "--max-copies", "1"]),
    ],
)
def test_the_verifier_notices_a_broken_pipeline(
    sabotage: str, violation: str, extra: list[str]
) -> None:
    code, line, stderr = run_chaos(
        "--store", "memory", "--keys", str(KEYS), "--seed", "11", "--sabotage", sabotage, *extra
    )
    assert code == 1
    assert line["violation_kinds"].get(violation, 0) > 0, line["violation_kinds"]
    assert violation in stderr


@pytest.mark.emulator
def test_nothing_is_lost_on_firestore() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    code, line, stderr = run_chaos(
        "--store", "firestore", "--mode", "threads", "--keys", "5", "--workers", "4", *HARSH
    )
    assert_clean(code, line, stderr, 5)
    assert_faults_happened(line["faults"], injected_conflicts=False)


@pytest.mark.emulator
def test_nothing_is_lost_on_firestore_with_pubsub_and_processes() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    require_emulator("PUBSUB_EMULATOR_HOST")
    code, line, stderr = run_chaos(
        "--store",
        "firestore",
        "--publisher",
        "pubsub",
        "--mode",
        "processes",
        "--keys",
        "5",
        "--workers",
        "3",
        *HARSH,
    )
    assert_clean(code, line, stderr, 5)
    assert_faults_happened(line["faults"], injected_conflicts=False)
