"""A gate's alerts on the emulators (Firestore, Pub/Sub): a key failed by its final deadline
during a sweep publishes exactly one alert, also after a second sweep, and announces that it
started and failed on the lifecycle topic."""

from __future__ import annotations

import json
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from phaseactors import Completion, GateActor, GateRuntime, spec_from_mapping
from support import REPO, ManualClock, require_emulator

pytestmark = pytest.mark.emulator

PROJECT = "phaseactors-test"
KEY = "2025-11-29"


def test_a_key_failed_by_its_final_deadline_in_a_sweep_alerts_once() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    require_emulator("PUBSUB_EMULATOR_HOST")
    from google.cloud import firestore, pubsub_v1

    from phaseactors.publishers.pubsub import PubSubPublisher
    from phaseactors.stores.firestore import FirestoreStore

    suffix = uuid.uuid4().hex[:8]
    publisher_client = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    subscriptions: dict[str, str] = {}
    data = tomllib.loads((REPO / "machines" / "phase2_to_phase3.toml").read_text())
    for name in ("output", "lifecycle", "alerts"):
        topic = f"{data['topics'][name]}-{suffix}"
        data["topics"][name] = topic
        path = publisher_client.topic_path(PROJECT, topic)
        publisher_client.create_topic(name=path)
        subscriptions[name] = subscriber.subscription_path(PROJECT, f"{topic}-sub")
        subscriber.create_subscription(name=subscriptions[name], topic=path)
    spec = spec_from_mapping(data, source="phase2_to_phase3 (test topics)")
    clock = ManualClock(datetime(2025, 11, 30, 4, 0, tzinfo=UTC))  # 23:00 in New York
    store = FirestoreStore(firestore.Client(project=PROJECT), prefix=f"g{suffix}.")
    runtime = GateRuntime(GateActor(spec), store, PubSubPublisher(PROJECT), clock=clock)
    for name in spec.required[:5]:  # half of the required: the final tier (80 %) fails it
        runtime.deliver(
            Completion(processor=name, key=KEY, status="success", execution_id=f"{name}-1")
        )
    clock.now = datetime(2025, 11, 30, 15, 31, tzinfo=UTC)  # 10:31 New York, the next day
    first = runtime.sweep()
    assert (first.visited, first.errors) == (1, {})
    clock.advance(timedelta(minutes=5).total_seconds())
    second = runtime.sweep()
    assert (second.visited, second.published) == (0, ())
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.state == "failed"

    alerts = _pull(subscriber, subscriptions["alerts"])
    ids = [m.message.attributes["alert_id"] for m in alerts]
    assert ids == [f"phase2_to_phase3/{KEY}/1/alert/failed"]
    body = json.loads(alerts[0].message.data)
    assert (body["reason"], body["details"]["failure_kind"]) == ("failed", "deadline")
    # the 30m and 2h tiers passed in the same sweep: the failure is their one alert
    assert [m for m in snapshot.data.announced if m.startswith("alert/")] == ["alert/failed"]
    events = [m.message.attributes["event"] for m in _pull(subscriber, subscriptions["lifecycle"])]
    assert sorted(events) == ["failed", "started"]
    assert _pull(subscriber, subscriptions["output"], expect=0) == []


def _pull(subscriber: Any, subscription: str, expect: int = 1) -> list[Any]:
    received: list[Any] = []
    for _ in range(5):
        response = subscriber.pull(subscription=subscription, max_messages=100, timeout=3)
        if response.received_messages:
            received.extend(response.received_messages)
            subscriber.acknowledge(
                subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages]
            )
        elif len(received) >= expect:
            break
    return received
