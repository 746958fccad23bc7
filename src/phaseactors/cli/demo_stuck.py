"""``phaseactors demo --scenario stuck``: processors that never report, and the sweeper.

Two game dates of the Phase 2 gate on a simulated clock (time is data: every event carries
it). One key gets every required processor but too few optional ones: the 30-minute tier
passes unmet, the two-hour tier triggers it with the missing list. The other lacks three
required processors: the final deadline (10:30 New York time the next morning) fails it.
Sweeps run at each deadline and once more after, to show each fires exactly once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..errors import UsageError
from ..gate.actor import GateActor
from ..gate.operations import GateRuntime
from ..gate.producer import parse_completion
from ..gate.spec import GateSpec
from ..gate.status import gate_status
from ..publishers import open_publisher
from ..stores import open_store
from .common import emit_json
from .render import render_history

KEYS = ("2025-12-01", "2025-12-02")


class SimulatedClock:
    """The scenario's clock: moved explicitly, never read from the machine."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_stuck(args: argparse.Namespace, spec: GateSpec, store_url: str, publisher_url: str) -> int:
    say: Callable[[str], None] = (lambda _: None) if args.json else print
    if len(spec.required) < 4 or not spec.deadlines:
        raise UsageError(
            f"the stuck scenario needs a gate with deadlines and 4 required processors;"
            f" {spec.name} has not: try --gate phase2_to_phase3"
        )
    half = len(spec.optional) // 2
    plans = {  # who reports for each key; each key's processors run at 23:00 on its date
        KEYS[0]: list(spec.required) + list(spec.optional[:half]),
        KEYS[1]: list(spec.required[:-3]) + list(spec.optional),
    }
    starts = {
        key: datetime.combine(date.fromisoformat(key), time(23, 0), tzinfo=spec.key.tz)
        for key in KEYS
    }
    timeline: list[tuple[datetime, str, str]] = []
    for key, begun in starts.items():
        timeline.append((begun, "deliver", key))
        for tier in spec.deadlines:
            due = tier.due(spec.key, key, begun.astimezone(UTC))
            assert due is not None
            timeline.append((due + timedelta(minutes=1), "sweep", tier.name))
    timeline.append((max(t for t, _, _ in timeline) + timedelta(hours=1), "sweep", "again"))

    clock = SimulatedClock(min(starts.values()))
    runtime = GateRuntime(
        GateActor(spec), open_store(store_url), open_publisher(publisher_url), clock=clock
    )
    say(f"stuck scenario on {spec.name}: {', '.join(KEYS)} on a simulated clock")
    published: dict[str, list[str]] = {key: [] for key in KEYS}
    for when, action, what in sorted(timeline):
        clock.now = when.astimezone(UTC)
        local = when.astimezone(spec.key.tz).strftime("%a %d %b %H:%M %Z")
        if action == "deliver":
            _deliver(runtime, spec, what, plans[what])
            missing = [p for p in spec.expected if p not in plans[what]]
            say(
                f"\n{local}: {what}: {len(plans[what])} of {len(spec.expected)} processors"
                f" report; never: {', '.join(missing)}"
            )
            continue
        report = runtime.sweep(KEYS)
        for message_id in report.published:
            owner = _key_of(runtime, message_id)
            if owner is not None:  # a trigger, not an announcement or an alert
                published[owner].append(message_id)
        say(f"\n{local}: sweep ({what}) published {len(report.published)}")
        for key in KEYS:
            if runtime.load(key) is not None:
                say(f"  {key}: {_describe(spec, runtime, key)}")

    summary = _summary(spec, runtime, published)
    if args.json:
        emit_json(summary)
    else:
        for key in KEYS:
            print(f"\nhistory of {key}:")
            print(render_history(_load(runtime, key).history))
    return 0 if all(len(p) <= 1 for p in published.values()) else 1


def _deliver(runtime: GateRuntime, spec: GateSpec, key: str, names: list[str]) -> None:
    for name in names:
        body = {
            "processor_name": name,
            spec.key.field: key,
            "status": "success",
            "execution_id": f"stuck-{key}-{name}",
        }
        runtime.deliver(parse_completion(body, spec.key.field))


def _load(runtime: GateRuntime, key: str) -> Any:
    snapshot = runtime.load(key)
    assert snapshot is not None
    return snapshot


def _key_of(runtime: GateRuntime, message_id: str) -> str | None:
    """The key whose trigger ``message_id`` is, or None for any other message."""
    for key in KEYS:
        snapshot = runtime.load(key)
        trigger = snapshot.data.trigger if snapshot is not None else None
        if trigger is not None and trigger.message_id == message_id:
            return key
    return None


def _describe(spec: GateSpec, runtime: GateRuntime, key: str) -> str:
    status = gate_status(spec, _load(runtime, key))
    passed = [d.name for d in status.deadlines if d.passed]
    text = status.state
    if status.trigger:
        text += f" ({status.trigger.reason}; missing {list(status.missing_optional)})"
    elif status.failed_reason:
        text += f" ({status.failed_reason})"
    return f"{text}; deadlines passed: {', '.join(passed) or 'none'}"


def _summary(
    spec: GateSpec, runtime: GateRuntime, published: dict[str, list[str]]
) -> dict[str, Any]:
    keys = {}
    for key in KEYS:
        status = gate_status(spec, _load(runtime, key))
        keys[key] = {
            "state": status.state,
            "reason": status.trigger.reason if status.trigger else status.failed_reason,
            "missing": list(status.missing),
            "missing_optional": list(status.missing_optional),
            "deadlines_passed": [d.name for d in status.deadlines if d.passed],
            "triggers_published": len(published[key]),
        }
    return {"gate": spec.name, "scenario": "stuck", "keys": keys}
