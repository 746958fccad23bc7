"""The gate as an actor: the pure step from (snapshot, event) to a new snapshot and outbox.

The actor holds the gate file as it is now (``spec``) and a registry of the other versioned
definitions its keys are pinned to, filled by the store before it steps
(:func:`~phaseactors.core.definitions.resolve_definition`): the step reads the registry and
nothing else, so it stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ..core import outbox
from ..core.actor import Outcome, Stepped
from ..core.codec import decode_snapshot, encode_snapshot
from ..core.definitions import DefinitionRecord
from ..core.events import Event, OperatorEvent, OutboxPublished, OutboxReleased, Tick
from ..core.machine_actor import MachineActor
from ..core.snapshot import Snapshot
from ..errors import DefinitionMissing, InvalidMessage, TransitionRefused
from ..limits import MAX_UNKNOWN_NAMES, seen_limit
from .aggregate import payload_of
from .announce import PUBLISH_FAILING, PUBLISH_FAILURES_BEFORE_ALERT, raise_alert
from .changes import definition_changes, summary
from .completion import Completion
from .data import CompletionRecord, GateData, decode_gate_data, encode_gate_data
from .definition import GateDefinition, decode_definition, encode_definition
from .events import (
    CompletionReported,
    FailKey,
    ForceTrigger,
    MigrateKey,
    Rearm,
    decode_gate_event,
    encode_gate_event,
)
from .machine import GateMachine
from .model import GateModel
from .pinning import carried_over, pinned_spec
from .policy import upcoming
from .spec import GateSpec

__all__ = ["GateActor"]

_DECIDED = frozenset({"complete", "triggered"})
_UNDECIDED = frozenset({"waiting", "partial"})
_REDEFINABLE = frozenset({"waiting", "partial", "failed"})  # a generation not decided yet
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
        self._definitions: dict[str, GateDefinition] = {spec.fingerprint: spec.definition}
        self._specs: dict[str, GateSpec] = {spec.fingerprint: spec}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the gate's current definition."""
        return self.spec.fingerprint

    def new_model(self) -> GateModel:
        return GateModel(self.spec, self.spec_of)

    # -- versioned definitions ---------------------------------------------------------------

    def definition_record(self, at: datetime) -> DefinitionRecord:
        """The current definition as a store records it (``at``: when first seen)."""
        return DefinitionRecord(
            actor=self.name,
            fingerprint=self.fingerprint,
            document=encode_definition(self.spec.definition),
            recorded_at=at,
        )

    def definition_needed(self, snapshot: Snapshot[GateData]) -> str | None:
        fingerprint = snapshot.data.definition
        if fingerprint is None or fingerprint in self._definitions:
            return None
        return fingerprint

    def learn_definition(self, record: DefinitionRecord) -> None:
        """Add a recorded definition to the registry. A document that this release cannot
        read, or whose fingerprint is not the one it is filed under, is refused
        (:class:`DefinitionMissing`): applying part of a definition would be worse."""
        self._definitions.setdefault(record.fingerprint, self._verified(record))

    def _verified(self, record: DefinitionRecord) -> GateDefinition:
        try:
            definition = decode_definition(record.document)
        except (KeyError, TypeError, ValueError) as exc:
            raise DefinitionMissing(self.name, record.fingerprint, str(exc)) from None
        if definition.fingerprint != record.fingerprint:
            raise DefinitionMissing(
                self.name, record.fingerprint, f"its document hashes to {definition.fingerprint}"
            )
        return definition

    def known_definition(self, fingerprint: str) -> GateDefinition | None:
        """A definition of the registry (the current one included), or None."""
        return self._definitions.get(fingerprint)

    def spec_of(self, fingerprint: str | None) -> GateSpec:
        """The gate as a key pinned to ``fingerprint`` sees it (None: not pinned yet, so the
        current definition); raises :class:`DefinitionMissing` if it is not in the registry."""
        if fingerprint is None:
            return self.spec
        spec = self._specs.get(fingerprint)
        if spec is None:
            definition = self._definitions.get(fingerprint)
            if definition is None:
                raise DefinitionMissing(self.name, fingerprint, "not given to this handler")
            spec = self._specs.setdefault(fingerprint, pinned_spec(self.spec, definition))
        return spec

    def spec_for(self, snapshot: Snapshot[GateData]) -> GateSpec:
        """The gate as ``snapshot``'s key sees it."""
        return self.spec_of(snapshot.data.definition)

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

    def finished(self, snapshot: Snapshot[GateData]) -> bool:
        """Whether the key's work is over: triggered (a store with a retention lets it expire
        once its outbox is empty too). A failed key is not: it waits for a person."""
        return snapshot.state == "triggered"

    def due_at(self, snapshot: Snapshot[GateData]) -> datetime | None:
        """The next deadline of an undecided key (the sweeper's index), else None."""
        if snapshot.state not in _UNDECIDED:
            return None
        data = snapshot.data
        spec = self.spec_for(snapshot)
        tiers = spec.tiers(spec.profile(data.profile))
        pending = upcoming(
            tiers,
            spec.key,
            snapshot.key,
            data.first_completion_at,
            data.deadlines_passed,
        )
        return pending[0][1] if pending else None

    def step(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
        """The kernel's step, and two things of the gate's around any change it makes: a key
        no event changed since before definitions were versioned (or a new key) is pinned to
        the definition it was just stepped under, the current one; a trigger whose publish
        keeps failing raises an alert."""
        stepped = super().step(snapshot, event)
        result = stepped.snapshot
        if result is snapshot:
            return stepped
        if result.data.definition is None:
            result = result.evolve(data=attrs.evolve(result.data, definition=self.fingerprint))
        if isinstance(event, OutboxReleased):
            result = self._publish_failing(result, event)
        return Stepped(result, stepped.outcome, stepped.detail)

    def handle(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
        if isinstance(event, MigrateKey):
            return self._migrate(snapshot, event)
        if isinstance(event, CompletionReported | Tick):
            adopted = self._adopted(snapshot, event.at)
            if adopted is not snapshot:
                stepped = self._handle(adopted, event)
                if stepped.outcome is Outcome.UNCHANGED:
                    return Stepped(stepped.snapshot, Outcome.APPLIED, "adopted the definition")
                return stepped
        return self._handle(snapshot, event)

    def _handle(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
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

    # -- a changed definition ----------------------------------------------------------------

    def _adopted(self, snapshot: Snapshot[GateData], at: datetime) -> Snapshot[GateData]:
        """With ``on_change = "adopt"``, an undecided generation pinned to an older definition
        switches to the current one at its next completion or tick, recorded in its history
        as the cause; a decided one keeps the definition it decided under."""
        pinned = snapshot.data.definition
        if (
            self.spec.on_change != "adopt"
            or pinned is None
            or pinned == self.fingerprint
            or snapshot.state not in _REDEFINABLE
        ):
            return snapshot
        return self._redefine(snapshot, "adopt", self.fingerprint, at=at)

    def _migrate(self, snapshot: Snapshot[GateData], event: MigrateKey) -> Stepped[GateData]:
        """An operator moves an undecided generation to the definition the event carries."""
        target = event.fingerprint
        if target not in self._definitions:  # carried by the event: verified, then kept
            self._definitions.setdefault(
                target,
                self._verified(
                    DefinitionRecord(
                        actor=self.name,
                        fingerprint=target,
                        document=event.definition,
                        recorded_at=event.at,
                    )
                ),
            )
        if (snapshot.data.definition or self.fingerprint) == target:
            return Stepped(snapshot, Outcome.UNCHANGED, f"already on definition {target}")
        if snapshot.state not in _REDEFINABLE:
            raise TransitionRefused(
                "migrate",
                snapshot.state,
                "a decided generation keeps the definition it decided under; rearm starts"
                " a generation under the current one",
            )
        migrated = self._redefine(
            snapshot, "migrate", target, at=event.at, reason=event.reason, by=event.by
        )
        return Stepped(migrated, Outcome.APPLIED)

    def _redefine(
        self, snapshot: Snapshot[GateData], event: str, target: str, **kwargs: Any
    ) -> Snapshot[GateData]:
        """Switch ``snapshot`` to the definition ``target`` and re-evaluate it there."""
        before = snapshot.data.definition or self.fingerprint
        spec = self.spec_of(target)
        old = self.known_definition(before)
        changes = summary(definition_changes(old, spec.definition)) if old else "not known"
        change = f"definition {before} -> {target}: {changes}"
        switched = snapshot.evolve(data=carried_over(snapshot.data, spec, target))
        return self.transition(switched, event, change=change, **kwargs)

    def _with_profile(self, snapshot: Snapshot[GateData], at: datetime) -> Snapshot[GateData]:
        """A new key freezes its profile, chosen from its first event's time."""
        if snapshot.version:
            return snapshot
        profile = self.spec_for(snapshot).choose_profile(snapshot.key, at).name
        return snapshot.evolve(data=attrs.evolve(snapshot.data, profile=profile))

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
        spec = self.spec_for(snapshot)
        processor = spec.resolve(completion.processor, completion.output_table)
        if processor is None:  # needs no dedup token: it changes nothing that counts
            return self._unknown(snapshot, completion, event.at)
        tokens = [f"e:{processor}/{completion.execution_id}"]
        if completion.message_id:
            tokens.append(f"m:{completion.message_id}")
        if not set(snapshot.seen).isdisjoint(tokens):
            return Stepped(snapshot, Outcome.DUPLICATE, "already applied")
        seen = (*snapshot.seen, *tokens)[-self._seen_limit :]  # the oldest are forgotten
        name = "report_done" if completion.status in spec.done_statuses else "report_failure"
        changed = self.transition(
            self._with_profile(snapshot, event.at).evolve(seen=seen),
            name,
            processor=processor,
            completion=completion,
            at=event.at,
            payload=payload_of(spec.aggregations, completion),
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
