"""Decode Pub/Sub deliveries — ``messagePublished`` CloudEvents (structured or binary) and push
bodies (camelCase or snake_case) — into one :class:`PubsubMessage`. Tolerant of shape,
strict on content: every defect is an :class:`~phaseactors.errors.InvalidMessage` naming the
field. No Google library is needed for this.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from .clock import parse_utc
from .errors import InvalidMessage

__all__ = ["MESSAGE_PUBLISHED", "PubsubMessage", "decode_envelope"]

MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


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
        """The payload parsed as JSON."""
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage("message.data", f"not valid JSON: {exc}") from None


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
        try:
            envelope = json.loads(envelope)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage("envelope", f"not valid JSON: {exc}") from None
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
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidMessage("message.data", f"not valid base64: {exc}") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise InvalidMessage("message.attributes", "must map strings to strings")
    message_id = _pick(message, "messageId", "message_id")
    if message_id is not None and not isinstance(message_id, str | int):
        raise InvalidMessage("message.messageId", f"invalid {message_id!r}")
    published = _pick(message, "publishTime", "publish_time")
    try:
        publish_time = parse_utc(published) if published is not None else None
    except (ValueError, TypeError):
        raise InvalidMessage("message.publishTime", f"{published!r} is not ISO-8601") from None
    subscription = envelope.get("subscription")
    return PubsubMessage(
        data=data,
        attributes=dict(attributes),
        message_id=str(message_id) if message_id is not None else None,
        publish_time=publish_time,
        subscription=subscription if isinstance(subscription, str) else None,
        event_id=event_id,
    )
