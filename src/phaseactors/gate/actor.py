"""The gate as an actor: the pure step from (snapshot, event) to a new snapshot and outbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ..core import outbox
from ..core.actor import Outcome, Stepped
from ..core.codec import decode_snapshot, encode_snapshot
from ..core.events import Event, OperatorEvent, OutboxPublished, OutboxReleased, Tick
from ..core.machine_actor import MachineActor
from ..core.snapshot import Snapshot
from ..errors import InvalidMessage
from ..limits import MAX_UNKNOWN_NAMES, seen_limit
from .aggregate import payload_of
from .announce import PUBLISH_FAILING, PUBLISH_FAILURES_BEFORE_ALERT, raise_alert
from .completion import Completion
from .data import CompletionRecord, GateData, decode_gate_data, encode_gate_data
from .events import (
    CompletionReported,
    FailKey,
    ForceTrigger,
    Rearm,
    decode_gate_event,
    encode_gate_event,
)
from .machine import GateMachine
from .model import GateModel
from .policy import upcoming
from .spec import GateSpec

__all__ = ["GateActor"]

_DECIDED = frozenset({"complete", "triggered"})
_UNDECIDED = frozenset({"waiting", "partial"})
_OPERATOR_EVENTS: dict[type[OperatorEvent], str] = {
    ForceTrigger: "force",
    FailKey: "fail",
    Rearm: "rearm",
}


class GateActor(MachineActor[GateData]):
    """A gate spec bound to :class:`GateMachine`; one actor per key, persisted by a store."""

    machine_class = GateMachine
    #: Gate commands a plain :class:`~phaseactors.core.runtime.Runtime` offered before they
    #: moved to :class:`~phaseactors.gate.operations.GateRuntime`; kept for one release.
    moved_commands = ("deliver", "force", "rearm", "fail")

    @staticmethod
    def runtime_class() -> type[Any]:
        from .operations import GateRuntime

        return GateRuntime

    def __init__(self, spec: GateSpec) -> None:
        super().__init__()
        self.spec = spec
        self._seen_limit = seen_limit(len(spec.expected))
        self._token_prefixes = tuple(f"e:{name}/" for name in spec.expected)

    @property
    def name(self) -> str:
        return self.spec.name

    def new_model(self) -> GateModel:
        return GateModel(self.spec)

    def validate_key(self, key: object) -> str:
        return self.spec.key.validate(key)

    def initial(self, key: str) -> Snapshot[GateData]:
        return Snapshot(
            actor=self.spec.name, key=key, generation=1, state="waiting", version=0, data=GateData()
        )

    def encode(self, snapshot: Snapshot[GateData]) -> dict[str, Any]:
        return encode_snapshot(snapshot, encode_gate_data)

    def decode(self, document: Mapping[str, Any]) -> Snapshot[GateData]:
        snapshot = decode_snapshot(document, decode_gate_data)
        if len(snapshot.seen) <= self._seen_limit:
            return snapshot
        # Written by a release that kept a token for every report, unknown ones included:
        # keep those of expected processors (and message ids), the most recent first.
        kept = [t for t in snapshot.seen if t.startswith(("m:", *self._token_prefixes))]
        return snapshot.evolve(seen=kept[-self._seen_limit :])

    def encode_own_event(self, event: Event) -> dict[str, Any]:
        return encode_gate_event(event)

    def decode_own_event(
        self, kind: str, document: Mapping[str, Any], common: dict[str, Any]
    ) -> Event:
        return decode_gate_event(kind, document, common)

    def due_at(self, snapshot: Snapshot[GateData]) -> datetime | None:
        """The next deadline of an undecided key (the sweeper's index), else None."""
        if snapshot.state not in _UNDECIDED:
            return None
        data = snapshot.data
        tiers = self.spec.tiers(self.spec.profile(data.profile))
        pending = upcoming(
            tiers,
            self.spec.key,
            snapshot.key,
            data.first_completion_at,
            data.deadlines_passed,
        )
        return pending[0][1] if pending else None

    def handle(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
        if isinstance(event, CompletionReported):
            return self._completion(snapshot, event)
        if isinstance(event, OperatorEvent):
            name = _OPERATOR_EVENTS[type(event)]
            changed = self.transition(
                self._with_profile(snapshot, event.at),
                name,
                at=event.at,
                reason=event.reason,
                by=event.by,
            )
            return Stepped(changed, Outcome.APPLIED)
        if isinstance(event, Tick):
            ticked = self._tick_if_due(snapshot, event.at)
            if ticked is snapshot:
                return Stepped(snapshot, Outcome.UNCHANGED, "nothing due")
            return Stepped(ticked, Outcome.APPLIED)
        raise TypeError(f"{type(event).__name__} is not an event the gate handles")

    def _with_profile(self, snapshot: Snapshot[GateData], at: datetime) -> Snapshot[GateData]:
        """A new key freezes its profile, chosen from its first event's time."""
        if snapshot.version:
            return snapshot
        profile = self.spec.choose_profile(snapshot.key, at).name
        return snapshot.evolve(data=attrs.evolve(snapshot.data, profile=profile))

    def step(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
        stepped = super().step(snapshot, event)
        if isinstance(event, OutboxReleased) and stepped.snapshot is not snapshot:
            return Stepped(self._publish_failing(stepped.snapshot, event), stepped.outcome)
        return stepped

    def _publish_failing(
        self, snapshot: Snapshot[GateData], event: OutboxReleased
    ) -> Snapshot[GateData]:
        """A trigger whose publish failed often enough raises an alert (once a generation),
        ahead of the trigger in the outbox so that it goes out while the trigger cannot."""
        trigger = snapshot.data.trigger
        entry = snapshot.outbox_entry(event.entry_id)
        if trigger is None or entry is None or entry.id != trigger.trigger_id:
            return snapshot
        if entry.publish_attempts < PUBLISH_FAILURES_BEFORE_ALERT:
            return snapshot
        announced, entries = list(snapshot.data.announced), list(snapshot.outbox)
        raise_alert(
            self.spec,
            announced,
            entries,
            key=snapshot.key,
            generation=snapshot.generation,
            reason=PUBLISH_FAILING,
            summary=f"{self.spec.name}/{snapshot.key}: the trigger {trigger.trigger_id} failed"
            f" to publish {entry.publish_attempts} times: {entry.last_error or 'no error text'}",
            at=event.at,
            details={
                "trigger_id": trigger.trigger_id,
                "topic": entry.topic,
                "publish_attempts": entry.publish_attempts,
                "last_error": entry.last_error,
            },
            correlation_id=trigger.correlation_id,
        )
        if len(entries) == len(snapshot.outbox):
            return snapshot
        data = attrs.evolve(snapshot.data, announced=tuple(announced))
        return snapshot.evolve(outbox=tuple(entries), data=data)

    def on_published(
        self, snapshot: Snapshot[GateData], event: OutboxPublished
    ) -> Stepped[GateData]:
        trigger = snapshot.data.trigger
        if trigger is None or event.entry_id != trigger.trigger_id:  # an announcement, an alert
            return Stepped(outbox.without_entry(snapshot, event.entry_id), Outcome.APPLIED)
        changed = self.transition(
            snapshot,
            "confirm_trigger",
            entry_id=event.entry_id,
            message_id=event.message_id,
            at=event.at,
        )
        return Stepped(changed, Outcome.APPLIED)

    def _completion(
        self, snapshot: Snapshot[GateData], event: CompletionReported
    ) -> Stepped[GateData]:
        completion = event.completion
        if completion.key != snapshot.key:
            raise InvalidMessage("key", f"{completion.key!r} delivered to key {snapshot.key!r}")
        processor = self.spec.resolve(completion.processor, completion.output_table)
        if processor is None:  # needs no dedup token: it changes nothing that counts
            return self._unknown(snapshot, completion, event.at)
        tokens = [f"e:{processor}/{completion.execution_id}"]
        if completion.message_id:
            tokens.append(f"m:{completion.message_id}")
        if not set(snapshot.seen).isdisjoint(tokens):
            return Stepped(snapshot, Outcome.DUPLICATE, "already applied")
        seen = (*snapshot.seen, *tokens)[-self._seen_limit :]  # the oldest are forgotten
        name = "report_done" if completion.status in self.spec.done_statuses else "report_failure"
        changed = self.transition(
            self._with_profile(snapshot, event.at).evolve(seen=seen),
            name,
            processor=processor,
            completion=completion,
            at=event.at,
            payload=payload_of(self.spec.aggregations, completion),
        )
        if snapshot.state in _DECIDED:
            return Stepped(changed, Outcome.LATE, f"key already {snapshot.state}")
        return Stepped(self._tick_if_due(changed, event.at), Outcome.APPLIED)

    def _unknown(
        self, snapshot: Snapshot[GateData], completion: Completion, at: datetime
    ) -> Stepped[GateData]:
        """Record a report of a name the gate does not expect, within the per-key bounds: the
        latest report and a count for each of the first names, only a count beyond them. As
        the key's first event it freezes the key's profile, chosen from its time, like any
        other first event: an unexpected name must not decide who is expected."""
        snapshot = self._with_profile(snapshot, at)
        data = snapshot.data
        name = completion.processor
        if name in data.unknown or len(data.unknown) < MAX_UNKNOWN_NAMES:
            record = CompletionRecord.of(name, completion, at, {})
            count = data.unknown_counts.get(name, 1 if name in data.unknown else 0) + 1
            data = attrs.evolve(
                data,
                unknown={**data.unknown, name: record},
                unknown_counts={**data.unknown_counts, name: count},
            )
        else:
            data = attrs.evolve(data, unknown_other=data.unknown_other + 1)
        return Stepped(
            snapshot.evolve(data=data),
            Outcome.UNKNOWN,
            f"{name!r} is not a processor of gate {self.spec.name!r}",
        )

    def _tick_if_due(self, snapshot: Snapshot[GateData], at: datetime) -> Snapshot[GateData]:
        """A delivery also brings the time: deadlines due by then are evaluated at once."""
        due = self.due_at(snapshot)
        if due is None or due > at:
            return snapshot
        return self.transition(snapshot, "tick", at=at)
