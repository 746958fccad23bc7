"""The gate: a fan-in barrier that triggers the next phase once per key and generation.

A gate file (``machines/*.toml``) becomes a :class:`GateSpec`; :class:`GateActor` runs it on
:class:`GateMachine` (waiting → partial → complete → triggered, failed); :class:`GateRuntime`
adds the gate's commands to the kernel's runtime; :func:`accept_message` is the one intake of
raw producer messages, with the error contract.
"""

from .actor import GateActor
from .completion import Completion, Status
from .data import CompletionRecord, GateData, Trigger
from .events import CompletionReported, FailKey, ForceTrigger, Rearm
from .intake import accept_message
from .machine import GateMachine
from .operations import GateRuntime
from .quarantine_log import QuarantineLog, Replayed
from .spec import GateSpec
from .spec_loader import find_gate, load_spec, spec_from_mapping
from .status import GateStatus, gate_status
from .trigger import trigger_id

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
