"""The transport of the chaos soak: a Pub/Sub-like subscription and the workers it feeds.

:class:`Subscription` hands out messages at least once: a delivery that is not acknowledged
(a transient error, a crash) comes back later, after a random number of other deliveries, with
its attempt number raised. :class:`Supervisor` runs the workers, threads or processes, each
with a runtime of its own, and gives each one message at a time over a pipe. When a worker
process dies (SIGKILL) the supervisor redelivers its unacknowledged message and starts a
replacement; a worker thread "dies" by raising :class:`~chaos_faults.SimulatedCrash`.

A worker delivers a message as the Cloud Function does: ``accept_message`` on the raw body.
Acknowledged: applied, duplicate, late or unknown, and quarantined (a permanent error).
Redelivered: a transient error (publish failed, store unavailable, contention), an unexpected
exception (also reported as a violation), a crash.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import multiprocessing
import random
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from chaos_faults import (
    ChaosMemoryStore,
    ChaosSqliteStore,
    FaultyPublisher,
    FaultyStore,
    PublishLog,
    SimulatedCrash,
    activate,
    deactivate,
)
from chaos_plan import DeliveryFaults, FaultRates, Message
from phaseactors import (
    GateActor,
    GateRuntime,
    GateSpec,
    PermanentError,
    Publisher,
    Store,
    TransientError,
    spec_from_mapping,
)
from phaseactors.gate.intake import accept_message

__all__ = [
    "Dispatch",
    "PhaseReport",
    "Result",
    "SimClock",
    "Subscription",
    "Supervisor",
    "WorkerConfig",
    "open_chaos_publisher",
    "open_chaos_store",
]

_POLL_S = 0.5


@dataclass(frozen=True)
class SimClock:
    """Simulated UTC time: ``start`` plus the real seconds elapsed since ``wall_start``
    (``time.time()``), the same in every thread and process."""

    start: datetime
    wall_start: float

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.time() - self.wall_start)

    def shifted(self, seconds: float) -> SimClock:
        return SimClock(self.start + timedelta(seconds=seconds), self.wall_start)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its runtime (picklable, for spawned processes)."""

    gate: dict[str, Any]
    gate_source: str
    store: str  # memory | sqlite | firestore
    publisher: str  # log | pubsub
    rates: FaultRates
    seed: int
    clock: SimClock
    lease_s: float
    sqlite_path: str = ""
    log_path: str = ""
    project: str = ""
    prefix: str = ""
    sabotage: str = "none"
    verbose: bool = False

    def spec(self) -> GateSpec:
        return spec_from_mapping(self.gate, source=self.gate_source)


def configure_logging(verbose: bool) -> None:
    """Library warnings (publish failures, expired leases) are expected here by the thousand."""
    logging.getLogger("phaseactors").setLevel(logging.INFO if verbose else logging.CRITICAL)


def open_chaos_store(config: WorkerConfig) -> Store:
    """The store the workers write to, with conflict injection (memory, SQLite) or counting
    (Firestore). Not wrapped in :class:`FaultyStore`: the sweep and the verifier use it too."""
    if config.store == "memory":
        return ChaosMemoryStore()
    if config.store == "sqlite":
        return ChaosSqliteStore(config.sqlite_path)
    if config.store == "firestore":
        from chaos_firestore import chaos_firestore_store

        return chaos_firestore_store(config.project, config.prefix)
    raise ValueError(f"unknown store {config.store!r}")


def open_chaos_publisher(config: WorkerConfig) -> Publisher:
    if config.publisher == "log":
        return PublishLog(config.log_path)
    if config.publisher == "pubsub":
        from phaseactors.publishers.pubsub import PubSubPublisher

        return PubSubPublisher(config.project, timeout=30.0)
    raise ValueError(f"unknown publisher {config.publisher!r}")


# -- the subscription ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatch:
    """One delivery attempt of a message (attempts count from 1)."""

    message: Message
    attempt: int


@dataclass(frozen=True)
class Result:
    """What a worker did with a dispatch: ``ack``, ``quarantined``, ``nack``, ``error`` or
    ``crashed``; ``detail`` is the delivery outcome or the error type."""

    seq: int
    status: str
    detail: str
    fired: dict[str, int]


