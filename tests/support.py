"""Helpers shared by the test modules (importable as ``support``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phaseactors import Completion

REPO = Path(__file__).resolve().parents[1]
KEY = "2025-11-29"
T0 = datetime(2025, 11, 29, 23, 0, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


SMALL_GATE = {
    "name": "small",
    "key": {"field": "game_date", "format": "date", "timezone": "America/New_York"},
    "topics": {"input": "small-in", "output": "small-out"},
    "processors": {"required": ["alpha", "beta", "gamma"]},
    "aliases": {"AlphaLoader": "alpha"},
    "names": {
        "dataset_qualified": True,
        "strip_suffixes": ["Processor"],
        "camel_case": True,
        "match_output_table": True,
    },
    "aggregate": {"entities_changed": {"from": "metadata.entities_changed", "how": "union"}},
}


def done(processor: str, execution_id: str | None = None, **fields: object) -> Completion:
    """A successful completion for KEY."""
    values: dict[str, object] = {
        "processor": processor,
        "key": KEY,
        "status": "success",
        "execution_id": execution_id or f"{processor}-run-1",
    }
    values.update(fields)
    return Completion(**values)  # type: ignore[arg-type]


def require_emulator(variable: str) -> str:
    """The emulator address in ``variable``; skip the test when it is not running, or fail
    when ``PHASEACTORS_REQUIRE_EMULATORS=1`` (as in CI)."""
    import os

    import pytest

    address = os.environ.get(variable)
    if address:
        return address
    reason = f"{variable} is not set: start the emulators with `scripts/emulators run -- ...`"
    if os.environ.get("PHASEACTORS_REQUIRE_EMULATORS") == "1":
        pytest.fail(f"emulator required: {reason}")
    pytest.skip(reason)


#: The phases of a hunt for a deliberately broken variant: find it and shrink the failure,
#: without Hypothesis's ``explain`` phase, which replays a shrunk failure hundreds of times to
#: mark the parts that may vary and costs more than the search. Under the ``mutation``
#: profile (scripts/mutation) finding is all that counts: no shrinking either.
HUNT_PHASES = ("explicit", "reuse", "generate", "target") + (
    () if os.environ.get("HYPOTHESIS_PROFILE") == "mutation" else ("shrink",)
)


def scaled(examples: int) -> int:
    """Example counts for the current Hypothesis profile: ``ci`` as given, ``nightly`` 10x,
    ``mutation`` (scripts/mutation, one run per mutant) a quarter."""
    import os

    profile = os.environ.get("HYPOTHESIS_PROFILE")
    if profile == "mutation":
        return max(1, examples // 4)
    return examples * (10 if profile == "nightly" else 1)


class CapturedLog:
    """Records of one logger, whatever handlers and propagation other tests configured."""

    def __init__(self, name: str) -> None:
        import logging

        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self._handler = logging.Handler(level=logging.DEBUG)
        self._handler.emit = self.records.append  # type: ignore[method-assign]
        self._level = self.logger.level

    def __enter__(self) -> CapturedLog:
        import logging

        self.logger.addHandler(self._handler)
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self._handler)
        self.logger.setLevel(self._level)
