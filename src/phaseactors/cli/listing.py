"""``phaseactors list`` and ``phaseactors history``: find stuck keys, read a key's life."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..core.clock import utcnow
from ..core.codec import history_json
from ..errors import PermanentError
from ..gate.changes import summary
from ..gate.machine import GateMachine
from ..gate.status import GateStatus
from .args import duration, format_duration, positive_int
from .common import add_common, emit_json, open_runtime
from .render import missing_names, render_history, short_time, table

__all__ = ["STATES", "register", "run_history", "run_list"]

#: Every state a gate key can be in, in the machine's order.
STATES = tuple(state.id for state in GateMachine.states)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser(
        "list",
        help="keys by state, e.g. stuck ones with --older-than",
        description="List the keys of a gate by state, with what each is missing. Reads only.",
    )
    listing.add_argument(
        "--state",
        action="append",
        choices=STATES,
        help="only keys in this state (repeatable; default: all but triggered)",
    )
    listing.add_argument(
        "--older-than",
        type=duration,
        default=None,
        metavar="DURATION",
        help="only keys unchanged for this long, e.g. 90m, 2h, 1d",
    )
    listing.add_argument(
        "--drifted",
        action="store_true",
        help="only keys pinned to a definition other than the gate file's current one",
    )
    listing.add_argument(
        "--limit", type=positive_int, default=200, help="at most this many keys (default 200)"
    )
    add_common(listing)
    listing.set_defaults(run=run_list)

    history = subparsers.add_parser(
        "history",
        help="every transition of one key, with causes",
        description="Every transition of one key: when, which event, why and by whom. Reads only.",
    )
    history.add_argument("key", help="the key, e.g. a game date 2025-11-29")
    add_common(history)
    history.set_defaults(run=run_history)


def run_list(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args, publishes=False)
    states = args.state or ["waiting", "partial", "complete", "failed"]
    cutoff = utcnow() - args.older_than if args.older_than else None
    statuses: list[GateStatus] = []
    for snapshot in runtime.store.scan(runtime.actor, states=states):
        if cutoff is not None and snapshot.updated_at is not None and snapshot.updated_at > cutoff:
            continue
        status = runtime.status(snapshot)
        if args.drifted and not (status.definition and status.definition.drifted):
            continue
        statuses.append(status)
        if len(statuses) >= args.limit:
            break
    if args.json:
        rows = [s.row_json() for s in statuses]
        emit_json({"gate": spec.name, "states": states, "keys": rows})
        return 0
    if not statuses:
        print(
            f"{spec.name}: no {'drifted ' if args.drifted else ''}keys in {', '.join(states)}"
            + (f" unchanged for {format_duration(args.older_than)}" if args.older_than else "")
        )
        return 0
    if args.drifted:
        print(drifted_table(statuses))
        return 0
    print(
        table(
            ("key", "state", "gen", "done", "updated (UTC)", "next deadline", "missing / reason"),
            [
                (
                    s.key,
                    s.state,
                    s.generation,
                    len(s.done),
                    short_time(s.updated_at),
                    short_time(s.due_at),
                    s.failed_reason or missing_names(s.missing),
                )
                for s in statuses
            ],
        )
    )
    return 0


def drifted_table(statuses: Sequence[GateStatus]) -> str:
    """Keys pinned to another definition than the current file's, with what differs."""
    rows = []
    for s in statuses:
        view = s.definition
        assert view is not None
        changes = summary(view.changes, limit=80) if view.known else "(definition not readable)"
        rows.append(
            (s.key, s.state, s.generation, view.fingerprint, changes, missing_names(s.missing))
        )
    return table(("key", "state", "gen", "definition", "changed since", "missing"), rows)


def run_history(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args, publishes=False)
    snapshot = runtime.load(args.key)
    if snapshot is None:
        raise PermanentError(f"{spec.name}/{args.key}: no such key (nothing delivered yet)")
    if args.json:
        history = [history_json(h) for h in snapshot.history]
        emit_json({"gate": spec.name, "key": snapshot.key, "history": history})
    else:
        print(render_history(snapshot.history))
    return 0
