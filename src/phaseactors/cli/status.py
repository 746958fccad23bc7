"""``phaseactors status KEY``: where a key stands and why."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_PERMANENT, add_common, emit_json, open_runtime
from .render import render_status


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="show one key: state, done, missing, trigger")
    parser.add_argument("key", help="the key, e.g. a game date 2025-11-29")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    snapshot = runtime.load(args.key)
    if snapshot is None:
        message = f"{spec.name}/{args.key}: no such key (nothing delivered yet)"
        if args.json:
            emit_json({"gate": spec.name, "key": args.key, "state": None, "error": message})
        print(message, file=sys.stderr)
        return EXIT_PERMANENT
    status = runtime.status(snapshot)
    if args.json:
        emit_json(status.to_json())
    else:
        print(render_status(status))
    return 0
