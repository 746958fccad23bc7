"""A burst that mixes good completions with one the store refuses for good: every good one is
applied, only the offender is quarantined (Firestore emulator, threads and processes).

The key is filled close to Firestore's 1 MiB document limit first, so that the offender — a
completion whose aggregated payload, under the per-report limit, would push the document past
1 MiB — is refused by Firestore itself, inside a batch (threads: one instance applies the
deliveries that queued while its first read was slow in one commit) or a fold of what was
queued for the key (processes: every direct commit conflicts, as under contention, and one
handler folds what all of them queued, with the queue and with combining).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from phaseactors import (
    GateActor,
    GateRuntime,
    PermanentError,
    RecordingPublisher,
    spec_from_mapping,
)
from phaseactors.gate.intake import accept_message
from phaseactors.limits import MAX_DOCUMENT_BYTES, MAX_PAYLOAD_BYTES
from phaseactors.stores import open_store
from support import KEY, require_emulator

pytestmark = pytest.mark.emulator

SPEC = spec_from_mapping(
    {
        "name": "burst",
        "key": {"field": "game_date"},
        "topics": {"output": "burst-out"},
        "processors": {"required": [f"p{i:02d}" for i in range(40)]},
        "aggregate": {"entities": {"from": "metadata.entities", "how": "union"}},
    }
)
GOOD = [f"p{i:02d}" for i in range(20, 39)]  # 19 small completions
OFFENDER = "p39"  # one near the per-report payload limit


def firestore_size(value: Any) -> int:
    """Firestore's documented storage size of a value (firebase.google.com/docs/firestore/
    storage-size): text is its UTF-8 bytes plus one, numbers and times eight, a map the
    names and values of its fields."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return 8
    if isinstance(value, str):
        return len(value.encode()) + 1
    if isinstance(value, list | tuple):
        return sum(firestore_size(v) for v in value)
    return sum(len(k.encode()) + 1 + firestore_size(v) for k, v in value.items())


def body(processor: str, payload_bytes: int = 0) -> dict[str, Any]:
    entities = [f"{processor}-{i:06d}-{'x' * 50}" for i in range(payload_bytes // 64)]
    return {
        "processor_name": processor,
        "game_date": KEY,
        "status": "success",
        "execution_id": f"{processor}-run",
        "metadata": {"entities": entities},
    }


def fill_near_the_limit(url: str) -> int:
    """Deliver large completions until the key's document is within 40 KB of 1 MiB; return
    its size as Firestore counts it."""
    actor = GateActor(SPEC)
    runtime = GateRuntime(actor, open_store(url), RecordingPublisher())
    size = 0
    for i in range(20):
        snapshot = runtime.load(KEY)
        size = firestore_size(actor.encode(snapshot)) if snapshot is not None else 0
        room = MAX_DOCUMENT_BYTES - 40_000 - size
        if room < 1_000:
            return size
        accept_message(runtime, SPEC, body(f"p{i:02d}", min(room, 60_000)), source="test")
    raise AssertionError("could not fill the key")


def slow_first_read(store: Any, seconds: float) -> None:
    """Delay this store's first read, so that deliveries arriving meanwhile queue up and the
    instance applies them in one batch."""
    read, calls = store._read, []

    def slow(*args: Any) -> Any:
        if not calls:
            calls.append(1)
            time.sleep(seconds)
        return read(*args)

    store._read = slow


def stale_first_read(store: Any) -> None:
    """Make this store's first read return an update time another writer has since replaced,
    so that its direct commit conflicts and its event goes to the key's inbox, as under
    contention; and let the first folder gather the burst for longer, so that one fold takes
    every queued event, the offender's among them."""
    from phaseactors.stores.firestore import combining, queue

    combining._GATHER = queue._GATHER = 1.5
    read, calls = store._read, []

    def stale(*args: Any) -> Any:
        snapshot, update_time = read(*args)
        if not calls and update_time is not None:
            calls.append(1)
            update_time -= timedelta(seconds=1)
        return snapshot, update_time

    store._read = stale


def outcome(runtime: GateRuntime, processor: str, payload_bytes: int) -> str:
    try:
        delivery = accept_message(runtime, SPEC, body(processor, payload_bytes), source="test")
    except PermanentError as error:
        return f"refused: {type(error).__name__}"
    return delivery.outcome.value


def _process(args: tuple[str, str, int, Any, Any]) -> None:
    url, processor, payload_bytes, barrier, results = args
    store = open_store(url)  # before the barrier: importing the client takes a second
    stale_first_read(store)
    runtime = GateRuntime(GateActor(SPEC), store, RecordingPublisher())
    barrier.wait()
    results[processor] = outcome(runtime, processor, payload_bytes)


def burst() -> list[tuple[str, int]]:
    return [(p, 0) for p in GOOD] + [(OFFENDER, MAX_PAYLOAD_BYTES - 2_000)]


def run_threads(url: str) -> dict[str, str]:
    store = open_store(url)  # shared: one instance batches the waiting deliveries
    slow_first_read(store, 1.0)
    barrier = threading.Barrier(len(burst()))
    results: dict[str, str] = {}

    def work(processor: str, payload_bytes: int) -> None:
        runtime = GateRuntime(GateActor(SPEC), store, RecordingPublisher())
        barrier.wait()
        results[processor] = outcome(runtime, processor, payload_bytes)

    threads = [threading.Thread(target=work, args=pair) for pair in burst()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def run_processes(url: str) -> dict[str, str]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(burst()))
    with context.Manager() as manager:
        shared = manager.dict()
        workers = [
            context.Process(target=_process, args=((url, p, n, barrier, shared),))
            for p, n in burst()
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=180)
        assert [w.exitcode for w in workers] == [0] * len(workers)
        return dict(shared)


@pytest.mark.parametrize(
    ("run", "design"),
    [(run_threads, "queue"), (run_processes, "queue"), (run_processes, "combining")],
    ids=["threads", "processes", "processes-combining"],
)
def test_only_the_offender_of_a_mixed_burst_is_quarantined(run: Any, design: str) -> None:
    """With the queue (the default design), a delivery queued behind a concurrent one is
    acknowledged as ``queued`` and the folder quarantines a queued event the store refuses;
    with combining, every delivery waits for its own outcome."""
    require_emulator("FIRESTORE_EMULATOR_HOST")
    url = f"firestore://phaseactors-test?prefix=b{uuid.uuid4().hex[:8]}.&design={design}"
    filled = fill_near_the_limit(url)
    assert MAX_DOCUMENT_BYTES - 41_000 < filled <= MAX_DOCUMENT_BYTES - 40_000
    prefilled = set(open_store(url).load(GateActor(SPEC), KEY).data.done)  # type: ignore[union-attr]

    results = run(url)

    if run is run_processes and design == "queue":  # who folded is up to the race
        assert set(results) == {*GOOD, OFFENDER}
        assert {results[p] for p in GOOD} <= {"applied", "queued"}
        assert results[OFFENDER] in ("refused: StoreRejected", "queued")
    else:
        assert results == {**dict.fromkeys(GOOD, "applied"), OFFENDER: "refused: StoreRejected"}
    store = open_store(url)
    snapshot = store.load(GateActor(SPEC), KEY)
    assert snapshot is not None
    assert set(snapshot.data.done) == prefilled | set(GOOD)  # every good one applied
    [record] = store.quarantined(SPEC.name)  # only the offender
    assert record.reason.startswith("StoreRejected: ")
    assert f'"execution_id": "{OFFENDER}-run"' in record.raw
    assert store.stranded(GateActor(SPEC)) == []  # nothing left pending in the inbox
