"""Quorum, profiles and deadline tiers, at their boundaries; the clock is data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from phaseactors import GateActor, GateRuntime, Outcome, RecordingPublisher, spec_from_mapping
from phaseactors.gate.policy import DeadlineTier, Profile, parse_duration, parse_wall_time
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.spec_loader import load_spec
from phaseactors.stores import MemoryStore, SqliteStore
from support import KEY, ManualClock, done

# Key 2025-11-29 in New York (EST, UTC-5). First completions arrive at 23:00 ET = 04:00Z.
FIRST = datetime(2025, 11, 30, 4, 0, tzinfo=UTC)

GATE: dict[str, Any] = {
    "name": "tiers",
    "key": {"field": "game_date", "timezone": "America/New_York"},
    "topics": {"output": "tiers-out"},
    "processors": {"required": ["r1", "r2", "r3", "r4", "r5"], "optional": ["o1", "o2", "o3"]},
    "policy": {"optional_quorum": 1.0},
    "deadlines": [
        {"name": "30m", "after_first": "30m", "optional": 0.6},
        {"name": "2h", "after_first": "2h"},
        {"name": "final", "at": "10:30", "day_offset": 1, "required": 0.8, "otherwise": "fail"},
    ],
    "profiles": {
        "same_day": {"first_event_before": "17:00", "required": ["r1"]},
        "backfill": {
            "first_event_after_days": 2,
            "required": ["r1", "r2", "r3", "r4", "r5"],
            "optional_quorum": 1.0,
            "deadlines": ["30m", "2h"],
        },
    },
}
FINAL = datetime(2025, 11, 30, 15, 30, tzinfo=UTC)  # 10:30 EST on the day after the key


@pytest.fixture
def tiers() -> GateSpec:
    return spec_from_mapping(GATE)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FIRST)


@pytest.fixture
def runtime(tiers: GateSpec, clock: ManualClock) -> GateRuntime:
    return GateRuntime(GateActor(tiers), MemoryStore(), RecordingPublisher(), clock=clock)


def deliver(runtime: GateRuntime, *names: str) -> None:
    for name in names:
        runtime.deliver(done(name))


def messages(runtime: GateRuntime) -> list[Any]:
    publisher = runtime.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher.messages


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "30", "m30", "0m", "2 hours", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_wall_times() -> None:
    assert parse_wall_time("10:30") == time(10, 30)
    for bad in ("24:00", "9:30", "10:60", "noon"):
        with pytest.raises(ValueError, match="wall-clock"):
            parse_wall_time(bad)


def test_optional_quorum_boundary() -> None:
    profile = Profile(
        name="p", required=("r",), optional=tuple(f"o{i}" for i in range(10)), optional_quorum=0.6
    )
    assert not profile.satisfied({"r", *(f"o{i}" for i in range(5))})
    assert profile.satisfied({"r", *(f"o{i}" for i in range(6))})
    assert not profile.satisfied({f"o{i}" for i in range(10)})
    assert Profile(name="empty", required=("r",)).satisfied({"r"})


def test_tier_condition_boundaries() -> None:
    profile = Profile(name="p", required=("a", "b", "c", "d", "e"), optional=("x",))
    tier = DeadlineTier(name="t", after=timedelta(hours=1), required=0.8)
    assert not tier.holds(profile, {"a", "b", "c"})
    assert tier.holds(profile, {"a", "b", "c", "d"})
    anything = DeadlineTier(name="any", after=timedelta(hours=1), required=0.0, min_done=1)
    assert not anything.holds(profile, set())
    assert anything.holds(profile, {"x"})


def test_wall_clock_deadline_follows_the_gate_zone_across_daylight_saving(tiers: GateSpec) -> None:
    final = tiers.deadlines[2]
    assert final.due(tiers.key, "2025-11-29", None) == FINAL
    assert final.due(tiers.key, "2025-07-01", None) == datetime(2025, 7, 2, 14, 30, tzinfo=UTC)
    assert tiers.deadlines[0].due(tiers.key, KEY, None) is None
    assert tiers.deadlines[0].due(tiers.key, KEY, FIRST) == FIRST + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("first_event", "profile"),
    [
        (datetime(2025, 11, 29, 15, 0, tzinfo=UTC), "same_day"),  # 10:00 ET on the key's date
        (datetime(2025, 11, 29, 21, 59, tzinfo=UTC), "same_day"),  # 16:59 ET
        (datetime(2025, 11, 29, 22, 0, tzinfo=UTC), "default"),  # 17:00 ET: after tip-off
        (datetime(2025, 11, 30, 4, 0, tzinfo=UTC), "default"),  # 23:00 ET, 11-30 in UTC
        (datetime(2025, 12, 1, 4, 59, tzinfo=UTC), "default"),  # 23:59 ET on the 30th
        (datetime(2025, 12, 1, 5, 0, tzinfo=UTC), "backfill"),  # two days after, in New York
    ],
)
def test_profile_is_chosen_from_the_first_event_in_the_gate_zone(
    tiers: GateSpec, first_event: datetime, profile: str
) -> None:
    assert tiers.choose_profile(KEY, first_event).name == profile


def test_an_unknown_name_reported_first_freezes_the_profile_of_its_time(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    """A report of a name the gate does not expect is the key's first event: the profile is
    chosen from its time too, not left at the default (it used to freeze ``default``, so an
    unexpected name decided who was expected)."""
    clock.now = datetime(2025, 11, 29, 15, 0, tzinfo=UTC)  # 10:00 ET: same-day
    assert runtime.deliver(done("MysteryJob")).outcome is Outcome.UNKNOWN
    clock.advance(3600)
    delivery = runtime.deliver(done("r1"))
    assert (delivery.snapshot.data.profile, delivery.snapshot.state) == ("same_day", "triggered")


def test_profile_is_frozen_in_the_snapshot(runtime: GateRuntime, clock: ManualClock) -> None:
    clock.now = datetime(2025, 11, 29, 15, 0, tzinfo=UTC)
    deliver(runtime, "o1")
    clock.advance(86400 * 3)  # days later, the same key keeps its profile
    delivery = runtime.deliver(done("r1"))
    assert delivery.snapshot.data.profile == "same_day"
    assert delivery.snapshot.state == "triggered"
    assert messages(runtime)[0].body["reason"] == "quorum"


def test_all_processors_trigger_at_once_with_reason_all_done(runtime: GateRuntime) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4", "r5", "o1", "o2", "o3")
    [message] = messages(runtime)
    assert (message.body["reason"], message.body["missing"], message.body["missing_optional"]) == (
        "all_done",
        [],
        [],
    )


def test_tier_is_due_exactly_at_its_time_and_fires_once(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4", "r5", "o1", "o2")
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert runtime.actor.due_at(snapshot) == FIRST + timedelta(minutes=30)
    clock.advance(30 * 60 - 1)
    assert runtime.tick(KEY).outcome is Outcome.UNCHANGED
    clock.advance(1)
    fired = runtime.tick(KEY)
    assert (fired.outcome, fired.snapshot.state) == (Outcome.APPLIED, "triggered")
    [message] = messages(runtime)
    assert (message.body["reason"], message.body["missing_optional"]) == ("deadline:30m", ["o3"])
    assert fired.snapshot.history[-2].cause == "deadline 30m passed"
    assert runtime.tick(KEY).outcome is Outcome.UNCHANGED
    assert len(messages(runtime)) == 1


def test_unmet_tier_passes_and_a_later_completion_triggers_under_it(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4", "o1")
    clock.advance(30 * 60)
    passed = runtime.tick(KEY)
    assert (passed.snapshot.state, passed.snapshot.data.deadlines_passed) == ("partial", ("30m",))
    assert runtime.actor.due_at(passed.snapshot) == FIRST + timedelta(hours=2)
    deliver(runtime, "o2")
    deliver(runtime, "r5")  # 4 of 5 required was not enough; 5 of 5 with 2 of 3 optional is
    [message] = messages(runtime)
    assert message.body["reason"] == "deadline:30m"


def test_two_hour_tier_triggers_with_the_missing_list(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4", "r5")
    clock.advance(2 * 3600)
    fired = runtime.tick(KEY)  # both 30m (unmet) and 2h (met) pass in one tick
    assert fired.snapshot.data.deadlines_passed == ("30m", "2h")
    [message] = messages(runtime)
    assert (message.body["reason"], message.body["missing_optional"]) == (
        "deadline:2h",
        ["o1", "o2", "o3"],
    )


def test_final_deadline_fails_the_key_with_the_reason(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3")
    clock.now = FINAL - timedelta(seconds=1)
    assert runtime.tick(KEY).snapshot.state == "partial"
    clock.now = FINAL
    failed = runtime.tick(KEY)
    assert failed.snapshot.state == "failed"
    assert failed.snapshot.data.failed_reason == "deadline final passed; missing: r4, r5"
    assert runtime.actor.due_at(failed.snapshot) is None
    assert messages(runtime) == []
    recovered = runtime.deliver(done("r4"))  # 80% of required: the final tier's condition
    assert recovered.snapshot.state == "triggered"
    assert messages(runtime)[0].body["reason"] == "deadline:final"


def test_final_deadline_triggers_when_its_condition_holds(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4")
    clock.now = FINAL
    assert runtime.tick(KEY).snapshot.state == "triggered"
    assert messages(runtime)[0].body["missing"] == ["r5"]


def test_sweeper_finds_due_keys_through_the_index(tmp_path: Path, tiers: GateSpec) -> None:
    clock = ManualClock(FIRST)
    publisher = RecordingPublisher()
    runtime = GateRuntime(GateActor(tiers), SqliteStore(tmp_path / "t.db"), publisher, clock=clock)
    for key in ("2025-11-28", "2025-11-29"):
        for name in ("r1", "r2", "r3", "r4", "r5"):
            runtime.deliver(
                done(name).__class__(
                    processor=name, key=key, status="success", execution_id=f"{key}-{name}"
                )
            )
    # the 28th's final deadline (10:30 ET on the 29th) had passed when its completions came,
    # so they triggered it at once; the 29th waits for its 2h tier
    assert runtime.load("2025-11-28").data.trigger.reason == "deadline:final"  # type: ignore[union-attr]
    assert list(runtime.store.scan(runtime.actor, due_before=FIRST)) == []
    clock.advance(2 * 3600)
    due = [s.key for s in runtime.store.scan(runtime.actor, due_before=clock())]
    assert due == ["2025-11-29"]
    report = runtime.sweep()
    assert (report.visited, len(report.published)) == (1, 1)
    assert runtime.sweep().visited == 0


def test_shipped_phase2_gate_relaxes_after_two_hours() -> None:
    spec = load_spec("phase2_to_phase3")
    clock = ManualClock(FIRST)
    runtime = GateRuntime(GateActor(spec), MemoryStore(), RecordingPublisher(), clock=clock)
    deliver(runtime, *spec.required)
    assert runtime.load(KEY).state == "partial"  # type: ignore[union-attr]
    clock.advance(2 * 3600)
    assert runtime.sweep().published
    [trigger] = [m for m in messages(runtime) if m.topic == spec.output_topic]
    assert trigger.body["reason"] == "deadline:2h"


def test_a_delivery_after_a_deadline_evaluates_it_without_waiting_for_the_sweeper(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    deliver(runtime, "r1", "r2", "r3", "r4")
    clock.advance(2 * 3600)  # the 2h tier is due, but no sweep has run
    delivery = runtime.deliver(done("r5"))
    assert delivery.snapshot.state == "triggered"
    assert delivery.snapshot.data.deadlines_passed == ("30m", "2h")
    assert messages(runtime)[0].body["reason"] == "deadline:2h"


def test_backfill_keys_ignore_the_long_gone_wall_clock_deadline(
    runtime: GateRuntime, clock: ManualClock
) -> None:
    clock.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a season replayed months later
    deliver(runtime, "r1")
    snapshot = runtime.load(KEY)
    assert snapshot is not None
    assert (snapshot.state, snapshot.data.profile) == ("partial", "backfill")
    assert runtime.actor.due_at(snapshot) == clock.now + timedelta(minutes=30)
