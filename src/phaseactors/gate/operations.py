"""The gate's commands over a runtime: deliver a completion, and the audited operator
commands force, rearm, fail and migrate. Each is one event through :meth:`Runtime.send`.

Before its first event the runtime records the gate's current definition in the store (once:
a store keeps the first record of a fingerprint), so that any key pinned to it can be read
and stepped by every other handler, whatever gate file that one has."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..alerts.log import log_published_alert
from ..core import telemetry
from ..core.clock import Clock, utcnow
from ..core.definitions import DefinitionRecord, resolve_definition
from ..core.events import Event
from ..core.publisher import Publisher
from ..core.runtime import DEFAULT_LEASE, Delivery, Runtime
from ..core.snapshot import OutboxEntry, Snapshot
from ..core.store import Store
from ..errors import DefinitionMissing
from .actor import GateActor
from .completion import Completion
from .data import GateData
from .definition import encode_definition
from .events import CompletionReported, FailKey, ForceTrigger, MigrateKey, Rearm
from .spec import GateSpec

if TYPE_CHECKING:
    from .status import GateStatus

__all__ = ["GateRuntime"]

log = logging.getLogger("phaseactors.gate")


class GateRuntime(Runtime[GateData]):
    """A runtime for one gate, with the gate's commands."""

    actor: GateActor

    def __init__(
        self,
        actor: GateActor,
        store: Store,
        publisher: Publisher,
        *,
        clock: Clock = utcnow,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        super().__init__(actor, store, publisher, clock=clock, lease=lease)
        self._recorded: DefinitionRecord | None = None
        self._records: dict[str, DefinitionRecord] = {}
        self._recording = threading.Lock()

    @property
    def spec(self) -> GateSpec:
        return self.actor.spec

    # -- definitions ---------------------------------------------------------------------

    def record_definition(self) -> DefinitionRecord:
        """Record the gate's current definition in the store, once per runtime; the record
        kept (the first ever of this fingerprint, with the time it was first seen)."""
        recorded = self._recorded
        if recorded is None:
            with self._recording:
                if self._recorded is None:
                    record = self.actor.definition_record(self.clock())
                    self._recorded = self.store.record_definition(record)
                recorded = self._recorded
        return recorded

    def definition_record(self, fingerprint: str) -> DefinitionRecord | None:
        """A recorded definition of this gate (remembered: records never change)."""
        record = self._records.get(fingerprint)
        if record is None:
            record = self.store.definition(self.actor.name, fingerprint)
            if record is not None:
                self._records[fingerprint] = record
        return record

    def key_spec(self, snapshot: Snapshot[GateData]) -> GateSpec | None:
        """The gate as ``snapshot``'s key sees it, its definition read from the store if the
        actor does not know it yet; None when the store does not have it either."""
        resolve_definition(self.store, self.actor, snapshot)
        try:
            return self.actor.spec_for(snapshot)
        except DefinitionMissing:
            return None

    def status(self, snapshot: Snapshot[GateData]) -> GateStatus:
        """The status of a key, shown under the definition it decides by."""
        from .status import gate_status  # only commands and the console show one

        fingerprint = snapshot.data.definition
        record = self.definition_record(fingerprint) if fingerprint else None
        return gate_status(
            self.spec,
            snapshot,
            pinned=self.key_spec(snapshot),
            first_seen=record.recorded_at if record else None,
        )

    def migration(self, reason: str, by: str) -> MigrateKey:
        """The event that moves a key to the gate's current definition."""
        return MigrateKey(
            at=self.clock(),
            reason=reason,
            by=by,
            fingerprint=self.actor.fingerprint,
            definition=encode_definition(self.spec.definition),
        )

    # -- events --------------------------------------------------------------------------

    def send(self, key: str, event: Event) -> Delivery[GateData]:
        self.record_definition()
        delivery = super().send(key, event)
        _observe(self.spec, delivery, {event.at, *(e.at for e in delivery.carried)})
        return delivery

    def _publish(self, key: str, entry: OutboxEntry, owner: str) -> str | None:
        """The kernel's publish, and the ERROR line of an alert once it is published."""
        message_id = super()._publish(key, entry, owner)
        if message_id is not None:
            log_published_alert(entry, message_id)
        return message_id

    def deliver(self, completion: Completion) -> Delivery[GateData]:
        """Apply one completion (duplicates and late ones included) and publish what is due."""
        return self.send(completion.key, CompletionReported(at=self.clock(), completion=completion))

    def force(self, key: str, reason: str, by: str) -> Delivery[GateData]:
        """Trigger the next phase now, whatever is missing."""
        return self.send(key, ForceTrigger(at=self.clock(), reason=reason, by=by))

    def rearm(self, key: str, reason: str, by: str) -> Delivery[GateData]:
        """Start a new generation, so the key can trigger once more."""
        return self.send(key, Rearm(at=self.clock(), reason=reason, by=by))

    def fail(self, key: str, reason: str, by: str) -> Delivery[GateData]:
        """Mark the key failed."""
        return self.send(key, FailKey(at=self.clock(), reason=reason, by=by))

    def migrate(self, key: str, reason: str, by: str) -> Delivery[GateData]:
        """Move an undecided key to the gate's current definition and re-evaluate it there
        (it may trigger or fail at once); a key already on it is left unchanged."""
        return self.send(key, self.migration(reason, by))


_DEADLINES_PASSED = telemetry.define_metric(
    "phaseactors.deadlines_passed", "counter", "1", "deadline tiers passed, by gate"
)
_KEYS_FAILED = telemetry.define_metric(
    "phaseactors.keys_failed", "counter", "1", "keys that entered failed, by gate and kind"
)
_TRIGGER_LATENCY = telemetry.define_metric(
    "phaseactors.trigger_latency",
    "histogram",
    "s",
    "time from a key's first completion to its trigger decision",
)


def _observe(spec: GateSpec, delivery: Delivery[GateData], times: set[datetime]) -> None:
    """Log and count what the delivery's events (at ``times``: its own, and those it carried
    for others) did to its key: a key that failed (at ERROR: someone must look), deadlines
    passed, and the time a trigger decision took."""
    snapshot = delivery.snapshot
    for entry in snapshot.history:
        if entry.at not in times:
            continue
        if entry.event == "tick":
            telemetry.count(_DEADLINES_PASSED, gate=spec.name)
        if entry.target == "failed" and entry.source != "failed":
            kind = snapshot.data.failure_kind or "unknown"
            telemetry.count(_KEYS_FAILED, gate=spec.name, kind=kind)
            log.error(
                "%s/%s failed: %s",
                spec.name,
                snapshot.key,
                snapshot.data.failed_reason,
                extra={
                    "key": snapshot.key,
                    "state": "failed",
                    "reason": snapshot.data.failed_reason,
                },
            )
    trigger, first = snapshot.data.trigger, snapshot.data.first_completion_at
    if trigger is not None and trigger.decided_at in times and first is not None:
        seconds = (trigger.decided_at - first).total_seconds()
        telemetry.record(_TRIGGER_LATENCY, seconds, gate=spec.name)
