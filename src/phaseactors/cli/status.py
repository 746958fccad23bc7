"""``phaseactors status``: where a key stands and why; for a range of keys (``--from/--to``,
``--keys FILE``), one line per key and a count by state. Reads only: never creates a store."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from ..gate.status import GateStatus
from .common import EXIT_PERMANENT, add_common, emit_json, open_runtime
from .progress import Progress
from .render import missing_names, render_status, short_time, summary_line, table
from .selection import add_key_selection, is_ranged, selected_keys

__all__ = ["NO_STATE", "register", "run"]

NO_STATE = "no state"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show one key (state, done, missing, trigger), or a range of keys",
        description="Show where a key stands: its state, who reported, who is missing, the"
        " trigger and the history. With --from/--to or --keys FILE: one line per key.",
    )
    add_key_selection(parser)
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args, publishes=False)
    keys = selected_keys(args, spec)
    if is_ranged(args):
        return _run_many(args, spec.name, keys, runtime)
    snapshot = runtime.load(keys[0])
    if snapshot is None:
        message = f"{spec.name}/{keys[0]}: no such key (nothing delivered yet)"
        if args.json:
            emit_json({"gate": spec.name, "key": keys[0], "state": None, "error": message})
        print(message, file=sys.stderr)
        return EXIT_PERMANENT
    status = runtime.status(snapshot)
    if args.json:
        emit_json(status.to_json())
    else:
        print(render_status(status))
    return 0


def _run_many(args: argparse.Namespace, gate: str, keys: list[str], runtime: Any) -> int:
    progress = Progress("status", len(keys))
    statuses: dict[str, GateStatus | None] = {}
    for key in keys:
        snapshot = runtime.load(key)
        statuses[key] = runtime.status(snapshot) if snapshot else None
        progress.step(key)
    progress.close()
    counts = Counter(s.state if s else NO_STATE for s in statuses.values())
    if args.json:
        emit_json(
            {
                "gate": gate,
                "keys": [
                    s.to_json() if s else {"key": k, "state": None} for k, s in statuses.items()
                ],
                "summary": dict(counts),
            }
        )
        return 0
    rows = [
        (key, NO_STATE, "", "", "", "")
        if s is None
        else (
            key,
            s.state,
            s.generation,
            f"{len(s.done)}/{len(s.expected)}",
            short_time(s.updated_at),
            s.failed_reason or (s.trigger.trigger_id if s.trigger else missing_names(s.missing)),
        )
        for key, s in statuses.items()
    ]
    print(table(("key", "state", "gen", "done", "updated (UTC)", "missing / trigger"), rows))
    print(f"\n{summary_line(len(keys), counts)}")
    return 0
