"""The pipeline run's command over a runtime: deliver a gate's announcement."""

from __future__ import annotations

from ..alerts.log import log_published_alert
from ..core.runtime import Delivery, Runtime
from ..core.snapshot import OutboxEntry
from ..gate.lifecycle import Announcement
from .actor import PipelineActor
from .data import PipelineData
from .events import GateAnnounced
from .spec import PipelineSpec

__all__ = ["PipelineRuntime"]


class PipelineRuntime(Runtime[PipelineData]):
    """A runtime for one pipeline's runs: announcements in, alerts out."""

    actor: PipelineActor

    @property
    def spec(self) -> PipelineSpec:
        return self.actor.spec

    def announce(self, announcement: Announcement) -> Delivery[PipelineData]:
        """Apply one announcement (duplicates, stale and late ones included) and publish the
        alerts it decided."""
        key = self.actor.validate_key(announcement.key)
        return self.send(key, GateAnnounced(at=self.clock(), announcement=announcement))

    def _publish(self, key: str, entry: OutboxEntry, owner: str) -> str | None:
        """The kernel's publish, and the ERROR line of an alert once it is published."""
        message_id = super()._publish(key, entry, owner)
        if message_id is not None:
            log_published_alert(entry, message_id)
        return message_id
