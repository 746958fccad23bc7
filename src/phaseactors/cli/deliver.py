"""``phaseactors deliver``: apply completions: one from flags, a producer's JSON body on stdin,
or recorded bodies from a JSON-lines file (--file, one body per line).

Exit 0 when applied, duplicate, late or unknown; 2 on a permanent error (the message is
quarantined, the reason goes to stderr); 75 on a transient error (retry later: deliveries are
idempotent, so delivering a whole file again is harmless). --strict refuses a processor name
the gate does not know (with the closest one it does) instead of recording it apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.actor import Outcome
from ..core.untrusted import printable
from ..errors import UsageError
from ..gate.intake import accept_message
from ..gate.spec import GateSpec
from .args import plain
from .common import (
    add_common,
    emit_json,
    open_runtime,
    open_spec,
    publisher_url,
    trigger_published,
)
from .deliver_file import check_strict, run_file
from .words import closest_processor

__all__ = ["register", "report", "run"]

_NOTES = {
    Outcome.DUPLICATE: "duplicate: already applied, nothing changed",
    Outcome.LATE: "late: recorded, the key already decided its trigger and will not trigger again",
    Outcome.UNKNOWN: "unknown processor: recorded apart, it does not count toward completion",
    Outcome.QUEUED: "queued: stored for the key's folder, which applies it next",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deliver",
        help="apply completions (flags, a producer JSON body on stdin, or --file)",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--processor", help="processor name as the producer reports it")
    parser.add_argument("--key", help="the key (the gate's key field, e.g. game_date)")
    parser.add_argument(
        "--status",
        default="success",
        choices=("success", "partial", "no_data", "failed"),
        help="the run's status (default success)",
    )
    parser.add_argument("--execution-id", help="the processor run's id (dedup key)")
    parser.add_argument("--correlation-id", help="defaults to the execution id")
    parser.add_argument("--record-count", type=int)
    parser.add_argument("--output-table")
    parser.add_argument("--error-message")
    parser.add_argument("--metadata", help="JSON object")
    parser.add_argument("--message-id", help="transport message id (dedup key)")
    parser.add_argument(
        "--file", metavar="FILE", help="deliver the producer bodies in FILE, one JSON per line"
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse processor names the gate does not know"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --file: check every line, deliver nothing"
    )
    add_common(parser)
    parser.set_defaults(run=run)


def _flags_body(args: argparse.Namespace, key_field: str) -> dict[str, Any]:
    missing = [flag for flag in ("key", "execution_id") if getattr(args, flag) is None]
    if missing:
        named = " and ".join(f"--{m.replace('_', '-')}" for m in missing)
        raise UsageError(f"--processor needs {named} too")
    body: dict[str, Any] = {
        "processor_name": args.processor,
        key_field: args.key,
        "status": args.status,
        "execution_id": args.execution_id,
        "correlation_id": args.correlation_id,
        "record_count": args.record_count,
        "output_table": args.output_table,
        "error_message": args.error_message,
    }
    if args.metadata is not None:
        try:
            body["metadata"] = json.loads(args.metadata)
        except (ValueError, RecursionError):
            body["metadata"] = args.metadata  # rejected by validation, with the field named
    return {k: v for k, v in body.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    if args.file is not None:
        if args.processor is not None:
            raise UsageError("give --file or --processor, not both")
        return run_file(args)
    if args.dry_run:
        raise UsageError("--dry-run checks the lines of a --file; it needs --file")
    spec = open_spec(args)
    body: dict[str, Any] | bytes
    if args.processor is not None:
        body, source = _flags_body(args, spec.key.field), "cli"
    elif sys.stdin.isatty():
        raise UsageError(
            "no completion given: use --processor NAME --key KEY --execution-id ID, pipe a"
            " producer's JSON body on stdin, or --file FILE"
        )
    else:  # bytes: invalid UTF-8 is the body's defect, quarantined as such
        body, source = sys.stdin.buffer.read(), "stdin"
        if not body.strip():
            raise UsageError("stdin is empty: pipe a producer's JSON body, or use --processor")
    if args.strict:
        check_strict(spec, body)
    _, runtime = open_runtime(args, spec=spec, create=True)
    delivery = accept_message(runtime, spec, body, message_id=args.message_id, source=source)
    report(args, spec, delivery, args.processor or _reported_name(body))
    return 0


def _reported_name(body: Any) -> str:
    try:
        return str(json.loads(body).get("processor_name", ""))
    except (ValueError, AttributeError, RecursionError):
        return ""


def report(args: argparse.Namespace, spec: GateSpec, delivery: Any, processor: str = "") -> None:
    """Print what one delivery did (and where its trigger went)."""
    snapshot = delivery.snapshot
    published = trigger_published(snapshot, delivery.published)
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "key": delivery.key,
                "outcome": delivery.outcome.value,
                "detail": delivery.detail,
                "state": snapshot.state,
                "version": snapshot.version,
                "published": list(published),
                "publisher": publisher_url(args) if published else None,
            }
        )
        return
    print(f"{spec.name}/{delivery.key}: {delivery.outcome.value} -> {snapshot.state}")
    if delivery.outcome in _NOTES:
        unknown = delivery.outcome is Outcome.UNKNOWN and processor
        hint = closest_processor(spec, processor) if unknown else ""
        note = f"note: {_NOTES[delivery.outcome]} ({delivery.detail}){hint}"
        print(printable(note), file=sys.stderr)
    for message_id in published:
        assert snapshot.data.trigger is not None
        name = snapshot.data.trigger.trigger_id
        print(f"published trigger {name} as {message_id} to {publisher_url(args)}")
