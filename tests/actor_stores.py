"""Every store, as mixins for the actor contract (importable as ``actor_stores``): a test
class names an actor subject and one of these."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from phaseactors.stores import MemoryStore, SqliteStore
from phaseactors.stores.base import RetryPolicy, Store
from support import require_emulator


class OnMemory:
    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        return MemoryStore(retry=retry)


class OnSqlite:
    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        return SqliteStore(tmp_path / "actors.db", retry=retry)

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        return SqliteStore(tmp_path / "actors.db")


@pytest.mark.emulator
class OnFirestore:
    """The Firestore emulator, combining design (the production default)."""

    prefix = ""

    def _open(self, retry: RetryPolicy | None = None) -> Store:
        require_emulator("FIRESTORE_EMULATOR_HOST")
        from google.cloud import firestore

        from phaseactors.stores.firestore import FirestoreStore

        return FirestoreStore(
            firestore.Client(project="phaseactors-test"), prefix=self.prefix, retry=retry
        )

    def create_store(self, tmp_path: Path, retry: RetryPolicy | None = None) -> Store:
        self.prefix = f"a{uuid.uuid4().hex[:10]}."
        return self._open(retry)

    def other_handle(self, store: Store, tmp_path: Path) -> Store:
        return self._open()
