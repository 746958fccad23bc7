"""The grid's columns. A lane is one kind of actor whose keys the console lists: a gate
(:class:`GateLane`), or a pipeline's runs (:class:`PipelineLane`), put first so that each row
reads across the phases.

A lane reads one page of keys at a time (``Store.scan`` with bounds, newest first), so a
grid over years of dates decodes only the keys it shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from attrs import frozen

from ..core.snapshot import Snapshot
from ..gate.data import GateData
from ..gate.operations import GateRuntime
from ..gate.spec import GateSpec
from ..gate.status import GateStatus
from ..pipeline.data import PipelineData
from ..pipeline.operations import PipelineRuntime
from ..pipeline.status import STATES as PIPELINE_STATES
from ..pipeline.status import PipelineStatus, gate_statuses, pipeline_status

__all__ = ["GATE_STATES", "Cell", "GateLane", "Lane", "PipelineLane", "why_stuck"]

#: Every state a gate key can be in, in the order of its life.
GATE_STATES = ("waiting", "partial", "complete", "triggered", "failed")
#: States a key can still be stuck in; a triggered key has done its work.
_OPEN = ("waiting", "partial", "complete", "failed")
_UNDECIDED = ("waiting", "partial")


@frozen(kw_only=True)
class Cell:
    """One key of one lane: what the grid shows in a cell, and why a person should look."""

    lane: str
    key: str
    state: str
    generation: int
    done: int
    expected: int
    stuck: str | None
    """Why the key needs a person (failed, trigger pending, past a deadline), else None."""
    updated_at: datetime | None
    row: dict[str, Any]
    """The key as ``phaseactors list --json`` (a run: ``pipeline list --json``) shows it."""
    kind: str = "gate"
    """The lane's kind, which says which page shows the key."""


