"""Accept one raw completion message: parse, validate, deliver, or quarantine with the reason.

Shared by the CLI and the Cloud Function handler so both honour one error contract: a
permanent problem is quarantined (state untouched) and re-raised for the caller to ACK; a
transient one propagates untouched for the transport to redeliver.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import InvalidMessage, PermanentError
from .machines.spec import GateSpec
from .producer import parse_completion
from .runtime import Delivery, Runtime
from .stores.base import Quarantined

__all__ = ["accept_message", "quarantine"]

D = TypeVar("D")


def _raw_text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(raw)


def quarantine(
    runtime: Runtime[Any],
    error: PermanentError,
    raw: Any,
    *,
    source: str,
    message_id: str | None = None,
) -> Quarantined:
    """Record ``raw`` with the reason it can never be applied."""
    record = Quarantined(
        at=runtime.clock(),
        reason=f"{type(error).__name__}: {error}",
        raw=_raw_text(raw),
        source=source,
        gate=runtime.actor.name,
        message_id=message_id,
    )
    runtime.store.quarantine(record)
    return record


def accept_message(
    runtime: Runtime[D],
    spec: GateSpec,
    body: Mapping[str, Any] | bytes | str,
    *,
    message_id: str | None = None,
    source: str,
) -> Delivery[D]:
    """Parse ``body`` (JSON text or a mapping) as a producer completion and deliver it."""
    try:
        if isinstance(body, bytes | str):
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidMessage("body", f"not valid JSON: {exc}") from None
        else:
            parsed = body
        completion = parse_completion(parsed, spec.key.field, message_id)
        return runtime.deliver(completion)
    except PermanentError as error:
        quarantine(runtime, error, body, source=source, message_id=message_id)
        raise
