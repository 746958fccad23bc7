"""How the console answers: HTML or the same content as JSON, and refusals in either."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from flask import Response, render_template, request

__all__ = ["html", "json_response", "key_href", "page", "refuse", "run_href", "wants_json"]


def wants_json() -> bool:
    """Whether the request asks for JSON: ``?format=json`` or an Accept header preferring it."""
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def key_href(gate: str, key: str) -> str:
    """The URL of a key's page, as ``url_for("key", ...)`` builds it, at a fraction of the
    cost: the grid links thousands of cells."""
    return f"{request.script_root}/gates/{quote(gate, safe='')}/keys/{quote(key, safe='')}"


def run_href(pipeline: str, key: str) -> str:
    """The URL of a pipeline run's page."""
    return f"{request.script_root}/pipelines/{quote(pipeline, safe='')}/keys/{quote(key, safe='')}"


def json_response(value: dict[str, Any], status: int = 200) -> Response:
    """One JSON object, as the CLI's ``--json`` prints it."""
    body = json.dumps(value, sort_keys=True, default=str) + "\n"
    return Response(body, status=status, mimetype="application/json")


def page(template: str, data: dict[str, Any], /, **context: Any) -> Response:
    """``data`` as JSON when asked for, else the rendered ``template``."""
    if wants_json():
        return json_response(data)
    return html(template, **context)


def html(template: str, **context: Any) -> Response:
    """The rendered ``template``."""
    return Response(render_template(template, **context), mimetype="text/html")


def refuse(status: int, message: str, **extra: Any) -> Response:
    """A refusal with its reason, as JSON or as a page."""
    if wants_json():
        return json_response({"error": message, **extra}, status)
    page = render_template("error.html", status=status, message=message)
    return Response(page, status=status, mimetype="text/html")
