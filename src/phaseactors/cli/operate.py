"""Audited operator commands: ``force-trigger``, ``rearm`` and ``fail`` a key, with a reason.

Each runs the same step as any delivery, inside the store's transaction, and records who
(``$PHASEACTORS_OPERATOR`` or the login name), why and when in the key's history.
"""

from __future__ import annotations

import argparse

from .common import add_common, audit_text, emit_json, open_runtime, operator_name

_VERBS = {
    "force-trigger": ("force", "trigger the next phase now, whatever is missing"),
    "rearm": ("rearm", "start a new generation so the key can trigger again"),
    "fail": ("fail", "mark the key failed"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb, (_, summary) in _VERBS.items():
        parser = subparsers.add_parser(verb, help=summary, description=__doc__)
        parser.add_argument("key")
        parser.add_argument(
            "--reason", required=True, type=audit_text, help="why (kept in the key's history)"
        )
        parser.add_argument(
            "--by",
            type=audit_text,
            default=None,
            help="who (default $PHASEACTORS_OPERATOR, else USER@HOST; self-asserted)",
        )
        add_common(parser)
        parser.set_defaults(run=run, verb=verb)


def run(args: argparse.Namespace) -> int:
    spec, runtime = open_runtime(args)
    by = args.by or operator_name()
    method = getattr(runtime, _VERBS[args.verb][0])
    delivery = method(args.key, reason=args.reason, by=by)
    snapshot = delivery.snapshot
    trigger = snapshot.data.trigger
    if args.json:
        emit_json(
            {
                "gate": spec.name,
                "key": delivery.key,
                "state": snapshot.state,
                "generation": snapshot.generation,
                "by": by,
                "reason": args.reason,
                "trigger_id": trigger.trigger_id if trigger else None,
                "published": list(delivery.published),
            }
        )
    else:
        print(
            f"{spec.name}/{delivery.key}: {snapshot.state} (generation {snapshot.generation})"
            f" by {by}: {args.reason}"
        )
        if trigger is not None and trigger.message_id in delivery.published:
            print(f"published trigger {trigger.trigger_id} as {trigger.message_id}")
    return 0
