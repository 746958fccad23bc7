"""The model-based state machine: a generated gate file, a key at a calendar or DST edge and
a start time around its profiles; Hypothesis then delivers completions in every spelling
(redeliveries, reused message ids, failures), moves the clock onto tier boundaries (exactly
at, a microsecond before or after), sweeps, fails publishes, sends operator commands and
concurrent bursts. After every step the key as stored must equal the reference model's
(model.py): state, sets, trigger reason and moment, the sweeper's due time, and the
published messages.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, event, note, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from model import Reference
from observe import assert_agrees, messages, observe

from phaseactors import (
    Completion,
    GateActor,
    GateRuntime,
    PublishFailed,
    RecordingPublisher,
    TransitionRefused,
    spec_from_mapping,
)
from phaseactors.core.actor import Outcome
from phaseactors.stores import MemoryStore
from phaseactors.stores.base import Store
from phaseactors.testing.strategies import AROUND, EDGE_KEYS, SPELLINGS, gate_specs, spelled
from support import HUNT_PHASES, ManualClock, scaled

STATUSES = ("success", "partial", "no_data", "failed")
MESSAGE_IDS = (None, None, "m1", "m2", "m3")  # few, so that different reports share one
#: Where the first step happens, from midnight of the key's date in the gate's zone.
STARTS = tuple(timedelta(hours=h) for h in (-5, 0, 8, 10.5, 16.999, 17, 20, 26, 34.5, 50, 56, 80))
#: What each run of each store reached, for the acceptance check in the tests.
REACH: dict[str, Counter[str]] = {}
#: The tallies of the model-based runs of this session, printed at its end (conftest.py).
REPORTED: dict[str, Counter[str]] = {}

#: The budget of the memory run (test_gate_stateful.py), the others' a share of it. Its
#: examples are cheap (no threads, no files), so it runs many: it is the run that must find
#: every broken rule (test_rule_teeth.py hunts with its settings), the rarest of them (a tier
#: passing twice) in one example of about a hundred. A failure shrinks without the explain
#: phase (HUNT_PHASES), so that it is reported in seconds.
MODEL_BASED = settings(
    max_examples=scaled(600),
    stateful_step_count=20,
    phases=[Phase[p] for p in HUNT_PHASES],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class GateRules(RuleBasedStateMachine):
    """One key of one generated gate, on the store ``make_store`` returns."""

    store_name = "memory"
    actor_class: Callable[[Any], GateActor] = GateActor
    #: Concurrent bursts (SQLite, Firestore) make a run depend on thread timing; without them
    #: (memory) every run replays exactly, so a counterexample shrinks.
    bursts = False

    def make_store(self) -> Store:
        return MemoryStore()

    def other_handle(self) -> Store:
        """A second connection to the store (for concurrent deliveries)."""
        return self.runtime.store

    def close(self) -> None:
        """Release what ``make_store`` opened."""

    # -- set-up --------------------------------------------------------------------------

    @initialize(
        gate=gate_specs(),
        key=st.sampled_from(EDGE_KEYS),
        start=st.sampled_from(STARTS),
        first=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), max_size=3),
        on_a_limit=st.none() | st.tuples(st.integers(0, 3), st.sampled_from(AROUND)),
    )
    def open_gate(
        self,
        gate: dict[str, Any],
        key: str,
        start: timedelta,
        first: list[tuple[int, int]],
        on_a_limit: tuple[int, timedelta] | None,
    ) -> None:
        """A generated gate and key, and the key's first successes (so that a run whose
        drawn rules are only sweeps, time or operators still has a key to act on), reported
        at ``start`` or on a profile's limit or a tier's time (``on_a_limit``)."""
        zone = ZoneInfo(gate["key"]["timezone"])
        midnight = datetime.combine(date.fromisoformat(key), time(), tzinfo=zone)
        self.key = key
        self.gate = gate
        self.model = Reference(gate, key)
        self.clock = ManualClock(midnight.astimezone(UTC) + start)
        self.publisher = RecordingPublisher()
        self.actor = self.actor_class(spec_from_mapping(gate))
        self.runtime = GateRuntime(self.actor, self.make_store(), self.publisher, clock=self.clock)
        self.sent: list[Completion] = []
        self.reached: set[str] = set()
        note(f"gate: {gate}\nkey: {key}, first step at {self.clock.now.isoformat()}")
        if first and on_a_limit is not None:
            self.time_passes(*on_a_limit, 60)
        for processor, spelling in first:
            self.report_done(processor, spelling, 1, None)

    # -- completions ---------------------------------------------------------------------

    def _canonical(self, processor: int) -> str:
        expected = [*self.gate["processors"]["required"], *self.gate["processors"]["optional"]]
        return expected[processor % len(expected)]

    def _completion(
        self, processor: int, spelling: str, run: int, status: str, message: str | None
    ) -> Completion:
        canonical = self._canonical(processor)
        name, table = spelled(self.gate, canonical, spelling)
        return Completion(
            processor=name,
            key=self.key,
            status=status,
            execution_id=f"{canonical}-run-{run}",
            message_id=message,
            output_table=table,
        )

    def _expect(self, model: Reference, completion: Completion) -> str:
        return model.completion(
            completion.processor,
            completion.execution_id,
            completion.status.value,
            self.clock(),
            completion.message_id,
            completion.output_table,
        )

    @rule(
        processor=st.integers(0, 5),
        spelling=st.sampled_from(SPELLINGS),
        run=st.integers(1, 3),
        status=st.sampled_from(STATUSES),
        message=st.sampled_from(MESSAGE_IDS),
        publish_fails=st.booleans(),
    )
    def report(
        self,
        processor: int,
        spelling: str,
        run: int,
        status: str,
        message: str | None,
        publish_fails: bool,
    ) -> None:
        completion = self._completion(processor, spelling, run, status, message)
        self.sent.append(completion)
        self._deliver(completion, publish_fails)

    @rule(
        processor=st.integers(0, 5),
        spelling=st.integers(0, 7),
        run=st.integers(1, 2),
        message=st.sampled_from(MESSAGE_IDS),
    )
    def report_done(self, processor: int, spelling: int, run: int, message: str | None) -> None:
        """The common case, drawn more often: a success in a spelling this gate's names
        accept (as the model reads them), so that keys make progress."""
        canonical = self._canonical(processor)
        accepted = [
            s for s in SPELLINGS[:8] if self.model.resolve(*spelled(self.gate, canonical, s))
        ]
        completion = self._completion(processor, accepted[spelling % len(accepted)], run,
                                      "success", message)  # fmt: skip
        self.sent.append(completion)
        self._deliver(completion, False)

    report_more = report_done

    @rule(spelling=st.integers(0, 7), run=st.integers(1, 2))
    def every_required_reports(self, spelling: int, run: int) -> None:
        """Every processor the key's profile requires (as the model reads the profile)
        reports a success, one after another: keys reach the optional quorum's boundary."""
        profile = self.model.profile
        required = profile.required if profile else set(self.gate["processors"]["required"])
        expected = [*self.gate["processors"]["required"], *self.gate["processors"]["optional"]]
        for name in sorted(required):
            self.report_done(expected.index(name), spelling, run, None)

    @rule(missing=st.integers(0, 5), spelling=st.integers(0, 7), run=st.integers(1, 2))
    def all_but_one_report(self, missing: int, spelling: int, run: int) -> None:
        """Every expected processor but one reports a success: the phase waits for its last
        producer, required or optional."""
        expected = [*self.gate["processors"]["required"], *self.gate["processors"]["optional"]]
        late = missing % len(expected)
        for index in range(len(expected)):
            if index != late:
                self.report_done(index, spelling, run, None)

    @precondition(lambda self: self.sent)
    @rule(index=st.integers(0, 30), publish_fails=st.booleans())
    def redeliver(self, index: int, publish_fails: bool) -> None:
        """Pub/Sub delivers the same message again."""
        self._deliver(self.sent[index % len(self.sent)], publish_fails)

    def _deliver(self, completion: Completion, publish_fails: bool) -> None:
        outcome = self._expect(self.model, completion)
        self.reached.add(outcome)
        what = f"{completion.processor!r} ({completion.output_table}) {completion.status.value}"
        self._call(lambda: self.runtime.deliver(completion), publish_fails, True, outcome, what)

    @precondition(lambda self: self.bursts)
    @rule(
        picks=st.lists(
            st.tuples(
                st.integers(0, 5),
                st.sampled_from(SPELLINGS[:7]),
                st.integers(1, 2),
                st.sampled_from(STATUSES),
            ),
            min_size=2,
            max_size=3,
        )
    )
    def burst(self, picks: list[tuple[int, str, int, str]]) -> None:
        """Deliveries at the same instant from threads with their own store handles. The
        result must be the model's for one order of them (linearizability)."""
        batch = [self._completion(*pick, None) for pick in picks]
        self.sent.extend(batch)
        outcomes: list[Outcome | None] = [None] * len(batch)
        errors: list[BaseException] = []
        start = threading.Barrier(len(batch))

        def work(i: int) -> None:
            runtime = GateRuntime(self.actor, self.other_handle(), self.publisher, clock=self.clock)
            start.wait()
            try:
                outcomes[i] = runtime.deliver(batch[i]).outcome
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batch))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == [], errors
        actual = self._observed()
        tried = []
        for order in itertools.permutations(range(len(batch))):
            model = copy.deepcopy(self.model)
            expected: list[str | None] = [None] * len(batch)
            for i in order:
                expected[i] = self._expect(model, batch[i])
            if model.state == "complete":
                model.published()
            tried.append((order, expected, model.view()))
            seen = [o.value if o else None for o in outcomes]
            if model.view() == actual and _agree(expected, seen) and model.sent == self._messages():
                self.model = model
                self.reached.add("burst")
                if "queued" in seen:
                    self.reached.add("queued")
                return
        note("\n".join(f"order {o}: outcomes {e}, view {v}" for o, e, v in tried))
        raise AssertionError(
            f"a burst of {[c.processor for c in batch]} matches no order of the model: "
            f"library {actual}, outcomes {outcomes}"
        )

    # -- time ----------------------------------------------------------------------------

    @rule(
        boundary=st.none() | st.integers(0, 3),
        around=st.sampled_from(AROUND),
        seconds=st.sampled_from((1, 59, 1800, 3 * 3600, 86400)),
    )
    def time_passes(self, boundary: int | None, around: timedelta, seconds: int) -> None:
        """Move to a tier's time (or a profile's limit), exactly or a microsecond off; or
        let ``seconds`` pass (when ``boundary`` is None, or no boundary is ahead)."""
        ahead = [t + around for t in self.model.boundaries() if t + around > self.clock.now]
        if boundary is not None and ahead:
            self.clock.now = ahead[boundary % len(ahead)]
        else:
            self.clock.advance(seconds)
        note(f"clock -> {self.clock.now.isoformat()}")

    @rule(
        boundaries=st.integers(1, 3),
        around=st.sampled_from(AROUND),
        publish_fails=st.booleans(),
    )
    def sweeper_runs_through(self, boundaries: int, around: timedelta, publish_fails: bool) -> None:
        """The scheduled sweeper runs on each of the next ``boundaries`` tier times or profile
        limits (exactly, or a microsecond off), so that a key's tiers pass one after another;
        the first sweep's publish fails if ``publish_fails``."""
        for i in range(boundaries):
            self.time_passes(0, around, 60)
            self.sweep(publish_fails and i == 0)

    @rule(publish_fails=st.booleans())
    def sweep(self, publish_fails: bool) -> None:
        if publish_fails:
            self.publisher.fail_next(1)
        if self.model.exists:
            self.model.tick(self.clock())
        try:
            report = self.runtime.sweep()
        finally:
            self.publisher.clear_failures()
        publishing = self.model.state == "complete"
        if publishing and not publish_fails:
            self.model.published()
        assert bool(report.errors) == (publishing and publish_fails), report.errors
        self._check("a sweep")

    # -- operators -----------------------------------------------------------------------

    #: Operators act rarely (a forced trigger ends what the rules would decide), rearming
    #: most often, so that generations 2 and 3 happen.
    @rule(command=st.sampled_from(("rearm", "rearm", "fail", "force")), publish_fails=st.booleans())
    def operator(self, command: str, publish_fails: bool) -> None:
        allowed = getattr(self.model, command)(self.clock())
        if allowed:
            self.reached.add(command)
        call = getattr(self.runtime, command)
        self._call(
            lambda: call(self.key, reason="test", by="ops"), publish_fails, allowed, None, command
        )

    # -- checking ------------------------------------------------------------------------

    def _call(
        self,
        call: Callable[[], Any],
        publish_fails: bool,
        allowed: bool,
        outcome: str | None,
        what: str,
    ) -> None:
        """Run one runtime call and hold it to the model: refused exactly when the model
        refuses, a pending trigger published (or the failure raised), the same outcome."""
        if publish_fails:
            self.publisher.fail_next(1)
        raised: BaseException | None = None
        try:
            delivery = call()
        except (PublishFailed, TransitionRefused) as exc:
            raised = exc
        finally:
            self.publisher.clear_failures()
        if not allowed:
            assert isinstance(raised, TransitionRefused), f"{what} was not refused"
            self._check(what)
            return
        assert not isinstance(raised, TransitionRefused), f"{what} was refused: {raised}"
        publishing = self.model.state == "complete"
        if publishing and not publish_fails:
            self.model.published()
        assert isinstance(raised, PublishFailed) == (publishing and publish_fails), raised
        if outcome is not None and raised is None:
            assert delivery.outcome.value == outcome, f"{what}: {delivery.outcome} != {outcome}"
        self._check(what)

    def _observed(self) -> dict[str, Any] | None:
        snapshot = self.runtime.load(self.key)
        return None if snapshot is None else observe(self.actor, snapshot)

    def _messages(self) -> list[dict[str, Any]]:
        return messages(self.publisher)

    def _check(self, what: str) -> None:
        actual = self._observed()
        expected = self.model.view() if self.model.exists else None
        if expected is None or actual is None:
            assert actual == expected, f"after {what}: library {actual}, model {expected}"
        else:
            assert_agrees(expected, actual, what)
        assert self._messages() == self.model.sent, "the published triggers differ"
        if self.model.trigger is not None:
            self.reached.add("trigger")
        if self.model.state == "failed":
            self.reached.add("failed")

    @invariant()
    def agrees_with_the_model(self) -> None:
        if getattr(self, "model", None) is not None:
            self._check("the step")

    def teardown(self) -> None:
        try:
            reached = getattr(self, "reached", set())
            tally = REACH.setdefault(self.store_name, Counter())
            tally["examples"] += 1
            for what in sorted(reached):
                tally[what] += 1
                event(f"reached: {what}")
            target(float(len(self.model.sent) if reached else 0), label="triggers published")
        finally:
            if getattr(self, "runtime", None) is not None:
                self.close()


def _agree(expected: list[str | None], seen: list[str | None]) -> bool:
    """The outcomes of a burst agree with the model's for one order. A delivery that Firestore
    queued behind a concurrent one was acknowledged before it was applied: ``queued`` stands
    for the model's outcome, whichever it is, and the key as stored (compared apart) shows
    that it was applied. One of a burst always returns its own outcome: the folder, or the
    delivery whose direct commit won."""
    if all(s == "queued" for s in seen):
        return False
    return all(s == "queued" or s == e for e, s in zip(expected, seen, strict=True))
