"""Cloud Function entry points of a pipeline run (extra ``gcp``): the gates' lifecycle
announcements in, alerts out.

Deploy ``handle_lifecycle`` as a 2nd-gen function on an Eventarc trigger of the pipeline's
lifecycle topic **with retry enabled**; ``sweep_pipeline`` behind Cloud Scheduler passes due
handoff and overall deadlines and re-drives stuck alerts; ``pipeline_status`` answers health
checks and ``?key=`` lookups (one module serves gates and pipelines: import both in
``main.py``). Configuration comes from the environment:

``PHASEACTORS_PIPELINE``        pipeline name or path (required)
``PHASEACTORS_STORE``           default ``firestore://$GOOGLE_CLOUD_PROJECT``
``PHASEACTORS_PUBLISHER``       default ``pubsub://$GOOGLE_CLOUD_PROJECT``
``PHASEACTORS_DEAD_LETTER_TOPIC``   where permanent failures are also sent (optional)

The error contract is the gate function's (:mod:`phaseactors.gcp.functions`): a message that
can never be applied is logged, quarantined with the reason (and dead-lettered when
configured) and acknowledged; a transient failure raises, so the message is redelivered. An
announcement of a gate the pipeline does not list is acknowledged and ignored.
"""

from __future__ import annotations

# Absolute imports: functions-framework loads this file by its path, as a module of its own.
import json
import logging
from collections.abc import Mapping
from typing import Any

import functions_framework

from phaseactors.config import Settings
from phaseactors.core.runtime import Delivery
from phaseactors.errors import ConfigurationError, PermanentError, TransientError
from phaseactors.gate.intake import quarantine
from phaseactors.gcp.cloud_logging import configure_cloud_logging, trace_from
from phaseactors.gcp.envelope import MESSAGE_PUBLISHED, PubsubMessage, decode_envelope
from phaseactors.pipeline.actor import PipelineActor
from phaseactors.pipeline.data import PipelineData
from phaseactors.pipeline.intake import accept_announcement
from phaseactors.pipeline.operations import PipelineRuntime
from phaseactors.pipeline.spec import PipelineSpec
from phaseactors.pipeline.spec_loader import load_pipeline
from phaseactors.pipeline.status import pipeline_status as run_status
from phaseactors.publishers import open_publisher
from phaseactors.stores import open_store

__all__ = ["PipelineFunction", "handle_lifecycle", "pipeline_status", "sweep_pipeline"]

log = logging.getLogger("phaseactors.function")


