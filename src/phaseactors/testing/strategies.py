"""Hypothesis strategies for gates: completions, batches of deliveries, and schedule moves.

@given(batches(spec, "2025-11-29"))
def test_my_store(batch): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from ..gate.completion import Completion, Status
from ..gate.spec import GateSpec

__all__ = ["MOVES", "batches", "completions", "reported_names"]

#: What can happen between two steps of an interleaving, most ordinary first so that failing
#: schedules shrink toward plain steps.
MOVES = ("step", "sweep", "lease-expires", "deadline-passes", "rearm")


def reported_names(spec: GateSpec) -> list[str]:
    """Every name a producer might use for the gate's processors: canonical names, their
    aliases, and one name no gate expects."""
    return [*spec.expected, *sorted(spec.aliases), "unexpected_processor"]


def completions(
    spec: GateSpec,
    key: str,
    *,
    statuses: tuple[Status, ...] = (Status.SUCCESS, Status.PARTIAL, Status.NO_DATA),
    runs: int = 2,
) -> st.SearchStrategy[Completion]:
    """One completion for ``key``: a reported name, one of ``runs`` execution ids, a status,
    and sometimes a transport message id."""
    return st.builds(
        lambda name, run, status, message: Completion(
            processor=name,
            key=key,
            status=status,
            execution_id=f"{spec.resolve(name) or name}-run-{run}",
            message_id=f"msg-{name}-{run}-{message}" if message is not None else None,
        ),
        st.sampled_from(reported_names(spec)),
        st.integers(1, runs),
        st.sampled_from(statuses),
        st.none() | st.integers(0, 2),
    )


def batches(
    spec: GateSpec, key: str, *, min_size: int = 1, max_size: int = 8, covering: bool = False
) -> st.SearchStrategy[list[Completion]]:
    """Deliveries of one key, in arrival order, duplicates included. With ``covering``, every
    expected processor reports at least once (so the key must trigger)."""
    drawn = st.lists(completions(spec, key), min_size=min_size, max_size=max_size)
    if not covering:
        return drawn
    every = [
        Completion(processor=p, key=key, status=Status.SUCCESS, execution_id=f"{p}-run-1")
        for p in spec.expected
    ]
    return st.tuples(drawn, st.permutations(every)).flatmap(
        lambda pair: st.permutations(pair[0] + list(pair[1]))
    )