class Subscription:
    """At-least-once delivery of ``messages`` in their order; a message that is not
    acknowledged is redelivered after 1..``window`` other deliveries. After ``max_attempts``
    it is dead-lettered (which the verifier reports). ``redeliver=False`` is sabotage: a
    transport without retries drops what was not acknowledged."""

    def __init__(
        self,
        name: str,
        messages: list[Message],
        *,
        seed: int,
        max_attempts: int,
        window: int = 200,
        redeliver: bool = True,
    ) -> None:
        self.name = name
        self.total = len(messages)
        self._heap: list[tuple[int, int, Message]] = [(i, m.seq, m) for i, m in enumerate(messages)]
        self._taken = 0  # message i of the first pass is due at i; a redelivery later
        self._attempts: Counter[int] = Counter()
        self._rng = random.Random(f"{seed}/{name}/redelivery")
        self.max_attempts = max_attempts
        self.window = window
        self.redeliver = redeliver
        self.in_flight = 0
        self.settled = 0
        self.counts: Counter[str] = Counter()
        self.dead_lettered: list[Message] = []
        self.dropped: list[Message] = []

    @property
    def finished(self) -> bool:
        return not self._heap and self.in_flight == 0

    def take(self) -> Dispatch | None:
        if not self._heap:
            return None
        _, _, message = heapq.heappop(self._heap)
        self._taken += 1
        self._attempts[message.seq] += 1
        attempt = self._attempts[message.seq]
        self.in_flight += 1
        self.counts["deliveries"] += 1
        if attempt > 1:
            self.counts["redeliveries"] += 1
        return Dispatch(message, attempt)

    def settle(self, dispatch: Dispatch, *, acked: bool) -> None:
        self.in_flight -= 1
        message = dispatch.message
        if acked:
            self.settled += 1
            return
        if not self.redeliver:
            self.dropped.append(message)
            self.settled += 1
        elif dispatch.attempt >= self.max_attempts:
            self.dead_lettered.append(message)
            self.settled += 1
        else:
            due = self._taken + self._rng.randint(1, self.window)
            heapq.heappush(self._heap, (due, message.seq, message))


# -- one worker ------------------------------------------------------------------------------


def deliver(runtime: GateRuntime, spec: GateSpec, message: Message) -> tuple[str, str]:
    """Deliver ``message`` as the Cloud Function would: (status, detail)."""
    try:
        delivery = accept_message(
            runtime, spec, message.body, message_id=message.message_id, source="chaos"
        )
    except PermanentError as error:
        return "quarantined", type(error).__name__
    except TransientError as error:
        return "nack", type(error).__name__
    except Exception as error:  # a bug: reported as a violation, and redelivered
        where = traceback.extract_tb(error.__traceback__)[-1]
        detail = f"{type(error).__name__}: {error} (at {where.filename}:{where.lineno})"
        return "error", detail
    return "ack", delivery.outcome.value


def worker_loop(
    conn: Connection, config: WorkerConfig, store: Store, publisher: Publisher, *, kill: bool
) -> None:
    """Serve dispatches from ``conn`` until it sends None (or this worker crashes)."""
    spec = config.spec()
    faulty_publisher = FaultyPublisher(
        publisher, kill=kill, swallow_failures=config.sabotage == "swallow-publish-errors"
    )
    runtime = GateRuntime(
        GateActor(spec),
        FaultyStore(store),
        faulty_publisher,
        clock=config.clock,
        lease=timedelta(seconds=config.lease_s),
    )
    while True:
        dispatch: Dispatch | None = conn.recv()
        if dispatch is None:
            return
        message = dispatch.message
        faults = DeliveryFaults(config.rates, config.seed, message.message_id, dispatch.attempt)
        activate(faults)
        try:
            status, detail = deliver(runtime, spec, message)
        except SimulatedCrash as crash:
            conn.send(Result(message.seq, "crashed", str(crash), dict(faults.fired)))
            return
        finally:
            deactivate()
        conn.send(Result(message.seq, status, detail, dict(faults.fired)))


@dataclass(frozen=True)
class SetupFailed:
    """A worker could not build its store or publisher."""

    error: str


