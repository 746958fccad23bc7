"""``phaseactors diagram GATE``: the gate's state machine as Mermaid, DOT, Markdown, SVG or PNG.

With ``--key`` the picture is of one key: its current state highlighted and a legend of its
done, missing, late and unknown processors, trigger and failure reason. The drawing itself is
:mod:`phaseactors.diagrams`; this verb resolves the gate, loads the key and writes the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.snapshot import Snapshot
from ..errors import PermanentError, UsageError
from ..gate.actor import GateActor
from ..gate.data import GateData
from ..gate.diagrams import FORMATS, render
from ..gate.spec import GateSpec
from ..gate.spec_loader import load_spec
from ..stores import Store, open_store
from .args import plain
from .common import store_url

__all__ = ["load_key", "register", "run"]

#: Output suffixes that choose the format when ``--format`` is not given.
SUFFIXES = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
    ".md": "md",
    ".svg": "svg",
    ".png": "png",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "diagram",
        help="draw a gate's state machine, or where one key stands in it",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("gate", help="gate name (machines/NAME.toml) or path to a gate file")
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default=None,
        help="output format [default: from the -o suffix, else mermaid]; dot, svg and png need"
        " the diagrams extra (pip install 'phaseactors[diagrams]'), svg and png Graphviz too",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="write here instead of stdout"
    )
    parser.add_argument("--key", default=None, help="draw this key: highlight its state")
    parser.add_argument(
        "--store",
        default=None,
        help="where --key lives: sqlite:///path.db, firestore://PROJECT[/DB] "
        "[$PHASEACTORS_STORE, default sqlite:///phaseactors.db]",
    )
    parser.set_defaults(run=run)


def load_key(spec: GateSpec, store: Store, key: str) -> Snapshot[GateData] | None:
    """The committed snapshot of ``key`` in ``store``, or None if nothing was delivered."""
    actor = GateActor(spec)
    return store.load(actor, actor.validate_key(key))


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.gate)
    fmt = args.format or SUFFIXES.get(args.output.suffix if args.output else "", "mermaid")
    if fmt == "png" and args.output is None:
        raise UsageError("png is binary; give -o FILE.png")
    snapshot = None
    if args.key is not None:
        snapshot = load_key(spec, open_store(store_url(args), create=False), args.key)
        if snapshot is None:
            raise PermanentError(f"{spec.name}/{args.key}: no such key (nothing delivered yet)")
    output = render(spec, fmt, snapshot)
    if args.output is None:
        sys.stdout.write(output.decode("utf-8"))
        return 0
    try:
        args.output.write_bytes(output)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0
