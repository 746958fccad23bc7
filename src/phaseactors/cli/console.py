"""``phaseactors console``: serve the operator console (extra ``console``) on this machine.

Read-only unless started with ``--allow-actions``; then a browser signs in with the token in
``$PHASEACTORS_CONSOLE_TOKEN`` and acts as the person who started the console
(``$PHASEACTORS_OPERATOR``, else USER@HOST), recorded in each key's history.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..errors import ConfigurationError
from .args import plain
from .common import operator_name


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "console",
        help="serve the operator console: every gate and key, timelines, audited actions",
        description=plain(__doc__),
    )
    parser.add_argument(
        "--gate",
        action="append",
        default=None,
        help="a gate to show, by name or path (repeatable) [default $PHASEACTORS_CONSOLE_GATES,"
        " else every gate file in $PHASEACTORS_MACHINES or ./machines]",
    )
    parser.add_argument(
        "--pipeline",
        action="append",
        default=None,
        help="a pipeline whose runs to show first, by name or path (repeatable) [default: every"
        " pipeline file beside the gates whose gates are all shown]",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="memory://, sqlite:///path.db or firestore://PROJECT[/DB] "
        "[$PHASEACTORS_STORE, default sqlite:///phaseactors.db]",
    )
    parser.add_argument(
        "--publisher",
        default=None,
        help="where forced triggers go: jsonl://PATH, log:// or pubsub://PROJECT"
        " [$PHASEACTORS_PUBLISHER, default log://]",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="allow force-trigger, rearm and fail (needs $PHASEACTORS_CONSOLE_TOKEN)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from werkzeug.serving import make_server

        from ..console.auth import Nobody, TokenSignIn
        from ..console.context import ConsoleOptions
        from ..console.setup import discover_gates, open_console
    except ImportError:  # depends on the installed extras
        raise ConfigurationError(
            "phaseactors console needs the console extra: pip install 'phaseactors[console]'"
        ) from None
    settings = Settings.from_env()
    authenticator: Nobody | TokenSignIn = Nobody()
    if args.allow_actions:
        if not settings.console_token or len(settings.console_token) < 16:
            raise ConfigurationError(
                "--allow-actions needs PHASEACTORS_CONSOLE_TOKEN (16 characters or more):"
                " the token a browser signs in with"
            )
        authenticator = TokenSignIn(settings.console_token, operator_name())
    options = ConsoleOptions(
        allow_actions=args.allow_actions,
        authenticator=authenticator,
        secret_key=settings.console_secret,
    )
    app = open_console(
        args.gate or discover_gates(),
        pipelines=args.pipeline,
        store=args.store,
        publisher=args.publisher,
        options=options,
    )
    server = make_server(args.host, args.port, app, threaded=True)
    mode = "actions allowed" if args.allow_actions else "read-only"
    print(f"phaseactors console on http://{args.host}:{server.port}/ ({mode})", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
