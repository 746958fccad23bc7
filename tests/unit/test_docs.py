"""Every runnable code block of the docs runs: ``python`` and ``sh`` blocks, in order, in a
scratch directory per page (a python block may continue the ones before it); ``toml`` gate
and pipeline examples must load. ``bash`` blocks are shown only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from docs_blocks import blocks, runnable
from phaseactors import spec_from_mapping
from support import REPO

PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])


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
    for number, (kind, code) in enumerate(runnable(page), start=1):
        command = [sys.executable, "-c", code] if kind == "python" else ["bash", "-ec", code]
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, (
            f"{page.name}, block {number} ({kind}) failed:\n{code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )


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
