"""Building a console from names and URLs: which gates and pipelines, which store, which
publisher."""

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
from ..gate.spec import GateSpec
from ..gate.spec_loader import gate_files, load_spec
from ..pipeline.actor import PipelineActor
from ..pipeline.operations import PipelineRuntime
from ..pipeline.spec import PipelineSpec
from ..pipeline.spec_loader import load_pipeline, load_pipeline_gates, pipeline_files
from ..publishers import open_publisher
from ..stores import open_store
from .app import create_app
from .context import ConsoleOptions
from .lanes import GateLane, PipelineLane

__all__ = ["discover_gates", "discover_pipelines", "open_console"]


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


def discover_pipelines(gates: Sequence[str]) -> list[str]:
    """The pipelines to show when none are named: every pipeline file beside the shown gates
    (or where gate files are looked up) whose gates are all among them, in name order."""
    return [str(p.source) for p in _pipelines_beside([load_spec(name) for name in gates])]


def _pipelines_beside(specs: Sequence[GateSpec]) -> list[PipelineSpec]:
    shown = {spec.name for spec in specs}
    directories = sorted({Path(spec.source).parent for spec in specs})
    pipelines = [load_pipeline(path) for path in pipeline_files(directories) or pipeline_files()]
    return [p for p in pipelines if {phase.gate for phase in p.phases} <= shown]


def open_console(
    gates: Sequence[str],
    *,
    pipelines: Sequence[str] | None = None,
    store: str | None,
    publisher: str | None,
    options: ConsoleOptions,
    publisher_default: str = "log://",
    clock: Clock = utcnow,
) -> Flask:
    """The console app over the named gates and pipelines (default: those
    :func:`discover_pipelines` finds), sharing one store and one publisher."""
    if not gates:
        raise ConfigurationError(
            "no gate to show: pass --gate NAME (repeatable), set PHASEACTORS_CONSOLE_GATES,"
            " or run where ./machines holds gate files"
        )
    opened_publisher = open_publisher(publisher, default=publisher_default)
    opened_store = open_store(store, create=False)  # a console only shows what exists
    specs = [load_spec(name) for name in gates]
    lanes = {
        spec.name: GateLane(
            GateRuntime(GateActor(spec), opened_store, opened_publisher, clock=clock)
        )
        for spec in specs
    }
    runs = []
    if pipelines is None:
        chosen = _pipelines_beside(specs)
    else:
        chosen = [load_pipeline(name) for name in pipelines]
    for pipeline in chosen:
        gate_runtimes = {
            gate: lanes[gate].runtime
            if gate in lanes
            else GateRuntime(GateActor(spec), opened_store, opened_publisher, clock=clock)
            for gate, spec in load_pipeline_gates(pipeline).items()
        }
        run = PipelineRuntime(PipelineActor(pipeline), opened_store, opened_publisher, clock=clock)
        runs.append(PipelineLane(run, gate_runtimes))
    return create_app(list(lanes.values()), opened_store, options, extra_lanes=runs)
