"""Console: how long the server takes to build each page, and how big it is.

Fills a SQLite file with ``--days`` game dates (default 1,000) across the three pipeline gates
(``phaseactors.testing.sample``: most triggered, the newest on their way, a few failed, forced,
rearmed), then times the console's pages in process (Flask's test client: the server's work,
no network), each ``--repeat`` times after one warm-up, and reports the median and the
slowest wall time and the median CPU time of the process (less sensitive to a busy
machine). ``cold`` pages are served by a console opened on the file just before (no snapshot
decoded, no template compiled yet), as after a restart. Then one key of a 1,000-processor
gate (990 done, 10 missing): its page, its JSON and its state diagram. Prints one JSON line
per page, then the load average.

Usage (from the repository root, with the console extra):

    .venv/bin/python benchmarks/console.py
    .venv/bin/python benchmarks/console.py --days 200 --repeat 50 --db /tmp/console.db
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import Flask

from common import argument_parser, bench_spec, completion
from phaseactors import GateActor, GateRuntime, RecordingPublisher, load_spec
from phaseactors.console.app import create_app
from phaseactors.console.context import ConsoleOptions
from phaseactors.console.lanes import GateLane
from phaseactors.stores import SqliteStore
from phaseactors.testing.sample import SampleClock, fill_sample

GATES = ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
END = date(2025, 12, 10)
NOW = datetime(2025, 12, 11, 14, 0, tzinfo=UTC)


def console(path: Path) -> tuple[Flask, SqliteStore]:
    """A console over the three gates of the file at ``path``, at the sample's "now"."""
    store = SqliteStore(path)
    clock = SampleClock(NOW)
    runtimes = [
        GateRuntime(GateActor(load_spec(name)), store, RecordingPublisher(), clock=clock)
        for name in GATES
    ]
    return create_app([GateLane(r) for r in runtimes], store, ConsoleOptions(clock=clock)), store


def fill(path: Path, days: int) -> float:
    store = SqliteStore(path)
    clock = SampleClock(NOW)
    runtimes = [
        GateRuntime(GateActor(load_spec(name)), store, RecordingPublisher(), clock=clock)
        for name in GATES
    ]
    started = time.perf_counter()
    fill_sample(runtimes, clock, days=days, end=END)
    store.close()
    return time.perf_counter() - started


def timed(get: Callable[[], tuple[int, int]], repeat: int) -> dict[str, object]:
    get()  # warm-up: templates compiled, snapshots decoded once
    times, cpu, size = [], [], 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        status, size = get()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert status == 200, status
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
        "bytes": size,
    }


def getter(app: Flask, url: str) -> Callable[[], tuple[int, int]]:
    client = app.test_client()

    def get() -> tuple[int, int]:
        answer = client.get(url)
        return answer.status_code, len(answer.data)

    return get


def big_gate(directory: Path) -> tuple[Flask, str]:
    spec = bench_spec(1000, name="bench1000")
    store = SqliteStore(directory / "big.db")
    clock = SampleClock(NOW - timedelta(hours=3))
    runtime = GateRuntime(GateActor(spec), store, RecordingPublisher(), clock=clock)
    key = "2025-12-10"
    for name in spec.required[:990]:
        clock.now += timedelta(seconds=7)
        runtime.deliver(completion(key, name))
    app = create_app([GateLane(runtime)], store, ConsoleOptions(clock=SampleClock(NOW)))
    return app, f"/gates/{spec.name}/keys/{key}"


def main() -> None:
    parser = argument_parser(__doc__, "The console's pages: server time and size.")
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", type=Path, default=None, help="reuse (or make) this SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phaseactors-console-bench-") as scratch:
        path = args.db or Path(scratch) / "console.db"
        if not path.exists():
            seconds = fill(path, args.days)
            print(
                json.dumps({"filled": str(path), "days": args.days, "seconds": round(seconds, 1)})
            )
        app, store = console(path)
        grid = json.loads(app.test_client().get("/?format=json&limit=1000").data)
        keys = grid["keys"]
        middle = keys[len(keys) // 2]
        pages = {
            "grid (60 rows)": "/",
            "grid (60 rows) JSON": "/?format=json",
            "grid, an older page": f"/?before={middle}",
            "grid (1,000 rows)": "/?limit=1000",
            "grid (1,000 rows) JSON": "/?limit=1000&format=json",
            "grid, failed only": "/?state=failed",
            "key page (21 processors)": f"/gates/phase2_to_phase3/keys/{keys[1]}",
            "key JSON (21 processors)": f"/gates/phase2_to_phase3/keys/{keys[1]}?format=json",
            "quarantine": "/quarantine",
        }
        for name, url in pages.items():
            print(json.dumps({"page": name, "url": url, **timed(getter(app, url), args.repeat)}))
        store.close()
        cold = []
        for _ in range(5):
            fresh, fresh_store = console(path)
            started = time.perf_counter()
            answer = fresh.test_client().get("/")
            cold.append(time.perf_counter() - started)
            assert answer.status_code == 200
            fresh_store.close()
        print(
            json.dumps(
                {
                    "page": "grid (60 rows), cold",
                    "url": "/",
                    "median_ms": round(statistics.median(cold) * 1000, 1),
                    "max_ms": round(max(cold) * 1000, 1),
                    "bytes": len(answer.data),
                }
            )
        )
        big, url = big_gate(Path(scratch))
        for name, suffix in (
            ("key page (1,000 processors)", ""),
            ("key JSON (1,000 processors)", "?format=json"),
            ("state diagram SVG (1,000 processors)", "/diagram.svg"),
        ):
            repeat = args.repeat if "diagram" not in name else max(3, args.repeat // 5)
            print(
                json.dumps(
                    {"page": name, "url": url + suffix, **timed(getter(big, url + suffix), repeat)}
                )
            )
        stored = sum(len(gate["keys"]) for gate in grid["gates"])
    print(json.dumps({"dates": len(keys), "keys": stored, "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
