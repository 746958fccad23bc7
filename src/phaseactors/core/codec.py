"""The persisted JSON schema of snapshots, explicit so that the on-disk format is a contract."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .clock import format_utc, parse_utc
from .snapshot import HistoryEntry, Lease, OutboxEntry, Snapshot

__all__ = ["SCHEMA", "decode_snapshot", "encode_snapshot", "history_json", "outbox_entry_json"]

SCHEMA = 1
D = TypeVar("D")


def outbox_entry_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "topic": entry.topic,
        "body": dict(entry.body),
        "attributes": dict(entry.attributes),
        "ordering_key": entry.ordering_key,
        "created_at": format_utc(entry.created_at),
        "lease": (
            {"owner": entry.lease.owner, "until": format_utc(entry.lease.until)}
            if entry.lease
            else None
        ),
        "publish_attempts": entry.publish_attempts,
        "last_error": entry.last_error,
    }


def _entry_from_json(doc: Mapping[str, Any]) -> OutboxEntry:
    lease = doc.get("lease")
    return OutboxEntry(
        id=doc["id"],
        topic=doc["topic"],
        body=dict(doc["body"]),
        attributes=dict(doc.get("attributes") or {}),
        ordering_key=doc.get("ordering_key"),
        created_at=parse_utc(doc["created_at"]),
        lease=Lease(owner=lease["owner"], until=parse_utc(lease["until"])) if lease else None,
        publish_attempts=doc.get("publish_attempts", 0),
        last_error=doc.get("last_error"),
    )


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    out = {
        "at": format_utc(entry.at),
        "event": entry.event,
        "source": entry.source,
        "target": entry.target,
        "generation": entry.generation,
        "cause": entry.cause,
    }
    if entry.by is not None:
        out["by"] = entry.by
    return out


def _history_from_json(doc: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        at=parse_utc(doc["at"]),
        event=doc["event"],
        source=doc["source"],
        target=doc["target"],
        generation=doc["generation"],
        cause=doc.get("cause", ""),
        by=doc.get("by"),
    )


def encode_snapshot(
    snapshot: Snapshot[D], encode_data: Callable[[D], dict[str, Any]]
) -> dict[str, Any]:
    """The JSON document of a snapshot; ``encode_data`` handles the machine-specific part."""
    return {
        "schema": SCHEMA,
        "gate": snapshot.actor,  # the field's name since the first release
        "key": snapshot.key,
        "generation": snapshot.generation,
        "state": snapshot.state,
        "version": snapshot.version,
        "data": encode_data(snapshot.data),
        "seen": list(snapshot.seen),
        "outbox": [outbox_entry_json(e) for e in snapshot.outbox],
        "history": [history_json(h) for h in snapshot.history],
        "updated_at": format_utc(snapshot.updated_at),
    }


def decode_snapshot(
    doc: Mapping[str, Any], decode_data: Callable[[Mapping[str, Any]], D]
) -> Snapshot[D]:
    """Inverse of :func:`encode_snapshot`; rejects documents of an unknown schema."""
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"unsupported snapshot schema {doc.get('schema')!r}")
    updated_at = doc.get("updated_at")
    return Snapshot(
        actor=doc["gate"],
        key=doc["key"],
        generation=doc["generation"],
        state=doc["state"],
        version=doc["version"],
        data=decode_data(doc["data"]),
        seen=tuple(doc.get("seen") or ()),
        outbox=tuple(_entry_from_json(e) for e in doc.get("outbox") or ()),
        history=tuple(_history_from_json(h) for h in doc.get("history") or ()),
        updated_at=parse_utc(updated_at) if updated_at else None,
    )
