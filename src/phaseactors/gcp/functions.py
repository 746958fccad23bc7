"""Cloud Function entry points (extra ``gcp``): Pub/Sub completions in, triggers out.

Deploy ``handle`` as a 2nd-gen function on an Eventarc Pub/Sub trigger **with retry enabled**;
``push`` is the same logic for a direct push subscription (token or OIDC verified); ``sweep``
is for Cloud Scheduler; ``status`` answers health checks and ``?key=`` lookups. Configuration
comes from the environment:

``PHASEACTORS_GATE``            gate name or path (required)
``PHASEACTORS_STORE``           default ``firestore://$GOOGLE_CLOUD_PROJECT``
``PHASEACTORS_PUBLISHER``       default ``pubsub://$GOOGLE_CLOUD_PROJECT``
``PHASEACTORS_DEAD_LETTER_TOPIC``   where permanent failures are also sent (optional)
``PHASEACTORS_PUSH_TOKEN``      shared secret a push request carries (``?token=`` or header)
``PHASEACTORS_PUSH_AUDIENCE``   OIDC audience a push request's bearer token must carry
``PHASEACTORS_PUSH_SERVICE_ACCOUNT``  the service account of those tokens (required with it)

The error contract: a permanent problem (bad payload, invalid key) is logged, quarantined in
the store with the reason (and dead-lettered when configured), and the function returns, so
the message is acknowledged. A transient problem (store unavailable, contention, publish
failure) raises, so the message is redelivered. Nothing is swallowed as success.
"""

from __future__ import annotations

# Absolute imports: functions-framework loads this file by its path, as a module of its own.
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import functions_framework

from phaseactors.config import Settings
from phaseactors.core import telemetry
from phaseactors.core.runtime import Delivery
from phaseactors.errors import ConfigurationError, PermanentError, TransientError
from phaseactors.gate.actor import GateActor
from phaseactors.gate.data import GateData
from phaseactors.gate.intake import accept_message, quarantine
from phaseactors.gate.operations import GateRuntime
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.spec_loader import load_spec
from phaseactors.gcp.cloud_logging import configure_cloud_logging, span_from, trace_from
from phaseactors.gcp.envelope import MESSAGE_PUBLISHED, PubsubMessage, decode_envelope
from phaseactors.gcp.push_auth import PushAuth, redact_access_logs
from phaseactors.publishers import open_publisher
from phaseactors.stores import open_store

__all__ = ["GateFunction", "handle", "push", "status", "sweep"]

log = logging.getLogger("phaseactors.function")


