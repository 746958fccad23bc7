"""Resolving the names producers report to the canonical processor names a gate expects.

Producers drift: the same processor reports as ``NbacGamebookProcessor``, ``AsyncNbac...``,
``nba_raw.nbac_gamebook_player_stats`` or its registry name. Resolution is by membership in
an explicit table plus a few declared normalisations; anything else is *unknown* and never
counts toward completion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from attrs import frozen

__all__ = ["NameResolver", "NameRules"]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_MEMO_LIMIT = 4096


def _snake(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


@frozen(kw_only=True)
class NameRules:
    """Normalisations tried, in order, when a reported name is not listed verbatim."""

    strip_prefixes: tuple[str, ...] = ()
    strip_suffixes: tuple[str, ...] = ()
    camel_case: bool = False
    dataset_qualified: bool = False
    match_output_table: bool = False

    def candidates(self, name: str) -> Iterator[str]:
        """Names to look up for ``name``, most literal first."""
        yield name
        if self.dataset_qualified and "." in name:
            name = name.rsplit(".", 1)[1]
            yield name
        stripped = name
        for prefix in self.strip_prefixes:
            if stripped.startswith(prefix) and len(stripped) > len(prefix):
                stripped = stripped[len(prefix) :]
        for suffix in self.strip_suffixes:
            if stripped.endswith(suffix) and len(stripped) > len(suffix):
                stripped = stripped[: -len(suffix)]
        if stripped != name:
            yield stripped
        if self.camel_case:
            yield _snake(stripped)


class NameResolver:
    """Maps reported names (and, optionally, output tables) to canonical processor names."""

    def __init__(
        self, canonical: Iterable[str], aliases: Mapping[str, str], rules: NameRules
    ) -> None:
        self._rules = rules
        self._table: dict[str, str] = {name: name for name in canonical}
        self._table.update(aliases)
        self._memo: dict[str, str | None] = {}

    def resolve(self, name: str, output_table: str | None = None) -> str | None:
        """The canonical name for ``name``, else for ``output_table`` if allowed, else None."""
        found = self._lookup(name)
        if found is None and output_table and self._rules.match_output_table:
            found = self._lookup(output_table)
        return found

    def _lookup(self, name: str) -> str | None:
        try:
            return self._memo[name]
        except KeyError:
            pass
        found = next(
            (self._table[c] for c in self._rules.candidates(name) if c in self._table), None
        )
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[name] = found
        return found
