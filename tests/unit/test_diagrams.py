"""State diagrams: the committed files match the machine, every state, event and guard is drawn,
and a key's picture highlights its state and names what it still waits for."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

from phaseactors import Completion, GateActor, GateRuntime, RecordingPublisher
from phaseactors.cli import diagram
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate import GateMachine, load_spec
from phaseactors.gate.data import GateData
from phaseactors.gate.diagrams import GraphvizMissing, graphviz_available, render
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.spec_loader import gate_files
from phaseactors.stores import MemoryStore, SqliteStore
from support import KEY, ManualClock, done

MACHINES = gate_files(Path(__file__).resolve().parents[2] / "machines")
DIAGRAMS = MACHINES[0].parents[1] / "docs" / "diagrams"
TEXT_FILES = [("mermaid", "mmd"), ("dot", "dot"), ("md", "md")]

STATES = {"waiting", "partial", "complete", "triggered", "failed"}
# What the machine class says must be drawn: every non-internal transition as
# (source, target, event id), and every guard named on one.
EDGES = {
    (t.source.id, t.target.id, str(event))
    for state in GateMachine.states
    for t in state.transitions
    if not t.internal
    for event in t.events
}
GUARDS = {
    str(c) for s in GateMachine.states for t in s.transitions if not t.internal for c in t.cond
}
ACTIVE_FILL = "turquoise"


def parse_mermaid(text: str) -> set[tuple[str, str, str, str]]:
    """(source, target, event, guard) of every ``a --> b : event [guard]`` line."""
    line = re.compile(r"^\s+(\w+) --> (\w+) : (\w+)(?: \[(.+)\])?$", re.MULTILINE)
    return {m.groups(default="") for m in line.finditer(text)}


def parse_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str, str, str]]]:
    """Each node's fill colour, and (source, target, event, guard) for each line of each edge
    label (the renderer writes ``event<br/>[guard]``; merged edges one ``event [guard]`` a line)."""
    fills = dict(re.findall(r"^(\w+) \[label=.*fillcolor=(\w+),", text, re.MULTILINE))
    edges = set()
    edge_lines = re.findall(r"^(\w+) -> (\w+) \[label=<(.*)>, minlen", text, re.MULTILINE)
    for source, target, label in edge_lines:
        lines = [line.strip() for line in re.sub(r"<(?!br/>)[^>]*>", "", label).split("<br/>")]
        for line, after in zip(lines, [*lines[1:], ""], strict=True):
            if line and not line.startswith("["):
                event, _, guard = line.partition(" ")
                guard = guard or (after if after.startswith("[") else "")
                edges.add((source, target, event, guard.strip("[]")))
    return fills, edges


def dot_legend(text: str) -> list[str]:
    """The lines of the graph's label: the title, then the legend."""
    match = re.search(r"^label=<(.*)>;$", text, re.MULTILINE)
    assert match is not None, text
    return [re.sub(r"<[^>]*>", "", line) for line in match.group(1).split('<br align="left"/>')]


def test_the_gate_has_the_five_states() -> None:
    assert {s.id for s in GateMachine.states} == STATES
    assert len(MACHINES) >= 3, "the pipeline's gates are in machines/*.toml"


# -- (a) committed diagrams are current --------------------------------------------------------


@pytest.mark.parametrize(("fmt", "suffix"), TEXT_FILES)
@pytest.mark.parametrize("gate", MACHINES, ids=lambda p: p.stem)
def test_committed_diagram_matches_the_machine(gate: Path, fmt: str, suffix: str) -> None:
    path = DIAGRAMS / f"{gate.stem}.{suffix}"
    assert path.is_file(), f"{path} is missing: run scripts/diagrams"
    drawn = render(load_spec(gate), fmt).decode()
    committed = path.read_text()
    if drawn != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                drawn.splitlines(keepends=True),
                f"{path.name} (committed)",
                f"{path.name} (the machine now)",
                n=1,
            )
        )
        pytest.fail(f"{path} is out of date: run scripts/diagrams\n{diff[:3000]}")


# -- (b) every state, event and guard is drawn -------------------------------------------------


