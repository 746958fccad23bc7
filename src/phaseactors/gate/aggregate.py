"""Payload aggregation: what a trigger carries from the completions that satisfied the gate."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen, validators

from ..core.validators import nonempty_str
from ..errors import InvalidMessage
from ..limits import INT64_MAX, INT64_MIN, MAX_PAYLOAD_BYTES
from .completion import Completion

__all__ = ["AGGREGATIONS", "Aggregation", "payload_of"]

AGGREGATIONS = ("union", "sum", "any", "all", "min", "max")


def _flatten(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list | tuple | set | frozenset):
            out.extend(value)
        else:
            out.append(value)
    return out


def _union(values: list[Any]) -> list[Any]:
    items = {repr(v): v for v in _flatten(values) if v is not None}
    return [items[k] for k in sorted(items)]


def _numbers(values: list[Any]) -> list[float | int]:
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _sum(values: list[Any]) -> float | int:
    total = sum(_numbers(values))
    # A sum past 64 bits could not be stored (nor read by most consumers): it becomes a float.
    return total if INT64_MIN <= total <= INT64_MAX else float(total)


def _min(values: list[Any]) -> float | int | None:
    return min(_numbers(values), default=None)


def _max(values: list[Any]) -> float | int | None:
    return max(_numbers(values), default=None)


def _any(values: list[Any]) -> bool:
    return any(bool(v) for v in values)


def _all(values: list[Any]) -> bool:
    return bool(values) and all(bool(v) for v in values)


_COMBINE = {"union": _union, "sum": _sum, "any": _any, "all": _all, "min": _min, "max": _max}


@frozen(kw_only=True)
class Aggregation:
    """Combine field ``source`` (a dotted path into the completion body) with ``how``."""

    name: str = field(validator=nonempty_str)
    source: str = field(validator=nonempty_str)
    how: str = field(validator=validators.in_(AGGREGATIONS))

    def extract(self, body: Mapping[str, Any]) -> Any:
        """The value at ``source`` in ``body``, or None when any part of the path is absent."""
        value: Any = body
        for part in self.source.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value

    def combine(self, values: Iterable[Any]) -> Any:
        present = [v for v in values if v is not None]
        return _COMBINE[self.how](present)


def payload_of(aggregations: Iterable[Aggregation], completion: Completion) -> dict[str, Any]:
    """What ``completion`` contributes to the aggregated payload: the value of each
    aggregation's source field that it has. A contribution larger than
    :data:`~phaseactors.limits.MAX_PAYLOAD_BYTES` is refused, so that no single report can
    bloat its key."""
    view = {
        "metadata": completion.metadata,
        "record_count": completion.record_count,
        "output_table": completion.output_table,
        "status": completion.status.value,
    }
    payload = {}
    for aggregation in aggregations:
        value = aggregation.extract(view)
        if value is not None:
            payload[aggregation.name] = value
    if payload:
        size = len(json.dumps(payload, separators=(",", ":")))
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidMessage(
                "metadata",
                f"contributes {size} bytes to the gate's aggregated payload, over the limit"
                f" of {MAX_PAYLOAD_BYTES}",
            )
    return payload
