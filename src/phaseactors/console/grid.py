"""The front page: keys x lanes, newest first, one page at a time, stuck keys first.

:class:`GridQuery` is what the page's filters ask for (a key range, states, a page size and
where the page starts); :func:`build_grid` reads one page from every lane and lines the keys
up in rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from ..limits import MAX_KEY_LENGTH
from .lanes import GATE_STATES, Cell, Lane

__all__ = ["STATES", "Grid", "GridQuery", "QueryError", "Row", "build_grid", "parse_query"]

#: The states the filter offers: a gate's, in the order of its life.
STATES = GATE_STATES
DEFAULT_LIMIT = 60
MAX_LIMIT = 1000
MAX_ATTENTION = 100


class QueryError(ValueError):
    """A filter of the page is malformed; the message says which."""


@frozen(kw_only=True)
class GridQuery:
    """The grid's filters: keys from ``start`` to ``end`` (inclusive), in ``states``, at most
    ``limit`` rows, older than ``before`` (the next page)."""

    start: str | None = None
    end: str | None = None
    states: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    before: str | None = None

    @property
    def stop(self) -> str | None:
        """The exclusive upper bound of the keys: before the page start and up to ``end``."""
        bounds = [b for b in (self.before, self.end and self.end + "\x00") if b]
        return min(bounds, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "state": list(self.states),
            "limit": self.limit,
            "before": self.before,
        }

    def with_before(self, before: str | None) -> dict[str, Any]:
        """URL parameters of this query starting at ``before``."""
        params: dict[str, Any] = {"limit": self.limit}
        params.update((k, v) for k, v in (("from", self.start), ("to", self.end)) if v)
        if self.states:
            params["state"] = list(self.states)
        if before:
            params["before"] = before
        return params


def _key_bound(args: Mapping[str, Any], name: str) -> str | None:
    value = str(args.get(name) or "").strip()
    if len(value) > MAX_KEY_LENGTH:
        raise QueryError(f"{name}: longer than {MAX_KEY_LENGTH} characters")
    return value or None


def parse_query(args: Mapping[str, Any], states: Sequence[str]) -> GridQuery:
    """The query of a request's parameters (``states``: the ``state`` values given)."""
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise QueryError(f"state: {unknown[0]!r} is not one of {', '.join(STATES)}")
    raw_limit = str(args.get("limit") or DEFAULT_LIMIT)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise QueryError(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return GridQuery(
        start=_key_bound(args, "from"),
        end=_key_bound(args, "to"),
        states=tuple(s for s in STATES if s in states),
        limit=int(raw_limit),
        before=_key_bound(args, "before"),
    )


@frozen(kw_only=True)
class Row:
    """One key across the lanes; a lane without that key has no cell."""

    key: str
    cells: Mapping[str, Cell | None] = field(hash=False)


@frozen(kw_only=True)
class Grid:
    """One page of the grid."""

    lanes: tuple[Lane, ...]
    query: GridQuery
    rows: tuple[Row, ...]
    pages: Mapping[str, tuple[Cell, ...]] = field(hash=False)
    """Each lane's cells on this page, newest first."""
    attention: tuple[Cell, ...]
    attention_total: int
    older: str | None
    """Where the next, older page starts, or None on the last page."""

    def to_json(self) -> dict[str, Any]:
        """Each lane as ``phaseactors list --json`` shows a gate, the page's keys, the keys
        that need a person and the filters."""
        return {
            "gates": [
                {
                    "gate": lane.name,
                    "kind": lane.kind,
                    "states": [
                        s for s in lane.states if s in self.query.states or not self.query.states
                    ],
                    "keys": [cell.row for cell in self.pages[lane.name]],
                }
                for lane in self.lanes
            ],
            "keys": [row.key for row in self.rows],
            "attention": [
                {"gate": c.lane, "kind": c.kind, "key": c.key, "state": c.state, "why": c.stuck}
                for c in self.attention
            ],
            "attention_total": self.attention_total,
            "filters": self.query.to_json(),
            "older": self.older,
        }


def build_grid(lanes: Sequence[Lane], query: GridQuery, now: datetime) -> Grid:
    """Read one page of every lane and line the keys up, newest first.

    Each lane gives its newest ``limit`` keys below the page start; the page is the newest
    ``limit`` keys of their union, so no lane misses a key of a row shown. With a state
    filter, a row shows the other lanes' cells of its key too (read one by one)."""
    states = list(query.states) or None
    found = {
        lane.name: lane.page(start=query.start, stop=query.stop, states=states, limit=query.limit)
        for lane in lanes
    }
    by_key = {name: {c.key: c for c in cells} for name, cells in found.items()}
    keys = sorted({key for cells in by_key.values() for key in cells}, reverse=True)
    shown = keys[: query.limit]
    more = len(keys) > query.limit or any(len(c) == query.limit for c in found.values())
    rows = []
    for key in shown:
        cells: dict[str, Cell | None] = {}
        for lane in lanes:
            cell = by_key[lane.name].get(key)
            if cell is None and states is not None:
                cell = lane.cell(key)
            cells[lane.name] = cell
        rows.append(Row(key=key, cells=cells))
    lowest = shown[-1] if shown else None
    pages = {
        lane.name: tuple(c for c in found[lane.name] if lowest is not None and c.key >= lowest)
        for lane in lanes
    }
    stuck = [c for lane in lanes for c in lane.attention(now)]
    stuck.sort(key=lambda c: c.key, reverse=True)
    return Grid(
        lanes=tuple(lanes),
        query=query,
        rows=tuple(rows),
        pages=pages,
        attention=tuple(stuck[:MAX_ATTENTION]),
        attention_total=len(stuck),
        older=lowest if more and lowest is not None else None,
    )
