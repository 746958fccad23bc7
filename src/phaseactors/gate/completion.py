"""The completion value: one processor's report that it finished its work for a key."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import field, frozen, validators

from ..core.validators import utc_datetime, w3c_traceparent
from ..limits import (
    INT64_MAX,
    MAX_ERROR_TEXT,
    MAX_ID_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
)

__all__ = ["PROCESSOR_NAME", "Completion", "Status"]

#: Processor names as producers may report them: class names, registry or table names.
PROCESSOR_NAME = r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}"


class Status(enum.StrEnum):
    """What a processor says about its run; gates decide which count as done or failed."""

    SUCCESS = "success"
    PARTIAL = "partial"
    NO_DATA = "no_data"
    FAILED = "failed"


def _text(max_len: int = MAX_ID_LENGTH) -> Any:
    return [
        validators.instance_of(str),
        validators.min_len(1),
        validators.max_len(max_len),
    ]


def _optional_text(max_len: int) -> Any:
    return validators.optional([validators.instance_of(str), validators.max_len(max_len)])


def _default_correlation(self: Completion) -> str:
    return self.execution_id


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@frozen(kw_only=True)
class Completion:
    """A validated completion. ``processor`` is the name as reported, before alias resolution."""

    processor: str = field(
        validator=[*_text(MAX_NAME_LENGTH), validators.matches_re(PROCESSOR_NAME)]
    )
    key: str = field(validator=_text(MAX_KEY_LENGTH))
    status: Status = field(converter=Status)
    execution_id: str = field(validator=_text())
    correlation_id: str = field(
        default=attrs.Factory(_default_correlation, takes_self=True), validator=_text()
    )
    message_id: str | None = field(default=None, validator=_optional_text(MAX_ID_LENGTH))
    output_table: str | None = field(default=None, validator=_optional_text(MAX_TEXT_LENGTH))
    record_count: int | None = field(
        default=None,
        validator=validators.optional(
            [validators.instance_of(int), validators.ge(0), validators.le(INT64_MAX)]
        ),
    )
    reported_at: datetime | None = field(default=None, validator=utc_datetime)
    error_message: str | None = field(default=None, validator=_optional_text(MAX_ERROR_TEXT))
    traceparent: str | None = field(default=None, validator=validators.optional(w3c_traceparent))
    """The W3C trace context the completion was published with, continued into the trigger."""
    metadata: Mapping[str, Any] = field(
        factory=dict, converter=_frozen_mapping, repr=False, hash=False
    )

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED
