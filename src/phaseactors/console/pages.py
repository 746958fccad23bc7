"""The console's read-only pages: the grid, one key, its diagram, quarantine, health."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from ..core.runtime import Runtime
from ..core.snapshot import Snapshot
from ..core.store import Quarantined
from ..errors import InvalidMessage, PhaseactorsError
from ..gate.diagrams import DiagramToolMissing, graphviz_available, render
from ..pipeline.status import STATES as PIPELINE_STATES
from .actions import allowed_actions
from .context import Console
from .grid import STATES, Grid, QueryError, build_grid, parse_query
from .lanes import GateLane
from .respond import html, json_response, key_href, page, refuse, run_href, wants_json
from .timeline import timeline

__all__ = ["CellView", "grid_rows", "quarantine_json", "register_pages"]

QUARANTINE_LIMIT = 100


def quarantine_json(record: Quarantined) -> dict[str, Any]:
    """One quarantined message: when, why, where from, for which gate, and the message."""
    return {
        "at": record.at.isoformat(),
        "reason": record.reason,
        "source": record.source,
        "gate": record.actor,
        "message_id": record.message_id,
        "raw": record.raw,
    }


CellView = tuple[str, str, str, str, str, str]
"""A grid cell as the template writes it: class, link, tooltip, state, counts, generation."""
_EMPTY: CellView = ("cell empty", "", "", "", "", "")


def grid_rows(
    grid: Grid, href: Callable[[str, str], str], run: Callable[[str, str], str] | None = None
) -> list[tuple[str, list[CellView]]]:
    """Each row's key and cells, worked out here rather than in the template: a page of
    1,000 rows has 3,000 cells, and each lookup in a template costs more than in Python.
    ``href`` links a gate's key, ``run`` a pipeline run (default: ``href``)."""
    links = {"gate": href, "pipeline": run or href}
    wanted = set(grid.query.states)
    rows = []
    for row in grid.rows:
        cells = []
        for lane in grid.lanes:
            cell = row.cells[lane.name]
            if cell is None:
                cells.append(_EMPTY)
                continue
            css = f"cell state-{cell.state}"
            if cell.stuck:
                css += " stuck"
            if wanted and cell.state not in wanted:
                css += " dimmed"
            link = links[lane.kind](lane.name, row.key)
            generation = f"gen {cell.generation}" if cell.generation > 1 else ""
            counts = f"{cell.done}/{cell.expected}"
            cells.append((css, link, cell.stuck or cell.state, cell.state, counts, generation))
        rows.append((row.key, cells))
    return rows


def _loaded(
    runtime: Runtime[Any], key: str, missing: str, **where: str
) -> Snapshot[Any] | Response:
    """The key's snapshot, or the 404 that says why there is none (a malformed key, or one
    never seen: ``missing``), in the shape the CLI prints it."""
    try:
        snapshot = runtime.load(key)
    except InvalidMessage as error:
        return refuse(404, str(error), **where, key=key, state=None)
    if snapshot is None:
        name = next(iter(where.values()))
        return refuse(404, f"{name}/{key}: {missing}", **where, key=key, state=None)
    return snapshot


def register_pages(app: Flask, console: Console) -> None:
    def lane_of(gate: str) -> GateLane | None:
        return console.gates.get(gate)

    @app.get("/")
    def grid() -> Response:
        try:
            query = parse_query(request.args, request.args.getlist("state"))
        except QueryError as error:
            return refuse(400, str(error))
        result = build_grid(console.lanes, query, console.options.clock())
        if wants_json():
            return json_response(result.to_json())
        rows = grid_rows(result, key_href, run_href)
        return html("grid.html", grid=result, rows=rows, states=STATES, query=query)

    @app.get("/gates/<gate>/keys/<key>")
    def key(gate: str, key: str) -> Response:
        lane = lane_of(gate)
        if lane is None:
            return refuse(404, f"no gate {gate!r} in this console", gate=gate, key=key, state=None)
        snapshot = _loaded(lane.runtime, key, "no such key (nothing delivered yet)", gate=gate)
        if isinstance(snapshot, Response):
            return snapshot
        status = lane.status(snapshot)
        value = status.to_json()
        now = console.options.clock()
        return page(
            "key.html",
            value,
            lane=lane,
            status=status,
            value=value,
            history=list(reversed(status.history)),
            timeline=timeline(status, now),
            actions=allowed_actions(lane, status.state),
            diagram=graphviz_available(),
            states=STATES,
        )

    @app.get("/pipelines/<pipeline>/keys/<key>")
    def run(pipeline: str, key: str) -> Response:
        lane = console.pipelines.get(pipeline)
        if lane is None:
            message = f"no pipeline {pipeline!r} in this console"
            return refuse(404, message, pipeline=pipeline, key=key, state=None)
        missing = "no such run (no gate announced it yet)"
        snapshot = _loaded(lane.runtime, key, missing, pipeline=pipeline)
        if isinstance(snapshot, Response):
            return snapshot
        status = lane.status(snapshot, console.options.clock())
        value = status.to_json()
        return page(
            "pipeline.html",
            value,
            status=status,
            value=value,
            gates=console.gates,
            history=list(reversed(status.history)),
            states=PIPELINE_STATES,
        )

    @app.get("/gates/<gate>/keys/<key>/diagram.svg")
    def diagram(gate: str, key: str) -> Response:
        lane = lane_of(gate)
        if lane is None:
            return Response("no such gate\n", status=404, mimetype="text/plain")
        try:
            snapshot = lane.runtime.load(key)
        except InvalidMessage:
            snapshot = None
        if snapshot is None:
            return Response("no such key\n", status=404, mimetype="text/plain")
        try:
            svg = render(lane.spec, "svg", snapshot)
        except DiagramToolMissing as error:
            return Response(f"{error}\n", status=503, mimetype="text/plain")
        return Response(svg, mimetype="image/svg+xml")

    @app.get("/quarantine")
    def quarantine() -> Response:
        gate = request.args.get("gate") or None
        raw_limit = request.args.get("limit") or str(QUARANTINE_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            return refuse(400, "limit: a whole number from 1 to 1000")
        records = console.store.quarantined(gate, limit=int(raw_limit))
        value = {
            "gate": gate,
            "limit": int(raw_limit),
            "quarantined": [quarantine_json(r) for r in records],
        }
        return page("quarantine.html", value, records=records, gate=gate)

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            console.store.quarantined(limit=1)
        except PhaseactorsError as error:
            return json_response({"status": "unavailable", "error": type(error).__name__}, 503)
        return json_response({"status": "ok"})
