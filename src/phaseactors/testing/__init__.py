"""Test kit shipped with the library: the store contract, for checking your own store, and
the actor contract, for checking your own actor on every store (the interleaving explorer of
any actor is :mod:`phaseactors.testing.explore`, its stateful machine
:mod:`phaseactors.testing.stateful`; both need Hypothesis).

Importing this package needs pytest (the ``dev`` extra).
"""

from .actor_contract import ActorContract
from .store_contract import InterferingActor, StoreContract, contract_spec

__all__ = ["ActorContract", "InterferingActor", "StoreContract", "contract_spec"]
