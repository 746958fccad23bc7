"""The status view of one gate key: what is done, missing, unknown, failed, late, and why."""

from __future__ import annotations

from typing import Any

from ..clock import format_utc
from ..codec import encode_snapshot
from ..snapshot import Snapshot
from .gate_data import GateData, encode_gate_data
from .spec import GateSpec

__all__ = ["gate_status"]


def gate_status(spec: GateSpec, snapshot: Snapshot[GateData]) -> dict[str, Any]:
    """A JSON-ready description of ``snapshot`` (the stable ``status --json`` shape)."""
    data = encode_gate_data(snapshot.data)
    document = encode_snapshot(snapshot, encode_gate_data)
    trigger = snapshot.data.trigger
    return {
        "gate": spec.name,
        "key": snapshot.key,
        "generation": snapshot.generation,
        "state": snapshot.state,
        "version": snapshot.version,
        "updated_at": format_utc(snapshot.updated_at),
        "required": list(spec.required),
        "optional": list(spec.optional),
        "done": data["done"],
        "missing": [p for p in spec.required if p not in snapshot.data.done],
        "missing_optional": [p for p in spec.optional if p not in snapshot.data.done],
        "unknown": data["unknown"],
        "failures": data["failures"],
        "failure_counts": data["failure_counts"],
        "failed_reason": snapshot.data.failed_reason,
        "late": data["late"],
        "trigger": (
            None
            if trigger is None
            else {
                "trigger_id": trigger.trigger_id,
                "published": trigger.published,
                "message_id": trigger.message_id,
                "reason": trigger.reason,
                "decided_at": format_utc(trigger.decided_at),
                "published_at": format_utc(trigger.published_at),
                "missing": list(trigger.missing),
            }
        ),
        "pending_outbox": document["outbox"],
        "history": document["history"],
    }
