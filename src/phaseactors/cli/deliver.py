"""``phaseactors deliver``: apply one completion, from flags or a producer body on stdin.

Exit 0 when applied, duplicate, late or unknown; 2 on a permanent error (the message is
quarantined, the reason goes to stderr); 75 on a transient error (retry later).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.actor import Outcome
from .common import add_common, emit_json, open_runtime

_NOTES = {
    Outcome.DUPLICATE: "duplicate: already applied, nothing changed",
    Outcome.LATE: "late: recorded, the key already decided its trigger and will not trigger again",
    Outcome.UNKNOWN: "unknown processor: recorded apart, it does not count toward completion",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deliver",
        help="apply one completion (flags, or a producer JSON body on stdin)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--processor", help="processor name as the producer reports it")
    parser.add_argument("--key", help="the key (the gate's key field, e.g. game_date)")
    parser.add_argument("--status", default="success", help="success|partial|no_data|failed")
    parser.add_argument("--execution-id", help="the processor run's id (dedup key)")
    parser.add_argument("--correlation-id", help="defaults to the execution id")
    parser.add_argument("--record-count", type=int)
    parser.add_argument("--output-table")
    parser.add_argument("--error-message")
    parser.add_argument("--metadata", help="JSON object")
    parser.add_argument("--message-id", help="transport message id (dedup key)")
    add_common(parser)
    parser.set_defaults(run=run)


def _body(args: argparse.Namespace, key_field: str) -> tuple[dict[str, Any] | bytes, str]:
    if args.processor is None:  # bytes: invalid UTF-8 is the body's defect, quarantined as such
        return sys.stdin.buffer.read(), "stdin"
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
    return {k: v for k, v in body.items() if v is not None}, "cli"


def run(args: argparse.Namespace) -> int:
    from ..gate.intake import accept_message

    spec, runtime = open_runtime(args)
    body, source = _body(args, spec.key.field)
    delivery = accept_message(runtime, spec, body, message_id=args.message_id, source=source)
    snapshot = delivery.snapshot
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "key": delivery.key,
                "outcome": delivery.outcome.value,
                "detail": delivery.detail,
                "state": snapshot.state,
                "version": snapshot.version,
                "published": list(delivery.published),
            }
        )
    else:
        print(f"{spec.name}/{delivery.key}: {delivery.outcome.value} -> {snapshot.state}")
        if delivery.outcome in _NOTES:
            print(f"note: {_NOTES[delivery.outcome]} ({delivery.detail})", file=sys.stderr)
        for message_id in delivery.published:
            print(f"published trigger as {message_id}")
    return 0
