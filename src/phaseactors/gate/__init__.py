"""The gate: a fan-in barrier that triggers the next phase once per key and generation.

A gate file (``machines/*.toml``) becomes a :class:`GateSpec`; :class:`GateActor` runs it on
:class:`GateMachine` (waiting → partial → complete → triggered, failed); :class:`GateRuntime`
adds the gate's commands to the kernel's runtime; :func:`accept_message` is the one intake of
raw producer messages, with the error contract. The status view and the quarantine log load
when first used: a Cloud Function that only delivers never imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .actor import GateActor
from .completion import Completion, Status
from .data import CompletionRecord, GateData, Trigger
from .events import CompletionReported, FailKey, ForceTrigger, Rearm
from .intake import accept_message
from .machine import GateMachine
from .operations import GateRuntime
from .spec import GateSpec
from .spec_loader import find_gate, load_spec, spec_from_mapping
from .trigger import trigger_id

if TYPE_CHECKING:
    from .quarantine_log import QuarantineLog, Replayed
    from .status import GateStatus, gate_status

__all__ = [
    "Completion",
    "CompletionRecord",
    "CompletionReported",
    "FailKey",
    "ForceTrigger",
    "GateActor",
    "GateData",
    "GateMachine",
    "GateRuntime",
    "GateSpec",
    "GateStatus",
    "QuarantineLog",
    "Rearm",
    "Replayed",
    "Status",
    "Trigger",
    "accept_message",
    "find_gate",
    "gate_status",
    "load_spec",
    "spec_from_mapping",
    "trigger_id",
]

_LAZY = {
    "GateStatus": ".status",
    "QuarantineLog": ".quarantine_log",
    "Replayed": ".quarantine_log",
    "gate_status": ".status",
}


def __getattr__(name: str) -> Any:
    """Load a name of ``_LAZY`` from its module when it is first used (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
