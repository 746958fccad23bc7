"""A corpus of bad messages through the Cloud Function: each gets its documented classification
and a reason naming the defect, and the key it was meant for is left as it was."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from support import KEY

pytest.importorskip("functions_framework")

from cloudevents.http import CloudEvent

from phaseactors import GateActor, GateRuntime, RecordingPublisher
from phaseactors.gate.spec import GateSpec
from phaseactors.gcp.functions import GateFunction
from phaseactors.stores import MemoryStore

TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
GOOD = {"processor_name": "alpha", "game_date": KEY, "status": "success", "execution_id": "r1"}


def envelope(data: bytes | str, message_id: str = "m-bad") -> dict[str, Any]:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"message": {"data": encoded, "messageId": message_id}, "subscription": "s"}


def with_fields(**fields: Any) -> bytes:
    """The good body with fields replaced (``None`` removes one)."""
    body = {**GOOD, "processor_name": "beta", "execution_id": "r2", **fields}
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def field(**fields: Any) -> dict[str, Any]:
    """The envelope of the good body with fields replaced (``None`` removes one)."""
    return envelope(with_fields(**fields))


BAD = "InvalidMessage: "
# (label, CloudEvent data, the start of the quarantine reason)
QUARANTINED: list[tuple[str, Any, str]] = [
    ("bad base64", envelope("%%not base64%%"), f"{BAD}message.data: not valid base64"),
    ("no message", {"subscription": "s"}, f"{BAD}message: missing"),
    ("data not text", {"message": {"data": 7}}, f"{BAD}message.data: must be base64"),
    ("not JSON", envelope(b"processor alpha done"), f"{BAD}body: not valid JSON"),
    ("invalid UTF-8", envelope(b'{"processor_name": "\xff\xfe"}'), f"{BAD}body: not"),
    ("a JSON array", envelope(b"[1, 2]"), f"{BAD}body: must be a JSON object"),
    ("JSON null", envelope(b"null"), f"{BAD}body: must be a JSON object"),
    ("a JSON string", envelope(b'"alpha"'), f"{BAD}body: must be a JSON object"),
    ("a JSON number", envelope(b"42"), f"{BAD}body: must be a JSON object"),
    ("empty body", envelope(b""), f"{BAD}body: not valid JSON"),
    ("no processor", field(processor_name=None), f"{BAD}processor_name: missing"),
    ("blank processor", field(processor_name="  "), f"{BAD}processor_name: missing"),
    ("processor a number", field(processor_name=5), f"{BAD}processor_name: must be a string"),
    ("overlong processor", field(processor_name="p" * 201), f"{BAD}processor_name: longer"),
    ("processor with a space", field(processor_name="beta v2"), f"{BAD}processor_name"),
    ("processor with a slash", field(processor_name="a/b"), f"{BAD}processor_name"),
    ("a private field's name", field(processor_name="_triggered"), f"{BAD}processor_name"),
    ("a reserved name", field(processor_name="__proto__"), f"{BAD}processor_name"),
    ("no execution id", field(execution_id=None), f"{BAD}execution_id: missing"),
    ("execution id a list", field(execution_id=["r2"]), f"{BAD}execution_id: must be"),
    ("overlong execution id", field(execution_id="e" * 513), f"{BAD}execution_id: longer"),
    ("no game_date", field(game_date=None), f"{BAD}game_date: missing"),
    ("empty game_date", field(game_date=""), f"{BAD}game_date: invalid key"),
    ("game_date a number", field(game_date=20251129), f"{BAD}game_date: invalid key"),
    ("impossible date", field(game_date="2025-02-30"), "InvalidKey: game_date"),
    ("month 13", field(game_date="2025-13-01"), "InvalidKey: game_date"),
    ("not ISO", field(game_date="29/11/2025"), "InvalidKey: game_date"),
    ("no status", field(status=None), f"{BAD}status: None is not one of"),
    ("unknown status", field(status="done"), f"{BAD}status: 'done' is not one of"),
    ("status in capitals", field(status="SUCCESS"), f"{BAD}status: 'SUCCESS'"),
    ("status a number", field(status=1), f"{BAD}status: 1 is not one of"),
    ("metadata not an object", field(metadata="x"), f"{BAD}metadata: must be an object"),
    ("timestamp not ISO", field(timestamp="yesterday"), f"{BAD}timestamp: 'yesterday'"),
    ("negative record count", field(record_count=-1), f"{BAD}record_count: must be"),
    ("record count a word", field(record_count="many"), f"{BAD}record_count: must be"),
    ("overlong correlation id", field(correlation_id="c" * 513), f"{BAD}correlation_id"),
    ("overlong output table", field(output_table="t" * 513), f"{BAD}output_table: longer"),
]

# Names that are valid processor names but not this gate's: acknowledged, recorded as unknown
# (status shows them), never counted toward the trigger.
UNKNOWN = ["nbac_unheard_of", "a.b", "Phase3:player_game_summary", "player_game_summary"]


@pytest.fixture
def function(spec: GateSpec, publisher: RecordingPublisher) -> GateFunction:
    runtime = GateRuntime(GateActor(spec), MemoryStore(), publisher)
    function = GateFunction(spec, runtime, dead_letter_topic="small-dead-letter", project="p")
    good = envelope(json.dumps(GOOD).encode(), "m-good")
    assert function.on_cloud_event(cloud_event(good, "m-good")) is not None
    return function


def cloud_event(data: Any, message_id: str = "m-bad") -> CloudEvent:
    return CloudEvent({"type": TYPE, "source": "//pubsub", "id": f"ev-{message_id}"}, data)


def test_the_corpus_is_large() -> None:
    assert len(QUARANTINED) + len(UNKNOWN) >= 30


@pytest.mark.parametrize(("label", "data", "reason"), QUARANTINED, ids=[q[0] for q in QUARANTINED])
def test_a_bad_message_is_quarantined_with_its_reason_and_changes_nothing(
    function: GateFunction, publisher: RecordingPublisher, label: str, data: Any, reason: str
) -> None:
    before = function.runtime.load(KEY)
    assert function.on_cloud_event(cloud_event(data)) is None  # acknowledged
    assert function.runtime.load(KEY) == before
    [record] = function.runtime.store.quarantined()
    assert record.reason.startswith(reason), record.reason
    [(topic, _, attributes, _)] = publisher.raw_messages
    assert topic == "small-dead-letter"
    assert attributes["phaseactors_reason"] in record.reason
    assert publisher.messages == []


@pytest.mark.parametrize("name", UNKNOWN)
def test_a_processor_the_gate_does_not_know_is_recorded_as_unknown(
    function: GateFunction, name: str
) -> None:
    delivery = function.on_cloud_event(cloud_event(field(processor_name=name)))
    assert delivery is not None
    assert delivery.outcome.value == "unknown"
    assert (delivery.snapshot.state, set(delivery.snapshot.data.done)) == ("partial", {"alpha"})
    assert set(delivery.snapshot.data.unknown) == {name}
    assert function.runtime.store.quarantined() == []


def test_a_huge_error_message_is_kept_cut_to_four_kib(function: GateFunction) -> None:
    data = field(status="failed", error_message="x" * 200_000)
    delivery = function.on_cloud_event(cloud_event(data))
    assert delivery is not None
    assert len(delivery.snapshot.data.failures["beta"].error_message or "") == 4096