class PipelineFunction:
    """One pipeline's delivery logic, independent of how the message arrived."""

    def __init__(
        self,
        spec: PipelineSpec,
        runtime: PipelineRuntime,
        *,
        dead_letter_topic: str | None = None,
        project: str | None = None,
    ) -> None:
        self.spec = spec
        self.runtime = runtime
        self.dead_letter_topic = dead_letter_topic
        self.project = project

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineFunction:
        settings = Settings.from_env(environ)
        if not settings.pipeline:
            raise ConfigurationError(
                "PHASEACTORS_PIPELINE is not set: name the pipeline this function serves"
            )
        project = settings.project
        store, publisher = settings.cloud_urls()
        spec = load_pipeline(settings.pipeline)
        runtime = PipelineRuntime(PipelineActor(spec), open_store(store), open_publisher(publisher))
        return cls(spec, runtime, dead_letter_topic=settings.dead_letter_topic, project=project)

    def on_cloud_event(self, event: Any) -> Delivery[PipelineData] | None:
        """Handle a ``messagePublished`` CloudEvent. Returns None when the message was
        quarantined or ignored (acknowledged); raises a TransientError to be redelivered."""
        trace = trace_from(_attribute(event, "traceparent"), None, self.project)
        kind = _attribute(event, "type")
        if kind != MESSAGE_PUBLISHED:
            self._reject(PermanentError(f"unexpected CloudEvent type {kind!r}"), event.data, None)
            return None
        try:
            message = decode_envelope(event.data, event_id=_attribute(event, "id"))
        except PermanentError as error:
            self._reject(error, event.data, None)
            return None
        return self.on_message(message, trace=trace)

    def on_message(
        self, message: PubsubMessage, *, trace: str | None = None
    ) -> Delivery[PipelineData] | None:
        context = {"pipeline": self.spec.name, "message_id": message.message_id, "trace": trace}
        try:
            delivery = accept_announcement(
                self.runtime, message.data, message_id=message.message_id, source="pubsub"
            )
        except PermanentError as error:
            self._reject(error, message.data, message, quarantined=True)
            return None
        except TransientError as error:
            log.warning(
                "transient failure, the message will be redelivered: %s", error, extra=context
            )
            raise
        if delivery is None:
            log.info("ignored: not a gate of %s", self.spec.name, extra=context)
            return None
        log.info(
            "%s %s/%s: %s -> %s",
            delivery.outcome.value,
            self.spec.name,
            delivery.key,
            delivery.detail or "ok",
            delivery.snapshot.state,
            extra={
                **context,
                "key": delivery.key,
                "outcome": delivery.outcome.value,
                "state": delivery.snapshot.state,
                "published": list(delivery.published) or None,
            },
        )
        return delivery

    def _reject(
        self,
        error: PermanentError,
        raw: Any,
        message: PubsubMessage | None,
        *,
        quarantined: bool = False,
    ) -> None:
        message_id = message.message_id if message else None
        if not quarantined:
            quarantine(self.runtime, error, raw, source="pubsub", message_id=message_id)
        log.error(
            "quarantined a message that can never be applied: %s",
            error,
            extra={"pipeline": self.spec.name, "message_id": message_id, "reason": str(error)},
        )
        publish_raw = getattr(self.runtime.publisher, "publish_raw", None)
        if not self.dead_letter_topic or publish_raw is None:
            return
        data = raw if isinstance(raw, bytes) else json.dumps(raw, default=str).encode()
        attributes = {
            **(dict(message.attributes) if message else {}),
            "phaseactors_pipeline": self.spec.name,
            "phaseactors_reason": str(error)[:1024],
            "phaseactors_message_id": (message.message_id or "") if message else "",
        }
        try:
            publish_raw(self.dead_letter_topic, data, attributes)
        except TransientError as exc:  # it is quarantined in the store already
            log.error("could not dead-letter the message (it stays quarantined): %s", exc)

    def status(self, key: str | None) -> tuple[dict[str, Any], int]:
        if not key:
            return {"ok": True, "pipeline": self.spec.name, "store": repr(self.runtime.store)}, 200
        try:
            snapshot = self.runtime.load(key)
        except PermanentError as error:
            return {"error": str(error)}, 400
        if snapshot is None:
            return {"pipeline": self.spec.name, "key": key, "state": None}, 404
        return run_status(self.spec, snapshot, at=self.runtime.clock()).to_json(), 200


def _attribute(event: Any, name: str) -> Any:
    try:
        return event[name]
    except KeyError:
        return None


_function: PipelineFunction | None = None


def _pipeline_function() -> PipelineFunction:
    global _function
    if _function is None:
        configure_cloud_logging()
        _function = PipelineFunction.from_env()
    return _function


@functions_framework.cloud_event
def handle_lifecycle(cloud_event: Any) -> None:
    """Eventarc entry point on the lifecycle topic: raise on transient errors (retry)."""
    _pipeline_function().on_cloud_event(cloud_event)


@functions_framework.http
def sweep_pipeline(request: Any) -> tuple[str, int, dict[str, str]]:
    """Cloud Scheduler entry point: due handoff and overall deadlines, stuck alerts.
    Answers 503 when some run could not be re-driven, so the run shows as failed."""
    function = _pipeline_function()
    report = function.runtime.sweep()
    body = {
        "visited": report.visited,
        "published": list(report.published),
        "still_pending": list(report.still_pending),
        "errors": report.errors,
    }
    log.info(
        "swept %d runs, published %d",
        report.visited,
        len(report.published),
        extra={"pipeline": function.spec.name},
    )
    return json.dumps(body), 503 if report.errors else 200, {"Content-Type": "application/json"}


@functions_framework.http
def pipeline_status(request: Any) -> tuple[str, int, dict[str, str]]:
    """Health check, or one run's status with ``?key=``."""
    body, code = _pipeline_function().status(request.args.get("key"))
    return json.dumps(body, default=str), code, {"Content-Type": "application/json"}
