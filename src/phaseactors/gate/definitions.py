"""Definition files in ``machines/``: found by name or path, read as TOML, told apart by kind.

A file is a gate unless it says ``kind = "pipeline"``; both kinds share the search path
(``$PHASEACTORS_MACHINES``, ``./machines``, the copy shipped in the package or the
``machines/`` of a source checkout), so a
pipeline sits next to its gates, and whatever lists gate files (the deploy plan, the index
file) skips pipelines by :func:`definition_kind`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PermanentError, SpecError

__all__ = [
    "KINDS",
    "definition_files",
    "definition_kind",
    "find_definition",
    "read_definition",
    "search_path",
]

#: The kinds of definition file; a file without ``kind`` is a gate.
KINDS = ("gate", "pipeline")


def search_path() -> list[Path]:
    """Where definitions are looked up by name, in order."""
    dirs = list(Settings.from_env().machines)
    dirs.append(Path.cwd() / "machines")
    package = Path(__file__).resolve().parents[1]  # the wheel's copy, else the checkout's
    for shipped in (package / "machines", package.parents[1] / "machines"):
        if shipped.is_dir() and shipped not in dirs:
            dirs.append(shipped)
            break
    return dirs


def find_definition(
    name_or_path: str | os.PathLike[str],
    *,
    what: str,
    missing: Callable[[str], PermanentError],
    search: list[Path] | None = None,
) -> Path:
    """An existing path, else ``NAME.toml`` in the search directories; ``missing(problem)``
    is raised when there is none, naming the closest ``what`` found and where it looked
    (``what``: the kind of definition, ``gate`` or ``pipeline``)."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or os.sep in str(name_or_path):
        if candidate.is_file():
            return candidate
        raise missing(f"{what} file {str(candidate)!r} does not exist")
    dirs = search if search is not None else search_path()
    for directory in dirs:
        path = directory / f"{name_or_path}.toml"
        if path.is_file():
            return path
    name = str(name_or_path)
    known = [path.stem for path in definition_files(what, dirs)]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    found = f" ({what}s found: {', '.join(known)})" if known and not close else ""
    looked = ", ".join(str(d) for d in dirs) or "nowhere"
    raise missing(f"no {what} named {name!r}{hint}{found}; looked in {looked}")


def read_definition(path: Path) -> Mapping[str, Any]:
    """The parsed TOML of a definition file; :class:`SpecError` names the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "<toml>", str(exc)) from None
    except OSError as exc:
        raise SpecError(str(path), "<file>", exc.strerror or str(exc)) from None


def definition_kind(data: Mapping[str, Any]) -> str:
    """``gate`` or ``pipeline`` (or whatever else the file claims, for the loader to refuse)."""
    kind = data.get("kind", "gate")
    return kind if isinstance(kind, str) else repr(kind)


def definition_files(kind: str, directories: Iterable[Path] | None = None) -> list[Path]:
    """The ``*.toml`` files of ``kind`` in ``directories`` (default: the search path), by
    name, the first of each name winning; files that do not parse count as gates, so that
    loading them reports the error."""
    found: dict[str, Path] = {}
    for directory in search_path() if directories is None else directories:
        for path in sorted(Path(directory).glob("*.toml")):
            if path.stem in found:
                continue
            try:
                file_kind = definition_kind(read_definition(path))
            except SpecError:
                file_kind = "gate"
            if file_kind == kind:
                found[path.stem] = path
    return [found[name] for name in sorted(found)]
