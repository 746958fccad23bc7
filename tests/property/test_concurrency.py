"""Real concurrency: Hypothesis draws a batch (processors, duplicates, order) and which
publishes fail; threads or processes deliver it at the same moment against SQLite and the
Firestore emulator. Exactly one trigger id comes out, observed in the published messages."""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from model import Reference

from phaseactors import Completion, GateActor, GateRuntime, PublishFailed, spec_from_mapping
from phaseactors.core.snapshot import OutboxEntry
from phaseactors.gate.completion import Status
from phaseactors.stores import open_store
from phaseactors.testing.strategies import batches
from support import KEY, T0, require_emulator, scaled

SPEC = {
    "name": "concurrent",
    "key": {"field": "game_date"},
    "topics": {"output": "concurrent-out"},
    "processors": {"required": ["alpha", "beta", "gamma", "delta"]},
    "aliases": {"AlphaLoader": "alpha"},
}
GATE = spec_from_mapping(SPEC)
REAL = settings(
    max_examples=scaled(8), suppress_health_check=list(HealthCheck), report_multiple_bugs=False
)


class AppendPublisher:
    """Appends every publish to a file, one line each, from any thread or process: unlike the
    JSON-lines publisher it keeps repeats, so a double publish shows."""

    def __init__(self, path: str, fail_first: int = 0) -> None:
        self.path = path
        self.fail_first = fail_first
        self.attempts = 0

    def publish(self, entry: OutboxEntry) -> str:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise PublishFailed(f"injected failure publishing {entry.id}")
        message_id = uuid.uuid4().hex
        line = json.dumps({"message_id": message_id, **dict(entry.attributes)}) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
        return message_id


def published(path: str) -> list[dict[str, Any]]:
    return (
        [json.loads(line) for line in Path(path).read_text().splitlines()]
        if Path(path).exists()
        else []
    )


def deliver_all(store_url: str, outbox: str, completions: list[Completion], fail: int) -> int:
    """One worker: deliver its share; returns how many publishes failed (transiently)."""
    runtime = GateRuntime(GateActor(GATE), open_store(store_url), AppendPublisher(outbox, fail))
    failed = 0
    for completion in completions:
        try:
            runtime.deliver(completion)
        except PublishFailed:
            failed += 1
    return failed


def _process_worker(args: tuple[str, str, list[Completion], int, Any]) -> int:
    store_url, outbox, completions, fail, barrier = args
    barrier.wait()
    return deliver_all(store_url, outbox, completions, fail)


def run_threads(
    store_url: str, outbox: str, shares: list[list[Completion]], fails: list[int]
) -> None:
    barrier = threading.Barrier(len(shares))
    errors: list[BaseException] = []

    def work(share: list[Completion], fail: int) -> None:
        barrier.wait()
        try:
            deliver_all(store_url, outbox, share, fail)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(shares, fails, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [], errors


def run_processes(
    store_url: str, outbox: str, shares: list[list[Completion]], fails: list[int]
) -> None:
    context = multiprocessing.get_context("spawn")  # no inherited gRPC threads or sockets
    barrier = context.Barrier(len(shares))
    workers = [
        context.Process(target=_process_worker, args=((store_url, outbox, share, fail, barrier),))
        for share, fail in zip(shares, fails, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * len(workers)


Runner = Callable[[str, str, list[list[Completion]], list[int]], None]


def check_one_trigger(store_url: str, data: st.DataObject, run: Runner) -> None:
    statuses = (Status.SUCCESS, Status.PARTIAL, Status.NO_DATA, Status.FAILED)
    batch = data.draw(
        batches(GATE, KEY, max_size=6, covering=True, statuses=statuses), label="deliveries"
    )
    workers = data.draw(st.integers(2, 4 if run is run_processes else 6), label="workers")
    fails = data.draw(
        st.lists(st.integers(0, 1), min_size=workers, max_size=workers),
        label="publish failures per worker",
    )
    shares = [batch[i::workers] for i in range(workers)]
    outbox = tempfile.mktemp(prefix="phaseactors-outbox-")
    try:
        run(store_url, outbox, shares, fails)
        sweeper = GateRuntime(GateActor(GATE), open_store(store_url), AppendPublisher(outbox))
        report = sweeper.sweep()  # re-drive whatever a failed publish left pending
        assert report.errors == {}
        snapshot = sweeper.load(KEY)
        assert snapshot is not None
        assert snapshot.state == "triggered"
        assert set(snapshot.data.done) == set(GATE.required)
        messages = published(outbox)
        assert {m["trigger_id"] for m in messages} == {f"concurrent/{KEY}/1"}
        assert len(messages) == 1  # publish failures never publish; the sweep publishes once
        model = Reference(SPEC, KEY)  # this gate decides alike in every order of the batch
        for c in batch:
            model.completion(c.processor, c.execution_id, c.status.value, T0, c.message_id)
        assert snapshot.data.trigger is not None
        assert (snapshot.data.trigger.reason, sorted(snapshot.data.done)) == (
            model.message["reason"] if model.message else None,
            sorted(model.done),
        )
        event(f"concurrency: {'with' if any(c.failed for c in batch) else 'no'} failure reports")
    finally:
        if os.path.exists(outbox):
            os.remove(outbox)


@REAL
@given(data=st.data())
def test_sqlite_threads_trigger_once(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_one_trigger(f"sqlite:///{directory}/gate.db", data, run_threads)


@settings(REAL, max_examples=scaled(4))
@given(data=st.data())
def test_sqlite_processes_trigger_once(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_one_trigger(f"sqlite:///{directory}/gate.db", data, run_processes)


@pytest.mark.emulator
@pytest.mark.parametrize("runner", [run_threads, run_processes], ids=["threads", "processes"])
def test_firestore_emulator_triggers_once(runner: Runner) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")

    @settings(REAL, max_examples=scaled(4))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        url = f"firestore://phaseactors-test?prefix=c{uuid.uuid4().hex[:8]}."
        check_one_trigger(url, data, runner)

    check()
