"""A deterministic interleaving scheduler for the real runtime and store code.

Each delivery runs in its own greenlet, and only one runs at a time: the instrumented
store and publisher stop at every step boundary (``read``, ``commit``, ``publish``) and wait
until the test says which paused worker goes next, and with which fault. Hypothesis draws those
choices, so a failing schedule shrinks to a short, readable list of steps.

    scheduler = Scheduler()
    store = InstrumentedMemoryStore(scheduler)
    publisher = InstrumentedPublisher(scheduler)
    runtime = GateRuntime(actor, store, publisher)
    scheduler.spawn("d1", lambda: runtime.deliver(c1))
    while scheduler.paused():
        worker = scheduler.paused()[0]
        scheduler.step(worker, worker.faults[0])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import greenlet

from ..core.actor import Actor
from ..core.events import Event
from ..core.snapshot import OutboxEntry, Snapshot
from ..errors import PublishFailed
from ..publishers.recording import RecordingPublisher
from ..stores.base import Applied, RetryPolicy
from ..stores.memory import MemoryStore

__all__ = [
    "FAULTS",
    "InstrumentedMemoryStore",
    "InstrumentedPublisher",
    "Scheduler",
    "Worker",
    "WorkerCrash",
]

D = TypeVar("D")

#: The choices at each kind of step boundary; the first is the fault-free one.
FAULTS = {
    "start": ("proceed",),
    "read": ("proceed",),
    "commit": ("proceed", "conflict"),
    "publish": ("proceed", "fail", "crash", "crash-after"),
}


class WorkerCrash(BaseException):
    """The worker's process died here: nothing after this point runs, no cleanup happens."""


class Worker:
    """One thread of work: where it is paused, and how it ended."""

    def __init__(self, name: str, work: Callable[[], Any]) -> None:
        self.name = name
        self.work = work
        self.point: str | None = None
        self.glet: Any = None
        self.action = "proceed"
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    @property
    def faults(self) -> tuple[str, ...]:
        return FAULTS[self.point or "start"]

    def __repr__(self) -> str:
        state = "done" if self.done else f"at {self.point}"
        return f"<{self.name} {state}>"


class Scheduler:
    """Runs workers one at a time, each until its next step boundary.

    Workers are greenlets on the calling thread: switching between them costs microseconds,
    so Hypothesis can try (and shrink) thousands of schedules in seconds, and nothing runs
    unless the test says so.
    """

    def __init__(self) -> None:
        self._hub = greenlet.getcurrent()
        self.workers: list[Worker] = []
        self.log: list[str] = []
        self._abandoned = False

    def spawn(self, name: str, work: Callable[[], Any]) -> Worker:
        """Start a worker; it pauses before doing anything."""
        worker = Worker(name, work)
        worker.point = "start"
        self.workers.append(worker)
        worker.glet = greenlet.greenlet(lambda: self._run(worker), parent=self._hub)
        return worker

    def paused(self) -> list[Worker]:
        """Workers waiting at a step boundary, in spawn order."""
        return [w for w in self.workers if not w.done]

    def step(self, worker: Worker, action: str = "proceed") -> None:
        """Let ``worker`` run (with ``action`` at its boundary) until its next one, or its end."""
        if action not in worker.faults:
            raise ValueError(f"{action!r} is not possible at {worker.point!r}")
        self.log.append(f"{worker.name}: {worker.point} -> {action}")
        worker.action = action
        worker.glet.switch()
        if worker.done:
            outcome = type(worker.error).__name__ if worker.error else "returned"
            self.log.append(f"{worker.name}: {outcome}")

    def current(self) -> str | None:
        """The name of the worker running now, or None when the test itself runs."""
        running = greenlet.getcurrent()
        return next((w.name for w in self.workers if w.glet is running), None)

    def pause(self, point: str) -> str:
        """Called by instrumented code: hand control back to the test; return its choice."""
        current = greenlet.getcurrent()
        worker = next((w for w in self.workers if w.glet is current), None)
        if worker is None:  # not a worker (the test itself): run straight through
            return "proceed"
        worker.point = point
        self._hub.switch()
        if self._abandoned:
            raise WorkerCrash("abandoned by the test")
        return worker.action

    def abandon(self) -> None:
        """End the test: every paused worker dies where it stands."""
        self._abandoned = True
        for worker in self.paused():
            if worker.glet:  # started and not finished: let it die where it is
                worker.glet.switch()
            worker.done = True

    def _run(self, worker: Worker) -> None:
        try:
            worker.result = worker.work()
        except BaseException as exc:  # recorded, and judged by the test
            worker.error = exc
        finally:
            worker.done = True


class InstrumentedMemoryStore(MemoryStore):
    """The memory store, pausing before each read and each commit; a ``conflict`` choice
    makes that commit fail as if another writer had committed first."""

    def __init__(self, scheduler: Scheduler, retry: RetryPolicy | None = None) -> None:
        super().__init__(retry or RetryPolicy(max_attempts=8, base_delay=0))
        self.scheduler = scheduler
        self.applied: list[tuple[Event, Applied[Any]]] = []
        #: Which worker made each entry of ``applied`` (None: the test itself), in order.
        self.applied_by: list[str | None] = []

    def _read(self, actor: Actor[D], key: str) -> tuple[Snapshot[D] | None, Any]:
        self.scheduler.pause("read")
        return super()._read(actor, key)

    def _commit(self, actor: Actor[D], key: str, token: Any, snapshot: Snapshot[D]) -> bool:
        if self.scheduler.pause("commit") == "conflict":
            self.conflicts += 1
            return False
        return super()._commit(actor, key, token, snapshot)

    def apply(self, actor: Actor[D], key: str, event: Event) -> Applied[D]:
        applied = super().apply(actor, key, event)
        self.applied.append((event, applied))
        self.applied_by.append(self.scheduler.current())
        return applied


class InstrumentedPublisher(RecordingPublisher):
    """A recording publisher pausing before each publish: ``fail`` raises PublishFailed,
    ``crash`` kills the worker before publishing, ``crash-after`` right after publishing."""

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__()
        self.scheduler = scheduler

    def publish(self, entry: OutboxEntry) -> str:
        action = self.scheduler.pause("publish")
        if action == "fail":
            raise PublishFailed(f"injected failure publishing {entry.id}")
        if action == "crash":
            raise WorkerCrash(f"crashed before publishing {entry.id}")
        message_id = super().publish(entry)
        if action == "crash-after":
            raise WorkerCrash(f"crashed after publishing {entry.id} as {message_id}")
        return message_id
