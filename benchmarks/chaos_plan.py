"""What a chaos run delivers: producer bodies for a season of keys, bad messages, late reruns.

Everything here is decided by the seed alone: the keys, the name each producer reports, the
copies of each completion and their order, which messages are malformed and how, which
processors rerun after the trigger, and the faults of every delivery attempt
(:class:`DeliveryFaults`, seeded by message id and attempt, so a redelivery of one message in
another run meets the same faults whatever the interleaving). Only the interleavings (and so
the natural conflicts) are left to the scheduler.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from phaseactors import GateSpec

__all__ = [
    "BAD_KINDS",
    "DeliveryFaults",
    "FaultRates",
    "Message",
    "Plan",
    "build_plan",
    "clock_start",
    "producer_names",
]

#: How a bad message is broken, and a fragment its quarantine reason must contain.
BAD_KINDS: dict[str, str] = {
    "malformed_json": "not valid JSON",
    "invalid_date": "game_date",  # refined per message: the field the reason names
    "missing_field": "missing",
    "wrong_status": "status:",
    "not_an_object": "must be a JSON object",
}
_INVALID_DATES = ("2024-02-30", "2024-13-01", "10/22/2024", "2024-10-32", "20241022", "2024-1-5")
_WRONG_STATUSES: tuple[Any, ...] = ("SUCCESS", "done", "complete", "ok", 1, True)
_MISSING = ("processor_name", "execution_id", "game_date")
_STATUSES = (("success", 0.85), ("partial", 0.10), ("no_data", 0.05))


@dataclass(frozen=True)
class FaultRates:
    """Probabilities of each injected fault (publish ones per publishing delivery attempt,
    store ones per store call, message ones per planned message)."""

    publish_failure: float = 0.20
    crash_before_publish: float = 0.05
    crash_after_publish: float = 0.01
    conflict: float = 0.10
    abort: float = 0.02
    bad: float = 0.05
    late: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Message:
    """One message as a producer published it; redeliveries reuse it (same message id)."""

    seq: int
    message_id: str
    body: bytes
    kind: str  # "completion", "late" or "bad"
    key: str | None = None
    processor: str | None = None  # canonical name (completions and late ones)
    execution_id: str | None = None
    bad_kind: str | None = None
    expect_reason: str | None = None  # bad ones: a fragment of the quarantine reason


@dataclass
class Plan:
    """The messages of a run and what the store must show once they are all delivered."""

    keys: tuple[str, ...]
    processors: tuple[str, ...]
    main: list[Message] = field(default_factory=list)  # completions and bad ones, shuffled
    late: list[Message] = field(default_factory=list)  # reruns after the trigger, shuffled
    done: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> processor -> exec id
    late_runs: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)

    @property
    def bad(self) -> list[Message]:
        return [m for m in self.main if m.kind == "bad"]

    @property
    def completions(self) -> int:
        """Distinct valid completions the keys must record (late reruns not included)."""
        return sum(len(runs) for runs in self.done.values())

    @property
    def late_completions(self) -> int:
        return sum(sum(c.values()) for c in self.late_runs.values())


class DeliveryFaults:
    """The faults of one delivery attempt, drawn from ``seed/message_id/attempt``.

    The publish fault is decided up front (it fires on this attempt's publish, if it publishes);
    store faults are drawn per store call. ``fired`` counts what actually happened.
    """

    def __init__(self, rates: FaultRates, seed: int, message_id: str, attempt: int) -> None:
        self.rates = rates
        self.rng = random.Random(f"{seed}/{message_id}/{attempt}")
        roll = self.rng.random()
        bounds = (
            ("crash_before_publish", rates.crash_before_publish),
            ("publish_failure", rates.publish_failure),
            ("crash_after_publish", rates.crash_after_publish),
        )
        self.publish_fault: str | None = None
        for name, rate in bounds:
            if roll < rate:
                self.publish_fault = name
                break
            roll -= rate
        self.fired: Counter[str] = Counter()

    def take_publish_fault(self) -> str | None:
        """The publish fault of this attempt, once (a second publish goes through)."""
        fault, self.publish_fault = self.publish_fault, None
        if fault is not None:
            self.fired[fault] += 1
        return fault

    def take_conflict(self) -> bool:
        if self.rng.random() < self.rates.conflict:
            self.fired["store_conflicts"] += 1
            return True
        return False

    def take_abort(self) -> str | None:
        """``"before"`` (nothing committed), ``"after"`` (committed, response lost) or None."""
        if self.rng.random() >= self.rates.abort:
            return None
        where = "before" if self.rng.random() < 0.5 else "after"
        self.fired[f"store_aborts_{where}_commit"] += 1
        return where

    def note(self, what: str, count: int = 1) -> None:
        self.fired[what] += count


def game_dates(start: date, count: int) -> tuple[str, ...]:
    return tuple((start + timedelta(days=i)).isoformat() for i in range(count))


def clock_start(keys: tuple[str, ...]) -> datetime:
    """The simulated time a run starts at: three days after the last game date, so that every
    key is a replay (the gate's ``backfill`` profile: relative deadlines only)."""
    last = date.fromisoformat(max(keys))
    return datetime.combine(last + timedelta(days=3), time(12, 0), tzinfo=UTC)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def producer_names(spec: GateSpec, processor: str) -> list[str]:
    """Names a producer may report for ``processor``: the registry name, the dataset-qualified
    table, class names (``XProcessor``, ``AsyncXProcessor``) and the gate's aliases."""
    names = [processor, f"nba_raw.{processor}", f"{_camel(processor)}Processor"]
    names.append(f"Async{_camel(processor)}Processor")
    names.extend(alias for alias, target in spec.aliases.items() if target == processor)
    return names


class _Builder:
    def __init__(self, spec: GateSpec, seed: int, started: datetime) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self.started = started
        self.seq = 0

    def message(self, body: bytes, kind: str, **fields: Any) -> Message:
        self.seq += 1
        return Message(self.seq, f"chaos-{self.seq:07d}", body, kind, **fields)

    def body(self, key: str, processor: str, execution_id: str, status: str) -> dict[str, Any]:
        rng = self.rng
        return {
            "processor_name": rng.choice(producer_names(self.spec, processor)),
            "phase": "phase_2_raw",
            "execution_id": execution_id,
            "correlation_id": f"scrape-{key}-{rng.getrandbits(24):06x}",
            self.spec.key.field: key,
            "output_table": f"nba_raw.{processor}",
            "output_dataset": "nba_raw",
            "status": status,
            "record_count": rng.randrange(0, 5000),
            "records_failed": 0,
            "timestamp": (self.started + timedelta(seconds=rng.randrange(3600))).isoformat(),
            "duration_seconds": round(rng.uniform(0.5, 90.0), 2),
            "trigger_source": rng.choice(("scheduler", "pubsub", "manual", "backfill")),
            "error_message": None,
            "error_type": None,
            "metadata": {"is_incremental": rng.random() < 0.3, "entities_changed": []},
        }

    def status(self) -> str:
        return self.rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]

    def copies(self, max_copies: int) -> int:
        return self.rng.randint(1, max_copies)

    def bad(self, kind: str, template: dict[str, Any]) -> Message:
        rng = self.rng
        body = dict(template)
        expect = BAD_KINDS[kind]
        if kind == "malformed_json":
            text = json.dumps(body)
            raw = text[: rng.randrange(1, len(text))].encode()  # a proper prefix of an object
        elif kind == "invalid_date":
            body[self.spec.key.field] = rng.choice(_INVALID_DATES)
            expect = f"{self.spec.key.field}:"
            raw = json.dumps(body).encode()
        elif kind == "missing_field":
            missing = rng.choice(_MISSING)
            field_name = self.spec.key.field if missing == "game_date" else missing
            del body[field_name]
            expect = f"{field_name}: missing"
            raw = json.dumps(body).encode()
        elif kind == "wrong_status":
            body["status"] = rng.choice(_WRONG_STATUSES)
            raw = json.dumps(body).encode()
        else:
            raw = json.dumps(rng.choice([[body], "success", 42, None])).encode()
        key = template.get(self.spec.key.field)
        return self.message(raw, "bad", key=key, bad_kind=kind, expect_reason=expect)


def build_plan(
    spec: GateSpec,
    *,
    keys: int,
    start: date,
    seed: int,
    rates: FaultRates,
    max_copies: int = 3,
) -> Plan:
    """Every completion of ``keys`` game dates x the gate's processors, 1..max_copies times,
    plus bad messages (``rates.bad`` of the valid ones) and late reruns (``rates.late`` of
    the completions), each in a seeded random order."""
    dates = game_dates(start, keys)
    builder = _Builder(spec, seed, clock_start(dates))
    plan = Plan(keys=dates, processors=tuple(spec.expected))
    valid: list[Message] = []
    templates: list[dict[str, Any]] = []
    for key in dates:
        plan.done[key] = {}
        plan.late_runs[key] = Counter()
        for processor in spec.expected:
            execution_id = f"{processor}-{key}-{builder.rng.getrandbits(32):08x}"
            plan.done[key][processor] = execution_id
            body = builder.body(key, processor, execution_id, builder.status())
            templates.append(body)
            encoded = json.dumps(body).encode()
            for _ in range(builder.copies(max_copies)):  # a producer re-publishing its report
                valid.append(
                    builder.message(
                        encoded,
                        "completion",
                        key=key,
                        processor=processor,
                        execution_id=execution_id,
                    )
                )
            if builder.rng.random() < rates.late:
                rerun = f"{processor}-{key}-rerun-{builder.rng.getrandbits(32):08x}"
                plan.late_runs[key][(processor, rerun)] += 1
                late_body = json.dumps(builder.body(key, processor, rerun, "success")).encode()
                for _ in range(builder.copies(max_copies)):
                    plan.late.append(
                        builder.message(
                            late_body, "late", key=key, processor=processor, execution_id=rerun
                        )
                    )
    kinds = list(BAD_KINDS)
    bad = [
        builder.bad(kinds[i % len(kinds)], builder.rng.choice(templates))
        for i in range(round(rates.bad * len(valid)))
    ]
    plan.main = valid + bad
    builder.rng.shuffle(plan.main)
    builder.rng.shuffle(plan.late)
    return plan
