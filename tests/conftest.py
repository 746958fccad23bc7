"""Shared fixtures: a small gate, a manual clock, a runtime over the memory store."""

from __future__ import annotations

import os

import pytest
from hypothesis import Phase, settings

from phaseactors import GateActor, GateRuntime, RecordingPublisher, spec_from_mapping
from phaseactors.gate.spec import GateSpec
from phaseactors.stores import MemoryStore
from support import SMALL_GATE, ManualClock

# ci: deterministic, so CI never flakes on a new random draw; nightly: random, 10x examples
# (tests size themselves with support.scaled()); dev: random, for local exploration;
# mutation: see below.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("nightly", deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
# mutation: scripts/mutation, deterministic like ci with a quarter of its examples; a mutant
# is caught by the first failing example, so nothing is shrunk
settings.register_profile(
    "mutation",
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def spec() -> GateSpec:
    return spec_from_mapping(SMALL_GATE, source="small.toml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def runtime(spec: GateSpec, publisher: RecordingPublisher, clock: ManualClock) -> GateRuntime:
    return GateRuntime(GateActor(spec), MemoryStore(), publisher, clock=clock)


@pytest.fixture(scope="session")
def opentelemetry_readers():  # type: ignore[no-untyped-def]
    """OpenTelemetry's global meter and tracer providers, set once for the session, with an
    in-memory metric reader and span exporter: what phaseactors records, to inspect."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    return reader, exporter
