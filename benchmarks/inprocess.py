"""Cost per completion in one process: GateRuntime + MemoryStore against a bare-machine floor.

Every completion goes through ``GateRuntime.deliver`` on a ``MemoryStore`` with a
``RecordingPublisher``: the step (python-statemachine), the optimistic commit, and for the
last completion of a key the publish and the confirming step. The floor, measured in the
same run on the same events, is a bare python-statemachine machine with no persistence, no
snapshot, no outbox and no history, in two ways:

  construct  one machine per event, bound to a model whose state is already set (hydration)
  reuse      one machine for the whole run; each event re-assigns the model's state and set

and with two machines:

  fanin      the smallest fan-in barrier (waiting, partial, complete, triggered; a ``covers``
             guard and a ``record`` action): what any python-statemachine gate costs at least
  gate       ``GateMachine`` itself (the runtime's machine: more transitions, so more callbacks
             to bind at construction) with a model whose callbacks do no more than fanin's

Both floors receive the same events as the runtime: ``report_done(processor=...)`` per
completion and ``confirm_trigger`` once a key is complete. Inputs are built before timing
(``Completion`` values for the runtime, ``(key, processor)`` pairs for the floor).

Scenarios:
  one-key    gates of N required processors (default 21 and 1,000); every completion
             distinct; keys one after another, each receiving all N before the next
  many-keys  the pipeline's 21-processor gate (machines/phase2_to_phase3.toml: aliases,
             deadlines, profiles); 10,000 keys, 21 completions each, interleaved round by
             round (processor 1 for every key, then processor 2, ...); the floor on a sample
             of the keys (``--floor-keys``): its cost per event does not depend on the count

Run time with the defaults: about 2.5 minutes (one-key ~40 s, many-keys ~1.5-2 min).

Each measurement prints one JSON line. ``us_per_completion`` is CPU time of this process per
completion (``time.process_time``: one core, less sensitive to other work on the machine),
the median over ``--repeats`` passes; ``completions_per_s`` is its inverse and
``wall_us_per_completion`` the wall-clock median. GateRuntime lines carry ``ratio_*`` = runtime /
floor (CPU) and ``verified``: every key triggered exactly once with every completion recorded,
read back from the store.

Usage (from the repository root):

    .venv/bin/python benchmarks/inprocess.py                       # both scenarios
    .venv/bin/python benchmarks/inprocess.py --scenario one-key --n 21 --n 1000
    .venv/bin/python benchmarks/inprocess.py --scenario many-keys --keys 10000 --floor-keys 500
    .venv/bin/python benchmarks/inprocess.py --scenario one-key --n 21 --profile | head -40
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import json
import math
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from statemachine import State, StateMachine

from common import argument_parser, bench_spec, completion, make_keys, pipeline_gate
from phaseactors import (
    Completion,
    GateActor,
    GateMachine,
    GateRuntime,
    GateSpec,
    MemoryStore,
    RecordingPublisher,
)

# -- the floor -------------------------------------------------------------------------------


class FanIn(StateMachine):
    """The smallest fan-in barrier python-statemachine can express with the gate's events."""

    waiting = State("waiting", initial=True)
    partial = State("partial")
    complete = State("complete")
    triggered = State("triggered")

    # python-statemachine's ``to.itself`` is untyped
    report_done = (
        waiting.to(complete, cond="covers", on="record")
        | waiting.to(partial, on="record")
        | partial.to(complete, cond="covers", on="record")
        | partial.to.itself(internal=True, on="record")  # type: ignore[no-untyped-call]
        | complete.to.itself(internal=True)  # type: ignore[no-untyped-call]
        | triggered.to.itself(internal=True)  # type: ignore[no-untyped-call]
    )
    confirm_trigger = complete.to(triggered)


class BareModel:
    """State and the set of processors done: no snapshot, history, outbox or validation."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.state = "waiting"
        self.done: set[str] = set()

    def covers(self, processor: str) -> bool:
        return len(self.done) + (processor not in self.done) >= self.expected

    def record(self, processor: str) -> None:
        self.done.add(processor)

    # GateMachine's other guards and actions: false or nothing, so it follows fanin's path.
    record_done = record

    def never(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    recovers = fails_required = deadline_allows_trigger = final_deadline_missed = never
    holds_now = fails_now = reopens_now = never  # re-evaluation (adopt, migrate)
    record_late = record_failure = note_required_failed = record_published = nothing
    note_failed_now = nothing
    pass_deadlines = note_deadline_failed = note_operator_failed = start_generation = nothing


FLOOR_MACHINES: dict[str, type[StateMachine]] = {"fanin": FanIn, "gate": GateMachine}
FloorEvent = tuple[str, str]  # (key, processor)


def floor_construct(
    machine_class: type[StateMachine], expected: int, events: Sequence[FloorEvent]
) -> int:
    """One machine per event, hydrated from the key's (state, done); returns triggers."""
    keys: dict[str, tuple[str, set[str]]] = {}
    triggers = 0
    for key, processor in events:
        model = BareModel(expected)
        model.state, model.done = keys.get(key) or ("waiting", set())
        machine_class(model=model).send("report_done", processor=processor)
        if model.state == "complete":  # the runtime confirms with a second step
            machine_class(model=model).send("confirm_trigger")
            triggers += 1
        keys[key] = (model.state, model.done)
    return triggers


