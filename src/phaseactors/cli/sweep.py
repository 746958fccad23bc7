"""``phaseactors sweep``: re-drive pending outboxes and due deadlines (run it on a schedule)."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_TRANSIENT, add_common, emit_json, open_runtime


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sweep", help="re-drive pending triggers and due deadlines")
    parser.add_argument("keys", nargs="*", help="only these keys (default: every key due)")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    report = runtime.sweep(args.keys or None)
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "visited": report.visited,
                "published": list(report.published),
                "still_pending": list(report.still_pending),
                "errors": report.errors,
            }
        )
    else:
        print(
            f"{spec.name}: swept {report.visited} keys, published {len(report.published)},"
            f" still pending {len(report.still_pending)}"
        )
        for key, error in report.errors.items():
            print(f"{key}: {error}", file=sys.stderr)
    return EXIT_TRANSIENT if report.errors else 0
