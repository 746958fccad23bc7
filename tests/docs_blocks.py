"""The code blocks of the documentation pages (importable as ``docs_blocks``): what the docs
test runs, and the example machines other tests load from a page."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

#: A code block, with the HTML comment on the line before it if there is one.
FENCE = re.compile(r"^(?:(<!-- [^\n]*-->)\n)?```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: The marker of a ``text`` block that is what the block before it printed.
OUTPUT = "<!-- output of the block above -->"
#: A ``python`` block that starts with this line runs after the python blocks before it.
CONTINUES = "# continues the block above"


def blocks(page: Path, *kinds: str) -> list[tuple[str, str]]:
    """The page's code blocks of these kinds, in order; an output block's kind is
    ``output``."""
    found = []
    for marker, kind, code in FENCE.findall(page.read_text()):
        kind = "output" if kind == "text" and marker == OUTPUT else kind
        if kind in kinds:
            found.append((kind, code))
    return found


def runnable(page: Path) -> list[tuple[str, str]]:
    """The page's ``python``, ``sh`` and output blocks as they run: a continuing block with
    the python blocks it continues in front."""
    out: list[tuple[str, str]] = []
    so_far = ""
    for kind, code in blocks(page, "python", "sh", "output"):
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
