"""``phaseactors init NAME``: write a starter gate file, every section explained in comments.

It goes to machines/NAME.toml (found there by name: --gate NAME), or to --output PATH; an
existing file is kept unless --force. The file loads as written; edit the processors.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import UsageError
from ..gate.spec_loader import spec_from_mapping
from .args import plain

__all__ = ["register", "starter_gate"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")

_TEMPLATE = """\
# A phaseactors gate: who must report for a key before the next phase starts, once.
# Reference: docs/gate-spec.md. Check it with `phaseactors diagram {name}`.
name = "{name}"
description = "Starts the next phase once every required processor has reported for a key."

[key]
field = "{key_field}"          # the field of each completion message that holds the key
format = "date"                # "date" (YYYY-MM-DD, validated) or "pattern" (with pattern = "...")
timezone = "UTC"               # the time zone the dates are calendar dates of

[topics]
input = "{name}-completions"   # where producers publish their completion messages
output = "{name}-triggers"     # where the one trigger per key and generation is published

[processors]
# Canonical names; producers may report others, mapped below. A key completes when every
# required processor has reported success (or no_data); optional ones count toward a quorum.
required = [{required}]
optional = []

[policy]
optional_quorum = 0.0          # the share of optional processors needed as well (0 to 1)

[aliases]
# Other names producers report, mapped to a canonical one:
# ExtractOrdersJob = "extract_orders"

[names]
# Normalisations tried for names that are not listed: "ExtractOrdersProcessor" becomes
# "extract_orders" with these two; "dataset.table" names with dataset_qualified = true.
strip_suffixes = ["Processor"]
camel_case = true

# Deadlines (optional): what happens when processors never report. A tier passes at a time
# after the first completion (after_first) or at a wall-clock time (at, in the key's zone).
# [[deadlines]]
# name = "final"
# after_first = "6h"
# required = 1.0             # trigger if this share of required processors reported...
# otherwise = "fail"         # ...else fail the key ("wait" keeps waiting)
"""


def starter_gate(name: str, key_field: str, processors: list[str]) -> str:
    """The text of a starter gate file; it loads as written."""
    required = ", ".join(f'"{p}"' for p in processors)
    text = _TEMPLATE.format(name=name, key_field=key_field, required=required)
    import tomllib

    spec_from_mapping(tomllib.loads(text), source=f"{name}.toml")  # the template must load
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a starter gate file with comments",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="the gate's name, e.g. orders_ready")
    parser.add_argument(
        "--processors",
        nargs="+",
        default=["extract_orders", "extract_customers"],
        metavar="NAME",
        help="the required processors (default: two examples to rename)",
    )
    parser.add_argument(
        "--key-field", default="run_date", help="the messages' key field (default run_date)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="write here [machines/NAME.toml]"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for value, what in [(args.name, "name"), (args.key_field, "key field")] + [
        (p, "processor name") for p in args.processors
    ]:
        if not _NAME.fullmatch(value):
            raise UsageError(f"{value!r} is not a valid {what}: letters, digits, _ . - (not first)")
    path: Path = args.output or Path("machines") / f"{args.name}.toml"
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; --force replaces it")
    text = starter_gate(args.name, args.key_field, args.processors)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}: edit its processors, then try it:")
    gate = args.name if args.output is None else str(path)
    print(
        f"  phaseactors deliver --gate {gate} --key 2025-11-30 --processor"
        f" {args.processors[0]} --execution-id run-1"
    )
    print(f"  phaseactors status 2025-11-30 --gate {gate}")
    return 0
