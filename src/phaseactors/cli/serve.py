"""``phaseactors serve``: run the Cloud Function locally with functions-framework."""

from __future__ import annotations

import argparse
import os

from .common import add_common

_SIGNATURES = {"handle": "cloudevent", "push": "http", "status": "http", "sweep": "http"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Cloud Function locally (needs the gcp extra)",
        description="Serve one entry point of phaseactors.functions: `handle` (CloudEvents, as"
        " Eventarc delivers them), `push` (a Pub/Sub push subscription; needs --push-token or"
        " $PHASEACTORS_PUSH_AUDIENCE), `sweep` (for a scheduler) or `status` (health and ?key="
        " lookups).",
    )
    parser.add_argument("--target", choices=sorted(_SIGNATURES), default="handle")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
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
    settings = {
        "PHASEACTORS_GATE": args.gate,
        "PHASEACTORS_STORE": args.store,
        "PHASEACTORS_PUBLISHER": args.publisher,
        "PHASEACTORS_DEAD_LETTER_TOPIC": args.dead_letter_topic,
        "PHASEACTORS_PUSH_TOKEN": args.push_token,
    }
    os.environ.update({k: v for k, v in settings.items() if v})
    os.environ["FUNCTION_TARGET"] = args.target
    if args.target == "push":  # refuse a configuration that lets anyone in, before starting
        from ..push_auth import PushAuth

        PushAuth.from_env(os.environ)
    try:
        import functions_framework
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise SystemExit(
            "phaseactors serve needs the gcp extra: pip install 'phaseactors[gcp]'"
        ) from None
    from .. import functions

    app = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target=args.target, source=functions.__file__, signature_type=_SIGNATURES[args.target]
    )
    app.run(host=args.host, port=args.port)
    return 0
