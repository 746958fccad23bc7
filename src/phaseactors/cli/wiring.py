"""How the command line wires a gate to its pipeline runs: in this process, through the
publisher (no broker), unless the gate publishes to Pub/Sub, where the pipeline's own function
consumes the lifecycle topic."""

from __future__ import annotations

from ..config import Settings
from ..core.publisher import Publisher
from ..core.store import Store
from ..gate.spec import GateSpec
from ..pipeline.route import route_lifecycle

__all__ = ["publisher_url", "with_pipelines"]


def publisher_url(flag: str | None, default: str) -> str:
    """The publisher URL a command uses: the flag, else ``$PHASEACTORS_PUBLISHER``, else
    ``default``."""
    return flag or Settings.from_env().publisher or default


def with_pipelines(spec: GateSpec, store: Store, publisher: Publisher, url: str) -> Publisher:
    """``publisher``, routing ``spec``'s lifecycle announcements to the pipelines that list the
    gate (found next to the gate files) unless ``url`` is a Pub/Sub publisher."""
    if url.startswith("pubsub://"):
        return publisher
    return route_lifecycle(spec, store, publisher)
