"""Contention on one key: N workers deliver their completions at the same moment.

Every worker is a thread or a process, set up and warmed before a barrier releases them all at
once. Threads are one instance serving concurrent requests: they share one store (one Firestore
client, one queue per key). Processes are separate instances, each with its own store; a process
stays up until every worker is done, as a serving instance does. Worker
``i`` reports processor ``p{i:04d}`` of a gate that requires all N; with ``--duplicates D``
every completion is delivered D times (same execution and message id, as a redelivery), the
copies dealt to different workers.

Designs:
  phaseactors  ``GateRuntime.deliver`` on the store (memory, sqlite, or firestore)
  naive        the hand-rolled baseline of ``naive_firestore.py``: one ``@transactional``
               read-modify-write of one document per completion (Firestore only)

Each run prints one JSON line. The outcome is read back from the store after the run, not taken
from counters: ``completions_recorded`` is the number of done processors in the snapshot
(phaseactors) or of processor fields in the document (naive); ``triggers`` is the number of
messages the workers published (phaseactors) or of committed transactions that set the flag
(naive). ``wall_s`` runs from the barrier to the last worker finishing. ``reads_per_completion``
and ``writes_per_completion`` divide by the deliveries (N x D): naive counts 1 read + 1 write
per attempt; phaseactors takes a store's ``stats.reads``/``stats.writes`` when it has them
(from the release to the last delivery: warm-up reads and the read-back excluded), else
counts one read per attempt and one write per committed step, plus one read and one write
for the confirming transaction of each published trigger (null on Firestore without stats).
``read_units_per_completion`` and ``write_units_per_completion`` are the Firestore store's
estimate of what the per-KiB model bills (``FirestoreStats``), null for a store that keeps
no counters.

Usage (from the repository root):

    .venv/bin/python benchmarks/contention.py --store sqlite --n 21,200 --runs 2
    .venv/bin/python benchmarks/contention.py --store sqlite --mode processes --n 21 --n 200
    .venv/bin/python benchmarks/contention.py --store memory --n 21 --duplicates 3
    scripts/emulators run -- .venv/bin/python benchmarks/contention.py --store firestore --n 21
    scripts/emulators run -- .venv/bin/python benchmarks/contention.py \\
        --store firestore --design naive --mode processes
    scripts/emulators run -- .venv/bin/python benchmarks/contention.py \\
        --store firestore --design phaseactors --store-option design=optimistic

Firestore needs ``FIRESTORE_EMULATOR_HOST`` (``scripts/emulators`` sets it); the project is
``$GOOGLE_CLOUD_PROJECT`` (default ``phaseactors-bench``) and every run writes to collections
of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from common import WARM_UP_KEY, argument_parser, bench_spec, completion, int_list
from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    PhaseactorsError,
    RecordingPublisher,
    Store,
    open_store,
)
from phaseactors.core.clock import utcnow
from phaseactors.gate.events import CompletionReported

KEY = "2025-11-29"
STORES = ("memory", "sqlite", "firestore")
DESIGNS = {
    "memory": ("phaseactors",),
    "sqlite": ("phaseactors",),
    "firestore": ("naive", "phaseactors"),
}
BARRIER_TIMEOUT_S = 600.0


# -- what a run is made of -------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One completion message; duplicates share every field."""

    processor: str
    execution_id: str
    message_id: str


@dataclass(frozen=True)
class Target:
    """What the workers of one run write to (picklable, for spawned processes)."""

    store: str
    design: str
    n: int
    url: str = ""  # phaseactors: the store URL
    project: str = ""  # naive: the Firestore project and collection
    collection: str = ""

    @property
    def processors(self) -> list[str]:
        return [f"p{i:04d}" for i in range(self.n)]


@dataclass
class WorkerResult:
    """What one worker did; summed over workers into the run's JSON line."""

    start: float = 0.0  # time.monotonic() when the barrier released this worker
    end: float = 0.0  # ... and when it had delivered its last message
    deliveries: int = 0
    attempts: int = 0
    reads: int = 0
    writes: int = 0
    triggers: int = 0
    errors: list[str] = field(default_factory=list)
    store_stats: Counts | None = None  # from ``store.stats``
    setup_error: str | None = None


