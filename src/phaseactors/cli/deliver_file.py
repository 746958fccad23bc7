"""``phaseactors deliver --file FILE``: replay recorded producer bodies, one JSON per line.

Each line goes through the same intake as any delivery; a line that can never be applied is
quarantined (with ``file:PATH:LINE`` as its source) and the others go on. A transient error
stops the replay: run it again later, deliveries are idempotent. Blank lines and lines
starting with ``#`` are skipped. ``--dry-run`` checks every line and delivers nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from ..core.untrusted import printable
from ..errors import InvalidMessage, PermanentError, TransientError, UsageError
from ..gate.intake import accept_message, read_body
from ..gate.producer import parse_completion
from ..gate.spec import GateSpec
from .common import (
    EXIT_PERMANENT,
    EXIT_TRANSIENT,
    emit_json,
    open_runtime,
    open_spec,
    publisher_url,
)
from .progress import Progress
from .words import closest_processor

__all__ = ["check_strict", "run_file"]


def _lines(path: str) -> list[tuple[int, str]]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
    except OSError as exc:
        raise UsageError(f"--file {path}: cannot read it: {exc.strerror or exc}") from None
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise UsageError(f"--file {path}: no completions in it")
    return lines


def check_strict(spec: GateSpec, body: Any) -> None:
    """With --strict: refuse, before anything is stored, a body whose processor the gate
    does not know. A body that does not parse is left to the intake, which quarantines it."""
    try:
        completion = parse_completion(read_body(body), spec.key.field)
    except Exception:  # the intake reports (and quarantines) it with the reason
        return
    if spec.resolve(completion.processor, completion.output_table) is None:
        raise InvalidMessage(
            "processor_name",
            f"{completion.processor!r} is not a processor of gate {spec.name}"
            f"{closest_processor(spec, completion.processor)} (--strict)",
        )


def _check(spec: GateSpec, text: str, strict: bool) -> None:
    """Raise what delivering ``text`` would raise before the store is touched."""
    completion = parse_completion(read_body(text), spec.key.field)
    spec.key.validate(completion.key)
    if strict:
        check_strict(spec, text)


def run_file(args: argparse.Namespace) -> int:
    spec = open_spec(args)
    lines = _lines(args.file)
    outcomes: Counter[str] = Counter()
    problems: list[dict[str, Any]] = []
    published: list[str] = []
    stopped: str | None = None
    runtime = None if args.dry_run else open_runtime(args, spec=spec, create=True)[1]
    progress = Progress("deliver", len(lines))
    for number, text in lines:
        try:
            if runtime is None:
                _check(spec, text, args.strict)
                outcomes["valid"] += 1
            else:
                if args.strict:
                    check_strict(spec, text)
                source = f"file:{args.file}:{number}"
                delivery = accept_message(runtime, spec, text, source=source)
                outcomes[delivery.outcome.value] += 1
                published.extend(delivery.published)
        except TransientError as error:
            stopped = f"line {number}: {type(error).__name__}: {error}"
            break
        except PermanentError as error:
            outcomes["quarantined" if error.quarantined_as else "refused"] += 1
            problems.append(
                {"line": number, "error": str(error), "quarantined_as": error.quarantined_as}
            )
            if not args.json:
                where = f" (quarantined as {error.quarantined_as})" if error.quarantined_as else ""
                progress.say(printable(f"line {number}: {error}{where}"))
        progress.step(f"line {number}")
    progress.close()
    _report(args, len(lines), outcomes, problems, published, stopped)
    if stopped:
        return EXIT_TRANSIENT
    return EXIT_PERMANENT if problems else 0


def _report(
    args: argparse.Namespace,
    total: int,
    outcomes: Counter[str],
    problems: list[dict[str, Any]],
    published: list[str],
    stopped: str | None,
) -> None:
    if args.json:
        emit_json(
            {
                "file": args.file,
                "dry_run": args.dry_run,
                "lines": total,
                "outcomes": dict(outcomes),
                "problems": problems,
                "published": published,
                "publisher": publisher_url(args) if published else None,
                "stopped": stopped,
            }
        )
        return
    counted = ", ".join(f"{n} {what}" for what, n in outcomes.most_common()) or "nothing done"
    print(
        printable(
            f"{'dry run: ' if args.dry_run else ''}{args.file}: {total} completions: {counted}"
        )
    )
    if published:
        print(f"published {len(published)} trigger(s) to {publisher_url(args)}")
    if stopped:
        print(
            printable(
                f"stopped at {stopped}; deliver the file again later (repeats are duplicates)"
            ),
            file=sys.stderr,
        )
