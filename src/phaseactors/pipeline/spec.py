"""A pipeline definition: the ordered gates of one run per key, the handoff deadline into each
gate after the first, an overall deadline, and where alerts go (:mod:`.spec_loader` reads
pipeline files into it)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from attrs import field, frozen, validators

from ..core.validators import nonempty_str
from ..gate.keys import KeyFormat

__all__ = ["OverallDeadline", "Phase", "PipelineSpec"]


@frozen(kw_only=True)
class Phase:
    """One gate of the pipeline; ``handoff`` is how long after the previous gate triggered the
    first report of this gate may take (None: no handoff deadline)."""

    gate: str = field(validator=nonempty_str)
    handoff: timedelta | None = None


@frozen(kw_only=True)
class OverallDeadline:
    """The last gate must have triggered by wall-clock ``at`` on the key's date plus
    ``day_offset`` days, in the key's time zone."""

    at: time
    day_offset: int = field(default=0, validator=validators.ge(0))

    def due(self, key_format: KeyFormat, key: str) -> datetime:
        local = key_format.local_datetime(key, self.at) + timedelta(days=self.day_offset)
        return local.astimezone(UTC)


def _some_phases(instance: object, attribute: object, value: tuple[Phase, ...]) -> None:
    if not value:
        raise ValueError("a pipeline needs at least one phase")


@frozen(kw_only=True)
class PipelineSpec:
    """A validated pipeline: which gates, in which order, with which deadlines."""

    name: str = field(validator=nonempty_str)
    description: str = ""
    source: str = "<memory>"
    key: KeyFormat
    phases: tuple[Phase, ...] = field(validator=_some_phases)
    overall: OverallDeadline | None = None
    lifecycle_topic: str = field(validator=nonempty_str)
    """The topic the gates announce on: the input of the pipeline run."""
    alerts_topic: str = field(validator=nonempty_str)

    @property
    def gates(self) -> tuple[str, ...]:
        return tuple(phase.gate for phase in self.phases)

    @property
    def first_gate(self) -> str:
        return self.phases[0].gate

    @property
    def last_gate(self) -> str:
        return self.phases[-1].gate

    def index(self, gate: str) -> int | None:
        """The position of ``gate`` in the pipeline, or None if it is not one of its gates."""
        return next((i for i, phase in enumerate(self.phases) if phase.gate == gate), None)

    def overall_due(self, key: str) -> datetime | None:
        """When the overall deadline of ``key`` passes (UTC), or None without one."""
        return None if self.overall is None else self.overall.due(self.key, key)
