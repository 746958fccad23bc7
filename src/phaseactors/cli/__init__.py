"""The ``phaseactors`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..core.untrusted import printable
from ..errors import PhaseactorsError
from . import deliver, demo, deploy, diagram, listing, operate, serve, stats, status, sweep
from .common import exit_code_for
from .definitions import register_definition_verbs

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phaseactors",
        description="Phase gates that trigger the next phase exactly once per key.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb in (demo, status, listing, stats, deliver, sweep, operate, serve, diagram, deploy):
        verb.register(subparsers)
    register_definition_verbs(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
    except PhaseactorsError as error:
        print(f"phaseactors {args.command}: {printable(str(error))}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
