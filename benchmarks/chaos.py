"""Chaos soak: a season of keys under faults; nothing lost, one trigger per key.

K game dates (consecutive, from ``--start-date``) x the gate's processors (21 for
``phase2_to_phase3``). Every completion is a producer body (JSON: ``processor_name`` as a
registry name, class name, alias or dataset-qualified table, ``game_date``, ``status``,
``execution_id``, ``correlation_id``, ...) published 1-3 times, and all of them are delivered in
a seeded random order by concurrent workers (``--mode threads|processes``) through
``phaseactors.gate.intake.accept_message``, as the Cloud Function does. Faults, at the given rates:

  publish failures      the publisher raises PublishFailed (per publishing delivery attempt)
  crash before publish  after the trigger was committed: the worker process is SIGKILLed (a
                        worker thread raises SimulatedCrash); the supervisor starts another
  crash after publish   published, not confirmed: the trigger is re-driven and published again
  store conflicts       memory/SQLite commits report a conflict (Firestore: natural ones)
  store aborts          a store call fails with StoreUnavailable, before or after committing
  bad messages          malformed JSON, invalid dates, missing fields, wrong status, non-objects
  late completions      a processor reruns (new execution id) after its key's trigger

Like Pub/Sub, whatever is not acknowledged (a transient error, an unexpected exception, a
crash) is redelivered later; permanent errors are quarantined and acknowledged. Then a sweep
runs with faults off, on a clock advanced past the publish lease. The simulated clock starts
three days after the last game date, so every key is a replay (the ``backfill`` profile:
relative deadlines only) and moves at real speed.

The run is verified from the store and the published messages, not from its counters: every
completion recorded exactly once (``data.done`` per key equals the processors delivered, with
their execution ids; reruns exactly once each in ``data.late``); exactly one trigger id per key
among the published messages (repeats of the same trigger id, from crashes and lost
responses, are allowed and reported; their bodies must be identical); every key
``triggered`` with a published message id and an empty outbox; one transition into complete
and one into triggered per key; every bad message quarantined with a reason naming its
defect. Before the sweep, every key must be complete with its trigger pending, or triggered.

One JSON line on stdout: counts, faults injected by kind (as the workers saw them fire; a
killed worker's crash is counted by the supervisor), wall time, keys/s, completions/s, repeats
of a trigger id, violations. ``wall_s`` runs from starting the workers to the end of the sweep;
``completions_per_s`` counts distinct valid completions (keys x processors), deliveries apart.
Progress and violations go to stderr. Exit status 0 when nothing was violated, 1 otherwise, 2
on bad usage. The simulated clock moves at real speed: a run longer than the gate's first
relative deadline (30 minutes) lets keys trigger on it, and the verifier then reports their
remaining completions as missing (they are recorded as late); size emulator runs accordingly.

Usage (from the repository root):

    .venv/bin/python benchmarks/chaos.py --store sqlite                 # 1,000 keys, 8 threads
    .venv/bin/python benchmarks/chaos.py --store sqlite --mode processes --workers 4
    .venv/bin/python benchmarks/chaos.py --store memory --keys 200 --seed 7
    .venv/bin/python benchmarks/chaos.py --store memory --keys 20 --sabotage swallow-publish-errors
    scripts/emulators run -- .venv/bin/python benchmarks/chaos.py \\
        --store firestore --publisher pubsub --keys 100 --mode processes --workers 4

``--sabotage`` breaks the system on purpose to show that the verifier notices:
``swallow-publish-errors`` (a failed publish returns a made-up id, the key latches as
triggered) and ``no-redelivery`` (unacknowledged messages are dropped, as with retries off).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from chaos_broker import (
    SimClock,
    Subscription,
    Supervisor,
    WorkerConfig,
    configure_logging,
    open_chaos_publisher,
    open_chaos_store,
    stderr_progress,
)
from chaos_faults import read_publish_log
from chaos_plan import FaultRates, Plan, build_plan, clock_start
from chaos_verify import Verification, Violation, verify
from common import argument_parser
from phaseactors import GateActor, GateRuntime, Store, SweepReport
from phaseactors.gate.spec_loader import find_gate, spec_from_mapping

STORES = ("memory", "sqlite", "firestore")
PUBLISHERS = ("log", "pubsub")
SABOTAGE = ("none", "swallow-publish-errors", "no-redelivery")
VIOLATIONS_SHOWN = 200


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(
        __doc__, "Chaos soak: K keys x the gate's processors under faults; one JSON line."
    )
    run = parser.add_argument_group("run")
    run.add_argument("--store", choices=STORES, default="sqlite")
    run.add_argument(
        "--publisher",
        choices=PUBLISHERS,
        default="log",
        help="log: append every publish to a file; pubsub: the emulator, verified by pulling",
    )
    run.add_argument("--gate", default="phase2_to_phase3", help="gate name or path (date keys)")
    run.add_argument("--keys", type=int, default=1000, help="game dates (default 1000)")
    run.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 10, 22))
    run.add_argument("--workers", type=int, default=8)
    run.add_argument("--mode", choices=("threads", "processes"), default="threads")
    run.add_argument(
        "--start-method",
        choices=("fork", "forkserver", "spawn"),
        help="for processes (default: fork, forkserver when a Google client is used)",
    )
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--max-copies", type=int, default=3, help="copies per completion (1..N)")
    run.add_argument("--lease", type=float, default=30.0, help="publish lease, seconds")
    run.add_argument("--max-attempts", type=int, default=50, help="then dead-lettered")
    run.add_argument("--db", type=Path, help="new SQLite file (default: a temporary one)")
    run.add_argument("--keep", action="store_true", help="keep the temporary directory")
    run.add_argument("--sabotage", choices=SABOTAGE, default="none")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.add_argument("--verbose", action="store_true", help="the library's logs on stderr")
    rates = parser.add_argument_group("fault rates")
    defaults = FaultRates()
    for name, help_text in (
        ("publish-failure", "publishing delivery attempts whose publish raises"),
        ("crash-before-publish", "publishing attempts killed after commit, before publish"),
        ("crash-after-publish", "publishing attempts killed after publish, before confirm"),
        ("conflict", "memory/SQLite commits that report a conflict"),
        ("abort", "store calls failing with StoreUnavailable (half of them after commit)"),
        ("bad", "bad messages, as a share of the valid ones"),
        ("late", "completions rerun after the trigger"),
    ):
        attribute = name.replace("-", "_")
        rates.add_argument(
            f"--{name}-rate",
            dest=attribute,
            type=float,
            default=getattr(defaults, attribute),
            metavar="P",
            help=f"{help_text} (default {getattr(defaults, attribute)})",
        )
    args = parser.parse_args(argv)
    if args.keys < 1 or args.workers < 1 or args.max_copies < 1 or args.max_attempts < 1:
        parser.error("--keys, --workers, --max-copies and --max-attempts must be at least 1")
    crash_rates = args.publish_failure + args.crash_before_publish + args.crash_after_publish
    if crash_rates > 1.0:
        parser.error("the publish failure and crash rates add up to more than 1")
    for name in (
        "publish_failure",
        "crash_before_publish",
        "crash_after_publish",
        "conflict",
        "abort",
        "bad",
        "late",
    ):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')}-rate must be between 0 and 1")
    if args.conflict >= 1.0 or args.abort >= 1.0:
        parser.error("a conflict or abort rate of 1 never lets anything commit")
    if args.db is not None and args.db.exists():
        parser.error(f"--db {args.db} exists: the soak verifies a store it starts empty")
    if args.store == "memory" and args.mode == "processes":
        parser.error("the memory store lives in one process: use --mode threads")
    from chaos_firestore import require_emulators

    problem = require_emulators(args.store, args.publisher)
    if problem:
        parser.error(problem)
    return args


def gate_mapping(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The gate file as a mapping, without its lifecycle and alerts topics: the soak verifies
    the triggers (the pipeline's own runs are tests/e2e/test_pipeline_flow.py)."""
    path = find_gate(name_or_path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for topic in ("lifecycle", "alerts"):
        data.get("topics", {}).pop(topic, None)
    return data, str(path)


def process_context(args: argparse.Namespace) -> Any:
    google = args.store == "firestore" or args.publisher == "pubsub"
    method = args.start_method or ("forkserver" if google else "fork")
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        preload = ["chaos_broker", "chaos_firestore"]
        if google:
            preload += [
                "google.cloud.firestore",
                "google.cloud.pubsub_v1",
                "phaseactors.publishers.pubsub",
            ]
        context.set_forkserver_preload(preload)
    return context


class Run:
    """One soak: plan, deliver, sweep, verify."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.say = stderr_progress(self.started) if not args.quiet else (lambda line: None)
        self.rates = FaultRates(
            publish_failure=args.publish_failure,
            crash_before_publish=args.crash_before_publish,
            crash_after_publish=args.crash_after_publish,
            conflict=args.conflict,
            abort=args.abort,
            bad=args.bad,
            late=args.late,
        )
        self.workdir = Path(tempfile.mkdtemp(prefix="phaseactors-chaos-"))
        self.suffix = uuid.uuid4().hex[:10]
        self.project = os.environ.get("GOOGLE_CLOUD_PROJECT", "phaseactors-test")
        self.pubsub: Any = None

    def close(self) -> None:
        if self.args.keep:
            self.say(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def config(self, plan: Plan) -> WorkerConfig:
        args = self.args
        gate, source = gate_mapping(args.gate)
        if args.publisher == "pubsub":
            from chaos_firestore import PubSubTriggers

            self.pubsub = PubSubTriggers.create(self.project, self.suffix)
            gate.setdefault("topics", {})["output"] = self.pubsub.topic
        db = args.db or self.workdir / "chaos.db"
        return WorkerConfig(
            gate=gate,
            gate_source=source,
            store=args.store,
            publisher=args.publisher,
            rates=self.rates,
            seed=args.seed,
            clock=SimClock(clock_start(plan.keys), time.time()),
            lease_s=args.lease,
            sqlite_path=str(db),
            log_path=str(self.workdir / "published.jsonl"),
            project=self.project,
            prefix=f"chaos{self.suffix}.",
            sabotage=args.sabotage,
            verbose=args.verbose,
        )

    def execute(self) -> int:
        args = self.args
        spec = spec_from_mapping(*gate_mapping(args.gate))
        if spec.key.format != "date":
            raise SystemExit(f"chaos: gate {spec.name} does not have date keys")
        plan = build_plan(
            spec,
            keys=args.keys,
            start=args.start_date,
            seed=args.seed,
            rates=self.rates,
            max_copies=args.max_copies,
        )
        self.say(
            f"{len(plan.keys)} keys x {len(plan.processors)} processors: "
            f"{len(plan.main)} messages ({len(plan.bad)} bad), then {len(plan.late)} late; "
            f"{args.store} store, {args.publisher} publisher, {args.workers} {args.mode}"
        )
        config = self.config(plan)
        spec = config.spec()
        shared: tuple[Store, Any] | None = None
        if args.mode == "threads":
            shared = (open_chaos_store(config), open_chaos_publisher(config))
        supervisor = Supervisor(
            config,
            mode=args.mode,
            workers=args.workers,
            shared=shared,
            progress=self.say,
            context=process_context(args) if args.mode == "processes" else None,
        )
        redeliver = args.sabotage != "no-redelivery"
        subscriptions = [
            Subscription(
                name, messages, seed=args.seed, max_attempts=args.max_attempts, redeliver=redeliver
            )
            for name, messages in (("main", plan.main), ("late", plan.late))
        ]
        wall_start = time.monotonic()
        supervisor.start()
        try:
            for subscription in subscriptions:
                supervisor.serve(subscription)
        finally:
            supervisor.stop()
        delivered = time.monotonic()
        first_deadline = min((t.after for t in spec.deadlines if t.after), default=None)
        if first_deadline and delivered - wall_start > first_deadline.total_seconds():
            self.say(f"warning: the deliveries outlasted the first deadline ({first_deadline})")

        store = shared[0] if shared is not None else open_chaos_store(config)
        actor = GateActor(spec)
        before = {s.key: s for s in store.scan(actor)}
        sweeper = GateRuntime(
            actor,
            store,
            open_chaos_publisher(config),
            clock=config.clock.shifted(args.lease + 1.0),
        )
        sweep = sweeper.sweep()
        swept = time.monotonic()
        self.say(f"sweep: {len(sweep.published)} published, {len(sweep.errors)} errors")

        published = self.published(config, len(plan.keys))
        after = {s.key: s for s in store.scan(actor)}
        quarantined = store.quarantined(spec.name, limit=10 * len(plan.bad) + 1000)
        verification = verify(
            plan,
            spec.name,
            before_sweep=before,
            after_sweep=after,
            published=published,
            quarantined=quarantined,
            sweep=sweep,
        )
        self.run_violations(verification, supervisor, subscriptions)
        store.close()
        timings = {
            "deliver_s": delivered - wall_start,
            "sweep_s": swept - delivered,
            "verify_s": time.monotonic() - swept,
            "wall_s": swept - wall_start,
        }
        line = self.line(plan, supervisor, subscriptions, sweep, verification, timings)
        print(json.dumps(line), flush=True)
        self.report(verification)
        return 1 if verification.violations else 0

    def published(self, config: WorkerConfig, keys: int) -> list[dict[str, Any]]:
        if self.pubsub is not None:
            self.say("pulling the triggers from the verification subscription")
            pulled: list[dict[str, Any]] = self.pubsub.pull_all(expect_at_least=keys)
            return pulled
        return read_publish_log(config.log_path)

    @staticmethod
    def run_violations(
        verification: Verification, supervisor: Supervisor, subscriptions: list[Subscription]
    ) -> None:
        """What the transport saw that no store can show: bugs that raised, lost messages."""
        for error in supervisor.report.errors:
            kind = "worker_died" if error.startswith("worker ") else "unexpected_error"
            verification.violations.append(Violation(kind, None, error))
        for subscription in subscriptions:
            for message in subscription.dead_lettered:
                verification.violations.append(
                    Violation(
                        "dead_lettered", message.key, f"{message.message_id} ({message.kind})"
                    )
                )

    def line(
        self,
        plan: Plan,
        supervisor: Supervisor,
        subscriptions: list[Subscription],
        sweep: SweepReport,
        verification: Verification,
        timings: dict[str, float],
    ) -> dict[str, Any]:
        args = self.args
        report = supervisor.report
        counts: Counter[str] = Counter()
        for subscription in subscriptions:
            counts.update(subscription.counts)
        fired = report.faults
        faults = {
            "publish_failures": fired["publish_failure"],
            "crashes_before_publish": fired["crash_before_publish"],
            "crashes_after_publish": fired["crash_after_publish"],
            "store_conflicts_injected": fired["store_conflicts"],
            "store_conflicts_natural": fired["natural_conflicts"],
            "store_aborts_before_commit": fired["store_aborts_before_commit"],
            "store_aborts_after_commit": fired["store_aborts_after_commit"],
            "bad_messages": len(plan.bad),
            "late_completions": plan.late_completions,
            "redeliveries": counts["redeliveries"],
        }
        figures = verification.figures
        wall = timings["wall_s"]
        return {
            "benchmark": "chaos",
            "store": args.store,
            "publisher": args.publisher,
            "mode": args.mode,
            "workers": args.workers,
            "seed": args.seed,
            "gate": supervisor.config.spec().name,
            "keys": len(plan.keys),
            "processors": len(plan.processors),
            "completions": plan.completions,
            "late_completions": plan.late_completions,
            "messages": len(plan.main) + len(plan.late),
            "deliveries": counts["deliveries"],
            "faults": faults,
            "rates": self.rates.as_dict(),
            "lease_s": args.lease,
            "outcomes": dict(sorted(report.outcomes.items())),
            "nacks": dict(sorted(report.nacks.items())),
            "worker_restarts": report.restarts,
            "dead_lettered": sum(len(s.dead_lettered) for s in subscriptions),
            "dropped": sum(len(s.dropped) for s in subscriptions),
            "pending_before_sweep": figures.get("pending_before_sweep"),
            "sweep_published": len(sweep.published),
            "keys_triggered": figures.get("keys_triggered"),
            "states": figures.get("states"),
            "profiles": figures.get("profiles"),
            "completions_recorded": figures.get("completions_recorded"),
            "late_recorded": figures.get("late_recorded"),
            "triggers_published": figures.get("triggers_published"),
            "distinct_trigger_ids": figures.get("distinct_trigger_ids"),
            "duplicate_publishes": figures.get("duplicate_publishes"),
            "keys_with_duplicate_publishes": figures.get("keys_with_duplicate_publishes"),
            "quarantined": figures.get("quarantined"),
            "quarantine_repeats": figures.get("quarantine_repeats"),
            "bad_by_kind": figures.get("bad_by_kind"),
            **{name: round(value, 3) for name, value in timings.items()},
            "keys_per_s": round(len(plan.keys) / wall, 2),
            "completions_per_s": round(plan.completions / wall, 1),
            "deliveries_per_s": round(counts["deliveries"] / wall, 1),
            "sabotage": args.sabotage,
            "violations": len(verification.violations),
            "violation_kinds": verification.kinds,
        }

    def report(self, verification: Verification) -> None:
        violations = verification.violations
        if not violations:
            self.say("no violations")
            return
        print(f"chaos: {len(violations)} violations:", file=sys.stderr)
        for violation in violations[:VIOLATIONS_SHOWN]:
            print(f"  {violation}", file=sys.stderr)
        if len(violations) > VIOLATIONS_SHOWN:
            print(f"  ... and {len(violations) - VIOLATIONS_SHOWN} more", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose)
    run = Run(args)
    try:
        return run.execute()
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
