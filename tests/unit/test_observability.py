"""What a delivery tells operators: the ids on every log line, levels by what happened, the
trace continued from a completion into its trigger, and OpenTelemetry metrics and spans."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    MemoryStore,
    RecordingPublisher,
    load_spec,
)
from support import KEY, ManualClock

pytest.importorskip("functions_framework")

from cloudevents.http import CloudEvent

from phaseactors.gcp.cloud_logging import CloudLoggingFormatter
from phaseactors.gcp.functions import GateFunction

TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
IDS = ("gate", "key", "processor", "execution_id", "correlation_id", "message_id")
SPEC = load_spec("phase3_to_phase4")
TID = f"{SPEC.name}/{KEY}/1"  # the trigger's id (the gate also announces what it does)


def traceparent(span: str) -> str:
    return f"00-{TRACE_ID}-{span:0>16}-01"


def event(processor: str, number: int, **attributes: str) -> CloudEvent:
    body = {
        "processor_name": processor,
        "game_date": KEY,
        "status": "success",
        "execution_id": f"{processor}-run",
        "correlation_id": "scrape-7",
    }
    data = {
        "message": {
            "data": base64.b64encode(json.dumps(body).encode()).decode(),
            "messageId": f"m-{number}",
            "attributes": attributes,
        },
        "subscription": "s",
    }
    return CloudEvent({"type": TYPE, "source": "//pubsub", "id": f"e-{number}"}, data)


class Lines(logging.Handler):
    """Keeps every record formatted as the function formats it for Cloud Logging."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(CloudLoggingFormatter())
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("phaseactors")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def function(clock: ManualClock) -> GateFunction:
    runtime = GateRuntime(GateActor(SPEC), MemoryStore(), RecordingPublisher(), clock=clock)
    return GateFunction(SPEC, runtime, project="p")


def test_every_line_of_a_delivery_carries_its_ids_and_trace(
    function: GateFunction, lines: Lines
) -> None:
    for number, processor in enumerate(SPEC.required):
        function.on_cloud_event(event(processor, number, traceparent=traceparent(str(number + 1))))
    delivery_lines = [e for e in lines.entries if e["logger"] != "phaseactors.function"]
    assert {e["logger"] for e in delivery_lines} == {"phaseactors.intake", "phaseactors.runtime"}
    for entry in delivery_lines:
        assert all(name in entry for name in IDS), entry
        assert entry["logging.googleapis.com/trace"] == f"projects/p/traces/{TRACE_ID}"
        assert entry["logging.googleapis.com/labels"] == {"gate": SPEC.name, "key": KEY}
    outcomes = [e for e in delivery_lines if e["logger"] == "phaseactors.intake"]
    assert [e["outcome"] for e in outcomes] == ["applied"] * len(SPEC.required)
    [published] = [
        e
        for e in delivery_lines
        if e["logger"] == "phaseactors.runtime" and e["message"].startswith(f"published {TID} ")
    ]
    assert published["processor"] == SPEC.required[-1]  # the delivery that decided it
    assert published["logging.googleapis.com/spanId"] == f"{len(SPEC.required):0>16}"


