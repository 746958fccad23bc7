"""End to end on the emulators: the three NBA gates and the pipeline run, each a Cloud
Function (functions-framework, its own process) on its Pub/Sub topic, all on one Firestore.

Producers publish every completion twice; a relay stands in for Eventarc (pull, post the
CloudEvent, acknowledge on 2xx, redeliver otherwise). The gates announce on the lifecycle
topic, the pipeline function listens there; the last handoff is made late (its deadline is
a few seconds in this copy of the pipeline file), the pipeline's sweep finds the run stalled,
and Phase 4's first report recovers it. Outcome, as in ``demo --pipeline``: every gate
triggered once, the run done, one stalled alert and one recovered notice.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support import REPO, require_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

PROJECT = "phaseactors-test"
KEY = "2025-11-29"
TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
GATES = ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
LATE_HANDOFF = 4  # seconds, into the last gate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cloud:
    """Topics and subscriptions of one test on the Pub/Sub emulator, and function processes."""

    def __init__(self, tmp_path: Path) -> None:
        from google.cloud import pubsub_v1

        self.tmp = tmp_path
        self.suffix = uuid.uuid4().hex[:8]
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stop = threading.Event()
        self.relays: list[threading.Thread] = []
        self.posted: list[tuple[str, int]] = []

    def name(self, topic: str) -> str:
        return f"{topic}-{self.suffix}"

    def topic(self, topic: str) -> str:
        path = self.publisher.topic_path(PROJECT, self.name(topic))
        self.publisher.create_topic(name=path)
        return path

    def subscription(self, topic_path: str) -> str:
        name = f"{topic_path.rsplit('/', 1)[1]}-{uuid.uuid4().hex[:4]}"
        path = self.subscriber.subscription_path(PROJECT, name)
        self.subscriber.create_subscription(
            request={"name": path, "topic": topic_path, "ack_deadline_seconds": 30}
        )
        return path

    def function(self, source: Path, target: str, env: dict[str, str], log: str) -> int:
        port = free_port()
        command = [
            str(Path(sys.executable).parent / "functions-framework"),
            "--source", str(source), "--target", target, "--signature-type",
            "http" if target == "sweep_pipeline" else "cloudevent",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        with open(self.tmp / log, "wb") as out:
            self.processes.append(
                subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out)
            )
        return port

    def wait_for(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError(f"no function listens on {port}")

    def relay(self, subscription: str, port: int) -> None:
        """Eventarc: every message of ``subscription`` posted to the function as a CloudEvent,
        acknowledged when it answers 2xx, redelivered at once otherwise."""

        def post(received: Any) -> None:
            message = received.message
            envelope = {
                "message": {
                    "data": base64.b64encode(message.data).decode(),
                    "attributes": dict(message.attributes),
                    "messageId": message.message_id,
                    "publishTime": message.publish_time.isoformat(),
                },
                "subscription": subscription,
            }
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/",
                data=json.dumps(envelope).encode(),
                headers={
                    "ce-specversion": "1.0",
                    "ce-type": TYPE,
                    "ce-id": message.message_id,
                    "ce-source": "//pubsub.googleapis.com/e2e",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    code = answer.status
            except urllib.error.HTTPError as error:
                code = error.code
            self.posted.append((subscription, code))
            if 200 <= code < 300:
                self.subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
            else:
                self.subscriber.modify_ack_deadline(
                    subscription=subscription, ack_ids=[received.ack_id], ack_deadline_seconds=0
                )

        def loop() -> None:
            with ThreadPoolExecutor(max_workers=6) as pool:
                while not self.stop.is_set():
                    try:
                        response = self.subscriber.pull(
                            subscription=subscription, max_messages=20, timeout=2
                        )
                    except Exception:  # the emulator's deadline on an empty pull
                        continue
                    list(pool.map(post, response.received_messages))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.relays.append(thread)

    def pull_all(self, subscription: str, at_least: int, timeout: float = 60.0) -> list[Any]:
        received: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.subscriber.pull(subscription=subscription, max_messages=100, timeout=3)
            if response.received_messages:
                received.extend(response.received_messages)
                self.subscriber.acknowledge(
                    subscription=subscription,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
            elif len(received) >= at_least:
                break
        return received

    def close(self) -> None:
        self.stop.set()
        for thread in self.relays:
            thread.join(timeout=10)
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    require_emulator("PUBSUB_EMULATOR_HOST")
    made = Cloud(tmp_path)
    try:
        yield made
    finally:
        made.close()


def machines(cloud: Cloud, directory: Path) -> dict[str, str]:
    """Copies of the gate and pipeline files whose topics are this test's; the last handoff
    a few seconds long. Returns every topic name by its shipped name."""
    directory.mkdir()
    renamed: dict[str, str] = {}
    for path in [
        *(REPO / "machines" / f"{g}.toml" for g in GATES),
        REPO / "machines" / "nba_daily.toml",
    ]:
        text = path.read_text()
        for line in text.splitlines():
            name, _, value = line.partition(" = ")
            if name in ("input", "output", "lifecycle", "alerts"):
                topic = value.strip('"')
                renamed[topic] = cloud.name(topic)
                text = text.replace(f'"{topic}"', f'"{renamed[topic]}"')
        if path.stem == "nba_daily":
            head, last = text.rsplit('handoff = "1h"', 1)
            text = f'{head}handoff = "{LATE_HANDOFF}s"{last}'
        (directory / path.name).write_text(text)
    return renamed


def completion(processor: str, run: str) -> bytes:
    return json.dumps(
        {
            "processor_name": processor,
            "execution_id": f"{processor}-{run}",
            "game_date": KEY,
            "status": "success",
            "output_table": processor,
        }
    ).encode()


def test_gates_and_the_pipeline_run_as_functions_on_pubsub(cloud: Cloud, tmp_path: Path) -> None:
    from phaseactors import load_spec

    directory = tmp_path / "machines"
    topics = machines(cloud, directory)
    paths = {shipped: cloud.topic(shipped) for shipped in sorted(set(topics))}
    prefix = f"pl{cloud.suffix}."
    env = {
        "PHASEACTORS_MACHINES": str(directory),
        "PHASEACTORS_STORE": f"firestore://{PROJECT}?prefix={prefix}",
        "PHASEACTORS_PUBLISHER": f"pubsub://{PROJECT}",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }
    gate_source = REPO / "src" / "phaseactors" / "gcp" / "functions.py"
    pipeline_source = REPO / "src" / "phaseactors" / "gcp" / "pipeline_functions.py"
    specs = {g: load_spec(directory / f"{g}.toml") for g in GATES}
    shipped = {g: load_spec(REPO / "machines" / f"{g}.toml") for g in GATES}
    triggers = {g: cloud.subscription(paths[shipped[g].output_topic]) for g in GATES}
    alerts = cloud.subscription(paths["nba-pipeline-alerts"])
    ports = {
        g: cloud.function(gate_source, "handle", {**env, "PHASEACTORS_GATE": g}, f"{g}.log")
        for g in GATES
    }
    pipeline_env = {**env, "PHASEACTORS_PIPELINE": "nba_daily"}
    ports["pipeline"] = cloud.function(pipeline_source, "handle_lifecycle", pipeline_env, "run.log")
    sweep_port = cloud.function(pipeline_source, "sweep_pipeline", pipeline_env, "sweep.log")
    for port in [*ports.values(), sweep_port]:
        cloud.wait_for(port)
    for gate in GATES:
        shipped_input = shipped[gate].input_topic
        assert shipped_input is not None
        cloud.relay(cloud.subscription(paths[shipped_input]), ports[gate])
    cloud.relay(cloud.subscription(paths["nba-pipeline-lifecycle"]), ports["pipeline"])

    def run_phase(gate: str) -> Any:
        spec = specs[gate]
        assert spec.input_topic is not None
        topic = cloud.publisher.topic_path(PROJECT, spec.input_topic)
        for processor in spec.expected:  # each completion published twice by its producer
            for _ in range(2):
                cloud.publisher.publish(topic, completion(processor, "run-1")).result()
        [trigger] = cloud.pull_all(triggers[gate], at_least=1)
        return trigger

    def run_state() -> Any:
        return _run_status(prefix)

    first = run_phase("phase2_to_phase3")
    assert first.message.attributes["trigger_id"] == f"phase2_to_phase3/{KEY}/1"
    run_phase("phase3_to_phase4")
    _until(lambda: run_state().get("phases", [{}] * 3)[1].get("triggered_at") is not None)
    time.sleep(LATE_HANDOFF + 1)  # the last handoff's deadline passes in silence
    with urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{sweep_port}/", method="POST"), timeout=60
    ) as answer:
        swept = json.loads(answer.read())
    assert (swept["visited"], len(swept["published"]), swept["errors"]) == (1, 1, {})
    assert run_state()["state"] == "stalled"
    run_phase("phase4_to_phase5")
    _until(lambda: run_state()["state"] == "done")

    received = cloud.pull_all(alerts, at_least=2)
    assert sorted(json.loads(m.message.data)["reason"] for m in received) == [
        "recovered",
        "stalled",
    ]
    assert {m.message.attributes["alert_id"] for m in received} == {
        f"nba_daily/{KEY}/1/alert/stalled/phase4_to_phase5",
        f"nba_daily/{KEY}/1/alert/recovered/stalled:phase4_to_phase5",
    }
    for gate in GATES:  # nothing more came out: one trigger per gate
        assert cloud.pull_all(triggers[gate], at_least=0, timeout=3) == []
    status = run_state()
    assert [p["progress"] for p in status["phases"]] == ["triggered"] * 3
    assert all(200 <= code < 300 for _, code in cloud.posted), cloud.posted


def _run_status(prefix: str) -> dict[str, Any]:
    from google.cloud import firestore

    from phaseactors.pipeline import PipelineActor, load_pipeline, pipeline_status
    from phaseactors.stores.firestore import FirestoreStore

    spec = load_pipeline(REPO / "machines" / "nba_daily.toml")
    store = FirestoreStore(firestore.Client(project=PROJECT), prefix=prefix)
    snapshot = store.load(PipelineActor(spec), KEY)
    return {} if snapshot is None else pipeline_status(spec, snapshot).to_json()


def _until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.3)
