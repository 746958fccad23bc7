"""A key under the definition it is pinned to, with the rest of today's gate file.

A pinned key decides by its own :class:`~.definition.GateDefinition` — expected processors,
quorum, deadlines, profiles, statuses, time zone. Everything else comes from the gate file as
it is now, because it only helps reports find their processor or says where the result goes:

- **aliases and name rules**: a new alias counts for keys in flight. An alias whose target is a
  processor the key expects applies as written; an alias that *names* one — the file renamed
  ``old`` to ``new`` and keeps ``old = "new"`` — is read both ways for such a key, so reports
  under the new name (or any alias of it) count as the old one it expects.
- **topics**: a trigger decided from now on goes to today's output topic (an entry already in
  the outbox keeps the topic it was decided with);
- **aggregations** (the trigger's payload), the key's field and format, ``on_change``.

When a key switches definition (``on_change = "adopt"``, or ``phaseactors migrate``), what it
knows is carried over and read again under the new definition (:func:`carried_over`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .data import CompletionRecord, GateData
from .definition import GateDefinition
from .spec import DEFAULT_PROFILE, GateSpec

__all__ = ["carried_over", "pinned_spec"]


def pinned_spec(current: GateSpec, definition: GateDefinition) -> GateSpec:
    """The gate as a key pinned to ``definition`` sees it: that definition's deciding fields,
    today's aliases (linked to the pinned names), name rules, topics and aggregations."""
    expected = set(definition.expected)
    # `old = "new"`: a processor the key expects as `old` is expected today as `new`.
    renamed = {
        target: alias
        for alias, target in current.aliases.items()
        if alias in expected and target not in expected
    }
    aliases: dict[str, str] = {}
    for alias, target in current.aliases.items():
        if alias in expected:  # the key's own name for it
            continue
        pinned = target if target in expected else renamed.get(target)
        if pinned is not None:  # an alias of a renamed processor reaches its old name too
            aliases[alias] = pinned
    for new, old in renamed.items():
        aliases.setdefault(new, old)
    return attrs.evolve(
        current,
        key=attrs.evolve(current.key, timezone=definition.timezone),
        required=definition.required,
        optional=definition.optional,
        optional_quorum=definition.optional_quorum,
        deadlines=definition.deadlines,
        profiles=definition.profiles,
        done_statuses=definition.done_statuses,
        failed_statuses=definition.failed_statuses,
        aliases=aliases,
    )


def _renamed(
    records: Mapping[str, CompletionRecord], rename: Mapping[str, str]
) -> dict[str, CompletionRecord]:
    out: dict[str, CompletionRecord] = {}
    for name, record in records.items():
        target = rename.get(name, name)
        if target not in out or target == name:
            out[target] = attrs.evolve(record, processor=target)
    return out


def carried_over(data: GateData, spec: GateSpec, fingerprint: str) -> GateData:
    """``data`` pinned to ``fingerprint``, whose key sees the gate as ``spec``: records of a
    processor the new definition knows under another name (an alias) move to that name;
    reports kept as unknown that now resolve become done or failed; a profile the new
    definition does not have becomes the default one. Nothing is forgotten: records of
    processors the new definition does not expect stay, and count for nothing."""
    expected = set(spec.expected)
    rename: dict[str, str] = {}
    for name in {*data.done, *data.failures, *data.failure_counts}:
        if name not in expected:
            resolved = spec.resolve(name)
            if resolved is not None:
                rename[name] = resolved
    done = _renamed(data.done, rename)
    failures = _renamed(data.failures, rename)
    counts: dict[str, int] = {}
    for name, count in data.failure_counts.items():
        counts[rename.get(name, name)] = counts.get(rename.get(name, name), 0) + count
    unknown = dict(data.unknown)
    unknown_counts = dict(data.unknown_counts)
    for raw, record in data.unknown.items():
        processor = spec.resolve(raw, record.output_table)
        if processor is None:
            continue
        promoted = attrs.evolve(record, processor=processor)
        status = record.status
        if any(status == s.value for s in spec.done_statuses):
            done.setdefault(processor, promoted)
        else:
            failures.setdefault(processor, promoted)
            counts[processor] = counts.get(processor, 0) + unknown_counts.get(raw, 1)
        del unknown[raw]
        unknown_counts.pop(raw, None)
    failures = {name: r for name, r in failures.items() if name not in done}
    profile = data.profile if spec.has_profile(data.profile) else DEFAULT_PROFILE
    return attrs.evolve(
        data,
        done=done,
        failures=failures,
        failure_counts=counts,
        unknown=unknown,
        unknown_counts=unknown_counts,
        profile=profile,
        definition=fingerprint,
    )
