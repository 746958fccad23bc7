"""``phaseactors pipeline status|list|sweep``: every phase of a key in one view, the runs that
are stalled (or in any state), and the sweep of the runs' deadlines."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from ..core.clock import utcnow
from ..core.untrusted import printable
from ..gate.actor import GateActor
from ..gate.operations import GateRuntime
from ..gate.status import GateStatus
from ..pipeline.actor import PipelineActor
from ..pipeline.operations import PipelineRuntime
from ..pipeline.spec import PipelineSpec
from ..pipeline.spec_loader import choose_pipeline, load_pipeline_gates
from ..pipeline.status import STATES, PipelineStatus, pipeline_status
from ..pipeline.status import gate_statuses as statuses_of_gates
from ..publishers import open_publisher
from ..stores import open_store
from .common import EXIT_PERMANENT, EXIT_TRANSIENT, emit_json, store_url
from .render import table

__all__ = ["gate_statuses", "open_pipeline", "register", "render_pipeline_status"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "pipeline", help="pipeline runs: one per key across all gates of a pipeline"
    )
    verbs = parser.add_subparsers(dest="pipeline_command", required=True, metavar="VERB")

    status = verbs.add_parser("status", help="every phase of a key: states, handoffs, alerts")
    status.add_argument("key", help="the key, e.g. a game date 2025-11-29")
    _add_flags(status)
    status.set_defaults(run=run_status)

    listing = verbs.add_parser("list", help="runs by state, e.g. --state stalled")
    listing.add_argument(
        "--state",
        action="append",
        choices=STATES,
        help="repeatable (default: every state but done)",
    )
    listing.add_argument("--limit", type=int, default=200)
    _add_flags(listing)
    listing.set_defaults(run=run_list)

    sweep = verbs.add_parser("sweep", help="pass due handoff and overall deadlines, re-publish")
    sweep.add_argument("keys", nargs="*", help="only these keys (default: every run due)")
    _add_flags(sweep)
    sweep.set_defaults(run=run_sweep)


def _add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pipeline",
        default=None,
        help="pipeline name (machines/NAME.toml) or path [$PHASEACTORS_PIPELINE, default: the"
        " only pipeline file]",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="memory://, sqlite:///path.db or firestore://PROJECT[/DB] [$PHASEACTORS_STORE]",
    )
    parser.add_argument(
        "--publisher",
        default=None,
        help="where the runs' alerts go: jsonl://PATH, log:// or pubsub://PROJECT"
        " [$PHASEACTORS_PUBLISHER, default log://]",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )


def open_pipeline(args: argparse.Namespace) -> tuple[PipelineSpec, PipelineRuntime]:
    """The pipeline and a runtime over the command's store, which must exist: these commands
    read runs that gates announced, and a mistyped path must not leave an empty store."""
    spec = choose_pipeline(args.pipeline)
    publisher = open_publisher(args.publisher)  # first: a bad URL leaves no store behind
    runtime = PipelineRuntime(
        PipelineActor(spec), open_store(store_url(args), create=False), publisher
    )
    return spec, runtime


def gate_statuses(
    spec: PipelineSpec, runtime: PipelineRuntime, key: str
) -> dict[str, GateStatus | None]:
    """Each gate's key as it stands now (None where the gate never saw the key)."""
    gates = {
        name: GateRuntime(GateActor(gate), runtime.store, runtime.publisher)
        for name, gate in load_pipeline_gates(spec).items()
    }
    return statuses_of_gates(gates, key)


def run_status(args: argparse.Namespace) -> int:
    spec, runtime = open_pipeline(args)
    snapshot = runtime.load(args.key)
    if snapshot is None:
        message = f"{spec.name}/{printable(args.key)}: no such run (no gate announced it yet)"
        if args.json:
            emit_json({"pipeline": spec.name, "key": args.key, "state": None, "error": message})
        print(message, file=sys.stderr)
        return EXIT_PERMANENT
    status = pipeline_status(
        spec, snapshot, gates=gate_statuses(spec, runtime, snapshot.key), at=utcnow()
    )
    if args.json:
        emit_json(status.to_json())
    else:
        print(render_pipeline_status(status))
    return 0


