"""Every runnable code block of the docs runs: ``python`` and ``sh`` blocks, in order, in a
scratch directory per page (a python block may continue the ones before it), and a ``text``
block marked ``<!-- output of the block above -->`` is what the block before it printed (times
and message ids aside); ``toml`` gate and pipeline examples must load. ``bash`` blocks are
shown only, each marked ``<!-- not run: why -->``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from docs_blocks import FENCE, blocks, runnable
from phaseactors import spec_from_mapping
from support import REPO

PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
#: What differs from run to run in a command's output: times and generated message ids.
VARYING = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?|\b[0-9a-f]{32}\b")


def steady(text: str) -> str:
    return VARYING.sub(lambda m: "#" * len(m[0]), text)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p, "python", "sh")], ids=lambda p: str(p.relative_to(REPO))
)
def test_code_blocks_run(page: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PHASEACTORS_MACHINES": str(REPO / "machines"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PHASEACTORS_STORE", None)
    printed = ""
    for number, (kind, code) in enumerate(runnable(page), start=1):
        if kind == "output":
            assert steady(printed) == steady(code), f"{page.name}, block {number}: {printed}"
            continue
        command = [sys.executable, "-c", code] if kind == "python" else ["bash", "-ec", code]
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, (
            f"{page.name}, block {number} ({kind}) failed:\n{code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        printed = result.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_block_shown_only_says_why_it_is_not_run(page: Path) -> None:
    for marker, kind, code in FENCE.findall(page.read_text()):
        if kind == "bash":
            assert marker.startswith("<!-- not run: "), f"{page.name}: say why not run:\n{code}"


def test_output_blocks_follow_a_block_that_runs() -> None:
    for page in PAGES:
        kinds = [kind for kind, _ in blocks(page, "python", "sh", "output", "bash")]
        for before, kind in zip(["start", *kinds], kinds, strict=False):
            if kind == "output":
                assert before in ("sh", "python"), page.name


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p, "toml")], ids=lambda p: str(p.relative_to(REPO))
)
def test_gate_examples_load(page: Path) -> None:
    from phaseactors.pipeline import pipeline_from_mapping

    for _, code in blocks(page, "toml"):
        if code.startswith("name ="):
            spec_from_mapping(tomllib.loads(code), source=f"{page.name} example")
        elif code.startswith('kind = "pipeline"'):
            pipeline_from_mapping(tomllib.loads(code), source=f"{page.name} example")


def test_every_limit_is_documented_with_its_value() -> None:
    from phaseactors import limits

    page = (REPO / "docs" / "correctness.md").read_text()
    rows = {
        name: row
        for row in page.splitlines()
        if row.startswith("| ")
        for name in re.findall(r"`([A-Z0-9_]+)`", row)
    }
    for name in limits.__all__:
        value = getattr(limits, name)
        if callable(value):
            continue
        assert name in rows, f"{name} is not in docs/correctness.md"
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        assert shown in rows[name] or str(value) in rows[name] or "2^63" in rows[name], name


def test_every_setting_is_documented() -> None:
    from phaseactors.config import VARIABLES

    page = (REPO / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(PHASEACTORS_\w+)`", page, re.MULTILINE))
    assert documented == {variable for variable, _ in VARIABLES.values()}
