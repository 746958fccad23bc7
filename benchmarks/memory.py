"""Memory: RSS with 10,000 keys in the memory store; snapshot sizes against Firestore's limits.

Two parts, one JSON line per measurement:

rss
  In a fresh interpreter (this script re-run as a child): the RSS after imports and set-up,
  then ``--keys`` keys (default 10,000) x 21 completions of the pipeline gate
  (machines/phase2_to_phase3.toml) delivered through ``GateRuntime`` + ``MemoryStore``, completions
  built one at a time so that only the store holds memory; peak RSS (``getrusage``
  ``ru_maxrss``), RSS at the end (``/proc/self/statm``) and bytes per key.

sizes
  The snapshot of one key of a gate with N required processors (default 21, 200, 1,000)
  once every processor reported, with realistic values (execution and correlation ids are
  UUIDs, Pub/Sub-style numeric message ids, dataset-qualified output tables, record counts),
  and after every processor ran again late once and twice (a rerun after the trigger: a new
  execution id, recorded in ``late``, which keeps the most recent MAX_LATE_RECORDS and counts
  the others). A redelivery (same ids) changes nothing: it is checked.
  Measured in two states: ``complete`` (the commit that decides the trigger: the trigger
  message, listing every processor and correlation id, is still in the outbox; the largest
  the document gets without reruns) and ``triggered`` (after the confirming commit, and
  after the reruns: the largest with reruns). Per snapshot:

    json_bytes       ``json.dumps(actor.encode(snapshot))`` as the SQLite store writes it
    firestore_bytes  the document as ``FirestoreStore`` writes it, sized by Firestore's storage
                     size rules: strings UTF-8 bytes + 1, integers, floats and timestamps 8,
                     booleans and null 1, maps and arrays the sum of their parts, plus the
                     document name (collection and key + 1 each, + 16) and 32 bytes
    index_entries    single-field index entries under Firestore's automatic indexing, were
                     the snapshot's fields not exempt (stores/firestore.indexes.json exempts
                     data, seen, outbox and history, leaving a handful): 2 (ascending,
                     descending) per scalar field or map subfield at any depth, 1 per distinct
                     element of an array (array-contains), + 1 for the (state, updated_at)
                     composite index

  Firestore's limits: 1 MiB (1,048,576 bytes) per document and 40,000 index entries per
  document. Sizes grow linearly with N; the ``boundary`` lines give the smallest N at which
  each measure of the largest document crosses its limit (solved from N = 200 and 1,000,
  then checked by building the snapshots at that N and one below).

Usage (from the repository root):

    .venv/bin/python benchmarks/memory.py                  # rss and sizes (about 2.5 minutes)
    .venv/bin/python benchmarks/memory.py --part sizes --n 21 --n 200 --n 1000
    .venv/bin/python benchmarks/memory.py --part rss --keys 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from common import PIPELINE_GATE, WARM_UP_KEY, argument_parser, bench_spec, completion, make_keys
from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    GateSpec,
    MemoryStore,
    RecordingPublisher,
    Snapshot,
    load_spec,
)
from phaseactors.limits import MAX_LATE_RECORDS

KEY = "2025-11-29"
MIB = 1_048_576
INDEX_ENTRY_LIMIT = 40_000
COLLECTION_PREFIX = "phaseactors."  # FirestoreStore's default prefix


def emit(line: dict[str, Any]) -> None:
    line.setdefault("python", platform.python_version())
    print(json.dumps(line), flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- rss -------------------------------------------------------------------------------------


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_child(keys: int) -> dict[str, Any]:
    """Runs in the fresh interpreter: fill the memory store, report RSS."""
    spec = load_spec(PIPELINE_GATE)
    runtime = GateRuntime(GateActor(spec), MemoryStore(), RecordingPublisher())
    runtime.deliver(completion(WARM_UP_KEY, spec.expected[0]))
    before = current_rss()
    key_list = make_keys(keys)
    start = time.perf_counter()
    for name in spec.expected:
        for key in key_list:
            runtime.deliver(completion(key, name))
    seconds = time.perf_counter() - start
    after = current_rss()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    triggered = sum(
        1 for key in key_list if (s := runtime.load(key)) is not None and s.state == "triggered"
    )
    return {
        "benchmark": "memory",
        "part": "rss",
        "store": "memory",
        "gate": spec.name,
        "keys": keys,
        "completions": keys * len(spec.expected),
        "keys_triggered": triggered,
        "rss_before_mib": round(before / MIB, 1),
        "rss_after_mib": round(after / MIB, 1),
        "peak_rss_mib": round(peak / MIB, 1),
        "bytes_per_key": round((after - before) / keys),
        "fill_s": round(seconds, 1),
    }


def measure_rss(keys: int) -> None:
    progress(f"rss: {keys} keys x 21 completions in a fresh interpreter ...")
    completed = subprocess.run(
        [sys.executable, __file__, "--child-rss", str(keys)],
        check=True,
        capture_output=True,
        text=True,
    )
    line = json.loads(completed.stdout.strip().splitlines()[-1])
    line["loadavg_1m"] = round(os.getloadavg()[0], 2)
    emit(line)


# -- snapshot sizes --------------------------------------------------------------------------


def sized_spec(n: int) -> GateSpec:
    """``n`` required processors with names as long as the pipeline's (about 20 characters)."""
    return bench_spec(
        n, name="phase_bench", processor="raw_processor_{:05d}", output="phase-bench-trigger"
    )


