"""Test kit shipped with the library: the store contract, for checking your own store.

Importing this package needs pytest (the ``dev`` extra).
"""

from .store_contract import InterferingActor, StoreContract, contract_spec

__all__ = ["InterferingActor", "StoreContract", "contract_spec"]
