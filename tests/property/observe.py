"""What the tests compare with the reference model: a key's snapshot, as a person reading
``phaseactors status`` and the sweeper's index would see it (states, names, the trigger's
reason and moment, the deadline tiers passed as ``status`` marks and ``stats`` counts them),
never the library's internal encodings such as dedup tokens."""

from __future__ import annotations

from typing import Any

from hypothesis import note

from phaseactors import GateActor
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.data import GateData


def observe(actor: GateActor, snapshot: Snapshot[GateData]) -> dict[str, Any]:
    """The model's view (``Reference.view``) of a stored key."""
    data = snapshot.data
    trigger = data.trigger
    return {
        "state": snapshot.state,
        "generation": snapshot.generation,
        "done": sorted(data.done),
        "failed": sorted(data.failures),
        "late": sorted((r.processor, r.execution_id) for r in data.late),
        "unknown": sorted(data.unknown),
        "trigger": None
        if trigger is None
        else {
            "generation": trigger.generation,
            "reason": trigger.reason,
            "decided_at": trigger.decided_at,
            "published": trigger.published,
        },
        "due_at": actor.due_at(snapshot),
        "passed": sorted(data.deadlines_passed),
        "profile": data.profile,
    }


def messages(publisher: Any) -> list[dict[str, Any]]:
    """The published triggers, as the next phase sees them."""
    return [
        {
            "trigger_id": m.attributes["trigger_id"],
            "reason": m.body["reason"],
            "completed": m.body["completed"],
        }
        for m in publisher.messages
    ]


def assert_agrees(expected: dict[str, Any], actual: dict[str, Any], what: str) -> None:
    """Fail with the fields that differ, model first, library second."""
    differ = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
    if differ:
        lines = "\n".join(f"  {k}: model {m!r} / library {a!r}" for k, (m, a) in differ.items())
        note(f"after {what}:\n{lines}")
        raise AssertionError(f"the library disagrees with the model after {what}:\n{lines}")
