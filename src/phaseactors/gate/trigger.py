"""The trigger: the one message that starts the next phase, decided once per generation.

Built by :func:`decide_trigger` from what the key knows when it enters ``complete``; its id is
``gate/key/generation``, the same in the snapshot, the outbox entry and the message
attributes, so consumers drop repeats by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from ..core.snapshot import OutboxEntry
from .data import CompletionRecord, Trigger
from .policy import Profile
from .spec import GateSpec

__all__ = ["continued", "decide_trigger", "trigger_id"]


def trigger_id(gate: str, key: str, generation: int) -> str:
    """The one trigger id of a (gate, key, generation): ``gate/key/generation``."""
    return f"{gate}/{key}/{generation}"


def continued(traceparent: str, span_of: str) -> str:
    """A ``traceparent`` in the trace of ``traceparent`` whose span id is derived from
    ``span_of`` (the same every time the step runs)."""
    trace_id = traceparent.split("-")[1]
    span_id = hashlib.sha256(span_of.encode()).hexdigest()[:16]
    return f"00-{trace_id}-{span_id}-01"


def decide_trigger(
    spec: GateSpec,
    key: str,
    generation: int,
    *,
    reason: str,
    at: datetime,
    done: Mapping[str, CompletionRecord],
    profile: Profile,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    forced_by: str | None = None,
    forced_reason: str | None = None,
) -> tuple[Trigger, OutboxEntry]:
    """The trigger decision and its outbox entry. ``correlation_id`` and ``traceparent`` are
    the deciding completion's; without them (a deadline, an operator), the latest done
    report's. The trigger continues that trace: its ``traceparent`` attribute has the same
    trace id and a span id derived from the trigger id (the step stays pure)."""
    tid = trigger_id(spec.name, key, generation)
    correlation_ids = sorted({r.correlation_id for r in done.values()})
    if correlation_id is None and done:
        correlation_id = max(done.values(), key=lambda r: r.received_at).correlation_id
    missing = [p for p in profile.required if p not in done]
    trigger = Trigger(
        trigger_id=tid,
        generation=generation,
        reason=reason,
        decided_at=at,
        correlation_id=correlation_id,
        missing=tuple(missing),
    )
    body = {
        "gate": spec.name,
        "key": key,
        spec.key.field: key,
        "generation": generation,
        "trigger_id": tid,
        "reason": reason,
        "decided_at": at.isoformat(),
        "correlation_id": correlation_id,
        "correlation_ids": correlation_ids,
        "completed": sorted(done),
        "missing": missing,
        "missing_optional": [p for p in profile.optional if p not in done],
        "profile": profile.name,
        "payload": {
            a.name: a.combine(r.payload.get(a.name) for r in done.values())
            for a in spec.aggregations
        },
    }
    if forced_by:
        body["forced_by"] = forced_by
        body["forced_reason"] = forced_reason
    attributes = {"trigger_id": tid, "gate": spec.name, "key": key}
    if correlation_id:
        attributes["correlation_id"] = correlation_id
    if traceparent is None and done:
        traced = [r for r in done.values() if r.traceparent]
        if traced:
            traceparent = max(traced, key=lambda r: r.received_at).traceparent
    if traceparent:
        attributes["traceparent"] = continued(traceparent, tid)
    entry = OutboxEntry(
        id=tid,
        topic=spec.output_topic,
        body=body,
        attributes=attributes,
        ordering_key=key,
        created_at=at,
    )
    return trigger, entry