class Lane(Protocol):
    """A column of the grid."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str:
        """``gate`` (or ``pipeline``): which page shows one of its keys."""
        ...

    @property
    def states(self) -> tuple[str, ...]:
        """Every state of its keys, in the order of their life."""
        ...

    def page(
        self, *, start: str | None, stop: str | None, states: Sequence[str] | None, limit: int
    ) -> list[Cell]:
        """The newest ``limit`` keys with ``start <= key < stop`` (in ``states``)."""
        ...

    def cell(self, key: str) -> Cell | None:
        """One key, or None if it was never seen."""
        ...

    def attention(self, now: datetime) -> list[Cell]:
        """Every key that is stuck at ``now``, newest first."""
        ...


def why_stuck(status: GateStatus, now: datetime) -> str | None:
    """Why a key needs a person at ``now``: it failed, its trigger is not published, or a
    deadline passed while it is still undecided. None when it is fine or still in time."""
    if status.state == "failed":
        return f"failed: {status.failed_reason or 'no reason recorded'}"
    trigger = status.trigger
    if status.pending_outbox or (
        status.state == "complete" and trigger is not None and not trigger.published
    ):
        error = next((e.last_error for e in status.pending_outbox if e.last_error), None)
        return "trigger pending, not yet published" + (f": {error}" if error else "")
    if status.state in _UNDECIDED:
        passed = [d for d in status.deadlines if d.passed or (d.due_at and d.due_at <= now)]
        if passed:
            return f"past deadline {passed[-1].name}, {len(status.missing)} required missing"
    return None


#: Cells of decided keys kept per lane; a key's version never changes its content.
_CELL_CACHE = 20_000


class GateLane:
    """One gate's keys, read through its runtime's store.

    The cell of a decided key (complete, triggered, failed) depends on its version alone, so
    it is kept and reused while the version is unchanged; an undecided key's cell is worked
    out anew each time, since whether it is past a deadline depends on the time."""

    kind = "gate"
    states = GATE_STATES

    def __init__(self, runtime: GateRuntime) -> None:
        self.runtime = runtime
        self._cells: dict[str, tuple[int, int, Cell]] = {}

    @property
    def name(self) -> str:
        return self.runtime.spec.name

    @property
    def spec(self) -> GateSpec:
        return self.runtime.spec

    def status(self, snapshot: Snapshot[GateData]) -> GateStatus:
        return self.runtime.status(snapshot)  # under the definition the key decides by

    def _cell(self, snapshot: Snapshot[GateData], now: datetime | None = None) -> Cell:
        kept = self._cells.get(snapshot.key)
        if kept is not None and kept[:2] == (snapshot.generation, snapshot.version):
            return kept[2]
        cell = self._new_cell(snapshot, now or self.runtime.clock())
        if snapshot.state not in _UNDECIDED:
            if len(self._cells) >= _CELL_CACHE:
                self._cells.clear()
            self._cells[snapshot.key] = (snapshot.generation, snapshot.version, cell)
        return cell

    def _new_cell(self, snapshot: Snapshot[GateData], now: datetime) -> Cell:
        status = self.status(snapshot)
        return Cell(
            lane=self.name,
            key=status.key,
            state=status.state,
            generation=status.generation,
            done=sum(1 for name in status.expected if name in status.done),
            expected=len(status.expected),
            stuck=why_stuck(status, now),
            updated_at=status.updated_at,
            row=status.row_json(),
        )

    def page(
        self, *, start: str | None, stop: str | None, states: Sequence[str] | None, limit: int
    ) -> list[Cell]:
        now = self.runtime.clock()
        snapshots = self.runtime.store.scan(
            self.runtime.actor,
            states=states,
            start=start,
            stop=stop,
            descending=True,
            limit=limit,
        )
        return [self._cell(snapshot, now) for snapshot in snapshots]

    def cell(self, key: str) -> Cell | None:
        snapshot = self.runtime.load(key)
        return None if snapshot is None else self._cell(snapshot)

    def attention(self, now: datetime) -> list[Cell]:
        cells = [
            self._cell(snapshot, now)
            for snapshot in self.runtime.store.scan(self.runtime.actor, states=_OPEN)
        ]
        return sorted((c for c in cells if c.stuck), key=lambda c: c.key, reverse=True)


#: States of a run that need no person, whatever else holds.
_RUN_SETTLED = ("waiting", "running", "done")


class PipelineLane:
    """One pipeline's runs, put before the gates so that a row reads across the phases.

    A cell counts the phases triggered of the phases the pipeline has; a run is stuck when it
    is stalled or failed, and the cell says which alerts are open. The run's page adds each
    gate's key as it stands (``gates``: the pipeline's gates by name)."""

    kind = "pipeline"
    states = PIPELINE_STATES

    def __init__(self, runtime: PipelineRuntime, gates: Mapping[str, GateRuntime]) -> None:
        self.runtime = runtime
        self.gates = dict(gates)

    @property
    def name(self) -> str:
        return self.runtime.spec.name

    def status(self, snapshot: Snapshot[PipelineData], now: datetime) -> PipelineStatus:
        """The run with each gate's key as it stands now."""
        gates = gate_statuses(self.gates, snapshot.key)
        return pipeline_status(self.runtime.spec, snapshot, gates=gates, at=now)

    def _cell(self, snapshot: Snapshot[PipelineData], now: datetime) -> Cell:
        status = pipeline_status(self.runtime.spec, snapshot, at=now)
        stuck = None
        if status.state not in _RUN_SETTLED:
            alerts = "; ".join(a.summary for a in status.open_alerts)
            stuck = f"{status.state}: {alerts or 'no open alert recorded'}"
        return Cell(
            lane=self.name,
            key=status.key,
            state=status.state,
            generation=status.generation,
            done=sum(1 for p in status.phases if p.progress == "triggered"),
            expected=len(status.phases),
            stuck=stuck,
            updated_at=status.updated_at,
            row=status.row_json(),
            kind=self.kind,
        )

    def page(
        self, *, start: str | None, stop: str | None, states: Sequence[str] | None, limit: int
    ) -> list[Cell]:
        if states is not None:
            states = [s for s in states if s in PIPELINE_STATES]
            if not states:
                return []  # the rows' own gates decide; build_grid reads this lane's cells
        now = self.runtime.clock()
        snapshots = self.runtime.store.scan(
            self.runtime.actor, states=states, start=start, stop=stop, descending=True, limit=limit
        )
        return [self._cell(snapshot, now) for snapshot in snapshots]

    def cell(self, key: str) -> Cell | None:
        snapshot = self.runtime.load(key)
        return None if snapshot is None else self._cell(snapshot, self.runtime.clock())

    def attention(self, now: datetime) -> list[Cell]:
        stuck = [s for s in PIPELINE_STATES if s not in _RUN_SETTLED]
        cells = [
            self._cell(snapshot, now)
            for snapshot in self.runtime.store.scan(self.runtime.actor, states=stuck)
        ]
        return sorted(cells, key=lambda c: c.key, reverse=True)
