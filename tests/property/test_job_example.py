"""The explorer of docs/writing-an-actor.md on that page's job machine, with more examples
than the page runs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs_blocks import example_module
from phaseactors.testing.explore import explore
from support import REPO, scaled

job = example_module(REPO / "docs" / "writing-an-actor.md", "def job_subject")


@settings(max_examples=scaled(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_interleaving_commands_each_attempt_once(data: st.DataObject) -> None:
    explore(data, job.job_subject)
