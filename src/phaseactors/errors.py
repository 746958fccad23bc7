"""Every exception phaseactors raises on purpose, split by what a caller must do about it.

A :class:`PermanentError` can never succeed on retry: acknowledge the message and quarantine
it. A :class:`TransientError` may succeed later: raise so the transport redelivers. The tree::

    PhaseactorsError
    ├── PermanentError               acknowledge; the message is quarantined with the reason
    │   ├── InvalidMessage           a field of the message is wrong (``field`` names it)
    │   │   └── InvalidKey           the key's format rejects it
    │   ├── PoisonMessage            handling the message raised an error nobody anticipated
    │   ├── StoreRejected            the store refuses the write for good (a document > 1 MiB)
    │   ├── TransitionRefused        the machine does not take this event in this state
    │   └── UnknownGate              no gate definition of that name or path
    ├── SpecError                    a gate file is malformed (file and field named)
    ├── ConfigurationError           a setting is missing or contradicts another
    │   └── PrerequisiteMissing      a tool, login or file a deployment needs is missing
    ├── DeployFailed                 a deploy command failed
    └── TransientError               redeliver; it may succeed later
        ├── ContentionError          the retry budget for one key was spent on conflicts
        ├── DefinitionMissing        a key is pinned to a definition the store does not have
        ├── StoreUnavailable         the store cannot be reached or refuses for now
        │   └── StorePermissionDenied    the credentials were refused: fix IAM, then retry
        └── PublishFailed            an outbox message could not be published; it stays pending
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ContentionError",
    "DefinitionMissing",
    "DeployFailed",
    "InvalidKey",
    "InvalidMessage",
    "PermanentError",
    "PhaseactorsError",
    "PoisonMessage",
    "PrerequisiteMissing",
    "PublishFailed",
    "SpecError",
    "StorePermissionDenied",
    "StoreRejected",
    "StoreUnavailable",
    "TransientError",
    "TransitionRefused",
    "UnknownGate",
]


class PhaseactorsError(Exception):
    """Base class of every error phaseactors raises on purpose."""


class PermanentError(PhaseactorsError):
    """Retrying cannot help: the message is acknowledged and quarantined with this reason."""


class InvalidMessage(PermanentError):
    """A message that does not describe a valid completion; ``field`` names the defect."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidKey(InvalidMessage):
    """A key that the gate's key format rejects, so it never becomes a document id."""


class PoisonMessage(PermanentError):
    """Handling a message raised an error nobody anticipated (an arithmetic overflow, an
    encoder's refusal, a bug): caused by that message's content, so permanent for it. It is
    quarantined with the error instead of being redelivered until it is dead-lettered."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class UnknownGate(PermanentError):
    """No gate definition of that name or path exists."""


class TransitionRefused(PermanentError):
    """The actor's state machine refuses this event in its current state."""

    def __init__(self, event: str, state: str, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(f"event {event!r} is not allowed in state {state!r}{detail}")
        self.event = event
        self.state = state


class StoreRejected(PermanentError):
    """The store refused a write for good (a document over the size limit, say): the same
    write can never succeed, so the message is quarantined and the key left as it was."""


class SpecError(PhaseactorsError):
    """A gate definition is malformed; the message names the file and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: {field}: {problem}")
        self.source = source
        self.field = field
        self.problem = problem


class ConfigurationError(PhaseactorsError):
    """A setting is missing, malformed or contradicts another; fix the environment."""


class PrerequisiteMissing(ConfigurationError):
    """A tool, a login or a staged file a deployment needs is not there; the message names it."""


class DeployFailed(PhaseactorsError):
    """A deploy command failed, or a resource differs in a way no command here can change."""


class TransientError(PhaseactorsError):
    """The operation may succeed later; the transport should redeliver."""


class ContentionError(TransientError):
    """The store's retry budget for one key was spent on conflicting writers."""

    def __init__(self, actor: str, key: str, attempts: int) -> None:
        super().__init__(
            f"{actor}/{key}: gave up after {attempts} conflicting attempts; retry later"
        )
        self.actor = actor
        self.key = key
        self.attempts = attempts


class DefinitionMissing(TransientError):
    """A key is pinned to a definition this handler cannot read: the store has no record of
    that fingerprint (or one this release cannot read). Nothing is committed; the message is
    redelivered. ``phaseactors migrate`` moves such a key to the current definition."""

    def __init__(
        self, actor: str, fingerprint: str, why: str = "the store has no record of it"
    ) -> None:
        super().__init__(f"{actor}: definition {fingerprint} is not available: {why}")
        self.actor = actor
        self.fingerprint = fingerprint


class StoreUnavailable(TransientError):
    """The store could not be reached or refused the operation for now."""


class StorePermissionDenied(StoreUnavailable):
    """The store refused the credentials; fix IAM, then redelivery succeeds."""


class PublishFailed(TransientError):
    """An outbox message could not be published; it stays pending and will be re-driven."""
