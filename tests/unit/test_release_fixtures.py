"""Persisted formats are a contract: stores written by release 0.1.0 load and continue.

``tests/fixtures/release-0.1.0`` holds a SQLite file and the same keys as Firestore documents,
written by that release (``make.py`` there says how): a key in every state, a trigger whose
publish failed, a rearmed key in its second generation, a late report, a quarantined message.
Each store opens them with the current code and continues: completions, a sweep, a rerun.
"""

from __future__ import annotations

import json
import shutil
import tomllib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    MemoryStore,
    Outcome,
    RecordingPublisher,
    SqliteStore,
    Store,
    load_spec,
    spec_from_mapping,
)
from phaseactors.stores.base import Quarantined
from support import REPO, require_emulator

FIXTURES = REPO / "tests" / "fixtures" / "release-0.1.0"
SPEC = load_spec(FIXTURES / "phase2_to_phase3.toml")
GATE = SPEC.name
STATES = {
    "2025-11-01": ("waiting", 1),
    "2025-11-02": ("partial", 1),
    "2025-11-03": ("complete", 1),
    "2025-11-04": ("triggered", 1),
    "2025-11-05": ("failed", 1),
    "2025-11-06": ("partial", 2),
    "2025-11-07": ("triggered", 1),
}


def documents() -> dict[str, dict[str, Any]]:
    def revive(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"__timestamp__"}:
                return datetime.fromisoformat(value["__timestamp__"])
            return {k: revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [revive(v) for v in value]
        return value

    return revive(json.loads((FIXTURES / "firestore.json").read_text()))  # type: ignore[no-any-return]


def memory_store() -> Store:
    store = MemoryStore()
    actor = GateActor(SPEC)
    for path, fields in documents().items():
        collection, key = path.split("/")
        if collection == f"phaseactors.{GATE}":
            store._snapshots[(GATE, key)] = actor.decode(fields)
        elif collection == "phaseactors.quarantine":
            names = {a.name for a in attrs.fields(Quarantined)}
            fields = {"actor" if k == "gate" else k: v for k, v in fields.items()}
            store.quarantine(Quarantined(**{k: v for k, v in fields.items() if k in names}))
    return store


def sqlite_store(directory: Path) -> Store:
    shutil.copy(FIXTURES / "store.db", directory / "store.db")
    return SqliteStore(directory / "store.db")


def firestore_store() -> Store:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from google.cloud import firestore

    from phaseactors.stores.firestore import FirestoreStore

    client = firestore.Client(project="phaseactors-test")
    prefix = f"r{uuid.uuid4().hex[:8]}."
    for path, fields in documents().items():
        collection, document = path.split("/")
        client.collection(collection.replace("phaseactors.", prefix, 1)).document(document).set(
            fields
        )
    return FirestoreStore(client, prefix=prefix)


@pytest.fixture(params=["memory", "sqlite", pytest.param("firestore", marks=pytest.mark.emulator)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return memory_store()
    if request.param == "sqlite":
        return sqlite_store(tmp_path)
    return firestore_store()


def runtime(store: Store, key: str) -> tuple[GateRuntime, RecordingPublisher]:
    """A runtime whose clock stands a few minutes after the key's fixture was written."""
    later = datetime.fromisoformat(f"{key}T23:10:00+00:00")
    publisher = RecordingPublisher()
    return GateRuntime(GateActor(SPEC), store, publisher, clock=lambda: later), publisher


def done(key: str, name: str, run: str = "run-1", **fields: Any) -> Completion:
    return Completion(
        processor=name, key=key, status="success", execution_id=f"{name}-{run}", **fields
    )


def test_every_key_loads_as_it_was_left(store: Store) -> None:
    actor = GateActor(SPEC)
    for key, (state, generation) in STATES.items():
        snapshot = store.load(actor, key)
        assert snapshot is not None, key
        assert (snapshot.state, snapshot.generation) == (state, generation), key
    partial = store.load(actor, "2025-11-02")
    assert partial is not None
    assert set(partial.data.done) == {
        "nbac_gamebook_player_stats",
        "nbac_schedule",
        "nbac_team_boxscore",
    }
    assert partial.data.done["nbac_gamebook_player_stats"].reported_as == "NbacGamebookProcessor"
    assert partial.data.done["nbac_schedule"].correlation_id == "scrape-7"
    assert partial.data.failures["bdl_injuries"].error_message == "HTTP 503"
    waiting = store.load(actor, "2025-11-01")
    assert waiting is not None
    assert set(waiting.data.unknown) == {"Phase3Processor"}
    pending = store.load(actor, "2025-11-03")
    assert pending is not None
    assert [e.id for e in pending.outbox] == [f"{GATE}/2025-11-03/1"]
    late = store.load(actor, "2025-11-07")
    assert late is not None
    assert [r.processor for r in late.data.late] == [SPEC.required[2]]
    [quarantined] = store.quarantined(GATE)
    assert quarantined.reason.startswith("InvalidKey: game_date: '2025-02-30'")
    assert quarantined.message_id == "9999"


def test_a_partial_key_goes_on_to_one_trigger(store: Store) -> None:
    key = "2025-11-02"
    runner, publisher = runtime(store, key)
    duplicate = runner.deliver(done(key, "NbacGamebookProcessor", message_id="2001"))
    assert duplicate.outcome is Outcome.DUPLICATE
    for name in SPEC.expected:
        runner.deliver(done(key, name, run="run-9"))
    snapshot = runner.load(key)
    assert snapshot is not None
    assert snapshot.state == "triggered"
    assert [m.entry_id for m in publisher.messages] == [f"{GATE}/{key}/1"]


def test_a_sweep_publishes_the_trigger_a_failed_publish_left_pending(store: Store) -> None:
    key = "2025-11-03"
    runner, publisher = runtime(store, key)
    report = runner.sweep()
    assert report.errors == {}
    assert [m.entry_id for m in publisher.messages] == [f"{GATE}/{key}/1"]
    snapshot = runner.load(key)
    assert snapshot is not None
    assert snapshot.state == "triggered"
    assert snapshot.data.trigger is not None
    assert snapshot.data.trigger.message_id == publisher.messages[0].message_id


def test_reruns_trigger_once_more_per_generation(store: Store) -> None:
    for key, generation in (("2025-11-06", 2), ("2025-11-04", 2), ("2025-11-05", 2)):
        runner, publisher = runtime(store, key)
        if generation > STATES[key][1] or STATES[key][0] != "partial":
            runner.rearm(key, reason="rerun after the upgrade", by="ops")
        for name in SPEC.expected:
            runner.deliver(done(key, name, run="run-3"))
        snapshot = runner.load(key)
        assert snapshot is not None
        assert (snapshot.state, snapshot.generation) == ("triggered", generation), key
        assert [m.entry_id for m in publisher.messages] == [f"{GATE}/{key}/{generation}"], key
        assert snapshot.history[-1].event == "confirm_trigger"


def test_a_late_key_stays_decided(store: Store) -> None:
    key = "2025-11-07"
    runner, publisher = runtime(store, key)
    late = runner.deliver(done(key, SPEC.required[3], run="run-2"))
    assert late.outcome is Outcome.LATE
    assert publisher.messages == []
    snapshot = runner.load(key)
    assert snapshot is not None
    assert len(snapshot.data.late) == 2
    assert snapshot.updated_at is not None
    assert snapshot.updated_at - timedelta(minutes=10) <= datetime.fromisoformat(
        f"{key}T23:10:00+00:00"
    )


def test_a_message_quarantined_by_0_1_0_is_listed_with_an_id_and_purged(store: Store) -> None:
    from phaseactors.gate.quarantine_log import QuarantineLog

    log = QuarantineLog(store, clock=lambda: datetime.fromisoformat("2025-12-01T00:00:00+00:00"))
    [record] = log.messages(GATE)
    assert record.id is not None
    assert log.get(record.id) == record
    resolution = log.purge(record.id, by="ana", reason="0.1.0 leftovers")
    assert log.messages(GATE) == []
    assert log.resolutions(GATE) == [resolution]
    assert resolution.quarantine_reason.startswith("InvalidKey: game_date: '2025-02-30'")


def announcing_runtime(store: Store, key: str) -> tuple[GateRuntime, RecordingPublisher]:
    """A runtime whose gate file has since gained lifecycle and alerts topics."""
    import tomllib

    from phaseactors import spec_from_mapping

    data = tomllib.loads((FIXTURES / "phase2_to_phase3.toml").read_text())
    data["topics"] = {**data["topics"], "lifecycle": "lifecycle", "alerts": "alerts"}
    spec = spec_from_mapping(data, source="announcing")
    later = datetime.fromisoformat(f"{key}T23:10:00+00:00")
    publisher = RecordingPublisher()
    return GateRuntime(GateActor(spec), store, publisher, clock=lambda: later), publisher


def test_keys_written_before_announcements_continue_under_a_gate_that_announces(
    store: Store,
) -> None:
    """A key that started before its gate announced never announces ``started`` (its first
    report is past); what it decides from now on is announced, and its trigger is the same."""
    key = "2025-11-02"
    runner, publisher = announcing_runtime(store, key)
    for name in SPEC.expected:
        runner.deliver(done(key, name, run="run-9"))
    assert [m.entry_id for m in publisher.messages] == [
        f"{GATE}/{key}/1",
        f"{GATE}/{key}/1/triggered",
    ]
    snapshot = runner.load(key)
    assert snapshot is not None
    assert (snapshot.state, snapshot.data.announced) == ("triggered", ("triggered",))

    pending = "2025-11-03"
    runner, publisher = announcing_runtime(store, pending)
    runner.sweep([pending])
    assert [m.entry_id for m in publisher.messages] == [f"{GATE}/{pending}/1"]

    rerun = "2025-11-05"
    runner, publisher = announcing_runtime(store, rerun)
    runner.rearm(rerun, reason="rerun after the upgrade", by="ops")
    for name in SPEC.expected:
        runner.deliver(done(rerun, name, run="run-4"))
    assert [m.entry_id for m in publisher.messages] == [
        f"{GATE}/{rerun}/2/started",
        f"{GATE}/{rerun}/2",
        f"{GATE}/{rerun}/2/triggered",
    ]


# -- keys written before definitions were versioned ------------------------------------------

#: The fixtures' gate with one more required processor: a definition changed after the upgrade.
CHANGED = spec_from_mapping(
    {
        **tomllib.loads((FIXTURES / "phase2_to_phase3.toml").read_text()),
        "processors": {
            "required": [*SPEC.required, "nbac_new_feed"],
            "optional": list(SPEC.optional),
        },
    },
    source="changed.toml",
)


def test_keys_from_before_have_no_definition_until_they_change(store: Store) -> None:
    runner, _ = runtime(store, "2025-11-02")
    for key in STATES:
        snapshot = runner.load(key)
        assert snapshot is not None
        assert snapshot.data.definition is None, key
        view = runner.status(snapshot).to_json()["definition"]
        assert view == {
            "fingerprint": None,
            "current": SPEC.fingerprint,
            "drifted": False,
            "changes": [],
        }


def test_a_key_from_before_is_pinned_to_the_definition_of_its_first_event(store: Store) -> None:
    """Its first event after the upgrade, under the fixtures' gate file, pins it to that
    definition: a gate file changed afterwards does not change what it waits for."""
    key = "2025-11-02"
    upgraded, publisher = runtime(store, key)
    upgraded.deliver(done(key, SPEC.optional[0], run="run-9"))
    snapshot = upgraded.load(key)
    assert snapshot is not None
    assert (snapshot.state, snapshot.data.definition) == ("partial", SPEC.fingerprint)
    later = datetime.fromisoformat(f"{key}T23:20:00+00:00")
    changed = GateRuntime(GateActor(CHANGED), store, publisher, clock=lambda: later)
    for name in SPEC.expected:
        changed.deliver(done(key, name, run="run-9"))
    snapshot = changed.load(key)
    assert snapshot is not None
    assert (snapshot.state, snapshot.data.definition) == ("triggered", SPEC.fingerprint)
    assert "nbac_new_feed" not in snapshot.data.trigger.missing  # type: ignore[union-attr]
    assert changed.status(snapshot).to_json()["definition"]["drifted"] is True
    assert [m.entry_id for m in publisher.messages] == [f"{GATE}/{key}/1"]


def test_a_key_from_before_first_touched_after_a_change_takes_the_changed_one(
    store: Store,
) -> None:
    key = "2025-11-01"
    changed = GateRuntime(
        GateActor(CHANGED),
        store,
        RecordingPublisher(),
        clock=lambda: datetime.fromisoformat(f"{key}T23:10:00+00:00"),
    )
    for name in SPEC.expected:
        changed.deliver(done(key, name, run="run-9"))
    snapshot = changed.load(key)
    assert snapshot is not None
    assert (snapshot.state, snapshot.data.definition) == ("partial", CHANGED.fingerprint)
    assert changed.status(snapshot).missing == ("nbac_new_feed",)
