"""Firestore's combining folds, in every order Hypothesis draws (emulator): handlers queue
completions in a key's inbox; folds of everything pending (a folder, a sweep) and handlers'
own folds of their events (once the folder lease is free) run in any order. Each event must be
applied exactly once, in the order the committed folds took them, and each handler must learn
the model's outcome for its events: from its own fold, or from the outcome another fold
recorded. The teeth: a handler's own fold deleting its documents without the condition that
nobody folded them since is found, with a shrunk counterexample."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from model import Reference

from phaseactors import Completion, GateActor, spec_from_mapping
from phaseactors.gate.events import CompletionReported
from support import HUNT_PHASES, KEY, T0, require_emulator, scaled

pytestmark = pytest.mark.emulator

GATE_FILE: dict[str, Any] = {
    "name": "folded",
    "key": {"field": "game_date"},
    "topics": {"output": "folded-out"},
    "processors": {"required": ["p0", "p1", "p2"]},
}
FOLDS = settings(
    max_examples=scaled(25),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


def _with_every_processor(
    drawn: tuple[list[list[tuple[str, int]]], bool],
) -> list[list[tuple[str, int]]]:
    """With ``covering``, the handlers also queue one report of each processor between
    them (round robin), so that the folds complete the key."""
    queues, covering = drawn
    if not covering:
        return queues
    queues = [list(queue) for queue in queues]
    for i, processor in enumerate(("p0", "p1", "p2")):
        queues[i % len(queues)].append((processor, 1))
    return queues


#: Per handler, the events it queued: (processor, run); a shared run is a redelivery.
QUEUES = st.tuples(
    st.lists(
        st.lists(st.tuples(st.sampled_from(("p0", "p1", "p2")), st.integers(1, 2)),
                 min_size=1, max_size=2),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
).map(_with_every_processor)  # fmt: skip
#: Fold moves: None folds everything pending; an int is that handler's own fold.
MOVES = st.lists(st.none() | st.integers(0, 2), max_size=6)


def check_folds(queues: list[list[tuple[str, int]]], moves: list[int | None]) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from google.cloud import firestore

    from phaseactors.stores.firestore import FirestoreStore

    store = FirestoreStore(firestore.Client(project="phaseactors-test"),
                           prefix=f"f{uuid.uuid4().hex[:10]}.")  # fmt: skip
    actor = GateActor(spec_from_mapping(GATE_FILE))
    inbox = store.collection(actor.name).document(KEY).collection("inbox")
    events: dict[str, CompletionReported] = {}
    written: dict[str, Any] = {}
    owner: dict[str, int] = {}
    for h, queue in enumerate(queues):
        for i, (processor, run) in enumerate(queue):
            doc_id = f"q{h}{i}-{processor}-{run}"
            completion = Completion(processor=processor, key=KEY, status="success",
                                    execution_id=f"{processor}-run-{run}")  # fmt: skip
            events[doc_id] = CompletionReported(at=T0, completion=completion)
            fields = {"status": "pending", "event": actor.encode_event(events[doc_id])}
            written[doc_id] = inbox.document(doc_id).set(fields).update_time
            owner[doc_id] = h
    model = Reference(GATE_FILE, KEY)
    expected: dict[str, str] = {}  # the model's outcome of each event, when a fold took it
    learned: dict[str, str] = {}  # what each handler learned from its own fold
    combining = store._combining
    for move in [*moves, None]:  # a last fold of everything pending ends every run
        if move is not None and move >= len(queues):
            continue
        mine = {d for d in events if owner[d] == move and d not in learned}
        if move is not None and not mine:
            continue
        only = None if move is None else {d: (events[d], written[d]) for d in mine}
        fold = combining.fold(actor, KEY, mine, only=only)
        note(f"{'fold of all pending' if move is None else f'handler {move} folds its own'}: "
             f"{'lost to another writer' if fold is None else sorted(fold.outcomes)}")  # fmt: skip
        if fold is None:
            continue
        for doc_id in sorted(fold.outcomes, key=lambda d: (d in mine, d)):
            if doc_id in expected:  # applied twice: the model's outcome is already taken
                raise AssertionError(f"{doc_id} was folded a second time, by {move}")
            c = events[doc_id].completion
            expected[doc_id] = model.completion(c.processor, c.execution_id, "success", T0)
            if doc_id in mine:
                learned[doc_id] = fold.outcomes[doc_id].outcome
    for doc_id in events:
        if doc_id not in learned:  # folded by another: the outcome it recorded waits there
            fields = inbox.document(doc_id).get().to_dict() or {}
            assert fields.get("status") == "folded", f"{doc_id} was never folded: {fields}"
            learned[doc_id] = fields["outcome"]
    assert learned == expected, f"handlers learned {learned}, the model says {expected}"
    snapshot = store.load(actor, KEY)
    assert snapshot is not None
    assert sorted(snapshot.data.done) == sorted(model.done)
    assert snapshot.state == model.state
    event(f"fold: ended {snapshot.state}")
    store.close()


@FOLDS
@given(queues=QUEUES, moves=MOVES)
def test_every_fold_order_applies_each_event_once(
    queues: list[list[tuple[str, int]]], moves: list[int | None]
) -> None:
    check_folds(queues, moves)


def fold_without_condition(original: Callable[..., Any]) -> Callable[..., Any]:
    """A handler's own fold that deletes its inbox documents unconditionally."""

    def fold(self: Any, actor: Any, key: str, mine: set[str], **kwargs: Any) -> Any:
        only = kwargs.pop("only", None)
        if only is not None:
            only = {doc_id: (ev, None) for doc_id, (ev, _) in only.items()}
        return original(self, actor, key, mine, only=only, **kwargs)

    return fold


def test_the_fold_property_finds_an_unconditional_delete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from phaseactors.stores.firestore.combining import Combining

    monkeypatch.setattr(Combining, "fold", fold_without_condition(Combining.fold))

    @settings(FOLDS, phases=[Phase[p] for p in HUNT_PHASES])
    @given(queues=QUEUES, moves=MOVES)
    def hunt(queues: list[list[tuple[str, int]]], moves: list[int | None]) -> None:
        check_folds(queues, moves)

    with pytest.raises(AssertionError) as caught:
        hunt()
    with capsys.disabled():
        print(f"\n--- an own fold deleting without its condition: {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