def deal_messages(n: int, duplicates: int, workers: int, seed: int) -> list[list[Message]]:
    """All N x D messages, shuffled, dealt round-robin so that copies meet on different workers."""
    messages = [
        Message(f"p{i:04d}", f"p{i:04d}-run", f"msg-p{i:04d}")
        for i in range(n)
        for _ in range(duplicates)
    ]
    random.Random(seed).shuffle(messages)
    return [messages[w::workers] for w in range(workers)]


#: Reads, writes, and the read and write units of Firestore's per-KiB model.
Counts = tuple[int, int, int, int]


def stats_since(now: Counts | None, then: Counts | None) -> Counts | None:
    if now is None or then is None:
        return now
    return (now[0] - then[0], now[1] - then[1], now[2] - then[2], now[3] - then[3])


def store_stats(store: object) -> Counts | None:
    """Reads, writes and their units, if the store counts them itself."""
    stats = getattr(store, "stats", None)
    if stats is None or not hasattr(stats, "reads") or not hasattr(stats, "writes"):
        return None
    reads, writes = int(stats.reads), int(stats.writes)
    return reads, writes, getattr(stats, "read_units", reads), getattr(stats, "write_units", writes)


# -- the two designs, seen from one worker ---------------------------------------------------


class Worker(Protocol):
    def warm_up(self) -> None: ...

    def deliver(self, message: Message, result: WorkerResult) -> None: ...

    def finish(self, result: WorkerResult) -> None: ...


class PhaseactorsWorker:
    """A runtime of its own over the run's store (memory: the one store all threads share)."""

    def __init__(self, target: Target, shared_store: Store | None) -> None:
        self.own_store = shared_store is None
        self.store = shared_store if shared_store is not None else open_store(target.url)
        self.runtime = GateRuntime(
            GateActor(bench_spec(target.n)), self.store, RecordingPublisher()
        )
        self.baseline: Counts | None = None

    def warm_up(self) -> None:
        """Read a key (opens the connection), record the gate's definition (once per
        instance: it reads the definitions record, and creates it if it is the first) and run
        one step and its encoding without storing them, as an instance that has served
        requests before has."""
        self.runtime.load(WARM_UP_KEY)
        self.runtime.record_definition()
        actor = self.runtime.actor
        event = CompletionReported(at=utcnow(), completion=completion(WARM_UP_KEY, "p0000"))
        actor.encode(actor.step(actor.initial(WARM_UP_KEY), event).snapshot)
        if self.own_store:  # the warm-up's read is not part of the run
            self.baseline = store_stats(self.store)

    def deliver(self, message: Message, result: WorkerResult) -> None:
        completion = Completion(
            processor=message.processor,
            key=KEY,
            status="success",
            execution_id=message.execution_id,
            message_id=message.message_id,
        )
        try:
            delivery = self.runtime.deliver(completion)
        except PhaseactorsError as exc:
            attempts = int(getattr(exc, "attempts", 0))
            result.attempts += attempts
            result.reads += attempts
            result.errors.append(type(exc).__name__)
            return
        confirms = len(delivery.published)
        result.attempts += delivery.attempts
        result.reads += delivery.attempts + confirms
        result.writes += int(delivery.committed) + confirms
        result.triggers += len(delivery.published)

    def finish(self, result: WorkerResult) -> None:
        if self.own_store:
            result.store_stats = stats_since(store_stats(self.store), self.baseline)
            self.store.close()


class NaiveWorker:
    """A Firestore client of its own, running ``deliver_naive`` per message."""

    def __init__(self, target: Target) -> None:
        from google.cloud import firestore

        self.target = target
        self.expected = target.processors
        self.client = firestore.Client(project=target.project)

    def warm_up(self) -> None:
        self.client.collection(self.target.collection).document(WARM_UP_KEY).get()

    def deliver(self, message: Message, result: WorkerResult) -> None:
        from naive_firestore import deliver_naive

        outcome = deliver_naive(
            self.client, self.target.collection, KEY, message.processor, self.expected
        )
        result.attempts += outcome["attempts"]
        result.reads += outcome["attempts"]
        result.writes += outcome["attempts"]
        result.triggers += int(outcome["triggered"])
        if outcome["error"] is not None:
            result.errors.append(outcome["error"].split(":", 1)[0])

    def finish(self, result: WorkerResult) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def make_worker(target: Target, shared_store: Store | None) -> Worker:
    if target.design == "naive":
        return NaiveWorker(target)
    return PhaseactorsWorker(target, shared_store)


