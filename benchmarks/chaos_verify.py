"""Check a chaos run from what it left behind: the store and the published messages.

Nothing here trusts the run's own counters. The expectations come from the plan (what was
sent); the facts from the snapshots, the quarantine and every message published.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos_plan import Plan
from phaseactors import Snapshot, SweepReport, trigger_id
from phaseactors.gate.data import GateData
from phaseactors.stores import Quarantined

__all__ = ["Verification", "Violation", "verify"]


@dataclass(frozen=True)
class Violation:
    kind: str
    key: str | None
    detail: str

    def __str__(self) -> str:
        where = f" {self.key}" if self.key else ""
        return f"{self.kind}{where}: {self.detail}"


@dataclass
class Verification:
    violations: list[Violation] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: str, key: str | None, detail: str) -> None:
        self.violations.append(Violation(kind, key, detail))

    @property
    def kinds(self) -> dict[str, int]:
        return dict(sorted(Counter(v.kind for v in self.violations).items()))


def _published_by_trigger(
    published: Iterable[Mapping[str, Any]],
) -> dict[str, dict[str, Mapping[str, Any]]]:
    """trigger_id -> message id -> message (a message pulled twice counts once)."""
    grouped: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for message in published:
        tid = str(message.get("attributes", {}).get("trigger_id") or message.get("entry_id"))
        grouped[tid][str(message["message_id"])] = message
    return grouped


def _check_before_sweep(
    result: Verification, plan: Plan, before: Mapping[str, Snapshot[Any]]
) -> None:
    """After the deliveries every key decided its trigger: complete with the trigger pending in
    its outbox, or triggered with it published and the outbox empty."""
    pending = 0
    for key in plan.keys:
        snapshot = before.get(key)
        if snapshot is None:
            result.add("key_missing_before_sweep", key, "no snapshot after all deliveries")
            continue
        data: GateData = snapshot.data
        outbox_ids = [e.id for e in snapshot.outbox]
        expected = trigger_id(snapshot.actor, key, 1)
        if snapshot.state == "complete":
            pending += 1
            if outbox_ids != [expected]:
                result.add("complete_without_pending_trigger", key, f"outbox {outbox_ids}")
        elif snapshot.state == "triggered":
            if outbox_ids or data.trigger is None or data.trigger.message_id is None:
                result.add("inconsistent_triggered", key, f"outbox {outbox_ids}, {data.trigger}")
        else:
            result.add("undecided_after_deliveries", key, f"state {snapshot.state}")
    result.figures["pending_before_sweep"] = pending


def _check_key(
    result: Verification,
    plan: Plan,
    key: str,
    snapshot: Snapshot[Any],
    messages: Mapping[str, Mapping[str, Any]],
) -> None:
    data: GateData = snapshot.data
    expected_tid = trigger_id(snapshot.actor, key, 1)
    if snapshot.state != "triggered":
        result.add("not_triggered", key, f"state {snapshot.state}")
    if snapshot.generation != 1:
        result.add("unexpected_generation", key, f"generation {snapshot.generation}")
    if snapshot.outbox:
        result.add("outbox_not_empty", key, f"{[e.id for e in snapshot.outbox]}")
    trigger = data.trigger
    if trigger is None:
        result.add("no_trigger_decision", key, "data.trigger is None")
    else:
        if trigger.trigger_id != expected_tid:
            result.add("wrong_trigger_id", key, f"{trigger.trigger_id} != {expected_tid}")
        if trigger.message_id is None:
            result.add("triggered_without_message_id", key, f"state {snapshot.state}")
        elif trigger.message_id not in messages:
            result.add(
                "trigger_message_not_published",
                key,
                f"recorded message id {trigger.message_id} is not among the "
                f"{len(messages)} published for {expected_tid}",
            )
    # completions: each valid one recorded once, under its canonical name and execution id
    wanted = plan.done[key]
    missing = sorted(set(wanted) - set(data.done))
    extra = sorted(set(data.done) - set(wanted))
    if missing:
        result.add("completions_missing", key, f"{len(missing)} not recorded: {missing}")
    if extra:
        result.add("completions_unexpected", key, f"{extra}")
    wrong = sorted(p for p, r in data.done.items() if p in wanted and r.execution_id != wanted[p])
    if wrong:
        result.add("wrong_execution_recorded", key, f"{wrong}")
    late = Counter((r.processor, r.execution_id) for r in data.late)
    if late != plan.late_runs[key]:
        result.add(
            "late_mismatch",
            key,
            f"recorded {sorted(late.items())}, delivered {sorted(plan.late_runs[key].items())}",
        )
    if data.unknown:
        result.add("unknown_processors", key, f"{sorted(data.unknown)}")
    if data.failures:
        result.add("unexpected_failures", key, f"{sorted(data.failures)}")
    # one trigger decision, one confirmation, in the history
    into_complete = sum(1 for h in snapshot.history if h.target == "complete")
    into_triggered = sum(1 for h in snapshot.history if h.target == "triggered")
    if into_complete != 1 or into_triggered != 1:
        result.add(
            "trigger_decisions",
            key,
            f"{into_complete} transitions into complete, {into_triggered} into triggered",
        )


def _check_published(
    result: Verification,
    plan: Plan,
    gate: str,
    grouped: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> None:
    expected = {trigger_id(gate, key, 1): key for key in plan.keys}
    for tid in sorted(set(grouped) - set(expected)):
        result.add("unexpected_trigger_id", None, f"{tid} published {len(grouped[tid])} times")
    duplicates = 0
    keys_with_duplicates = 0
    for tid, key in expected.items():
        messages = grouped.get(tid, {})
        if not messages:
            result.add("trigger_never_published", key, tid)
            continue
        if len(messages) > 1:
            duplicates += len(messages) - 1
            keys_with_duplicates += 1
        bodies = {repr(sorted(dict(m["data"]).items())) for m in messages.values()}
        if len(bodies) > 1:  # repeats of one decision are identical; two decisions are not
            result.add("conflicting_trigger_bodies", key, f"{len(bodies)} different bodies")
        for message in messages.values():
            body = message["data"]
            attributes = message.get("attributes", {})
            if body.get("trigger_id") != tid or attributes.get("trigger_id") != tid:
                result.add("trigger_id_mismatch", key, f"body/attributes of {tid} disagree")
            if sorted(body.get("completed", [])) != sorted(plan.processors):
                result.add(
                    "trigger_incomplete",
                    key,
                    f"completed {len(body.get('completed', []))} of {len(plan.processors)}",
                )
            break  # the bodies are identical (checked above)
    result.figures["triggers_published"] = sum(len(m) for m in grouped.values())
    result.figures["distinct_trigger_ids"] = len(grouped)
    result.figures["duplicate_publishes"] = duplicates
    result.figures["keys_with_duplicate_publishes"] = keys_with_duplicates


def _check_quarantine(result: Verification, plan: Plan, quarantined: list[Quarantined]) -> None:
    bad = {m.message_id: m for m in plan.bad}
    valid_ids = {m.message_id for m in plan.main + plan.late if m.kind != "bad"}
    seen: Counter[str] = Counter()
    for record in quarantined:
        message_id = record.message_id or ""
        seen[message_id] += 1
        if message_id in valid_ids:
            result.add("valid_message_quarantined", None, f"{message_id}: {record.reason}")
        elif message_id not in bad:
            result.add("unexpected_quarantine_record", None, f"{message_id!r}: {record.reason}")
        else:
            expect = bad[message_id].expect_reason or ""
            if not record.reason or expect not in record.reason:
                kind = bad[message_id].bad_kind
                result.add(
                    "wrong_quarantine_reason",
                    None,
                    f"{message_id} ({kind}): {record.reason!r} lacks {expect!r}",
                )
    for message_id, message in bad.items():
        if not seen[message_id]:
            result.add(
                "bad_message_not_quarantined", message.key, f"{message_id} ({message.bad_kind})"
            )
    result.figures["quarantined"] = len(quarantined)
    result.figures["quarantine_repeats"] = sum(n - 1 for i, n in seen.items() if i in bad and n > 1)
    result.figures["bad_by_kind"] = dict(sorted(Counter(m.bad_kind for m in plan.bad).items()))


def verify(
    plan: Plan,
    gate: str,
    *,
    before_sweep: Mapping[str, Snapshot[Any]],
    after_sweep: Mapping[str, Snapshot[Any]],
    published: Sequence[Mapping[str, Any]],
    quarantined: list[Quarantined],
    sweep: SweepReport,
) -> Verification:
    """Every violation of: all keys triggered once, every completion recorded once, every
    bad message quarantined with its reason, nothing left pending."""
    result = Verification()
    _check_before_sweep(result, plan, before_sweep)
    for key in sorted(set(after_sweep) - set(plan.keys)):
        result.add("unexpected_key", key, f"state {after_sweep[key].state}")
    grouped = _published_by_trigger(published)
    for key in plan.keys:
        snapshot = after_sweep.get(key)
        if snapshot is None:
            result.add("key_missing", key, "no snapshot in the store")
            continue
        _check_key(result, plan, key, snapshot, grouped.get(trigger_id(gate, key, 1), {}))
    _check_published(result, plan, gate, grouped)
    _check_quarantine(result, plan, quarantined)
    for key, error in sorted(sweep.errors.items()):
        result.add("sweep_error", key, error)
    states = Counter(s.state for s in after_sweep.values())
    result.figures["states"] = dict(sorted(states.items()))
    result.figures["keys_triggered"] = states.get("triggered", 0)
    result.figures["profiles"] = dict(
        sorted(Counter(s.data.profile for s in after_sweep.values()).items())
    )
    result.figures["completions_recorded"] = sum(len(s.data.done) for s in after_sweep.values())
    result.figures["late_recorded"] = sum(len(s.data.late) for s in after_sweep.values())
    return result
