"""End to end on the emulators: producers publish completions to Pub/Sub, the Cloud Function
(functions-framework) applies them to Firestore, and one trigger comes out on the next topic.

Two deliveries are exercised: CloudEvents as Eventarc sends them (posted by concurrent
workers), and a real Pub/Sub push subscription calling ``phaseactors serve --target push``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support import REPO, require_emulator

pytestmark = pytest.mark.emulator

PROJECT = "phaseactors-test"
GATE = "phase3_to_phase4"
KEY = "2025-11-29"
PROCESSORS = [
    "PlayerGameSummaryProcessor",
    "team_defense_game_summary",
    "nba_analytics.team_offense_game_summary",
    "UpcomingPlayerGameContextProcessor",
    "upcoming_team_game_context",
]
TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


class Topics:
    """Unique topics and pull subscriptions on the Pub/Sub emulator for one test."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1

        self.suffix = uuid.uuid4().hex[:8]
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()

    def topic(self, name: str) -> str:
        path = self.publisher.topic_path(PROJECT, f"{name}-{self.suffix}")
        self.publisher.create_topic(name=path)
        return path

    def subscription(self, topic: str, **options: Any) -> str:
        name = topic.rsplit("/", 1)[1]
        path = self.subscriber.subscription_path(PROJECT, f"{name}-sub-{uuid.uuid4().hex[:4]}")
        self.subscriber.create_subscription(request={"name": path, "topic": topic, **options})
        return path

    def pull(self, subscription: str, expect: int, timeout: float = 20.0) -> list[Any]:
        received: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.subscriber.pull(subscription=subscription, max_messages=100, timeout=5)
            if response.received_messages:
                received.extend(response.received_messages)
                self.subscriber.acknowledge(
                    subscription=subscription,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
            if len(received) >= expect:
                time.sleep(0.5)  # anything beyond what we expect would show up here
                response = self.subscriber.pull(
                    subscription=subscription, max_messages=100, timeout=2
                )
                received.extend(response.received_messages)
                break
        return received


def completion(processor: str, run: str = "run-1") -> bytes:
    return json.dumps(
        {
            "processor_name": processor,
            "phase": "phase_3_analytics",
            "execution_id": run,
            "correlation_id": "scrape-2025-11-29",
            "game_date": KEY,
            "status": "success",
            "output_table": f"nba_analytics.{processor}",
            "record_count": 10,
            "timestamp": "2025-11-30T05:00:00Z",
            "metadata": {"entities_changed": [processor[:6]]},
        }
    ).encode()


@pytest.fixture
def emulators() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    require_emulator("PUBSUB_EMULATOR_HOST")


def test_eventarc_cloudevents_to_one_trigger(
    emulators: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions_framework

    from phaseactors.gcp import functions

    topics = Topics()
    inbound = topics.topic("nba-phase3-analytics-complete")
    outbound = topics.topic("nba-phase4-trigger")
    dead = topics.topic("nba-phase3-dead-letter")
    eventarc = topics.subscription(inbound)
    out_sub = topics.subscription(outbound, enable_message_ordering=True)
    dead_sub = topics.subscription(dead)

    gate_file = _gate_with_topics(outbound.rsplit("/", 1)[1])
    prefix = f"e{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("PHASEACTORS_GATE", str(gate_file))
    monkeypatch.setenv("PHASEACTORS_STORE", f"firestore://{PROJECT}?prefix={prefix}")
    monkeypatch.setenv("PHASEACTORS_PUBLISHER", f"pubsub://{PROJECT}")
    monkeypatch.setenv("PHASEACTORS_DEAD_LETTER_TOPIC", dead.rsplit("/", 1)[1])
    app = functions_framework.create_app("handle", functions.__file__, "cloudevent")

    for processor in PROCESSORS:  # each completion published twice by its producer
        for _ in range(2):
            topics.publisher.publish(inbound, completion(processor)).result()
    topics.publisher.publish(inbound, b'{"processor_name": "player_game_summary"}').result()
    delivered = topics.pull(eventarc, expect=11)
    assert len(delivered) == 11

    def post(received: Any) -> int:
        message = received.message
        envelope = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": message.message_id,
                "publishTime": message.publish_time.isoformat(),
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
            return int(client.post("/", headers=headers, data=json.dumps(envelope)).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(post, delivered))
    assert codes == [200] * 11

    [trigger] = topics.pull(out_sub, expect=1)
    attributes = dict(trigger.message.attributes)
    assert attributes == {
        "trigger_id": f"{GATE}/{KEY}/1",
        "gate": GATE,
        "key": KEY,
        "correlation_id": "scrape-2025-11-29",
    }
    assert trigger.message.ordering_key == KEY
    body = json.loads(trigger.message.data)
    assert body["completed"] == sorted(
        [
            "player_game_summary",
            "team_defense_game_summary",
            "team_offense_game_summary",
            "upcoming_player_game_context",
            "upcoming_team_game_context",
        ]
    )
    assert sorted(body["payload"]["entities_changed"]) == sorted(p[:6] for p in PROCESSORS)

    [dead_letter] = topics.pull(dead_sub, expect=1)
    assert "execution_id: missing" in dead_letter.message.attributes["phaseactors_reason"]

    status = json.loads(
        functions_framework.create_app("status", functions.__file__, "http")
        .test_client()
        .get(f"/?key={KEY}")
        .data
    )
    assert status["state"] == "triggered"
    assert status["trigger"]["message_id"] == trigger.message.message_id


def _gate_with_topics(output_topic: str) -> Any:
    import tempfile
    from pathlib import Path

    text = (REPO / "machines" / f"{GATE}.toml").read_text()
    text = text.replace('output = "nba-phase4-trigger"', f'output = "{output_topic}"')
    # this flow is about the trigger: the gate announces nothing here (test_pipeline_flow)
    text = "\n".join(
        line for line in text.splitlines() if not line.startswith(("lifecycle =", "alerts ="))
    )
    directory = Path(tempfile.mkdtemp())
    path = directory / f"{GATE}.toml"
    path.write_text(text)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_push_subscription_to_phaseactors_serve(emulators: None) -> None:
    from google.cloud import firestore, pubsub_v1

    from phaseactors.gate import GateActor, load_spec
    from phaseactors.stores.firestore import FirestoreStore

    topics = Topics()
    inbound = topics.topic("nba-phase3-analytics-complete")
    outbound = topics.topic("nba-phase4-trigger")
    out_sub = topics.subscription(outbound)
    gate_file = _gate_with_topics(outbound.rsplit("/", 1)[1])
    prefix = f"p{uuid.uuid4().hex[:8]}."
    port = _free_port()
    env = {
        **os.environ,
        "PHASEACTORS_STORE": f"firestore://{PROJECT}?prefix={prefix}",
        "PHASEACTORS_PUBLISHER": f"pubsub://{PROJECT}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phaseactors",
            "serve",
            "--target",
            "push",
            "--gate",
            str(gate_file),
            "--port",
            str(port),
            "--push-token",
            "s3cret",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(port)
        topics.subscriber.create_subscription(
            name=topics.subscriber.subscription_path(PROJECT, f"push-{topics.suffix}"),
            topic=inbound,
            push_config=pubsub_v1.types.PushConfig(
                push_endpoint=f"http://127.0.0.1:{port}/?token=s3cret"
            ),
        )
        for processor in PROCESSORS:
            topics.publisher.publish(inbound, completion(processor)).result()
        [trigger] = topics.pull(out_sub, expect=1, timeout=60)
        assert trigger.message.attributes["trigger_id"] == f"{GATE}/{KEY}/1"
        store = FirestoreStore(firestore.Client(project=PROJECT), prefix=prefix)
        snapshot = store.load(GateActor(load_spec(gate_file)), KEY)
        assert snapshot is not None
        assert snapshot.state == "triggered"
        assert len(snapshot.data.done) == 5
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"phaseactors serve did not listen on {port}")
