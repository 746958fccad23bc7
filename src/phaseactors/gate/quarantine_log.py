"""The quarantine of a store as something to work through: list the messages that could never
be applied, show one, replay it (as it was, or a corrected copy) through the same intake as
any delivery, or purge it. A message that leaves the quarantine leaves an audit entry (a
:class:`~phaseactors.core.store.Resolution`: who, when, why, what became of it), written in
the same commit that removes it; ``resolutions()`` lists them.

    log = QuarantineLog(store)
    for record in log.messages("phase2_to_phase3"):
        print(record.id, record.reason)
    log.replay(runtime, "17", by="ana", body=fixed_json)   # a GateRuntime of that gate
    log.purge("18", by="ana", reason="test message from staging")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ..core.clock import Clock, utcnow
from ..core.runtime import Delivery
from ..core.store import Quarantined, Resolution, Store
from ..errors import NotQuarantined, UsageError
from .data import GateData
from .intake import accept_message
from .operations import GateRuntime

__all__ = ["QuarantineLog", "Replayed"]


@frozen
class Replayed:
    """A replay that went through: the delivery, and the audit entry of the message."""

    delivery: Delivery[GateData]
    resolution: Resolution


class QuarantineLog:
    """List, show, replay and purge the quarantined messages of ``store``."""

    def __init__(self, store: Store, *, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock

    def messages(self, gate: str | None = None, *, limit: int = 100) -> list[Quarantined]:
        """The quarantined messages (of ``gate``), newest first."""
        return self.store.quarantined(gate, limit)

    def resolutions(self, gate: str | None = None, *, limit: int = 100) -> list[Resolution]:
        """The audit entries of purged and replayed messages (of ``gate``), newest first."""
        return self.store.resolutions(gate, limit)

    def get(self, record_id: str) -> Quarantined:
        """The quarantined message ``record_id``; :class:`NotQuarantined` if there is none."""
        record = self.store.quarantined_record(record_id)
        if record is None:
            raise NotQuarantined(
                f"no quarantined message {record_id!r}: see `phaseactors quarantine list`"
                " (a purged or replayed one is in `quarantine list --resolved`)"
            )
        return record

    def purge(self, record_id: str, *, by: str, reason: str) -> Resolution:
        """Remove the message for good, keeping the audit entry."""
        record = self.get(record_id)
        resolution = Resolution.of(record, action="purged", at=self.clock(), by=by, reason=reason)
        self._resolve(resolution)
        return resolution

    def replay(
        self,
        runtime: GateRuntime,
        record_id: str,
        *,
        by: str,
        reason: str | None = None,
        body: Mapping[str, Any] | bytes | str | None = None,
    ) -> Replayed:
        """Deliver the message again through the intake: as it was quarantined, or ``body``
        (a corrected copy) instead. Applied, a duplicate, late or unknown, it leaves the
        quarantine with its audit entry; still refused, it raises the reason and stays
        there as it was (no second record)."""
        record = self.get(record_id)
        if record.actor is not None and record.actor != runtime.actor.name:
            raise UsageError(
                f"quarantined message {record_id} is for gate {record.actor}, not"
                f" {runtime.actor.name}: replay it with --gate {record.actor}"
            )
        delivery = accept_message(
            runtime,
            runtime.spec,
            record.raw if body is None else body,
            message_id=record.message_id,
            source=f"replay:{record_id}",
            keep_rejected=False,
        )
        copy = "a corrected copy" if body is not None else "the message as it was"
        resolution = Resolution.of(
            record,
            action="replayed",
            at=self.clock(),
            by=by,
            reason=reason or f"replayed {copy}",
            outcome=delivery.outcome.value,
        )
        self._resolve(resolution)
        return Replayed(delivery, resolution)

    def _resolve(self, resolution: Resolution) -> None:
        if not self.store.resolve_quarantined(resolution):
            raise NotQuarantined(
                f"quarantined message {resolution.id} was resolved by someone else meanwhile"
            )