def realistic_completions(names: Sequence[str], run: int, seed: int) -> Iterator[Completion]:
    """One completion per processor as the pipeline's producers send them."""
    rng = random.Random(seed * 1_000_003 + run)
    reported = datetime(2025, 11, 30, 6, 0, tzinfo=UTC)
    for i, name in enumerate(names):
        execution_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        yield Completion(
            processor=name,
            key=KEY,
            status="success",
            execution_id=execution_id,
            message_id=str(rng.randrange(10**16, 10**17)),
            output_table=f"nba_raw.{name}",
            record_count=rng.randrange(10, 5000),
            reported_at=reported + timedelta(seconds=i),
        )


class Capture(RecordingPublisher):
    """Records, and keeps the snapshot of the key as it was when its trigger was published
    (state ``complete``, the trigger still in the outbox)."""

    def __init__(self, runtime_ref: list[GateRuntime]) -> None:
        super().__init__()
        self.runtime_ref = runtime_ref
        self.complete: Snapshot[Any] | None = None

    def publish(self, entry: Any) -> str:
        self.complete = self.runtime_ref[0].load(KEY)
        return super().publish(entry)


def build(spec: GateSpec, reruns: int) -> tuple[GateRuntime, Snapshot[Any], Snapshot[Any]]:
    """Every processor reports, then reruns late ``reruns`` times; (runtime, complete,
    final)."""
    holder: list[GateRuntime] = []
    publisher = Capture(holder)
    runtime = GateRuntime(GateActor(spec), MemoryStore(), publisher)
    holder.append(runtime)
    for run in range(reruns + 1):
        for item in realistic_completions(spec.expected, run, seed=len(spec.expected)):
            runtime.deliver(item)
    final = runtime.load(KEY)
    assert publisher.complete is not None
    assert final is not None
    assert final.state == "triggered"
    assert len(final.data.done) == len(spec.expected)
    late = reruns * len(spec.expected)  # a key keeps the most recent, counts the others
    assert len(final.data.late) == min(late, MAX_LATE_RECORDS)
    assert len(final.data.late) + final.data.late_dropped == late
    return runtime, publisher.complete, final


