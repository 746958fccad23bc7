"""The ``phaseactors`` command line.

Errors are classified here, once for every verb: a user's mistake (a wrong argument, URL,
key, gate file or message) is one line on stderr and exit 2, a problem that may clear (the
store or the publisher unreachable) exit 75, a refused confirmation exit 1; with ``--json``,
stdout gets the error as its one JSON object. Never a traceback for any of them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.untrusted import printable
from ..errors import PermanentError, PhaseactorsError
from . import (
    check,
    console,
    deliver,
    demo,
    deploy,
    diagram,
    init,
    listing,
    migrate,
    operate,
    pipeline,
    quarantine,
    serve,
    stats,
    status,
    sweep,
)
from .args import CliParser
from .common import emit_json, exit_code_for, json_emitted

__all__ = ["build_parser", "main"]

EXIT_BROKEN_PIPE = 141  # what a shell reports for a command whose reader went away (SIGPIPE)
EXIT_INTERRUPTED = 130


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = CliParser(
        prog="phaseactors",
        description="Phase gates that trigger the next phase exactly once per key.",
        epilog="Exit codes: 0 done (or a duplicate), 1 not confirmed or failed, 2 a mistake to"
        " fix (reason on stderr), 75 transient (retry later).",
    )
    parser.add_argument("--version", action="version", version=f"phaseactors {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress and warnings to stderr"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbs = (demo, init, status, listing, stats, deliver, sweep, operate, migrate, quarantine)
    for verb in (*verbs, serve, check, diagram, deploy, console, pipeline):
        verb.register(subparsers)
    _remember(parser, list(sys.argv[1:] if argv is None else argv))
    return parser


def _remember(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Give every parser the command line, which :meth:`CliParser.error` reads for --json."""
    parser.argv = argv  # type: ignore[attr-defined]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _remember(child, argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(  # the command says what went wrong itself; -v shows the library's log
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
    except PhaseactorsError as error:
        return _failed(args, error)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"phaseactors {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _failed(args: argparse.Namespace, error: PhaseactorsError) -> int:
    code = exit_code_for(error)
    text = printable(str(error))
    quarantined = error.quarantined_as if isinstance(error, PermanentError) else None
    where = f" (quarantined as {quarantined}: phaseactors quarantine show {quarantined})"
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    print(f"phaseactors {command}: {text}{where if quarantined else ''}", file=sys.stderr)
    if getattr(args, "json", False) and not json_emitted():
        reply = {"error": text, "error_type": type(error).__name__, "exit_code": code}
        if quarantined:
            reply["quarantined_as"] = quarantined
        emit_json(reply)
    return code


if __name__ == "__main__":
    sys.exit(main())
