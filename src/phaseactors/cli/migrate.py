"""``phaseactors migrate``: move keys in flight to the gate's current definition, on purpose.

Keys pinned to an older definition (``phaseactors list --drifted``) keep deciding by it until
an operator migrates them. ``--dry-run`` prints, per key, what the current definition would do
(trigger now, wait for N more, fail) and changes nothing; without it, it asks first on a terminal
(--yes skips the question) and each key gets one audited event through the runtime, with who
and why in its history. It never creates a store. A key already on the current
definition is left alone, so running the command again does nothing.
"""

from __future__ import annotations

import argparse
import sys

from ..core.untrusted import printable
from ..errors import TransitionRefused, UsageError
from ..gate.migration import MigrationResult, migration_result, plan_migration, refusal
from .args import audit_text, plain, positive_int
from .common import EXIT_PERMANENT, add_common, confirm, emit_json, open_runtime, operator_name
from .render import table

__all__ = ["register", "run"]

_UNDECIDED = ["waiting", "partial", "failed"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="move keys pinned to an older definition to the current one",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("keys", nargs="*", help="these keys (default: every drifted key)")
    parser.add_argument(
        "--state",
        action="append",
        choices=_UNDECIDED,
        help="drifted keys in this state (repeatable; default waiting, partial and failed)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would happen; change nothing"
    )
    parser.add_argument(
        "--reason", type=audit_text, default=None, help="why (kept in each key's history)"
    )
    parser.add_argument(
        "--by",
        type=audit_text,
        default=None,
        help="who (default $PHASEACTORS_OPERATOR, else USER@HOST; self-asserted)",
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--limit", type=positive_int, default=1000, help="at most this many keys (default 1000)"
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.keys and args.state:
        raise UsageError("give keys or --state, not both")
    if not args.dry_run and not args.reason:
        raise UsageError("--reason is required (kept in each key's history); or --dry-run")
    spec, runtime = open_runtime(args)
    by = args.by or operator_name()
    event = runtime.migration(args.reason or "dry run", by)
    missing: list[str] = []
    if args.keys:
        snapshots = []
        for key in args.keys:
            snapshot = runtime.load(spec.key.validate(key))
            if snapshot is None:
                missing.append(key)
            else:
                snapshots.append(snapshot)
    else:
        snapshots = []
        for snapshot in runtime.store.scan(runtime.actor, states=args.state or _UNDECIDED):
            fingerprint = snapshot.data.definition
            if fingerprint is not None and fingerprint != spec.fingerprint:
                snapshots.append(snapshot)
            if len(snapshots) >= args.limit:
                break
    if snapshots and not args.dry_run:
        confirm(
            args, f"migrate {len(snapshots)} keys of {spec.name} to definition {spec.fingerprint}?"
        )
    results: list[MigrationResult] = []
    for snapshot in snapshots[: args.limit]:
        runtime.key_spec(snapshot)  # the actor learns the key's definition, if it can
        if args.dry_run:
            results.append(plan_migration(runtime.actor, snapshot, event))
            continue
        try:
            delivery = runtime.migrate(snapshot.key, reason=args.reason, by=by)
        except TransitionRefused as refused:
            results.append(refusal(snapshot, spec.fingerprint, str(refused)))
            continue
        results.append(
            migration_result(
                runtime.actor,
                snapshot,
                delivery.snapshot,
                delivery.outcome,
                spec.fingerprint,
                applied=delivery.committed,
            )
        )
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "definition": spec.fingerprint,
                "dry_run": args.dry_run,
                "keys": [r.to_json() for r in results],
                "not_found": missing,
            }
        )
    else:
        _print(spec.name, spec.fingerprint, results, dry_run=args.dry_run)
        for key in missing:
            print(printable(f"{spec.name}/{key}: no such key"), file=sys.stderr)
    return EXIT_PERMANENT if missing else 0


def _print(gate: str, current: str, results: list[MigrationResult], *, dry_run: bool) -> None:
    if not results:
        print(f"{gate}: no key to migrate to definition {current}")
        return
    verb = "would do" if dry_run else "did"
    done = "dry run: nothing changed" if dry_run else "applied"
    print(f"{gate}: to definition {current} ({done})")
    print(
        table(
            ("key", "state", "definition", f"what it {verb}", "state after"),
            [
                (r.key, r.state, r.definition or "(not recorded)", r.text(), r.state_after)
                for r in results
            ],
        )
    )
