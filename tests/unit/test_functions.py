"""The Cloud Function: error contract, CloudEvent content modes, push auth, status."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from support import KEY, REPO

pytest.importorskip("functions_framework")

from cloudevents.http import CloudEvent

import oidc
from phaseactors import GateActor, GateRuntime, PublishFailed, RecordingPublisher
from phaseactors.errors import ConfigurationError
from phaseactors.gate.spec import GateSpec
from phaseactors.gcp.functions import GateFunction
from phaseactors.gcp.push_auth import TOKEN_HEADER, PushAuth, redact_tokens
from phaseactors.stores import MemoryStore

TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


def body(processor: str, run: str = "run-1", **fields: Any) -> dict[str, Any]:
    return {
        "processor_name": processor,
        "game_date": KEY,
        "status": "success",
        "execution_id": run,
        **fields,
    }


def pubsub_data(payload: Any, message_id: str = "m-1") -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": message_id,
            "publishTime": "2025-11-30T04:00:00Z",
            "attributes": {},
        },
        "subscription": "projects/p/subscriptions/eventarc-sub",
    }


def cloud_event(payload: Any, message_id: str = "m-1", kind: str = TYPE) -> CloudEvent:
    attributes = {
        "type": kind,
        "source": "//pubsub.googleapis.com/projects/p/topics/t",
        "id": f"ev-{message_id}",
    }
    return CloudEvent(attributes, pubsub_data(payload, message_id))


@pytest.fixture
def function(spec: GateSpec, publisher: RecordingPublisher) -> GateFunction:
    runtime = GateRuntime(GateActor(spec), MemoryStore(), publisher)
    return GateFunction(spec, runtime, dead_letter_topic="small-dead-letter", project="p")


def test_completions_flow_to_one_trigger(
    function: GateFunction, publisher: RecordingPublisher
) -> None:
    outcomes = [
        function.on_cloud_event(cloud_event(body(name), f"m-{name}"))
        for name in ("alpha", "beta", "GammaProcessor")
    ]
    assert [d.outcome.value for d in outcomes if d] == ["applied"] * 3
    redelivered = function.on_cloud_event(cloud_event(body("beta"), "m-beta"))
    assert redelivered is not None
    assert redelivered.outcome.value == "duplicate"
    [message] = publisher.messages
    assert message.attributes["trigger_id"] == f"small/{KEY}/1"
    snapshot = function.runtime.load(KEY)
    assert snapshot is not None
    assert snapshot.data.done["beta"].message_id == "m-beta"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (cloud_event(b"\x00not json"), "InvalidMessage: body: not valid JSON"),
        (cloud_event({**body("alpha"), "status": "done"}), "InvalidMessage: status: 'done'"),
        (cloud_event({**body("alpha"), "game_date": "2025-11-31"}), "InvalidKey: game_date"),
        (
            cloud_event(body("alpha"), kind="google.cloud.storage.object.v1.finalized"),
            "PermanentError: unexpected CloudEvent type",
        ),
    ],
)
def test_permanent_problems_are_acked_quarantined_and_dead_lettered(
    function: GateFunction, publisher: RecordingPublisher, event: CloudEvent, reason: str
) -> None:
    assert function.on_cloud_event(event) is None  # returns: the message is acknowledged
    [record] = function.runtime.store.quarantined()
    assert record.reason.startswith(reason)
    assert record.source == "pubsub"
    [(topic, _, attributes, _)] = publisher.raw_messages
    assert topic == "small-dead-letter"
    assert attributes["phaseactors_reason"] in record.reason
    assert list(function.runtime.store.scan(function.runtime.actor)) == []


def test_broken_envelope_is_quarantined_with_the_raw_body(function: GateFunction) -> None:
    event = CloudEvent({"type": TYPE, "source": "s", "id": "ev-9"}, {"message": {"data": "%%"}})
    assert function.on_cloud_event(event) is None
    [record] = function.runtime.store.quarantined()
    assert record.reason.startswith("InvalidMessage: message.data: not valid base64")
    assert '"%%"' in record.raw


def test_transient_problems_raise_so_the_message_is_redelivered(
    function: GateFunction, publisher: RecordingPublisher
) -> None:
    function.on_cloud_event(cloud_event(body("alpha"), "m-a"))
    function.on_cloud_event(cloud_event(body("beta"), "m-b"))
    publisher.fail_next(1)
    with pytest.raises(PublishFailed):
        function.on_cloud_event(cloud_event(body("gamma"), "m-c"))
    assert function.runtime.store.quarantined() == []
    retried = function.on_cloud_event(cloud_event(body("gamma"), "m-c"))
    assert retried is not None
    assert retried.snapshot.state == "triggered"
    assert len(publisher.messages) == 1


def test_status_entry(function: GateFunction) -> None:
    assert function.status(None) == (
        {"ok": True, "gate": "small", "store": repr(function.runtime.store)},
        200,
    )
    assert function.status(KEY)[1] == 404
    assert function.status("2025-13-01")[1] == 400
    function.on_cloud_event(cloud_event(body("alpha")))
    status, code = function.status(KEY)
    assert (code, status["state"], status["missing"]) == (200, "partial", ["beta", "gamma"])


def test_push_settings_refuse_an_audience_without_its_service_account() -> None:
    with pytest.raises(ConfigurationError, match="PHASEACTORS_PUSH_SERVICE_ACCOUNT is not"):
        PushAuth.from_env({"PHASEACTORS_PUSH_AUDIENCE": oidc.AUDIENCE})
    with pytest.raises(ConfigurationError, match="needs PHASEACTORS_PUSH_TOKEN"):
        PushAuth.from_env({})


def test_a_push_token_is_accepted_from_the_url_or_a_header() -> None:
    auth = PushAuth.from_env({"PHASEACTORS_PUSH_TOKEN": "s3cret"})
    assert auth.refusal({}, {"token": "s3cret"}) is None
    assert auth.refusal({TOKEN_HEADER: "s3cret"}, {}) is None
    assert auth.refusal({}, {"token": "guess"}) == "push token missing or wrong"
    assert auth.refusal({}, {}) == "push token missing or wrong"


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({}, None),
        ({"email": "someone-else@project.iam.gserviceaccount.com"}, "OIDC token is for"),
        ({"email_verified": False}, "without a verified email"),
        ({"email_verified": None}, "without a verified email"),
        ({"aud": "https://another.example.com/push"}, "invalid OIDC token"),
        ({"iss": "https://evil.example.com"}, "invalid OIDC token"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, "invalid OIDC token"),
    ],
    ids=[
        "valid",
        "another account",
        "unverified",
        "no email_verified",
        "audience",
        "issuer",
        "expired",
    ],
)
def test_oidc_push_tokens_must_be_for_the_one_verified_service_account(
    claims: dict[str, Any], refusal: str | None
) -> None:
    with oidc.issuer() as issuer:
        auth = PushAuth(
            audience=oidc.AUDIENCE, service_account=oidc.ACCOUNT, certs_url=issuer.certs_url
        )
        got = auth.refusal({"Authorization": f"Bearer {issuer.token(**claims)}"}, {})
    assert got is None if refusal is None else refusal in (got or ""), got


def test_a_token_signed_by_another_key_is_refused() -> None:
    with oidc.issuer() as ours, oidc.issuer() as theirs:
        auth = PushAuth(
            audience=oidc.AUDIENCE, service_account=oidc.ACCOUNT, certs_url=ours.certs_url
        )
        got = auth.refusal({"Authorization": f"Bearer {theirs.token()}"}, {})
    assert (got or "").startswith("invalid OIDC token")


def test_push_tokens_are_redacted_from_access_log_lines() -> None:
    line = '127.0.0.1 - - [01/Dec/2026 10:00:00] "POST /?a=1&token=s3cret&b=2 HTTP/1.1" 204 -'
    assert redact_tokens(line) == (
        '127.0.0.1 - - [01/Dec/2026 10:00:00] "POST /?a=1&token=***&b=2 HTTP/1.1" 204 -'
    )


def test_the_function_does_not_start_with_an_unsafe_push_configuration(tmp_path: Any) -> None:
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "FUNCTION_TARGET": "push",
        "PHASEACTORS_PUSH_AUDIENCE": oidc.AUDIENCE,
    }
    started = subprocess.run(
        [sys.executable, "-c", "import phaseactors.gcp.functions"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert started.returncode != 0
    assert "PHASEACTORS_PUSH_SERVICE_ACCOUNT is not" in started.stderr


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """The real functions-framework app around ``phaseactors.gcp.functions``."""
    import functions_framework

    from phaseactors.gcp import functions

    monkeypatch.setenv("PHASEACTORS_GATE", str(REPO / "machines" / "phase3_to_phase4.toml"))
    monkeypatch.setenv("PHASEACTORS_STORE", f"sqlite:///{tmp_path}/gate.db")
    monkeypatch.setenv("PHASEACTORS_PUBLISHER", f"jsonl://{tmp_path}/out.jsonl")
    monkeypatch.setenv("PHASEACTORS_PUSH_TOKEN", "s3cret")
    return lambda target, kind: functions_framework.create_app(target, functions.__file__, kind)


def test_cloudevents_in_binary_and_structured_mode(app: Any, tmp_path: Any) -> None:
    client = app("handle", "cloudevent").test_client()
    data = pubsub_data(body("PlayerGameSummaryProcessor"), "m-1")
    headers = {
        "ce-specversion": "1.0",
        "ce-type": TYPE,
        "ce-source": "//pubsub",
        "ce-id": "1",
        "Content-Type": "application/json",
    }
    assert client.post("/", headers=headers, data=json.dumps(data)).status_code == 200
    structured = {
        "specversion": "1.0",
        "type": TYPE,
        "source": "//pubsub",
        "id": "2",
        "datacontenttype": "application/json",
        "data": pubsub_data(body("team_defense_game_summary"), "m-2"),
    }
    response = client.post(
        "/", headers={"Content-Type": "application/cloudevents+json"}, data=json.dumps(structured)
    )
    assert response.status_code == 200
    status = app("status", "http").test_client().get(f"/?key={KEY}").get_json()
    assert sorted(status["done"]) == ["player_game_summary", "team_defense_game_summary"]


def test_push_endpoint_refuses_without_the_token(app: Any) -> None:
    client = app("push", "http").test_client()
    payload = json.dumps(pubsub_data(body("player_game_summary")))
    refused = client.post("/", data=payload)
    assert (refused.status_code, refused.get_data(as_text=True)) == (403, "unauthorized")
    assert client.post("/?token=wrong", data=payload).status_code == 403
    assert client.post("/", data=payload, headers={TOKEN_HEADER: "s3cret"}).status_code == 204
    assert client.post("/?token=s3cret", data=payload).status_code == 204
    assert client.post("/?token=s3cret", data="{not json").status_code == 204  # quarantined
