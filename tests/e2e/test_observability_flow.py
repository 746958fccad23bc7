"""End to end on the emulators, what operators see: completions published to Pub/Sub with a
W3C ``traceparent`` reach the function (as Eventarc delivers them), every log line of each
delivery carries its ids and trace, OpenTelemetry counts what happened, and the trigger on
the next topic continues the producers' trace."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import pytest
from test_pubsub_flow import GATE, KEY, PROCESSORS, PROJECT, TYPE, Topics, _gate_with_topics
from test_pubsub_flow import completion as body

from support import require_emulator

pytestmark = pytest.mark.emulator

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
IDS = ("gate", "key", "processor", "execution_id", "correlation_id", "message_id")


class Lines(logging.Handler):
    def __init__(self) -> None:
        from phaseactors.gcp.cloud_logging import CloudLoggingFormatter

        super().__init__()
        self.setFormatter(CloudLoggingFormatter())
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))


def totals(reader: Any) -> dict[str, float]:
    """Each metric's total for this gate so far (counters: the sum; histograms: the count)."""
    counted: dict[str, float] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if point.attributes.get("actor", point.attributes.get("gate")) == GATE:
                        value = getattr(point, "value", None)
                        counted[metric.name] = counted.get(metric.name, 0) + (
                            value if value is not None else point.count
                        )
    return counted


def test_ids_traces_and_metrics_of_a_pipeline_step(
    monkeypatch: pytest.MonkeyPatch, opentelemetry_readers: Any
) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    require_emulator("PUBSUB_EMULATOR_HOST")
    import functions_framework

    from phaseactors.gcp import functions

    reader, exporter = opentelemetry_readers
    before = totals(reader)
    topics = Topics()
    inbound = topics.topic("nba-phase3-analytics-complete")
    outbound = topics.topic("nba-phase4-trigger")
    eventarc = topics.subscription(inbound)
    out_sub = topics.subscription(outbound, enable_message_ordering=True)
    monkeypatch.setenv("PHASEACTORS_GATE", str(_gate_with_topics(outbound.rsplit("/", 1)[1])))
    prefix = f"o{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("PHASEACTORS_STORE", f"firestore://{PROJECT}?prefix={prefix}")
    monkeypatch.setenv("PHASEACTORS_PUBLISHER", f"pubsub://{PROJECT}")
    app = functions_framework.create_app("handle", functions.__file__, "cloudevent")
    lines = Lines()
    logger = logging.getLogger("phaseactors")
    logger.addHandler(lines)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for number, processor in enumerate(PROCESSORS, 1):
            traceparent = f"00-{TRACE_ID}-{number:016x}-01"
            topics.publisher.publish(inbound, body(processor), traceparent=traceparent).result()
        delivered = topics.pull(eventarc, expect=len(PROCESSORS))
        for received in delivered:
            message = received.message
            envelope = {
                "message": {
                    "data": base64.b64encode(message.data).decode(),
                    "attributes": dict(message.attributes),
                    "messageId": message.message_id,
                },
                "subscription": eventarc,
            }
            headers = {
                "ce-specversion": "1.0",
                "ce-type": TYPE,
                "ce-id": message.message_id,
                "ce-source": f"//pubsub.googleapis.com/{inbound}",
                "Content-Type": "application/json",
            }
            with app.test_client() as client:
                response = client.post("/", headers=headers, data=json.dumps(envelope))
                assert response.status_code == 200
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)

    [trigger] = topics.pull(out_sub, expect=1)
    attributes = dict(trigger.message.attributes)
    assert attributes["trigger_id"] == f"{GATE}/{KEY}/1"
    assert attributes["traceparent"].split("-")[1] == TRACE_ID  # one trace spans the phases

    delivery_lines = [
        e for e in lines.entries if e["logger"] in ("phaseactors.intake", "phaseactors.runtime")
    ]
    assert len(delivery_lines) == len(PROCESSORS) + 1  # an outcome each, and the publish
    for entry in delivery_lines:
        assert all(name in entry for name in IDS), entry
        assert entry["outcome"] == "applied", entry  # the publish line too
        assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert {e["message_id"] for e in delivery_lines} == {r.message.message_id for r in delivered}

    after = totals(reader)
    counted = {name: after[name] - before.get(name, 0) for name in after}
    assert counted["phaseactors.deliveries"] == len(PROCESSORS)
    assert counted["phaseactors.trigger_latency"] == 1
    spans = [s for s in exporter.get_finished_spans() if s.name == "phaseactors.message"]
    assert {format(s.context.trace_id, "032x") for s in spans[-len(PROCESSORS) :]} == {TRACE_ID}
