"""Hypothesis strategies for gates: completions, batches of deliveries, schedule moves, and
generated gate files with what reaches their rules (names in every spelling, keys and zones
at calendar and DST edges, clocks on tier boundaries).

@given(batches(spec, "2025-11-29"))
def test_my_store(batch): ...

@given(gate_specs())
def test_my_gate_rules(gate): spec = spec_from_mapping(gate) ...
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from ..gate.completion import Completion, Status
from ..gate.spec import GateSpec

__all__ = [
    "AROUND",
    "EDGE_KEYS",
    "FRACTIONS",
    "MOVES",
    "SPELLINGS",
    "WALL_TIMES",
    "ZONES",
    "batches",
    "camel",
    "completions",
    "gate_specs",
    "reported_names",
    "spelled",
]

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
    spec: GateSpec,
    key: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    covering: bool = False,
    statuses: tuple[Status, ...] = (Status.SUCCESS, Status.PARTIAL, Status.NO_DATA),
) -> st.SearchStrategy[list[Completion]]:
    """Deliveries of one key, in arrival order, duplicates included, each with one of
    ``statuses``. With ``covering``, every expected processor also reports a success at least
    once, under an execution id of its own that no drawn report shares (so no failure drawn
    before it can make it a duplicate, and the key must trigger in every order)."""
    drawn = st.lists(
        completions(spec, key, statuses=statuses), min_size=min_size, max_size=max_size
    )
    if not covering:
        return drawn
    every = [
        Completion(processor=p, key=key, status=Status.SUCCESS, execution_id=f"{p}-covering")
        for p in spec.expected
    ]
    return st.tuples(drawn, st.permutations(every)).flatmap(
        lambda pair: st.permutations(pair[0] + list(pair[1]))
    )


# -- generated gates, and what reaches their rules ------------------------------------------

#: Zones whose rules differ: none, DST in either hemisphere, a half-hour DST, odd offsets.
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
)
#: Keys next to year and month ends, a leap day, and DST changes of the zones above.
EDGE_KEYS = (
    "2025-11-29",
    "2024-12-31",
    "2025-01-01",
    "2024-02-29",
    "2025-02-28",
    "2025-03-09",
    "2025-11-02",
    "2025-03-30",
    "2025-10-26",
    "2025-04-06",
    "2025-10-05",
)
#: Wall-clock times: midnight, times a DST change skips or repeats, the usual ones.
WALL_TIMES = ("00:00", "01:30", "02:30", "10:30", "17:00", "23:59")
DURATIONS = ("45s", "30m", "1h30m", "2h", "1d")
#: Quorums and tier fractions, 0 and 1 included, and shares that land exactly on a count.
FRACTIONS = (0.0, 1.0, 0.5, 0.25, 1 / 3, 2 / 3, 0.6, 0.75)
PROCESSOR_POOL = (
    "box_scores",
    "play_by_play",
    "injury_report",
    "team_stats",
    "odds2_lines",
    "player_props",
    "roster",
)
#: How a producer may spell a processor's name; the last ones must not resolve.
SPELLINGS = (
    "canonical",
    "alias",
    "qualified",
    "camel",
    "async-camel-processor",
    "qualified-camel-processor",
    "output-table",
    "qualified-output-table",
    "near:truncated",
    "near:extended",
    "near:plural",
    "near:camel-plural-suffix",
    "near:prefixed",
    "unknown",
)


def camel(name: str) -> str:
    """``play_by_play`` → ``PlayByPlay``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def spelled(spec: Mapping[str, Any], processor: str, spelling: str) -> tuple[str, str | None]:
    """``(reported name, output_table)`` for one spelling of ``processor`` (its aliases come
    from the gate mapping ``spec``); whether it resolves is the gate's ``[names]`` to say."""
    aliases = [a for a, target in spec.get("aliases", {}).items() if target == processor]
    forms = {
        "canonical": (processor, None),
        "alias": (aliases[0] if aliases else processor, None),
        "qualified": (f"nba-analytics.nba_raw.{processor}", None),  # project.dataset.table
        "camel": (camel(processor), None),
        "async-camel-processor": (f"Async{camel(processor)}Processor", None),
        "qualified-camel-processor": (f"nba_raw.{camel(processor)}Processor", None),
        "output-table": ("SomeLoaderJob", processor),
        "qualified-output-table": ("SomeLoaderJob", f"nba_raw.{processor}"),
        "near:truncated": (processor[:-1], None),
        "near:extended": (f"{processor}_v2", None),
        "near:plural": (f"{processor}s", None),
        "near:camel-plural-suffix": (f"{camel(processor)}Processors", None),
        "near:prefixed": (f"x{processor}", None),
        "unknown": ("mystery_job", None),
    }
    return forms[spelling]


