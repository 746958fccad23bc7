"""Building a console from names and URLs: which gates, which store, which publisher."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from ..config import Settings
from ..core.clock import Clock, utcnow
from ..errors import ConfigurationError
from ..gate.actor import GateActor
from ..gate.operations import GateRuntime
from ..gate.spec_loader import gate_files, load_spec
from ..publishers import open_publisher
from ..stores import open_store
from .app import create_app
from .context import ConsoleOptions
from .lanes import GateLane

__all__ = ["discover_gates", "open_console"]


def discover_gates(environ: dict[str, str] | None = None) -> list[str]:
    """The gates to show when none are named: ``$PHASEACTORS_CONSOLE_GATES``, else every
    gate file of the first gate directory that has any (``$PHASEACTORS_MACHINES``, then
    ``./machines``), in name order."""
    settings = Settings.from_env(os.environ if environ is None else environ)
    if settings.console_gates:
        return [name.strip() for name in settings.console_gates.split(",") if name.strip()]
    for directory in [*settings.machines, Path.cwd() / "machines"]:
        files = gate_files(directory)  # its pipeline definitions left out
        if files:
            return [str(path) for path in files]
    return []


def open_console(
    gates: Sequence[str],
    *,
    store: str | None,
    publisher: str | None,
    options: ConsoleOptions,
    publisher_default: str = "log://",
    clock: Clock = utcnow,
) -> Flask:
    """The console app over the named gates, sharing one store and one publisher."""
    if not gates:
        raise ConfigurationError(
            "no gate to show: pass --gate NAME (repeatable), set PHASEACTORS_CONSOLE_GATES,"
            " or run where ./machines holds gate files"
        )
    opened_store = open_store(store)
    opened_publisher = open_publisher(publisher, default=publisher_default)
    lanes = []
    for name in gates:
        spec = load_spec(name)
        runtime = GateRuntime(GateActor(spec), opened_store, opened_publisher, clock=clock)
        lanes.append(GateLane(runtime))
    return create_app(lanes, opened_store, options)