def test_the_trigger_continues_the_trace_of_the_completion_that_decided_it(
    function: GateFunction,
) -> None:
    for number, processor in enumerate(SPEC.required):
        function.on_cloud_event(event(processor, number, traceparent=traceparent(str(number + 1))))
    publisher = function.runtime.publisher
    assert isinstance(publisher, RecordingPublisher)
    [trigger] = [m for m in publisher.messages if m.entry_id == TID]
    version, trace_id, span_id, flags = trigger.attributes["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id not in {f"{n:0>16}" for n in range(10)}  # a span of its own
    record = function.runtime.load(KEY)
    assert record is not None
    assert record.data.done[SPEC.required[0]].traceparent == traceparent("1")


def test_a_malformed_traceparent_is_ignored_not_quarantined(function: GateFunction) -> None:
    delivery = function.on_cloud_event(event(SPEC.required[0], 1, traceparent="not-a-trace"))
    assert delivery is not None
    assert delivery.snapshot.data.done[SPEC.required[0]].traceparent is None


def test_quarantines_log_a_warning_with_the_reason(function: GateFunction, lines: Lines) -> None:
    bad = event(SPEC.required[0], 1)
    bad.data["message"]["data"] = base64.b64encode(b'{"processor_name": 5}').decode()
    assert function.on_cloud_event(bad) is None
    [warning] = [e for e in lines.entries if e["severity"] == "WARNING"]
    assert warning["reason"].startswith("InvalidMessage: processor_name: must be a string")
    assert (warning["gate"], warning["message_id"]) == (SPEC.name, "m-1")


def test_a_key_failed_by_its_final_deadline_in_a_sweep_is_an_error(
    clock: ManualClock, lines: Lines
) -> None:
    spec = load_spec("phase2_to_phase3")  # 10:30 New York the next morning, else fail
    runtime = GateRuntime(GateActor(spec), MemoryStore(), RecordingPublisher(), clock=clock)
    runtime.deliver(
        Completion(processor=spec.required[0], key=KEY, status="success", execution_id="e1")
    )
    clock.advance(timedelta(days=1).total_seconds())
    runtime.sweep()

    def failed() -> list[dict[str, Any]]:
        return [
            e for e in lines.entries if e["severity"] == "ERROR" and " failed: " in e["message"]
        ]

    [failure] = [e for e in failed() if e["logger"] == "phaseactors.gate"]
    assert failure["message"].startswith(f"{spec.name}/{KEY} failed: deadline final passed")
    runtime.sweep()  # nothing more to say
    assert len(failed()) == 2  # the key's failure, and its alert once published


def test_opentelemetry_sees_deliveries_attempts_latency_and_spans(
    function: GateFunction, opentelemetry_readers: Any
) -> None:
    reader, exporter = opentelemetry_readers
    exporter.clear()
    reader.get_metrics_data()  # forget what earlier tests recorded (delta by reading)
    for number, processor in enumerate(SPEC.required):
        function.on_cloud_event(event(processor, number, traceparent=traceparent(str(number + 1))))
    function.on_cloud_event(event(SPEC.required[0], 1))  # a duplicate

    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)

    def total(name: str, **attributes: str) -> float:
        return sum(
            p.value
            for p in points.get(name, [])
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        )

    gate = {"actor": SPEC.name}
    assert total("phaseactors.deliveries", outcome="applied", **gate) >= len(SPEC.required)
    assert total("phaseactors.deliveries", outcome="duplicate", **gate) >= 1
    assert sum(p.count for p in points["phaseactors.attempts"]) >= len(SPEC.required) + 1
    assert sum(p.count for p in points["phaseactors.trigger_latency"]) >= 1
    spans = exporter.get_finished_spans()
    messages = [s for s in spans if s.name == "phaseactors.message"]
    assert {format(s.context.trace_id, "032x") for s in messages[:-1]} == {TRACE_ID}
    assert any(s.name == "phaseactors.publish" for s in spans)
    applies = {s.context.span_id: s for s in spans if s.name == "phaseactors.apply"}
    steps = [s for s in spans if s.name == "phaseactors.step"]
    commits = [s for s in spans if s.name == "phaseactors.commit"]
    assert len(steps) >= len(SPEC.required) + 1  # the duplicate is stepped, never committed
    assert len(commits) >= len(SPEC.required)
    assert all(s.parent is not None and s.parent.span_id in applies for s in steps + commits)


def test_stats_summarise_the_keys_of_a_range(clock: ManualClock) -> None:
    from phaseactors.gate.stats import summarize

    runtime = GateRuntime(GateActor(SPEC), MemoryStore(), RecordingPublisher(), clock=clock)
    for key in ("2025-11-28", "2025-11-29"):
        for processor in SPEC.required:
            clock.advance(60)
            runtime.deliver(
                Completion(processor=processor, key=key, status="success", execution_id="e1")
            )
    runtime.deliver(
        Completion(processor="Elsewhere", key="2025-11-30", status="success", execution_id="e1")
    )
    runtime.fail("2025-11-30", reason="no games", by="ana")
    snapshots = list(runtime.store.scan(runtime.actor))
    stats = summarize(SPEC.name, [s for s in snapshots if s.key >= "2025-11-29"], quarantined=2)
    assert stats.keys == 2
    assert stats.states == {"failed": 1, "triggered": 1}
    assert stats.trigger_reasons == {"all_done": 1}
    assert stats.triggers_published == 1
    assert stats.trigger_latency_p50 == 60.0 * (len(SPEC.required) - 1)
    assert stats.failures == {"operator": 1}
    assert (stats.completions, stats.unknown_reports, stats.quarantined) == (5, 1, 2)
