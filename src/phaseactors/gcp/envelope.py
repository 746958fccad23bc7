"""Decode Pub/Sub deliveries — ``messagePublished`` CloudEvents (structured or binary) and push
bodies (camelCase or snake_case) — into one :class:`PubsubMessage`. Tolerant of shape,
strict on content: every defect is an :class:`~phaseactors.errors.InvalidMessage` naming the
field. No Google library is needed for this.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from ..core.clock import parse_utc
from ..core.untrusted import check_json_value, load_json
from ..errors import InvalidMessage
from ..limits import (
    MAX_ATTRIBUTE_KEY_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_BODY_BYTES,
    MAX_ENVELOPE_BYTES,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
)

__all__ = ["MESSAGE_PUBLISHED", "PubsubMessage", "decode_envelope"]

MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
_BASE64_LIMIT = 4 * ((MAX_BODY_BYTES + 2) // 3)  # base64 characters of the largest body


@frozen(kw_only=True)
class PubsubMessage:
    """One Pub/Sub message as delivered: payload bytes, attributes, ids and times."""

    data: bytes
    attributes: Mapping[str, str] = field(factory=dict, hash=False)
    message_id: str | None = None
    publish_time: datetime | None = None
    subscription: str | None = None
    event_id: str | None = None

    def json(self) -> Any:
        """The payload parsed as JSON, within the body limits."""
        return load_json(self.data, "message.data", max_bytes=MAX_BODY_BYTES)


def _pick(mapping: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in mapping and mapping[name] is not None:
            return mapping[name]
    return None


def decode_envelope(envelope: Any, *, event_id: str | None = None) -> PubsubMessage:
    """Decode the ``data`` of a ``messagePublished`` CloudEvent, or a push request body:
    ``{"message": {"data": base64, "attributes": {...}, "messageId"|"message_id": ...,
    "publishTime"|"publish_time": ...}, "subscription": ...}``."""
    if isinstance(envelope, bytes | str):
        envelope = load_json(envelope, "envelope", max_bytes=MAX_ENVELOPE_BYTES)
    else:  # a CloudEvent's data, parsed by the framework
        check_json_value(envelope, "envelope")
    if not isinstance(envelope, Mapping):
        raise InvalidMessage("envelope", f"must be a JSON object, got {type(envelope).__name__}")
    message = envelope.get("message")
    if not isinstance(message, Mapping):
        raise InvalidMessage("message", "missing" if message is None else "must be an object")
    raw = message.get("data")
    if raw is None:
        raise InvalidMessage("message.data", "missing")
    if not isinstance(raw, str):
        raise InvalidMessage("message.data", f"must be base64 text, got {type(raw).__name__}")
    if len(raw) > _BASE64_LIMIT:
        raise InvalidMessage(
            "message.data", f"longer than {MAX_BODY_BYTES} bytes once decoded, the limit"
        )
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidMessage("message.data", f"not valid base64: {exc}") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise InvalidMessage("message.attributes", "must map strings to strings")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidMessage("message.attributes", f"more than {MAX_ATTRIBUTES} attributes")
    for name, value in attributes.items():
        if len(name.encode()) > MAX_ATTRIBUTE_KEY_BYTES:
            problem = f"a name over {MAX_ATTRIBUTE_KEY_BYTES} bytes"
            raise InvalidMessage("message.attributes", problem)
        if len(value.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
            raise InvalidMessage(
                f"message.attributes.{name}", f"over {MAX_ATTRIBUTE_VALUE_BYTES} bytes"
            )
    message_id = _pick(message, "messageId", "message_id")
    if isinstance(message_id, bool) or (
        message_id is not None and not isinstance(message_id, str | int)
    ):
        raise InvalidMessage("message.messageId", f"must be text, got {type(message_id).__name__}")
    if message_id is not None and not 0 < len(str(message_id)) <= MAX_ID_LENGTH:
        raise InvalidMessage("message.messageId", f"must be 1 to {MAX_ID_LENGTH} characters")
    published = _pick(message, "publishTime", "publish_time")
    try:
        publish_time = parse_utc(published) if published is not None else None
    except (ValueError, TypeError):
        raise InvalidMessage("message.publishTime", f"{published!r} is not ISO-8601") from None
    subscription = envelope.get("subscription")
    if isinstance(subscription, str) and len(subscription) > MAX_TEXT_LENGTH:
        raise InvalidMessage("subscription", f"longer than {MAX_TEXT_LENGTH} characters")
    return PubsubMessage(
        data=data,
        attributes=dict(attributes),
        message_id=str(message_id) if message_id is not None else None,
        publish_time=publish_time,
        subscription=subscription if isinstance(subscription, str) else None,
        event_id=event_id,
    )
