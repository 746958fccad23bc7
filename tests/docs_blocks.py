"""The code blocks of the documentation pages (importable as ``docs_blocks``): what the docs
test runs, and the example machines other tests load from a page."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: A ``python`` block that starts with this line runs after the python blocks before it.
CONTINUES = "# continues the block above"


def blocks(page: Path, *kinds: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(page.read_text()) if m[1] in kinds]


def runnable(page: Path) -> list[tuple[str, str]]:
    """The page's ``python`` and ``sh`` blocks as they run: a continuing block with the
    python blocks it continues in front."""
    out: list[tuple[str, str]] = []
    so_far = ""
    for kind, code in blocks(page, "python", "sh"):
        if kind == "python":
            so_far = f"{so_far}\n{code}" if code.startswith(CONTINUES) else code
            code = so_far
        out.append((kind, code))
    return out


def example_module(page: Path, defining: str) -> Any:
    """The python blocks of ``page`` up to the first that contains ``defining``, as a
    module."""
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    for kind, code in runnable(page):
        if kind == "python" and defining in code:
            sys.modules[module.__name__] = module
            exec(compile(code, str(page), "exec"), module.__dict__)
            return module
    raise LookupError(f"{page.name} defines no {defining!r}")
