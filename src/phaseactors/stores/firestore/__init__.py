"""The Firestore store (extra ``gcp``): the adapter, the combining protocol for contended
keys, and the client module that talks to Firestore."""

from ...errors import StorePermissionDenied
from .client import FirestoreStats
from .combining import INBOX_TTL
from .store import FirestoreStore, open_firestore_store

__all__ = [
    "INBOX_TTL",
    "FirestoreStats",
    "FirestoreStore",
    "StorePermissionDenied",
    "open_firestore_store",
]
