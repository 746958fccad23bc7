"""State machines and their declarative definitions; the gate is the first."""

from .gate import GateMachine
from .gate_actor import GateActor
from .gate_data import CompletionRecord, GateData, Trigger
from .spec import GateSpec, find_gate, load_spec, spec_from_mapping

__all__ = [
    "CompletionRecord",
    "GateActor",
    "GateData",
    "GateMachine",
    "GateSpec",
    "Trigger",
    "find_gate",
    "load_spec",
    "spec_from_mapping",
]
