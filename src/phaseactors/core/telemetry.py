"""What a delivery tells the people who run it: the fields every log line of it carries, and
OpenTelemetry spans and metrics when the OpenTelemetry API is installed (no-ops otherwise).

The fields live in a context variable, so every log line emitted while a delivery is handled —
by the function, the runtime or a store — can carry the delivery's ids without passing them
around. OpenTelemetry is imported on first use, so a process that never records pays nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

__all__ = ["METRICS", "annotate", "annotated", "count", "define_metric", "fields", "record", "span"]

_NONE: Mapping[str, Any] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar("phaseactors_fields", default=_NONE)
_SCOPE = "phaseactors"

#: The metrics phaseactors records: name -> (kind, unit, description). The kernel's are
#: here; an actor type adds its own with :func:`define_metric`.
METRICS: dict[str, tuple[str, str, str]] = {
    "phaseactors.deliveries": ("counter", "1", "events applied, by actor and outcome"),
    "phaseactors.attempts": ("histogram", "1", "store attempts one event took (contention)"),
    "phaseactors.publish_failures": ("counter", "1", "outbox publishes that failed"),
    "phaseactors.quarantined": ("counter", "1", "messages quarantined, by actor and reason"),
}


def define_metric(name: str, kind: str, unit: str, description: str) -> str:
    """Add a metric to :data:`METRICS` (``kind``: ``counter`` or ``histogram``); returns its
    name. Defining a name twice with another meaning is a programming error."""
    if kind not in ("counter", "histogram"):
        raise ValueError(f"metric kind must be counter or histogram, got {kind!r}")
    if METRICS.setdefault(name, (kind, unit, description)) != (kind, unit, description):
        raise ValueError(f"metric {name!r} is already defined as {METRICS[name]}")
    return name


def fields() -> Mapping[str, Any]:
    """The fields of the delivery being handled (empty outside one)."""
    return _FIELDS.get()


@contextmanager
def annotated(**values: Any) -> Iterator[None]:
    """Add ``values`` (None ones left out) to the fields for the duration of the block."""
    token = _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def annotate(**values: Any) -> None:
    """Add ``values`` to the fields of the enclosing :func:`annotated` block."""
    _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in values.items() if v is not None}})


@functools.cache
def _api() -> tuple[Any, Any] | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    return trace, metrics


@functools.cache
def _instrument(name: str) -> Any:
    api = _api()
    if api is None:
        return None
    kind, unit, description = METRICS[name]
    meter = api[1].get_meter(_SCOPE)
    create = meter.create_counter if kind == "counter" else meter.create_histogram
    return create(name, unit=unit, description=description)


def count(name: str, amount: int = 1, **attributes: str) -> None:
    """Add ``amount`` to counter ``name`` (one of :data:`METRICS`)."""
    instrument = _instrument(name)
    if instrument is not None:
        instrument.add(amount, attributes)


def record(name: str, value: float, **attributes: str) -> None:
    """Record ``value`` in histogram ``name`` (one of :data:`METRICS`)."""
    instrument = _instrument(name)
    if instrument is not None:
        instrument.record(value, attributes)


def span(name: str, *, parent: str | None = None, **attributes: Any) -> Any:
    """A context manager: an OpenTelemetry span named ``name`` under the current one (or
    under the W3C ``traceparent`` ``parent``, a remote caller's), or nothing when OpenTelemetry
    is not installed or no tracer provider is configured (spans would go nowhere)."""
    api = _api()
    if api is None or isinstance(api[0].get_tracer_provider(), api[0].ProxyTracerProvider):
        return nullcontext()
    clean = {k: v for k, v in attributes.items() if isinstance(v, str | int | float | bool)}
    context = None
    if parent:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({"traceparent": parent})
    tracer = api[0].get_tracer(_SCOPE)
    return tracer.start_as_current_span(name, context=context, attributes=clean)
