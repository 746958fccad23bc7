"""Teeth for the rules: the model-based suite alone finds each deliberately broken rule
(broken_rules.py) and prints a shrunk counterexample. Each hunt is the memory run of
test_gate_stateful.py (same machine, same settings, MODEL_BASED) under one variant, allowed
to search further. The zone-sensitive variants are hunted under every host zone, so that
none hides behind the host running in the gate's zone; the shrunk counterexample is printed
for UTC, the other zones only show that the variant is found."""

from __future__ import annotations

import pytest
from broken_rules import RULE_VARIANTS, broken
from gate_machine import MODEL_BASED, GateRules
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from zones import HOST_ZONES, host_zone

from support import scaled

ZONED = {
    "deadlines on the wall clock",
    "wall-clock tiers on a naive local date",
    "the profile chosen in the host's zone",
}
#: The memory run's machine and settings; a hunt stops at the first failure, so it may search
#: further than the run itself without costing more when the variant shows early (most show
#: within the run's own budget: docs/correctness.md, the --break table).
HUNT = settings(
    MODEL_BASED,
    max_examples=scaled(2000),
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
    print_blob=False,
)
FOUND = settings(HUNT, phases=[p for p in HUNT.phases if p is not Phase.shrink])
CASES = [
    pytest.param(variant, zone, id=f"{variant} [{zone}]")
    for variant in RULE_VARIANTS
    for zone in (HOST_ZONES if variant in ZONED else ("UTC",))
]


@pytest.mark.parametrize(("variant", "zone"), CASES)
def test_the_model_based_suite_finds_each_broken_rule(
    variant: str, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = HUNT if zone == "UTC" else FOUND
    with host_zone(zone), broken(variant), pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(GateRules, settings=budget)
    with capsys.disabled():
        print(f"\n--- {variant} (host zone {zone}): {caught.value}")
        print("\n".join(getattr(caught.value, "__notes__", [])))
