"""The kit's stateful machine (phaseactors.testing.stateful) on every actor: the gate, the
pipeline run and the job machine of docs/writing-an-actor.md, on memory and SQLite (and the
pipeline run on the Firestore emulator); and its teeth: a runtime that never confirms a
publish is caught publishing the same message twice (or leaving it in the outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from docs_blocks import example_module
from phaseactors import GateActor, spec_from_mapping
from phaseactors.core.events import Event
from phaseactors.core.runtime import Runtime
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.completion import Completion
from phaseactors.gate.events import CompletionReported, Rearm
from phaseactors.pipeline import GateAnnounced, PipelineActor
from phaseactors.pipeline import conditions as run_conditions
from phaseactors.publishers.recording import Published
from phaseactors.stores import MemoryStore, SqliteStore, Store
from phaseactors.testing.stateful import ActorMachine
from pipeline_support import GATES, announcement, small_pipeline
from support import REPO, SMALL_GATE, require_emulator, scaled

job = example_module(REPO / "docs" / "writing-an-actor.md", "def job_subject")
#: A gate small enough to trigger in a few steps, which announces, alerts and has deadlines.
GATE = spec_from_mapping(
    {
        **SMALL_GATE,
        "topics": {
            "input": "small-in",
            "output": "small-out",
            "lifecycle": "small-lifecycle",
            "alerts": "small-alerts",
        },
        "processors": {"required": ["alpha", "beta", "gamma"], "optional": ["delta"]},
        "policy": {"optional_quorum": 1.0},
        "deadlines": [
            {"name": "2h", "after_first": "2h"},
            {"name": "final", "at": "10:30", "day_offset": 1, "required": 0.6, "otherwise": "fail"},
        ],
    }
)
MACHINE = settings(
    max_examples=scaled(40),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- the gate ---------------------------------------------------------------------------------


class GateRules(ActorMachine):
    def create_actor(self) -> GateActor:
        return GateActor(GATE)

    def create_store(self) -> Store:
        return MemoryStore()

    def events(self, at: datetime) -> st.SearchStrategy[Event]:
        completions = st.builds(
            Completion,
            processor=st.sampled_from(sorted(GATE.required) * 3 + sorted(GATE.optional)),
            key=st.just(self.key),
            status=st.sampled_from(["success"] * 11 + ["failed"]),
            execution_id=st.sampled_from([f"run-{n}" for n in range(1, 7)]),
        )
        reported = st.builds(CompletionReported, at=st.just(at), completion=completions)
        rearm = st.builds(Rearm, at=st.just(at), reason=st.just("rerun"), by=st.just("ana"))
        return st.one_of(*[reported] * 11, rearm)

    def check(self, snapshot: Snapshot[Any] | None, published: Sequence[Published]) -> None:
        triggers = [m for m in published if m.topic == GATE.output_topic]
        generation = snapshot.generation if snapshot else 0
        assert len(triggers) <= generation, "more triggers than generations"
        assert {m.entry_id for m in triggers} <= {
            f"{GATE.name}/{self.key}/{g}" for g in range(1, generation + 1)
        }


class SqliteGateRules(GateRules):
    def create_store(self) -> Store:
        return SqliteStore(self.directory / "gate.db")

    def other_handle(self) -> Store:
        return SqliteStore(self.directory / "gate.db")


# -- the pipeline run -------------------------------------------------------------------------


class PipelineRules(ActorMachine):
    def create_actor(self) -> PipelineActor:
        return PipelineActor(small_pipeline())

    def create_store(self) -> Store:
        return MemoryStore()

    def events(self, at: datetime) -> st.SearchStrategy[Event]:
        news = st.builds(
            announcement,
            st.sampled_from(GATES),
            st.sampled_from(["started", "triggered", "triggered", "failed"]),
            st.just(at),
        )
        return st.builds(GateAnnounced, at=st.just(at), announcement=news)

    def check(self, snapshot: Snapshot[Any] | None, published: Sequence[Published]) -> None:
        if snapshot is None:
            return
        decided = {a.id for a in snapshot.data.alerts}
        mine = f"{snapshot.generation}/alert/"
        sent = {m.entry_id for m in published if mine in m.entry_id}
        assert sent <= decided, f"alerts published but never decided: {sent - decided}"
        if snapshot.state == "done":
            assert run_conditions.finished(small_pipeline(), snapshot.data)


class SqlitePipelineRules(PipelineRules):
    def create_store(self) -> Store:
        return SqliteStore(self.directory / "runs.db")

    def other_handle(self) -> Store:
        return SqliteStore(self.directory / "runs.db")


class FirestorePipelineRules(PipelineRules):
    def create_store(self) -> Store:
        from google.cloud import firestore

        from phaseactors.stores.firestore import FirestoreStore

        self.prefix = f"m{uuid.uuid4().hex[:10]}."
        self.client = firestore.Client(project="phaseactors-test")
        return FirestoreStore(self.client, prefix=self.prefix)

    def other_handle(self) -> Store:
        from phaseactors.stores.firestore import FirestoreStore

        return FirestoreStore(self.client, prefix=self.prefix)


# -- the job of docs/writing-an-actor.md ------------------------------------------------------


class JobRules(ActorMachine):
    key = "nightly-export"

    def create_actor(self) -> Any:
        return job.JobActor()

    def create_store(self) -> Store:
        return MemoryStore()

    def events(self, at: datetime) -> st.SearchStrategy[Event]:
        finished = st.builds(
            job.AttemptFinished,
            at=st.just(at),
            attempt=st.integers(1, 3),
            ok=st.booleans(),
        )
        return st.one_of(st.builds(job.Submitted, at=st.just(at)), finished)

    def check(self, snapshot: Snapshot[Any] | None, published: Sequence[Published]) -> None:
        attempt = snapshot.data.attempt if snapshot else 0
        commanded = {m.entry_id for m in published if "/attempt-" in m.entry_id}
        assert commanded <= {f"{self.key}/attempt-{n}" for n in range(1, attempt + 1)}


class SqliteJobRules(JobRules):
    def create_store(self) -> Store:
        return SqliteStore(self.directory / "jobs.db")

    def other_handle(self) -> Store:
        return SqliteStore(self.directory / "jobs.db")


@pytest.mark.parametrize(
    "machine",
    [GateRules, SqliteGateRules, PipelineRules, SqlitePipelineRules, JobRules, SqliteJobRules],
)
def test_the_kit_machine_holds_on_every_actor(machine: type[ActorMachine]) -> None:
    run_state_machine_as_test(machine, settings=MACHINE)


@pytest.mark.emulator
def test_the_kit_machine_holds_for_the_pipeline_run_on_firestore() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    run_state_machine_as_test(
        FirestorePipelineRules, settings=settings(MACHINE, max_examples=scaled(8))
    )


# -- teeth ------------------------------------------------------------------------------------


class NeverConfirms(Runtime[Any]):
    """Publishes, but never records that it did: the next delivery or sweep publishes the
    same message again."""

    def _publish_leased(self, key: str, snapshot: Snapshot[Any], owner: str) -> Any:
        published = []
        for entry in snapshot.outbox:
            if entry.lease is not None and entry.lease.owner == owner:
                message_id = self._publish(key, entry, owner)
                if message_id is not None:
                    published.append(message_id)
        return snapshot, tuple(published), {}


@pytest.mark.parametrize("machine", [GateRules, PipelineRules, JobRules])
def test_the_kit_machine_catches_a_runtime_that_publishes_twice(
    machine: type[ActorMachine],
) -> None:
    broken = type(f"Broken{machine.__name__}", (machine,), {"runtime_class": NeverConfirms})
    found = settings(
        MACHINE, max_examples=200, phases=[Phase.generate], report_multiple_bugs=False
    )  # found is enough: no shrinking
    with pytest.raises(AssertionError, match=r"published twice|left in the outbox"):
        run_state_machine_as_test(broken, settings=found)
