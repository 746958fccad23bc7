"""phaseactors: phase gates that trigger the next phase exactly once per key.

Every key of a phase-gated pipeline is a persisted state machine whose transitions commit
atomically in a store; completion messages may arrive duplicated, concurrently, late or
failed, and the next phase is still triggered exactly once per generation.

The layers: :mod:`phaseactors.core` (the actor kernel: actors, events, snapshots, the outbox,
the runtime), :mod:`phaseactors.gate` (the fan-in gate, the first machine),
:mod:`phaseactors.pipeline` (the pipeline run over a pipeline's gates, the second),
:mod:`phaseactors.alerts` (the alert message they share),
:mod:`phaseactors.stores` and :mod:`phaseactors.publishers` (the adapters),
:mod:`phaseactors.gcp` (the Google edge), :mod:`phaseactors.cli` and
:mod:`phaseactors.testing`. Importing this package loads no Google library, and importing a
layer loads only that layer and those below it: the names here load when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .alerts import Alert
    from .core.actor import Actor, Outcome, Stepped
    from .core.events import Event, OperatorEvent, OutboxPublished, OutboxReleased, Tick
    from .core.machine_actor import ActorModel, MachineActor
    from .core.runtime import Delivery, Runtime, SweepReport
    from .core.snapshot import HistoryEntry, OutboxEntry, Snapshot
    from .core.store import Quarantined, Resolution
    from .errors import (
        ConfigurationError,
        ContentionError,
        InvalidKey,
        InvalidMessage,
        PermanentError,
        PhaseactorsError,
        PoisonMessage,
        PublishFailed,
        SpecError,
        StorePermissionDenied,
        StoreRejected,
        StoreUnavailable,
        TransientError,
        TransitionRefused,
        UnknownGate,
        UnknownPipeline,
    )
    from .gate import GateActor, GateMachine, GateSpec, load_spec, spec_from_mapping
    from .gate.completion import Completion, Status
    from .gate.events import CompletionReported, FailKey, ForceTrigger, Rearm
    from .gate.lifecycle import Announcement
    from .gate.operations import GateRuntime
    from .gate.quarantine_log import QuarantineLog
    from .gate.trigger import trigger_id
    from .pipeline import PipelineActor, PipelineRuntime, PipelineSpec, load_pipeline
    from .publishers import (
        JsonlPublisher,
        LogPublisher,
        Publisher,
        RecordingPublisher,
        open_publisher,
    )
    from .stores import MemoryStore, SqliteStore, Store, open_store

_WHERE = {
    "Actor": "phaseactors.core.actor",
    "ActorModel": "phaseactors.core.machine_actor",
    "Alert": "phaseactors.alerts",
    "Announcement": "phaseactors.gate.lifecycle",
    "Completion": "phaseactors.gate.completion",
    "CompletionReported": "phaseactors.gate.events",
    "ConfigurationError": "phaseactors.errors",
    "ContentionError": "phaseactors.errors",
    "Delivery": "phaseactors.core.runtime",
    "Event": "phaseactors.core.events",
    "FailKey": "phaseactors.gate.events",
    "ForceTrigger": "phaseactors.gate.events",
    "GateActor": "phaseactors.gate",
    "GateMachine": "phaseactors.gate",
    "GateRuntime": "phaseactors.gate.operations",
    "GateSpec": "phaseactors.gate",
    "HistoryEntry": "phaseactors.core.snapshot",
    "InvalidKey": "phaseactors.errors",
    "InvalidMessage": "phaseactors.errors",
    "JsonlPublisher": "phaseactors.publishers",
    "LogPublisher": "phaseactors.publishers",
    "MachineActor": "phaseactors.core.machine_actor",
    "MemoryStore": "phaseactors.stores",
    "OperatorEvent": "phaseactors.core.events",
    "OutboxEntry": "phaseactors.core.snapshot",
    "OutboxPublished": "phaseactors.core.events",
    "OutboxReleased": "phaseactors.core.events",
    "Outcome": "phaseactors.core.actor",
    "PermanentError": "phaseactors.errors",
    "PhaseactorsError": "phaseactors.errors",
    "PipelineActor": "phaseactors.pipeline",
    "PipelineRuntime": "phaseactors.pipeline",
    "PipelineSpec": "phaseactors.pipeline",
    "PoisonMessage": "phaseactors.errors",
    "PublishFailed": "phaseactors.errors",
    "Publisher": "phaseactors.publishers",
    "QuarantineLog": "phaseactors.gate.quarantine_log",
    "Quarantined": "phaseactors.core.store",
    "Rearm": "phaseactors.gate.events",
    "RecordingPublisher": "phaseactors.publishers",
    "Resolution": "phaseactors.core.store",
    "Runtime": "phaseactors.core.runtime",
    "Snapshot": "phaseactors.core.snapshot",
    "SpecError": "phaseactors.errors",
    "SqliteStore": "phaseactors.stores",
    "Status": "phaseactors.gate.completion",
    "Stepped": "phaseactors.core.actor",
    "Store": "phaseactors.stores",
    "StorePermissionDenied": "phaseactors.errors",
    "StoreRejected": "phaseactors.errors",
    "StoreUnavailable": "phaseactors.errors",
    "SweepReport": "phaseactors.core.runtime",
    "Tick": "phaseactors.core.events",
    "TransientError": "phaseactors.errors",
    "TransitionRefused": "phaseactors.errors",
    "UnknownGate": "phaseactors.errors",
    "UnknownPipeline": "phaseactors.errors",
    "load_pipeline": "phaseactors.pipeline",
    "load_spec": "phaseactors.gate",
    "open_publisher": "phaseactors.publishers",
    "open_store": "phaseactors.stores",
    "spec_from_mapping": "phaseactors.gate",
    "trigger_id": "phaseactors.gate.trigger",
}

__all__ = [
    "Actor",
    "ActorModel",
    "Alert",
    "Announcement",
    "Completion",
    "CompletionReported",
    "ConfigurationError",
    "ContentionError",
    "Delivery",
    "Event",
    "FailKey",
    "ForceTrigger",
    "GateActor",
    "GateMachine",
    "GateRuntime",
    "GateSpec",
    "HistoryEntry",
    "InvalidKey",
    "InvalidMessage",
    "JsonlPublisher",
    "LogPublisher",
    "MachineActor",
    "MemoryStore",
    "OperatorEvent",
    "OutboxEntry",
    "OutboxPublished",
    "OutboxReleased",
    "Outcome",
    "PermanentError",
    "PhaseactorsError",
    "PipelineActor",
    "PipelineRuntime",
    "PipelineSpec",
    "PoisonMessage",
    "PublishFailed",
    "Publisher",
    "QuarantineLog",
    "Quarantined",
    "Rearm",
    "RecordingPublisher",
    "Resolution",
    "Runtime",
    "Snapshot",
    "SpecError",
    "SqliteStore",
    "Status",
    "Stepped",
    "Store",
    "StorePermissionDenied",
    "StoreRejected",
    "StoreUnavailable",
    "SweepReport",
    "Tick",
    "TransientError",
    "TransitionRefused",
    "UnknownGate",
    "UnknownPipeline",
    "load_pipeline",
    "load_spec",
    "open_publisher",
    "open_store",
    "spec_from_mapping",
    "trigger_id",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module when it is first used (PEP 562)."""
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'phaseactors' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
