"""Operator commands over keys: what each key would do (the pure step, run on the loaded
snapshot and thrown away: a dry run predicts exactly what the command does), and doing it,
once per key, with the outcome of each.

A key with no state is skipped unless the operator passed ``--create``; a key whose state
does not allow the command is refused, in the user's words; a store or publisher problem on
one key is an error for that key and the others go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ..core.snapshot import Snapshot
from ..errors import TransientError, TransitionRefused
from ..gate.data import GateData
from ..gate.events import FailKey, ForceTrigger, Rearm
from ..gate.operations import GateRuntime
from .common import trigger_published
from .words import refusal

__all__ = ["METHODS", "KeyResult", "apply", "counts", "predict"]

#: Each operator command: its event class, the runtime method that sends it, and the word
#: for a key it changed.
METHODS: dict[str, tuple[type[ForceTrigger | Rearm | FailKey], str, str]] = {
    "force-trigger": (ForceTrigger, "force", "forced"),
    "rearm": (Rearm, "rearm", "rearmed"),
    "fail": (FailKey, "fail", "failed"),
}


@frozen(kw_only=True)
class KeyResult:
    """What a command did (or would do) to one key."""

    key: str
    result: str
    """``forced``/``rearmed``/``failed`` (or ``would be ...`` in a dry run), ``skipped``,
    ``refused`` or ``error``."""
    before: str | None = None
    after: str | None = None
    generation: int | None = None
    detail: str = ""
    trigger_id: str | None = None
    published: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result not in ("refused", "error")

    def line(self) -> str:
        """One line for the terminal."""
        if self.after is not None:
            change = f"{self.before or 'no state'} -> {self.after} (generation {self.generation})"
            trigger = f", trigger {self.trigger_id}" if self.trigger_id else ""
            return f"{self.key}  {self.result}: {change}{trigger}"
        return f"{self.key}  {self.result}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "result": self.result,
            "before": self.before,
            "after": self.after,
            "generation": self.generation,
            "detail": self.detail,
            "trigger_id": self.trigger_id,
            "published": list(self.published),
        }


def _trigger_of(snapshot: Snapshot[GateData], before: Snapshot[GateData] | None) -> str | None:
    trigger = snapshot.data.trigger
    if trigger is None or (before is not None and before.data.trigger == trigger):
        return None
    return trigger.trigger_id


def predict(
    runtime: GateRuntime,
    command: str,
    key: str,
    snapshot: Snapshot[GateData] | None,
    *,
    reason: str,
    by: str,
    create: bool,
) -> KeyResult:
    """What ``command`` would do to ``key``, by running the step without committing it."""
    if snapshot is None and not create:
        return KeyResult(key=key, result="skipped", detail="no state (--create would start it)")
    event_class, _, done = METHODS[command]
    base = snapshot if snapshot is not None else runtime.actor.initial(key)
    try:
        stepped = runtime.actor.step(base, event_class(at=runtime.clock(), reason=reason, by=by))
    except TransitionRefused as refused:
        return _refused(runtime, command, key, refused, snapshot)
    after = stepped.snapshot
    return KeyResult(
        key=key,
        result=f"would be {done}",
        before=snapshot.state if snapshot else None,
        after=after.state,
        generation=after.generation,
        trigger_id=_trigger_of(after, snapshot),
    )


def apply(
    runtime: GateRuntime,
    command: str,
    key: str,
    snapshot: Snapshot[GateData] | None,
    *,
    reason: str,
    by: str,
    create: bool,
    keep_going: bool = True,
) -> KeyResult:
    """Do ``command`` to ``key`` once (``snapshot``: the key as loaded just before). A store
    or publisher problem is the key's ``error`` result if ``keep_going``, else raised."""
    if snapshot is None and not create:
        return KeyResult(key=key, result="skipped", detail="no state (--create would start it)")
    _, method, done = METHODS[command]
    try:
        delivery = getattr(runtime, method)(key, reason=reason, by=by)
    except TransitionRefused as refused:
        return _refused(runtime, command, key, refused, snapshot)
    except TransientError as error:
        if not keep_going:
            raise
        return KeyResult(key=key, result="error", detail=f"{type(error).__name__}: {error}")
    after = delivery.snapshot
    return KeyResult(
        key=key,
        result=done,
        before=snapshot.state if snapshot else None,
        after=after.state,
        generation=after.generation,
        trigger_id=_trigger_of(after, snapshot),
        published=trigger_published(after, delivery.published),
    )


def _refused(
    runtime: GateRuntime,
    command: str,
    key: str,
    refused: TransitionRefused,
    snapshot: Snapshot[GateData] | None,
) -> KeyResult:
    return KeyResult(
        key=key,
        result="refused",
        before=snapshot.state if snapshot else None,
        detail=refusal(runtime.actor, command, refused.state),
    )


def counts(results: Mapping[str, KeyResult]) -> Counter[str]:
    """How many keys had each result."""
    return Counter(r.result for r in results.values())
