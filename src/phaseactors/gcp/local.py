"""Run one Cloud Function entry point locally, with functions-framework's development server."""

from __future__ import annotations

import functions_framework

from . import functions

__all__ = ["SIGNATURES", "serve"]

#: The signature type of each entry point of :mod:`phaseactors.gcp.functions`.
SIGNATURES = {"handle": "cloudevent", "push": "http", "status": "http", "sweep": "http"}


def serve(target: str, host: str, port: int) -> None:
    """Serve ``target`` on ``host:port`` until interrupted."""
    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=target, source=functions.__file__, signature_type=SIGNATURES[target]
    )
    app.run(host=host, port=port)
