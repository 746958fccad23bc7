"""The consumer: one JSON-lines file every system's trigger appends to, and its counter.

A trigger is whatever the system runs once a key is complete (phaseactors' publisher, a
Temporal activity, a Celery chord callback, a DBOS step). It appends
``{"system", "key", "trigger_id", "processors", "t"}`` with one ``write`` on an ``O_APPEND``
descriptor, which Linux keeps whole across processes. ``t`` is ``time.monotonic()``: one
system-wide clock on Linux, so it compares with the senders' timestamps. No deduplication
happens here: a trigger run twice appends two lines, and the counter reports both the
distinct trigger ids per key and the raw copies.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Count", "append", "count", "read"]


def append(path: str, system: str, key: str, trigger_id: str, processors: Sequence[str]) -> None:
    """Record one trigger of ``key``; called by every system's trigger code."""
    line = json.dumps(
        {
            "system": system,
            "key": key,
            "trigger_id": trigger_id,
            "processors": sorted(processors),
            "t": time.monotonic(),
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read(path: str, system: str) -> list[dict[str, Any]]:
    """The lines ``system`` appended, in order (none if the file does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [json.loads(text) for text in handle if text.strip()]
    except FileNotFoundError:
        return []
    return [line for line in lines if line.get("system") == system]


@dataclass
class Count:
    """What the consumer saw for a set of keys."""

    first_trigger_at: dict[str, float] = field(default_factory=dict)
    trigger_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    processors: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lines: int = 0

    def histogram(self, keys: Iterable[str]) -> dict[int, int]:
        """Distinct trigger ids per key -> number of keys (0 for keys never triggered)."""
        counts = Counter(len(self.trigger_ids.get(key, ())) for key in keys)
        return dict(sorted(counts.items()))

    def copies(self) -> int:
        """Lines beyond one per distinct trigger id: a trigger run again with the same id."""
        return self.lines - sum(len(ids) for ids in self.trigger_ids.values())


def count(lines: Iterable[dict[str, Any]], keys: Iterable[str]) -> Count:
    """Fold sink lines for ``keys`` (other keys, such as the warm-up key, are ignored)."""
    wanted = set(keys)
    result = Count()
    for line in lines:
        key = line["key"]
        if key not in wanted:
            continue
        result.lines += 1
        result.trigger_ids[key].add(line["trigger_id"])
        result.processors[key].update(line["processors"])
        first = result.first_trigger_at.get(key)
        if first is None or line["t"] < first:
            result.first_trigger_at[key] = line["t"]
    return result
