"""Model-based test: a gate file changes at random points between deliveries — processors
added and removed, renamed through an alias (the name producers report) or renamed outright
(the canonical name, the old one kept as an alias), the quorum changed — and each change is a
new handler, with a fresh actor, over the same store.

After every step:

- **one trigger per generation**: each generation's trigger id is published once, and only
  when that generation decided;
- **pin**: a generation decides exactly as its own definition would: a fresh key of the gate
  file as it was when the generation started, fed the same reports, is in the same state with
  the same done set, and triggers for the same reason with the same missing processors; a
  report counts when its processor is one that definition expects, reported under that
  definition's name or under a name today's file knows;
- **adopt**: every re-evaluation is recorded: each event that reaches an undecided key pinned
  to an older definition adds one ``adopt`` entry to its history, naming the new definition;
  and the key decides as the current definition would on every report of its generation.

``test_the_property_finds_a_step_that_ignores_pinning`` runs the same machine with a step that
always uses the current definition, and asserts that it is caught.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from phaseactors import (
    Completion,
    CompletionReported,
    GateActor,
    GateRuntime,
    Outcome,
    Rearm,
    RecordingPublisher,
    spec_from_mapping,
)
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.data import GateData
from phaseactors.gate.spec import GateSpec
from phaseactors.stores import MemoryStore, SqliteStore
from phaseactors.stores.base import Store
from support import KEY, ManualClock, scaled

PROCESSORS = 5
DECIDED = ("complete", "triggered")


class GateFile:
    """The gate file as a maintainer keeps it: which processors are required or optional,
    each one's canonical name, the name its producer reports now, and every name it had
    (kept as aliases while the processor is in the file)."""

    def __init__(self, on_change: str) -> None:
        self.on_change = on_change
        self.required = {0, 1, 2}
        self.optional = {3}
        self.quorum = 1.0
        self.canonical = {i: f"p{i}" for i in range(PROCESSORS)}
        self.reported = {**self.canonical, 2: "P2Job0"}  # one producer reports an alias
        self.names: dict[int, list[str]] = {i: [] for i in range(PROCESSORS)}
        self.renames = 0

    @property
    def expected(self) -> set[int]:
        return self.required | self.optional

    def spec(self) -> GateSpec:
        aliases = {
            name: self.canonical[i]
            for i in self.expected
            for name in (*self.names[i], self.reported[i])
            if name != self.canonical[i]
        }
        return spec_from_mapping(
            {
                "name": "defs",
                "on_change": self.on_change,
                "key": {"field": "game_date", "format": "date"},
                "topics": {"output": "defs-out"},
                "processors": {
                    "required": [self.canonical[i] for i in sorted(self.required)],
                    "optional": [self.canonical[i] for i in sorted(self.optional)],
                },
                "policy": {"optional_quorum": self.quorum},
                "aliases": aliases,
            }
        )

    def rename_reported(self, i: int) -> None:
        self.renames += 1
        self.names[i].append(self.reported[i])
        self.reported[i] = f"P{i}Job{self.renames}"

    def rename_canonical(self, i: int) -> None:
        self.renames += 1
        self.names[i] += [self.canonical[i], self.reported[i]]
        self.canonical[i] = self.reported[i] = f"p{i}_v{self.renames}"


class Version:
    """One version of the file, as the test remembers it: its spec, which processors it
    expects and under which canonical names."""

    def __init__(self, file: GateFile) -> None:
        self.spec = file.spec()
        self.expected = set(file.expected)
        self.canonical = dict(file.canonical)


class Report:
    """One delivery: the processor, the name it was reported under, its execution id, and
    which processors the file expected when it arrived."""

    def __init__(self, i: int, name: str, execution_id: str, expected_then: set[int]) -> None:
        self.i, self.name, self.execution_id = i, name, execution_id
        self.expected_then = expected_then


def oracle(version: Version, reports: list[Report], counts: Any) -> Snapshot[GateData]:
    """A fresh key of ``version`` fed the reports that count, under its own names."""
    actor = GateActor(version.spec)
    snapshot = actor.initial(KEY)
    for report in reports:
        if counts(version, report):
            event = CompletionReported(
                at=ManualClock().now,
                completion=Completion(
                    processor=version.canonical[report.i],
                    key=KEY,
                    status="success",
                    execution_id=report.execution_id,
                ),
            )
            snapshot = actor.step(snapshot, event).snapshot
    return snapshot


def counts_when_pinned(version: Version, report: Report) -> bool:
    """A report counts for a key pinned to ``version`` when that version expects its
    processor and it came under that version's name or under a name the file then knew."""
    return report.i in version.expected and (
        report.name == version.canonical[report.i] or report.i in report.expected_then
    )


