"""The Firestore and Pub/Sub side of the chaos soak (imports google.*; emulators only).

Firestore conflicts are not injected: concurrent workers make them. They are counted, per
delivery, by a store whose failed commits note a natural conflict. Pub/Sub: a topic for the
triggers and a subscription created before the run, pulled dry after it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from chaos_faults import current
from phaseactors import Store

__all__ = ["PubSubTriggers", "chaos_firestore_store", "require_emulators"]


def require_emulators(store: str, publisher: str) -> str | None:
    """Why the run may not start (a chaos run never touches a real project), or None."""
    if store == "firestore" and not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return "--store firestore needs FIRESTORE_EMULATOR_HOST (run under scripts/emulators)"
    if publisher == "pubsub" and not os.environ.get("PUBSUB_EMULATOR_HOST"):
        return "--publisher pubsub needs PUBSUB_EMULATOR_HOST (run under scripts/emulators)"
    return None


def chaos_firestore_store(project: str, prefix: str) -> Store:
    """A :class:`~phaseactors.stores.firestore.FirestoreStore` that counts failed commits."""
    from google.cloud import firestore

    from phaseactors.stores.firestore import FirestoreStore

    class CountingFirestoreStore(FirestoreStore):
        def _commit(self, batch: Any, writes: int) -> bool:
            committed = super()._commit(batch, writes)
            faults = current()
            if not committed and faults is not None:
                faults.note("natural_conflicts")
            return committed

    return CountingFirestoreStore(firestore.Client(project=project), prefix=prefix)


@dataclass
class PubSubTriggers:
    """A topic the gate publishes its triggers to, and a subscription that sees every copy."""

    project: str
    topic: str
    subscription: str

    @classmethod
    def create(cls, project: str, suffix: str) -> PubSubTriggers:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        topic = f"chaos-trigger-{suffix}"
        topic_path = publisher.topic_path(project, topic)
        publisher.create_topic(name=topic_path)
        subscription = subscriber.subscription_path(project, f"chaos-verify-{suffix}")
        subscriber.create_subscription(
            request={"name": subscription, "topic": topic_path, "ack_deadline_seconds": 60}
        )
        subscriber.close()
        return cls(project, topic, subscription)

    def pull_all(self, expect_at_least: int, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Every message on the subscription (acknowledged as pulled), as PublishLog lines."""
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        subscriber = pubsub_v1.SubscriberClient()
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                enough = len(received) >= expect_at_least
                response = subscriber.pull(
                    subscription=self.subscription, max_messages=1000, timeout=2 if enough else 10
                )
                if not response.received_messages:
                    if enough:  # every publish completed before the pull: nothing more comes
                        break
                    continue
                for item in response.received_messages:
                    message = item.message
                    attributes = dict(message.attributes)
                    received.append(
                        {
                            "message_id": message.message_id,
                            "entry_id": attributes.get("trigger_id"),
                            "attributes": attributes,
                            "data": json.loads(message.data),
                        }
                    )
                subscriber.acknowledge(
                    subscription=self.subscription,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
        finally:
            subscriber.close()
        return received
