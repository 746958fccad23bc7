"""Generic actor on python-statemachine: hydrate, send, freeze; version bumps; event JSON.

A machine and its model are kept per thread and re-hydrated by assigning the model's fields,
so a step does not pay for building a machine. Hydration sets the state field directly, so the
initial state is never re-entered.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from statemachine.exceptions import TransitionNotAllowed

from ..errors import TransitionRefused
from ..limits import MAX_HISTORY
from . import outbox
from .actor import Outcome, Stepped
from .event_codec import decode_event, encode_event
from .events import Event, OutboxPublished, OutboxReleased
from .snapshot import HistoryEntry, OutboxEntry, Snapshot

__all__ = ["ActorModel", "MachineActor"]

D = TypeVar("D")


class ActorModel(Generic[D]):
    """The mutable working copy of one snapshot, bound to a machine for one step."""

    #: Events recorded in history even when they do not change the state.
    audited: ClassVar[frozenset[str]] = frozenset()

    state: str
    snapshot: Snapshot[D]

    def load(self, snapshot: Snapshot[D]) -> None:
        self.snapshot = snapshot
        self.state = snapshot.state
        self.generation = snapshot.generation
        self.outbox: list[OutboxEntry] = list(snapshot.outbox)
        self.history: list[HistoryEntry] = list(snapshot.history)
        self.load_data(snapshot.data)

    def freeze(self) -> Snapshot[D]:
        return self.snapshot.evolve(
            state=self.state,
            generation=self.generation,
            outbox=tuple(self.outbox),
            history=tuple(self.history[-MAX_HISTORY:]),
            data=self.freeze_data(),
        )

    def load_data(self, data: D) -> None:
        raise NotImplementedError

    def freeze_data(self) -> D:
        raise NotImplementedError

    def cause(self, event: str, kwargs: dict[str, Any]) -> str:
        """A short human reason for a history entry."""
        return str(kwargs.get("reason", ""))

    def after_transition(self, event: str, source: Any, target: Any, **kwargs: Any) -> None:
        if source.id == target.id and event not in self.audited:
            return
        self.history.append(
            HistoryEntry(
                at=kwargs["at"],
                event=str(event),
                source=source.id,
                target=target.id,
                generation=self.generation,
                cause=self.cause(str(event), kwargs),
                by=kwargs.get("by"),
            )
        )


class MachineActor(ABC, Generic[D]):
    """Base for actors whose transitions are a python-statemachine ``StateMachine``."""

    machine_class: ClassVar[type[Any]]

    def __init__(self) -> None:
        self._local = threading.local()

    @abstractmethod
    def new_model(self) -> ActorModel[D]:
        """A fresh, unloaded model for this actor's machine."""

    @abstractmethod
    def handle(self, snapshot: Snapshot[D], event: Event) -> Stepped[D]:
        """Apply a domain event. Return the input snapshot object itself when nothing changes."""

    def on_published(self, snapshot: Snapshot[D], event: OutboxPublished) -> Stepped[D]:
        """An outbox entry was published; by default it simply leaves the outbox."""
        return Stepped(outbox.without_entry(snapshot, event.entry_id), Outcome.APPLIED)

    # -- events as JSON (an actor's own events are its subclass's to encode) ---------------

    def encode_event(self, event: Event) -> dict[str, Any]:
        return encode_event(event, self.encode_own_event)

    def decode_event(self, document: Mapping[str, Any]) -> Event:
        return decode_event(document, self.decode_own_event)

    def encode_own_event(self, event: Event) -> dict[str, Any]:
        """The fields of one of this actor's own events beyond ``kind``, ``at``, ``claim``."""
        raise TypeError(f"{type(self).__name__} has no event {type(event).__name__}")

    def decode_own_event(
        self, kind: str, document: Mapping[str, Any], common: dict[str, Any]
    ) -> Event:
        """One of this actor's own events from its JSON; ``common`` has ``at`` and ``claim``."""
        raise ValueError(f"{type(self).__name__} has no event of kind {kind!r}")

    def step(self, snapshot: Snapshot[D], event: Event) -> Stepped[D]:
        if isinstance(event, OutboxPublished):
            if snapshot.outbox_entry(event.entry_id) is None:
                stepped: Stepped[D] = Stepped(snapshot, Outcome.STALE, "already confirmed")
            else:
                stepped = self.on_published(snapshot, event)
        elif isinstance(event, OutboxReleased):
            stepped = outbox.release(snapshot, event)
        else:
            stepped = self.handle(snapshot, event)
        result = stepped.snapshot
        if event.claim is not None:
            result = outbox.claim(result, event.claim, event.at)
        if result is snapshot:
            return stepped
        bumped = result.evolve(version=snapshot.version + 1, updated_at=event.at)
        return Stepped(bumped, stepped.outcome, stepped.detail)

    def transition(self, snapshot: Snapshot[D], event: str, **kwargs: Any) -> Snapshot[D]:
        """Send ``event`` to the machine hydrated from ``snapshot``; return the new snapshot."""
        with self._bound() as (machine, model):
            model.load(snapshot)
            try:
                machine.send(event, **kwargs)
            except TransitionNotAllowed:
                allowed = ", ".join(self.allowed_events(snapshot.state)) or "none"
                raise TransitionRefused(
                    event, snapshot.state, f"events allowed there: {allowed}"
                ) from None
            return model.freeze()

    def allowed_events(self, state: str) -> list[str]:
        """Event names the machine accepts in ``state`` (guards not evaluated)."""
        for candidate in self.machine_class.states:
            if candidate.id == state:
                return sorted({str(e) for t in candidate.transitions for e in t.events})
        raise ValueError(f"unknown state {state!r}")

    @contextmanager
    def _bound(self) -> Iterator[tuple[Any, ActorModel[D]]]:
        local = self._local
        if getattr(local, "busy", False):  # re-entered from a callback: use a private pair
            model = self.new_model()
            yield self.machine_class(model=model), model
            return
        pair = getattr(local, "pair", None)
        if pair is None:
            model = self.new_model()
            pair = local.pair = (self.machine_class(model=model), model)
        local.busy = True
        try:
            yield pair
        finally:
            local.busy = False