def counts_when_current(version: Version, report: Report) -> bool:
    """Under adopt, every report of a processor the current version expects counts."""
    return report.i in version.expected


class DefinitionChanges(RuleBasedStateMachine):
    on_change = "pin"
    actor_class: type[GateActor] = GateActor

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.publisher = RecordingPublisher()
        self.store = self.make_store()
        self.file = GateFile(self.on_change)
        self.versions: dict[str, Version] = {}
        self.generation_version: Version | None = None  # what the generation decides by
        self.reports: list[Report] = []  # of this generation
        self.generation = 1
        self.runs = 0
        self.adopts_expected = 0
        self.decided_generations: set[int] = set()
        self.new_file()

    def make_store(self) -> Store:
        return MemoryStore()

    def new_file(self) -> None:
        """A handler with the file as it is now: a fresh actor, which knows no other
        definition until the store gives it one."""
        version = Version(self.file)
        self.versions.setdefault(version.spec.fingerprint, version)
        self.current = self.versions[version.spec.fingerprint]
        self.runtime = GateRuntime(
            self.actor_class(version.spec), self.store, self.publisher, clock=self.clock
        )

    def snapshot(self) -> Snapshot[GateData] | None:
        return self.runtime.load(KEY)

    # -- deliveries and operators ------------------------------------------------------------

    def before_event(self) -> Snapshot[GateData] | None:
        self.clock.advance(1)
        before = self.snapshot()
        if before is None or before.state not in DECIDED:
            adopting = (
                self.on_change == "adopt"
                and before is not None
                and before.data.definition not in (None, self.current.spec.fingerprint)
            )
            self.adopts_expected += adopting
            drifted = before is not None and before.data.definition != self.current.spec.fingerprint
            if drifted:
                event(
                    f"an event reached an undecided key on an older definition ({self.on_change})"
                )
            if before is None or adopting:  # the event starts the key, or moves it
                self.generation_version = self.current
        return before

    def after_event(self, before: Snapshot[GateData] | None) -> None:
        after = self.snapshot()
        assert after is not None
        if after.state in DECIDED:
            self.decided_generations.add(after.generation)
        if self.on_change == "adopt" and (before is None or before.state not in DECIDED):
            expected = oracle(self.current, self.reports, counts_when_current)
            assert (after.state in DECIDED) == (expected.state == "complete"), (
                f"adopt: {after.state} where the current definition gives {expected.state}"
            )

    @rule(i=st.integers(0, PROCESSORS - 1), run=st.integers(1, 2))
    def deliver(self, i: int, run: int) -> None:
        before = self.before_event()
        name = self.file.reported[i]
        execution_id = f"{i}-g{self.generation}-{run}"
        report = Report(i, name, execution_id, set(self.file.expected))
        earlier = [r for r in self.reports if r.execution_id == execution_id]
        self.reports.append(report)
        delivery = self.runtime.deliver(
            Completion(processor=name, key=KEY, status="success", execution_id=execution_id)
        )
        if name not in self.versions[self.current.spec.fingerprint].canonical.values():
            event("a report under an alias")
        assert self.generation_version is not None
        if self.on_change == "pin":
            counted = counts_when_pinned(self.generation_version, report)
            # only a report that counted left a dedup token (an unknown name leaves none)
            duplicate = any(counts_when_pinned(self.generation_version, r) for r in earlier)
            if not counted:
                assert delivery.outcome is Outcome.UNKNOWN, f"{name} counted: {delivery}"
            elif duplicate:
                assert delivery.outcome is Outcome.DUPLICATE
            else:
                assert delivery.outcome in (Outcome.APPLIED, Outcome.LATE), delivery
        self.after_event(before)

    @rule(run=st.integers(1, 2))
    def every_processor_reports(self, run: int) -> None:
        """Every processor the file expects now reports, one after another (a phase
        finishing), so that generations decide often enough for their decisions to be
        compared."""
        for i in sorted(self.file.expected):
            self.deliver(i, run)

    @rule()
    def sweep(self) -> None:
        before = self.before_event()
        self.runtime.sweep([KEY])
        if self.snapshot() is not None:
            self.after_event(before)

    @rule()
    def rearm(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None or snapshot.state not in ("triggered", "partial"):
            return
        self.clock.advance(1)
        self.runtime.send(KEY, Rearm(at=self.clock(), reason="rerun", by="ops"))
        self.generation += 1
        self.generation_version = self.current  # a new generation: the current definition
        self.reports = []

    # -- the gate file changes -----------------------------------------------------------------

    @rule(i=st.integers(0, PROCESSORS - 1), required=st.booleans())
    def add_processor(self, i: int, required: bool) -> None:
        if i in self.file.expected:
            return
        (self.file.required if required else self.file.optional).add(i)
        self.new_file()

    @rule(i=st.integers(0, PROCESSORS - 1))
    def remove_processor(self, i: int) -> None:
        if i not in self.file.expected or self.file.required == {i}:
            return
        self.file.required.discard(i)
        self.file.optional.discard(i)
        self.new_file()

    @rule(i=st.integers(0, PROCESSORS - 1), outright=st.booleans())
    def rename_processor(self, i: int, outright: bool) -> None:
        if i not in self.file.expected:
            return
        if outright:
            self.file.rename_canonical(i)
        else:
            self.file.rename_reported(i)
        self.new_file()

    @rule(quorum=st.sampled_from([0.0, 0.5, 1.0]))
    def change_quorum(self, quorum: float) -> None:
        self.file.quorum = quorum
        self.new_file()

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def one_trigger_per_generation(self) -> None:
        published = [m.entry_id for m in self.publisher.messages]
        assert len(published) == len(set(published)), published
        assert set(published) == {f"defs/{KEY}/{g}" for g in self.decided_generations}
        snapshot = self.snapshot()
        if snapshot is not None:
            assert snapshot.outbox == ()

    @invariant()
    def the_generation_is_on_the_definition_it_started_with(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None or self.generation_version is None:
            return
        assert snapshot.data.definition == self.generation_version.spec.fingerprint

    @invariant()
    def a_pinned_generation_decides_as_its_own_definition(self) -> None:
        snapshot = self.snapshot()
        if self.on_change != "pin" or snapshot is None or self.generation_version is None:
            return
        expected = oracle(self.generation_version, self.reports, counts_when_pinned)
        assert set(snapshot.data.done) == set(expected.data.done)
        assert (snapshot.state in DECIDED) == (expected.state == "complete"), (
            f"{snapshot.state}, where its own definition gives {expected.state}"
        )
        if expected.data.trigger is not None:
            trigger = snapshot.data.trigger
            assert trigger is not None
            assert (trigger.reason, trigger.missing) == (
                expected.data.trigger.reason,
                expected.data.trigger.missing,
            )

    @invariant()
    def every_adoption_is_recorded(self) -> None:
        snapshot = self.snapshot()
        adopted = [h for h in snapshot.history if h.event == "adopt"] if snapshot else []
        assert len(adopted) == self.adopts_expected
        for entry in adopted:
            assert entry.cause.startswith("on_change = adopt: definition ")
            assert entry.cause.split(" -> ")[1][:16] in self.versions

    def teardown(self) -> None:
        if self.decided_generations:
            event("reached: trigger")
        if self.generation > 1:
            event("reached: rearm")
        self.store.close()


class AdoptingDefinitionChanges(DefinitionChanges):
    on_change = "adopt"


class SqliteDefinitionChanges(DefinitionChanges):
    def make_store(self) -> Store:
        self.directory = Path(tempfile.mkdtemp(prefix="phaseactors-"))
        return SqliteStore(self.directory / "actors.db")

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.directory, ignore_errors=True)


class AlwaysTheCurrentDefinition(GateActor):
    """Broken on purpose: every key steps under the gate file as it is now, whatever
    definition it started with (what a gate did before definitions were versioned)."""

    def spec_of(self, fingerprint: str | None) -> GateSpec:
        return self.spec


class IgnoringPinning(DefinitionChanges):
    actor_class = AlwaysTheCurrentDefinition


STEPS = settings(
    max_examples=scaled(100),
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow],
)

TestPinnedDefinitionChanges = DefinitionChanges.TestCase
TestPinnedDefinitionChanges.settings = STEPS
TestAdoptedDefinitionChanges = AdoptingDefinitionChanges.TestCase
TestAdoptedDefinitionChanges.settings = STEPS
TestSqliteDefinitionChanges = SqliteDefinitionChanges.TestCase
TestSqliteDefinitionChanges.settings = settings(
    max_examples=scaled(20), stateful_step_count=25, suppress_health_check=[HealthCheck.too_slow]
)


def test_the_property_finds_a_step_that_ignores_pinning(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(
            IgnoringPinning,
            # A short run, shown as found: shrinking it would cost more than the search.
            settings=settings(
                STEPS,
                stateful_step_count=12,
                report_multiple_bugs=False,
                print_blob=False,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
            ),
        )
    with capsys.disabled():
        print(f"\n--- counterexample found for a step that ignores pinning: {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
