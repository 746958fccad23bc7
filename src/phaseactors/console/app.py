"""The console's Flask application: pages, their JSON variants, and the security around them.

Every page is also JSON, with ``Accept: application/json`` or ``?format=json``, in the shapes
of the CLI's ``--json``. Templates are Jinja2 with autoescaping, so every value (processor
names, reasons, metadata: untrusted input) is escaped; the script is a file, never inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, request, session

from ..core.store import Store
from .context import Console, ConsoleOptions
from .forms import register_forms
from .lanes import GateLane, Lane
from .pages import register_pages
from .respond import key_href, refuse, run_href
from .security import csrf_token, security_headers

__all__ = ["create_app"]

_OPEN_ENDPOINTS = ("healthz", "static")


def _utc(value: datetime | str | None, seconds: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def create_app(
    gates: Sequence[GateLane],
    store: Store,
    options: ConsoleOptions | None = None,
    *,
    extra_lanes: Sequence[Lane] = (),
) -> Flask:
    """The console over ``gates`` (read from ``store``); ``extra_lanes`` come first in the
    grid (a pipeline run, when present)."""
    options = options or ConsoleOptions()
    console = Console(gates, store, options, extra_lanes=extra_lanes)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=options.secret_key,
        SESSION_COOKIE_NAME="phaseactors_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=options.secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["phaseactors_console"] = console
    app.jinja_env.filters["utc"] = _utc
    app.jinja_env.globals.update(
        csrf_token=lambda: csrf_token(session),
        key_href=key_href,
        run_href=run_href,
        allow_actions=options.allow_actions,
        signs_in=options.authenticator.signs_in,
    )

    @app.before_request
    def identify() -> Response | None:
        g.identity = options.authenticator.identify(request.headers, session)
        required = options.authenticator.required and request.endpoint not in _OPEN_ENDPOINTS
        if required and g.identity is None:
            return refuse(403, "unauthorized")
        return None

    @app.context_processor
    def identity() -> dict[str, Any]:
        return {"identity": g.get("identity"), "gates": list(console.gates)}

    @app.after_request
    def headers(response: Response) -> Response:
        diagram = request.endpoint == "diagram"
        for name, value in security_headers(diagram=diagram).items():
            response.headers.setdefault(name, value)
        if request.endpoint == "static":
            response.headers["Cache-Control"] = "public, max-age=300"
        return response

    register_pages(app, console)
    register_forms(app, console)
    return app
