"""Versioned definitions: the fingerprint, the definition document, the semantic diff, and how
a key decides when its gate file changes while it is in flight (pin, adopt, migrate)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from phaseactors import (
    Completion,
    CompletionReported,
    GateActor,
    GateRuntime,
    Outcome,
    RecordingPublisher,
    SpecError,
    Tick,
    TransitionRefused,
    spec_from_mapping,
)
from phaseactors.core.definitions import DefinitionRecord
from phaseactors.core.snapshot import Snapshot
from phaseactors.errors import DefinitionMissing
from phaseactors.gate.changes import definition_changes, spec_changes
from phaseactors.gate.data import GateData
from phaseactors.gate.definition import decode_definition, encode_definition
from phaseactors.gate.events import MigrateKey, decode_gate_event, encode_gate_event
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.spec_loader import load_spec
from phaseactors.stores import MemoryStore
from support import KEY, SMALL_GATE, T0, ManualClock, done

# A file of the small gate, with comments, as a person writes it.
FILE = """
# The small gate.
name = "small"

[key]
field = "game_date"
format = "date"
timezone = "America/New_York"

[topics]
input = "small-in"
output = "small-out"

[processors]
required = ["alpha", "beta", "gamma"]   # all three

[aliases]
AlphaLoader = "alpha"

[names]
dataset_qualified = true
strip_suffixes = ["Processor"]
camel_case = true
match_output_table = true

