"""The pipeline run's own event: a gate's lifecycle announcement arrived; and its JSON.

Ticks (deadlines) and outbox confirmations are the kernel's events
(:mod:`phaseactors.core.events`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from attrs import frozen

from ..core.events import Event
from ..gate.lifecycle import Announcement, announcement_from_message

__all__ = ["GateAnnounced", "decode_pipeline_event", "encode_pipeline_event"]


@frozen(kw_only=True)
class GateAnnounced(Event):
    """A gate of the pipeline announced that a key started, triggered or failed."""

    kind: ClassVar[str] = "announcement"
    announcement: Announcement


def encode_pipeline_event(event: Event) -> dict[str, Any]:
    """The fields of a pipeline event beyond ``kind``, ``at`` and ``claim``."""
    if isinstance(event, GateAnnounced):
        return {"announcement": event.announcement.to_json()}
    raise TypeError(f"{type(event).__name__} is not an event of the pipeline run")


def decode_pipeline_event(kind: str, doc: Mapping[str, Any], common: dict[str, Any]) -> Event:
    """Inverse of :func:`encode_pipeline_event`."""
    if kind == GateAnnounced.kind:
        return GateAnnounced(announcement=announcement_from_message(doc["announcement"]), **common)
    raise ValueError(f"unknown event kind {kind!r}")
