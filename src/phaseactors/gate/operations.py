"""The gate's commands over a runtime: deliver a completion, and the audited operator
commands force, rearm and fail. Each is one event through :meth:`Runtime.send`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..alerts.log import log_published_alert
from ..core import telemetry
from ..core.clock import Clock, utcnow
from ..core.events import Event
from ..core.publisher import Publisher
from ..core.runtime import DEFAULT_LEASE, Delivery, Runtime
from ..core.snapshot import OutboxEntry
from ..core.store import Store
from .actor import GateActor
from .completion import Completion
from .data import GateData
from .events import CompletionReported, FailKey, ForceTrigger, Rearm
from .spec import GateSpec

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

    @property
    def spec(self) -> GateSpec:
        return self.actor.spec

    def send(self, key: str, event: Event) -> Delivery[GateData]:
        delivery = super().send(key, event)
        _observe(self.spec, delivery, event.at)
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


def _observe(spec: GateSpec, delivery: Delivery[GateData], at: datetime) -> None:
    """Log and count what the event at ``at`` did to its key: a key that failed (at ERROR:
    someone must look), deadlines passed, and the time a trigger decision took."""
    snapshot = delivery.snapshot
    for entry in snapshot.history:
        if entry.at != at:
            continue
        if entry.event == "tick":
            telemetry.count("phaseactors.deadlines_passed", gate=spec.name)
        if entry.target == "failed" and entry.source != "failed":
            kind = snapshot.data.failure_kind or "unknown"
            telemetry.count("phaseactors.keys_failed", gate=spec.name, kind=kind)
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
    if trigger is not None and trigger.decided_at == at and first is not None:
        seconds = (trigger.decided_at - first).total_seconds()
        telemetry.record("phaseactors.trigger_latency", seconds, gate=spec.name)
