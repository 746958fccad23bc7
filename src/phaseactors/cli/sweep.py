"""``phaseactors sweep``: re-drive pending outboxes and due deadlines (run it on a schedule).

Without keys it visits every key with a pending trigger, a passed deadline or events left
unapplied; given keys (arguments, --from/--to, --keys FILE) it visits those that have a state
and skips the others, so a sweep never starts a key. --dry-run says what each key would do.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.events import Tick
from ..core.runtime import SweepReport
from ..core.untrusted import printable
from ..gate.operations import GateRuntime
from .args import plain
from .common import EXIT_TRANSIENT, add_common, emit_json, open_runtime, publisher_url
from .progress import Progress
from .selection import add_key_selection, selected_keys

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="re-drive pending triggers and due deadlines",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_key_selection(parser, many=True)
    parser.add_argument(
        "--dry-run", action="store_true", help="say what each key would do; change nothing"
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    chosen = selected_keys(args, spec, required=False)
    if chosen:
        keys = [k for k in chosen if runtime.load(k) is not None]
        skipped = [k for k in chosen if k not in keys]
    else:
        keys, skipped = _due(runtime), []
    if args.dry_run:
        return _dry_run(args, spec.name, runtime, keys, skipped)
    progress = Progress("sweep", len(keys))
    reports = []
    for key in keys:
        reports.append(runtime.sweep([key]))
        progress.step(key)
    progress.close()
    report = _merged(reports)
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "visited": report.visited,
                "published": list(report.published),
                "publisher": publisher_url(args),
                "still_pending": list(report.still_pending),
                "skipped": skipped,
                "errors": report.errors,
            }
        )
    else:
        print(
            f"{spec.name}: swept {report.visited} keys, published {len(report.published)},"
            f" still pending {len(report.still_pending)}"
            + (f", skipped {len(skipped)} with no state" if skipped else "")
        )
        if report.published:
            print(f"published to {publisher_url(args)}")
        for key, error in report.errors.items():
            print(printable(f"{key}: {error}"), file=sys.stderr)
    return EXIT_TRANSIENT if report.errors else 0


def _due(runtime: GateRuntime) -> list[str]:
    """The keys a sweep without arguments visits (as :meth:`Runtime.sweep` chooses them)."""
    now = runtime.clock()
    pending = {s.key for s in runtime.store.scan(runtime.actor, pending_outbox=True)}
    due = {s.key for s in runtime.store.scan(runtime.actor, due_before=now)}
    return sorted(pending | due | set(runtime.store.stranded(runtime.actor)))


def _merged(reports: list[SweepReport]) -> SweepReport:
    errors: dict[str, str] = {}
    for report in reports:
        errors.update(report.errors)
    return SweepReport(
        visited=sum(r.visited for r in reports),
        published=tuple(m for r in reports for m in r.published),
        still_pending=tuple(k for r in reports for k in r.still_pending),
        errors=errors,
    )


def _dry_run(
    args: argparse.Namespace, gate: str, runtime: GateRuntime, keys: list[str], skipped: list[str]
) -> int:
    would: dict[str, str] = {}
    for key in keys:
        snapshot = runtime.load(key)
        if snapshot is None:  # its events wait in an inbox: the sweep applies them
            would[key] = "apply the events waiting for it"
            continue
        after = runtime.actor.step(snapshot, Tick(at=runtime.clock())).snapshot
        would[key] = _change(snapshot, after)
    if args.json:
        emit_json({"gate": gate, "dry_run": True, "would": would, "skipped": skipped})
        return 0
    for key, text in would.items():
        print(f"{key}  would {text}")
    for key in skipped:
        print(f"{key}  skipped: no state")
    print(f"\ndry run, nothing changed: {len(would)} keys to sweep, {len(skipped)} skipped")
    return 0


def _change(before: Any, after: Any) -> str:
    notes = []
    if after.state != before.state:
        notes.append(f"go {before.state} -> {after.state}")
    if after.outbox:
        notes.append(f"publish {', '.join(e.id for e in after.outbox)}")
    passed = set(after.data.deadlines_passed) - set(before.data.deadlines_passed)
    if passed:
        notes.append(f"pass deadline {', '.join(sorted(passed))}")
    return "; ".join(notes) or "change nothing (nothing due)"
