"""Decoding Pub/Sub envelopes: camelCase and snake_case, strict on content."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from phaseactors import InvalidMessage
from phaseactors.gcp.cloud_logging import CloudLoggingFormatter, trace_from
from phaseactors.gcp.envelope import decode_envelope


def envelope(**message: Any) -> dict[str, Any]:
    return {"message": message, "subscription": "projects/p/subscriptions/s"}


DATA = base64.b64encode(b'{"processor_name": "x"}').decode()


@pytest.mark.parametrize(
    "message",
    [
        {
            "data": DATA,
            "messageId": "42",
            "publishTime": "2025-11-30T04:12:00.123Z",
            "attributes": {"a": "b"},
        },
        {
            "data": DATA,
            "message_id": "42",
            "publish_time": "2025-11-30T04:12:00.123Z",
            "attributes": {"a": "b"},
        },
        {
            "data": DATA,
            "messageId": 42,
            "message_id": "ignored",
            "publishTime": "2025-11-30T04:12:00.123+00:00",
            "attributes": {"a": "b"},
        },
    ],
)
def test_camel_and_snake_case_envelopes(message: dict[str, Any]) -> None:
    decoded = decode_envelope(envelope(**message), event_id="ev-1")
    assert decoded.data == b'{"processor_name": "x"}'
    assert decoded.json() == {"processor_name": "x"}
    assert decoded.message_id == "42"
    assert decoded.publish_time == datetime(2025, 11, 30, 4, 12, 0, 123000, tzinfo=UTC)
    assert decoded.attributes == {"a": "b"}
    assert (decoded.subscription, decoded.event_id) == ("projects/p/subscriptions/s", "ev-1")


def test_envelope_may_arrive_as_json_bytes() -> None:
    raw = json.dumps(envelope(data=DATA, messageId="7")).encode()
    assert decode_envelope(raw).message_id == "7"


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        (b"not json", "envelope", "not valid JSON"),
        ([1, 2], "envelope", "must be a JSON object"),
        ({"subscription": "s"}, "message", "missing"),
        (envelope(), "message.data", "missing"),
        (envelope(data=7), "message.data", "base64 text"),
        (envelope(data="***"), "message.data", "not valid base64"),
        (envelope(data=DATA, attributes={"a": 1}), "message.attributes", "strings"),
        (envelope(data=DATA, publishTime="noon"), "message.publishTime", "ISO-8601"),
    ],
)
def test_envelope_defects_name_the_field(value: Any, field: str, problem: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode_envelope(value)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_payload_that_is_not_json() -> None:
    decoded = decode_envelope(envelope(data=base64.b64encode(b"\xff\xfe").decode()))
    with pytest.raises(InvalidMessage, match=r"message.data: not valid JSON"):
        decoded.json()


def test_trace_names() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_from(parent, None, "p") == "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_from(None, "105445aa7843bc8bf206b12000100000/1;o=1", "p") == (
        "projects/p/traces/105445aa7843bc8bf206b12000100000"
    )
    assert trace_from("garbage", None, "p") is None


def test_cloud_logging_entries_are_one_json_object() -> None:
    import logging

    record = logging.LogRecord(
        "phaseactors.function", logging.WARNING, "f", 1, "hi %s", ("x",), None
    )
    record.gate, record.trace, record.correlation_id = "g", "projects/p/traces/t", "c-1"
    entry = json.loads(CloudLoggingFormatter().format(record))
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hi x"
    assert (entry["gate"], entry["correlation_id"]) == ("g", "c-1")
    assert entry["logging.googleapis.com/trace"] == "projects/p/traces/t"
