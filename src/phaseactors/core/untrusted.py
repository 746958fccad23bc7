"""Reading untrusted JSON: size, nesting, numbers, text and object keys checked up front.

Every defect raises :class:`~phaseactors.errors.InvalidMessage` naming the field and the limit,
so that nothing a producer sends can fail later, inside a step or a store's encoder, where it
would be mistaken for a transient error. The limits are in :mod:`phaseactors.limits`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidMessage
from ..limits import INT64_MAX, INT64_MIN, MAX_JSON_DEPTH, MAX_MAP_KEY_BYTES

__all__ = ["check_json_value", "load_json", "printable"]

_RESERVED_KEY = re.compile(r"__.*__")
# C0 and C1 controls, DEL, and the bidirectional overrides that can reorder a terminal line.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes | str, field: str, *, max_bytes: int) -> Any:
    """Parse ``data`` as JSON within ``max_bytes`` and :func:`check_json_value` the result."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidMessage(field, f"{size} bytes, over the limit of {max_bytes}")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidMessage(field, f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(field, f"not valid JSON: {exc}") from None
    check_json_value(value, field)
    return value


def check_json_value(value: Any, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`InvalidMessage` unless ``value`` is JSON every store can keep: nested at
    most ``max_depth`` levels, integers within 64 bits, finite floats, valid Unicode text, and
    object keys that are non-empty, not ``__reserved__`` and not too long."""
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise InvalidMessage(where, "integer outside the signed 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidMessage(where, f"{item} is not a finite number")
        elif isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                raise InvalidMessage(where, f"nested deeper than {max_depth} levels")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    name = f"{where}.{_check_key(key, where)}"
                    stack.append((child, name, depth + 1))
            else:
                stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            raise InvalidMessage(where, f"{type(item).__name__} is not a JSON value")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage(where, "text that is not valid Unicode (a lone surrogate)") from None


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidMessage(where, f"an object key must be a non-empty string, got {key!r}")
    _check_text(key, where)
    shown = printable(key[:40])
    if len(key.encode("utf-8")) > MAX_MAP_KEY_BYTES:
        problem = f"object key {shown!r}... longer than {MAX_MAP_KEY_BYTES} bytes"
        raise InvalidMessage(where, problem)
    if _RESERVED_KEY.fullmatch(key):
        raise InvalidMessage(where, f"object key {shown!r} is a reserved name (__x__)")
    return shown


def printable(text: str) -> str:
    """``text`` with control and bidirectional-override characters escaped (``\\x1b``,
    ``\\n``, ``\\u202e``), so that untrusted text cannot forge lines or restyle a terminal."""
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
