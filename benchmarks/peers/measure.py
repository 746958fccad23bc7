"""Turn one run (sender reports, the sink, the system's end state) into its JSON line.

Everything about exactly-once is read at the consumer (the sink), not from the system's own
counters: triggers per key are the distinct trigger ids the sink saw for the key, copies are
lines beyond one per trigger id, lost completions are the distinct completions some sender had
acknowledged that neither a trigger of the key named nor the system holds for the key.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from senders import Delivered
from sink import Count
from workload import Message

__all__ = ["Timeline", "percentile", "summarize"]


@dataclass(frozen=True)
class Timeline:
    """When things happened (``time.monotonic()``), relative to nothing: compare them."""

    released: float
    senders_done: float
    killed: float | None = None
    restarted: float | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) by linear interpolation; None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summarize(
    *,
    keys: Sequence[str],
    messages: Sequence[Message],
    delivered: Sequence[Delivered],
    seen: Count,
    recorded_untriggered: Mapping[str, set[str]],
    timeline: Timeline,
) -> dict[str, Any]:
    """The measured part of the JSON line (the runner adds names, settings and CPU)."""
    by_index = {message.index: message for message in messages}
    acked = [d for d in delivered if d.acked_at is not None]
    first_send: dict[tuple[str, str], float] = {}
    acked_pairs: dict[str, set[str]] = defaultdict(set)
    for d in delivered:
        message = by_index[d.index]
        pair = (message.key, message.processor)
        first_send[pair] = min(first_send.get(pair, d.started_at), d.started_at)
        if d.acked_at is not None:
            acked_pairs[message.key].add(message.processor)

    last_distinct: dict[str, float] = {}
    for (key, _), started in first_send.items():
        last_distinct[key] = max(last_distinct.get(key, started), started)
    latencies = sorted(
        seen.first_trigger_at[key] - last_distinct[key]
        for key in keys
        if key in seen.first_trigger_at and key in last_distinct
    )

    lost = 0
    for key in keys:
        held = seen.processors.get(key) or recorded_untriggered.get(key, set())
        lost += len(acked_pairs.get(key, set()) - held)

    late = [
        d
        for d in delivered
        if by_index[d.index].key in seen.first_trigger_at
        and d.started_at > seen.first_trigger_at[by_index[d.index].key]
    ]
    triggered_at = [seen.first_trigger_at[k] for k in keys if k in seen.first_trigger_at]
    all_triggered = len(triggered_at) == len(keys)
    last_ack = max((d.acked_at for d in acked if d.acked_at is not None), default=None)
    end = max([t for t in (last_ack, *triggered_at) if t is not None], default=None)
    wall = None if end is None else end - timeline.released
    line: dict[str, Any] = {
        "deliveries": len(acked),
        "wall_s": None if wall is None else round(wall, 3),
        "send_s": None if last_ack is None else round(last_ack - timeline.released, 3),
        "deliveries_per_s": round(len(acked) / wall, 1) if wall else None,
        "latency_p50_ms": _ms(percentile(latencies, 0.5)),
        "latency_p95_ms": _ms(percentile(latencies, 0.95)),
        "triggers_per_key": {str(n): k for n, k in seen.histogram(keys).items()},
        "trigger_copies": seen.copies(),
        "lost_completions": lost,
        "late_duplicates": len(late),
        "late_outcomes": dict(Counter(d.outcome for d in late)),
        "outcomes": dict(Counter(d.outcome for d in delivered)),
        "attempts": sum(d.attempts for d in delivered),
        "given_up": len(delivered) - len(acked),
        "keys_triggered": len(triggered_at),
    }
    if timeline.killed is not None:
        line["killed_at_s"] = round(timeline.killed - timeline.released, 3)
        done = max(triggered_at) if all_triggered else None
        line["all_triggered_after_s"] = None if done is None else round(done - timeline.released, 3)
        line["all_triggered_after_restart_s"] = (
            None
            if done is None or timeline.restarted is None
            else round(done - timeline.restarted, 3)
        )
        line["keys_needing_operator"] = len(keys) - len(triggered_at)
    return line