def _tier(index: int) -> st.SearchStrategy[dict[str, Any]]:
    when = st.one_of(
        st.builds(lambda d: {"after_first": d}, st.sampled_from(DURATIONS)),
        st.builds(
            lambda at, offset: {"at": at, "day_offset": offset},
            st.sampled_from(WALL_TIMES),
            st.integers(0, 1),
        ),
    )
    return st.builds(
        lambda w, req, opt, least, otherwise: {
            "name": f"t{index}",
            **w,
            "required": req,
            "optional": opt,
            "min_done": least,
            "otherwise": otherwise,
        },
        when,
        st.sampled_from(FRACTIONS),
        st.sampled_from(FRACTIONS),
        st.integers(0, 2),
        # mostly relaxing tiers, as gate files have them, so that a key lives through several
        st.sampled_from(("wait", "wait", "wait", "fail")),
    )


@st.composite
def gate_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A gate file's mapping: 1-3 required and 0-3 optional processors, an alias, name
    rules, done/failed statuses, a quorum, 0-3 deadline tiers (relative and wall-clock, in
    one of :data:`ZONES`) and 0-2 profiles. Valid by construction."""
    names = draw(st.permutations(PROCESSOR_POOL))
    n_required = draw(st.integers(1, 3))
    n_optional = draw(st.integers(0, 3))
    required, optional = list(names[:n_required]), list(names[n_required : n_required + n_optional])
    expected = required + optional
    n_tiers = draw(st.sampled_from((0, 1, 2, 2, 3, 3)))  # several tiers, to pass one by one
    tiers = [draw(_tier(i)) for i in range(n_tiers)]
    profiles: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 2))):
        condition = draw(
            st.one_of(
                st.builds(
                    lambda before, offset: {"first_event_before": before, "day_offset": offset},
                    st.sampled_from(WALL_TIMES),
                    st.integers(0, 1),
                ),
                st.builds(lambda days: {"first_event_after_days": days}, st.integers(1, 2)),
            )
        )
        chosen = draw(st.lists(st.sampled_from(expected), min_size=1, unique=True))
        subset = draw(
            st.none() | st.lists(st.sampled_from([t["name"] for t in tiers] or ["-"]), unique=True)
        )
        profile = {
            **condition,
            "required": chosen,
            "optional_quorum": draw(st.sampled_from(FRACTIONS)),
        }
        if subset is not None and tiers:
            profile["deadlines"] = subset
        profiles[f"p{i}"] = profile
    statuses = draw(
        st.sampled_from(
            (
                {"done": ["success", "partial", "no_data"], "failed": ["failed"]},
                {"done": ["success", "partial"], "failed": ["no_data", "failed"]},
            )
        )
    )
    names_rules = {
        "dataset_qualified": draw(st.booleans()),
        "strip_prefixes": draw(st.sampled_from(([], ["Async"]))),
        "strip_suffixes": draw(st.sampled_from(([], ["Processor"]))),
        "camel_case": draw(st.booleans()),
        "match_output_table": draw(st.booleans()),
    }
    gate: dict[str, Any] = {
        "name": "generated",
        "key": {"field": "game_date", "timezone": draw(st.sampled_from(ZONES))},
        "topics": {"output": "generated-out"},
        "statuses": statuses,
        "processors": {"required": required, "optional": optional},
        "aliases": {f"Legacy{camel(expected[0])}Loader": expected[0]},
        "names": names_rules,
        "policy": {"optional_quorum": draw(st.sampled_from(FRACTIONS))},
        "deadlines": tiers,
        "profiles": profiles,
    }
    return gate


#: Clock offsets around a boundary: one microsecond before, exactly at, one after.
AROUND = (timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1))