class GateFunction:
    """One gate's delivery logic, independent of how the message arrived."""

    def __init__(
        self,
        spec: GateSpec,
        runtime: GateRuntime,
        *,
        dead_letter_topic: str | None = None,
        project: str | None = None,
    ) -> None:
        self.spec = spec
        self.runtime = runtime
        self.dead_letter_topic = dead_letter_topic
        self.project = project

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GateFunction:
        settings = Settings.from_env(environ)
        if not settings.gate:
            raise ConfigurationError(
                "PHASEACTORS_GATE is not set: name the gate this function serves"
            )
        project = settings.project
        store, publisher = settings.cloud_urls()
        spec = load_spec(settings.gate)
        runtime = GateRuntime(GateActor(spec), open_store(store), open_publisher(publisher))
        return cls(
            spec,
            runtime,
            dead_letter_topic=settings.dead_letter_topic,
            project=project,
        )

    # -- deliveries ------------------------------------------------------------------------

    def on_cloud_event(self, event: Any) -> Delivery[GateData] | None:
        """Handle a ``messagePublished`` CloudEvent. Returns None when the message was
        quarantined (acknowledged); raises a TransientError to have it redelivered."""
        traceparent = _attribute(event, "traceparent")
        kind = _attribute(event, "type")
        if kind != MESSAGE_PUBLISHED:
            error = PermanentError(f"unexpected CloudEvent type {kind!r}")
            with self._context(None, traceparent):
                self._reject(error, event.data, None, quarantined=False)
            return None
        return self.on_envelope(
            event.data, event_id=_attribute(event, "id"), traceparent=traceparent
        )

    def on_envelope(
        self,
        envelope: Any,
        *,
        event_id: str | None = None,
        traceparent: str | None = None,
        cloud_trace: str | None = None,
    ) -> Delivery[GateData] | None:
        """Handle a Pub/Sub envelope (CloudEvent data or push body)."""
        try:
            message = decode_envelope(envelope, event_id=event_id)
        except PermanentError as error:
            with self._context(None, traceparent, cloud_trace):
                self._reject(error, envelope, None, quarantined=False)
            return None
        return self.on_message(message, traceparent=traceparent, cloud_trace=cloud_trace)

    def on_message(
        self,
        message: PubsubMessage,
        *,
        traceparent: str | None = None,
        cloud_trace: str | None = None,
    ) -> Delivery[GateData] | None:
        """Apply one message. Its producer's trace (a ``traceparent`` attribute) wins over the
        delivery's own; either is continued into the trigger the message decides."""
        attributes = message.attributes
        traceparent = (
            attributes.get("traceparent") or attributes.get("googclient_traceparent") or traceparent
        )
        with (
            self._context(message.message_id, traceparent, cloud_trace),
            telemetry.span(
                "phaseactors.message",
                parent=traceparent,
                gate=self.spec.name,
                message=message.message_id,
            ),
        ):
            try:
                return accept_message(
                    self.runtime,
                    self.spec,
                    message.data,
                    message_id=message.message_id,
                    source="pubsub",
                    traceparent=traceparent,
                )
            except PermanentError as error:  # quarantined, with the reason logged, by intake
                self._reject(error, message.data, message, quarantined=True)
                return None

    def _context(
        self, message_id: str | None, traceparent: str | None, cloud_trace: str | None = None
    ) -> Any:
        """The fields every log line of this message carries."""
        return telemetry.annotated(
            gate=self.spec.name,
            message_id=message_id,
            trace=trace_from(traceparent, cloud_trace, self.project),
            span_id=span_from(traceparent),
        )

    def _reject(
        self, error: PermanentError, raw: Any, message: PubsubMessage | None, *, quarantined: bool
    ) -> None:
        if not quarantined:
            message_id = message.message_id if message else None
            quarantine(self.runtime, error, raw, source="pubsub", message_id=message_id)
        if self.dead_letter_topic:
            self._dead_letter(error, raw, message)

    def _dead_letter(self, error: PermanentError, raw: Any, message: PubsubMessage | None) -> None:
        publish_raw = getattr(self.runtime.publisher, "publish_raw", None)
        if publish_raw is None:
            log.error("dead-letter topic set, but the publisher cannot publish raw messages")
            return
        data = raw if isinstance(raw, bytes) else json.dumps(raw, default=str).encode()
        attributes = {
            **(dict(message.attributes) if message else {}),
            "phaseactors_gate": self.spec.name,
            "phaseactors_reason": str(error)[:1024],
            "phaseactors_message_id": (message.message_id or "") if message else "",
        }
        try:
            publish_raw(self.dead_letter_topic, data, attributes)
        except TransientError as exc:  # it is quarantined in the store already
            log.error("could not dead-letter the message (it stays quarantined): %s", exc)

    # -- status ----------------------------------------------------------------------------

    def status(self, key: str | None) -> tuple[dict[str, Any], int]:
        if not key:
            return {"ok": True, "gate": self.spec.name, "store": repr(self.runtime.store)}, 200
        try:
            snapshot = self.runtime.load(key)
        except PermanentError as error:
            return {"error": str(error)}, 400
        if snapshot is None:
            return {"gate": self.spec.name, "key": key, "state": None}, 404
        return self.runtime.status(snapshot).to_json(), 200


def _attribute(event: Any, name: str) -> Any:
    try:
        return event[name]
    except KeyError:
        return None


_function: GateFunction | None = None
_push_auth: PushAuth | None = None


def _gate_function() -> GateFunction:
    global _function
    if _function is None:
        configure_cloud_logging()
        _function = GateFunction.from_env()
    return _function


def _push_settings() -> PushAuth:
    global _push_auth
    if _push_auth is None:
        _push_auth = PushAuth.from_env()
    return _push_auth


redact_access_logs()
if os.environ.get("FUNCTION_TARGET") == "push":  # a bad configuration stops the start-up
    _push_settings()


@functions_framework.cloud_event
def handle(cloud_event: Any) -> None:
    """Eventarc entry point: raise on transient errors (retry), return otherwise (ACK)."""
    _gate_function().on_cloud_event(cloud_event)


@functions_framework.http
def push(request: Any) -> tuple[str, int]:
    """Direct push-subscription entry point: 204 ACK, 401/403 refused, 503 retry."""
    refusal = _push_settings().refusal(request.headers, request.args)
    if refusal is not None:
        log.warning("refused a push request: %s", refusal)
        return "unauthorized", 403
    function = _gate_function()
    try:
        function.on_envelope(
            request.get_data(),
            traceparent=request.headers.get("traceparent"),
            cloud_trace=request.headers.get("X-Cloud-Trace-Context"),
        )
    except TransientError as error:
        return f"retry later: {error}", 503
    return "", 204


@functions_framework.http
def sweep(request: Any) -> tuple[str, int, dict[str, str]]:
    """Cloud Scheduler entry point: re-drive pending triggers and due deadlines.
    Answers 503 when some key could not be re-driven, so the run shows as failed."""
    report = _gate_function().runtime.sweep()
    body = {
        "visited": report.visited,
        "published": list(report.published),
        "still_pending": list(report.still_pending),
        "errors": report.errors,
    }
    log.info(
        "swept %d keys, published %d",
        report.visited,
        len(report.published),
        extra={"gate": _gate_function().spec.name},
    )
    return json.dumps(body), 503 if report.errors else 200, {"Content-Type": "application/json"}


@functions_framework.http
def status(request: Any) -> tuple[str, int, dict[str, str]]:
    """Health check, or one key's status with ``?key=``."""
    body, code = _gate_function().status(request.args.get("key"))
    return json.dumps(body, default=str), code, {"Content-Type": "application/json"}
