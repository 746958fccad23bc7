"""``phaseactors check GATE_FILE [--against OTHER_FILE]``: validate a gate file and show what it
changes, so that a pipeline repository's CI can show definition changes in review.

It exits 2 when a file is invalid (the file and the field on stderr), else 0. With
``--against``, it prints the semantic difference from OTHER_FILE to GATE_FILE: first what
decides keys (a new fingerprint: keys in flight stay pinned to their definition, or adopt this
one with ``on_change = "adopt"``), then what applies to every key at once (aliases, name rules,
topics, aggregations). Comments, layout and the order of tables or names never show up.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.untrusted import printable
from ..errors import SpecError, UnknownGate
from ..gate.changes import Change, definition_changes, spec_changes
from ..gate.spec import GateSpec
from ..gate.spec_loader import load_spec
from .args import plain
from .common import emit_json

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate a gate file; with --against, show its semantic diff to another",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("gate_file", help="a gate file (or a gate name in machines/)")
    parser.add_argument(
        "--against", default=None, help="the version to compare with, e.g. the main branch's"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout, nothing else"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.gate_file)
        other = load_spec(args.against) if args.against else None
    except (SpecError, UnknownGate) as error:
        if args.json:
            emit_json({"valid": False, "error": str(error)})
        raise  # reported on stderr, exit 2
    deciding = definition_changes(other.definition, spec.definition) if other else ()
    rest = spec_changes(other, spec) if other else ()
    if args.json:
        against = (
            None if other is None else {"source": other.source, "fingerprint": other.fingerprint}
        )
        emit_json(
            {
                "gate": spec.name,
                "source": spec.source,
                "valid": True,
                "fingerprint": spec.fingerprint,
                "on_change": spec.on_change,
                "against": against,
                "definition_changed": other is not None and other.fingerprint != spec.fingerprint,
                "changes": [c.to_json() for c in deciding],
                "other_changes": [c.to_json() for c in rest],
            }
        )
        return 0
    print(_summary(spec))
    if other is not None:
        print(_diff(spec, other, deciding, rest))
    return 0


def _summary(spec: GateSpec) -> str:
    return printable(
        f"{spec.source}: valid gate {spec.name}, definition {spec.fingerprint}"
        f" ({len(spec.required)} required, {len(spec.optional)} optional,"
        f" {len(spec.deadlines)} deadlines, {len(spec.profiles)} profiles;"
        f" on_change = {spec.on_change})"
    )


def _diff(
    spec: GateSpec, other: GateSpec, deciding: tuple[Change, ...], rest: tuple[Change, ...]
) -> str:
    lines = [printable(f"against {other.source} (definition {other.fingerprint}):")]
    if not deciding and not rest:
        lines.append("  no change")
        return "\n".join(lines)
    if deciding:
        policy: dict[str, Any] = {
            "pin": "keys in flight keep their definition (on_change = pin)",
            "adopt": "keys in flight adopt it at their next event (on_change = adopt)",
        }
        lines.append(
            f"  what decides keys changed: definition {other.fingerprint} -> {spec.fingerprint};"
            f" {policy[spec.on_change]}"
        )
        lines.extend(printable(f"    {c.text()}") for c in deciding)
    else:
        lines.append("  what decides keys: unchanged (same definition)")
    if rest:
        lines.append("  applies to every key at once:")
        lines.extend(printable(f"    {c.text()}") for c in rest)
    return "\n".join(lines)
