"""The pipeline run under every interleaving the kit's explorer builds: each alert decided
once per (pipeline, key, generation, reason, subject) and published, exactly once when
nothing failed; never stalled once the next phase reported; done once. And the explorer's
teeth: it catches an alert decided outside the step, and a stall that outlives the report."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pipeline_broken import AlertsOutsideTheStep, StallStaysAfterReport
from pipeline_explorer import Factory, correct_runtime, subject_of

from phaseactors.pipeline import PipelineActor
from phaseactors.testing.explore import ManualClock, explore
from phaseactors.testing.interleave import (
    InstrumentedMemoryStore,
    InstrumentedPublisher,
    Scheduler,
)
from pipeline_support import small_pipeline
from support import scaled

EXPLORE = settings(
    max_examples=scaled(300),
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=False,
)


@EXPLORE
@given(st.data())
def test_every_interleaving_alerts_once_per_reason_and_generation(data: st.DataObject) -> None:
    explore(data, subject_of(correct_runtime))


def broken(cls: type) -> Factory:
    def make(scheduler: Scheduler, clock: ManualClock) -> object:
        return cls(
            PipelineActor(small_pipeline()),
            InstrumentedMemoryStore(scheduler),
            InstrumentedPublisher(scheduler),
            clock=clock,
        )

    return make  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("variant", "runtime"),
    [
        ("an alert decided outside the step, recorded after publishing", AlertsOutsideTheStep),
        ("a stall that lasts after the next phase reported", StallStaysAfterReport),
    ],
)
def test_the_explorer_finds_the_broken_runs(
    variant: str, runtime: type, capsys: pytest.CaptureFixture[str]
) -> None:
    @settings(EXPLORE, phases=[Phase.explicit, Phase.generate])  # found is enough: no shrinking
    @given(st.data())
    def explore_variant(data: st.DataObject) -> None:
        explore(data, subject_of(broken(runtime)))

    with pytest.raises(AssertionError) as caught:
        explore_variant()
    with capsys.disabled():
        print(f"\n--- counterexample found for {variant}: {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