def firestore_value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode()) + 1
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return 8
    if isinstance(value, dict):
        return sum(len(k.encode()) + 1 + firestore_value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(firestore_value_size(v) for v in value)
    raise TypeError(f"no Firestore size for {type(value).__name__}")


def index_entries(value: Any) -> int:
    """Automatic single-field index entries of one field's value."""
    if isinstance(value, dict):
        return sum(index_entries(v) for v in value.values())
    if isinstance(value, list | tuple):
        return len({json.dumps(v, sort_keys=True, default=str) for v in value})
    return 2


def firestore_document(actor: GateActor, snapshot: Snapshot[Any]) -> dict[str, Any]:
    """The fields ``FirestoreStore`` writes (see ``FirestoreStore._document``)."""
    document = actor.encode(snapshot)
    document["pending_outbox"] = len(snapshot.outbox)
    document["due_at"] = actor.due_at(snapshot)
    document["committed_at"] = datetime.now(UTC)  # a server timestamp: 8 bytes
    return document


def measures(actor: GateActor, snapshot: Snapshot[Any]) -> dict[str, int]:
    document = firestore_document(actor, snapshot)
    name = (len(COLLECTION_PREFIX + actor.name) + 1) + (len(snapshot.key) + 1) + 16
    return {
        "json_bytes": len(
            json.dumps(actor.encode(snapshot), separators=(",", ":"), sort_keys=True).encode()
        ),
        "firestore_bytes": name + firestore_value_size(document) + 32,
        "index_entries": index_entries(document) + 1,
    }


def size_line(
    spec: GateSpec, label: str, reruns: int, state: str, snapshot: Snapshot[Any]
) -> dict[str, Any]:
    values = measures(GateActor(spec), snapshot)
    return {
        "benchmark": "memory",
        "part": "sizes",
        "gate": label,
        "processors": len(spec.expected),
        "late_reruns": reruns,
        "state": state,
        **values,
        "fits_1mib": values["firestore_bytes"] <= MIB,
        "fits_40000_index_entries": values["index_entries"] <= INDEX_ENTRY_LIMIT,
        "seen_tokens": len(snapshot.seen),
        "late_records": len(snapshot.data.late),
    }


def largest(spec: GateSpec, reruns: int) -> Snapshot[Any]:
    """The largest document a key reaches: at the trigger decision without reruns, after the
    last late rerun otherwise."""
    _, complete, final = build(spec, reruns)
    return complete if reruns == 0 else final


def measure_sizes(counts: Sequence[int], reruns_list: Sequence[int]) -> None:
    lines: dict[tuple[int, int], dict[str, Any]] = {}  # the largest state per (n, reruns)
    for n in counts:
        spec = sized_spec(n)
        for reruns in reruns_list:
            progress(f"sizes: {n} processors, {reruns} late rerun(s) ...")
            runtime, complete, final = build(spec, reruns)
            before = runtime.load(KEY)
            for item in realistic_completions(spec.expected, reruns, seed=n):  # redeliveries
                runtime.deliver(item)
            assert runtime.load(KEY) is before, "a redelivery changed the snapshot"
            if reruns == 0:  # the trigger decision comes before any rerun
                lines[(n, reruns)] = size_line(spec, "synthetic", reruns, "complete", complete)
                emit(lines[(n, reruns)])
            line = size_line(spec, "synthetic", reruns, "triggered", final)
            lines.setdefault((n, reruns), line)
            emit(line)
    real = load_spec(PIPELINE_GATE)
    _, complete, final = build(real, 0)
    for state, snapshot in (("complete", complete), ("triggered", final)):
        emit(size_line(real, real.name, 0, state, snapshot))
    boundaries(lines, counts, reruns_list)


def boundaries(
    lines: dict[tuple[int, int], dict[str, Any]],
    counts: Sequence[int],
    reruns_list: Sequence[int],
) -> None:
    """Smallest N whose largest document crosses each limit, from the linear fit of the two
    largest measured gates, checked by building the snapshots at N and N - 1."""
    low, high = sorted(counts)[-2:]
    if low == high:
        return
    limits = {"firestore_bytes": MIB, "json_bytes": MIB, "index_entries": INDEX_ENTRY_LIMIT}
    for reruns in reruns_list:
        for measure, limit in limits.items():
            a, b = lines[(low, reruns)][measure], lines[(high, reruns)][measure]
            per_processor = (b - a) / (high - low)
            predicted = math.floor((limit - (a - per_processor * low)) / per_processor) + 1
            progress(f"boundary: {measure}, {reruns} rerun(s): checking N = {predicted} ...")
            at, below = (
                measures(GateActor(sized_spec(n)), largest(sized_spec(n), reruns))[measure]
                for n in (predicted, predicted - 1)
            )
            emit(
                {
                    "benchmark": "memory",
                    "part": "boundary",
                    "measure": measure,
                    "limit": limit,
                    "late_reruns": reruns,
                    "state": lines[(high, reruns)]["state"],
                    "per_processor": round(per_processor, 1),
                    "first_n_over_limit": predicted,
                    "value_at_n": at,
                    "value_at_n_minus_1": below,
                    "checked": at > limit >= below,
                }
            )


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser(
        __doc__, "Memory store RSS and snapshot sizes vs Firestore limits; JSON lines."
    )
    parser.add_argument("--part", choices=("rss", "sizes", "all"), default="all")
    parser.add_argument("--keys", type=int, default=10_000, help="rss (default 10000)")
    parser.add_argument(
        "--n", type=int, action="append", help="sizes: processors (default 21, 200, 1000)"
    )
    parser.add_argument(
        "--reruns", type=int, action="append", help="sizes: late reruns (default 0, 1, 2)"
    )
    parser.add_argument("--child-rss", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_rss is not None:
        print(json.dumps(rss_child(args.child_rss)))
        return 0
    if args.keys < 1 or any(n < 1 for n in args.n or []):
        parser.error("counts must be positive")
    if args.part in ("sizes", "all"):
        measure_sizes(sorted(set(args.n or [21, 200, 1000])), args.reruns or [0, 1, 2])
    if args.part in ("rss", "all"):
        measure_rss(args.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
