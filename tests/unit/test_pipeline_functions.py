"""The pipeline run's Cloud Function: announcements in, alerts out, the error contract, the
sweep and status entries through functions-framework."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from pipeline_support import announcement, small_pipeline
from support import KEY, ManualClock

pytest.importorskip("functions_framework")

from cloudevents.http import CloudEvent

from phaseactors import PublishFailed, RecordingPublisher
from phaseactors.errors import ConfigurationError
from phaseactors.gcp.pipeline_functions import PipelineFunction
from phaseactors.pipeline import PipelineActor, PipelineRuntime
from phaseactors.stores import MemoryStore

TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


def cloud_event(payload: Any, message_id: str = "m-1", kind: str = TYPE) -> CloudEvent:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    data = {
        "message": {"data": base64.b64encode(raw).decode(), "messageId": message_id},
        "subscription": "projects/p/subscriptions/eventarc-sub",
    }
    return CloudEvent({"type": kind, "source": "//pubsub", "id": f"ev-{message_id}"}, data)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def function(publisher: RecordingPublisher, clock: ManualClock) -> PipelineFunction:
    runtime = PipelineRuntime(
        PipelineActor(small_pipeline()), MemoryStore(), publisher, clock=clock
    )
    return PipelineFunction(small_pipeline(), runtime, dead_letter_topic="daily-dead", project="p")


def test_announcements_drive_the_run_and_its_alerts(
    function: PipelineFunction, publisher: RecordingPublisher, clock: ManualClock
) -> None:
    first = function.on_cloud_event(cloud_event(announcement("g1", "triggered").to_json()))
    assert first is not None
    assert first.snapshot.state == "running"
    again = function.on_cloud_event(cloud_event(announcement("g1", "triggered").to_json(), "m-2"))
    assert again is not None
    assert again.outcome.value == "duplicate"
    clock.advance(2 * 3600)
    function.runtime.sweep()
    [alert] = publisher.messages
    assert alert.entry_id == f"daily/{KEY}/1/alert/stalled/g2"
    assert alert.topic == "small-alerts"
    status, code = function.status(KEY)
    assert (code, status["state"]) == (200, "stalled")
    assert function.status(None)[0]["pipeline"] == "daily"
    assert function.status("2025-13-01")[1] == 400
    assert function.status("2025-12-01")[1] == 404


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x00not json", "InvalidMessage: body: not valid JSON"),
        ({"kind": "lifecycle", "gate": "g1"}, "InvalidMessage: key: missing"),
        ({**announcement("g1", "started").to_json(), "event": "exploded"}, "InvalidMessage"),
    ],
)
def test_a_bad_message_is_acknowledged_quarantined_and_dead_lettered(
    function: PipelineFunction, publisher: RecordingPublisher, payload: Any, reason: str
) -> None:
    assert function.on_cloud_event(cloud_event(payload)) is None
    [record] = function.runtime.store.quarantined()
    assert record.reason.startswith(reason)
    [(topic, _, attributes, _)] = publisher.raw_messages
    assert (topic, attributes["phaseactors_pipeline"]) == ("daily-dead", "daily")
    assert list(function.runtime.store.scan(function.runtime.actor)) == []


def test_another_pipelines_gate_and_other_events_are_acknowledged(
    function: PipelineFunction,
) -> None:
    other = announcement("elsewhere", "started").to_json()
    assert function.on_cloud_event(cloud_event(other)) is None
    assert function.runtime.store.quarantined() == []
    wrong = cloud_event(other, kind="google.cloud.storage.object.v1.finalized")
    assert function.on_cloud_event(wrong) is None
    [record] = function.runtime.store.quarantined()
    assert record.reason.startswith("PermanentError: unexpected CloudEvent type")


def test_an_alert_that_cannot_be_published_raises_and_is_published_on_redelivery(
    function: PipelineFunction, publisher: RecordingPublisher, clock: ManualClock
) -> None:
    function.on_cloud_event(cloud_event(announcement("g1", "triggered").to_json()))
    clock.advance(2 * 3600)
    publisher.fail_next(1)
    with pytest.raises(PublishFailed):
        function.on_cloud_event(cloud_event(announcement("g1", "started").to_json(), "m-s"))
    clock.advance(61)
    function.on_cloud_event(cloud_event(announcement("g1", "started").to_json(), "m-s"))
    assert [m.entry_id for m in publisher.messages] == [f"daily/{KEY}/1/alert/stalled/g2"]


def test_the_entry_points_through_functions_framework(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import functions_framework

    from phaseactors.gcp import pipeline_functions
    from support import REPO

    monkeypatch.setenv("PHASEACTORS_MACHINES", str(REPO / "machines"))
    monkeypatch.setenv("PHASEACTORS_PIPELINE", "nba_daily")
    monkeypatch.setenv("PHASEACTORS_STORE", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("PHASEACTORS_PUBLISHER", f"jsonl://{tmp_path / 'alerts.jsonl'}")

    def app(target: str, kind: str) -> Any:
        return functions_framework.create_app(target, pipeline_functions.__file__, kind)

    news = announcement("phase2_to_phase3", "started").to_json()
    raw = json.dumps(news).encode()
    envelope = {"message": {"data": base64.b64encode(raw).decode(), "messageId": "m-9"}}
    headers = {
        "ce-specversion": "1.0",
        "ce-type": TYPE,
        "ce-id": "ev-9",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/nba-pipeline-lifecycle",
        "Content-Type": "application/json",
    }
    posted = (
        app("handle_lifecycle", "cloudevent")
        .test_client()
        .post("/", headers=headers, data=json.dumps(envelope))
    )
    assert posted.status_code == 200
    status = app("pipeline_status", "http").test_client().get(f"/?key={KEY}")
    assert (status.status_code, json.loads(status.data)["state"]) == (200, "running")
    swept = app("sweep_pipeline", "http").test_client().post("/")
    assert swept.status_code == 200
    assert json.loads(swept.data)["errors"] == {}


def test_the_function_needs_its_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHASEACTORS_PIPELINE", raising=False)
    with pytest.raises(ConfigurationError, match="PHASEACTORS_PIPELINE is not set"):
        PipelineFunction.from_env({})