@pytest.mark.parametrize("gate", MACHINES[:1], ids=lambda p: p.stem)
def test_mermaid_draws_every_transition_of_the_class(gate: Path) -> None:
    drawn = parse_mermaid(render(load_spec(gate), "mermaid").decode())
    assert {(s, t, e) for s, t, e, _ in drawn} == EDGES
    assert {s for s, *_ in drawn} | {t for _, t, *_ in drawn} == STATES
    assert {e for _, _, e, _ in drawn} == {str(e.id) for e in GateMachine.events}
    assert {g for *_, g in drawn if g} == GUARDS


@pytest.mark.parametrize("gate", MACHINES[:1], ids=lambda p: p.stem)
def test_dot_draws_every_transition_of_the_class(gate: Path) -> None:
    fills, drawn = parse_dot(render(load_spec(gate), "dot").decode())
    assert set(fills) >= STATES
    assert {(s, t, e) for s, t, e, _ in drawn} == EDGES
    assert {e for _, _, e, _ in drawn} == {str(e.id) for e in GateMachine.events}
    assert {g for *_, g in drawn if g} == GUARDS


def test_markdown_fences_the_mermaid_and_tabulates_the_transitions(spec: GateSpec) -> None:
    text = render(spec, "md").decode()
    fenced = re.search(r"```mermaid\n(.*?)```", text, re.DOTALL)
    assert fenced is not None
    assert fenced.group(1) == render(spec, "mermaid").decode()
    rows = re.findall(r"^\| (\w+)\s+\| (\w+)\s+\| (\w*)\s+\| (\w+)\s+\|$", text, re.MULTILINE)
    assert {(s, t, e) for s, e, _, t in rows if s != "State"} == EDGES


def test_the_gate_diagram_highlights_no_state(spec: GateSpec) -> None:
    assert ":::active" not in render(spec, "mermaid").decode()
    fills, _ = parse_dot(render(spec, "dot").decode())
    assert {fills[s] for s in STATES} == {"white"}


# -- (c) one key ----------------------------------------------------------------------------


def key_snapshot(spec: GateSpec, *completions: Completion) -> Snapshot[GateData]:
    store = MemoryStore()
    runtime = GateRuntime(GateActor(spec), store, RecordingPublisher(), clock=ManualClock())
    for completion in completions:
        runtime.deliver(completion)
    snapshot = diagram.load_key(spec, store, KEY)
    assert snapshot is not None
    return snapshot


def note(mermaid: str, state: str) -> list[str]:
    block = re.search(rf"^    note right of {state}\n(.*?)^    end note$", mermaid, re.M | re.S)
    assert block is not None, mermaid
    return [line.strip() for line in block.group(1).splitlines()]


def active_states(spec: GateSpec, snapshot: Snapshot[GateData]) -> tuple[set[str], set[str]]:
    mermaid = render(spec, "mermaid", snapshot).decode()
    in_mermaid = set(re.findall(r"^    (\w+):::active$", mermaid, re.MULTILINE))
    fills, _ = parse_dot(render(spec, "dot", snapshot).decode())
    in_dot = {s for s in STATES if fills[s] == ACTIVE_FILL}
    return in_mermaid, in_dot


def test_a_partial_key_is_highlighted_with_its_missing_processors(spec: GateSpec) -> None:
    snapshot = key_snapshot(spec, done("alpha"), done("Stranger", "run-9"))
    assert snapshot.state == "partial"
    assert active_states(spec, snapshot) == ({"partial"}, {"partial"})
    expected = [
        "done (1): alpha",
        "missing (2): beta, gamma",
        "late (0): none",
        "unknown (1): Stranger",
        "trigger: not decided",
    ]
    lines = note(render(spec, "mermaid", snapshot).decode(), "partial")
    assert lines == [f"state partial, generation {snapshot.generation}", *expected]
    legend = dot_legend(render(spec, "dot", snapshot).decode())
    assert legend[0] == f"small / {KEY}"
    assert [line for line in legend if line in expected] == expected
    table = render(spec, "md", snapshot).decode()
    assert re.search(r"^\| beta\s+\| required \| missing\s+\|$", table, re.MULTILINE)
    assert re.search(r"^\| Stranger\s+\| unknown\s+\| not counted \|$", table, re.MULTILINE)


