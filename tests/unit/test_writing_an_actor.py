"""The machine of docs/writing-an-actor.md (a job with retries and backoff, defined on that
page and run by its test) passes the kit's actor contract on every store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from actor_stores import OnFirestore, OnMemory, OnSqlite
from docs_blocks import example_module
from phaseactors.core.actor import Actor
from phaseactors.core.events import Event
from phaseactors.testing import ActorContract
from support import REPO

PAGE = REPO / "docs" / "writing-an-actor.md"
job = example_module(PAGE, "class JobActor")
MINUTE = timedelta(minutes=1)


class JobSubject:
    key = "nightly-export"

    def create_actor(self) -> Actor[Any]:
        actor: Actor[Any] = job.JobActor()
        return actor

    def events(self, key: str) -> list[Event]:
        t0 = job.datetime(2025, 11, 29, 23, 0, tzinfo=job.UTC)
        return [
            job.Submitted(at=t0),
            job.AttemptFinished(at=t0 + MINUTE, attempt=1, ok=False, error="timeout"),
            job.Tick(at=t0 + 3 * MINUTE),
            job.AttemptFinished(at=t0 + 4 * MINUTE, attempt=2, ok=False, error="timeout"),
            job.Tick(at=t0 + 10 * MINUTE),
            job.AttemptFinished(at=t0 + 11 * MINUTE, attempt=3, ok=False, error="timeout"),
        ]


class TestJobOnMemory(JobSubject, OnMemory, ActorContract):
    pass


class TestJobOnSqlite(JobSubject, OnSqlite, ActorContract):
    pass


class TestJobOnFirestore(JobSubject, OnFirestore, ActorContract):
    pass


def test_the_job_gives_up_with_the_shared_alert() -> None:
    from phaseactors.alerts import alert_from_message

    actor = job.JobActor()
    snapshot = actor.initial("nightly-export")
    for event in JobSubject().events("nightly-export"):
        snapshot = actor.step(snapshot, event).snapshot
    assert snapshot.state == "gave_up"
    [alert] = [e for e in snapshot.outbox if e.topic == "job-alerts"]
    decoded = alert_from_message(alert.body)
    assert (decoded.reason, decoded.source_type, decoded.id) == (
        "gave_up",
        "job",
        "jobs/nightly-export/1/alert/gave_up",
    )
