"""``phaseactors stats``: a gate's keys summarised from the store — states, trigger reasons and
latency, deadlines passed, failures, late and unknown reports, quarantined messages."""

from __future__ import annotations

import argparse

from ..gate.stats import summarize
from .common import add_common, emit_json, open_runtime
from .render import table

_QUARANTINE_LIMIT = 100_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stats", help="a gate's keys summarised from the store")
    parser.add_argument(
        "--from", dest="first", metavar="KEY", help="first key of the range (included)"
    )
    parser.add_argument("--to", dest="last", metavar="KEY", help="last key of the range (included)")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args, publishes=False)
    snapshots = [
        s
        for s in runtime.store.scan(runtime.actor, start=args.first)
        if args.last is None or s.key <= args.last
    ]
    quarantined = len(runtime.store.quarantined(spec.name, limit=_QUARANTINE_LIMIT))
    stats = summarize(spec.name, snapshots, quarantined)
    if args.json:
        emit_json(stats.to_json())
        return 0

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} s"

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"

    span = f" from {args.first or 'the first key'} to {args.last or 'the last'}"
    print(f"{spec.name}: {stats.keys} keys{span if args.first or args.last else ''}")
    print(
        table(
            ("measure", "value"),
            [
                ("states", listed(stats.states)),
                ("triggers decided, by reason", listed(stats.trigger_reasons)),
                ("triggers published", stats.triggers_published),
                (
                    "first completion to trigger",
                    f"p50 {seconds(stats.trigger_latency_p50)},"
                    f" p95 {seconds(stats.trigger_latency_p95)},"
                    f" max {seconds(stats.trigger_latency_max)}",
                ),
                ("deadlines passed", listed(stats.deadlines_passed)),
                ("failed keys, by cause", listed(stats.failures)),
                ("completions recorded", stats.completions),
                ("failure reports", stats.failed_reports),
                ("late reports", stats.late_reports),
                ("unknown-processor reports", stats.unknown_reports),
                ("failed publish attempts (pending)", stats.failed_publish_attempts),
                ("quarantined messages (the gate's)", stats.quarantined),
            ],
        )
    )
    return 0
