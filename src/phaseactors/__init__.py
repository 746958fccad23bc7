"""phaseactors: phase gates that trigger the next phase exactly once per key.

Every key of a phase-gated pipeline is a persisted state machine whose transitions commit
atomically in a store; completion messages may arrive duplicated, concurrently, late or
failed, and the next phase is still triggered exactly once per generation.
"""

from .actor import Actor, Outcome, Stepped
from .completion import Completion, Status
from .errors import (
    ContentionError,
    InvalidKey,
    InvalidMessage,
    PermanentError,
    PhaseactorsError,
    PublishFailed,
    SpecError,
    StoreRejected,
    StoreUnavailable,
    TransientError,
    TransitionRefused,
    UnknownGate,
)
from .events import (
    CompletionReported,
    Event,
    FailKey,
    ForceTrigger,
    OutboxPublished,
    OutboxReleased,
    Rearm,
    Tick,
)
from .machines import GateActor, GateMachine, GateSpec, load_spec, spec_from_mapping
from .publishers import JsonlPublisher, LogPublisher, Publisher, RecordingPublisher, open_publisher
from .runtime import Delivery, Runtime, SweepReport
from .snapshot import HistoryEntry, OutboxEntry, Snapshot, trigger_id
from .stores import MemoryStore, SqliteStore, Store, open_store

__all__ = [
    "Actor",
    "Completion",
    "CompletionReported",
    "ContentionError",
    "Delivery",
    "Event",
    "FailKey",
    "ForceTrigger",
    "GateActor",
    "GateMachine",
    "GateSpec",
    "HistoryEntry",
    "InvalidKey",
    "InvalidMessage",
    "JsonlPublisher",
    "LogPublisher",
    "MemoryStore",
    "OutboxEntry",
    "OutboxPublished",
    "OutboxReleased",
    "Outcome",
    "PermanentError",
    "PhaseactorsError",
    "PublishFailed",
    "Publisher",
    "Rearm",
    "RecordingPublisher",
    "Runtime",
    "Snapshot",
    "SpecError",
    "SqliteStore",
    "Status",
    "Stepped",
    "Store",
    "StoreRejected",
    "StoreUnavailable",
    "SweepReport",
    "Tick",
    "TransientError",
    "TransitionRefused",
    "UnknownGate",
    "load_spec",
    "open_publisher",
    "open_store",
    "spec_from_mapping",
    "trigger_id",
]
