"""A stateful test of any actor on any store: Hypothesis drives one key through the real
runtime with the actor's own events — deliveries, redeliveries, time passing, sweeps, a
publisher that goes down and comes back, a second handle on the store — and checks after
every step what the kernel promises every actor, then the actor's own invariants.

Subclass :class:`ActorMachine` and give it the actor, the store and a strategy of the
actor's events at a given time::

    class JobRules(ActorMachine):
        def create_actor(self):
            return JobActor()

        def create_store(self):
            return SqliteStore(self.directory / "jobs.db")

        def events(self, at):
            return st.builds(AttemptFinished, at=st.just(at), attempt=st.integers(1, 3),
                             ok=st.booleans())

        def check(self, snapshot, published):
            ...  # what this actor promises

    TestJobRules = JobRules.TestCase

What every actor gets checked, after every step: the stored key survives its JSON; its
version and generation never go back; a second handle reads what this one wrote; no message
is published twice (this publisher fails before accepting, so nothing excuses a copy); a
redelivered message changes nothing (for actors that deduplicate; an operator's command is
never redelivered). At the end, with the
publisher up and every deadline past, a sweep leaves nothing in the outbox.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..core.actor import Actor
from ..core.events import Event, OperatorEvent
from ..core.runtime import Runtime
from ..core.snapshot import Snapshot
from ..core.store import Store
from ..errors import PublishFailed, TransitionRefused
from ..publishers.recording import Published, RecordingPublisher
from .explore import ManualClock

__all__ = ["ActorMachine"]

#: How far the clock may move between two steps, in seconds.
_WAITS = (1.0, 60.0, 3_600.0, 86_400.0)
#: Where the clock is at the end, past every deadline an actor is likely to set.
_FINALLY = 400 * 86_400.0


class ActorMachine(RuleBasedStateMachine):
    """One key of an actor, driven through :class:`~phaseactors.core.runtime.Runtime`."""

    key: ClassVar[str] = "2025-11-29"
    #: Whether applying an event a second time changes nothing (a dedup token).
    deduplicates: ClassVar[bool] = True
    #: The runtime class (a subclass with a deliberate bug shows the machine has teeth).
    runtime_class: ClassVar[type[Runtime[Any]]] = Runtime

    # -- what a subclass gives -------------------------------------------------------------

    def create_actor(self) -> Actor[Any]:
        raise NotImplementedError

    def create_store(self) -> Store:
        """A new, empty store (``self.directory`` is a fresh directory for files)."""
        raise NotImplementedError

    def other_handle(self) -> Store:
        """A second handle on the same data (the same object for in-process stores)."""
        return self.store

    def events(self, at: datetime) -> st.SearchStrategy[Event]:
        """The actor's events for :attr:`key`, happening at ``at``."""
        raise NotImplementedError

    def check(self, snapshot: Snapshot[Any] | None, published: Sequence[Published]) -> None:
        """The actor's own invariants, after every step (raise AssertionError)."""

    # -- the machine -----------------------------------------------------------------------

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="phaseactors-machine-"))
        self.clock = ManualClock()
        self.publisher = RecordingPublisher()
        self.publisher_down = False
        self.actor = self.create_actor()
        self.store = self.create_store()
        self.runtime = self.runtime_class(self.actor, self.store, self.publisher, clock=self.clock)
        self.applied: list[Event] = []
        self.reached: Counter[str] = Counter()
        self.version = 0
        self.generation = 0

    def _send(self, event: Event) -> None:
        try:
            delivery = self.runtime.send(self.key, event)
        except PublishFailed:
            assert self.publisher_down, "a publish failed while the publisher was up"
            self.reached["publish failed"] += 1
            return
        except TransitionRefused:
            self.reached["refused"] += 1
            return
        self.reached[delivery.outcome.value] += 1
        if delivery.committed and not isinstance(event, OperatorEvent):
            self.applied.append(event)  # a message; an operator's command is never redelivered

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """A few events in a row (so that keys get far in few steps)."""
        for event in data.draw(st.lists(self.events(self.clock()), min_size=1, max_size=6)):
            self._send(event)

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.applied), label="redelivered")
        before = self.runtime.load(self.key)
        quiet = before is not None and not before.outbox and not self.publisher_down
        self._send(event)
        if self.deduplicates and quiet:
            assert self.runtime.load(self.key) == before, "a redelivered event changed the key"

    @rule(seconds=st.sampled_from(_WAITS))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def sweep(self) -> None:
        report = self.runtime.sweep()
        if not self.publisher_down:
            assert not report.errors, report.errors

    @rule(down=st.booleans())
    def publisher_goes(self, down: bool) -> None:
        self.publisher_down = down
        self.publisher.fail_when = (lambda entry: True) if down else None

    @rule()
    def reopen(self) -> None:
        other = self.other_handle()
        assert other.load(self.actor, self.key) == self.store.load(self.actor, self.key)

    @invariant()
    def kernel_promises(self) -> None:
        snapshot = self.store.load(self.actor, self.key)
        published = self.publisher.messages
        copies = Counter(m.entry_id for m in published)
        assert not [i for i, n in copies.items() if n > 1], f"published twice: {copies}"
        if snapshot is not None:
            document = json.loads(json.dumps(self.actor.encode(snapshot)))
            assert self.actor.decode(document) == snapshot, "the key does not survive its JSON"
            assert snapshot.version >= self.version, "the version went back"
            assert snapshot.generation >= self.generation, "the generation went back"
            self.version, self.generation = snapshot.version, snapshot.generation
        self.check(snapshot, published)

    def teardown(self) -> None:
        try:
            if self.applied:
                self.publisher_goes(False)
                self.clock.advance(_FINALLY)
                self.sweep()
                self.sweep()  # a tick may decide what the next sweep publishes
                snapshot = self.store.load(self.actor, self.key)
                assert snapshot is not None
                assert snapshot.outbox == (), f"left in the outbox: {snapshot.outbox}"
                self.kernel_promises()
                note_event(f"ended: {snapshot.state}")
            for what in self.reached:
                note_event(f"reached: {what}")
        finally:
            self.store.close()
            shutil.rmtree(self.directory, ignore_errors=True)
