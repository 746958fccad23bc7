"""Flags and plumbing shared by the CLI verbs: gate, store, publisher, JSON output, exit codes,
confirmation of destructive commands.

Stores are opened for what a command does: commands that only read never create one (a
mistyped SQLite path is "no store at PATH", not a new empty file); ``deliver`` and
``demo`` create it; operator commands create it only with ``--create``. Triggers go, unless
told otherwise, to a JSON-lines file beside a SQLite store (``NAME.triggers.jsonl``), to
``phaseactors.triggers.jsonl`` for ``memory://`` and to ``pubsub://PROJECT`` for
``firestore://PROJECT``, like the Cloud Function; every command that published says where.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..core.publisher import Publisher
from ..core.snapshot import OutboxEntry, Snapshot
from ..errors import (
    ConfigurationError,
    NotConfirmed,
    PermanentError,
    SpecError,
    TransientError,
    UsageError,
)
from ..gate.actor import GateActor
from ..gate.data import GateData
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from ..gate.spec_loader import available_gates, load_spec
from ..publishers import open_publisher
from ..stores import DEFAULT_STORE_URL, Store, open_store
from .args import audit_text
from .wiring import with_pipelines

__all__ = [
    "CLI_CONNECT_TIMEOUT",
    "CLI_PUBLISH_TIMEOUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PERMANENT",
    "EXIT_TRANSIENT",
    "add_common",
    "audit_text",
    "confirm",
    "default_publisher",
    "emit_json",
    "exit_code_for",
    "json_emitted",
    "open_runtime",
    "open_spec",
    "operator_name",
    "publisher_url",
    "store_url",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PERMANENT = 2
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: retry later

#: Seconds a command waits for Firestore to answer before it gives up (a function waits the
#: client's minute); ``?connect_timeout=`` in the store URL overrides it.
CLI_CONNECT_TIMEOUT = 5.0
#: Seconds a command waits for Pub/Sub to confirm a publish; ``?timeout=`` overrides it.
CLI_PUBLISH_TIMEOUT = 10.0

_emitted = False


def add_common(
    parser: argparse.ArgumentParser, *, gate_default: str | None = None, json_flag: bool = True
) -> None:
    parser.add_argument(
        "--gate",
        default=gate_default or Settings.from_env().gate,
        help="gate name (machines/NAME.toml, or one shipped with phaseactors) or path to a"
        " gate file [$PHASEACTORS_GATE]",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="memory://, sqlite:///path.db or firestore://PROJECT[/DB] "
        f"[$PHASEACTORS_STORE, default {DEFAULT_STORE_URL}]",
    )
    parser.add_argument(
        "--publisher",
        default=None,
        help="where triggers go: jsonl://PATH, log:// or pubsub://PROJECT [$PHASEACTORS_PUBLISHER;"
        " default: STORE.triggers.jsonl beside a SQLite store, pubsub://PROJECT for Firestore]",
    )
    if json_flag:
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object on stdout, nothing else"
        )


def store_url(args: argparse.Namespace) -> str:
    """The store URL a command uses: ``--store``, else ``$PHASEACTORS_STORE``, else the
    default file; a Firestore URL gets the CLI's connect timeout unless it has one."""
    url: str = getattr(args, "store", None) or Settings.from_env().store or DEFAULT_STORE_URL
    if url.startswith("firestore://") and "connect_timeout=" not in url:
        url += ("&" if "?" in url else "?") + f"connect_timeout={CLI_CONNECT_TIMEOUT:g}"
    return url


def default_publisher(store: str) -> str:
    """Where triggers go when nobody said: beside a SQLite file, a file in the working
    directory for a memory store, the project's Pub/Sub for a Firestore store."""
    parts = urlsplit(store)
    if parts.scheme == "sqlite":
        path = Path(parts.path[1:] if parts.path.startswith("/") else parts.path)
        return f"jsonl://{path.with_suffix('.triggers.jsonl')}"
    if parts.scheme == "firestore" and parts.netloc:
        return f"pubsub://{parts.netloc}"
    return "jsonl://phaseactors.triggers.jsonl"


def publisher_url(args: argparse.Namespace) -> str:
    """The publisher URL a command uses: ``--publisher``, else ``$PHASEACTORS_PUBLISHER``,
    else :func:`default_publisher`; Pub/Sub gets the CLI's publish timeout unless set."""
    url: str = (
        getattr(args, "publisher", None)
        or Settings.from_env().publisher
        or default_publisher(store_url(args))
    )
    if url.startswith("pubsub://") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + f"timeout={CLI_PUBLISH_TIMEOUT:g}"
    return url


def open_spec(args: argparse.Namespace) -> GateSpec:
    """The gate named by ``--gate`` (or ``$PHASEACTORS_GATE``)."""
    if not args.gate:
        known = ", ".join(sorted(available_gates())) or "none found"
        raise UsageError(
            f"no gate given: use --gate NAME|PATH or set PHASEACTORS_GATE (gates: {known})"
        )
    return load_spec(args.gate)


class _ReadOnly:
    """The publisher of commands that only read: they never send an event."""

    def publish(self, entry: OutboxEntry) -> str:
        raise RuntimeError(f"a read-only command tried to publish {entry.id}")


def open_runtime(
    args: argparse.Namespace,
    *,
    spec: GateSpec | None = None,
    create: bool = False,
    publishes: bool = True,
) -> tuple[GateSpec, GateRuntime]:
    """The gate (``spec``, else ``--gate``) and a runtime over the command's store (created
    only if ``create``) and, if the command ``publishes``, its publisher."""
    spec = spec or open_spec(args)
    # the publisher first: a mistyped publisher URL must not leave a new store behind
    publisher: Publisher = open_publisher(publisher_url(args)) if publishes else _ReadOnly()
    store: Store = open_store(store_url(args), create=create)
    url = publisher_url(args)
    if publishes:  # a gate's announcements also reach its pipeline runs, in this process
        publisher = with_pipelines(spec, store, publisher, url)
    return spec, GateRuntime(GateActor(spec), store, publisher)


def trigger_published(snapshot: Snapshot[GateData], published: Iterable[str]) -> tuple[str, ...]:
    """Of the messages a command published for a key, the trigger's: a gate also publishes its
    announcements and alerts, which are not triggers."""
    trigger = snapshot.data.trigger
    return tuple(m for m in published if trigger is not None and m == trigger.message_id)


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


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask ``question`` on a terminal before a destructive command; ``--yes``, or input that
    is not a terminal (a script), skips it. Anything but y/yes raises :class:`NotConfirmed`."""
    if getattr(args, "yes", False) or not sys.stdin.isatty():
        return
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmed("not confirmed; nothing was done (--yes skips the question)")


def emit_json(value: dict[str, Any]) -> None:
    """Print ``value`` as the command's one JSON object on stdout."""
    global _emitted
    sys.stdout.write(json.dumps(value, sort_keys=True, default=str) + "\n")
    _emitted = True


def json_emitted() -> bool:
    """Whether this command already printed its JSON object."""
    return _emitted


def exit_code_for(error: BaseException) -> int:
    """2 for what the user must change (arguments, settings, the message), 75 for what may
    succeed later, 1 for the rest (a refused confirmation, a failed deployment)."""
    if isinstance(error, PermanentError | SpecError | ConfigurationError | UsageError):
        return EXIT_PERMANENT
    if isinstance(error, TransientError):
        return EXIT_TRANSIENT
    return EXIT_FAILED
