"""A flood of reports from processors a gate does not know (a misrouted producer of another
gate) cannot grow a key until the store refuses it: after 10,000 of them the key still
records all 21 of its processors and triggers once, and its document stays small. Nor can
late reruns with large payloads: a late report is kept without its payload."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from phaseactors import GateActor, GateRuntime, load_spec
from phaseactors.gate.intake import accept_message
from phaseactors.limits import MAX_UNKNOWN_NAMES
from phaseactors.publishers import RecordingPublisher
from phaseactors.stores import Store, open_store
from support import KEY, ManualClock, require_emulator

SPEC = load_spec("phase2_to_phase3")
FLOOD = 10_000
NAMES = 50  # more than a key keeps
#: What a key of this 21-processor gate may take, whatever unknown traffic it gets: its 21
#: records, its trigger, at most 16 unknown names, 32 late reports, 148 dedup tokens.
BOUND = 64 * 1024


def unknown(i: int) -> dict[str, object]:
    return {
        "processor_name": f"Phase3Processor{i % NAMES:02d}",
        "game_date": KEY,
        "status": "success",
        "execution_id": f"flood-{i}",
        "correlation_id": f"misrouted-{i}",
    }


def expected(name: str) -> dict[str, object]:
    return {"processor_name": name, "game_date": KEY, "status": "success", "execution_id": "e1"}


def flood_then_complete(store: Store, threads: int) -> tuple[GateRuntime, int]:
    publisher = RecordingPublisher()
    runtime: GateRuntime = GateRuntime(
        GateActor(SPEC),  # type: ignore[arg-type]
        store,
        publisher,
        clock=ManualClock(),  # the evening of the game: no deadline has passed
    )
    errors: list[BaseException] = []

    def work(start: int) -> None:
        try:
            for i in range(start, FLOOD, threads):
                accept_message(runtime, SPEC, unknown(i), message_id=f"m-{i}", source="flood")
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    for name in SPEC.expected:
        accept_message(runtime, SPEC, expected(name), source="producer")
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    size = len(json.dumps(runtime.actor.encode(snapshot), separators=(",", ":")))
    return runtime, size


def triggers(runtime: GateRuntime) -> int:
    """Trigger messages published (the gate also announces on its lifecycle topic)."""
    messages = runtime.publisher.messages  # type: ignore[attr-defined]
    return sum(m.topic == SPEC.output_topic for m in messages)


def check(runtime: GateRuntime, publisher_messages: int, size: int) -> None:
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    data = snapshot.data
    assert snapshot.state == "triggered"
    assert set(data.done) == set(SPEC.expected)  # type: ignore[attr-defined]
    assert publisher_messages == 1
    assert len(data.unknown) == MAX_UNKNOWN_NAMES  # type: ignore[attr-defined]
    counted = sum(data.unknown_counts.values()) + data.unknown_other  # type: ignore[attr-defined]
    assert counted == FLOOD  # every report is counted, none is kept beyond the bound
    assert size < BOUND, size
    print(f"\ndocument after {FLOOD} unknown reports and the trigger: {size} bytes")


def test_flood_on_sqlite(tmp_path: Path) -> None:
    runtime, size = flood_then_complete(open_store(f"sqlite:///{tmp_path}/flood.db"), threads=2)
    check(runtime, triggers(runtime), size)


@pytest.mark.emulator
def test_flood_on_the_firestore_emulator() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    url = f"firestore://phaseactors-test?prefix=f{uuid.uuid4().hex[:8]}."
    runtime, size = flood_then_complete(open_store(url), threads=16)
    check(runtime, triggers(runtime), size)


# -- late reruns with large payloads ----------------------------------------------------------

RERUN_SPEC = load_spec("phase3_to_phase4")  # aggregates metadata.entities_changed
RERUNS = 100
#: A late report keeps its fields but not its payload: 32 of them with 4 KiB error texts fit.
LATE_BOUND = 256 * 1024


def rerun(name: str, i: int) -> dict[str, object]:
    entities = [f"player-{i}-{n:05d}" for n in range(3_000)]  # ~60 KB, under the 64 KiB limit
    return {
        "processor_name": name,
        "game_date": KEY,
        "status": "success",
        "execution_id": f"rerun-{i}",
        "error_message": "warning " * 500,
        "metadata": {"entities_changed": entities},
    }


def late_reruns(store: Store) -> tuple[GateRuntime, int]:
    runtime: GateRuntime = GateRuntime(
        GateActor(RERUN_SPEC),  # type: ignore[arg-type]
        store,
        RecordingPublisher(),
        clock=ManualClock(),
    )
    for name in RERUN_SPEC.expected:
        accept_message(runtime, RERUN_SPEC, expected(name), source="producer")
    names = sorted(RERUN_SPEC.expected)
    for i in range(RERUNS):
        delivery = accept_message(
            runtime, RERUN_SPEC, rerun(names[i % len(names)], i), source="rerun"
        )
        assert delivery is not None
        assert delivery.outcome.value == "late", (i, delivery.outcome)
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    size = len(json.dumps(runtime.actor.encode(snapshot), separators=(",", ":")))
    return runtime, size


def check_late(runtime: GateRuntime, size: int) -> None:
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    data = snapshot.data
    assert snapshot.state == "triggered"
    assert len(data.late) + data.late_dropped == RERUNS  # type: ignore[attr-defined]
    assert runtime.store.quarantined() == []
    assert sum(m.topic == RERUN_SPEC.output_topic for m in runtime.publisher.messages) == 1  # type: ignore[attr-defined]
    assert size < LATE_BOUND, size
    print(f"\ndocument after {RERUNS} late reruns of 60 KB each: {size} bytes")


def test_late_reruns_on_sqlite(tmp_path: Path) -> None:
    runtime, size = late_reruns(open_store(f"sqlite:///{tmp_path}/late.db"))
    check_late(runtime, size)


@pytest.mark.emulator
def test_late_reruns_on_the_firestore_emulator() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    url = f"firestore://phaseactors-test?prefix=l{uuid.uuid4().hex[:8]}."
    runtime, size = late_reruns(open_store(url))
    check_late(runtime, size)
