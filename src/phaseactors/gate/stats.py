"""A summary of a gate's keys from the store: where they stand, how their triggers were
decided and how long that took, which deadlines passed, what failed, what was reported late
or by processors the gate does not know. What ``phaseactors stats`` prints."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from attrs import field, frozen

from ..core.snapshot import Snapshot
from .data import GateData

__all__ = ["GateStats", "summarize"]


def _counts() -> dict[str, int]:
    return {}


@frozen(kw_only=True)
class GateStats:
    """Counts over a set of keys of one gate; latencies in seconds."""

    gate: str
    keys: int = 0
    states: dict[str, int] = field(factory=_counts)
    trigger_reasons: dict[str, int] = field(factory=_counts)
    triggers_published: int = 0
    trigger_latency_p50: float | None = None
    trigger_latency_p95: float | None = None
    trigger_latency_max: float | None = None
    deadlines_passed: dict[str, int] = field(factory=_counts)
    failures: dict[str, int] = field(factory=_counts)
    completions: int = 0
    failed_reports: int = 0
    late_reports: int = 0
    unknown_reports: int = 0
    failed_publish_attempts: int = 0
    quarantined: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "keys": self.keys,
            "states": self.states,
            "trigger_reasons": self.trigger_reasons,
            "triggers_published": self.triggers_published,
            "trigger_latency_s": {
                "p50": self.trigger_latency_p50,
                "p95": self.trigger_latency_p95,
                "max": self.trigger_latency_max,
            },
            "deadlines_passed": self.deadlines_passed,
            "failures": self.failures,
            "completions": self.completions,
            "failed_reports": self.failed_reports,
            "late_reports": self.late_reports,
            "unknown_reports": self.unknown_reports,
            "failed_publish_attempts": self.failed_publish_attempts,
            "quarantined": self.quarantined,
        }


def summarize(gate: str, snapshots: Iterable[Snapshot[GateData]], quarantined: int) -> GateStats:
    """The summary of ``snapshots`` (keys of ``gate``) and ``quarantined`` messages."""
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    deadlines: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    totals = Counter[str]()
    for snapshot in snapshots:
        data = snapshot.data
        states[snapshot.state] += 1
        trigger = data.trigger
        if trigger is not None:
            reasons[trigger.reason.split(":", 1)[0]] += 1
            totals["published"] += trigger.published
            if data.first_completion_at is not None:
                latencies.append((trigger.decided_at - data.first_completion_at).total_seconds())
        deadlines.update(data.deadlines_passed)
        if snapshot.state == "failed":
            failures[data.failure_kind or "unknown"] += 1
        totals["completions"] += len(data.done)
        totals["failed"] += sum(data.failure_counts.values())
        totals["late"] += len(data.late) + data.late_dropped
        totals["unknown"] += sum(data.unknown_counts.get(n, 1) for n in data.unknown)
        totals["unknown"] += data.unknown_other
        totals["publish"] += sum(e.publish_attempts for e in snapshot.outbox)
    latencies.sort()
    return GateStats(
        gate=gate,
        keys=sum(states.values()),
        states=dict(sorted(states.items())),
        trigger_reasons=dict(sorted(reasons.items())),
        triggers_published=totals["published"],
        trigger_latency_p50=statistics.median(latencies) if latencies else None,
        trigger_latency_p95=(
            latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
        ),
        trigger_latency_max=latencies[-1] if latencies else None,
        deadlines_passed=dict(sorted(deadlines.items())),
        failures=dict(sorted(failures.items())),
        completions=totals["completions"],
        failed_reports=totals["failed"],
        late_reports=totals["late"],
        unknown_reports=totals["unknown"],
        failed_publish_attempts=totals["publish"],
        quarantined=quarantined,
    )
