"""The status view of one gate key: what is done, missing, unknown, failed, late, and why."""

from __future__ import annotations

from typing import Any

from ..clock import format_utc
from ..codec import encode_snapshot
from ..snapshot import Snapshot
from .gate_data import GateData, encode_gate_data
from .spec import GateSpec

__all__ = ["gate_status"]

_UNDECIDED = ("waiting", "partial")


def gate_status(spec: GateSpec, snapshot: Snapshot[GateData]) -> dict[str, Any]:
    """A JSON-ready description of ``snapshot`` (the stable ``status --json`` shape)."""
    data = snapshot.data
    document = encode_snapshot(snapshot, encode_gate_data)
    profile = spec.profile(data.profile)
    trigger = data.trigger
    deadlines = []
    for tier in spec.tiers(profile):
        due = tier.due(spec.key, snapshot.key, data.first_completion_at)
        deadlines.append(
            {
                "name": tier.name,
                "due_at": format_utc(due),
                "passed": tier.name in data.deadlines_passed,
                "otherwise": tier.otherwise,
            }
        )
    upcoming = [d["due_at"] for d in deadlines if not d["passed"] and d["due_at"]]
    return {
        "gate": spec.name,
        "key": snapshot.key,
        "generation": snapshot.generation,
        "state": snapshot.state,
        "version": snapshot.version,
        "updated_at": format_utc(snapshot.updated_at),
        "profile": profile.name,
        "required": list(profile.required),
        "optional": list(profile.optional),
        "optional_quorum": profile.optional_quorum,
        "done": {name: record.summary() for name, record in data.done.items()},
        "missing": [p for p in profile.required if p not in data.done],
        "missing_optional": [p for p in profile.optional if p not in data.done],
        "unknown": {
            name: {**record.summary(), "reports": data.unknown_counts.get(name, 1)}
            for name, record in data.unknown.items()
        },
        "unknown_other": data.unknown_other,
        "failures": {name: record.summary() for name, record in data.failures.items()},
        "failure_counts": dict(data.failure_counts),
        "failed_reason": data.failed_reason,
        "late": [record.summary() for record in data.late],
        "late_dropped": data.late_dropped,
        "first_completion_at": format_utc(data.first_completion_at),
        "deadlines": deadlines,
        "due_at": min(upcoming) if upcoming and snapshot.state in _UNDECIDED else None,
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
