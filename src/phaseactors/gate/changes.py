"""The semantic difference between two versions of a gate: what changed, field by field.

:func:`definition_changes` compares what decides keys (a new fingerprint: keys in flight are
pinned or adopt it); :func:`spec_changes` compares the rest of the file, which applies to every
key at once (aliases, name rules, topics, aggregations). Both compare parsed specs, so comments
and layout never show up, and lists of names compare as sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from ..core.validators import nonempty_str
from .definition import GateDefinition, encode_definition
from .spec import GateSpec

__all__ = ["Change", "definition_changes", "spec_changes", "summary"]

_NAME_SETS = (
    "required",
    "optional",
    "deadlines",
)  # list fields of tiers and profiles that are sets


@frozen(kw_only=True)
class Change:
    """One field that differs: its path (``processors.required``, ``deadlines.final.at``,
    ``aliases.NbacGamebookProcessor``), its value before and after (None: absent). For a set
    of names, ``added`` and ``removed`` say which."""

    field: str = field(validator=nonempty_str)
    before: Any = None
    after: Any = None
    is_set: bool = False

    @property
    def added(self) -> tuple[str, ...]:
        before = set(self.before or ())
        return tuple(sorted(n for n in self.after or () if n not in before))

    @property
    def removed(self) -> tuple[str, ...]:
        after = set(self.after or ())
        return tuple(sorted(n for n in self.before or () if n not in after))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if self.is_set:
            out.update(added=list(self.added), removed=list(self.removed))
        return out

    def text(self) -> str:
        """One line for people: ``processors.required: added x; removed y``."""
        if self.is_set:
            parts = []
            if self.added:
                parts.append(f"added {', '.join(self.added)}")
            if self.removed:
                parts.append(f"removed {', '.join(self.removed)}")
            return f"{self.field}: {'; '.join(parts)}"
        if self.before is None:
            return f"{self.field}: added {_shown(self.after)}"
        if self.after is None:
            return f"{self.field}: removed (was {_shown(self.before)})"
        return f"{self.field}: {_shown(self.before)} -> {_shown(self.after)}"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items() if v not in (None, []))
    return json.dumps(value)


def summary(changes: Iterable[Change], limit: int = 600) -> str:
    """The changes on one line, cut at about ``limit`` characters."""
    texts = [c.text() for c in changes]
    line = "; ".join(texts) or "no change"
    if len(line) <= limit:
        return line
    kept: list[str] = []
    for text in texts:
        if len("; ".join([*kept, text])) > limit:
            break
        kept.append(text)
    return f"{'; '.join(kept)}; (+{len(texts) - len(kept)} more changes)"


def _scalar(path: str, before: Any, after: Any) -> list[Change]:
    return [] if before == after else [Change(field=path, before=before, after=after)]


def _names(path: str, before: Iterable[str], after: Iterable[str]) -> list[Change]:
    b, a = sorted(before), sorted(after)
    return [] if b == a else [Change(field=path, before=b, after=a, is_set=True)]


def _items(path: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Change]:
    """Named items (deadline tiers, profiles): added, removed, changed field by field, and
    their order when it matters."""
    old = {item["name"]: item for item in before}
    new = {item["name"]: item for item in after}
    changes: list[Change] = []
    for name, item in old.items():
        if name not in new:
            changes.append(Change(field=f"{path}.{name}", before=_without_name(item)))
    for name, item in new.items():
        if name not in old:
            changes.append(Change(field=f"{path}.{name}", after=_without_name(item)))
            continue
        for key, value in item.items():
            where = f"{path}.{name}.{key}"
            if key in _NAME_SETS and isinstance(value, list) and isinstance(old[name][key], list):
                changes += _names(where, old[name][key], value)
            else:  # a value, or a profile's "every tier" (None) against a list of tiers
                changes += _scalar(where, old[name][key], value)
    kept_old = [n for n in old if n in new]
    kept_new = [n for n in new if n in old]
    if kept_old != kept_new:
        changes.append(Change(field=f"{path} (order)", before=kept_old, after=kept_new))
    return changes


def _without_name(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "name"}


def definition_changes(before: GateDefinition, after: GateDefinition) -> tuple[Change, ...]:
    """What changed in what decides keys, from ``before`` to ``after``."""
    old, new = encode_definition(before), encode_definition(after)
    changes = [
        *_scalar("key.timezone", old["timezone"], new["timezone"]),
        *_names("statuses.done", old["statuses"]["done"], new["statuses"]["done"]),
        *_names("statuses.failed", old["statuses"]["failed"], new["statuses"]["failed"]),
        *_names("processors.required", old["required"], new["required"]),
        *_names("processors.optional", old["optional"], new["optional"]),
        *_scalar("policy.optional_quorum", old["optional_quorum"], new["optional_quorum"]),
        *_items("deadlines", old["deadlines"], new["deadlines"]),
        *_items("profiles", old["profiles"], new["profiles"]),
    ]
    return tuple(changes)


def _aggregations(spec: GateSpec) -> dict[str, dict[str, str]]:
    return {a.name: {"from": a.source, "how": a.how} for a in spec.aggregations}


def spec_changes(before: GateSpec, after: GateSpec) -> tuple[Change, ...]:
    """What changed in the rest of the gate file, which applies to every key at once."""
    changes = [
        *_scalar("name", before.name, after.name),
        *_scalar("description", before.description, after.description),
        *_scalar("on_change", before.on_change, after.on_change),
        *_scalar("key.field", before.key.field, after.key.field),
        *_scalar("key.format", before.key.format, after.key.format),
        *_scalar("key.pattern", before.key.pattern, after.key.pattern),
        *_scalar("topics.input", before.input_topic, after.input_topic),
        *_scalar("topics.output", before.output_topic, after.output_topic),
    ]
    for alias in sorted({*before.aliases, *after.aliases}):
        changes += _scalar(f"aliases.{alias}", before.aliases.get(alias), after.aliases.get(alias))
    for rule in ("dataset_qualified", "camel_case", "match_output_table"):
        changes += _scalar(f"names.{rule}", getattr(before.names, rule), getattr(after.names, rule))
    for rule in ("strip_prefixes", "strip_suffixes"):
        changes += _scalar(
            f"names.{rule}", list(getattr(before.names, rule)), list(getattr(after.names, rule))
        )
    old, new = _aggregations(before), _aggregations(after)
    for name in sorted({*old, *new}):
        changes += _scalar(f"aggregate.{name}", old.get(name), new.get(name))
    return tuple(changes)
