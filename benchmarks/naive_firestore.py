"""The naive baseline: one Firestore transaction per completion on one shared document.

Benchmark-only code, not part of the library. It is the pattern hand-rolled orchestrators use,
written the way they write it: each completion runs one ``@firestore.transactional``
read-modify-write of ``{collection}/{key}`` with the client's defaults (5 attempts, no
back-off), adds ``{processor: {...}}`` and, when every expected processor is present and
``triggered`` is not set yet, sets ``triggered=True`` — the caller would then publish the
trigger. ``benchmarks/contention.py`` runs it under contention to compare with phaseactors.

    from google.cloud import firestore
    client = firestore.Client(project="phaseactors-bench")  # FIRESTORE_EMULATOR_HOST set
    deliver_naive(client, "completions", "2025-11-29", "p0001", ["p0000", "p0001"])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from google.api_core import exceptions as google_exceptions
from google.cloud import firestore

__all__ = ["TRIGGERED_FIELD", "NaiveResult", "deliver_naive", "read_naive"]

TRIGGERED_FIELD = "triggered"


class NaiveResult(TypedDict):
    """One delivery: whether its transaction committed, and whether it set the trigger flag."""

    recorded: bool
    triggered: bool
    attempts: int
    error: str | None


def deliver_naive(
    client: firestore.Client,
    collection: str,
    key: str,
    processor: str,
    expected: Iterable[str],
) -> NaiveResult:
    """Record ``processor`` on ``collection/key`` in one transaction; trigger if it completes.

    ``attempts`` counts how often the client ran the transaction function. A transaction that
    never commits ends in the client's bare ``ValueError`` after its attempts (or, when the read
    itself is aborted, in the API error, which the client does not retry); either is returned
    as ``error`` instead of raised, so that a benchmark can count them.
    """
    expected_set = frozenset(expected)
    ref = client.collection(collection).document(key)
    attempts = 0

    def record(transaction: firestore.Transaction) -> bool:
        nonlocal attempts
        attempts += 1
        data = ref.get(transaction=transaction).to_dict() or {}
        update: dict[str, Any] = {
            processor: {"status": "success", "recorded_at": firestore.SERVER_TIMESTAMP}
        }
        present = {name for name in data if name in expected_set} | {processor}
        fire = present >= expected_set and not data.get(TRIGGERED_FIELD)
        if fire:
            update[TRIGGERED_FIELD] = True
        transaction.set(ref, update, merge=True)
        return fire

    try:
        fired = firestore.transactional(record)(client.transaction())
    except ValueError as exc:  # "Failed to commit transaction in 5 attempts."
        return _failed(attempts, exc)
    except google_exceptions.GoogleAPICallError as exc:  # e.g. Aborted raised by the read
        return _failed(attempts, exc)
    return {"recorded": True, "triggered": bool(fired), "attempts": attempts, "error": None}


def read_naive(
    client: firestore.Client, collection: str, key: str, expected: Iterable[str]
) -> tuple[int, bool]:
    """How many expected processors the document holds, and whether its flag is set."""
    data = client.collection(collection).document(key).get().to_dict() or {}
    recorded = sum(1 for name in frozenset(expected) if name in data)
    return recorded, bool(data.get(TRIGGERED_FIELD))


def _failed(attempts: int, exc: Exception) -> NaiveResult:
    return {
        "recorded": False,
        "triggered": False,
        "attempts": attempts,
        "error": f"{type(exc).__name__}: {exc}",
    }
