"""State diagrams of a gate, and of one key in it, drawn by python-statemachine's own pipeline.

The library extracts a machine into a small intermediate graph (``DiagramGraph``), renders it
with its Mermaid, DOT and Markdown-table renderers, and runs Graphviz's ``dot`` for SVG/PNG.
This module only configures that pipeline for the gate:

* the machine is bound to a :class:`GateModel`, so the model's guards and actions are named;
* edges carry event ids (``report_done``), the names that history, status and the code use,
  instead of the library's humanised names ("Report done");
* the gate's diagram highlights no state; a key's diagram highlights its current state and
  carries a legend built from :func:`gate_status` (done, missing, late, unknown processors,
  the trigger id, the failure reason);
* Graphviz gets one edge per pair of states, listing its ``event [guard]`` lines: up to three
  parallel curves with floating labels were unreadable in the PNG;
* DOT output is byte-stable (the renderer names two nodes after ``id()``), so the committed
  diagrams diff cleanly.

Rendering takes ``(spec, snapshot | None)``; loading a key from a store is the caller's job.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import textwrap
from collections.abc import Callable
from typing import Any

from statemachine.contrib.diagram.extract import extract
from statemachine.contrib.diagram.graphviz import GraphvizNotFoundError, run_graphviz
from statemachine.contrib.diagram.model import DiagramGraph

from ..core.snapshot import Snapshot
from ..errors import DiagramToolMissing, GraphvizMissing
from .data import GateData
from .machine import GateMachine
from .model import GateModel
from .spec import GateSpec
from .status import GateStatus, gate_status

__all__ = [
    "FORMATS",
    "DiagramToolMissing",
    "GraphvizMissing",
    "diagram_graph",
    "graphviz_available",
    "legend",
    "render",
    "to_dot",
    "to_markdown",
    "to_mermaid",
]

#: Every format ``render`` accepts; the last two need Graphviz's ``dot`` program.
FORMATS = ("mermaid", "dot", "md", "svg", "png")
IMAGE_FORMATS = ("svg", "png")

_RANKDIR = "TB"  # compact, and labels stay beside their edges (LR is twice as wide)
_WRAP = 64
_UNSTABLE_IDS = re.compile(r"(?<=__initial_|___atomic_)\d+")


Snap = Snapshot[GateData]


def diagram_graph(spec: GateSpec, snapshot: Snap | None = None) -> DiagramGraph:
    """The library's diagram graph of the gate machine, bound to ``spec`` (and ``snapshot``)."""
    model = GateModel(spec)
    if snapshot is not None:
        model.load(snapshot)
    machine = GateMachine(model=model)
    graph = extract(machine)
    graph.name = spec.name
    ids = {str(event.name): str(event.id) for event in machine.events}
    for transition in graph.transitions:
        transition.event = ids.get(transition.event, transition.event)
    if snapshot is None:  # a fresh machine sits in `waiting`; the gate's picture has no "now"
        for state in graph.states:
            state.is_active = False
    return graph


def legend(spec: GateSpec, snapshot: Snap | None = None) -> tuple[str, list[str]]:
    """A title and short lines describing the gate, or where ``snapshot``'s key stands."""
    if snapshot is None:
        profile = spec.profile("default")
        lines = [f"required ({len(profile.required)}), optional ({len(profile.optional)})"]
        if profile.optional:
            lines.append(f"optional quorum {profile.optional_quorum:.0%}")
        if spec.profiles:
            lines.append("profiles: " + ", ".join(["default", *(p.name for p in spec.profiles)]))
        if spec.deadlines:
            tiers = [
                t.name + (" (else fail)" if t.otherwise == "fail" else "") for t in spec.deadlines
            ]
            lines.append("deadlines: " + ", ".join(tiers))
        return f"gate {spec.name}", lines
    status = gate_status(spec, snapshot)
    chosen = "" if status.profile == "default" else f", profile {status.profile}"
    lines = [f"state {status.state}, generation {status.generation}{chosen}"]
    lines += _names("done", status.done)
    lines += _names("missing", status.missing)
    if status.missing_optional:
        lines += _names("missing optional", status.missing_optional)
    lines += _names("late", [record.processor for record in status.late])
    lines += _names("unknown", status.unknown)
    if status.failures:
        counts = status.failure_counts
        lines += _names("failed", [f"{p} x{counts.get(p, 1)}" for p in status.failures])
    trigger = status.trigger
    if trigger is None:
        lines.append("trigger: not decided")
    else:
        sent = f"published as {trigger.message_id}" if trigger.published else "not published"
        lines.append(f"trigger: {trigger.trigger_id} ({trigger.reason}, {sent})")
    if status.failed_reason:
        lines += _wrap(f"failed reason: {status.failed_reason}")
    return f"{spec.name} / {snapshot.key}", lines


def _names(label: str, names: Any) -> list[str]:
    """``label (n): a, b, c`` wrapped to short lines; ``none`` when empty."""
    names = list(names)
    return _wrap(f"{label} ({len(names)}): {', '.join(names) or 'none'}")


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, _WRAP, subsequent_indent="    ", break_on_hyphens=False)


