"""Firestore (emulator): latency, reads and writes per completion, uncontended.

One process delivers completions one after another through ``GateRuntime.deliver`` on a
``FirestoreStore`` (with a ``RecordingPublisher``, so the figures are the store's): the
pipeline's 21-processor gate (machines/phase2_to_phase3.toml), ``--keys`` keys, round by round
(processor 1 for every key, then processor 2, ...), so consecutive deliveries go to different
keys and never contend. Then every completion of the first ``--duplicate-keys`` keys is
delivered again (a redelivery: same execution and message id). Before timing, the
``--warm-up-keys`` keys receive their 21 completions (the emulator is a JVM: it warms up).

Each delivery is timed (``time.perf_counter``) and the store's own counters
(``FirestoreStore.stats``: documents read and written) are read before and after it. One JSON
line per kind of delivery:

  first      the first completion of a key (the document is created)
  middle     completions 2..20 (read, step, update guarded by ``update_time``)
  trigger    the 21st: the commit decides the trigger; the runtime publishes it and confirms
             it in a second read-modify-write (so two commits)
  duplicate  a redelivery: one read, nothing written
  all        every first delivery (first + middle + trigger)

with p50, p95, p99, mean and max latency in ms, and reads and writes per delivery. The
contention figures (many deliveries for one key at once) come from ``contention.py``.

Usage (from the repository root; the emulator must be running):

    scripts/emulators run -- .venv/bin/python benchmarks/firestore_latency.py
    scripts/emulators run -- .venv/bin/python benchmarks/firestore_latency.py \\
        --keys 100 --store-option design=optimistic

``FIRESTORE_EMULATOR_HOST`` must be set (a benchmark never touches a real project); the
project is ``$GOOGLE_CLOUD_PROJECT`` (default ``phaseactors-bench``) and every run writes to
collections of its own.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from common import WARM_UP_KEY, argument_parser, completion, make_keys, pipeline_gate
from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    RecordingPublisher,
    open_store,
)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Samples:
    """Latencies and store operations of one kind of delivery."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.reads = 0
        self.writes = 0

    def add(self, seconds: float, reads: int, writes: int) -> None:
        self.latencies.append(seconds)
        self.reads += reads
        self.writes += writes

    def merge(self, *others: Samples) -> Samples:
        merged = Samples()
        for other in (self, *others):
            merged.latencies += other.latencies
            merged.reads += other.reads
            merged.writes += other.writes
        return merged

    def line(self) -> dict[str, Any]:
        count = len(self.latencies)
        ms = [s * 1000 for s in self.latencies]
        return {
            "deliveries": count,
            "p50_ms": round(percentile(ms, 0.50), 2),
            "p95_ms": round(percentile(ms, 0.95), 2),
            "p99_ms": round(percentile(ms, 0.99), 2),
            "mean_ms": round(statistics.fmean(ms), 2),
            "max_ms": round(max(ms), 2),
            "reads_per_delivery": round(self.reads / count, 3),
            "writes_per_delivery": round(self.writes / count, 3),
        }


def run(
    keys: int, duplicate_keys: int, warm_up_keys: int, url: str
) -> tuple[dict[str, Samples], bool]:
    spec = pipeline_gate()
    store = open_store(url)
    stats = getattr(store, "stats", None)
    if stats is None:
        raise SystemExit(f"{url}: this store has no stats counters")
    publisher = RecordingPublisher()
    runtime = GateRuntime(GateActor(spec), store, publisher)
    runtime.load(WARM_UP_KEY)  # opens the channel
    names = list(spec.expected)
    all_keys = make_keys(warm_up_keys + keys)
    print(f"warming up on {warm_up_keys} keys ...", file=sys.stderr, flush=True)
    for key in all_keys[:warm_up_keys]:  # the emulator (a JVM) and the client warm up
        for name in names:
            runtime.deliver(completion(key, name))
    publisher.messages.clear()
    key_list = all_keys[warm_up_keys:]
    samples = {kind: Samples() for kind in ("first", "middle", "trigger", "duplicate")}

    def timed(item: Completion, kind: str) -> None:
        reads, writes = stats.reads, stats.writes
        start = time.perf_counter()
        runtime.deliver(item)
        samples[kind].add(time.perf_counter() - start, stats.reads - reads, stats.writes - writes)

    try:
        for round_number, name in enumerate(names):
            kind = "first" if round_number == 0 else "middle"
            if round_number == len(names) - 1:
                kind = "trigger"
            print(f"round {round_number + 1}/{len(names)}: {name}", file=sys.stderr, flush=True)
            for key in key_list:
                timed(completion(key, name), kind)
        print("redeliveries ...", file=sys.stderr, flush=True)
        for key in key_list[:duplicate_keys]:
            for name in names:
                timed(completion(key, name), "duplicate")
        verified = len(publisher.messages) == keys and all(
            (s := runtime.load(key)) is not None
            and s.state == "triggered"
            and len(s.data.done) == len(names)
            for key in key_list
        )
    finally:
        store.close()
    return samples, verified


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser(
        __doc__, "Uncontended Firestore latency per completion; one JSON line per kind."
    )
    parser.add_argument("--keys", type=int, default=50, help="default 50 (1,050 deliveries)")
    parser.add_argument(
        "--duplicate-keys", type=int, default=10, help="keys redelivered in full (default 10)"
    )
    parser.add_argument(
        "--warm-up-keys", type=int, default=5, help="keys delivered before timing (default 5)"
    )
    parser.add_argument(
        "--store-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query option of the store URL, e.g. design=optimistic (repeatable)",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        parser.error("needs FIRESTORE_EMULATOR_HOST: run under `scripts/emulators run -- ...`")
    if args.keys < 1 or args.duplicate_keys < 0 or args.warm_up_keys < 0:
        parser.error("--keys must be positive, --duplicate-keys and --warm-up-keys not negative")
    if any("=" not in option for option in args.store_option):
        parser.error("--store-option takes KEY=VALUE")
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "phaseactors-bench")
    options = [("prefix", f"bench-{uuid.uuid4().hex[:10]}-")]
    options += [(k, v) for k, _, v in (o.partition("=") for o in args.store_option)]
    url = f"firestore://{project}?{urlencode(options)}"
    samples, verified = run(args.keys, min(args.duplicate_keys, args.keys), args.warm_up_keys, url)
    design = dict(options).get("design", "combining")
    kinds = dict(samples)
    kinds["all"] = samples["first"].merge(samples["middle"], samples["trigger"])
    for kind in ("first", "middle", "trigger", "all", "duplicate"):
        if not kinds[kind].latencies:
            continue
        line: dict[str, Any] = {
            "benchmark": "firestore_latency",
            "store": "firestore-emulator",
            "design": design,
            "kind": kind,
            "keys": args.keys,
            **kinds[kind].line(),
            "verified": verified,
            "python": platform.python_version(),
            "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine
        }
        print(json.dumps(line), flush=True)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
