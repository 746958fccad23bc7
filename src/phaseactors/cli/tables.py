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
    if rich:
        rendered = _rich_table(list(headers), cells, width, set(cut_first))
        if rendered is not None:
            return rendered
    return _plain_table([str(h) for h in headers], cells, width, set(cut_first))


def _plain_table(headers: list[str], cells: list[list[str]], width: int, first: set[int]) -> str:
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(len(headers))]
    floor = [min(w, max(len(h), _MIN_COLUMN)) for w, h in zip(widths, headers, strict=True)]
    last = len(widths) - 1
    while sum(widths) + _GAP * last > width:
        # cut the widest column that can still give way (those in `first` before the
        # others); the last one wraps instead of being cut
        shrinkable = [i for i in range(len(widths)) if widths[i] > floor[i]]
        if not shrinkable:
            break
        preferred = [i for i in shrinkable if i in first] or shrinkable
        widest = max(preferred, key=lambda i: (widths[i], i == last))
        widths[widest] -= 1
    lines = [_line(headers, widths), "  ".join("-" * w for w in widths)]
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


def _rich_table(
    headers: list[str], cells: list[list[str]], width: int, first: set[int]
) -> str | None:
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:  # the `rich` extra is not installed
        return None
    grid = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for index, header in enumerate(headers):
        cut = index in first
        grid.add_column(
            Text(header),
            overflow="ellipsis" if cut else "fold",
            no_wrap=cut,
            ratio=1 if cut else None,
            min_width=len(header) if not cut else None,
        )
    for row in cells:
        grid.add_row(*(Text(c) for c in row))
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, highlight=False).print(grid)
    return out.getvalue().rstrip("\n")