def run_list(args: argparse.Namespace) -> int:
    spec, runtime = open_pipeline(args)
    states = args.state or [s for s in STATES if s != "done"]
    now = utcnow()
    statuses = [
        pipeline_status(spec, snapshot, at=now)
        for snapshot in runtime.store.scan(runtime.actor, states=states, limit=args.limit)
    ]
    if args.json:
        rows = [s.row_json() for s in statuses]
        emit_json({"pipeline": spec.name, "states": states, "runs": rows})
        return 0
    if not statuses:
        print(f"{spec.name}: no runs in {', '.join(states)}")
        return 0
    print(
        table(
            ("key", "state", "gen", "updated (UTC)", "in progress", "next deadline", "open alerts"),
            [
                (
                    s.key,
                    s.state,
                    s.generation,
                    _when(s.updated_at),
                    s.in_progress or "-",
                    _when(s.due_at),
                    ", ".join(
                        a.reason + (f" {a.subject}" if a.subject else "") for a in s.open_alerts
                    )
                    or "-",
                )
                for s in statuses
            ],
        )
    )
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    spec, runtime = open_pipeline(args)
    report = runtime.sweep(args.keys or None)
    if args.json:
        emit_json(
            {
                "pipeline": spec.name,
                "visited": report.visited,
                "published": list(report.published),
                "still_pending": list(report.still_pending),
                "errors": report.errors,
            }
        )
    else:
        print(
            f"{spec.name}: swept {report.visited} runs, published {len(report.published)},"
            f" still pending {len(report.still_pending)}"
        )
        for key, error in report.errors.items():
            print(f"{printable(key)}: {printable(error)}", file=sys.stderr)
    return EXIT_TRANSIENT if report.errors else 0


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M") if value else ""


def _handoff(status: PipelineStatus, index: int) -> str:
    handoff = status.phases[index].handoff
    if handoff is None:
        return "-"
    within = f"{int(handoff.within.total_seconds() // 60)}m"
    if handoff.met_at is not None:
        late = handoff.due_at is not None and handoff.met_at > handoff.due_at
        return f"{within}: met{' late' if late else ''}"
    if handoff.due_at is None:
        return f"{within}: not yet due"
    return f"{within}: {'OVERDUE' if handoff.overdue else 'due'} {_when(handoff.due_at)}"


def render_pipeline_status(status: PipelineStatus) -> str:
    """The ``phaseactors pipeline status`` screen: the run, each phase, the alerts."""
    lines = [
        f"{status.pipeline} / {printable(status.key)}: {status.state.upper()}"
        f"  (generation {status.generation}, version {status.version})",
        f"began {_when(status.began_at) or '-'}, done {_when(status.done_at) or '-'},"
        f" overall deadline {_when(status.overall_due) or 'none'}"
        + (f", next deadline {_when(status.due_at)}" if status.due_at else ""),
        "",
        table(
            ("gate", "progress", "gate state", "started", "triggered", "reason", "handoff"),
            [
                (
                    p.gate,
                    p.progress,
                    p.gate_state or "-",
                    _when(p.record.started_at) if p.record else "",
                    _when(p.record.triggered_at) if p.record else "",
                    (p.record.trigger_reason or p.record.failed_reason or "") if p.record else "",
                    _handoff(status, i),
                )
                for i, p in enumerate(status.phases)
            ],
        ),
    ]
    waiting = [p for p in status.phases if p.missing]
    for phase in waiting:
        lines.append(f"\n{phase.gate} waits for: {', '.join(printable(m) for m in phase.missing)}")
    lines.append("")
    if not status.alerts:
        lines.append("alerts: none")
    else:
        lines.append("alerts:")
        for alert in status.alerts:
            cleared = f", cleared {_when(alert.cleared_at)}" if alert.cleared_at else ""
            lines.append(
                f"  {alert.severity:<6} {printable(alert.id)}  (decided {_when(alert.decided_at)}"
                f"{cleared})"
            )
            lines.append(f"         {printable(alert.summary)}")
    if status.late:
        lines.append(f"late news (after done): {len(status.late)} kept, {status.late_dropped} more")
    if status.pending_outbox:
        lines.append("pending alerts: " + ", ".join(e.id for e in status.pending_outbox))
    return "\n".join(lines)
