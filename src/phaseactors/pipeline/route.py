"""In-process wiring: a publisher that hands a gate's lifecycle announcements straight to the
pipeline runs that listen on that topic, in the same store, with no broker in between (the CLI
and the demo on memory or SQLite). Everything else goes to the publisher it wraps.

An announcement counts as delivered once a pipeline run committed it: if publishing the
run's alerts then fails, they stay pending in the run's outbox (the pipeline's sweep, or its
next announcement, re-drives them) and the gate's entry is confirmed. A failure before that
commit (contention, the store) is a failed publish for the gate: its entry stays pending and
is re-driven, and the run drops the repeat by the announcement's id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta

from ..core.clock import Clock, utcnow
from ..core.publisher import Publisher
from ..core.runtime import DEFAULT_LEASE
from ..core.snapshot import OutboxEntry
from ..core.store import Store
from ..errors import PermanentError, PublishFailed, TransientError
from ..gate.lifecycle import LIFECYCLE_KIND
from ..gate.spec import GateSpec
from .actor import PipelineActor
from .intake import accept_announcement
from .operations import PipelineRuntime
from .spec import PipelineSpec
from .spec_loader import pipelines_of_gate

__all__ = ["PipelineRoute", "route_lifecycle"]

log = logging.getLogger("phaseactors.pipeline")


class PipelineRoute:
    """Publishes lifecycle entries to pipeline runs in-process, the rest through ``inner``."""

    def __init__(self, inner: Publisher, runtimes: Sequence[PipelineRuntime]) -> None:
        self.inner = inner
        self.runtimes = tuple(runtimes)

    def __repr__(self) -> str:
        names = ", ".join(r.spec.name for r in self.runtimes)
        return f"PipelineRoute({self.inner!r}, pipelines=[{names}])"

    def publish(self, entry: OutboxEntry) -> str:
        listening = [r for r in self.runtimes if r.spec.lifecycle_topic == entry.topic]
        if entry.attributes.get("kind") != LIFECYCLE_KIND or not listening:
            return self.inner.publish(entry)
        for runtime in listening:
            try:
                accept_announcement(runtime, dict(entry.body), message_id=entry.id, source="route")
            except PublishFailed as exc:  # committed; the run's alert stays pending
                log.warning(
                    "%s: an alert of %s is left pending: %s", entry.id, runtime.spec.name, exc
                )
            except TransientError as exc:
                raise PublishFailed(
                    f"{runtime.spec.name} could not take {entry.id}: {exc}"
                ) from exc
            except PermanentError as exc:  # quarantined by the pipeline, as a broker would
                log.error("%s refused %s: %s", runtime.spec.name, entry.id, exc)
        return f"in-process:{entry.id}"

    def publish_raw(
        self,
        topic: str,
        data: bytes,
        attributes: Mapping[str, str],
        ordering_key: str | None = None,
    ) -> str:
        """Raw messages (dead letters) go to the wrapped publisher."""
        publish_raw = getattr(self.inner, "publish_raw", None)
        if publish_raw is None:
            raise PublishFailed(f"{self.inner!r} cannot publish raw messages")
        return str(publish_raw(topic, data, attributes, ordering_key))


def route_lifecycle(
    gate: GateSpec,
    store: Store,
    publisher: Publisher,
    *,
    pipelines: Sequence[PipelineSpec] | None = None,
    clock: Clock = utcnow,
    lease: timedelta = DEFAULT_LEASE,
) -> Publisher:
    """``publisher``, wrapped to deliver ``gate``'s announcements to the pipelines that list it
    and listen on its lifecycle topic (default: those on the definition search path); the
    publisher itself when there are none."""
    if gate.lifecycle_topic is None:
        return publisher
    if pipelines is None:
        pipelines = pipelines_of_gate(gate.name)
    runtimes = [
        PipelineRuntime(PipelineActor(p), store, publisher, clock=clock, lease=lease)
        for p in pipelines
        if p.lifecycle_topic == gate.lifecycle_topic and gate.name in p.gates
    ]
    return PipelineRoute(publisher, runtimes) if runtimes else publisher