def to_mermaid(spec: GateSpec, snapshot: Snap | None = None) -> str:
    """Mermaid ``stateDiagram-v2`` source, titled; a key's legend is a note on its state."""
    from statemachine.contrib.diagram.renderers.mermaid import (
        MermaidRenderer,
        MermaidRendererConfig,
    )

    title, lines = legend(spec, snapshot)
    body = MermaidRenderer(MermaidRendererConfig(direction=_RANKDIR)).render(
        diagram_graph(spec, snapshot)
    )
    note = []
    if snapshot is not None:
        note = [f"    note right of {snapshot.state}"]
        note += [f"        {_mermaid_text(line.strip())}" for line in lines]
        note.append("    end note")
    front = ["---", f"title: {json.dumps(title)}", "---"]
    return "\n".join([*front, body.rstrip("\n"), *note]) + "\n"


def _mermaid_text(text: str) -> str:
    """Note text without the characters Mermaid reads as statement ends or comments."""
    return text.replace(";", ",").replace("%%", "%")


def to_dot(spec: GateSpec, snapshot: Snap | None = None) -> str:
    """Graphviz DOT source, with the title and legend as the graph's label."""
    try:
        from statemachine.contrib.diagram.renderers.dot import DotRenderer, DotRendererConfig
    except ImportError as error:  # pydot, python-statemachine's optional `diagrams` extra
        raise DiagramToolMissing(
            f"DOT, SVG and PNG diagrams need {error.name or 'pydot'}, which comes with the"
            " diagrams extra: pip install 'phaseactors[diagrams]' (or use --format mermaid|md)"
        ) from error

    config = DotRendererConfig(
        graph_rankdir=_RANKDIR, graph_attrs={"labelloc": "t", "labeljust": "l"}
    )
    diagram = diagram_graph(spec, snapshot)
    graph = DotRenderer(config).render(diagram)
    _merge_parallel_edges(graph, diagram, config.transition_font_size)
    title, lines = legend(spec, snapshot)
    rows = [f'<font point-size="12"><b>{html.escape(title)}</b></font>']
    rows += [html.escape(line) for line in lines]
    graph.set("label", "<" + "".join(f'{row}<br align="left"/>' for row in rows) + ">")
    source = str(graph.to_string()).rstrip("\n") + "\n"
    numbers: dict[str, str] = {}
    return _UNSTABLE_IDS.sub(lambda m: numbers.setdefault(m.group(), str(len(numbers))), source)


def _merge_parallel_edges(graph: Any, diagram: DiagramGraph, font_size: str) -> None:
    """Draw one edge per (source, target), labelled one ``event [guard]`` per line.

    The gate has up to three transitions between two states; Graphviz draws each as its own
    curve and the labels float between them, so a reader cannot tell which is which.
    """
    labels: dict[tuple[str, str], list[str]] = {}
    for transition in diagram.transitions:
        if transition.is_internal or transition.is_initial:
            continue
        guard = f" [{', '.join(transition.guards)}]" if transition.guards else ""
        for target in transition.targets or [transition.source]:
            labels.setdefault((transition.source, target), []).append(transition.event + guard)
    for (source, target), texts in labels.items():
        edges = graph.get_edge(source, target)
        if len(texts) < 2 or len(edges) != len(texts):
            continue
        while len(graph.get_edge(source, target)) > 1:
            graph.del_edge(source, target, 1)
        text = "<br/>".join(html.escape(t) for t in texts)
        edges[0].set_label(
            f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="4"><tr><td>'
            f'<font point-size="{font_size}">{text}</font></td></tr></table>>'
        )


def to_markdown(spec: GateSpec, snapshot: Snap | None = None) -> str:
    """A Markdown snippet: the Mermaid diagram in a fence, the transition table and, for a
    key, a table of its processors."""
    from statemachine.contrib.diagram.renderers.table import TransitionTableRenderer

    title, _ = legend(spec, snapshot)
    parts = [f"### {title}\n"]
    if spec.description:
        parts.append(f"{spec.description}\n")
    parts.append(f"```mermaid\n{to_mermaid(spec, snapshot)}```\n")
    parts.append(TransitionTableRenderer().render(diagram_graph(spec, snapshot), fmt="md"))
    if snapshot is not None:
        parts.append(_processor_table(gate_status(spec, snapshot)))
    return "\n".join(parts)


def _processor_table(status: GateStatus) -> str:
    """One row per expected, late and unknown processor of a key, with where it stands."""
    rows = [("Processor", "Role", "Status")]
    for role, names in (("required", status.required), ("optional", status.optional)):
        for name in names:
            if name in status.done:
                state = "done"
            elif name in status.failures:
                state = f"failed x{status.failure_counts.get(name, 1)}"
            else:
                state = "missing"
            rows.append((name, role, state))
    rows += [(record.processor, "late", record.status) for record in status.late]
    rows += [(name, "unknown", "not counted") for name in status.unknown]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines) + "\n"


def graphviz_available() -> bool:
    """Whether Graphviz's ``dot`` program is on PATH (needed for SVG and PNG)."""
    return shutil.which("dot") is not None


def render(spec: GateSpec, fmt: str, snapshot: Snap | None = None) -> bytes:
    """The diagram in ``fmt`` (one of :data:`FORMATS`), as bytes (text formats in UTF-8)."""
    texts: dict[str, Callable[[GateSpec, Snap | None], str]] = {
        "mermaid": to_mermaid,
        "dot": to_dot,
        "md": to_markdown,
    }
    if fmt in texts:
        return texts[fmt](spec, snapshot).encode("utf-8")
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not graphviz_available():
        raise GraphvizMissing(fmt)
    try:
        image: bytes = run_graphviz(to_dot(spec, snapshot), fmt)
    except GraphvizNotFoundError as error:
        raise GraphvizMissing(fmt) from error
    return image