def floor_reuse(
    machine_class: type[StateMachine], expected: int, events: Sequence[FloorEvent]
) -> int:
    """One machine for every event; each event re-assigns the model's fields; returns triggers."""
    keys: dict[str, tuple[str, set[str]]] = {}
    model = BareModel(expected)
    machine = machine_class(model=model)
    triggers = 0
    for key, processor in events:
        model.state, model.done = keys.get(key) or ("waiting", set())
        machine.send("report_done", processor=processor)
        if model.state == "complete":
            machine.send("confirm_trigger")
            triggers += 1
        keys[key] = (model.state, model.done)
    return triggers


# -- the runtime -----------------------------------------------------------------------------


def run_runtime(spec: GateSpec, completions: Sequence[Completion]) -> GateRuntime:
    runtime = GateRuntime(GateActor(spec), MemoryStore(), RecordingPublisher())
    deliver = runtime.deliver
    for item in completions:
        deliver(item)
    return runtime


def verify(runtime: GateRuntime, keys: Sequence[str], expected: int) -> bool:
    """Every key triggered once, with every completion recorded (read back from the store)."""
    publisher = runtime.publisher
    assert isinstance(publisher, RecordingPublisher)
    trigger_ids = [m.entry_id for m in publisher.messages]
    if len(trigger_ids) != len(keys) or len(set(trigger_ids)) != len(keys):
        return False
    for key in keys:
        snapshot = runtime.load(key)
        if snapshot is None or snapshot.state != "triggered":
            return False
        if len(snapshot.data.done) != expected or snapshot.outbox:
            return False
    return True


# -- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What one scenario delivers, as runtime inputs and as floor events."""

    scenario: str
    gate: str
    spec: GateSpec
    keys: tuple[str, ...]
    completions: tuple[Completion, ...]
    floor_events: tuple[FloorEvent, ...]

    @property
    def processors(self) -> int:
        return len(self.spec.expected)


def one_key_workload(n: int, min_completions: int) -> Workload:
    """Keys one after another, each receiving all its ``n`` completions before the next."""
    spec = bench_spec(n)
    keys = tuple(make_keys(max(1, math.ceil(min_completions / n))))
    pairs = [(key, processor) for key in keys for processor in spec.required]
    return Workload(
        "one_key",
        spec.name,
        spec,
        keys,
        tuple(completion(k, p) for k, p in pairs),
        tuple(pairs),
    )


def many_keys_workload(count: int) -> Workload:
    """The pipeline gate; round r delivers processor r to every key."""
    spec = pipeline_gate()
    keys = tuple(make_keys(count))
    pairs = [(key, processor) for processor in spec.expected for key in keys]
    return Workload(
        "many_keys",
        spec.name,
        spec,
        keys,
        tuple(completion(k, p) for k, p in pairs),
        tuple(pairs),
    )


