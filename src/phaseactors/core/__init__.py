"""The actor kernel: any persisted state machine, whatever it decides.

An :class:`~phaseactors.core.actor.Actor` steps a :class:`~phaseactors.core.snapshot.Snapshot`
with an :class:`~phaseactors.core.events.Event` (purely: no I/O, no clock); a
:class:`~phaseactors.core.store.Store` commits the result atomically; the
:class:`~phaseactors.core.runtime.Runtime` publishes what the step put in the outbox, under a
lease, through a :class:`~phaseactors.core.publisher.Publisher`. :class:`MachineActor` builds
an actor on python-statemachine. Nothing here knows any machine in particular.
"""

from .actor import Actor, Outcome, Stepped
from .events import Claim, Event, OperatorEvent, OutboxPublished, OutboxReleased, Tick
from .machine_actor import ActorModel, MachineActor
from .publisher import Publisher
from .runtime import DEFAULT_LEASE, Delivery, Runtime, SweepReport
from .snapshot import HistoryEntry, Lease, OutboxEntry, Snapshot
from .store import Applied, Quarantined, Resolution, RetryPolicy, Store

__all__ = [
    "DEFAULT_LEASE",
    "Actor",
    "ActorModel",
    "Applied",
    "Claim",
    "Delivery",
    "Event",
    "HistoryEntry",
    "Lease",
    "MachineActor",
    "OperatorEvent",
    "OutboxEntry",
    "OutboxPublished",
    "OutboxReleased",
    "Outcome",
    "Publisher",
    "Quarantined",
    "Resolution",
    "RetryPolicy",
    "Runtime",
    "Snapshot",
    "Stepped",
    "Store",
    "SweepReport",
    "Tick",
]
