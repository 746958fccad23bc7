"""The gate decides like the reference model, on every store: generated gates, keys at
calendar and DST edges, clocks on tier boundaries, names in every spelling, every dedup path,
publish failures, operator commands, and on SQLite and Firestore concurrent bursts from
threads (gate_machine.py). Each run must reach a trigger in at least a quarter of its
examples, and failures and rearms in some. The memory run is the one test_rule_teeth.py
repeats under each broken rule: MODEL_BASED is its budget."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest
from gate_machine import MODEL_BASED, REACH, REPORTED, GateRules
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from zones import host_zone

from phaseactors.stores import SqliteStore
from phaseactors.stores.base import Store
from support import require_emulator, scaled


class SqliteGateRules(GateRules):
    store_name = "sqlite"
    bursts = True

    def make_store(self) -> Store:
        self.directory = Path(tempfile.mkdtemp(prefix="phaseactors-"))
        return SqliteStore(self.directory / "actors.db")

    def other_handle(self) -> Store:
        handle = SqliteStore(self.directory / "actors.db")
        self.handles = [*getattr(self, "handles", []), handle]
        return handle

    def close(self) -> None:
        for handle in [self.runtime.store, *getattr(self, "handles", [])]:
            handle.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class FirestoreGateRules(GateRules):
    store_name = "firestore"
    bursts = True

    def make_store(self) -> Store:
        from google.cloud import firestore

        from phaseactors.stores.firestore import FirestoreStore

        self.prefix = f"s{uuid.uuid4().hex[:10]}."
        self.client = firestore.Client(project="phaseactors-test")
        return FirestoreStore(self.client, prefix=self.prefix)

    def other_handle(self) -> Store:
        from phaseactors.stores.firestore import FirestoreStore

        return FirestoreStore(self.client, prefix=self.prefix)


def run_and_check_reach(machine: type[GateRules], budget: settings) -> None:
    """Run the machine, then hold its run to the coverage it promises."""
    REACH.pop(machine.store_name, None)
    run_state_machine_as_test(machine, settings=budget)
    tally = REACH[machine.store_name]
    REPORTED[machine.store_name] = Counter(tally)
    if os.environ.get("HYPOTHESIS_PROFILE") == "mutation":  # too few examples to promise
        return
    assert tally["trigger"] >= tally["examples"] / 4, tally
    needed = ["failed", "rearm", "late", "duplicate", "unknown"] + ["burst"] * machine.bursts
    for what in needed:
        assert tally[what] > 0, f"no example reached {what}: {tally}"


def test_gate_decides_like_the_model_in_memory() -> None:
    run_and_check_reach(GateRules, MODEL_BASED)


def test_gate_decides_like_the_model_on_sqlite() -> None:
    run_and_check_reach(SqliteGateRules, settings(MODEL_BASED, max_examples=scaled(40)))


@pytest.mark.emulator
def test_gate_decides_like_the_model_on_firestore() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    run_and_check_reach(
        FirestoreGateRules, settings(MODEL_BASED, max_examples=scaled(16), stateful_step_count=15)
    )


class HostInNewYork(GateRules):
    store_name = "memory, host zone America/New_York"


class HostInKolkata(GateRules):
    store_name = "memory, host zone Asia/Kolkata"


@pytest.mark.parametrize(
    ("machine", "zone"),
    [(HostInNewYork, "America/New_York"), (HostInKolkata, "Asia/Kolkata")],
    ids=["New York", "Kolkata"],
)
def test_gate_decides_like_the_model_whatever_the_host_zone(
    machine: type[GateRules], zone: str
) -> None:
    """A rule that read a key's date or a deadline in the host's zone would pass on a UTC
    host: the same machine with the host in the gates' own zone and in one far from it."""
    with host_zone(zone):
        run_and_check_reach(machine, settings(MODEL_BASED, max_examples=scaled(150)))
