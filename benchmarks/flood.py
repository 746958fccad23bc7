"""Flood: reports of processors a gate does not know, sent to one key, cost the same from the
first to the last and leave the key's document small.

Delivers ``--reports`` reports (default 10,000) of ``--names`` distinct unknown processor names
(default 50) to one key of the pipeline gate (machines/phase2_to_phase3.toml) through
``accept_message`` on SQLite, each with its own execution and message id, then the gate's 21
completions. Prints one JSON line: the median latency of the first and the last 500 reports,
the key's document size (as the SQLite store writes it) after the flood and after the trigger,
and the triggers published.

Usage (from the repository root):

    .venv/bin/python benchmarks/flood.py
    .venv/bin/python benchmarks/flood.py --reports 100000 --names 500
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime

from common import argument_parser, pipeline_gate
from phaseactors import GateActor, GateRuntime, RecordingPublisher
from phaseactors.gate.intake import accept_message
from phaseactors.stores import SqliteStore

KEY = "2025-11-29"
EVENING = datetime(2025, 11, 29, 23, 0, tzinfo=UTC)  # the game's evening: no deadline passed


def main() -> None:
    parser = argument_parser(__doc__, "Unknown-name reports to one key: latency and size.")
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--names", type=int, default=50)
    args = parser.parse_args()
    spec = pipeline_gate()
    publisher = RecordingPublisher()
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteStore(f"{directory}/flood.db")
        runtime = GateRuntime(GateActor(spec), store, publisher, clock=lambda: EVENING)

        def size() -> int:
            snapshot = runtime.load(KEY)
            assert snapshot is not None
            return len(json.dumps(runtime.actor.encode(snapshot), separators=(",", ":")))

        latencies = []
        for i in range(args.reports):
            body = {
                "processor_name": f"OtherGateProcessor{i % args.names:04d}",
                spec.key.field: KEY,
                "status": "success",
                "execution_id": f"flood-{i}",
            }
            start = time.perf_counter()
            accept_message(runtime, spec, body, message_id=f"m-{i}", source="flood")
            latencies.append(time.perf_counter() - start)
        after_flood = size()
        for name in spec.expected:
            body = {"processor_name": name, spec.key.field: KEY, "status": "success"}
            accept_message(runtime, spec, {**body, "execution_id": "e1"}, source="producer")
        snapshot = runtime.load(KEY)
        assert snapshot is not None
        window = min(500, args.reports)
        print(
            json.dumps(
                {
                    "benchmark": "flood",
                    "store": "sqlite",
                    "reports": args.reports,
                    "names": args.names,
                    "first_median_ms": round(statistics.median(latencies[:window]) * 1e3, 3),
                    "last_median_ms": round(statistics.median(latencies[-window:]) * 1e3, 3),
                    "document_bytes_after_flood": after_flood,
                    "document_bytes_after_trigger": size(),
                    "state": snapshot.state,
                    "triggers_published": len(publisher.messages),
                }
            )
        )


if __name__ == "__main__":
    main()
