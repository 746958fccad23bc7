"""Accept one raw completion message: parse, validate, deliver, or quarantine with the reason.

Shared by the CLI and the Cloud Function handler so both honour one error contract, decided
here for every message: a :class:`~phaseactors.errors.TransientError` propagates untouched for
the transport to redeliver; anything else — a :class:`~phaseactors.errors.PermanentError`, or
any other exception raised while parsing, validating or applying the message — is permanent for
that message: it is quarantined (state untouched) and re-raised as permanent for the caller to
acknowledge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import attrs

from ..core import telemetry
from ..core.runtime import Delivery, Runtime
from ..core.store import Quarantined
from ..core.untrusted import check_json_value, load_json
from ..core.validators import TRACEPARENT
from ..errors import PermanentError, PoisonMessage, TransientError
from ..limits import MAX_BODY_BYTES
from .data import GateData
from .operations import GateRuntime
from .producer import parse_completion
from .spec import GateSpec

__all__ = ["accept_message", "quarantine", "read_body"]

log = logging.getLogger("phaseactors.intake")


def _raw_text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw.encode("utf-8", "replace").decode("utf-8")  # lone surrogates replaced
    try:
        return json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(raw)


def quarantine(
    runtime: Runtime[Any],
    error: PermanentError,
    raw: Any,
    *,
    source: str,
    message_id: str | None = None,
) -> Quarantined:
    """Record ``raw`` with the reason it can never be applied, and log it at WARNING;
    ``error`` learns the record's id (``quarantined_as``), so that whoever reports it can say
    where to find it."""
    record = Quarantined(
        at=runtime.clock(),
        reason=f"{type(error).__name__}: {error}",
        raw=_raw_text(raw),
        source=source,
        actor=runtime.actor.name,
        message_id=message_id if message_id else None,
    )
    record_id = runtime.store.quarantine(record)
    error.quarantined_as = str(record_id) if record_id is not None else None
    telemetry.count(
        "phaseactors.quarantined", actor=runtime.actor.name, reason=type(error).__name__
    )
    log.warning(
        "quarantined a message that can never be applied: %s",
        record.reason,
        extra={
            "gate": runtime.actor.name,
            "message_id": record.message_id,
            "reason": record.reason,
        },
    )
    return attrs.evolve(record, id=error.quarantined_as)


def read_body(body: Mapping[str, Any] | bytes | str) -> Any:
    """A producer body as JSON text (within :data:`~phaseactors.limits.MAX_BODY_BYTES`) or an
    already parsed mapping, checked against the JSON limits."""
    if isinstance(body, bytes | str):
        return load_json(body, "body", max_bytes=MAX_BODY_BYTES)
    check_json_value(body, "body")
    return body


def accept_message(
    runtime: GateRuntime,
    spec: GateSpec,
    body: Mapping[str, Any] | bytes | str,
    *,
    message_id: str | None = None,
    source: str,
    traceparent: str | None = None,
    keep_rejected: bool = True,
) -> Delivery[GateData]:
    """Parse ``body`` (JSON text or a mapping) as a producer completion and deliver it. Every
    log line of the delivery carries its ids; ``traceparent`` (the message's W3C trace
    context, ignored when malformed) is continued into the trigger it decides.

    With ``keep_rejected=False`` a message that can never be applied is not quarantined
    (again): replaying a quarantined message that still fails leaves the one record."""

    def refuse(error: Exception) -> PermanentError:
        permanent = error if isinstance(error, PermanentError) else PoisonMessage(error)
        if keep_rejected:
            quarantine(runtime, permanent, body, source=source, message_id=message_id)
        return permanent

    with telemetry.annotated(gate=spec.name, message_id=message_id):
        try:
            completion = parse_completion(read_body(body), spec.key.field, message_id)
        except Exception as error:  # the message's content: permanent, never redelivered
            raise refuse(error) from error
        if traceparent and TRACEPARENT.fullmatch(traceparent):
            completion = attrs.evolve(completion, traceparent=traceparent)
        with telemetry.annotated(
            key=completion.key,
            processor=completion.processor,
            execution_id=completion.execution_id,
            correlation_id=completion.correlation_id,
        ):
            try:
                delivery = runtime.deliver(completion)
            except TransientError as error:
                log.warning("transient failure, the message will be redelivered: %s", error)
                raise
            except Exception as error:
                permanent = refuse(error)
                if permanent is error:
                    raise
                raise permanent from error
            _log_delivery(spec, delivery)
            return delivery


def _log_delivery(spec: GateSpec, delivery: Delivery[GateData]) -> None:
    trigger = delivery.snapshot.data.trigger
    log.info(
        "%s %s/%s: %s -> %s",
        delivery.outcome.value,
        spec.name,
        delivery.key,
        delivery.detail or "ok",
        delivery.snapshot.state,
        extra={
            "outcome": delivery.outcome.value,
            "state": delivery.snapshot.state,
            "trigger_id": trigger.trigger_id if trigger else None,
            "published": list(delivery.published) or None,
        },
    )
