"""The reference model: what a gate must decide, written from docs/gate-spec.md and
docs/concepts.md with plain sets and datetimes.

It reads the same mapping a gate file holds (never a ``GateSpec``) and imports nothing from
phaseactors: names, profiles, quorums and deadline tiers are interpreted here as the
documentation states them, so a bug in the library's policy code cannot hide by being shared.
Where the documentation is silent, the choice is named in a comment (and in
docs/correctness.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DONE_DEFAULT = ("success", "partial", "no_data")
UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
UNIT["s"] = timedelta(seconds=1)


def duration(text: str) -> timedelta:
    """``1h30m`` → 90 minutes (the spec's duration syntax)."""
    return sum((int(n) * UNIT[u] for n, u in re.findall(r"(\d+)([dhms])", text)), timedelta())


def wall(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def snake(name: str) -> str:
    """CamelCase → snake_case: an underscore before each capital that follows a lower-case
    letter or a digit, then lower case (``PlayerGameSummary`` → ``player_game_summary``)."""
    out = "".join(
        f"_{c}" if c.isupper() and i and name[i - 1].islower() | name[i - 1].isdigit() else c
        for i, c in enumerate(name)
    )
    return out.lower()


@dataclass
class Profile:
    name: str
    required: set[str]
    optional: set[str]
    quorum: float
    tiers: list[dict[str, Any]]


@dataclass
class Reference:
    """One key of one gate, as the documentation says it behaves."""

    gate: dict[str, Any]
    key: str
    state: str = "waiting"
    generation: int = 1
    exists: bool = False
    profile: Profile | None = None
    seen: set[str] = field(default_factory=set)  # what already applied: runs and message ids
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)  # latest report of the generation failed
    failed_by: str | None = None  # processor | deadline | operator
    late: set[tuple[str, str]] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    first: datetime | None = None
    passed: list[str] = field(default_factory=list)
    trigger: dict[str, Any] | None = None
    message: dict[str, Any] | None = None  # the trigger's message, as the next phase sees it
    sent: list[dict[str, Any]] = field(default_factory=list)  # every message published
    reached: set[str] = field(default_factory=set)  # trigger, failed, rearm: for statistics

    # -- the gate file, read as documented ------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.gate["key"].get("timezone", "UTC"))

    @property
    def expected(self) -> set[str]:
        processors = self.gate["processors"]
        return set(processors["required"]) | set(processors.get("optional", []))

    def resolve(self, name: str, output_table: str | None = None) -> str | None:
        """The name itself, then aliases, then the normalisations in order (qualifier,
        prefixes, suffixes, CamelCase); then the same for output_table."""
        rules, table = self.gate.get("names", {}), dict(self.gate.get("aliases", {}))
        table.update({p: p for p in self.expected})
        forms = [name]
        if rules.get("dataset_qualified") and "." in name:
            forms.append(name.split(".")[-1])
        base = forms[-1]
        for prefix in rules.get("strip_prefixes", []):
            base = base[len(prefix) :] if base.startswith(prefix) and base != prefix else base
        for suffix in rules.get("strip_suffixes", []):
            base = base[: -len(suffix)] if base.endswith(suffix) and base != suffix else base
        forms += [base] + ([snake(base)] if rules.get("camel_case") else [])
        found = next((table[f] for f in forms if f in table), None)
        if found is None and output_table and rules.get("match_output_table"):
            return self.resolve(output_table)
        return found

    def choose_profile(self, at: datetime) -> Profile:
        """The first profile whose condition the first event's local time meets, else the
        default one ([processors] and [policy])."""
        local, day = at.astimezone(self.zone), date.fromisoformat(self.key)
        for name, p in self.gate.get("profiles", {}).items():
            if "first_event_after_days" in p:
                hit = (local.date() - day).days >= p["first_event_after_days"]
            else:
                limit = datetime.combine(
                    day + timedelta(days=p.get("day_offset", 0)),
                    wall(p["first_event_before"]),
                    tzinfo=self.zone,
                )
                hit = local < limit
            if hit:
                names = p.get("deadlines")
                tiers = [
                    t for t in self.gate.get("deadlines", []) if names is None or t["name"] in names
                ]
                return Profile(
                    name,
                    set(p["required"]),
                    self.expected - set(p["required"]),
                    p.get("optional_quorum", 0.0),
                    tiers,
                )
        processors = self.gate["processors"]
        return Profile(
            "default",
            set(processors["required"]),
            set(processors.get("optional", [])),
            self.gate.get("policy", {}).get("optional_quorum", 0.0),
            list(self.gate.get("deadlines", [])),
        )

    # -- time ------------------------------------------------------------------------------

    def due(self, tier: dict[str, Any]) -> datetime | None:
        """A relative tier counts from the generation's first completion; a wall-clock one is
        that local time on the key's date plus day_offset days, in the gate's zone (a local
        time a DST change skips or repeats is read with the earlier offset, fold=0)."""
        if "after_first" in tier:
            return None if self.first is None else self.first + duration(tier["after_first"])
        day = date.fromisoformat(self.key) + timedelta(days=tier.get("day_offset", 0))
        return datetime.combine(day, wall(tier["at"]), tzinfo=self.zone).astimezone(UTC)

    def due_at(self) -> datetime | None:
        """The next time a tick matters: the earliest tier not passed, for an undecided key."""
        if self.state not in ("waiting", "partial") or self.profile is None:
            return None
        times = [
            d
            for t in self.profile.tiers
            if t["name"] not in self.passed and (d := self.due(t)) is not None
        ]
        return min(times, default=None)

    def boundaries(self) -> list[datetime]:
        """Every tier time this key can reach now, and before its first event the times
        where profiles start or stop matching (for clocks that land on them)."""
        tiers = self.profile.tiers if self.profile else self.gate.get("deadlines", [])
        times = [d for t in tiers if (d := self.due(t)) is not None]
        day = date.fromisoformat(self.key)
        for p in self.gate.get("profiles", {}).values() if self.profile is None else ():
            days = p.get("first_event_after_days", p.get("day_offset", 0))
            at = wall(p.get("first_event_before", "00:00"))
            local = datetime.combine(day + timedelta(days=days), at, tzinfo=self.zone)
            times.append(local.astimezone(UTC))
        return sorted(times)

    # -- the decision ----------------------------------------------------------------------

    def reason(self) -> str | None:
        """Why the key may trigger now: all required done and the optional quorum met
        (``all_done`` when every expected processor is done, else ``quorum``), or a passed
        tier's condition (the first such tier in the file's order), or None."""
        p = self.profile
        assert p is not None

        def share(names: set[str]) -> float:
            return 1.0 if not names else len(names & self.done) / len(names)

        if p.required <= self.done and share(p.optional) >= p.quorum:
            return "all_done" if p.required | p.optional <= self.done else "quorum"
        for tier in p.tiers:
            if (
                tier["name"] in self.passed
                and share(p.required) >= tier.get("required", 1.0)
                and share(p.optional) >= tier.get("optional", 0.0)
                and len(self.done & (p.required | p.optional)) >= tier.get("min_done", 0)
            ):
                return f"deadline:{tier['name']}"
        return None

    def decide(self, reason: str, at: datetime) -> None:
        self.state, self.failed_by = "complete", None
        self.reached.add("trigger")
        self.trigger = {
            "generation": self.generation,
            "reason": reason,
            "decided_at": at,
            "published": False,
        }
        self.message = {
            "trigger_id": f"{self.gate['name']}/{self.key}/{self.generation}",
            "reason": reason,
            "completed": sorted(self.done),
        }

    def tick(self, at: datetime) -> bool:
        """Tiers due by ``at`` pass (once per generation); then the key triggers if a
        condition holds, or fails if a tier that passed says ``otherwise = "fail"``."""
        if self.state not in ("waiting", "partial") or self.profile is None:
            return False
        now = [
            t
            for t in self.profile.tiers
            if t["name"] not in self.passed and (d := self.due(t)) is not None and d <= at
        ]
        if not now:
            return False
        self.passed += [t["name"] for t in now]
        if (why := self.reason()) is not None:
            self.decide(why, at)
        elif any(
            t.get("otherwise") == "fail" for t in self.profile.tiers if t["name"] in self.passed
        ):
            self.state, self.failed_by = "failed", "deadline"
            self.reached.add("failed")
        return True

    # -- events ----------------------------------------------------------------------------

    def _touch(self, at: datetime) -> None:
        """The key's first event freezes its profile (operators' commands included)."""
        if not self.exists:
            self.exists, self.profile = True, self.choose_profile(at)

    def completion(
        self,
        name: str,
        execution_id: str,
        status: str,
        at: datetime,
        message_id: str | None = None,
        output_table: str | None = None,
    ) -> str:
        """Apply one report; returns the outcome (applied, duplicate, late, unknown)."""
        processor = self.resolve(name, output_table)
        if processor is None:  # recorded apart, counted every time, no dedup token
            self._touch(at)
            self.unknown.add(name)
            return "unknown"
        tokens = {f"run {processor} {execution_id}"} | (
            {f"msg {message_id}"} if message_id else set()
        )
        if tokens & self.seen:
            return "duplicate"
        self._touch(at)
        self.seen |= tokens
        if self.state in ("complete", "triggered"):
            self.late.add((processor, execution_id))
            return "late"
        assert self.profile is not None
        self.first = self.first or at
        ok = status in self.gate.get("statuses", {}).get("done", DONE_DEFAULT)
        (self.done.add if ok else self.failed.add)(processor)
        if ok:
            self.failed.discard(processor)
        outstanding = {p for p in self.failed if p in self.profile.required} - self.done
        if ok and (why := self.reason()) is not None:
            self.decide(why, at)
        elif ok and self.state == "failed" and self.failed_by == "processor" and not outstanding:
            self.state, self.failed_by = "partial", None
        elif ok and self.state == "waiting":
            self.state = "partial"
        elif not ok and self.state in ("waiting", "partial") and processor in outstanding:
            self.state, self.failed_by = "failed", "processor"
            self.reached.add("failed")
        self.tick(at)
        return "applied"

    def force(self, at: datetime) -> bool:
        self._touch(at)
        if self.state not in ("waiting", "partial", "failed"):
            return False
        self.decide("forced", at)
        return True

    def fail(self, at: datetime) -> bool:
        if self.state not in ("waiting", "partial"):
            return False
        self._touch(at)
        self.state, self.failed_by = "failed", "operator"
        self.reached.add("failed")
        return True

    def rearm(self, at: datetime) -> bool:
        """A new generation forgets the completions, not the profile or the dedup record."""
        if self.state not in ("triggered", "failed", "partial"):
            return False
        self.generation += 1
        self.reached.add("rearm")
        self.state, self.failed_by, self.trigger, self.message = "waiting", None, None, None
        self.first, self.passed = None, []
        self.done, self.failed, self.late, self.unknown = set(), set(), set(), set()
        return True

    def published(self) -> None:
        """The pending trigger went out (at least once: a fault may send another copy)."""
        if self.state == "complete":
            assert self.trigger is not None
            assert self.message is not None
            self.state, self.trigger["published"] = "triggered", True
            self.sent.append(self.message)

    def view(self) -> dict[str, Any]:
        """What the tests compare with the library's snapshot (see observe.py)."""
        return {
            "state": self.state,
            "generation": self.generation,
            "done": sorted(self.done),
            "failed": sorted(self.failed),
            "late": sorted(self.late),
            "unknown": sorted(self.unknown),
            "trigger": self.trigger,
            "due_at": self.due_at(),
            "passed": sorted(self.passed),  # each tier once per generation
            "profile": self.profile.name if self.profile else None,
        }
