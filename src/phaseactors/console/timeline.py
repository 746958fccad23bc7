"""A key's timeline: each processor's arrival against the key's deadlines and the trigger.

:func:`timeline` lays it out in pixels (one row per expected, late and unknown processor; a
vertical line per deadline, the trigger decision and its publication, and "now" while the
key is undecided); the template draws it as inline SVG, so every name is escaped like any
other text of the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from attrs import frozen

from ..gate.data import CompletionRecord
from ..gate.status import GateStatus

__all__ = ["Mark", "Tick", "Timeline", "TimelineRow", "timeline"]

LABEL_WIDTH = 280
PLOT_WIDTH = 640
ROW_HEIGHT = 18
TOP = 40
BOTTOM = 26


@frozen(kw_only=True)
class TimelineRow:
    """One processor: where its report sits (``x`` None: none yet) and how it stands."""

    label: str
    role: str
    status: str
    """``done``, ``failed``, ``missing``, ``late`` or ``unknown``: the row's CSS class."""
    y: int
    x: float | None
    title: str


@frozen(kw_only=True)
class Mark:
    """A moment of the key drawn across every row: a deadline, the trigger, now."""

    kind: str
    label: str
    x: float
    title: str


@frozen(kw_only=True)
class Tick:
    x: float
    label: str


@frozen(kw_only=True)
class Timeline:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    rows: tuple[TimelineRow, ...]
    marks: tuple[Mark, ...]
    ticks: tuple[Tick, ...]
    empty: bool
    """Nothing has arrived yet and no moment is known."""


def _moments(status: GateStatus, now: datetime) -> list[datetime]:
    records = [*status.done.values(), *status.failures.values(), *status.late]
    records += status.unknown.values()
    times = [r.received_at for r in records]
    times += [d.due_at for d in status.deadlines if d.due_at]
    if status.first_completion_at:
        times.append(status.first_completion_at)
    trigger = status.trigger
    if trigger is not None:
        times += [t for t in (trigger.decided_at, trigger.published_at) if t]
    if status.state in ("waiting", "partial") and times:
        times.append(now)
    return times


def _ticks(
    start: datetime, span: float, x: Callable[[datetime], float], count: int = 5
) -> list[Tick]:
    fmt = "%H:%M" if span <= 86400 else "%m-%d %H:%M"
    if span < 600:
        fmt = "%H:%M:%S"
    moments = [start + timedelta(seconds=span * i / count) for i in range(count + 1)]
    return [Tick(x=x(moment), label=moment.strftime(fmt)) for moment in moments]


def _record_title(record: CompletionRecord) -> str:
    shown = f"{record.processor} {record.status} at {record.received_at:%Y-%m-%d %H:%M:%S} UTC"
    shown += f", execution {record.execution_id}"
    if record.reported_as != record.processor:
        shown += f", reported as {record.reported_as}"
    if record.error_message:
        shown += f": {record.error_message}"
    return shown


def timeline(status: GateStatus, now: datetime) -> Timeline:
    """The timeline of ``status`` at ``now``, in pixels."""
    times = _moments(status, now)
    start = min(times, default=now)
    end = max(times, default=now)
    span = max((end - start).total_seconds(), 60.0)
    left, right = LABEL_WIDTH, LABEL_WIDTH + PLOT_WIDTH

    def x(moment: datetime) -> float:
        return round(left + (moment - start).total_seconds() / span * PLOT_WIDTH, 1)

    rows: list[TimelineRow] = []

    def add(label: str, role: str, kind: str, record: CompletionRecord | None) -> None:
        y = TOP + len(rows) * ROW_HEIGHT + ROW_HEIGHT // 2
        if record is None:
            rows.append(
                TimelineRow(
                    label=label,
                    role=role,
                    status=kind,
                    y=y,
                    x=None,
                    title=f"{label}: no report yet",
                )
            )
        else:
            rows.append(
                TimelineRow(
                    label=label,
                    role=role,
                    status=kind,
                    y=y,
                    x=x(record.received_at),
                    title=_record_title(record),
                )
            )

    for role, names in (("required", status.required), ("optional", status.optional)):
        for name in names:
            if name in status.done:
                add(name, role, "done", status.done[name])
            elif name in status.failures:
                add(name, role, "failed", status.failures[name])
            else:
                add(name, role, "missing", None)
    for record in status.late:
        add(record.processor, "late", "late", record)
    for name, record in status.unknown.items():
        add(name, "unknown", "unknown", record)
    marks = _marks(status, now, x)
    height = TOP + len(rows) * ROW_HEIGHT + BOTTOM
    return Timeline(
        width=right + 60,
        height=height,
        left=left,
        right=right,
        top=TOP,
        bottom=height - BOTTOM,
        rows=tuple(rows),
        marks=tuple(marks),
        ticks=tuple(_ticks(start, span, x)),
        empty=not times,
    )


def _marks(status: GateStatus, now: datetime, x: Callable[[datetime], float]) -> Sequence[Mark]:
    marks = [
        Mark(
            kind="deadline-passed" if d.passed else "deadline",
            label=d.name,
            x=x(d.due_at),
            title=f"deadline {d.name} at {d.due_at:%Y-%m-%d %H:%M:%S} UTC"
            f" ({'passed' if d.passed else 'ahead'}; otherwise {d.otherwise})",
        )
        for d in status.deadlines
        if d.due_at
    ]
    trigger = status.trigger
    if trigger is not None:
        marks.append(
            Mark(
                kind="trigger",
                label="trigger",
                x=x(trigger.decided_at),
                title=f"trigger {trigger.trigger_id} decided at"
                f" {trigger.decided_at:%Y-%m-%d %H:%M:%S} UTC ({trigger.reason})",
            )
        )
        if trigger.published_at:
            marks.append(
                Mark(
                    kind="published",
                    label="published",
                    x=x(trigger.published_at),
                    title=f"published as {trigger.message_id} at"
                    f" {trigger.published_at:%Y-%m-%d %H:%M:%S} UTC",
                )
            )
    if status.state in ("waiting", "partial") and (status.first_completion_at or marks):
        marks.append(Mark(kind="now", label="now", x=x(now), title=f"now, {now:%H:%M:%S} UTC"))
    return marks
