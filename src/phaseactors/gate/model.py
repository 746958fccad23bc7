"""Guards and actions of :class:`~phaseactors.gate.machine.GateMachine`, on a working copy.

Completion is decided by membership: the key is covered when every required processor (by
canonical name) has a done report. Entering ``complete`` appends exactly one trigger to the
outbox; a second decision in the same generation is a bug and aborts the step. The first
report, the trigger decision and a failure are announced, and failures and deadlines that
pass without a trigger raise alerts, each once per generation (:mod:`.announce`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import attrs

from ..core.machine_actor import ActorModel
from ..limits import MAX_LATE_RECORDS
from .announce import DEADLINE_PASSED, FAILED, announce, place, raise_alert
from .completion import Completion
from .data import CompletionRecord, GateData
from .lifecycle import LifecycleEvent
from .policy import DeadlineTier, upcoming
from .spec import DEFAULT_PROFILE, GateSpec
from .trigger import decide_trigger

__all__ = ["GateModel"]

_NO_PAYLOAD: Mapping[str, Any] = {}


class GateModel(ActorModel[GateData]):
    """The gate's working copy: done / failed / late records and the trigger decision.

    ``spec`` is the gate as it is now; a snapshot pinned to another definition is worked on
    with the gate as that key sees it, which ``resolve`` gives for the snapshot's fingerprint
    (the actor's registry: no I/O)."""

    audited = frozenset({"force", "fail", "rearm", "tick", "adopt", "migrate"})

    def __init__(
        self, spec: GateSpec, resolve: Callable[[str | None], GateSpec] | None = None
    ) -> None:
        self.current = spec
        self.spec = spec
        self._resolve = resolve or (lambda fingerprint: spec)

    def load_data(self, data: GateData) -> None:
        self.data = data
        self.spec = self._resolve(data.definition)
        self.definition = data.definition
        self.profile = self.spec.profile(data.profile)
        self.deadlines_passed = data.deadlines_passed
        self.just_passed: tuple[str, ...] = ()
        self.done = dict(data.done)
        self.failures = dict(data.failures)
        self.failure_counts = dict(data.failure_counts)
        self.late = list(data.late)
        self.late_dropped = data.late_dropped
        self.trigger = data.trigger
        self.first_completion_at = data.first_completion_at
        self.failed_reason = data.failed_reason
        self.failure_kind = data.failure_kind
        self.announced = list(data.announced)

    def freeze_data(self) -> GateData:
        return GateData(
            done=self.done,
            failures=self.failures,
            failure_counts=self.failure_counts,
            unknown=self.data.unknown,
            unknown_counts=self.data.unknown_counts,
            unknown_other=self.data.unknown_other,
            late=tuple(self.late),
            late_dropped=self.late_dropped,
            trigger=self.trigger,
            first_completion_at=self.first_completion_at,
            failed_reason=self.failed_reason,
            failure_kind=self.failure_kind,
            profile=self.profile.name,
            deadlines_passed=self.deadlines_passed,
            announced=tuple(self.announced),
            definition=self.definition,
        )

    # -- guards ------------------------------------------------------------------------------

    def covers(self, processor: str) -> bool:
        """The key's condition holds once ``processor`` is counted: the profile's quorum, or
        the relaxed condition of a deadline tier that has already passed."""
        return self._tier_met({*self.done, processor}, self._passed()) is not None

    def recovers(self, processor: str) -> bool:
        """A failed key reopens when the last outstanding required failure succeeds (a failure
        of a processor that has a done report is not outstanding, as in ``fails_required``)."""
        if self.failure_kind != "processor":
            return False
        return not any(
            p != processor and self.profile.is_required(p) and p not in self.done
            for p in self.failures
        )

    def fails_required(self, processor: str) -> bool:
        return self.profile.is_required(processor) and processor not in self.done

    def deadline_allows_trigger(self, at: datetime) -> bool:
        return self._tier_met(self.done, self._passed(at)) is not None

    def final_deadline_missed(self, at: datetime) -> bool:
        return any(t.otherwise == "fail" for t in self._passed(at))

    # -- guards of a key re-evaluated under a definition it switched to ---------------------

    def holds_now(self) -> bool:
        """The definition's condition holds for what is done (an operator's failure is not
        reopened by a definition either)."""
        if self.failure_kind == "operator":
            return False
        return self._tier_met(self.done, self._passed()) is not None

    def _outstanding(self) -> list[str]:
        """Failed processors the definition requires that have no done report since."""
        return [p for p in self.failures if self.profile.is_required(p) and p not in self.done]

    def fails_now(self) -> bool:
        return bool(self._outstanding())

    def reopens_now(self) -> bool:
        return self.failure_kind == "processor" and not self._outstanding()

    # -- deadlines ---------------------------------------------------------------------------

    def due_tiers(self, at: datetime) -> list[DeadlineTier]:
        """Tiers not passed yet whose time has come at ``at``."""
        pending = upcoming(
            self.spec.tiers(self.profile),
            self.spec.key,
            self.snapshot.key,
            self.first_completion_at,
            self.deadlines_passed,
        )
        return [tier for tier, due in pending if due <= at]

    def _passed(self, at: datetime | None = None) -> list[DeadlineTier]:
        passed = [t for t in self.spec.tiers(self.profile) if t.name in self.deadlines_passed]
        return passed + (self.due_tiers(at) if at is not None else [])

    def _tier_met(self, done: Collection[str], passed: list[DeadlineTier]) -> str | None:
        """Why the key may trigger with ``done``: a reason, or None if it may not."""
        if self.profile.satisfied(done):
            return "all_done" if self.profile.all_done(done) else "quorum"
        return next((f"deadline:{t.name}" for t in passed if t.holds(self.profile, done)), None)

    # -- actions -----------------------------------------------------------------------------

    def record_done(
        self,
        processor: str,
        completion: Completion,
        at: datetime,
        payload: Mapping[str, Any] = _NO_PAYLOAD,
    ) -> None:
        self.done[processor] = CompletionRecord.of(processor, completion, at, payload)
        self.failures.pop(processor, None)
        self._first_report(completion, at)

    def record_failure(
        self,
        processor: str,
        completion: Completion,
        at: datetime,
        payload: Mapping[str, Any] = _NO_PAYLOAD,
    ) -> None:
        self.failures[processor] = CompletionRecord.of(processor, completion, at, payload)
        self.failure_counts[processor] = self.failure_counts.get(processor, 0) + 1
        self._first_report(completion, at)

    def _first_report(self, completion: Completion, at: datetime) -> None:
        if self.first_completion_at is not None:
            return
        self.first_completion_at = at
        self._announce(LifecycleEvent.STARTED, at, correlation_id=completion.correlation_id)

    def record_late(
        self,
        processor: str,
        completion: Completion,
        at: datetime,
        payload: Mapping[str, Any] = _NO_PAYLOAD,
    ) -> None:
        """Keep a report that came after the decision, without its payload: the payload is
        what a report adds to a trigger, and a late one adds to none (after a rearm, the
        processors report again), so 32 late reruns cannot fill the key."""
        del payload
        self.late.append(CompletionRecord.of(processor, completion, at, _NO_PAYLOAD))
        if len(self.late) > MAX_LATE_RECORDS:  # keep the most recent, count the others
            self.late_dropped += len(self.late) - MAX_LATE_RECORDS
            del self.late[:-MAX_LATE_RECORDS]

    def note_required_failed(self, processor: str, completion: Completion) -> None:
        error = f": {completion.error_message}" if completion.error_message else ""
        self.failed_reason = f"required processor {processor} failed{error}"
        self.failure_kind = "processor"

    def note_failed_now(self) -> None:
        processor = self._outstanding()[0]
        record = self.failures[processor]
        error = f": {record.error_message}" if record.error_message else ""
        self.failed_reason = f"required processor {processor} failed{error}"
        self.failure_kind = "processor"

    def note_operator_failed(self, reason: str, by: str) -> None:
        self.failed_reason = f"failed by {by}: {reason}"
        self.failure_kind = "operator"

    def note_deadline_failed(self, at: datetime) -> None:
        missed = next(t.name for t in self._passed(at) if t.otherwise == "fail")
        missing = [p for p in self.profile.required if p not in self.done]
        self.failed_reason = f"deadline {missed} passed; missing: {', '.join(missing) or 'none'}"
        self.failure_kind = "deadline"

    def pass_deadlines(self, at: datetime, target: Any) -> None:
        tiers = self.due_tiers(at)
        self.just_passed = tuple(t.name for t in tiers)
        self.deadlines_passed = self.deadlines_passed + self.just_passed
        if target.id not in ("waiting", "partial"):  # it triggered, or failed (alerted there)
            return
        missing = [p for p in self.profile.required if p not in self.done]
        for tier in tiers:
            due = tier.due(self.spec.key, self.snapshot.key, self.first_completion_at)
            self._alert(
                DEADLINE_PASSED,
                at,
                subject=tier.name,
                summary=f"deadline {tier.name} passed without a trigger; missing:"
                f" {', '.join(missing) or 'only optional processors'}",
                details={
                    "tier": tier.name,
                    "due_at": due.isoformat() if due else None,
                    "otherwise": tier.otherwise,
                    "missing": missing,
                    "missing_optional": [p for p in self.profile.optional if p not in self.done],
                },
            )

    def on_enter_failed(self, at: datetime) -> None:
        missing = [p for p in self.profile.required if p not in self.done]
        self._announce(
            LifecycleEvent.FAILED,
            at,
            reason=self.failed_reason,
            failure_kind=self.failure_kind,
            missing=tuple(missing),
        )
        if self.failure_kind in ("processor", "deadline"):  # an operator knows already
            self._alert(
                FAILED,
                at,
                summary=f"failed: {self.failed_reason}",
                details={
                    "failure_kind": self.failure_kind,
                    "failed_reason": self.failed_reason,
                    "missing": missing,
                },
            )

    def on_exit_failed(self) -> None:
        self.failed_reason = None
        self.failure_kind = None

    def record_published(self, entry_id: str, message_id: str, at: datetime) -> None:
        assert self.trigger is not None
        assert self.trigger.trigger_id == entry_id
        self.trigger = attrs.evolve(self.trigger, published_at=at, message_id=message_id)
        self.outbox = [e for e in self.outbox if e.id != entry_id]

    def start_generation(self) -> None:
        """A new generation decides under the gate's current definition."""
        self.spec, self.definition = self.current, self.current.fingerprint
        kept = self.profile.name if self.current.has_profile(self.profile.name) else None
        self.profile = self.current.profile(kept or DEFAULT_PROFILE)
        self.generation += 1
        self.done, self.failures, self.failure_counts = {}, {}, {}
        self.late, self.trigger, self.first_completion_at = [], None, None
        self.late_dropped = 0
        self.deadlines_passed = ()
        self.announced = []
        self.data = attrs.evolve(self.data, unknown={}, unknown_counts={}, unknown_other=0)

    def on_enter_complete(self, event: str, at: datetime, **kwargs: Any) -> None:
        if self.trigger is not None and self.trigger.generation == self.generation:
            raise RuntimeError(f"second trigger decision for generation {self.generation}")
        if event == "force":
            reason = "forced"
        else:
            at_tick = at if event == "tick" else None
            reason = self._tier_met(self.done, self._passed(at_tick)) or str(event)
        completion: Completion | None = kwargs.get("completion")
        self.trigger, entry = decide_trigger(
            self.spec,
            self.snapshot.key,
            self.generation,
            reason=reason,
            at=at,
            done=self.done,
            profile=self.profile,
            correlation_id=completion.correlation_id if completion else None,
            traceparent=completion.traceparent if completion else None,
            forced_by=kwargs.get("by") if event == "force" else None,
            forced_reason=kwargs.get("reason") if event == "force" else None,
        )
        place(self.outbox, entry)
        trigger = self.trigger
        self._announce(
            LifecycleEvent.TRIGGERED,
            at,
            reason=reason,
            trigger_id=trigger.trigger_id,
            missing=trigger.missing,
            correlation_id=trigger.correlation_id,
        )

    # -- announcements and alerts (each once per generation) --------------------------------

    def _announce(self, event: LifecycleEvent, at: datetime, **fields: Any) -> None:
        announce(
            self.spec,
            self.announced,
            self.outbox,
            key=self.snapshot.key,
            generation=self.generation,
            event=event,
            at=at,
            **fields,
        )

    def _alert(self, reason: str, at: datetime, *, summary: str, **fields: Any) -> None:
        raise_alert(
            self.spec,
            self.announced,
            self.outbox,
            key=self.snapshot.key,
            generation=self.generation,
            reason=reason,
            summary=f"{self.spec.name}/{self.snapshot.key}: {summary}",
            at=at,
            correlation_id=self._correlation_id(),
            **fields,
        )

    def _correlation_id(self) -> str | None:
        if self.trigger is not None and self.trigger.correlation_id:
            return self.trigger.correlation_id
        records = list(self.done.values()) or list(self.failures.values())
        return max(records, key=lambda r: r.received_at).correlation_id if records else None

    def cause(self, event: str, kwargs: dict[str, Any]) -> str:
        completion: Completion | None = kwargs.get("completion")
        if completion is not None:
            return f"{kwargs['processor']} reported {completion.status.value}"
        if event == "confirm_trigger":
            return f"published as {kwargs['message_id']}"
        if event == "tick":
            return f"deadline {', '.join(self.just_passed)} passed"
        if event == "adopt":
            return f"on_change = adopt: {kwargs['change']}"
        if event == "migrate":
            return f"{kwargs['reason']} ({kwargs['change']})"
        return str(kwargs.get("reason", ""))