[aggregate.entities_changed]
from = "metadata.entities_changed"
how = "union"
"""

# The same gate, its tables and fields in another order, the processors too, no comments.
SHUFFLED = """
name = "small"
[aggregate.entities_changed]
how = "union"
from = "metadata.entities_changed"
[processors]
required = ["gamma", "alpha", "beta"]
[names]
match_output_table = true
camel_case = true
strip_suffixes = ["Processor"]
dataset_qualified = true
[aliases]
AlphaLoader = "alpha"
[topics]
output = "small-out"
input = "small-in"
[key]
timezone = "America/New_York"
format = "date"
field = "game_date"
"""


def gate(**changes: Any) -> GateSpec:
    """The small gate with some of its top-level tables replaced."""
    return spec_from_mapping({**SMALL_GATE, **changes}, source="small.toml")


def report(
    name: str, run: str = "1", *, at: Any = T0, status: str = "success"
) -> CompletionReported:
    return CompletionReported(
        at=at,
        completion=Completion(processor=name, key=KEY, status=status, execution_id=f"{name}-{run}"),
    )


def steps(actor: GateActor, snapshot: Snapshot[GateData], *names: str) -> Snapshot[GateData]:
    for name in names:
        snapshot = actor.step(snapshot, report(name)).snapshot
    return snapshot


def handler(spec: GateSpec, *known: GateActor) -> GateActor:
    """A handler with gate file ``spec`` that has been given the definitions of ``known``
    (as a store does before it steps)."""
    actor = GateActor(spec)
    for other in known:
        actor.learn_definition(other.definition_record(T0))
    return actor


V1 = gate()
A1 = GateActor(V1)


def partial_under_v1(*names: str) -> Snapshot[GateData]:
    return steps(A1, A1.initial(KEY), *names)


# -- the fingerprint ---------------------------------------------------------------------------


def test_the_fingerprint_ignores_comments_layout_and_order() -> None:
    written = spec_from_mapping(tomllib.loads(FILE), source="a.toml")
    shuffled = spec_from_mapping(tomllib.loads(SHUFFLED), source="b.toml")
    assert written.fingerprint == shuffled.fingerprint == V1.fingerprint
    assert len(V1.fingerprint) == 16
    assert int(V1.fingerprint, 16) >= 0


@pytest.mark.parametrize(
    "changes",
    [
        {"processors": {"required": ["alpha", "beta"]}},
        {"processors": {"required": ["alpha", "beta"], "optional": ["gamma"]}},
        {
            "policy": {"optional_quorum": 0.5},
            "processors": {"required": ["alpha"], "optional": ["beta"]},
        },
        {"deadlines": [{"name": "1h", "after_first": "1h", "required": 0.5}]},
        {"statuses": {"done": ["success", "partial"], "failed": ["failed", "no_data"]}},
        {"key": {"field": "game_date", "format": "date", "timezone": "UTC"}},
    ],
    ids=["required", "optional", "quorum", "deadline", "statuses", "timezone"],
)
def test_what_decides_a_key_changes_the_fingerprint(changes: dict[str, Any]) -> None:
    assert gate(**changes).fingerprint != V1.fingerprint


@pytest.mark.parametrize(
    "changes",
    [
        {"aliases": {"AlphaLoader": "alpha", "BetaJob": "beta"}},
        {"names": {}},
        {"topics": {"output": "elsewhere"}},
        {"aggregate": {}},
        {"description": "now with a description"},
        {"on_change": "adopt"},
        {"key": {"field": "date", "format": "date", "timezone": "America/New_York"}},
    ],
    ids=["aliases", "names", "topics", "aggregate", "description", "on_change", "key-field"],
)
def test_what_applies_to_every_key_leaves_the_fingerprint(changes: dict[str, Any]) -> None:
    assert gate(**changes).fingerprint == V1.fingerprint


def test_equal_durations_have_one_fingerprint() -> None:
    hour = {"name": "t", "after_first": "1h"}
    minutes = {"name": "t", "after_first": "60m"}
    assert gate(deadlines=[hour]).fingerprint == gate(deadlines=[minutes]).fingerprint


def test_on_change_is_validated_like_every_field() -> None:
    assert V1.on_change == "pin"
    assert gate(on_change="adopt").on_change == "adopt"
    with pytest.raises(SpecError, match=r"small.toml: on_change: must be 'pin' or 'adopt'"):
        gate(on_change="follow")
    with pytest.raises(SpecError, match="on_change: must be a non-empty string"):
        gate(on_change=True)


def test_the_shipped_gates_load_with_their_fingerprints() -> None:
    for name in ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5"):
        spec = load_spec(name)
        assert decode_definition(encode_definition(spec.definition)).fingerprint == spec.fingerprint


# -- the definition document -----------------------------------------------------------------


def test_the_document_round_trips_with_every_field() -> None:
    spec = load_spec("phase2_to_phase3")  # deadlines of both kinds, two profiles
    document = encode_definition(spec.definition)
    decoded = decode_definition(document)
    assert encode_definition(decoded) == document
    assert {p.name for p in decoded.profiles} == {"same_day", "backfill"}
    assert [t.name for t in decoded.deadlines] == ["30m", "2h", "final"]
    assert document["deadlines"][0]["after_first_seconds"] == 1800
    assert document["deadlines"][2]["at"] == "10:30"


def test_a_document_with_an_unknown_field_is_refused() -> None:
    document = {**encode_definition(V1.definition), "future": 1}
    with pytest.raises(ValueError, match="does not know"):
        decode_definition(document)
    record = DefinitionRecord(actor="small", fingerprint="f", document=document, recorded_at=T0)
    with pytest.raises(DefinitionMissing, match="does not know"):
        GateActor(gate(processors={"required": ["alpha"]})).learn_definition(record)


def test_a_record_whose_document_is_not_its_fingerprint_is_refused() -> None:
    record = attrs.evolve(A1.definition_record(T0), fingerprint="0" * 16)
    with pytest.raises(DefinitionMissing, match="hashes to"):
        GateActor(V1).learn_definition(record)


# -- the semantic diff -----------------------------------------------------------------------


def test_changes_name_each_field_that_decides() -> None:
    before = load_spec("phase2_to_phase3")
    data = tomllib.loads(Path(before.source).read_text())
    data["processors"]["required"].remove("nbac_player_list_current")
    data["processors"]["optional"].append("nbac_player_list_current")
    data["policy"]["optional_quorum"] = 0.5
    data["deadlines"][0]["after_first"] = "45m"
    del data["deadlines"][1]
    data["profiles"]["backfill"]["deadlines"] = ["30m"]
    data["profiles"]["same_day"]["required"].append("bdl_injuries")
    after = spec_from_mapping(data)
    texts = [c.text() for c in definition_changes(before.definition, after.definition)]
    assert texts == [
        "processors.required: removed nbac_player_list_current",
        "processors.optional: added nbac_player_list_current",
        "policy.optional_quorum: 1.0 -> 0.5",
        "deadlines.2h: removed (was after_first_seconds 7200, day_offset 0, required 1.0,"
        " optional 0.0, min_done 0, otherwise wait)",
        "deadlines.30m.after_first_seconds: 1800 -> 2700",
        "profiles.same_day.required: added bdl_injuries",
        "profiles.same_day.optional: removed bdl_injuries",
        "profiles.same_day.deadlines: removed 2h",
        "profiles.backfill.deadlines: removed 2h",
    ]
    removed = definition_changes(before.definition, after.definition)[0]
    assert removed.to_json() == {
        "field": "processors.required",
        "before": sorted(before.required),
        "after": sorted(after.required),
        "added": [],
        "removed": ["nbac_player_list_current"],
    }


def test_spec_changes_show_what_applies_to_every_key() -> None:
    after = gate(aliases={"BetaJob": "beta"}, topics={"input": "small-in", "output": "next"})
    texts = [c.text() for c in spec_changes(V1, after)]
    assert texts == [
        "topics.output: small-out -> next",
        "aliases.AlphaLoader: removed (was alpha)",
        "aliases.BetaJob: added beta",
    ]
    assert definition_changes(V1.definition, after.definition) == ()


# -- pin: a key in flight decides by its own definition ---------------------------------------


def test_pin_a_removed_required_processor_is_still_awaited() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(processors={"required": ["alpha", "beta"]}), A1)
    after = v2.step(snapshot, report("alpha", "2")).snapshot
    assert (after.state, after.data.definition) == ("partial", V1.fingerprint)
    assert v2.step(after, report("gamma")).snapshot.state == "complete"


def test_pin_an_added_processor_is_not_awaited() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(processors={"required": ["alpha", "beta", "gamma", "delta"]}), A1)
    after = v2.step(snapshot, report("gamma")).snapshot
    assert after.state == "complete"
    assert after.data.trigger is not None
    assert after.data.trigger.reason == "all_done"
    assert after.outbox[0].body["completed"] == ["alpha", "beta", "gamma"]


def test_pin_a_new_alias_counts_for_a_key_in_flight() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(aliases={"AlphaLoader": "alpha", "GammaJob": "gamma"}), A1)
    assert v2.fingerprint == A1.fingerprint  # an alias decides nothing: no new definition
    assert v2.step(snapshot, report("GammaJob")).snapshot.state == "complete"


def test_pin_new_name_rules_count_for_a_key_in_flight() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(names={"strip_suffixes": ["Job"], "camel_case": True}), A1)
    assert v2.fingerprint == A1.fingerprint
    after = v2.step(snapshot, report("GammaJob")).snapshot
    assert after.state == "complete"
    assert after.data.done["gamma"].reported_as == "GammaJob"


def test_pin_a_processor_the_key_does_not_expect_stays_unknown() -> None:
    snapshot = partial_under_v1("alpha")
    v2 = handler(gate(processors={"required": ["alpha", "beta", "gamma", "delta"]}), A1)
    stepped = v2.step(snapshot, report("delta"))
    assert stepped.outcome is Outcome.UNKNOWN
    assert "delta" in stepped.snapshot.data.unknown


def test_pin_a_renamed_processor_counts_under_the_name_the_key_expects() -> None:
    """The file renamed gamma to gamma_v2 and keeps ``gamma = "gamma_v2"``: for a key pinned
    to the old definition, a report of gamma_v2 is gamma."""
    snapshot = partial_under_v1("alpha", "beta")
    renamed = gate(
        processors={"required": ["alpha", "beta", "gamma_v2"]},
        aliases={"AlphaLoader": "alpha", "gamma": "gamma_v2"},
    )
    v2 = handler(renamed, A1)
    after = v2.step(snapshot, report("gamma_v2")).snapshot
    assert after.state == "complete"
    assert set(after.data.done) == {"alpha", "beta", "gamma"}
    fresh = v2.step(v2.initial(KEY), report("gamma")).snapshot  # a new key: the new names
    assert set(fresh.data.done) == {"gamma_v2"}


def test_pin_a_trigger_goes_to_the_current_output_topic() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(processors={"required": ["alpha", "beta"]}, topics={"output": "moved"}), A1)
    after = v2.step(snapshot, report("gamma")).snapshot
    assert [e.topic for e in after.outbox] == ["moved"]


def test_new_keys_and_new_generations_use_the_current_definition() -> None:
    v2 = handler(gate(processors={"required": ["alpha", "beta"]}), A1)
    assert steps(v2, v2.initial(KEY), "alpha", "beta").state == "complete"
    snapshot = partial_under_v1("alpha")
    rearmed = v2.step(snapshot, attrs_rearm()).snapshot
    assert (rearmed.generation, rearmed.data.definition) == (2, v2.fingerprint)
    again = [report(name, "2") for name in ("alpha", "beta")]  # runs are deduplicated still
    for event in again:
        rearmed = v2.step(rearmed, event).snapshot
    assert rearmed.state == "complete"


def attrs_rearm() -> Any:
    from phaseactors import Rearm

    return Rearm(at=T0, reason="rerun", by="ops")


def test_a_definition_nobody_gave_the_handler_is_a_transient_error() -> None:
    snapshot = partial_under_v1("alpha")
    stranger = GateActor(gate(processors={"required": ["alpha"]}))
    with pytest.raises(DefinitionMissing, match=V1.fingerprint):
        stranger.step(snapshot, report("beta"))


# -- adopt: re-evaluated at the next event, recorded in history ------------------------------


def test_adopt_a_removed_required_processor_triggers_at_the_next_event() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(on_change="adopt", processors={"required": ["alpha", "beta"]}), A1)
    stepped = v2.step(snapshot, report("alpha"))  # a duplicate, yet an event
    after = stepped.snapshot
    assert stepped.outcome is Outcome.DUPLICATE
    assert (after.state, after.data.definition) == ("complete", v2.fingerprint)
    adopt = after.history[-1]
    assert (adopt.event, adopt.source, adopt.target) == ("adopt", "partial", "complete")
    assert adopt.cause == (
        f"on_change = adopt: definition {V1.fingerprint} -> {v2.fingerprint}:"
        " processors.required: removed gamma"
    )
    assert [e.id for e in after.outbox] == [f"small/{KEY}/1"]


def test_adopt_an_added_processor_is_awaited() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(
        gate(on_change="adopt", processors={"required": ["alpha", "beta", "gamma", "delta"]}), A1
    )
    after = v2.step(snapshot, report("gamma")).snapshot
    assert (after.state, after.history[-1].event) == ("partial", "adopt")
    assert v2.step(after, report("delta")).snapshot.state == "complete"


def test_adopt_on_a_tick_with_nothing_due_is_applied() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2 = handler(gate(on_change="adopt", processors={"required": ["alpha", "beta"]}), A1)
    stepped = v2.step(snapshot, Tick(at=T0 + timedelta(minutes=1)))
    assert (stepped.outcome, stepped.snapshot.state) == (Outcome.APPLIED, "complete")


def test_adopt_counts_reports_that_were_unknown_under_the_old_definition() -> None:
    snapshot = partial_under_v1("alpha", "beta", "delta")
    assert set(snapshot.data.unknown) == {"delta"}
    v2 = handler(
        gate(on_change="adopt", processors={"required": ["alpha", "beta"], "optional": ["delta"]}),
        A1,
    )
    after = v2.step(snapshot, Tick(at=T0)).snapshot
    assert set(after.data.done) == {"alpha", "beta", "delta"}
    assert after.data.unknown == {}
    assert after.data.trigger is not None
    assert after.data.trigger.reason == "all_done"


def test_adopt_fails_a_key_whose_failed_processor_becomes_required_and_reopens_it() -> None:
    v1 = gate(processors={"required": ["alpha", "gamma"], "optional": ["beta"]})
    a1 = GateActor(v1)
    snapshot = steps(a1, a1.initial(KEY), "alpha")
    snapshot = a1.step(snapshot, report("beta", status="failed")).snapshot
    assert snapshot.state == "partial"
    v2 = handler(gate(on_change="adopt", processors={"required": ["alpha", "beta", "gamma"]}), a1)
    failed = v2.step(snapshot, Tick(at=T0)).snapshot
    assert (failed.state, failed.data.failed_reason) == (
        "failed",
        "required processor beta failed",
    )
    v3 = handler(gate(on_change="adopt", processors={"required": ["alpha", "gamma"]}), a1, v2)
    reopened = v3.step(failed, Tick(at=T0)).snapshot
    assert (reopened.state, reopened.data.failed_reason) == ("partial", None)


def test_adopt_leaves_a_decided_generation_under_its_definition() -> None:
    snapshot = partial_under_v1("alpha", "beta", "gamma")
    v2 = handler(gate(on_change="adopt", processors={"required": ["alpha", "beta", "delta"]}), A1)
    stepped = v2.step(snapshot, report("delta"))  # not a processor of the key's definition
    assert stepped.outcome is Outcome.UNKNOWN
    assert (stepped.snapshot.state, stepped.snapshot.data.definition) == (
        "complete",
        V1.fingerprint,
    )
    late = v2.step(stepped.snapshot, report("beta", "2"))
    assert (late.outcome, late.snapshot.data.definition) == (Outcome.LATE, V1.fingerprint)


# -- migrate: on purpose, audited, once -------------------------------------------------------


def migration(spec: GateSpec, reason: str = "gamma retired") -> MigrateKey:
    return MigrateKey(
        at=T0,
        reason=reason,
        by="ops",
        fingerprint=spec.fingerprint,
        definition=encode_definition(spec.definition),
    )


def test_migrate_applies_once_with_the_reason_and_refuses_a_decided_key() -> None:
    snapshot = partial_under_v1("alpha", "beta")
    v2spec = gate(processors={"required": ["alpha", "beta"]})
    v2 = handler(v2spec, A1)
    migrated = v2.step(snapshot, migration(v2spec))
    assert (migrated.outcome, migrated.snapshot.state) == (Outcome.APPLIED, "complete")
    entry = migrated.snapshot.history[-1]
    assert (entry.event, entry.by) == ("migrate", "ops")
    assert entry.cause.startswith(f"gamma retired (definition {V1.fingerprint} -> ")
    again = v2.step(migrated.snapshot, migration(v2spec))
    assert (again.outcome, again.snapshot) == (Outcome.UNCHANGED, migrated.snapshot)
    other = gate(processors={"required": ["alpha"]})
    with pytest.raises(TransitionRefused, match="keeps the definition it decided under"):
        v2.step(migrated.snapshot, migration(other))


def test_migrate_carries_its_definition_to_a_handler_that_does_not_know_it() -> None:
    """A Firestore fold may step an operator's event in another process: the event carries
    the definition it moves to, and the key's old one need not be known either."""
    snapshot = partial_under_v1("alpha", "beta")
    v2spec = gate(processors={"required": ["alpha", "beta"]})
    elsewhere = GateActor(gate(processors={"required": ["alpha", "beta", "gamma", "delta"]}))
    migrated = elsewhere.step(snapshot, migration(v2spec)).snapshot
    assert (migrated.state, migrated.data.definition) == ("complete", v2spec.fingerprint)
    assert "not known" in migrated.history[-1].cause


