"""Exactly one trigger decision under every interleaving the explorer can build, on the real
runtime and store code (see explorer.py); and the explorer's teeth: it finds the classic
double-trigger and latched-flag bugs in deliberately broken variants (broken.py)."""

from __future__ import annotations

from typing import Any

import pytest
from broken import (
    FlagBeforePublish,
    FlagOutsideTransaction,
    NoIsolationStore,
    SweeperDecidesOnReadSnapshot,
)
from explorer import GATE, Factory, correct_runtime, explore, with_store
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from phaseactors import GateActor
from phaseactors.testing.interleave import InstrumentedMemoryStore, InstrumentedPublisher, Scheduler
from support import HUNT_PHASES, ManualClock, scaled

EXPLORE = settings(
    max_examples=scaled(300),
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=False,
)


@EXPLORE
@given(st.data())
def test_every_interleaving_keeps_one_trigger_per_generation(data: st.DataObject) -> None:
    explore(data, correct_runtime)


def broken_runtime(cls: type[Any]) -> Factory:
    def make(scheduler: Scheduler, clock: ManualClock) -> Any:
        store = InstrumentedMemoryStore(scheduler)
        return cls(GateActor(GATE), store, InstrumentedPublisher(scheduler), clock=clock)

    return make


@pytest.mark.parametrize(
    ("variant", "factory"),
    [
        ("a store without isolation", with_store(NoIsolationStore)),
        (
            "the triggered flag set after publishing, outside the transaction",
            broken_runtime(FlagOutsideTransaction),
        ),
        (
            "the triggered flag set before publishing, outside the transaction",
            broken_runtime(FlagBeforePublish),
        ),
        (
            "a sweeper deciding a due tier on a read snapshot",
            broken_runtime(SweeperDecidesOnReadSnapshot),
        ),
    ],
)
def test_the_explorer_finds_the_classic_bugs(
    variant: str, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    @settings(EXPLORE, phases=[Phase[p] for p in HUNT_PHASES])
    @given(st.data())
    def explore_variant(data: st.DataObject) -> None:
        explore(data, factory)

    with pytest.raises(AssertionError) as caught:
        explore_variant()
    with capsys.disabled():
        print(f"\n--- counterexample found for {variant}: {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
