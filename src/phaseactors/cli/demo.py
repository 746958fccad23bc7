"""``phaseactors demo``: every completion of a gate, duplicated and shuffled, delivered by
concurrent workers to one key; exactly one trigger comes out.

Execution ids are stable per (processor, key), so running the demo again on the same store
delivers only duplicates and publishes nothing new; a demo killed half-way and started again
finishes the key with one trigger in total.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from datetime import timedelta
from typing import Any

from ..core.actor import Outcome
from ..gate.actor import GateActor
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from ..gate.spec_loader import find_gate, load_spec
from ..gate.status import gate_status
from ..publishers import JsonlPublisher, open_publisher, read_jsonl
from ..stores import MemoryStore, open_store
from .args import plain, positive_int
from .common import add_common, emit_json, trigger_published
from .common import publisher_url as common_publisher_url
from .common import store_url as common_store_url
from .render import render_history, render_status
from .wiring import with_pipelines

DEFAULT_KEY = "2025-11-29"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="deliver a gate's completions concurrently, duplicated and shuffled",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        choices=("concurrent", "stuck"),
        default="concurrent",
        help="concurrent: duplicated, shuffled deliveries (default); stuck: processors that"
        " never report, deadlines and the sweeper on a simulated clock",
    )
    parser.add_argument(
        "--pipeline",
        nargs="?",
        const="",
        default=None,
        metavar="NAME",
        help="every phase of a pipeline for the key, one handoff late (default: the only"
        " pipeline file, or $PHASEACTORS_PIPELINE); see demo_pipeline",
    )
    parser.add_argument("--key", default=DEFAULT_KEY, help=f"the key (default {DEFAULT_KEY})")
    parser.add_argument(
        "--workers", type=positive_int, default=8, help="concurrent workers (default 8)"
    )
    parser.add_argument(
        "--duplicates", type=positive_int, default=3, help="copies of each completion (default 3)"
    )
    parser.add_argument("--seed", type=int, default=None, help="shuffle seed (default random)")
    parser.add_argument(
        "--mode",
        choices=("processes", "threads"),
        default="processes",
        help="workers are processes (default) or threads",
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=5.0,
        help="publish lease; a crashed run's pending trigger is re-driven after it (default 5)",
    )
    add_common(parser, gate_default="phase2_to_phase3")
    parser.set_defaults(run=run)


def plan(spec: GateSpec, key: str, copies: int, seed: int) -> list[tuple[dict[str, Any], str]]:
    """(producer body, message id) for every copy of every processor's completion, shuffled.

    Each processor reports under a name drawn from its aliases; a copy is either a transport
    redelivery (same message id) or a second publish by the producer (new message id).
    """
    rng = random.Random(seed)
    deliveries: list[tuple[dict[str, Any], str]] = []
    for n, name in enumerate(spec.expected):
        names = [name] + [alias for alias, target in spec.aliases.items() if target == name]
        if spec.names.dataset_qualified:
            names.append(f"raw.{name}")
        body = {
            "processor_name": rng.choice(names),
            spec.key.field: key,
            "status": "no_data" if n % 7 == 6 else "success",
            "execution_id": f"{name}-{key}",
            "correlation_id": f"demo-{key}",
            "output_table": name,
            "record_count": 0 if n % 7 == 6 else rng.randint(10, 5000),
            "metadata": {"entities_changed": [f"entity-{rng.randint(1, 30)}"]},
        }
        message_ids = [f"{name}-{key}-m0"]
        for copy in range(1, copies):
            redelivery = rng.random() < 0.5
            message_ids.append(message_ids[0] if redelivery else f"{name}-{key}-m{copy}")
        deliveries.extend((body, message_id) for message_id in message_ids)
    rng.shuffle(deliveries)
    return deliveries


_worker_runtime: GateRuntime | None = None
_worker_spec: GateSpec | None = None


def _init_worker(gate: str, store: str, publisher: str, lease: float) -> None:
    global _worker_runtime, _worker_spec
    _worker_spec = load_spec(gate)
    opened = open_store(store)
    _worker_runtime = GateRuntime(
        GateActor(_worker_spec),
        opened,
        with_pipelines(_worker_spec, opened, open_publisher(publisher), publisher),
        lease=timedelta(seconds=lease),
    )


def _deliver(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    from ..gate.intake import accept_message

    assert _worker_runtime is not None
    assert _worker_spec is not None
    delivery = accept_message(
        _worker_runtime, _worker_spec, body, message_id=message_id, source="demo"
    )
    return {
        "reported_as": body["processor_name"],
        "outcome": delivery.outcome.value,
        "state": delivery.snapshot.state,
        "published": list(trigger_published(delivery.snapshot, delivery.published)),
        "attempts": delivery.attempts,
    }


def _message_ids(publisher_url: str) -> set[str]:
    if not publisher_url.startswith("jsonl://"):
        return set()
    return {str(m["message_id"]) for m in read_jsonl(publisher_url[len("jsonl://") :])}


def run(args: argparse.Namespace) -> int:
    if args.pipeline is not None:
        from .demo_pipeline import run_pipeline

        return run_pipeline(args)
    gate_path = str(find_gate(args.gate))
    spec = load_spec(gate_path)
    key = spec.key.validate(args.key)
    store_url, publisher_url = common_store_url(args), common_publisher_url(args)
    if args.scenario == "stuck":
        from .demo_stuck import run_stuck

        return run_stuck(args, spec, store_url, publisher_url)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    say: Callable[[str], None] = (lambda _: None) if args.json else _say

    store = open_store(store_url)
    mode = "threads" if isinstance(store, MemoryStore) else args.mode
    runtime = GateRuntime(
        GateActor(spec),
        store,
        with_pipelines(spec, store, open_publisher(publisher_url), publisher_url),
        lease=timedelta(seconds=args.lease_seconds),
    )
    before = _message_ids(publisher_url)
    deliveries = plan(spec, key, args.duplicates, seed)
    say(
        f"demo: {len(spec.expected)} processors x {args.duplicates} copies = {len(deliveries)}"
        f" deliveries to {spec.name}/{key} by {args.workers} {mode} (seed {seed})"
    )
    say(f"store {store_url}, triggers to {publisher_url}\n")

    started = time.perf_counter()
    outcomes: Counter[str] = Counter()
    published: list[str] = []
    errors: list[str] = []
    executor: Executor
    if mode == "processes":
        executor = ProcessPoolExecutor(
            args.workers,
            initializer=_init_worker,
            initargs=(gate_path, store_url, publisher_url, args.lease_seconds),
        )
    else:
        global _worker_runtime, _worker_spec
        _worker_runtime, _worker_spec = runtime, spec
        executor = ThreadPoolExecutor(args.workers)
    with executor:
        futures = [executor.submit(_deliver, body, mid) for body, mid in deliveries]
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                result = future.result()
            except Exception as exc:  # reported below; the sweep and a rerun recover
                errors.append(f"{type(exc).__name__}: {exc}")
                say(f"[{done:3}/{len(deliveries)}] error: {exc}")
                continue
            outcomes[result["outcome"]] += 1
            published.extend(result["published"])
            note = f"  -> published trigger {result['published'][0]}" if result["published"] else ""
            say(
                f"[{done:3}/{len(deliveries)}] {result['reported_as']:<34} {result['outcome']:<9}"
                f" {result['state']:<9}{note}"
            )

    published.extend(_finish_pending(runtime, key, args.lease_seconds, say))
    wall = time.perf_counter() - started
    snapshot = runtime.load(key)
    assert snapshot is not None
    status = gate_status(spec, snapshot)
    trigger = snapshot.data.trigger
    new_messages = {trigger.message_id} & (set(published) - before) if trigger else set()
    run_counts = {
        "deliveries": len(deliveries),
        "outcomes": dict(outcomes),
        "duplicates_ignored": outcomes[Outcome.DUPLICATE.value],
        "errors": errors,
        "triggers_published": len(new_messages),
        "wall_s": round(wall, 3),
    }
    key_totals = {
        "state": snapshot.state,
        "generation": snapshot.generation,
        "completions_recorded": len(snapshot.data.done),
        "expected": len(spec.expected),
        "trigger_id": trigger.trigger_id if trigger else None,
        "message_id": trigger.message_id if trigger else None,
    }
    summary = {  # the flat fields are those of release 0.1.0; "run" and "key_totals" group them
        "run": run_counts,
        "key_totals": key_totals,
        "gate": spec.name,
        "key": key,
        "state": snapshot.state,
        "completions_recorded": len(snapshot.data.done),
        "expected": len(spec.expected),
        "deliveries": len(deliveries),
        "outcomes": dict(outcomes),
        "duplicates_ignored": outcomes[Outcome.DUPLICATE.value],
        "errors": errors,
        "triggers_published": len(new_messages),
        "trigger_id": trigger.trigger_id if trigger else None,
        "message_id": trigger.message_id if trigger else None,
        "workers": args.workers,
        "mode": mode,
        "seed": seed,
        "store": store_url,
        "publisher": publisher_url,
        "wall_s": round(wall, 3),
    }
    if args.json:
        emit_json(summary)
    else:
        print("\ntransitions:")
        print(render_history(status.history))
        print("\nstatus:")
        print(render_status(status, history=False))
        published_now = run_counts["triggers_published"]
        print(
            f"\nthis run: {len(deliveries)} deliveries, {outcomes[Outcome.APPLIED.value]} applied,"
            f" {run_counts['duplicates_ignored']} duplicates ignored, {published_now}"
            f" trigger{'' if published_now == 1 else 's'} published by this run"
            f" ({key_totals['trigger_id']}) in {wall:.2f}s"
        )
        print(
            f"the key: {key_totals['completions_recorded']} of {len(spec.expected)} completions"
            f" recorded, {snapshot.state} (generation {snapshot.generation})"
        )
        where = runtime.publisher.path if isinstance(runtime.publisher, JsonlPublisher) else None
        print(f"triggers go to {where or publisher_url}; the store is {store_url}")
    return 0 if snapshot.state == "triggered" and not errors else 1


def _finish_pending(
    runtime: GateRuntime, key: str, lease_seconds: float, say: Callable[[str], None]
) -> list[str]:
    """Publish a trigger left pending (a failed publish, or a crashed earlier run's lease)."""
    published: list[str] = []
    deadline = time.monotonic() + lease_seconds + 5
    while True:
        report = runtime.sweep([key])
        published.extend(report.published)
        if not report.still_pending and not report.errors:
            return published
        if time.monotonic() > deadline:
            say(f"trigger still pending after {lease_seconds + 5:.0f}s; run `phaseactors sweep`")
            return published
        say("a pending trigger is leased by an earlier run; waiting for the lease to expire")
        time.sleep(1.0)


def _say(line: str) -> None:
    """A progress line, flushed at once: piped output (``| tee``) follows the run."""
    print(line, flush=True)
