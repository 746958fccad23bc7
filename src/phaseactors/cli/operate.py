"""Audited operator commands: ``force-trigger``, ``rearm`` and ``fail`` a key, with a reason.

Each runs the same step as any delivery, inside the store's transaction, and records who
($PHASEACTORS_OPERATOR, else USER@HOST), why and when in the key's history. A key that
has no state yet is refused unless --create is given (a typo such as 2052 for 2025 must not
start a key and trigger the next phase). force-trigger and fail ask for confirmation on a
terminal, and so do rearm and fail over a range of keys (--from/--to, --keys FILE); --yes
skips the question, --dry-run says what would happen and changes nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.untrusted import printable
from ..errors import KeyNotFound, PermanentError
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from .args import audit_text, plain
from .batch import KeyResult, apply, counts, predict
from .common import (
    EXIT_PERMANENT,
    EXIT_TRANSIENT,
    add_common,
    confirm,
    emit_json,
    open_runtime,
    operator_name,
    publisher_url,
)
from .progress import Progress
from .render import summary_line
from .selection import add_key_selection, is_ranged, selected_keys

__all__ = ["register", "run"]

_SUMMARIES = {
    "force-trigger": "trigger the next phase now, whatever is missing (asks first)",
    "rearm": "start a new generation so the key can trigger again",
    "fail": "mark the key failed (asks first)",
}
_RANGED = ("rearm", "fail")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, summary in _SUMMARIES.items():
        parser = subparsers.add_parser(
            verb,
            help=summary,
            description=plain(__doc__),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if verb in _RANGED:
            add_key_selection(parser)
        else:
            parser.add_argument("key", help="the key, e.g. a game date 2025-11-29")
        parser.add_argument(
            "--reason", required=True, type=audit_text, help="why (kept in the key's history)"
        )
        parser.add_argument(
            "--by",
            type=audit_text,
            default=None,
            help="who (default $PHASEACTORS_OPERATOR, else USER@HOST; self-asserted)",
        )
        parser.add_argument(
            "--create", action="store_true", help="act on keys that have no state yet too"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would happen; change nothing"
        )
        parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        add_common(parser)
        parser.set_defaults(run=run, verb=verb)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args, create=args.create and not args.dry_run)
    by = args.by or operator_name()
    if args.verb in _RANGED:
        keys = selected_keys(args, spec)
        if is_ranged(args):
            return _run_many(args, spec, runtime, keys, by)
        key = keys[0]
    else:
        key = spec.key.validate(args.key)
    return _run_one(args, spec, runtime, key, by)


def _run_one(
    args: argparse.Namespace, spec: GateSpec, runtime: GateRuntime, key: str, by: str
) -> int:
    snapshot = runtime.load(key)
    if snapshot is None and not args.create:
        raise KeyNotFound(spec.name, key)
    options: dict[str, Any] = {"reason": args.reason, "by": by, "create": args.create}
    planned = predict(runtime, args.verb, key, snapshot, **options)
    if planned.result == "refused":
        raise PermanentError(f"{key} is {planned.detail}")
    if args.dry_run:
        _report_one(args, spec, planned, by)
        return 0
    if args.verb != "rearm":
        state = snapshot.state if snapshot else "no state yet"
        missing = _missing(spec, snapshot)
        confirm(args, f"{args.verb} {spec.name}/{key} ({state}{missing})?")
    result = apply(runtime, args.verb, key, snapshot, **options, keep_going=False)
    if result.result == "refused":  # another writer changed the key since it was loaded
        raise PermanentError(f"{key} is {result.detail}")
    _report_one(args, spec, result, by)
    return 0


def _missing(spec: GateSpec, snapshot: Any) -> str:
    if snapshot is None:
        return ""
    missing = [p for p in spec.required if p not in snapshot.data.done]
    return f", {len(missing)} required missing" if missing else ""


def _report_one(args: argparse.Namespace, spec: GateSpec, result: KeyResult, by: str) -> None:
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "key": result.key,
                "state": result.after,
                "generation": result.generation,
                "by": by,
                "reason": args.reason,
                "dry_run": args.dry_run,
                "result": result.result,
                "trigger_id": result.trigger_id,
                "published": list(result.published),
                "publisher": publisher_url(args) if result.published else None,
                "detail": result.detail,
            }
        )
        return
    prefix = "dry run: " if args.dry_run else ""
    print(
        printable(
            f"{prefix}{spec.name}/{result.key}: {result.result}: {result.before or 'no state'}"
            f" -> {result.after} (generation {result.generation}) by {by}: {args.reason}"
        )
    )
    for message_id in result.published:
        print(f"published trigger {result.trigger_id} as {message_id} to {publisher_url(args)}")


def _run_many(
    args: argparse.Namespace, spec: GateSpec, runtime: GateRuntime, keys: list[str], by: str
) -> int:
    options: dict[str, Any] = {"reason": args.reason, "by": by, "create": args.create}
    loaded = {key: runtime.load(key) for key in keys}
    plans = {key: predict(runtime, args.verb, key, loaded[key], **options) for key in keys}
    changing = sum(1 for p in plans.values() if p.result.startswith("would"))
    if args.dry_run:
        return _report_many(args, spec, plans, dry_run=True)
    confirm(
        args,
        f"{args.verb} {changing} of {len(keys)} keys of {spec.name}"
        f" ({keys[0]} .. {keys[-1]}; the others are skipped or refused)?",
    )
    progress = Progress(args.verb, len(keys))
    results: dict[str, KeyResult] = {}
    for key in keys:
        plan = plans[key]
        if plan.result.startswith("would"):
            results[key] = apply(runtime, args.verb, key, loaded[key], **options)
        else:
            results[key] = plan
        if not args.json:
            progress.say(printable(results[key].line()))
        progress.step(key)
    progress.close()
    return _report_many(args, spec, results, dry_run=False)


def _report_many(
    args: argparse.Namespace, spec: GateSpec, results: dict[str, KeyResult], *, dry_run: bool
) -> int:
    tally = counts(results)
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "command": args.verb,
                "dry_run": dry_run,
                "by": args.by or operator_name(),
                "reason": args.reason,
                "keys": [r.to_json() for r in results.values()],
                "summary": dict(tally),
            }
        )
    else:
        if dry_run:
            for result in results.values():
                print(printable(result.line()))
        prefix = "dry run, nothing changed: " if dry_run else ""
        print(f"\n{prefix}{args.verb} {summary_line(len(results), tally)}")
    if dry_run:
        return 0
    if any(r.result == "error" for r in results.values()):
        return EXIT_TRANSIENT
    return 0 if all(r.ok for r in results.values()) else EXIT_PERMANENT
