"""Human-readable renderings of a gate key's status for the terminal.

Everything shown may come from a producer or an operator (names, ids, reasons, errors), so
every value goes through :func:`~phaseactors.core.untrusted.printable`: a control character
or a newline is shown escaped and cannot forge a line or restyle the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..core.snapshot import HistoryEntry
from ..core.untrusted import printable
from ..gate.data import CompletionRecord
from ..gate.status import DefinitionView, GateStatus

__all__ = ["definition_lines", "render_history", "render_status", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else printable(str(c)) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _time(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value else ""


def render_history(history: Sequence[HistoryEntry]) -> str:
    rows = [
        (
            _time(h.at),
            h.generation,
            f"{h.source} -> {h.target}",
            h.event,
            h.cause + (f" (by {h.by})" if h.by else ""),
        )
        for h in history
    ]
    return table(("at (UTC)", "gen", "transition", "event", "cause"), rows)


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
    rows: list[tuple[Any, ...]] = []
    for name in status.expected:
        kind = "required" if name in status.required else "optional"
        record = status.done.get(name)
        failure = status.failures.get(name)
        if record is not None:
            rows.append(_row(name, kind, "done", record))
        elif failure is not None:
            rows.append(_row(name, kind, "FAILED", failure))
        else:
            rows.append((name, kind, "missing", "", "", "", ""))
    rows.extend(_row(r.processor, "-", "late", r) for r in status.late)
    rows.extend(_row(n, "-", "unknown", r) for n, r in status.unknown.items())
    lines += [
        "",
        table(
            (
                "processor",
                "kind",
                "status",
                "reported as",
                "execution",
                "correlation",
                "received (UTC)",
            ),
            rows,
        ),
    ]
    lines.append(
        f"\n{len(status.done)} of {len(status.expected)} done;"
        f" missing: {', '.join(status.missing) or 'none'}"
    )
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


def _row(name: str, kind: str, state: str, record: CompletionRecord) -> tuple[Any, ...]:
    status = record.status if state in ("done", "late", "unknown") else "failed"
    return (
        name,
        kind,
        f"{state} ({status})" if state != "FAILED" else state,
        record.reported_as,
        record.execution_id,
        record.correlation_id,
        _time(record.received_at),
    )
