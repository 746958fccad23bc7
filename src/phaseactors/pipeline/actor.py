"""The pipeline run as an actor: the pure step from (snapshot, event) to a new snapshot and
its alerts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..core.actor import Outcome, Stepped
from ..core.codec import decode_snapshot, encode_snapshot
from ..core.events import Event, Tick
from ..core.machine_actor import MachineActor
from ..core.snapshot import Snapshot
from ..errors import InvalidMessage
from ..limits import seen_limit
from . import conditions
from .data import PipelineData, decode_pipeline_data, encode_pipeline_data
from .events import GateAnnounced, decode_pipeline_event, encode_pipeline_event
from .machine import PipelineMachine
from .model import PipelineModel
from .recording import record, restarts
from .spec import PipelineSpec

__all__ = ["PipelineActor"]

_IDLE = frozenset({"waiting", "done"})


class PipelineActor(MachineActor[PipelineData]):
    """A pipeline spec bound to :class:`PipelineMachine`; one run per key."""

    machine_class = PipelineMachine

    def __init__(self, spec: PipelineSpec) -> None:
        super().__init__()
        self.spec = spec
        # three announcements per gate and generation; room for a few generations
        self._seen_limit = seen_limit(3 * len(spec.phases))

    @property
    def name(self) -> str:
        return self.spec.name

    def new_model(self) -> PipelineModel:
        return PipelineModel(self.spec)

    def validate_key(self, key: object) -> str:
        return self.spec.key.validate(key)

    def initial(self, key: str) -> Snapshot[PipelineData]:
        return Snapshot(
            actor=self.spec.name,
            key=key,
            generation=1,
            state="waiting",
            version=0,
            data=PipelineData(),
        )

    def encode(self, snapshot: Snapshot[PipelineData]) -> dict[str, Any]:
        return encode_snapshot(snapshot, encode_pipeline_data)

    def decode(self, document: Mapping[str, Any]) -> Snapshot[PipelineData]:
        return decode_snapshot(document, decode_pipeline_data)

    def encode_own_event(self, event: Event) -> dict[str, Any]:
        return encode_pipeline_event(event)

    def decode_own_event(
        self, kind: str, document: Mapping[str, Any], common: dict[str, Any]
    ) -> Event:
        return decode_pipeline_event(kind, document, common)

    def finished(self, snapshot: Snapshot[PipelineData]) -> bool:
        """Whether the run's work is over: done."""
        return snapshot.state == "done"

    def due_at(self, snapshot: Snapshot[PipelineData]) -> datetime | None:
        """When a handoff or the overall deadline not alerted yet passes, else None."""
        if snapshot.state in _IDLE:
            return None
        return conditions.next_due(self.spec, snapshot.key, snapshot.data)

    def handle(self, snapshot: Snapshot[PipelineData], event: Event) -> Stepped[PipelineData]:
        if isinstance(event, GateAnnounced):
            return self._announced(snapshot, event)
        if isinstance(event, Tick):
            due = self.due_at(snapshot)
            if due is None or due > event.at:
                return Stepped(snapshot, Outcome.UNCHANGED, "nothing due")
            return Stepped(self.transition(snapshot, "tick", at=event.at), Outcome.APPLIED)
        raise TypeError(f"{type(event).__name__} is not an event the pipeline run handles")

    def _announced(
        self, snapshot: Snapshot[PipelineData], event: GateAnnounced
    ) -> Stepped[PipelineData]:
        a = event.announcement
        if a.key != snapshot.key:
            raise InvalidMessage("key", f"{a.key!r} delivered to key {snapshot.key!r}")
        if self.spec.index(a.gate) is None:
            detail = f"{a.gate!r} is not a gate of pipeline {self.spec.name!r}"
            return Stepped(snapshot, Outcome.UNKNOWN, detail)
        token = f"a:{a.id}"
        if token in snapshot.seen:
            return Stepped(snapshot, Outcome.DUPLICATE, "already applied")
        seen = (*snapshot.seen, token)[-self._seen_limit :]
        current = snapshot.evolve(seen=seen)
        if restarts(self.spec, snapshot.data, a):
            current = self.transition(current, "restart", at=event.at, announcement=a)
        elif snapshot.state == "done":
            changed = self.transition(current, "announce", at=event.at, announcement=a)
            return Stepped(changed, Outcome.LATE, "the run is done: recorded only")
        recorded = record(self.spec, current.data, a)
        if recorded is None:
            return Stepped(snapshot, Outcome.STALE, "an older generation, or before this run")
        changed = self.transition(
            current.evolve(data=recorded), "announce", at=event.at, announcement=a
        )
        return Stepped(changed, Outcome.APPLIED)