def test_a_triggered_key_shows_its_trigger_and_late_reports(spec: GateSpec) -> None:
    snapshot = key_snapshot(spec, done("alpha"), done("beta"), done("gamma"), done("beta", "r2"))
    assert snapshot.state == "triggered"
    assert active_states(spec, snapshot) == ({"triggered"}, {"triggered"})
    lines = note(render(spec, "mermaid", snapshot).decode(), "triggered")
    assert "missing (0): none" in lines
    assert "late (1): beta" in lines
    [trigger] = [line for line in lines if line.startswith("trigger:")]
    assert trigger.startswith(f"trigger: small/{KEY}/1 (all_done, published as ")


def test_a_failed_key_shows_why(spec: GateSpec) -> None:
    failure = done("beta", status="failed", error_message="disk full")
    snapshot = key_snapshot(spec, done("alpha"), failure)
    assert snapshot.state == "failed"
    assert active_states(spec, snapshot) == ({"failed"}, {"failed"})
    text = " ".join(note(render(spec, "mermaid", snapshot).decode(), "failed"))
    assert "failed reason: required processor beta failed: disk full" in text
    assert "failed (1): beta x1" in dot_legend(render(spec, "dot", snapshot).decode())


# -- the command line ---------------------------------------------------------------------


def cli(*argv: str) -> int:
    """``phaseactors diagram ARGV`` in this process, errors reported as the command does."""
    from phaseactors.cli import main

    return main(["diagram", *argv])


def test_cli_writes_mermaid_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(str(MACHINES[0])) == 0
    assert capsys.readouterr().out == (DIAGRAMS / f"{MACHINES[0].stem}.mmd").read_text()


def test_cli_takes_the_format_from_the_output_suffix(tmp_path: Path) -> None:
    assert cli(str(MACHINES[0]), "-o", str(tmp_path / "gate.dot")) == 0
    committed = (DIAGRAMS / f"{MACHINES[0].stem}.dot").read_text()
    assert (tmp_path / "gate.dot").read_text() == committed


def test_cli_draws_a_key_from_a_store_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_spec(MACHINES[0])
    database = tmp_path / "keys.db"
    runtime = GateRuntime(GateActor(spec), SqliteStore(str(database)), RecordingPublisher())
    first = spec.required[0]
    runtime.deliver(Completion(processor=first, key=KEY, status="success", execution_id="r1"))
    store = f"sqlite:///{database}"
    assert cli(str(MACHINES[0]), "--key", KEY, "--store", store, "--format", "md") == 0
    out = capsys.readouterr().out
    assert "    partial:::active" in out.splitlines()
    assert f"done (1): {first}" in out
    assert cli(str(MACHINES[0]), "--key", "2025-11-30", "--store", store) == 2
    assert "no such key" in capsys.readouterr().err


def test_cli_will_not_write_png_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(str(MACHINES[0]), "--format", "png") == 2
    assert "-o FILE.png" in capsys.readouterr().err


# -- (d) Graphviz images -------------------------------------------------------------------


def require_graphviz() -> None:
    if graphviz_available():
        return
    reason = "Graphviz's `dot` is not installed: run scripts/setup-system"
    if os.environ.get("PHASEACTORS_REQUIRE_GRAPHVIZ") == "1":
        pytest.fail(f"Graphviz required: {reason}")
    pytest.skip(reason)


def test_svg_shows_every_state_and_event(spec: GateSpec) -> None:
    require_graphviz()
    svg = render(spec, "svg").decode()
    texts = set(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    assert texts >= STATES
    words = {word for text in texts for word in text.split()}
    assert {str(e.id) for e in GateMachine.events} <= words


def test_cli_writes_a_png(tmp_path: Path) -> None:
    require_graphviz()
    out = tmp_path / "gate.png"
    assert cli(str(MACHINES[0]), "-o", str(out)) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_images_without_graphviz_name_the_setup_script(
    spec: GateSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` on PATH
    for fmt in ("svg", "png"):
        with pytest.raises(GraphvizMissing, match="scripts/setup-system"):
            render(spec, fmt)
    assert render(spec, "mermaid").startswith(b"---\n")  # text formats need nothing external
    assert render(spec, "dot").startswith(b"digraph")
