"""``phaseactors quarantine list|show|replay|purge``: the messages that could never be applied.

list shows them newest first (--resolved: the audit entries of those purged or replayed);
show prints one with its raw text; replay delivers it again through the same intake as
deliver, as it was or a corrected copy (--body FILE, - for stdin), and when it goes through
it leaves the quarantine with an audit entry; purge removes messages for good (asking
first on a terminal), each leaving an audit entry with who, when and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.clock import format_utc
from ..core.store import Quarantined, Resolution
from ..core.untrusted import printable
from ..errors import UsageError
from ..gate.quarantine_log import QuarantineLog
from ..gate.spec_loader import load_spec
from ..limits import MAX_BODY_BYTES
from ..stores import open_store
from .args import CliParser, audit_text, duration, plain, positive_int
from .common import add_common, confirm, emit_json, open_runtime, operator_name, store_url
from .deliver import report
from .render import short_time
from .tables import table

__all__ = ["register"]

#: Messages one purge takes at most.
MAX_PURGE = 10_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "quarantine",
        help="list, show, replay or purge messages that could never be applied",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=CliParser
    )
    listing = verbs.add_parser("list", help="quarantined messages, newest first")
    listing.add_argument(
        "--resolved", action="store_true", help="the purged and replayed ones instead (audit)"
    )
    listing.add_argument("--limit", type=positive_int, default=100, help="at most (default 100)")
    add_common(listing)
    listing.set_defaults(run=run_list)

    show = verbs.add_parser("show", help="one message with its reason and raw text")
    show.add_argument("id", help="the message's id (from quarantine list)")
    add_common(show)
    show.set_defaults(run=run_show)

    replay = verbs.add_parser("replay", help="deliver a message again, as it was or corrected")
    replay.add_argument("id", help="the message's id (from quarantine list)")
    replay.add_argument(
        "--body", metavar="FILE", help="deliver this corrected body instead (- for stdin)"
    )
    _audit_flags(replay, reason_required=False)
    add_common(replay)
    replay.set_defaults(run=run_replay)

    purge = verbs.add_parser("purge", help="remove messages for good (audited; asks first)")
    purge.add_argument("ids", nargs="*", metavar="ID", help="the messages' ids")
    purge.add_argument(
        "--all", action="store_true", help="every quarantined message (of --gate, if given)"
    )
    purge.add_argument(
        "--older-than", type=duration, metavar="DURATION", help="with --all: only these, e.g. 7d"
    )
    purge.add_argument("--dry-run", action="store_true", help="list what would go; purge nothing")
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _audit_flags(purge, reason_required=True)
    add_common(purge)
    purge.set_defaults(run=run_purge)


def _audit_flags(parser: argparse.ArgumentParser, *, reason_required: bool) -> None:
    parser.add_argument(
        "--reason",
        required=reason_required,
        type=audit_text,
        help="why (kept in the audit entry)",
    )
    parser.add_argument(
        "--by",
        type=audit_text,
        default=None,
        help="who (default $PHASEACTORS_OPERATOR, else USER@HOST; self-asserted)",
    )


def _log(args: argparse.Namespace) -> QuarantineLog:
    return QuarantineLog(open_store(store_url(args), create=False))


def _gate_filter(args: argparse.Namespace) -> str | None:
    return load_spec(args.gate).name if args.gate else None


def run_list(args: argparse.Namespace) -> int:
    gate, log = _gate_filter(args), _log(args)
    if args.resolved:
        resolved = log.resolutions(gate, limit=args.limit)
        if args.json:
            emit_json({"gate": gate, "resolved": [_resolution_json(r) for r in resolved]})
        elif not resolved:
            print("no purged or replayed messages" + (f" of {gate}" if gate else ""))
        else:
            rows = [
                (r.id, short_time(r.at), r.action, r.outcome or "", r.by, r.actor or "", r.reason)
                for r in resolved
            ]
            print(table(("id", "at (UTC)", "action", "outcome", "by", "gate", "why"), rows))
        return 0
    records = log.messages(gate, limit=args.limit)
    if args.json:
        emit_json({"gate": gate, "quarantined": [_record_json(r, raw=False) for r in records]})
    elif not records:
        print("no quarantined messages" + (f" of {gate}" if gate else ""))
    else:
        lines = [
            (r.id, short_time(r.at), r.actor or "", r.source, r.message_id or "", r.reason)
            for r in records
        ]
        print(table(("id", "at (UTC)", "gate", "source", "message id", "reason"), lines))
    return 0


def run_show(args: argparse.Namespace) -> int:
    record = _log(args).get(args.id)
    if args.json:
        emit_json(_record_json(record, raw=True))
        return 0
    fields = [
        ("gate", record.actor or "-"),
        ("at", f"{record.at:%Y-%m-%d %H:%M:%S} UTC"),
        ("source", record.source),
        ("message id", record.message_id or "-"),
        ("reason", record.reason),
    ]
    print(f"quarantined message {printable(str(record.id))}")
    for name, value in fields:
        print(f"  {name + ':':<12} {printable(value)}")
    print(f"  raw ({len(record.raw.encode('utf-8', 'surrogatepass'))} bytes):")
    for line in _pretty(record.raw).splitlines():
        print(f"    {printable(line)}")
    print(
        f"next: phaseactors quarantine replay {record.id} [--body FIXED.json]"
        f"  or  phaseactors quarantine purge {record.id} --reason WHY"
    )
    return 0


def _pretty(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False)
    except (ValueError, RecursionError):
        return raw


def run_replay(args: argparse.Namespace) -> int:
    log = _log(args)
    record = log.get(args.id)
    if not args.gate and not record.actor:
        raise UsageError(f"quarantined message {args.id} names no gate: give --gate NAME")
    args.gate = args.gate or record.actor
    spec, runtime = open_runtime(args)
    body = _read_body(args.body) if args.body is not None else None
    replayed = log.replay(
        runtime, args.id, by=args.by or operator_name(), reason=args.reason, body=body
    )
    report(args, spec, replayed.delivery)
    if not args.json:
        print(printable(f"message {args.id} left the quarantine (see quarantine list --resolved)"))
    return 0


def _read_body(path: str) -> bytes:
    try:
        if path == "-":
            if sys.stdin.isatty():
                raise UsageError("--body -: no body on stdin; pipe it in, or give a file")
            data = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BODY_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--body {path}: cannot read it: {exc.strerror or exc}") from None
    if not data.strip():
        raise UsageError(f"--body {path}: it is empty")
    return data


def run_purge(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all:
        raise UsageError("give the ids of the messages to purge, or --all (not both)")
    if args.older_than is not None and not args.all:
        raise UsageError("--older-than goes with --all")
    log = _log(args)
    if args.all:
        records = log.messages(_gate_filter(args), limit=MAX_PURGE)
        if args.older_than is not None:
            cutoff = log.clock() - args.older_than
            records = [r for r in records if r.at <= cutoff]
    else:
        records = [log.get(record_id) for record_id in dict.fromkeys(args.ids)]
    ids = [str(r.id) for r in records]
    if args.dry_run or not records:
        _purge_report(args, records, [], dry_run=True)
        return 0
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    confirm(args, f"purge {len(ids)} quarantined message(s) ({shown}) for good?")
    by = args.by or operator_name()
    purged = [log.purge(record_id, by=by, reason=args.reason) for record_id in ids]
    _purge_report(args, records, purged, dry_run=False)
    return 0


def _purge_report(
    args: argparse.Namespace,
    records: list[Quarantined],
    purged: list[Resolution],
    *,
    dry_run: bool,
) -> None:
    if args.json:
        emit_json(
            {
                "dry_run": dry_run,
                "ids": [r.id for r in records],
                "purged": [_resolution_json(r) for r in purged],
            }
        )
        return
    if dry_run:
        for record in records:
            print(f"would purge {record.id}: {printable(record.reason)}")
        print(f"dry run, nothing purged: {len(records)} message(s)")
        return
    print(
        f"purged {len(purged)} message(s) by {printable(purged[0].by)}: {printable(args.reason)}"
        " (audited: phaseactors quarantine list --resolved)"
    )


def _record_json(record: Quarantined, *, raw: bool) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": record.id,
        "at": format_utc(record.at),
        "gate": record.actor,
        "source": record.source,
        "message_id": record.message_id,
        "reason": record.reason,
        "raw_bytes": len(record.raw.encode("utf-8", "surrogatepass")),
    }
    if raw:
        value["raw"] = record.raw
    return value


def _resolution_json(resolution: Resolution) -> dict[str, Any]:
    value = resolution.fields()
    value["gate"] = value.pop("actor")
    return {k: format_utc(v) if k in ("at", "quarantined_at") else v for k, v in value.items()}
