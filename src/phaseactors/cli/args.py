"""The command line's argument parser: one-line errors that name the command, "did you mean"
for mistyped choices, argument types whose refusals echo what was typed, and help texts
without reStructuredText markup."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from datetime import date, timedelta
from typing import Any, NoReturn

from ..core.untrusted import printable
from ..gate.policy import parse_duration
from ..limits import MAX_REASON_LENGTH

__all__ = [
    "CliParser",
    "audit_text",
    "calendar_date",
    "duration",
    "format_duration",
    "plain",
    "positive_int",
    "suggest",
]

_INVALID_CHOICE = re.compile(r"argument (.+?): invalid choice: '(.*)' \(choose from (.*)\)$")
_REST_ROLE = re.compile(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`")


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit 2), prefixed by the
    command (``phaseactors status: ...``); with ``--json`` on the command line, stdout also
    gets the error as one JSON object."""

    def error(self, message: str) -> NoReturn:
        text = printable(_reworded(message))
        sys.stderr.write(f"{self.prog}: {text} (see {self.prog} --help)\n")
        if "--json" in getattr(self, "argv", sys.argv[1:]):
            json.dump({"error": text, "exit_code": 2}, sys.stdout, sort_keys=True)
            sys.stdout.write("\n")
        sys.exit(2)


def _reworded(message: str) -> str:
    """argparse's "invalid choice" message, with the closest choice suggested."""
    match = _INVALID_CHOICE.match(message)
    if match is None:
        return message
    where, given, listed = match.groups()
    choices = re.findall(r"'([^']*)'", listed)
    if where == "COMMAND":
        return f"unknown command {given!r}{suggest(given, choices)}; commands: {', '.join(choices)}"
    return (
        f"argument {where}: {given!r} is not one of {', '.join(choices)}{suggest(given, choices)}"
    )


def suggest(given: str, known: Any) -> str:
    """``"; did you mean 'x'?"`` naming one or two of ``known`` about as close to ``given``.

    A name with the same letters (``stauts`` for ``status``) comes first: a transposition
    is the likeliest slip, though difflib ranks ``stats`` closer. ``""`` when none is close.
    """

    def likeness(name: str) -> float:
        return difflib.SequenceMatcher(None, given, name).ratio()

    close = difflib.get_close_matches(given, [str(k) for k in known], n=2, cutoff=0.6)
    if len(close) == 2 and likeness(close[0]) - likeness(close[1]) > 0.1:
        close = close[:1]  # the second is much further off
    close.sort(key=lambda name: sorted(name) != sorted(given))
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def plain(text: str | None) -> str:
    """A docstring as help text: ``code`` and :role:`target` become plain words."""
    if not text:
        return ""
    return _REST_ROLE.sub(r"\1", text).replace("``", "")


def duration(text: str) -> timedelta:
    """argparse type of durations such as ``--older-than 2h``."""
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give a number and a unit, e.g. 90s, 15m, 2h, 1h30m, 1d"
        ) from None


def format_duration(value: timedelta) -> str:
    """A duration the way :func:`duration` reads it: ``1d2h``, ``90s`` → ``1m30s``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def positive_int(text: str) -> int:
    """argparse type of counts and limits: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def calendar_date(text: str) -> date:
    """argparse type of ``--from`` and ``--to``: an ISO calendar date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a calendar date like 2025-11-30 (YYYY-MM-DD)"
        ) from None


def audit_text(text: str) -> str:
    """argparse type of ``--reason`` and ``--by``: not blank, within the limit."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or blank")
    if len(text) > MAX_REASON_LENGTH:
        raise argparse.ArgumentTypeError(f"longer than {MAX_REASON_LENGTH} characters")
    return text.strip()