def test_migrate_event_json_round_trips() -> None:
    event = migration(V1)
    assert (
        decode_gate_event("migrate", encode_gate_event(event), {"at": T0, "claim": None}) == event
    )


# -- keys from before versioned definitions ----------------------------------------------------


def legacy(snapshot: Snapshot[GateData]) -> Snapshot[GateData]:
    return snapshot.evolve(data=attrs.evolve(snapshot.data, definition=None))


def test_a_key_without_a_definition_is_pinned_by_its_next_change() -> None:
    old = legacy(partial_under_v1("alpha"))
    v2 = GateActor(gate(processors={"required": ["alpha", "beta"]}))
    duplicate = v2.step(old, report("alpha"))
    assert duplicate.outcome is Outcome.DUPLICATE
    assert duplicate.snapshot.data.definition is None  # nothing changed, nothing recorded
    pinned = v2.step(old, report("gamma")).snapshot  # unknown to v2, yet a change
    assert pinned.data.definition == v2.fingerprint
    v3 = handler(gate(processors={"required": ["alpha", "beta", "gamma"]}), v2)
    assert v3.step(pinned, report("beta")).snapshot.state == "complete"  # pinned to v2


# -- the runtime: recording, status ---------------------------------------------------------


def test_the_runtime_records_its_definition_before_its_first_event() -> None:
    store = MemoryStore()
    runtime = GateRuntime(GateActor(V1), store, RecordingPublisher(), clock=ManualClock())
    assert store.definitions("small") == []
    runtime.deliver(done("alpha"))
    runtime.deliver(done("beta"))
    [record] = store.definitions("small")
    assert (record.fingerprint, record.recorded_at) == (V1.fingerprint, T0)
    assert decode_definition(record.document).fingerprint == V1.fingerprint


def test_status_shows_the_definition_and_what_changed() -> None:
    store = MemoryStore()
    clock = ManualClock()
    GateRuntime(GateActor(V1), store, RecordingPublisher(), clock=clock).deliver(done("alpha"))
    v2 = gate(processors={"required": ["alpha", "beta"]})
    runtime = GateRuntime(GateActor(v2), store, RecordingPublisher(), clock=clock)
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    status = runtime.status(snapshot)
    assert status.required == ("alpha", "beta", "gamma")  # the key's own definition
    assert status.missing == ("beta", "gamma")
    assert status.definition is not None
    assert status.definition.first_seen == T0
    view = status.to_json()["definition"]
    assert set(view) == {"fingerprint", "current", "drifted", "changes"}
    assert (view["fingerprint"], view["current"], view["drifted"]) == (
        V1.fingerprint,
        v2.fingerprint,
        True,
    )
    assert [c["removed"] for c in view["changes"]] == [["gamma"]]
    same = GateRuntime(GateActor(V1), store, RecordingPublisher(), clock=clock)
    assert same.status(snapshot).to_json()["definition"] == {
        "fingerprint": V1.fingerprint,
        "current": V1.fingerprint,
        "drifted": False,
        "changes": [],
    }
