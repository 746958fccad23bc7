"""``phaseactors demo --pipeline``: every phase of a pipeline for one key, on a simulated clock.

Each gate's completions arrive duplicated, shuffled and concurrent as in ``phaseactors demo``
(worker processes on one SQLite file); the gates' announcements go to the pipeline run in the
same store through the in-process route (no broker). The next phase starts a quarter of its
handoff after the previous gate triggered, except the last handoff, which is made late: a
sweep after its deadline finds the run stalled (one alert), and the phase's first report
recovers it (one notice). Sweeps after each phase re-drive whatever a failure or a crash left
pending.

Every time in the run comes from the plan (the game date's evening, in the key's zone), not
from the machine's clock, and execution ids are stable: running the demo again delivers only
duplicates and publishes nothing new, and a demo killed half-way and started again ends with
one trigger per gate and one alert of each kind in total.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import Any

from ..core.clock import format_utc, parse_utc
from ..gate.actor import GateActor
from ..gate.intake import accept_message
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from ..gate.spec_loader import load_spec
from ..pipeline.actor import PipelineActor
from ..pipeline.operations import PipelineRuntime
from ..pipeline.route import route_lifecycle
from ..pipeline.spec import PipelineSpec
from ..pipeline.spec_loader import choose_pipeline, load_pipeline, load_pipeline_gates
from ..pipeline.status import pipeline_status
from ..publishers import open_publisher, read_jsonl
from ..stores import MemoryStore, open_store
from .common import emit_json, publisher_url, store_url
from .demo import plan
from .demo_stuck import SimulatedClock
from .pipeline import gate_statuses, render_pipeline_status

__all__ = ["run_pipeline"]

#: Simulated time between two deliveries of one phase.
STEP = timedelta(seconds=10)
#: Where the first phase starts: the evening of the key's date, in its zone.
EVENING = wall_time(23, 0)
#: The late handoff: swept this long after its deadline, its phase starting later still.
SWEPT_AFTER = timedelta(minutes=5)
STARTS_AFTER = timedelta(minutes=15)


class TaskClock:
    """A clock each worker thread sets to its task's simulated time."""

    def __init__(self) -> None:
        self._local = threading.local()

    def set(self, now: datetime) -> None:
        self._local.now = now

    def __call__(self) -> datetime:
        now: datetime = self._local.now
        return now


_clock = TaskClock()
_runtimes: dict[str, GateRuntime] = {}


