"""Peers: phaseactors side by side with Temporal, Celery and DBOS on one fan-in, in one run.

The workload is the same for every system (``workload.py``): the Phase 2 -> Phase 3 gate's 21
processors for K old game dates, every completion delivered 3 times with the same business id,
one seeded shuffle dealt round-robin to 8 sender processes that a barrier releases together.
Each system's trigger appends to one JSON-lines sink (``sink.py``) and the counter reads it, so
exactly-once is measured at the consumer. The script starts and stops every server itself, on
127.0.0.1, in a scratch directory of its own.

Per system and scenario it prints one JSON line (stdout), then the tables (stderr):

  normal  the workload; then it waits until every key triggered (or ``--settle`` s passed)
          and ``--linger`` s more, for triggers that come late
  crash   the same workload on fresh servers; once half of the deliveries are acknowledged,
          the deciding component is killed with SIGKILL and started again 2 s later, from what
          it persisted; senders deliver again whatever was not acknowledged

Systems (``--systems``, comma-separated; ``default``: every row but the two marked slow;
``all``):

  phaseactors-sqlite      2 handler processes on one SQLite file (synchronous=NORMAL)
  phaseactors-sqlite-full the same with synchronous=FULL (an fsync per commit, as the
                          SQLite files of the Temporal and DBOS rows do by default)
  phaseactors-firestore   2 handler processes on the Firestore emulator (slow; not in the
                          default set; needs scripts/emulators run -- ...)
  temporal-sqlite         dev server with --db-filename, REJECT_DUPLICATE id reuse
  temporal-memory         dev server without --db-filename, REJECT_DUPLICATE
  temporal-default-reuse  dev server in memory, the default id reuse policy (ALLOW_DUPLICATE)
  temporal-default-reuse-sqlite  the same with --db-filename (slow; not in the default set)
  celery-redis            one chord per key; redis-server with AOF everysec
  dbos-sqlite             one workflow per key on a SQLite system database

Usage (from the repository root, after pip install -e '.[dev,gcp,peers]' and
benchmarks/peers/setup-peers):

    .venv/bin/python benchmarks/peers/run.py --keys 100
    .venv/bin/python benchmarks/peers/run.py --keys 20 --systems temporal-sqlite,celery-redis
    .venv/bin/python benchmarks/peers/run.py --keys 1000 --scenarios normal > peers.jsonl
    .venv/bin/python benchmarks/peers/run.py --render peers.jsonl
    scripts/emulators run -- .venv/bin/python benchmarks/peers/run.py --keys 100 \\
        --systems all
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py

from common import argument_parser

SYSTEMS = {
    "phaseactors-sqlite": "adapter_phaseactors:PhaseactorsSqlite",
    "phaseactors-sqlite-full": "adapter_phaseactors:PhaseactorsSqliteFull",
    "phaseactors-firestore": "adapter_phaseactors:PhaseactorsFirestore",
    "temporal-sqlite": "adapter_temporal:TemporalSqlite",
    "temporal-memory": "adapter_temporal:TemporalMemory",
    "temporal-default-reuse": "adapter_temporal:TemporalDefaultReuse",
    "temporal-default-reuse-sqlite": "adapter_temporal:TemporalDefaultReuseSqlite",
    "celery-redis": "adapter_celery:CelerySystem",
    "dbos-sqlite": "adapter_dbos:DbosSystem",
}
OPTIONAL = {"phaseactors-firestore", "temporal-default-reuse-sqlite"}
SENDERS = 8
COPIES = 3
SEED = 1
SENDER_BUDGET_S = 900.0
RESTART_AFTER_S = 2.0
TICK_EVERY_S = 5.0


def say(text: str) -> None:
    print(f"peers: {text}", file=sys.stderr, flush=True)


def load_system(name: str) -> Any:
    module, _, cls = SYSTEMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def warm_up(system: Any, params: dict[str, Any]) -> None:
    """Deliver one key once, before timing, and wait for its trigger."""
    import sink
    from senders import deliver_all, load_sender
    from workload import WARM_UP_KEY
    from workload import warm_up as warm_up_messages

    sender = load_sender(system.sender, {**params, "sender_index": 0})
    try:
        result = deliver_all(sender, warm_up_messages(), budget_s=120)
    finally:
        sender.close()
    if any(d.acked_at is None for d in result.delivered):
        raise RuntimeError(f"warm-up deliveries not acknowledged: {dict(result.errors)}")
    deadline = time.monotonic() + 120
    while not sink.count(sink.read(system.sink, system.label), [WARM_UP_KEY]).lines:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up key never triggered")
        time.sleep(0.05)


def run_one(name: str, scenario: str, keys: int, scratch: Path, args: Any) -> dict[str, Any]:
    """Start ``name``'s servers, run the workload (crashing it if asked), measure, stop."""
    import sink
    from measure import Timeline, summarize
    from senders import SenderResult, sender_main
    from workload import WARM_UP_KEY, deal, plan

    workdir = scratch / f"{name}-{scenario}"
    workdir.mkdir()
    sink_path = str(scratch / "sink.jsonl")
    label = f"{name}/{scenario}/{keys}"
    system = load_system(name)(workdir, sink_path, label)
    key_list, messages = plan(keys, COPIES, SEED)
    line: dict[str, Any] = {"benchmark": "peers", "system": name, "scenario": scenario}
    line |= {"keys": keys, "senders": SENDERS, "copies": COPIES, "seed": SEED}
    context = multiprocessing.get_context("spawn")
    workers: list[Any] = []
    try:
        system.start()
        system.prepare([*key_list, WARM_UP_KEY])
        params = {**system.sender_params(), "sink": sink_path, "system": label}
        warm_up(system, params)

        barrier = context.Barrier(SENDERS + 1)
        progress = context.Value("i", 0)
        queue = context.Queue()
        for i, share in enumerate(deal(messages, SENDERS)):
            worker = context.Process(
                target=sender_main,
                args=(
                    system.sender,
                    {**params, "sender_index": i},
                    share,
                    barrier,
                    progress,
                    queue,
                    i,
                    SENDER_BUDGET_S,
                ),
            )
            worker.start()
            workers.append(worker)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(600)
        released = time.monotonic()
        cpu_start = {c.name: c.cpu() for c in system.components}

        results: list[SenderResult | None] = [None] * SENDERS
        killed = restarted = None
        last_tick = 0.0
        while any(r is None for r in results) or (killed is not None and restarted is None):
            with contextlib.suppress(Exception):
                index, result = queue.get(timeout=0.05)
                results[index] = result
            if scenario == "crash" and killed is None and progress.value >= len(messages) // 2:
                line["killed"] = [c.name for c in system.deciding()]
                for component in system.deciding():
                    component.kill9()
                killed = time.monotonic()
                say(f"{name}: killed {', '.join(line['killed'])} after {progress.value} acks")
            if (
                killed is not None
                and restarted is None
                and time.monotonic() - killed >= RESTART_AFTER_S
            ):
                system.restart()
                restarted = time.monotonic()
                say(f"{name}: restarted after {restarted - killed:.1f} s")
            if restarted is not None and time.monotonic() - last_tick > TICK_EVERY_S:
                with contextlib.suppress(Exception):
                    system.tick()
                last_tick = time.monotonic()
        senders_done = max(
            (d.acked_at for r in results if r is not None for d in r.delivered if d.acked_at),
            default=time.monotonic(),
        )
        setup_errors = [r.setup_error for r in results if r is not None and r.setup_error]
        if setup_errors:
            raise RuntimeError(f"a sender failed: {setup_errors[0]}")

        # Wait for every key's trigger, then linger for triggers that come late.
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            seen = sink.count(sink.read(sink_path, label), key_list)
            if len(seen.first_trigger_at) == len(key_list):
                break
            if scenario == "crash" and time.monotonic() - last_tick > TICK_EVERY_S:
                with contextlib.suppress(Exception):
                    system.tick()
                last_tick = time.monotonic()
            time.sleep(0.05)
        cpu_end = {c.name: c.cpu() for c in system.components}
        time.sleep(args.linger)
        seen = sink.count(sink.read(sink_path, label), key_list)
        untriggered = [k for k in key_list if k not in seen.first_trigger_at]
        delivered = [d for r in results if r is not None for d in r.delivered]
        line |= summarize(
            keys=key_list,
            messages=messages,
            delivered=delivered,
            seen=seen,
            recorded_untriggered=system.recorded(untriggered) if untriggered else {},
            timeline=Timeline(released, senders_done, killed, restarted),
        )
        sender_cpu = sum(r.cpu_s for r in results if r is not None)
        errors: Counter[str] = Counter()
        for r in results:
            if r is not None:
                errors.update(r.errors)
        component_cpu = {name: cpu_end[name] - cpu_start[name] for name in cpu_end}
        system_cpu = sum(component_cpu.values())
        n = max(line["deliveries"], 1)
        line |= {
            "cpu_ms_per_delivery": round((system_cpu + sender_cpu) * 1000 / n, 3),
            "system_cpu_ms_per_delivery": round(system_cpu * 1000 / n, 3),
            "sender_cpu_ms_per_delivery": round(sender_cpu * 1000 / n, 3),
            "component_cpu_s": {name: round(v, 2) for name, v in component_cpu.items()},
            "sender_cpu_s": round(sender_cpu, 2),
            "server_rss_mib": round(system.rss(), 1),
            "leftovers": system.leftovers(key_list),
            "sender_errors": dict(errors),
        }
        external = system.external_rss()
        if external is not None:
            line["external_server_rss_mib"] = round(external, 1)
        if untriggered:
            line["untriggered_keys"] = untriggered[:10]
    except Exception as exc:
        line["error"] = f"{type(exc).__name__}: {exc}"
        say(f"{name}/{scenario}: {traceback.format_exc()}")
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
        with contextlib.suppress(Exception):
            line["operator_command"] = system.operator_command()
        try:
            system.stop()
        except Exception:
            say(f"{name}: stopping: {traceback.format_exc()}")
    line |= {
        "durability": system.durability,
        "dedup": system.dedup,
        "versions": system.versions(),
        "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    return line


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = argument_parser(__doc__, "Peers on one fan-in workload; one JSON line per run.")
    parser.add_argument("--keys", default="100", help="comma-separated K values (default 100)")
    parser.add_argument("--systems", default="default", help="comma-separated, default or all")
    parser.add_argument(
        "--scenarios", default="normal,crash", help="normal, crash or both (default)"
    )
    parser.add_argument("--settle", type=float, default=60.0, help="s to wait for triggers")
    parser.add_argument("--linger", type=float, default=3.0, help="s to wait after the last")
    parser.add_argument("--dir", help="scratch directory parent (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--render", metavar="JSONL", help="only print the tables of a file")
    args = parser.parse_args(argv)
    if args.systems == "default":
        args.systems = [s for s in SYSTEMS if s not in OPTIONAL]
    elif args.systems == "all":
        args.systems = list(SYSTEMS)
    else:
        args.systems = [s for s in args.systems.split(",") if s]
        unknown = sorted(set(args.systems) - set(SYSTEMS))
        if unknown:
            parser.error(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if set(args.scenarios) - {"normal", "crash"}:
        parser.error("--scenarios: normal, crash")
    args.keys = [int(k) for k in args.keys.split(",") if k]
    return args


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: stop every server we started


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    from table import render

    if args.render:
        with open(args.render, encoding="utf-8") as handle:
            lines = [json.loads(text) for text in handle if text.strip().startswith("{")]
        print(render(lines))
        return 0
    # Clients and servers log to stdout (the Temporal core does): give them stderr, keep
    # stdout for the JSON lines.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    scratch = Path(tempfile.mkdtemp(prefix="phaseactors-peers-", dir=args.dir))
    lines = []
    started = time.monotonic()
    try:
        for keys in args.keys:
            for name in args.systems:
                for scenario in args.scenarios:
                    say(f"{name}: {scenario}, K = {keys} ...")
                    line = run_one(name, scenario, keys, scratch, args)
                    print(json.dumps(line), file=out, flush=True)
                    lines.append(line)
    finally:
        if args.keep:
            say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    say(f"all runs took {time.monotonic() - started:.0f} s")
    print(render(lines), file=sys.stderr)
    return 0 if all("error" not in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
