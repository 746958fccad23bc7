"""Pub/Sub publisher (extra ``gcp``): publishes outbox entries, returns the message id.

Every trigger carries the attributes ``trigger_id``, ``gate``, ``key`` and ``correlation_id``
and the ordering key ``key``. A publish that fails or times out raises
:class:`~phaseactors.errors.PublishFailed`: the entry stays pending and is re-driven with the
same ``trigger_id``, so consumers drop repeats by that attribute. After a failure the ordering
key is resumed, otherwise the client would refuse every later message for that key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.api_core import exceptions as google_errors
from google.auth import exceptions as google_auth_errors
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from ..config import Settings
from ..core.snapshot import OutboxEntry
from ..errors import CredentialsMissing, InvalidURL, PublishFailed

__all__ = ["PubSubPublisher", "open_pubsub_publisher"]


class PubSubPublisher:
    """Publish to ``projects/{project}/topics/{entry.topic}`` with message ordering."""

    def __init__(self, project: str, *, timeout: float = 30.0, client: Any | None = None) -> None:
        if not project:
            raise ValueError("pubsub:// URL needs a project: pubsub://PROJECT")
        self.project = project
        self.timeout = timeout
        self.client = client or pubsub_v1.PublisherClient(
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        )

    def __repr__(self) -> str:
        return f"PubSubPublisher(project={self.project!r})"

    def topic_path(self, topic: str) -> str:
        return str(self.client.topic_path(self.project, topic))

    def publish(self, entry: OutboxEntry) -> str:
        data = json.dumps(dict(entry.body), sort_keys=True, default=str).encode()
        return self.publish_raw(entry.topic, data, entry.attributes, entry.ordering_key)

    def publish_raw(
        self,
        topic: str,
        data: bytes,
        attributes: Mapping[str, str],
        ordering_key: str | None = None,
    ) -> str:
        """Publish bytes (used for dead letters too); raise PublishFailed on any failure."""
        path = self.topic_path(topic)
        try:
            future = self.client.publish(
                path, data, ordering_key=ordering_key or "", **dict(attributes)
            )
            return str(future.result(timeout=self.timeout))
        except (google_errors.GoogleAPIError, FutureTimeout, RuntimeError) as exc:
            if ordering_key:
                # a timed-out publish did not pause the key: resuming it raises
                with contextlib.suppress(RuntimeError, ValueError):
                    self.client.resume_publish(path, ordering_key)
            detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if isinstance(exc, FutureTimeout):
                detail = f"no answer within {self.timeout:g} s: {_unreachable_hint()}"
            raise PublishFailed(f"publish to {path} failed: {detail}") from exc


def _unreachable_hint() -> str:
    emulator = Settings.from_env().pubsub_emulator
    if emulator:
        return f"is the emulator running at PUBSUB_EMULATOR_HOST={emulator}?"
    return "check the network and the topic; for the emulator set PUBSUB_EMULATOR_HOST=HOST:PORT"


def open_pubsub_publisher(rest: str) -> PubSubPublisher:
    """``pubsub://PROJECT[?timeout=SECONDS]`` (a publish waits at most that long, default 30)."""
    url = f"pubsub://{rest}"
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"timeout"}
    if unknown:
        raise InvalidURL(f"publisher URL {url!r}: unknown option {sorted(unknown)[0]!r}")
    if not parts.netloc or parts.path.strip("/"):
        raise InvalidURL(f"publisher URL {url!r}: use pubsub://PROJECT")
    try:
        timeout = float(options.get("timeout", 30.0))
    except ValueError:
        raise InvalidURL(f"publisher URL {url!r}: timeout must be a number of seconds") from None
    if not timeout > 0:
        raise InvalidURL(f"publisher URL {url!r}: timeout must be more than 0 seconds")
    try:
        return PubSubPublisher(parts.netloc, timeout=timeout)
    except google_auth_errors.DefaultCredentialsError:
        raise CredentialsMissing.for_service("Pub/Sub", url, "PUBSUB_EMULATOR_HOST") from None
