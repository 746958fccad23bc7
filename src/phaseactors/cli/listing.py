"""``phaseactors list`` and ``phaseactors history``: find stuck keys, read a key's life."""

from __future__ import annotations

import argparse
import sys

from ..clock import utcnow
from ..machines.gate_status import gate_status
from ..machines.policy import parse_duration
from .common import EXIT_PERMANENT, add_common, emit_json, open_runtime
from .render import render_history, table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser("list", help="keys by state, e.g. stuck ones with --older-than")
    listing.add_argument(
        "--state",
        action="append",
        help="waiting|partial|complete|triggered|failed (repeatable; default all but triggered)",
    )
    listing.add_argument(
        "--older-than",
        type=parse_duration,
        default=None,
        help="only keys unchanged for this long, e.g. 2h",
    )
    listing.add_argument("--limit", type=int, default=200)
    add_common(listing)
    listing.set_defaults(run=run_list)

    history = subparsers.add_parser("history", help="every transition of one key, with causes")
    history.add_argument("key")
    add_common(history)
    history.set_defaults(run=run_history)


def run_list(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    states = args.state or ["waiting", "partial", "complete", "failed"]
    cutoff = utcnow() - args.older_than if args.older_than else None
    rows = []
    for snapshot in runtime.store.scan(runtime.actor, states=states):
        if cutoff is not None and snapshot.updated_at is not None and snapshot.updated_at > cutoff:
            continue
        status = gate_status(spec, snapshot)
        rows.append(
            {
                "key": snapshot.key,
                "state": snapshot.state,
                "generation": snapshot.generation,
                "updated_at": status["updated_at"],
                "done": len(status["done"]),
                "missing": status["missing"],
                "missing_optional": status["missing_optional"],
                "failed_reason": status["failed_reason"],
                "due_at": status["due_at"],
                "profile": status["profile"],
            }
        )
        if len(rows) >= args.limit:
            break
    if args.json:
        emit_json({"gate": spec.name, "states": states, "keys": rows})
        return 0
    if not rows:
        print(
            f"{spec.name}: no keys in {', '.join(states)}"
            + (f" older than {args.older_than}" if args.older_than else "")
        )
        return 0
    print(
        table(
            ("key", "state", "gen", "done", "updated (UTC)", "next deadline", "missing / reason"),
            [
                (
                    r["key"],
                    r["state"],
                    r["generation"],
                    r["done"],
                    (r["updated_at"] or "")[:19],
                    (r["due_at"] or "")[:16],
                    r["failed_reason"] or _missing(r["missing"]),
                )
                for r in rows
            ],
        )
    )
    return 0


def _missing(names: list[str], shown: int = 3) -> str:
    if not names:
        return "-"
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)} missing: {', '.join(names[:shown])}{more}"


def run_history(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    snapshot = runtime.load(args.key)
    if snapshot is None:
        print(f"{spec.name}/{args.key}: no such key", file=sys.stderr)
        return EXIT_PERMANENT
    history = gate_status(spec, snapshot)["history"]
    if args.json:
        emit_json({"gate": spec.name, "key": snapshot.key, "history": history})
    else:
        print(render_history(history))
    return 0