def sample(workload: Workload, keys: int) -> tuple[FloorEvent, ...]:
    """The floor events of the first ``keys`` keys, in the workload's order."""
    if keys >= len(workload.keys):
        return workload.floor_events
    wanted = set(workload.keys[:keys])
    return tuple(e for e in workload.floor_events if e[0] in wanted)


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of one pass (CPU: this process only, so that other work on
    the machine inflates it less)."""

    wall: float
    cpu: float


def timed(run: Callable[[], object]) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def base_line(workload: Workload, measure: str, completions: int, keys: int) -> dict[str, Any]:
    return {
        "benchmark": "inprocess",
        "scenario": workload.scenario,
        "gate": workload.gate,
        "processors": workload.processors,
        "keys": keys,
        "completions": completions,
        "measure": measure,
        "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine
    }


def summary(runs: list[Timing], completions: int) -> dict[str, Any]:
    """Medians over passes; ``us_per_completion`` is CPU time, ``wall_us_per_completion``
    wall-clock time."""
    cpu = [r.cpu / completions * 1e6 for r in runs]
    wall = [r.wall / completions * 1e6 for r in runs]
    median = statistics.median(cpu)
    return {
        "us_per_completion": round(median, 1),
        "completions_per_s": round(1e6 / median),
        "wall_us_per_completion": round(statistics.median(wall), 1),
        "runs_us": [round(p, 1) for p in cpu],
    }


def measure(workload: Workload, repeats: int, floor_keys: int | None, floors: list[str]) -> None:
    """Floors and runtime, interleaved pass by pass so that drift hits them alike."""
    events = workload.floor_events if floor_keys is None else sample(workload, floor_keys)
    gc.collect()
    gc.freeze()  # the prepared inputs are not what is measured: keep them out of collections
    sampled_keys = len({key for key, _ in events})
    floor_runs: dict[tuple[str, str], list[Timing]] = {
        (m, mode): [] for m in floors for mode in ("construct", "reuse")
    }
    runtime_runs: list[Timing] = []
    verified = True
    drivers = {"construct": floor_construct, "reuse": floor_reuse}
    label = f"{workload.scenario} {workload.gate}"
    for attempt in range(1, repeats + 1):
        for (machine, mode), runs in floor_runs.items():
            driver, machine_class = drivers[mode], FLOOR_MACHINES[machine]
            run = functools.partial(driver, machine_class, workload.processors, events)
            timing, triggers = timed(run)
            if triggers != sampled_keys:
                raise AssertionError(f"floor {machine}/{mode}: {triggers} triggers")
            runs.append(timing)
            progress(
                f"{label} pass {attempt}: floor {machine}/{mode} "
                f"{timing.cpu / len(events) * 1e6:.0f} us"
            )
        timing, runtime = timed(lambda: run_runtime(workload.spec, workload.completions))
        runtime_runs.append(timing)
        assert isinstance(runtime, GateRuntime)
        verified = verified and verify(runtime, workload.keys, workload.processors)
        progress(
            f"{label} pass {attempt}: runtime {timing.cpu / len(workload.completions) * 1e6:.0f} us"
        )
        del runtime
    floor_us: dict[tuple[str, str], float] = {}
    for (machine, mode), runs in floor_runs.items():
        line = base_line(workload, "floor", len(events), sampled_keys)
        line.update(floor_machine=machine, floor_mode=mode, **summary(runs, len(events)))
        floor_us[(machine, mode)] = line["us_per_completion"]
        emit(line)
    line = base_line(workload, "runtime", len(workload.completions), len(workload.keys))
    line.update(store="memory", **summary(runtime_runs, len(workload.completions)))
    for (machine, mode), us in floor_us.items():
        line[f"ratio_{machine}_{mode}"] = round(line["us_per_completion"] / us, 2)
    line["verified"] = verified
    emit(line)


def profile(workload: Workload) -> None:
    """cProfile one runtime pass; the top functions by own time go to stdout."""
    profiler = cProfile.Profile()
    profiler.runcall(run_runtime, workload.spec, workload.completions)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(40)


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(
        __doc__, "Runtime + memory store vs a bare python-statemachine floor; JSON lines."
    )
    parser.add_argument(
        "--scenario", choices=("one-key", "many-keys", "all"), default="all", help="default all"
    )
    parser.add_argument(
        "--n", type=int, action="append", help="one-key: processors per gate (default 21, 1000)"
    )
    parser.add_argument(
        "--min-completions",
        type=int,
        default=1000,
        help="one-key: keys in sequence until at least this many completions (default 1000)",
    )
    parser.add_argument("--keys", type=int, default=10_000, help="many-keys (default 10000)")
    parser.add_argument(
        "--floor-keys",
        type=int,
        default=200,
        help="many-keys: keys in the floor's sample (default 200)",
    )
    parser.add_argument("--repeats", type=int, help="passes (default 5 one-key, 1 many-keys)")
    parser.add_argument(
        "--floor",
        action="append",
        choices=tuple(FLOOR_MACHINES),
        help="floor machines (repeatable; default fanin and gate)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one runtime pass")
    args = parser.parse_args(argv)
    args.n = args.n or [21, 1000]
    args.floor = args.floor or list(FLOOR_MACHINES)
    if min(args.n) < 1 or args.keys < 1 or args.floor_keys < 1 or args.min_completions < 1:
        parser.error("counts must be positive")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario in ("one-key", "all"):
        for n in args.n:
            workload = one_key_workload(n, args.min_completions)
            if args.profile:
                profile(workload)
                continue
            measure(workload, args.repeats or 5, None, args.floor)
    if args.scenario in ("many-keys", "all"):
        workload = many_keys_workload(args.keys)
        if args.profile:
            profile(workload)
        else:
            measure(workload, args.repeats or 1, args.floor_keys, args.floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
