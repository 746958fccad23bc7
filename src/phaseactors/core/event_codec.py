"""JSON form of events, for stores that queue events before applying them (an inbox).

The kernel's own events are encoded here; an actor's events are encoded by the actor
(:meth:`~phaseactors.core.actor.Actor.encode_event`), which calls :func:`encode_event` with
its own part, so a store never imports a machine's package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .clock import format_utc, parse_utc
from .events import Claim, Event, OutboxPublished, OutboxReleased, Tick

__all__ = ["OwnDecoder", "OwnEncoder", "decode_event", "encode_event"]

#: An actor's part of an event's JSON: the fields beyond ``kind``, ``at`` and ``claim``.
OwnEncoder = Callable[[Event], dict[str, Any]]
#: Builds an actor's event of ``kind`` from its JSON and the decoded ``at`` and ``claim``.
OwnDecoder = Callable[[str, Mapping[str, Any], dict[str, Any]], Event]


def encode_event(event: Event, own: OwnEncoder | None = None) -> dict[str, Any]:
    """A JSON-ready dict with ``kind``, ``at``, ``claim`` and the event's own fields."""
    out: dict[str, Any] = {
        "kind": event.kind,
        "at": format_utc(event.at),
        "claim": (
            {"owner": event.claim.owner, "until": format_utc(event.claim.until)}
            if event.claim
            else None
        ),
    }
    if isinstance(event, OutboxPublished):
        out.update(entry_id=event.entry_id, message_id=event.message_id, owner=event.owner)
    elif isinstance(event, OutboxReleased):
        out.update(entry_id=event.entry_id, owner=event.owner, error=event.error)
    elif not isinstance(event, Tick):
        if own is None:
            raise TypeError(f"cannot encode {type(event).__name__}")
        out.update(own(event))
    return out


def decode_event(doc: Mapping[str, Any], own: OwnDecoder | None = None) -> Event:
    """Inverse of :func:`encode_event`."""
    claim_doc = doc.get("claim")
    common: dict[str, Any] = {
        "at": parse_utc(doc["at"]),
        "claim": (
            Claim(owner=claim_doc["owner"], until=parse_utc(claim_doc["until"]))
            if claim_doc
            else None
        ),
    }
    kind = doc["kind"]
    if kind == OutboxPublished.kind:
        return OutboxPublished(
            entry_id=doc["entry_id"], message_id=doc["message_id"], owner=doc["owner"], **common
        )
    if kind == OutboxReleased.kind:
        return OutboxReleased(
            entry_id=doc["entry_id"], owner=doc["owner"], error=doc.get("error", ""), **common
        )
    if kind == Tick.kind:
        return Tick(**common)
    if own is None:
        raise ValueError(f"unknown event kind {kind!r}")
    return own(kind, doc, common)
