"""Cold start: what importing phaseactors, its Cloud Function handler and Google's clients costs.

Each target is imported in a fresh interpreter, ``--runs`` times, two ways:

  wall_ms        wall-clock time of the import statement itself, timed inside the fresh
                 interpreter (``time.perf_counter`` before and after: neither interpreter
                 start-up nor shutdown is counted), median over runs; ``wall_ms_min`` the
                 least, the figure least disturbed by other work on the machine
  importtime_ms  the cumulative time CPython's ``-X importtime`` reports for X itself (the
                 import only; the tracing adds a little), median over runs

Targets:
  phaseactors                the library (must not import any google module)
  phaseactors.gcp.functions      the handler module (imports functions_framework)
  google.cloud.firestore, google.cloud.pubsub_v1, functions_framework   each alone
  google clients together    the three above in one interpreter: what the handler needs
  handler cold               phaseactors.gcp.functions plus the Firestore store and the Pub/Sub
                             publisher modules: everything the handler imports before its
                             first delivery (the store and publisher load lazily)

  handler after clients      handler cold's imports in an interpreter that has already
                             imported the google clients (not timed): what phaseactors adds
                             to a cold start on top of the Google clients it needs, measured
                             directly (target: at most 150 ms)

``handler_over_clients_*`` in the summary: the same figure as handler cold - google clients
together, a difference of two noisier numbers, for comparison.

Bytecode caches are written first (one import of each target with ``PYTHONDONTWRITEBYTECODE``
unset), so that the runs measure imports from ``.pyc`` files as a deployed function would,
not compilation. Targets are imported round-robin, run after run. A last line lists the
google modules ``import phaseactors`` loaded beyond those a bare interpreter already has (an
installed ``*-nspkg.pth`` file creates the ``google`` and ``google.cloud`` namespace modules
at start-up): none expected; what phaseactors' own dependencies cost; and the slowest
modules under the handler.

Usage (from the repository root):

    .venv/bin/python benchmarks/cold_start.py
    .venv/bin/python benchmarks/cold_start.py --runs 15
    .venv/bin/python benchmarks/cold_start.py --target phaseactors \
        --target phaseactors.gcp.functions
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

CLIENTS = ("google.cloud.firestore", "google.cloud.pubsub_v1", "functions_framework")
HANDLER = (
    "phaseactors.gcp.functions",
    "phaseactors.stores.firestore",
    "phaseactors.publishers.pubsub",
)


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]
    preload: tuple[str, ...] = ()  # imported first, not timed

    @property
    def timed(self) -> str:
        return "import " + ", ".join(self.modules) if self.modules else "pass"

    @property
    def setup(self) -> str:
        return "import " + ", ".join(self.preload) if self.preload else "pass"

    @property
    def code(self) -> str:
        return f"{self.setup}; {self.timed}"


TARGETS = {
    t.name: t
    for t in (
        Target("phaseactors", ("phaseactors",)),
        Target("phaseactors.gcp.functions", ("phaseactors.gcp.functions",)),
        Target("google.cloud.firestore", ("google.cloud.firestore",)),
        Target("google.cloud.pubsub_v1", ("google.cloud.pubsub_v1",)),
        Target("functions_framework", ("functions_framework",)),
        Target("google clients together", CLIENTS),
        Target("handler cold", HANDLER),
        Target("handler after clients", HANDLER, preload=CLIENTS),
    )
}
BARE = Target("bare interpreter", ())


def environment(write_bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # the runs only read the caches
    return env


def wall_once(target: Target, env: dict[str, str]) -> float:
    """Seconds the target's import statement takes in a fresh interpreter."""
    code = (
        f"import time; {target.setup}; t = time.perf_counter(); {target.timed}; "
        "print(time.perf_counter() - t)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return float(completed.stdout.strip().splitlines()[-1])


def importtime_stderr(code: str, env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stderr


def importtime_once(target: Target, env: dict[str, str], startup: Collection[str]) -> float:
    """Seconds -X importtime reports for the target's timed imports: the cumulative times of
    the top-level entries, leaving out the interpreter's start-up imports and the preload."""
    left_out = {*startup, *target.preload}
    return sum(top_level(importtime_stderr(target.code, env), left_out).values()) / 1e6


def parse_importtime(stderr: str) -> list[tuple[int, int, str]]:
    """(self_us, cumulative_us, indented name) per ``import time:`` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|", 2)
        rows.append((int(self_us), int(cumulative), name.rstrip()))
    return rows


def top_level(stderr: str, startup: Collection[str] = ()) -> dict[str, int]:
    """Cumulative µs of each module imported at the top level (not by another module)."""
    return {
        name.strip(): cumulative
        for _, cumulative, name in parse_importtime(stderr)
        if name.startswith(" ") and not name.startswith("  ") and name.strip() not in startup
    }


def slowest(stderr: str, count: int) -> list[dict[str, Any]]:
    """The modules with the largest self time."""
    rows = sorted(parse_importtime(stderr), reverse=True)[:count]
    return [{"module": name.strip(), "self_ms": round(s / 1000, 1)} for s, _, name in rows]


def google_modules(module: str | None, env: dict[str, str]) -> list[str]:
    """google (and grpc, functions_framework) modules loaded after importing ``module``
    (None: a bare interpreter; namespace-package ``.pth`` files create some at start-up)."""
    code = (
        f"import {module or 'sys'}, sys, json; print(json.dumps(sorted(m for m in "
        "sys.modules if m.split('.')[0] in ('google', 'functions_framework', 'grpc'))))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


def cumulative_ms(stderr: str, modules: Sequence[str]) -> dict[str, float]:
    """Cumulative ms of each of ``modules`` where it was first imported."""
    found: dict[str, float] = {}
    for _, cumulative, name in parse_importtime(stderr):
        if name.strip() in modules and name.strip() not in found:
            found[name.strip()] = round(cumulative / 1000, 1)
    return found


def median_ms(values: Sequence[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Import times in fresh interpreters; one JSON line per target.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Usage (from the repository root):", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--runs", type=int, default=9, help="per target (default 9)")
    parser.add_argument(
        "--target", action="append", choices=tuple(TARGETS), help="repeatable (default: all)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    targets = [TARGETS[name] for name in args.target or TARGETS]
    read_env = environment(write_bytecode=False)
    print("writing bytecode caches ...", file=sys.stderr, flush=True)
    for target in targets:
        wall_once(target, environment(write_bytecode=True))

    startup = set(top_level(importtime_stderr(BARE.code, read_env)))
    walls: dict[str, list[float]] = {t.name: [] for t in targets}
    traced: dict[str, list[float]] = {t.name: [] for t in targets}
    for run in range(1, args.runs + 1):  # round-robin, so that drift hits every target alike
        print(f"run {run}/{args.runs} ...", file=sys.stderr, flush=True)
        for target in targets:
            walls[target.name].append(wall_once(target, read_env))
            traced[target.name].append(importtime_once(target, read_env, startup))
    results: dict[str, dict[str, Any]] = {}
    for target in targets:
        line = {
            "benchmark": "cold_start",
            "target": target.name,
            "code": target.code if target.preload else target.timed,
            "wall_ms": median_ms(walls[target.name]),
            "wall_ms_min": round(min(walls[target.name]) * 1000, 1),
            "wall_ms_runs": [round(w * 1000, 1) for w in walls[target.name]],
            "importtime_ms": median_ms(traced[target.name]),
            "runs": args.runs,
            "python": platform.python_version(),
            "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the machine
        }
        results[target.name] = line
        print(json.dumps(line), flush=True)

    summary: dict[str, Any] = {"benchmark": "cold_start", "target": "summary"}
    handler, clients = results.get("handler cold"), results.get("google clients together")
    if handler and clients:
        for way in ("wall_ms", "wall_ms_min", "importtime_ms"):
            summary[f"handler_over_clients_{way}"] = round(handler[way] - clients[way], 1)
    direct = results.get("handler after clients")
    if direct:
        summary["target_150ms_met"] = direct["wall_ms"] <= 150
    at_startup = google_modules(None, read_env)
    summary["google_modules_at_startup"] = at_startup
    summary["google_modules_imported_by_phaseactors"] = sorted(
        set(google_modules("phaseactors", read_env)) - set(at_startup)
    )
    summary["phaseactors_dependencies_ms"] = cumulative_ms(
        importtime_stderr("import phaseactors", read_env),
        ("statemachine", "attr", "attrs", "tomllib", "zoneinfo", "sqlite3", "phaseactors"),
    )
    traced_handler = importtime_stderr(TARGETS["handler cold"].code, read_env)
    summary["slowest_modules_in_handler"] = slowest(traced_handler, 12)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
