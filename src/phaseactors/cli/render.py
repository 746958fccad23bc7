"""Human-readable renderings of a gate key's status for the terminal.

Everything shown may come from a producer or an operator (names, ids, reasons, errors), so
every value goes through :func:`~phaseactors.core.untrusted.printable`: a control character
or a newline is shown escaped and cannot forge a line or restyle the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..core.snapshot import HistoryEntry
from ..core.untrusted import printable
from ..gate.data import CompletionRecord
from ..gate.status import DefinitionView, GateStatus
from .tables import table, terminal_width

__all__ = [
    "definition_lines",
    "missing_names",
    "render_history",
    "render_status",
    "short_time",
    "summary_line",
    "table",
    "time_format",
]


def time_format(values: Iterable[datetime | None]) -> tuple[str, str]:
    """The strftime format for ``values`` and the header's note: times alone under a header
    naming their one date, or dates with times when they span days."""
    days = {v.date() for v in values if v is not None}
    if len(days) == 1:
        return "%H:%M:%S", f"UTC, {days.pop().isoformat()}"
    return "%Y-%m-%d %H:%M:%S", "UTC"


def short_time(value: datetime | None) -> str:
    """A date and time to the minute, for listings of many keys."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def missing_names(names: Sequence[str], shown: int = 2) -> str:
    """``7 missing: a, b (+5 more)``, or ``-`` when nothing is missing."""
    if not names:
        return "-"
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)} missing: {', '.join(names[:shown])}{more}"


def summary_line(total: int, counts: Mapping[str, int]) -> str:
    """``30 keys: 12 triggered, 3 partial, 15 no state``."""
    parts = ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=lambda i: -i[1]))
    return f"{total} key{'' if total == 1 else 's'}: {parts or 'none'}"


def render_history(history: Sequence[HistoryEntry]) -> str:
    fmt, note = time_format(h.at for h in history)
    rows = [
        (
            h.at.strftime(fmt) if h.at else "",
            h.generation,
            f"{h.source} -> {h.target}",
            h.event,
            h.cause + (f" (by {h.by})" if h.by else ""),
        )
        for h in history
    ]
    return table((f"at ({note})", "gen", "transition", "event", "cause"), rows)


def render_status(status: GateStatus, *, history: bool = True) -> str:
    """The ``phaseactors status`` screen: state, trigger, per-processor table, history."""
    lines = [
        f"{status.gate} / {printable(status.key)}: {status.state.upper()}"
        f"  (generation {status.generation}, version {status.version})"
    ]
    lines += definition_lines(status)
    if status.failed_reason:
        lines.append(f"failed: {printable(status.failed_reason)}")
    trigger = status.trigger
    if trigger is None:
        lines.append("trigger: not decided")
    else:
        published = (
            f"published as {trigger.message_id}" if trigger.published else "NOT YET PUBLISHED"
        )
        lines.append(printable(f"trigger: {trigger.trigger_id}  {published}  ({trigger.reason})"))
    for entry in status.pending_outbox:
        lease = entry.lease
        held = f", leased to {lease.owner} until {lease.until.isoformat()}" if lease else ""
        error = f", last error: {entry.last_error}" if entry.last_error else ""
        lines.append(
            printable(
                f"pending outbox: {entry.id} -> {entry.topic}"
                f" ({entry.publish_attempts} failed attempts{held}{error})"
            )
        )
    fmt, note = time_format(
        [r.received_at for r in (*status.done.values(), *status.failures.values())]
        + [r.received_at for r in (*status.late, *status.unknown.values())]
    )
    rows: list[tuple[Any, ...]] = []
    for name in status.expected:
        kind = "required" if name in status.required else "optional"
        record = status.done.get(name)
        failure = status.failures.get(name)
        if record is not None:
            rows.append(_row(name, kind, "done", record, fmt))
        elif failure is not None:
            rows.append(_row(name, kind, "FAILED", failure, fmt))
        else:
            rows.append((name, kind[:3], "missing", "", "", "", ""))
    rows.extend(_row(r.processor, "-", "late", r, fmt) for r in status.late)
    rows.extend(_row(n, "-", "unknown", r, fmt) for n, r in status.unknown.items())
    lines += [
        "",
        table(
            ("processor", "kind", "status", "reported as", "execution", "correlation", "received"),
            rows,
            cut_first=(3, 4, 5),
        ),
    ]
    done = f"{len(status.done)} of {len(status.expected)} done;"
    lines.append("")
    lines += textwrap.wrap(
        f"{done} missing: {', '.join(status.missing) or 'none'}",
        terminal_width(),
        subsequent_indent="  ",
        break_on_hyphens=False,
    )
    if rows and any(row[-1] for row in rows):
        lines.append(f"(times in {note})")
    if status.unknown_other or status.late_dropped:
        lines.append(
            f"not kept: {status.unknown_other} more unknown and {status.late_dropped} older"
            " late reports (counted only)"
        )
    if history and status.history:
        lines += ["", render_history(status.history)]
    return "\n".join(lines)


def definition_lines(status: GateStatus) -> list[str]:
    """Which definition the key decides by and, when the gate file has changed since, how."""
    view = status.definition
    if view is None:
        return []
    return [printable(line) for line in _definition_lines(view)]


def _definition_lines(view: DefinitionView) -> list[str]:
    if view.fingerprint is None:
        return [
            f"definition: not recorded yet (a key from before versioned definitions);"
            f" its next change pins it to the current one, {view.current}"
        ]
    seen = f", first seen {view.first_seen:%Y-%m-%dT%H:%M:%S}Z" if view.first_seen else ""
    if not view.drifted:
        return [f"definition: {view.fingerprint}{seen} (the gate file's current one)"]
    policy = (
        "pinned: it decides by its own definition until migrated (on_change = pin)"
        if view.on_change == "pin"
        else "it adopts the current one at its next completion or tick (on_change = adopt)"
    )
    lines = [
        f"definition: {view.fingerprint}{seen}; the gate file's is now {view.current}",
        f"  {policy}; `phaseactors migrate` moves it now",
    ]
    if not view.known:
        lines.append("  its definition is not in the store: shown against the current file")
    lines.extend(f"  changed: {change.text()}" for change in view.changes)
    return lines


def _row(name: str, kind: str, state: str, record: CompletionRecord, fmt: str) -> tuple[Any, ...]:
    status = record.status if state in ("done", "late", "unknown") else "failed"
    shown = state if state == "FAILED" or status == "success" else f"{state}: {status}"
    return (
        name,
        kind[:3],
        shown,
        record.reported_as,
        record.execution_id,
        record.correlation_id,
        record.received_at.strftime(fmt) if record.received_at else "",
    )
