"""``--break NAME``: run the property suite with one deliberately broken variant applied to the
library for the whole session, to see the suite itself fail (docs/correctness.md, Teeth):

    pytest tests/property --break "quorum by counting entries"

The names are those of broken_rules.RULE_VARIANTS and BROKEN below. The teeth tests still
pass under a variant (they expect to find it); every other failure is the suite's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from broken import tick_on_read_snapshot
from broken_rules import RULE_VARIANTS
from gate_machine import REPORTED


def _sweeper_decides_on_read_snapshot(mp: pytest.MonkeyPatch) -> None:
    from phaseactors.core.runtime import Runtime
    from phaseactors.gate.operations import GateRuntime

    def tick(self: GateRuntime, key: str) -> object:
        return tick_on_read_snapshot(self, key, lambda k: Runtime.tick(self, k))

    mp.setattr(GateRuntime, "tick", tick)


def _fold_without_condition(mp: pytest.MonkeyPatch) -> None:
    from test_firestore_fold import fold_without_condition

    from phaseactors.stores.firestore.combining import Combining

    mp.setattr(Combining, "fold", fold_without_condition(Combining.fold))


#: Variants beyond the rules: the sweeper of broken.py, the Firestore fold of
#: test_firestore_fold.py.
BROKEN: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    **RULE_VARIANTS,
    "a sweeper deciding a due tier on a read snapshot": _sweeper_decides_on_read_snapshot,
    "an own fold deleting without its condition": _fold_without_condition,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--break",
        dest="broken_variant",
        choices=sorted(BROKEN),
        help="apply one deliberately broken variant to the library for the session",
    )


@pytest.fixture(autouse=True, scope="session")
def _broken_variant(request: pytest.FixtureRequest) -> Iterator[None]:
    name = request.config.getoption("broken_variant")
    if name is None:
        yield
        return
    mp = pytest.MonkeyPatch()
    BROKEN[name](mp)
    try:
        yield
    finally:
        mp.undo()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What each model-based run reached, in the share of its examples: these machines run
    inside plain tests, so Hypothesis's statistics do not list their events."""
    if not REPORTED:
        return
    terminalreporter.section("what the model-based machine reached")
    for store, tally in sorted(REPORTED.items()):
        examples = tally["examples"]
        shares = ", ".join(
            f"{what} {100 * n / examples:.0f}%"
            for what, n in sorted(tally.items(), key=lambda item: -item[1])
            if what != "examples"
        )
        terminalreporter.write_line(f"{store}: {examples} examples; {shares}")
