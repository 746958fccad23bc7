"""Teeth for the rules: the model-based suite alone finds each deliberately broken rule
(broken_rules.py) and prints a shrunk counterexample. The zone-sensitive variants are hunted
under every host zone, so that none hides behind the host running in the gate's zone."""

from __future__ import annotations

import pytest
from broken_rules import RULE_VARIANTS, broken
from gate_machine import GateRules
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from zones import HOST_ZONES, host_zone

from support import HUNT_PHASES

ZONED = {
    "deadlines on the wall clock",
    "wall-clock tiers on a naive local date",
    "the profile chosen in the host's zone",
}
HUNT = settings(
    phases=[Phase[p] for p in HUNT_PHASES],
    max_examples=300,
    stateful_step_count=20,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
    print_blob=False,
)
CASES = [
    pytest.param(variant, zone, id=f"{variant} [{zone}]")
    for variant in RULE_VARIANTS
    for zone in (HOST_ZONES if variant in ZONED else ("UTC",))
]


class SequentialRules(GateRules):
    """The model-based machine without concurrent bursts, so that every run replays."""

    bursts = False


@pytest.mark.parametrize(("variant", "zone"), CASES)
def test_the_model_based_suite_finds_each_broken_rule(
    variant: str, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with host_zone(zone), broken(variant), pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(SequentialRules, settings=HUNT)
    with capsys.disabled():
        print(f"\n--- {variant} (host zone {zone}): {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