def process_main(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of a worker process: its own store and publisher, SIGKILL on crashes."""
    configure_logging(config.verbose)
    try:
        store = open_chaos_store(config)
        publisher = open_chaos_publisher(config)
    except Exception:
        conn.send(SetupFailed(traceback.format_exc(limit=4)))
        return
    worker_loop(conn, config, store, publisher, kill=True)


# -- supervising workers ---------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    conn: Connection
    process: BaseProcess | None = None
    thread: threading.Thread | None = None
    dispatch: Dispatch | None = None


@dataclass
class PhaseReport:
    """What happened while a subscription was served: counted by the supervisor."""

    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    nacks: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # unexpected exceptions and deaths
    restarts: int = 0


class Supervisor:
    """Runs ``workers`` threads or processes and feeds them subscriptions, one at a time."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        mode: str,
        workers: int,
        context: Any = None,  # a multiprocessing context (fork, forkserver, spawn)
        shared: tuple[Store, Publisher] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if mode == "threads" and shared is None:
            raise ValueError("threads share one store and publisher: pass shared=")
        self.config = config
        self.mode = mode
        self.count = workers
        self.context = context or multiprocessing.get_context()
        self.shared = shared
        self.progress = progress or (lambda line: None)
        self.report = PhaseReport()
        self._workers: list[_Worker] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._workers = [self._spawn(i) for i in range(self.count)]

    def stop(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
        for worker in self._workers:
            if worker.process is not None:
                worker.process.join(timeout=30)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
            if worker.thread is not None:
                worker.thread.join(timeout=30)
            worker.conn.close()
        self._workers = []

    def _spawn(self, index: int) -> _Worker:
        parent, child = multiprocessing.Pipe()
        if self.mode == "processes":
            process = self.context.Process(
                target=process_main, args=(child, self.config), name=f"chaos-worker-{index}"
            )
            process.start()
            child.close()
            return _Worker(index, parent, process=process)
        assert self.shared is not None
        store, publisher = self.shared
        thread = threading.Thread(
            target=worker_loop,
            args=(child, self.config, store, publisher),
            kwargs={"kill": False},
            name=f"chaos-worker-{index}",
            daemon=True,
        )
        thread.start()
        return _Worker(index, parent, thread=thread)

    def _replace(self, worker: _Worker) -> None:
        worker.conn.close()
        if worker.process is not None:
            worker.process.join(timeout=10)
        if worker.thread is not None:
            worker.thread.join(timeout=10)
        self.report.restarts += 1
        fresh = self._spawn(worker.index)
        self._workers[self._workers.index(worker)] = fresh

    # -- serving a subscription ------------------------------------------------------------

    def serve(self, subscription: Subscription) -> None:
        last = time.monotonic()
        while not subscription.finished:
            self._dispatch(subscription)
            busy = [w for w in self._workers if w.dispatch is not None]
            waitables: list[Any] = [w.conn for w in busy]
            waitables += [w.process.sentinel for w in busy if w.process is not None]
            for ready in mp_connection.wait(waitables, timeout=_POLL_S):
                worker = next(
                    (
                        w
                        for w in self._workers
                        if w.conn is ready
                        or (w.process is not None and w.process.sentinel == ready)
                    ),
                    None,
                )
                if worker is not None and worker.dispatch is not None:
                    self._collect(worker, subscription)
            if time.monotonic() - last >= 5.0:
                last = time.monotonic()
                self._progress(subscription)
        self._progress(subscription)

    def _dispatch(self, subscription: Subscription) -> None:
        for worker in list(self._workers):
            if worker.dispatch is not None:
                continue
            dispatch = subscription.take()
            if dispatch is None:
                return
            worker.dispatch = dispatch
            try:
                worker.conn.send(dispatch)
            except (BrokenPipeError, OSError):
                self._died(worker, subscription)

    def _collect(self, worker: _Worker, subscription: Subscription) -> None:
        try:
            if worker.process is not None and not worker.conn.poll():
                self._died(worker, subscription)  # the sentinel fired: nothing to read
                return
            result = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker, subscription)
            return
        if isinstance(result, SetupFailed):
            raise RuntimeError(f"a worker could not start:\n{result.error}")
        dispatch = worker.dispatch
        assert dispatch is not None
        assert result.seq == dispatch.message.seq
        worker.dispatch = None
        report = self.report
        report.faults.update(result.fired)
        if result.status in ("ack", "quarantined"):
            report.outcomes["quarantined" if result.status == "quarantined" else result.detail] += 1
            subscription.settle(dispatch, acked=True)
            return
        subscription.settle(dispatch, acked=False)
        if result.status == "nack":
            report.nacks[result.detail] += 1
        elif result.status == "error":
            report.errors.append(f"{dispatch.message.message_id}: {result.detail}")
        elif result.status == "crashed":
            self._replace(worker)

    def _died(self, worker: _Worker, subscription: Subscription) -> None:
        """A worker process is gone: redeliver its message, start a replacement."""
        assert worker.process is not None
        worker.process.join(timeout=10)
        dispatch, worker.dispatch = worker.dispatch, None
        planned = None
        if dispatch is not None:
            subscription.settle(dispatch, acked=False)
            message_id = dispatch.message.message_id
            faults = DeliveryFaults(
                self.config.rates, self.config.seed, message_id, dispatch.attempt
            )
            planned = faults.publish_fault
        code = worker.process.exitcode
        if code == -signal.SIGKILL and planned in ("crash_before_publish", "crash_after_publish"):
            self.report.faults[planned] += 1
        else:
            what = dispatch.message.message_id if dispatch else "no message"
            self.report.errors.append(f"worker {worker.index} died unexpectedly ({what}): {code}")
        self._replace(worker)

    def _progress(self, subscription: Subscription) -> None:
        crashes = sum(
            self.report.faults[k] for k in ("crash_before_publish", "crash_after_publish")
        )
        self.progress(
            f"{subscription.name}: {subscription.settled}/{subscription.total} settled, "
            f"{subscription.counts['deliveries']} deliveries, "
            f"{subscription.counts['redeliveries']} redeliveries, {crashes} crashes"
        )


def stderr_progress(started: float) -> Callable[[str], None]:
    def emit(line: str) -> None:
        print(f"chaos: [{time.monotonic() - started:7.1f}s] {line}", file=sys.stderr, flush=True)

    return emit
