"""What a gate tells the outside besides its trigger, decided inside the step: lifecycle
announcements (:mod:`.lifecycle`) and alerts (:mod:`phaseactors.alerts`).

Each is decided at most once per generation: the key remembers the part of its id after
``gate/key/generation/`` in ``GateData.announced``. A gate without a lifecycle (or alerts)
topic in its file announces nothing (raises nothing). In the outbox, alerts come first,
then the trigger, then announcements, because the runtime publishes in outbox order and stops
at the first transient failure: an alert that a trigger keeps failing must not wait behind
that trigger, and a lifecycle topic that is down must not hold the trigger back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..alerts.alert import Alert, Severity, alert_entry, is_alert
from ..core.snapshot import OutboxEntry
from ..limits import MAX_TEXT_LENGTH
from .lifecycle import LIFECYCLE_KIND, Announcement, LifecycleEvent, announcement_entry
from .spec import GateSpec

__all__ = [
    "DEADLINE_PASSED",
    "FAILED",
    "PUBLISH_FAILING",
    "PUBLISH_FAILURES_BEFORE_ALERT",
    "SOURCE_TYPE",
    "announce",
    "place",
    "raise_alert",
]

#: ``source_type`` of the gate's alerts.
SOURCE_TYPE = "gate"
#: The key failed: a required processor failed or the final deadline passed (not an operator).
FAILED = "failed"
#: A deadline tier passed and the key still waits (``subject``: the tier).
DEADLINE_PASSED = "deadline_passed"
#: The trigger's publish failed this many times in a row.
PUBLISH_FAILING = "publish_failing"
PUBLISH_FAILURES_BEFORE_ALERT = 3


def _rank(entry: OutboxEntry) -> int:
    if is_alert(entry):
        return 0
    return 2 if entry.attributes.get("kind") == LIFECYCLE_KIND else 1


def place(outbox: list[OutboxEntry], entry: OutboxEntry) -> None:
    """Insert ``entry`` after every entry of its rank or a more urgent one."""
    rank = _rank(entry)
    at = len(outbox)
    while at > 0 and _rank(outbox[at - 1]) > rank:
        at -= 1
    outbox.insert(at, entry)


def announce(
    spec: GateSpec,
    announced: list[str],
    outbox: list[OutboxEntry],
    *,
    key: str,
    generation: int,
    event: LifecycleEvent,
    at: datetime,
    **fields: Any,
) -> None:
    """Put the ``event`` announcement of this generation in the outbox, unless the gate has no
    lifecycle topic or the generation already announced it."""
    if spec.lifecycle_topic is None or event.value in announced:
        return
    reason = fields.get("reason")
    if reason is not None and len(reason) > MAX_TEXT_LENGTH:
        # a failure's reason carries the producer's error text (up to MAX_ERROR_TEXT); the
        # announcement says what happened, the key keeps the whole text
        fields["reason"] = reason[: MAX_TEXT_LENGTH - 1] + "…"
    announcement = Announcement(
        gate=spec.name, key=key, generation=generation, event=event, at=at, **fields
    )
    announced.append(event.value)
    place(outbox, announcement_entry(announcement, spec.lifecycle_topic))


def raise_alert(
    spec: GateSpec,
    announced: list[str],
    outbox: list[OutboxEntry],
    *,
    key: str,
    generation: int,
    reason: str,
    summary: str,
    at: datetime,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> None:
    """Put an alert in the outbox, unless the gate has no alerts topic or the generation
    already raised it (same reason and subject)."""
    marker = f"alert/{reason}/{subject}" if subject else f"alert/{reason}"
    if spec.alerts_topic is None or marker in announced:
        return
    alert = Alert(
        source=spec.name,
        source_type=SOURCE_TYPE,
        key=key,
        generation=generation,
        reason=reason,
        subject=subject,
        severity=Severity.ERROR,
        summary=summary,
        decided_at=at,
        details=dict(details or {}),
        correlation_id=correlation_id,
    )
    announced.append(marker)
    place(outbox, alert_entry(alert, spec.alerts_topic))
