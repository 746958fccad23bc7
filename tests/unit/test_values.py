"""Value objects, the producer body parser, key formats and the persisted codec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from phaseactors import Completion, GateActor, InvalidKey, InvalidMessage, Status, trigger_id
from phaseactors.core.events import Claim
from phaseactors.core.snapshot import HistoryEntry, OutboxEntry
from phaseactors.gate.events import CompletionReported
from phaseactors.gate.keys import KeyFormat, check_document_id
from phaseactors.gate.producer import parse_completion
from phaseactors.gate.spec import GateSpec
from support import KEY, T0, done


def test_completion_defaults_correlation_to_execution_id() -> None:
    completion = done("alpha", "run-9")
    assert completion.correlation_id == "run-9"
    assert completion.status is Status.SUCCESS
    assert "alpha" in repr(completion)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"processor": ""}, "processor"),
        ({"execution_id": ""}, "execution_id"),
        ({"status": "done"}, "'done' is not a valid Status"),
        ({"record_count": -1}, "record_count"),
        ({"reported_at": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"reported_at": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5)))}, "UTC"),
    ],
)
def test_completion_rejects_invalid_values(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "processor": "alpha",
        "key": KEY,
        "status": "success",
        "execution_id": "e",
    }
    with pytest.raises((ValueError, TypeError), match=message):
        Completion(**{**fields, **changes})


def test_values_are_frozen() -> None:
    entry = HistoryEntry(
        at=T0, event="report_done", source="waiting", target="partial", generation=1
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        entry.event = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        done("alpha").status = Status.FAILED  # type: ignore[misc]


def test_trigger_id_is_gate_key_generation() -> None:
    assert trigger_id("phase2_to_phase3", "2025-11-29", 3) == "phase2_to_phase3/2025-11-29/3"


def test_outbox_lease_claimability() -> None:
    from phaseactors.core.snapshot import Lease

    entry = OutboxEntry(id="t", topic="x", body={}, created_at=T0)
    leased = attrs.evolve(entry, lease=Lease(owner="a", until=T0 + timedelta(seconds=30)))
    assert entry.claimable_by("b", T0)
    assert leased.claimable_by("a", T0)
    assert not leased.claimable_by("b", T0 + timedelta(seconds=29))
    assert leased.claimable_by("b", T0 + timedelta(seconds=30))


BODY = {
    "processor_name": "NbacGamebookProcessor",
    "phase": "phase_2_raw",
    "execution_id": "exec-1",
    "correlation_id": "corr-1",
    "game_date": "2025-11-29",
    "output_table": "nba_raw.nbac_gamebook_player_stats",
    "output_dataset": "nba_raw",
    "status": "success",
    "record_count": 412,
    "records_failed": 0,
    "timestamp": "2025-11-30T04:12:00Z",
    "duration_seconds": 31.2,
    "trigger_source": "scheduler",
    "error_message": None,
    "error_type": None,
    "metadata": {"is_incremental": True, "entities_changed": ["lebron_james"]},
}


def test_producer_body_parses() -> None:
    completion = parse_completion(BODY, "game_date", message_id="m-1")
    assert completion == Completion(
        processor="NbacGamebookProcessor",
        key="2025-11-29",
        status="success",
        execution_id="exec-1",
        correlation_id="corr-1",
        message_id="m-1",
        output_table="nba_raw.nbac_gamebook_player_stats",
        record_count=412,
        reported_at=datetime(2025, 11, 30, 4, 12, tzinfo=UTC),
        metadata={"is_incremental": True, "entities_changed": ["lebron_james"]},
    )


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"processor_name": None}, "processor_name", "missing"),
        ({"processor_name": 7}, "processor_name", "must be a string"),
        ({"execution_id": " "}, "execution_id", "missing"),
        ({"game_date": None}, "game_date", "missing"),
        ({"game_date": 20251129}, "game_date", "invalid key"),
        ({"status": "done"}, "status", "is not one of"),
        ({"record_count": -3}, "record_count", "non-negative"),
        ({"record_count": "many"}, "record_count", "non-negative"),
        ({"record_count": True}, "record_count", "non-negative"),
        ({"timestamp": "yesterday"}, "timestamp", "ISO-8601"),
        ({"metadata": ["x"]}, "metadata", "must be an object"),
    ],
)
def test_producer_body_defects_name_the_field(
    changes: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_completion({**BODY, **changes}, "game_date")
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_producer_body_tolerates_shape() -> None:
    body = {**BODY, "record_count": "17", "correlation_id": None, "error_message": "x" * 10_000}
    completion = parse_completion(body, "game_date")
    assert completion.record_count == 17
    assert completion.correlation_id == "exec-1"
    assert completion.error_message == "x" * 4096


def test_producer_body_must_be_an_object() -> None:
    with pytest.raises(InvalidMessage, match="body: must be a JSON object"):
        parse_completion(["not", "an", "object"], "game_date")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("2025-13-01", "not a calendar date"),
        ("2025-02-30", "not a calendar date"),
        ("29-11-2025", "not an ISO calendar date"),
        ("2025-11-29T00:00", "not an ISO calendar date"),
        ("", "non-empty"),
    ],
)
def test_date_keys_are_validated(key: str, problem: str) -> None:
    with pytest.raises(InvalidKey, match=problem):
        KeyFormat(field="game_date", format="date").validate(key)


def test_pattern_keys_and_document_id_rules() -> None:
    batches = KeyFormat(field="batch", format="pattern", pattern=r"[a-z0-9./_-]+")
    assert batches.validate("batch-7") == "batch-7"
    with pytest.raises(InvalidKey, match="does not match"):
        batches.validate("Batch 7")
    with pytest.raises(InvalidKey, match="document id"):
        batches.validate("a/b")
    with pytest.raises(InvalidKey, match="document id"):
        check_document_id("__reserved__")


def test_local_datetime_uses_the_gate_time_zone() -> None:
    from datetime import time

    eastern = KeyFormat(field="game_date", format="date", timezone="America/New_York")
    at = eastern.local_datetime("2025-11-29", time(10, 30))
    assert at.astimezone(UTC) == datetime(2025, 11, 29, 15, 30, tzinfo=UTC)


def test_snapshot_codec_round_trips_through_json(spec: GateSpec) -> None:
    actor = GateActor(spec)
    snapshot = actor.initial(KEY)
    claim = Claim(owner="me", until=T0 + timedelta(seconds=30))
    for name in ("AlphaLoader", "beta", "Unknown", "gamma"):
        completion = done(name, metadata={"entities_changed": [name]}, message_id=f"m-{name}")
        event = CompletionReported(at=T0, completion=completion, claim=claim)
        snapshot = actor.step(snapshot, event).snapshot
    assert snapshot.state == "complete"
    document = json.loads(json.dumps(actor.encode(snapshot)))
    assert actor.decode(document) == snapshot
    with pytest.raises(ValueError, match="unsupported snapshot schema"):
        actor.decode({**document, "schema": 99})


def test_stored_records_leave_out_fields_equal_to_their_default_and_read_full_ones(
    spec: GateSpec,
) -> None:
    actor = GateActor(spec)
    snapshot = actor.initial(KEY)
    plain = done("beta", message_id="m-2")
    completions = [
        done("AlphaLoader", correlation_id="run-7"),
        plain,
        done("gamma"),
        done("beta", execution_id="rerun"),  # after the decision: a late record
    ]
    for completion in completions:
        snapshot = actor.step(snapshot, CompletionReported(at=T0, completion=completion)).snapshot
    assert snapshot.state == "complete"
    data = actor.encode(snapshot)["data"]
    assert data["done"]["beta"] == {
        "status": "success",
        "execution_id": "beta-run-1",
        "received_at": "2025-11-29T23:00:00+00:00",
        "message_id": "m-2",
    }
    assert data["done"]["alpha"]["reported_as"] == "AlphaLoader"
    assert data["done"]["alpha"]["correlation_id"] == "run-7"
    assert data["late"][0]["processor"] == "beta"
    assert data["late"][0]["execution_id"] == "rerun"
    full = {name: record.summary() for name, record in snapshot.data.done.items()}
    assert full["beta"]["reported_as"] == "beta"
    assert full["beta"]["correlation_id"] == "beta-run-1"
    document = actor.encode(snapshot)
    assert actor.decode({**document, "data": {**data, "done": full}}) == snapshot
