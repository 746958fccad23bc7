"""SQLite throughput: completions per second with 1, 4 and 8 processes, nothing lost.

Every worker is a separate process (``spawn``: a fresh interpreter, like separate instances)
with its own ``SqliteStore`` on one shared database file and its own ``GateRuntime`` and
``RecordingPublisher``. Workers set up and warm up (open the file, read one key), then a
barrier releases them together; ``wall_s`` runs from the release to the last worker
finishing. A delivery that raises a transient error (contention budget spent, store busy) is
delivered again, as Pub/Sub would redeliver it, and counted in ``redeliveries``.

Scenarios:
  many-keys  the pipeline's 21-processor gate (machines/phase2_to_phase3.toml), 1,000 keys
             x 21 completions, shuffled and dealt round-robin to the workers
  one-key    one key of a gate with N required processors (default 500), its N completions
             dealt round-robin: every worker writes the same row, so commits conflict and
             steps re-run on the winner's snapshot

Durability (the store's ``synchronous`` setting, WAL journal in both):
  NORMAL  (default) a commit is durable once the OS has the WAL write: survives a crashed
          process, may lose the last commits on power loss
  FULL    (``sqlite:///path?synchronous=FULL``) fsync of the WAL at every commit: survives
          power loss too

After each run the database is read back: ``recorded`` counts the done processors in the
snapshots, ``lost`` the completions missing, ``keys_triggered`` the keys in ``triggered``
with a published trigger, ``triggers_published`` the messages the workers published (the
trigger ids must be unique: ``duplicate_triggers``). ``verified`` is true when nothing is
lost and every key has exactly one trigger.

Usage (from the repository root):

    .venv/bin/python benchmarks/sqlite_throughput.py
    .venv/bin/python benchmarks/sqlite_throughput.py --scenario many-keys --processes 4 \\
        --synchronous FULL --keys 2000
    .venv/bin/python benchmarks/sqlite_throughput.py --scenario one-key --n 500 --processes 1,8
    .venv/bin/python benchmarks/sqlite_throughput.py --dir /mnt/disk   # another file system
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common import (
    WARM_UP_KEY,
    argument_parser,
    bench_spec,
    completion,
    int_list,
    make_keys,
    pipeline_gate,
)
from phaseactors import (
    GateActor,
    GateRuntime,
    GateSpec,
    RecordingPublisher,
    TransientError,
    open_store,
)

MAX_DELIVERIES = 20  # per message, before the worker gives up on it (and the run says so)
BARRIER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Plan:
    """What one run delivers (picklable, for spawned workers)."""

    scenario: str
    url: str
    n: int  # processors of the one-key gate (unused for many-keys)
    messages: tuple[tuple[str, str], ...]  # (key, processor)

    def spec(self) -> GateSpec:
        if self.scenario == "many_keys":
            return pipeline_gate()
        return bench_spec(self.n)


@dataclass
class WorkerResult:
    start: float = 0.0
    end: float = 0.0
    deliveries: int = 0
    attempts: int = 0
    redeliveries: int = 0
    given_up: int = 0
    trigger_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    setup_error: str | None = None


def work(plan: Plan, messages: Sequence[tuple[str, str]], barrier: Any) -> WorkerResult:
    result = WorkerResult()
    try:
        spec = plan.spec()
        store = open_store(plan.url)
        publisher = RecordingPublisher()
        runtime = GateRuntime(GateActor(spec), store, publisher)
        runtime.load(WARM_UP_KEY)
        completions = [completion(key, processor) for key, processor in messages]
    except Exception:
        result.setup_error = traceback.format_exc(limit=3)
        barrier.abort()
        return result
    barrier.wait(BARRIER_TIMEOUT_S)
    result.start = time.monotonic()
    for item in completions:
        for _ in range(MAX_DELIVERIES):
            try:
                delivery = runtime.deliver(item)
            except TransientError as exc:  # redelivered, as Pub/Sub would
                result.redeliveries += 1
                result.errors.append(type(exc).__name__)
                continue
            result.attempts += delivery.attempts
            break
        else:
            result.given_up += 1
        result.deliveries += 1
    result.end = time.monotonic()
    result.trigger_ids = [m.entry_id for m in publisher.messages]
    store.close()
    return result


def _process_main(
    plan: Plan, messages: Sequence[tuple[str, str]], barrier: Any, queue: Any, index: int
) -> None:
    try:
        result = work(plan, messages, barrier)
    except Exception:
        result = WorkerResult(setup_error=traceback.format_exc(limit=3))
    queue.put((index, result))


def run_workers(plan: Plan, processes: int) -> tuple[float, list[WorkerResult]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    queue = context.Queue()
    dealt = [plan.messages[w::processes] for w in range(processes)]
    workers = [
        context.Process(target=_process_main, args=(plan, dealt[i], barrier, queue, i))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker's set-up failed:
        barrier.wait(BARRIER_TIMEOUT_S)  # its result says why
    released = time.monotonic()
    results = [WorkerResult(setup_error="no result")] * processes
    for _ in workers:
        index, result = queue.get(timeout=BARRIER_TIMEOUT_S * 4)
        results[index] = result
    for worker in workers:
        worker.join()
    return released, results


@dataclass(frozen=True)
class Verdict:
    recorded: int
    keys_triggered: int


def verify(plan: Plan, keys: Sequence[str], expected: int) -> Verdict:
    """Read every key back from the database."""
    store = open_store(plan.url)
    try:
        runtime = GateRuntime(GateActor(plan.spec()), store, RecordingPublisher())
        recorded = triggered = 0
        for key in keys:
            snapshot = runtime.load(key)
            if snapshot is None:
                continue
            recorded += len(snapshot.data.done)
            trigger = snapshot.data.trigger
            if (
                snapshot.state == "triggered"
                and trigger is not None
                and trigger.message_id is not None
                and not snapshot.outbox
                and len(snapshot.data.done) == expected
            ):
                triggered += 1
    finally:
        store.close()
    return Verdict(recorded, triggered)


# -- one run ---------------------------------------------------------------------------------


def messages_for(
    scenario: str, keys: int, n: int, seed: int
) -> tuple[list[str], int, list[tuple[str, str]]]:
    """(keys, processors per key, shuffled messages)."""
    if scenario == "many_keys":
        names = list(pipeline_gate().expected)
        key_list = make_keys(keys)
    else:
        names = list(bench_spec(n).expected)
        key_list = make_keys(1)
    messages = [(key, name) for key in key_list for name in names]
    random.Random(seed).shuffle(messages)
    return key_list, len(names), messages


def run_once(
    scenario: str, processes: int, synchronous: str, keys: int, n: int, directory: str | None
) -> dict[str, Any]:
    scratch = tempfile.mkdtemp(prefix="phaseactors-sqlite-bench-", dir=directory)
    try:
        url = "sqlite:///" + os.path.join(scratch, "bench.db")  # absolute: sqlite:////tmp/...
        url += f"?synchronous={synchronous}"
        key_list, per_key, messages = messages_for(scenario, keys, n, seed=processes)
        plan = Plan(scenario, url, n, tuple(messages))
        released, results = run_workers(plan, processes)
        verdict = verify(plan, key_list, per_key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    completions = len(messages)
    start = min([released, *(r.start for r in results if r.start)])
    ends = [r.end for r in results if r.end]
    wall = max(ends) - start if ends else None
    trigger_ids = [t for r in results for t in r.trigger_ids]
    errors = Counter(e for r in results for e in r.errors)
    setup_errors = [r.setup_error for r in results if r.setup_error]
    lost = completions - verdict.recorded
    line: dict[str, Any] = {
        "benchmark": "sqlite_throughput",
        "scenario": scenario,
        "processes": processes,
        "synchronous": synchronous,
        "keys": len(key_list),
        "processors": per_key,
        "completions": completions,
        "wall_s": None if wall is None else round(wall, 3),
        "completions_per_s": None if not wall else round(completions / wall),
        "attempts": sum(r.attempts for r in results),
        "redeliveries": sum(r.redeliveries for r in results),
        "given_up": sum(r.given_up for r in results),
        "recorded": verdict.recorded,
        "lost": lost,
        "keys_triggered": verdict.keys_triggered,
        "triggers_published": len(trigger_ids),
        "duplicate_triggers": len(trigger_ids) - len(set(trigger_ids)),
        "verified": (
            lost == 0
            and not setup_errors
            and verdict.keys_triggered == len(key_list)
            and len(trigger_ids) == len(set(trigger_ids)) == len(key_list)
        ),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine
    }
    if errors:
        line["error_types"] = dict(errors)
    if setup_errors:
        line["setup_error"] = (setup_errors[0] or "").strip().splitlines()[-1]
    return line


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(
        __doc__, "SQLite completions/s with 1, 4, 8 processes; one JSON line per run."
    )
    parser.add_argument(
        "--scenario", choices=("many-keys", "one-key", "all"), default="all", help="default all"
    )
    parser.add_argument(
        "--processes", type=int_list, default=[1, 4, 8], help="comma-separated (default 1,4,8)"
    )
    parser.add_argument(
        "--synchronous",
        action="append",
        choices=("NORMAL", "FULL"),
        help="repeatable (default NORMAL and FULL)",
    )
    parser.add_argument("--keys", type=int, default=1000, help="many-keys (default 1000)")
    parser.add_argument("--n", type=int, default=500, help="one-key processors (default 500)")
    parser.add_argument("--dir", help="where the database file goes (default: the temp dir)")
    args = parser.parse_args(argv)
    args.synchronous = args.synchronous or ["NORMAL", "FULL"]
    if args.keys < 1 or args.n < 1:
        parser.error("--keys and --n must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = ["many_keys", "one_key"] if args.scenario == "all" else [args.scenario]
    ok = True
    for scenario in (s.replace("-", "_") for s in scenarios):
        for synchronous in args.synchronous:
            for processes in args.processes:
                print(
                    f"{scenario}: {processes} process(es), synchronous={synchronous} ...",
                    file=sys.stderr,
                    flush=True,
                )
                line = run_once(scenario, processes, synchronous, args.keys, args.n, args.dir)
                print(json.dumps(line), flush=True)
                ok = ok and bool(line["verified"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
