"""How the command line wires a gate to its pipeline runs: in this process, through the
publisher (no broker), unless the gate publishes to Pub/Sub, where the pipeline's own function
consumes the lifecycle topic."""

from __future__ import annotations

from ..core.publisher import Publisher
from ..core.store import Store
from ..gate.spec import GateSpec
from ..pipeline.route import route_lifecycle

__all__ = ["with_pipelines"]


def with_pipelines(spec: GateSpec, store: Store, publisher: Publisher, url: str) -> Publisher:
    """``publisher``, routing ``spec``'s lifecycle announcements to the pipelines that list the
    gate (found next to the gate files) unless ``url`` is a Pub/Sub publisher."""
    if url.startswith("pubsub://"):
        return publisher
    return route_lifecycle(spec, store, publisher)
