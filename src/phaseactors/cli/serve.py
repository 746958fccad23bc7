"""``phaseactors serve``: run the Cloud Function locally with functions-framework."""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigurationError
from .args import positive_int
from .common import add_common, open_spec, publisher_url, store_url

__all__ = ["register", "run"]

_TARGETS = ("handle", "push", "status", "sweep")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Cloud Function locally (needs the gcp extra)",
        description="Serve one entry point of phaseactors.gcp.functions: handle (CloudEvents, as"
        " Eventarc delivers them), push (a Pub/Sub push subscription; needs --push-token or"
        " $PHASEACTORS_PUSH_AUDIENCE), sweep (for a scheduler) or status (health and ?key="
        " lookups). The store and publisher default as for every other command: the SQLite"
        " file phaseactors.db and a triggers file beside it.",
    )
    parser.add_argument("--target", choices=_TARGETS, default="handle")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=positive_int, default=8080)
    parser.add_argument("--dead-letter-topic", help="also publish permanent failures here")
    parser.add_argument(
        "--push-token",
        help="secret a push request must carry as ?token= or the X-Phaseactors-Push-Token"
        " header [$PHASEACTORS_PUSH_TOKEN]; or set $PHASEACTORS_PUSH_AUDIENCE and"
        " $PHASEACTORS_PUSH_SERVICE_ACCOUNT for OIDC",
    )
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    open_spec(args)  # a missing or mistyped gate is refused before the server starts
    settings = {
        "PHASEACTORS_GATE": args.gate,
        "PHASEACTORS_STORE": store_url(args),
        "PHASEACTORS_PUBLISHER": publisher_url(args),
        "PHASEACTORS_DEAD_LETTER_TOPIC": args.dead_letter_topic,
        "PHASEACTORS_PUSH_TOKEN": args.push_token,
    }
    os.environ.update({k: v for k, v in settings.items() if v})
    os.environ["FUNCTION_TARGET"] = args.target
    if args.target == "push":  # refuse a configuration that lets anyone in, before starting
        from ..gcp.push_auth import PushAuth

        PushAuth.from_env(os.environ)
    try:
        from ..gcp.local import serve
    except ImportError:  # depends on the installed extras
        raise ConfigurationError(
            "phaseactors serve needs the gcp extra: pip install 'phaseactors[gcp]'"
        ) from None
    serve(args.target, args.host, args.port)
    return 0
