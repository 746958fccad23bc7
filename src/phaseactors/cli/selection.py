"""Which keys a command acts on: one key, a date range (``--from DATE --to DATE``, both
included) or a file of keys (``--keys FILE``, ``-`` for stdin; one per line, ``#`` comments)
— the shapes a backfill takes. Every key is validated by the gate's key format first, so a
bad one stops the command before anything is done."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from ..errors import InvalidKey, UsageError
from ..gate.spec import GateSpec
from .args import calendar_date

__all__ = ["MAX_KEYS", "add_key_selection", "is_ranged", "selected_keys"]

#: Keys one command may act on at most (ten years of dates).
MAX_KEYS = 3660


def add_key_selection(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """The key argument (several with ``many``) and ``--from``, ``--to``, ``--keys``."""
    if many:
        parser.add_argument("keys", nargs="*", metavar="KEY", help="these keys")
    else:
        parser.add_argument("key", nargs="?", help="the key, e.g. a game date 2025-11-29")
    parser.add_argument(
        "--from",
        dest="from_date",
        type=calendar_date,
        metavar="DATE",
        help="first date of a range of keys (with --to; both included)",
    )
    parser.add_argument(
        "--to", dest="to_date", type=calendar_date, metavar="DATE", help="last date of the range"
    )
    parser.add_argument(
        "--keys",
        dest="keys_file",
        metavar="FILE",
        help="keys from a file, one per line (- for stdin; blank lines and # comments skipped)",
    )


def is_ranged(args: argparse.Namespace) -> bool:
    """Whether the command was given a range or a file rather than key arguments."""
    return args.from_date is not None or args.to_date is not None or args.keys_file is not None


def selected_keys(args: argparse.Namespace, spec: GateSpec, *, required: bool = True) -> list[str]:
    """The validated keys, in order, each once. Without a key, range or file: ``[]`` if not
    ``required``, else a usage error."""
    given = list(getattr(args, "keys", None) or ([args.key] if getattr(args, "key", None) else []))
    ranged = args.from_date is not None or args.to_date is not None
    sources = sum((bool(given), ranged, args.keys_file is not None))
    if sources > 1:
        raise UsageError("give keys, --from/--to or --keys FILE, not several of them")
    if args.from_date is not None or args.to_date is not None:
        keys = _date_range(args, spec)
    elif args.keys_file is not None:
        keys = _from_file(args.keys_file, spec)
    else:
        keys = [_valid(spec, key, "") for key in given]
    if not keys and required:
        raise UsageError("no key given: give a KEY, --from DATE --to DATE, or --keys FILE")
    if len(keys) > MAX_KEYS:
        raise UsageError(f"{len(keys)} keys is more than {MAX_KEYS} in one command; split it")
    return list(dict.fromkeys(keys))


def _date_range(args: argparse.Namespace, spec: GateSpec) -> list[str]:
    if args.from_date is None or args.to_date is None:
        raise UsageError("a range needs both --from DATE and --to DATE")
    if spec.key.format != "date":
        raise UsageError(
            f"--from/--to need a gate whose keys are dates; {spec.name}'s keys are"
            f" {spec.key.format}s: use --keys FILE"
        )
    first, last = args.from_date, args.to_date
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}")
    days = (last - first).days + 1
    if days > MAX_KEYS:
        raise UsageError(f"{days} dates is more than {MAX_KEYS} in one command; split the range")
    return [_valid(spec, (first + timedelta(days=n)).isoformat(), "") for n in range(days)]


def _from_file(path: str, spec: GateSpec) -> list[str]:
    try:
        if path == "-":
            if sys.stdin.isatty():
                raise UsageError("--keys -: no keys on stdin; pipe them in, or give a file")
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--keys {path}: cannot read it: {reason}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.split("#", 1)[0].strip()
        if key:
            keys.append(_valid(spec, key, f"{path} line {number}: "))
    if not keys:
        raise UsageError(f"--keys {path}: no keys in it")
    return keys


def _valid(spec: GateSpec, key: str, where: str) -> str:
    try:
        return spec.key.validate(key)
    except InvalidKey as exc:
        raise UsageError(f"{where}{exc}") from None