def _gate_runtimes(
    spec: PipelineSpec,
    gates: Mapping[str, GateSpec],
    store_url: str,
    publisher_url: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> dict[str, GateRuntime]:
    """One runtime per gate, each routing its announcements to the run in the same store."""
    store, publisher = open_store(store_url), open_publisher(publisher_url)
    runtimes = {}
    for name, gate in gates.items():
        route = route_lifecycle(gate, store, publisher, pipelines=[spec], clock=clock, lease=lease)
        runtimes[name] = GateRuntime(GateActor(gate), store, route, clock=clock, lease=lease)
    return runtimes


def _init_worker(
    pipeline: str, gates: dict[str, str], store_url: str, publisher_url: str, lease: float
) -> None:
    global _runtimes
    specs = {name: load_spec(path) for name, path in gates.items()}
    _runtimes = _gate_runtimes(
        load_pipeline(pipeline), specs, store_url, publisher_url, timedelta(seconds=lease), _clock
    )


def _deliver(gate: str, body: dict[str, Any], message_id: str, at: str) -> dict[str, Any]:
    _clock.set(parse_utc(at))
    runtime = _runtimes[gate]
    delivery = accept_message(runtime, runtime.spec, body, message_id=message_id, source="demo")
    return {
        "gate": gate,
        "reported_as": body["processor_name"],
        "outcome": delivery.outcome.value,
        "state": delivery.snapshot.state,
    }


def _jsonl_entries(publisher_url: str) -> dict[str, dict[str, Any]] | None:
    """Entry id -> message of a JSON-lines publisher's file (None for other publishers)."""
    if not publisher_url.startswith("jsonl://"):
        return None
    return {str(m["entry_id"]): m for m in read_jsonl(publisher_url[len("jsonl://") :])}


class _Demo:
    """One run of the demo: the plan's clock, the runtimes the main process sweeps with."""

    def __init__(self, args: argparse.Namespace, say: Callable[[str], None]) -> None:
        self.args = args
        self.say = say
        self.spec = choose_pipeline(args.pipeline or None)
        self.gates = load_pipeline_gates(self.spec)
        self.key = self.spec.key.validate(args.key)
        self.store_url = store_url(args)
        self.publisher_url = publisher_url(args)
        self.lease = timedelta(seconds=args.lease_seconds)
        start = datetime.combine(date.fromisoformat(self.key), EVENING, tzinfo=self.spec.key.tz)
        self.clock = SimulatedClock(start.astimezone(UTC))
        self.runtimes = _gate_runtimes(
            self.spec, self.gates, self.store_url, self.publisher_url, self.lease, self.clock
        )
        self.run = PipelineRuntime(
            PipelineActor(self.spec),
            next(iter(self.runtimes.values())).store,
            open_publisher(self.publisher_url),
            clock=self.clock,
            lease=self.lease,
        )
        self.outcomes: Counter[str] = Counter()
        self.errors: list[str] = []

    def local(self, at: datetime) -> str:
        return at.astimezone(self.spec.key.tz).strftime("%a %d %b %H:%M:%S %Z")

    def sweep(self, at: datetime, why: str) -> None:
        """Sweep every gate, then the run, at simulated time ``at``."""
        self.clock.now = at
        for runtime in self.runtimes.values():
            report = runtime.sweep([self.key])
            self.errors.extend(f"{runtime.spec.name}: {e}" for e in report.errors.values())
        report = self.run.sweep()
        self.errors.extend(f"{self.spec.name}: {e}" for e in report.errors.values())
        snapshot = self.run.load(self.key)
        state = snapshot.state if snapshot else "no run yet"
        self.say(f"{self.local(at)}: sweep ({why}): {self.spec.name}/{self.key} is {state}")
        if snapshot is not None:
            for alert in snapshot.data.alerts:
                if alert.decided_at == at:
                    self.say(f"  alert {alert.id}: {alert.summary}")

    def phase(self, executor: Executor, index: int, start: datetime) -> datetime | None:
        """Deliver one gate's completions from ``start``; when the gate triggered, or None."""
        gate = self.gates[self.spec.phases[index].gate]
        deliveries = plan(gate, self.key, self.args.duplicates, self.args.seed + index)
        self.say(
            f"\n{self.local(start)}: {gate.name}: {len(gate.expected)} processors x"
            f" {self.args.duplicates} copies = {len(deliveries)} deliveries"
        )
        times = [start + n * STEP for n in range(len(deliveries))]
        futures = [
            executor.submit(_deliver, gate.name, body, message_id, format_utc(at) or "")
            for (body, message_id), at in zip(deliveries, times, strict=True)
        ]
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                result = future.result()
            except Exception as exc:  # reported; the sweeps and a rerun recover
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.say(f"[{done:3}/{len(deliveries)}] error: {exc}")
                continue
            self.outcomes[result["outcome"]] += 1
            self.say(
                f"[{done:3}/{len(deliveries)}] {result['reported_as']:<34}"
                f" {result['outcome']:<9} {result['state']}"
            )
        self.sweep(times[-1] + self.lease + timedelta(seconds=1), f"after {gate.name}")
        snapshot = self.runtimes[gate.name].load(self.key)
        trigger = snapshot.data.trigger if snapshot else None
        if trigger is None or not trigger.published:
            self.say(f"{gate.name}/{self.key} did not trigger; stopping")
            return None
        self.say(f"{gate.name} triggered at {self.local(trigger.decided_at)} ({trigger.reason})")
        return trigger.decided_at

    def late_phase(self) -> int | None:
        """The phase whose handoff is made late: the last one with a handoff."""
        late = [i for i, p in enumerate(self.spec.phases) if p.handoff is not None]
        return late[-1] if late else None

    def execute(self, executor: Executor) -> datetime:
        start = self.clock.now
        late = self.late_phase()
        for index in range(len(self.spec.phases)):
            triggered = self.phase(executor, index, start)
            if triggered is None:
                break
            if index + 1 == len(self.spec.phases):
                start = triggered
                break
            within = self.spec.phases[index + 1].handoff or timedelta(hours=1)
            if index + 1 == late:
                self.sweep(triggered + within + SWEPT_AFTER, "the late handoff's deadline passed")
                start = triggered + within + STARTS_AFTER
            else:
                start = triggered + within / 4
        return start


def run_pipeline(args: argparse.Namespace) -> int:
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    say: Callable[[str], None] = (lambda _: None) if args.json else _say
    demo = _Demo(args, say)
    mode = "threads" if isinstance(demo.run.store, MemoryStore) else args.mode
    before = _jsonl_entries(demo.publisher_url)
    say(
        f"pipeline demo: {demo.spec.name}/{demo.key}, {len(demo.spec.phases)} gates, by"
        f" {args.workers} {mode} (seed {args.seed}); store {demo.store_url}, messages to"
        f" {demo.publisher_url}"
    )
    started = time.perf_counter()
    executor: Executor
    if mode == "processes":
        executor = ProcessPoolExecutor(
            args.workers,
            initializer=_init_worker,
            initargs=(
                demo.spec.source,
                {name: gate.source for name, gate in demo.gates.items()},
                demo.store_url,
                demo.publisher_url,
                args.lease_seconds,
            ),
        )
    else:
        global _runtimes
        _runtimes = _gate_runtimes(
            demo.spec, demo.gates, demo.store_url, demo.publisher_url, demo.lease, _clock
        )
        executor = ThreadPoolExecutor(args.workers)
    with executor:
        end = demo.execute(executor)
    demo.sweep(end + demo.lease + timedelta(hours=1), "the end, every lease long expired")
    summary = _summary(demo, before, mode, time.perf_counter() - started)
    if args.json:
        emit_json(summary)
    else:
        snapshot = demo.run.load(demo.key)
        if snapshot is not None:
            status = pipeline_status(
                demo.spec,
                snapshot,
                gates=gate_statuses(demo.spec, demo.run, demo.key),
                at=demo.clock.now,
            )
            print("\n" + render_pipeline_status(status))
        print(
            f"\n{summary['alerts_published']} alert(s) and"
            f" {sum(g['triggers_published'] or 0 for g in summary['gates'].values())}"
            f" trigger(s) published by this run, in {summary['wall_s']:.2f}s"
        )
    triggered = all(g["state"] == "triggered" for g in summary["gates"].values())
    return 0 if summary["state"] == "done" and triggered and not demo.errors else 1


def _say(line: str) -> None:
    print(line, flush=True)


def _summary(
    demo: _Demo, before: dict[str, dict[str, Any]] | None, mode: str, wall: float
) -> dict[str, Any]:
    after = _jsonl_entries(demo.publisher_url)
    added = (
        None if after is None or before is None else [after[i] for i in after if i not in before]
    )
    gates = {}
    for name, runtime in demo.runtimes.items():
        snapshot = runtime.load(demo.key)
        trigger = snapshot.data.trigger if snapshot else None
        gates[name] = {
            "state": snapshot.state if snapshot else None,
            "trigger_id": trigger.trigger_id if trigger else None,
            "triggers_published": (
                None
                if added is None
                else sum(m["topic"] == runtime.spec.output_topic for m in added)
            ),
        }
    run = demo.run.load(demo.key)
    return {
        "pipeline": demo.spec.name,
        "key": demo.key,
        "state": run.state if run else None,
        "generation": run.generation if run else None,
        "gates": gates,
        "alerts_published": (
            None if added is None else sum(m["attributes"].get("kind") == "alert" for m in added)
        ),
        "alerts": [{"id": a.id, "reason": a.reason} for a in (run.data.alerts if run else ())],
        "deliveries": sum(demo.outcomes.values()),
        "outcomes": dict(demo.outcomes),
        "errors": demo.errors,
        "workers": demo.args.workers,
        "mode": mode,
        "seed": demo.args.seed,
        "store": demo.store_url,
        "publisher": demo.publisher_url,
        "wall_s": round(wall, 3),
    }
