"""Deliberately broken copies of the gate's rules: each is a realistic way to get *when* a key
triggers wrong, applied by monkeypatching the library for one test. They live in the test
tree only; test_rule_teeth.py shows the model-based suite finds every one of them."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

import attrs
import pytest

from phaseactors.gate.actor import GateActor
from phaseactors.gate.events import CompletionReported
from phaseactors.gate.keys import KeyFormat
from phaseactors.gate.model import GateModel
from phaseactors.gate.names import NameResolver
from phaseactors.gate.policy import Profile, upcoming
from phaseactors.gate.spec import GateSpec


def quorum_by_counting(mp: pytest.MonkeyPatch) -> None:
    """Complete once enough entries exist, whichever processors they are."""

    def satisfied(self: Profile, done: Collection[str]) -> bool:
        needed = len(self.required) + math.ceil(self.optional_quorum * len(self.optional))
        return len(done) >= needed

    mp.setattr(Profile, "satisfied", satisfied)


def strict_optional_quorum(mp: pytest.MonkeyPatch) -> None:
    """The optional share must exceed the quorum instead of reaching it."""

    def satisfied(self: Profile, done: Collection[str]) -> bool:
        share = sum(p in done for p in self.optional) / len(self.optional) if self.optional else 1
        return all(p in done for p in self.required) and share > self.optional_quorum

    mp.setattr(Profile, "satisfied", satisfied)


def tier_fires_twice(mp: pytest.MonkeyPatch) -> None:
    """Due tiers are computed without the ones already passed, so a tier passes again."""

    def due_tiers(self: GateModel, at: datetime) -> list[Any]:
        pending = upcoming(
            self.spec.tiers(self.profile), self.spec.key, self.snapshot.key,
            self.first_completion_at, (),
        )  # fmt: skip
        return [tier for tier, due in pending if due <= at]

    mp.setattr(GateModel, "due_tiers", due_tiers)


def tier_boundary_moved(mp: pytest.MonkeyPatch) -> None:
    """A tier is due only strictly after its time, one instant late."""

    def due_tiers(self: GateModel, at: datetime) -> list[Any]:
        pending = upcoming(
            self.spec.tiers(self.profile), self.spec.key, self.snapshot.key,
            self.first_completion_at, self.deadlines_passed,
        )  # fmt: skip
        return [tier for tier, due in pending if due < at]

    mp.setattr(GateModel, "due_tiers", due_tiers)


def deadlines_on_the_wall_clock(mp: pytest.MonkeyPatch) -> None:
    """Whether a tier is due is judged by the host's clock, not the event's time."""
    original = GateModel.due_tiers

    def due_tiers(self: GateModel, at: datetime) -> list[Any]:
        return original(self, datetime.now(UTC))

    mp.setattr(GateModel, "due_tiers", due_tiers)


def naive_local_deadline(mp: pytest.MonkeyPatch) -> None:
    """A wall-clock tier's time is a naive local datetime, read in the host's zone."""

    def local_datetime(self: KeyFormat, key: str, at: time) -> datetime:
        return datetime.combine(date.fromisoformat(key), at)

    mp.setattr(KeyFormat, "local_datetime", local_datetime)


def profile_in_host_zone(mp: pytest.MonkeyPatch) -> None:
    """The profile is chosen from the first event's time in the host's zone."""

    def choose_profile(self: GateSpec, key: str, first_event: datetime) -> Profile:
        local = first_event.astimezone()
        for profile in self.profiles:
            if profile.matches(date.fromisoformat(key), local):
                return profile
        return self.profile("default")

    mp.setattr(GateSpec, "choose_profile", choose_profile)


def no_message_id_dedup(mp: pytest.MonkeyPatch) -> None:
    """Only (processor, execution id) is deduplicated; the transport's message id is not."""
    original = GateActor._completion

    def completion(self: GateActor, snapshot: Any, event: CompletionReported) -> Any:
        anonymous = attrs.evolve(event.completion, message_id=None)
        return original(self, snapshot, attrs.evolve(event, completion=anonymous))

    mp.setattr(GateActor, "_completion", completion)


def resolver_by_prefix(mp: pytest.MonkeyPatch) -> None:
    """A reported name resolves to the first expected name it starts with."""

    def lookup(self: NameResolver, name: str) -> str | None:
        for candidate in self._rules.candidates(name):
            for known, canonical in self._table.items():
                if candidate.startswith(known):
                    return canonical
        return None

    mp.setattr(NameResolver, "_lookup", lookup)


#: Every rule-class variant, by what it breaks.
RULE_VARIANTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "quorum by counting entries": quorum_by_counting,
    "optional quorum made strict": strict_optional_quorum,
    "a tier firing twice": tier_fires_twice,
    "a tier boundary moved by one instant": tier_boundary_moved,
    "deadlines on the wall clock": deadlines_on_the_wall_clock,
    "wall-clock tiers on a naive local date": naive_local_deadline,
    "the profile chosen in the host's zone": profile_in_host_zone,
    "message-id dedup removed": no_message_id_dedup,
    "a name resolver matching by prefix": resolver_by_prefix,
}


@contextmanager
def broken(variant: str) -> Iterator[None]:
    """Apply one variant for the duration of a ``with`` block."""
    with pytest.MonkeyPatch.context() as mp:
        RULE_VARIANTS[variant](mp)
        yield
