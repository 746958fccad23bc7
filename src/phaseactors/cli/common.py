"""Flags and plumbing shared by the CLI verbs: gate, store, publisher, JSON output, exit codes."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from typing import Any

from ..config import Settings
from ..errors import ConfigurationError, PermanentError, SpecError, TransientError
from ..gate.actor import GateActor
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from ..gate.spec_loader import load_spec
from ..limits import MAX_REASON_LENGTH
from ..publishers import open_publisher
from ..stores import open_store
from .wiring import publisher_url, with_pipelines

__all__ = [
    "EXIT_OK",
    "EXIT_PERMANENT",
    "EXIT_TRANSIENT",
    "add_common",
    "audit_text",
    "emit_json",
    "open_runtime",
    "operator_name",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PERMANENT = 2
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: retry later


def add_common(parser: argparse.ArgumentParser, *, gate_default: str | None = None) -> None:
    parser.add_argument(
        "--gate",
        default=gate_default or Settings.from_env().gate,
        help="gate name (machines/NAME.toml) or path to a gate file [$PHASEACTORS_GATE]",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="memory://, sqlite:///path.db or firestore://PROJECT[/DB] "
        "[$PHASEACTORS_STORE, default sqlite:///phaseactors.db]",
    )
    parser.add_argument(
        "--publisher",
        default=None,
        help="jsonl://PATH, log:// or pubsub://PROJECT [$PHASEACTORS_PUBLISHER, default log://]",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )


def open_runtime(
    args: argparse.Namespace, *, publisher_default: str = "log://"
) -> tuple[GateSpec, GateRuntime]:
    if not args.gate:
        raise PermanentError("no gate given: use --gate NAME|PATH or set PHASEACTORS_GATE")
    spec = load_spec(args.gate)
    store, url = open_store(args.store), publisher_url(args.publisher, publisher_default)
    publisher = with_pipelines(spec, store, open_publisher(url), url)
    return spec, GateRuntime(GateActor(spec), store, publisher)


def operator_name() -> str:
    """Who is running an operator command, for the audit trail: ``$PHASEACTORS_OPERATOR``,
    else the login name at this host. Self-asserted: the CLI cannot prove who ran it."""
    operator = Settings.from_env().operator
    if operator:
        return operator
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def audit_text(text: str) -> str:
    """argparse type of ``--reason`` and ``--by``: not blank, within the limit."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or blank")
    if len(text) > MAX_REASON_LENGTH:
        raise argparse.ArgumentTypeError(f"longer than {MAX_REASON_LENGTH} characters")
    return text.strip()


def emit_json(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True, default=str) + "\n")


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, PermanentError | SpecError | ConfigurationError):
        return EXIT_PERMANENT
    if isinstance(error, TransientError):
        return EXIT_TRANSIENT
    return EXIT_FAILED
