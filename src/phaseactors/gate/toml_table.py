"""Typed access to one table of a definition file (a gate, a pipeline), raising
:class:`~phaseactors.errors.SpecError` with the file and the field's dotted path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from ..core.store import RESERVED_NAMES
from ..errors import SpecError

__all__ = ["NAME", "TomlTable"]

#: A name in a definition file: letters, digits, ``_ . -``, not starting with punctuation.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class TomlTable:
    """Typed access to one TOML table, raising :class:`SpecError` with the field's path."""

    def __init__(self, source: str, data: Any, path: str = "") -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            self.fail(path or "<root>", f"must be a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data

    def fail(self, name: str, problem: str) -> NoReturn:
        raise SpecError(self.source, name, problem)

    def actor_name(self) -> str:
        """The ``name`` field: the name of the actor, which its keys are stored under."""
        name = self.text("name")
        if not NAME.fullmatch(name):
            self.fail("name", f"{name!r} may only use letters, digits, '_', '.', '-'")
        if name in RESERVED_NAMES:
            self.fail("name", f"{name!r} is reserved: the stores keep their own records under it")
        return name

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                self.fail(self.where(name), f"unknown field; expected one of {sorted(allowed)}")

    def table(self, name: str, required: bool = True) -> TomlTable:
        if name not in self.data:
            if required:
                self.fail(self.where(name), "missing table")
            return TomlTable(self.source, {}, self.where(name))
        return TomlTable(self.source, self.data[name], self.where(name))

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value is None:
            self.fail(self.where(name), "missing")
        if not isinstance(value, str) or not value.strip():
            self.fail(self.where(name), f"must be a non-empty string, got {value!r}")
        return str(value).strip()

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.fail(self.where(name), f"must be true or false, got {value!r}")
        return bool(value)

    def names(self, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.data.get(name, default)
        if value is None:
            self.fail(self.where(name), "missing")
        if not isinstance(value, list | tuple):
            self.fail(self.where(name), f"must be a list of names, got {value!r}")
        seen: set[str] = set()
        for i, item in enumerate(value):
            if not isinstance(item, str) or not NAME.fullmatch(item):
                self.fail(f"{self.where(name)}[{i}]", f"{item!r} is not a valid name")
            if item in seen:
                self.fail(f"{self.where(name)}[{i}]", f"{item!r} is listed twice")
            seen.add(item)
        return tuple(value)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(
                self.where(name), f"must be an integer from {minimum} to {maximum}, got {value!r}"
            )
        return int(value)
