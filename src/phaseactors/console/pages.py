"""The console's read-only pages: the grid, one key, its diagram, quarantine, health."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from ..core.store import Quarantined
from ..errors import InvalidMessage, PhaseactorsError
from ..gate.diagrams import DiagramToolMissing, graphviz_available, render
from .actions import allowed_actions
from .context import Console
from .grid import STATES, QueryError, build_grid, parse_query
from .lanes import GateLane
from .respond import json_response, page, refuse
from .timeline import timeline

__all__ = ["quarantine_json", "register_pages"]

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
        return page("grid.html", result.to_json(), grid=result, states=STATES, query=query)

    @app.get("/gates/<gate>/keys/<key>")
    def key(gate: str, key: str) -> Response:
        lane = lane_of(gate)
        if lane is None:
            return refuse(404, f"no gate {gate!r} in this console", gate=gate, key=key, state=None)
        try:
            snapshot = lane.runtime.load(key)
        except InvalidMessage as error:
            return refuse(404, str(error), gate=gate, key=key, state=None)
        if snapshot is None:
            message = f"{gate}/{key}: no such key (nothing delivered yet)"
            return refuse(404, message, gate=gate, key=key, state=None)
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
