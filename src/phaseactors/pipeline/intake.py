"""Accept one raw lifecycle message for a pipeline: parse, validate, deliver, or quarantine
with the reason; the same error contract as a gate's completions
(:mod:`phaseactors.gate.intake`). A well-formed announcement of a gate the pipeline does not
list is ignored (a lifecycle topic may carry several pipelines' gates)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.runtime import Delivery
from ..errors import PermanentError, PoisonMessage, TransientError
from ..gate.intake import quarantine, read_body
from ..gate.lifecycle import announcement_from_message
from .data import PipelineData
from .operations import PipelineRuntime

__all__ = ["accept_announcement"]


def accept_announcement(
    runtime: PipelineRuntime,
    body: Mapping[str, Any] | bytes | str,
    *,
    message_id: str | None = None,
    source: str,
) -> Delivery[PipelineData] | None:
    """Deliver the announcement in ``body``; None when it is another pipeline's gate's."""
    try:
        announcement = announcement_from_message(read_body(body))
        if runtime.spec.index(announcement.gate) is None:
            return None
        return runtime.announce(announcement)
    except TransientError:
        raise
    except PermanentError as error:
        quarantine(runtime, error, body, source=source, message_id=message_id)
        raise
    except Exception as unexpected:  # caused by this message's content: never redeliver it
        poison = PoisonMessage(unexpected)
        quarantine(runtime, poison, body, source=source, message_id=message_id)
        raise poison from unexpected
