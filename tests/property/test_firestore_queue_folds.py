"""Firestore's queue (the store's default design), in every interleaving Hypothesis draws
(emulator): one handler folds a key's queue while, between any two of its reads and between its
step and its commit, other handles append events, fold the queue themselves (a takeover, a
sweep) or commit directly. Every event must be applied exactly once, in the order the committed
folds and commits took them, with the model's outcome; the queue must end empty with
``pending`` at zero. The teeth: a fold that writes nothing to the key when its events change
nothing (no guard) removes the same events twice, and is found with a shrunk counterexample."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from hypothesis import strategies as st
from model import Reference

from phaseactors import Completion, GateActor, spec_from_mapping
from phaseactors.gate.events import CompletionReported
from phaseactors.testing.store_contract import InterferingActor
from support import HUNT_PHASES, KEY, T0, require_emulator, scaled

pytestmark = pytest.mark.emulator

GATE_FILE: dict[str, Any] = {
    "name": "queued",
    "key": {"field": "game_date"},
    "topics": {"output": "queued-out"},
    "processors": {"required": ["p0", "p1", "p2"]},
}
QUEUE = settings(
    max_examples=scaled(40),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)

REPORT = st.tuples(
    st.sampled_from(("p0", "p1", "p2")), st.integers(1, 2)
)  # a shared run: a redelivery
#: What another handle does at one point of the fold: append a report, fold the whole queue,
#: or commit a report directly to the key.
MOVE = st.tuples(st.sampled_from(("append", "fold", "direct")), REPORT)
#: The reports queued before the fold starts, and the moves at each of its reads and steps
#: (None: nothing happens there).
QUEUED = st.tuples(st.lists(REPORT, min_size=1, max_size=3), st.booleans()).map(
    lambda drawn: drawn[0] + [("p0", 1), ("p1", 1), ("p2", 1)] * drawn[1]
)  # with the flag, one report of each processor too, so that the fold completes the key
MOVES = st.lists(st.none() | MOVE, max_size=8)
#: The interleaving a fold's guard exists for, rare among those drawn: the queued report was
#: committed directly before the fold read the key, so the fold changes nothing, and another
#: fold removes it between this fold's reads and its commit.
REDUNDANT_FOLD_RACED = example(
    queued=[("p0", 1)], moves=[("direct", ("p0", 1)), None, ("fold", ("p0", 1))]
)


def report(processor: str, run: int) -> CompletionReported:
    completion = Completion(processor=processor, key=KEY, status="success",
                            execution_id=f"{processor}-run-{run}")  # fmt: skip
    return CompletionReported(at=T0, completion=completion)


class Scenario:
    """One handle folding, another interfering at the points the moves name; a log of what
    each committed fold and direct commit took, in commit order."""

    def __init__(self, moves: list[tuple[str, tuple[str, int]] | None]) -> None:
        from google.cloud import firestore

        from phaseactors.stores.firestore import FirestoreStore
        from phaseactors.stores.firestore.queue import _Folds

        prefix = f"q{uuid.uuid4().hex[:10]}."
        client = firestore.Client(project="phaseactors-test")
        self.folder = FirestoreStore(client, prefix=prefix)
        self.other = FirestoreStore(client, prefix=prefix)
        self.actor = GateActor(spec_from_mapping(GATE_FILE))
        self.moves = list(moves)
        self.events: dict[str, CompletionReported] = {}  # by queue item id, as appended
        self.log: list[tuple[str, list[str]]] = []  # (who, item ids or a direct report)
        self.outcomes: dict[str, str] = {}
        record = _Folds.record

        def logged(folds: Any, actor: Any, state: Any, raw: Any, *args: Any) -> None:
            record(folds, actor, state, raw, *args)
            ids = [str(v["id"]) for v in raw]
            self.log.append(("fold", ids))
            self.outcomes.update({i: folds.outcomes[i].outcome.value for i in ids})

        self._logged = logged

    def folding_actor(self) -> Any:
        """The folder's actor: the other handle's next move comes before each of its steps,
        that is between the fold's reads and its commit."""
        return InterferingActor(self.actor, self._interfere, times=len(self.moves))

    @contextmanager
    def patched(self) -> Iterator[None]:
        from phaseactors.stores.firestore.queue import _Folds

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_Folds, "record", self._logged)
            get = self.folder._get
            patch.setattr(self.folder, "_get", lambda ref: (self._interfere(), get(ref))[1])
            yield

    def _interfere(self) -> None:
        """The next move, by the other handle (never itself interfered with)."""
        if not self.moves:
            return
        move = self.moves.pop(0)
        if move is None:
            return
        what, (processor, run) = move
        note(f"the other handle: {'folds the queue' if what == 'fold' else f'{what}s'}"
             + ("" if what == "fold" else f" {processor} run {run}"))  # fmt: skip
        if what == "append":
            self.append(self.other, processor, run)
        elif what == "fold":
            self.other._queue.fold(self.actor, KEY, claim=None)
        else:
            item_id = f"direct-{len(self.log)}"
            self.events[item_id] = report(processor, run)
            applied = self.other.apply(self.actor, KEY, self.events[item_id])
            self.log.append(("direct", [item_id]))
            self.outcomes[item_id] = applied.outcome.value

    def append(self, store: Any, processor: str, run: int) -> None:
        from phaseactors.stores.firestore.queue import _Item

        item_id = f"{len(self.events):02d}-{processor}-{run}"
        self.events[item_id] = report(processor, run)
        item = _Item(item_id, self.actor.encode_event(self.events[item_id]))
        store._queue._append(self.actor, KEY, [item])

    def queue_fields(self) -> dict[str, Any]:
        return self.folder._queue._ref(self.actor, KEY).get().to_dict() or {}


def check_queue(
    queued: list[tuple[str, int]],
    moves: list[tuple[str, tuple[str, int]] | None],
) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    scenario = Scenario(moves)
    for processor, run in queued:
        scenario.append(scenario.folder, processor, run)
    with scenario.patched():
        scenario.folder._queue.fold(scenario.folding_actor(), KEY, claim=None)
        fields = scenario.queue_fields()
        note(f"after the fold: pending {fields.get('pending')}, {len(fields['events'])} queued")
        assert fields["pending"] == len(fields["events"]), f"the queue's count drifted: {fields}"
        scenario.moves.clear()
        scenario.other._queue.fold(scenario.actor, KEY, claim=None)  # drains what was appended
    fields = scenario.queue_fields()
    assert (fields["pending"], fields["events"]) == (0, []), fields
    taken = [i for _, ids in scenario.log for i in ids]
    note(f"commits in order: {scenario.log}")
    assert sorted(taken) == sorted(scenario.events), "an event was applied twice or never"
    model = Reference(GATE_FILE, KEY)
    expected = {}
    for item_id in taken:
        c = scenario.events[item_id].completion
        expected[item_id] = model.completion(c.processor, c.execution_id, "success", T0)
    assert scenario.outcomes == expected
    snapshot = scenario.folder.load(scenario.actor, KEY)
    assert snapshot is not None
    assert (sorted(snapshot.data.done), snapshot.state) == (sorted(model.done), model.state)
    event(f"queue: {len(scenario.log)} commits, ended {snapshot.state}")
    for store in (scenario.folder, scenario.other):
        store.close()


@QUEUE
@given(queued=QUEUED, moves=MOVES)
@REDUNDANT_FOLD_RACED
def test_every_interleaving_of_a_fold_applies_each_queued_event_once(
    queued: list[tuple[str, int]], moves: list[tuple[str, tuple[str, int]] | None]
) -> None:
    check_queue(queued, moves)


def test_the_queue_property_finds_a_fold_without_its_guard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fold whose events change nothing commits only the queue's removal, without the guard
    on the key that keeps folds exclusive."""
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from phaseactors.stores.firestore.queue import Queue

    commit = Queue._commit_fold

    def unguarded(self: Any, actor: Any, key: str, update_time: Any, base: Any, state: Any,
                  raw: Any) -> Any:  # fmt: skip
        if state is base and update_time is not None:
            from google.cloud import firestore

            batch = self.client.batch()
            batch.set(self._ref(actor, key), {"events": firestore.ArrayRemove(raw),
                      "pending": firestore.Increment(-len(raw))}, merge=True)  # fmt: skip
            transforms = self.store._commit_transforms(batch, 1)
            return int(transforms[0]["pending"])
        return commit(self, actor, key, update_time, base, state, raw)

    monkeypatch.setattr(Queue, "_commit_fold", unguarded)

    @settings(QUEUE, max_examples=scaled(200), phases=[Phase[p] for p in HUNT_PHASES])
    @given(queued=QUEUED, moves=MOVES)
    @REDUNDANT_FOLD_RACED
    def hunt(
        queued: list[tuple[str, int]], moves: list[tuple[str, tuple[str, int]] | None]
    ) -> None:
        check_queue(queued, moves)

    with pytest.raises(AssertionError) as caught:
        hunt()
    with capsys.disabled():
        print(f"\n--- a queue fold without its guard: {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