# -- running workers at the same moment ------------------------------------------------------


class BarrierLike(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...

    def abort(self) -> None: ...


def work(
    target: Target,
    messages: Sequence[Message],
    barrier: BarrierLike,
    shared_store: Store | None = None,
    finished: BarrierLike | None = None,
) -> WorkerResult:
    """Set up and warm up, wait for everyone, deliver, and note when done; then, given a
    ``finished`` barrier, stay up until every worker is done, as a serving instance does (a
    process that exits at once spends the CPU of its interpreter's shutdown next to the
    workers still delivering)."""
    result = WorkerResult()
    try:
        worker = make_worker(target, shared_store)
        worker.warm_up()
    except Exception:
        result.setup_error = traceback.format_exc(limit=3)
        barrier.abort()
        if finished is not None:
            finished.abort()
        return result
    barrier.wait(BARRIER_TIMEOUT_S)
    result.start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on Linux
    for message in messages:
        try:
            worker.deliver(message, result)
        except Exception as exc:  # keep going: a benchmark counts failures, it does not stop
            result.errors.append(type(exc).__name__)
        result.deliveries += 1
    result.end = time.monotonic()
    if finished is not None:
        with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed to set up
            finished.wait(BARRIER_TIMEOUT_S)
    worker.finish(result)
    return result


def _process_main(
    target: Target,
    messages: Sequence[Message],
    barrier: BarrierLike,
    finished: BarrierLike,
    results: Any,
    index: int,
) -> None:
    try:
        result = work(target, messages, barrier, finished=finished)
    except Exception:
        result = WorkerResult(setup_error=traceback.format_exc(limit=3))
    results.put((index, result))


class TwoPhaseBarrier:
    """Workers wait for everyone to be warmed up, then for the release; between the two the
    main thread reads the shared store's counters, so that warm-up reads are left out."""

    def __init__(self, parties: int) -> None:
        self.ready = threading.Barrier(parties)
        self.go = threading.Barrier(parties)

    def wait(self, timeout: float | None = None) -> int:
        self.ready.wait(timeout)
        return self.go.wait(timeout)

    def abort(self) -> None:
        self.ready.abort()
        self.go.abort()


def run_threads(
    target: Target, dealt: list[list[Message]], shared_store: Store | None
) -> tuple[float, list[WorkerResult], Counts | None]:
    barrier = TwoPhaseBarrier(len(dealt) + 1)
    results: list[WorkerResult | None] = [None] * len(dealt)

    def thread_main(index: int) -> None:
        try:
            results[index] = work(target, dealt[index], barrier, shared_store)
        except Exception:
            results[index] = WorkerResult(setup_error=traceback.format_exc(limit=3))

    threads = [
        threading.Thread(target=thread_main, args=(i,), name=f"worker-{i}")
        for i in range(len(dealt))
    ]
    for thread in threads:
        thread.start()
    baseline = None
    with contextlib.suppress(threading.BrokenBarrierError):  # a set-up failed: its result says
        barrier.ready.wait(BARRIER_TIMEOUT_S)
        baseline = store_stats(shared_store) if shared_store is not None else None
    start = release(barrier.go)
    for thread in threads:
        thread.join()
    finished = [r if r is not None else WorkerResult(setup_error="no result") for r in results]
    return start, finished, baseline


def run_processes(target: Target, dealt: list[list[Message]]) -> tuple[float, list[WorkerResult]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(dealt) + 1)
    finished = context.Barrier(len(dealt))
    queue = context.Queue()
    processes = [
        context.Process(
            target=_process_main,
            args=(target, dealt[i], barrier, finished, queue, i),
            name=f"worker-{i}",
        )
        for i in range(len(dealt))
    ]
    for process in processes:
        process.start()
    start = release(barrier)
    results: list[WorkerResult] = [WorkerResult(setup_error="no result")] * len(dealt)
    for _ in processes:
        index, result = queue.get(timeout=BARRIER_TIMEOUT_S)
        results[index] = result
    for process in processes:
        process.join()
    return start, results


def release(barrier: BarrierLike) -> float:
    """Wait for every worker to be ready; the moment they are all released."""
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker's set-up failed;
        barrier.wait(BARRIER_TIMEOUT_S)  # its result says why
    return time.monotonic()


# -- one run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    store: str
    mode: str
    duplicates: int
    project: str
    store_options: tuple[tuple[str, str], ...] = ()


def run_once(options: Options, design: str, n: int, run: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    scratch = tempfile.mkdtemp(prefix="phaseactors-bench-") if options.store == "sqlite" else ""
    try:
        target = make_target(options, design, n, tag, scratch)
        # Threads model one instance serving concurrent requests: they share its store (its
        # client, connection pool and per-key lock). Processes model separate instances.
        shared_store = (
            open_store(target.url)
            if design == "phaseactors" and options.mode == "threads"
            else None
        )
        dealt = deal_messages(n, options.duplicates, n, seed=run)
        baseline = None
        if options.mode == "threads":
            start, results, baseline = run_threads(target, dealt, shared_store)
        else:
            start, results = run_processes(target, dealt)
        io = count_io(target, results, shared_store, baseline)  # before verify's own read
        recorded, state = verify(target, shared_store)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return summarize(options, target, run, start, results, recorded, state, io)


def make_target(options: Options, design: str, n: int, tag: str, scratch: str) -> Target:
    if design == "naive":
        collection = f"bench-{tag}-completions"
        return Target(options.store, design, n, project=options.project, collection=collection)
    query = list(options.store_options)
    if options.store == "sqlite":
        url = "sqlite:///" + os.path.join(scratch, "bench.db")  # absolute: sqlite:////tmp/...
    elif options.store == "firestore":
        url = f"firestore://{options.project}"
        query.insert(0, ("prefix", f"bench-{tag}-"))
    else:
        url = "memory://"
    if query:
        url += "?" + urlencode(query)
    return Target(options.store, design, n, url=url)


def verify(target: Target, shared_store: Store | None) -> tuple[int, str]:
    """Read the outcome back from the store: completions recorded and the key's state."""
    if target.design == "naive":
        from google.cloud import firestore

        from naive_firestore import read_naive

        client = firestore.Client(project=target.project)
        try:
            recorded, flagged = read_naive(client, target.collection, KEY, target.processors)
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return recorded, "triggered" if flagged else "not triggered"
    store = shared_store if shared_store is not None else open_store(target.url)
    try:
        snapshot = GateRuntime(GateActor(bench_spec(target.n)), store, RecordingPublisher()).load(
            KEY
        )
    finally:
        if shared_store is None:
            store.close()
    if snapshot is None:
        return 0, "missing"
    return len(snapshot.data.done), str(snapshot.state)


def summarize(
    options: Options,
    target: Target,
    run: int,
    start: float,
    results: list[WorkerResult],
    recorded: int,
    state: str,
    io: tuple[int | None, int | None, int | None, int | None],
) -> dict[str, Any]:
    deliveries = target.n * options.duplicates
    reads, writes, read_units, write_units = io
    errors = Counter(e for r in results for e in r.errors)
    setup_errors = [r.setup_error for r in results if r.setup_error]
    # The release is the earliest moment anyone saw it: a worker may run before the main thread.
    start = min([start, *(r.start for r in results if r.start)])
    ends = [r.end for r in results if r.end]
    line: dict[str, Any] = {
        "store": options.store,
        "design": target.design,
        "n": target.n,
        "mode": options.mode,
        "duplicates": options.duplicates,
        "run": run,
        "wall_s": round(max(ends) - start, 4) if ends else None,
        "completions_recorded": recorded,
        "triggers": sum(r.triggers for r in results),
        "attempts": sum(r.attempts for r in results),
        "errors": sum(errors.values()) + len(setup_errors),
        "reads_per_completion": None if reads is None else round(reads / deliveries, 3),
        "writes_per_completion": None if writes is None else round(writes / deliveries, 3),
        "read_units_per_completion": None
        if read_units is None
        else round(read_units / deliveries, 3),
        "write_units_per_completion": None
        if write_units is None
        else round(write_units / deliveries, 3),
        "deliveries": sum(r.deliveries for r in results),
        "state": state,
    }
    if options.store_options and target.design == "phaseactors":
        line["store_options"] = dict(options.store_options)
    if errors:
        line["error_types"] = dict(errors)
    if setup_errors:
        line["setup_errors"] = len(setup_errors)
        line["setup_error"] = setup_errors[0].strip().splitlines()[-1]
    return line


def count_io(
    target: Target,
    results: list[WorkerResult],
    shared_store: Store | None,
    baseline: Counts | None = None,
) -> tuple[int | None, int | None, int | None, int | None]:
    """Reads, writes and their units in the run: the store's own counters if any (since the
    workers were warmed up), else counted deliveries (and no units)."""
    counted = sum(r.reads for r in results), sum(r.writes for r in results), None, None
    if target.design == "naive":
        return counted
    if shared_store is not None:
        stats = stats_since(store_stats(shared_store), baseline)
        if stats is not None:
            return stats
    elif all(r.store_stats is not None for r in results):
        per_worker = [r.store_stats for r in results if r.store_stats is not None]
        return (
            sum(s[0] for s in per_worker),
            sum(s[1] for s in per_worker),
            sum(s[2] for s in per_worker),
            sum(s[3] for s in per_worker),
        )
    if target.store == "firestore":
        return None, None, None, None
    return counted


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__, "N concurrent deliveries to one key; one JSON line per run.")
    parser.add_argument("--store", choices=STORES, required=True)
    parser.add_argument(
        "--n",
        type=int_list,
        action="append",
        metavar="N[,N...]",
        help="workers (repeatable; default 21)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("threads", "processes"), default="threads")
    parser.add_argument(
        "--duplicates", type=int, default=1, help="copies of each completion (default 1)"
    )
    parser.add_argument(
        "--store-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query option for the phaseactors store URL, e.g. design=optimistic (repeatable)",
    )
    parser.add_argument(
        "--design",
        action="append",
        choices=("phaseactors", "naive"),
        help="repeatable; default: every design the store supports",
    )
    args = parser.parse_args(argv)
    args.n = [n for counts in args.n or [[21]] for n in counts]
    if any("=" not in option for option in args.store_option):
        parser.error("--store-option takes KEY=VALUE, e.g. --store-option design=optimistic")
    if args.store == "memory" and args.store_option:
        parser.error("the memory store takes no options")
    if args.runs < 1 or args.duplicates < 1:
        parser.error("--runs and --duplicates must be at least 1")
    if args.store == "memory" and args.mode == "processes":
        parser.error("the memory store lives in one process: use --mode threads")
    if args.store == "firestore" and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        parser.error(
            "--store firestore needs FIRESTORE_EMULATOR_HOST (a benchmark never touches a real "
            "project); run it under `scripts/emulators run -- ...`"
        )
    args.design = args.design or list(DESIGNS[args.store])
    return args


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def open_error(options: Options, design: str) -> str | None:
    """Why the Firestore store of phaseactors cannot be opened (yet), or None if it can."""
    if design == "naive" or options.store != "firestore":
        return None  # memory and sqlite open per run, on fresh state
    target = make_target(options, design, 1, uuid.uuid4().hex[:10], "")
    try:
        open_store(target.url).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(
        store=args.store,
        mode=args.mode,
        duplicates=args.duplicates,
        project=os.environ.get("GOOGLE_CLOUD_PROJECT", "phaseactors-bench"),
        store_options=tuple(
            (key, value) for key, _, value in (o.partition("=") for o in args.store_option)
        ),
    )
    ran = False
    for design in args.design:
        problem = (
            open_error(options, design)
            if design in DESIGNS[options.store]
            else f"the {design} design is implemented for --store firestore only"
        )
        if problem is not None:  # report it and go on with the other designs
            emit({"store": options.store, "design": design, "mode": options.mode, "error": problem})
            continue
        for n in args.n:
            for run in range(1, args.runs + 1):
                emit(run_once(options, design, n, run))
                ran = True
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
