"""Tables that fit the terminal: rich tables when the ``rich`` extra is installed and stdout is
a terminal, plain aligned text otherwise; both at most as wide as the terminal (100 columns
when output goes to a file or a pipe). Plain tables cut the widest columns with ``…`` and
wrap the last one. Every cell is shown through
:func:`~phaseactors.core.untrusted.printable` and, in rich, as text without markup."""

from __future__ import annotations

import io
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from ..core.untrusted import printable

__all__ = ["DEFAULT_WIDTH", "table", "terminal_width"]

DEFAULT_WIDTH = 100
_GAP = 2
_MIN_COLUMN = 6


def terminal_width() -> int:
    """The terminal's columns (``$COLUMNS`` first), or :data:`DEFAULT_WIDTH` off a terminal."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: int | None = None,
    rich: bool | None = None,
    cut_first: Sequence[int] = (),
) -> str:
    """``rows`` under ``headers``, at most ``width`` columns wide (default: the terminal's).
    Columns in ``cut_first`` give way first (ids, say, rather than names). ``rich`` forces
    (True) or avoids (False) rich rendering; by default it is used when installed and stdout
    is a terminal."""
    width = width or terminal_width()
    cells = [["" if c is None else printable(str(c)) for c in row] for row in rows]
    if rich is None:
        rich = sys.stdout.isatty()
    names = [str(h) for h in headers]
    widths = _widths(names, cells, width, set(cut_first))
    if rich:
        rendered = _rich_table(names, cells, widths)
        if rendered is not None:
            return rendered
    return _plain_table(names, cells, widths)


def _widths(headers: list[str], cells: list[list[str]], width: int, first: set[int]) -> list[int]:
    """Each column's width: its widest cell, cut down until the table fits ``width`` — the
    widest column that can still give way first, those in ``first`` before the others."""
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(len(headers))]
    floor = [min(w, _MIN_COLUMN) for w in widths]
    last = len(widths) - 1
    while sum(widths) + _GAP * last > width:
        shrinkable = [i for i in range(len(widths)) if widths[i] > floor[i]]
        if not shrinkable:
            break
        preferred = [i for i in shrinkable if i in first] or shrinkable
        widest = max(preferred, key=lambda i: (widths[i], i == last))
        widths[widest] -= 1
    return widths


def _plain_table(headers: list[str], cells: list[list[str]], widths: list[int]) -> str:
    """Cells cut with ``…`` to their column, the last column wrapped instead."""
    last = len(widths) - 1
    shown = [_cut(h, w) for h, w in zip(headers, widths, strict=True)]
    lines = [_line(shown, widths), "  ".join("-" * w for w in widths)]
    for row in cells:
        head = [_cut(c, w) for c, w in zip(row[:last], widths, strict=False)]
        tail = textwrap.wrap(row[last], widths[last], break_on_hyphens=False) or [""]
        lines.append(_line([*head, tail[0]], widths))
        lines.extend(_line([""] * last + [more], widths) for more in tail[1:])
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


def _rich_table(headers: list[str], cells: list[list[str]], widths: list[int]) -> str | None:
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:  # the `rich` extra is not installed
        return None
    last = len(widths) - 1
    grid = Table(box=None, header_style="bold", pad_edge=False, show_edge=False, padding=(0, 1))
    for index, header in enumerate(headers):
        grid.add_column(
            Text(header),
            width=widths[index],
            overflow="fold" if index == last else "ellipsis",
            no_wrap=index != last,
        )
    for row in cells:
        grid.add_row(*(Text(c) for c in row))
    out = io.StringIO()
    total = sum(widths) + _GAP * last
    Console(file=out, width=total, force_terminal=True, highlight=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines())
