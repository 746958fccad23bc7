"""What the benchmark scripts share: the gates and keys they deliver to, and their command line.

Not a benchmark itself; the scripts import it from their own folder.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import attrs

from phaseactors import Completion, GateSpec, load_spec, spec_from_mapping

PIPELINE_GATE = Path(__file__).resolve().parents[1] / "machines" / "phase2_to_phase3.toml"
# Keys count back from here: old dates, so the pipeline gate picks its backfill profile (all
# 21 processors, relative deadlines only), however many keys.
FIRST_KEY = date(2020, 1, 1)
WARM_UP_KEY = "1999-01-01"  # read before timing starts: opens files, connections and channels


def pipeline_gate() -> GateSpec:
    """The Phase 2 gate as shipped, less its lifecycle and alerts topics: the figures are the
    trigger's path, comparable across releases. With them, a key also commits and publishes an
    announcement at its first report and another at its trigger."""
    return attrs.evolve(load_spec(PIPELINE_GATE), lifecycle_topic=None, alerts_topic=None)


def bench_spec(
    n: int, *, name: str | None = None, processor: str = "p{:04d}", output: str = "bench-out"
) -> GateSpec:
    """A gate of ``n`` required processors named by ``processor``, no deadlines."""
    return spec_from_mapping(
        {
            "name": name or f"bench{n}",
            "key": {"field": "game_date", "format": "date"},
            "topics": {"output": output},
            "processors": {"required": [processor.format(i) for i in range(n)]},
        }
    )


def make_keys(count: int) -> list[str]:
    """``count`` game dates, from ``FIRST_KEY`` back."""
    return [(FIRST_KEY - timedelta(days=i)).isoformat() for i in range(count)]


def completion(key: str, processor: str) -> Completion:
    """A successful first run of ``processor`` for ``key``, with its Pub/Sub message id."""
    return Completion(
        processor=processor,
        key=key,
        status="success",
        execution_id=f"{processor}-{key}",
        message_id=f"msg-{processor}-{key}",
    )


def int_list(text: str) -> list[int]:
    """``--flag 1,4,8``: positive integers, comma-separated."""
    values = [int(part) for part in text.split(",") if part]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("positive integers, comma-separated")
    return values


def argument_parser(doc: str | None, description: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` ends with the usage examples of the script's docstring."""
    usage = doc.split("Usage (from the repository root", 1)[1] if doc else None
    return argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=usage.split("\n", 1)[1] if usage else None,
    )
