"""Every exception phaseactors raises on purpose, split by what a caller must do about it.

A :class:`PermanentError` can never succeed on retry: acknowledge the message and quarantine
it. A :class:`TransientError` may succeed later: raise so the transport redelivers. The tree::

    PhaseactorsError
    ├── PermanentError               acknowledge; the message is quarantined with the reason
    │   ├── InvalidMessage           a field of the message is wrong (``field`` names it)
    │   │   └── InvalidKey           the key's format rejects it
    │   ├── KeyNotFound              an operator command names a key that has no state yet
    │   ├── NotQuarantined           no quarantined message has that id (any more)
    │   ├── PoisonMessage            handling the message raised an error nobody anticipated
    │   ├── StoreRejected            the store refuses the write for good (a document > 1 MiB)
    │   ├── TransitionRefused        the machine does not take this event in this state
    │   ├── UnknownGate              no gate definition of that name or path
    │   └── UnknownPipeline          no pipeline definition of that name or path
    ├── SpecError                    a gate or pipeline file is malformed (file, field named)
    ├── ConfigurationError           a setting is missing or contradicts another
    │   ├── CredentialsMissing       no Google credentials, and no emulator configured
    │   ├── InvalidURL               a store or publisher URL that cannot be opened as written
    │   ├── PrerequisiteMissing      a tool, login or file a command needs is missing
    │   │   └── DiagramToolMissing   a diagram format needs a tool that is not installed
    │   │       └── GraphvizMissing  SVG or PNG without Graphviz's ``dot``
    │   └── StoreNotFound            a command that only reads found no store where it looked
    ├── UsageError                   a command was given missing or contradicting arguments
    ├── NotConfirmed                 the operator did not confirm a destructive command
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
    "CredentialsMissing",
    "DefinitionMissing",
    "DeployFailed",
    "DiagramToolMissing",
    "GraphvizMissing",
    "InvalidKey",
    "InvalidMessage",
    "InvalidURL",
    "KeyNotFound",
    "NotConfirmed",
    "NotQuarantined",
    "PermanentError",
    "PhaseactorsError",
    "PoisonMessage",
    "PrerequisiteMissing",
    "PublishFailed",
    "SpecError",
    "StoreNotFound",
    "StorePermissionDenied",
    "StoreRejected",
    "StoreUnavailable",
    "TransientError",
    "TransitionRefused",
    "UnknownGate",
    "UnknownPipeline",
    "UsageError",
]


class PhaseactorsError(Exception):
    """Base class of every error phaseactors raises on purpose."""


class PermanentError(PhaseactorsError):
    """Retrying cannot help: the message is acknowledged and quarantined with this reason."""

    #: The id under which the intake quarantined the message, once it has (else None).
    quarantined_as: str | None = None


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


class UnknownPipeline(PermanentError):
    """No pipeline definition of that name or path exists."""


class TransitionRefused(PermanentError):
    """The actor's state machine refuses this event in its current state."""

    def __init__(self, event: str, state: str, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(f"event {event!r} is not allowed in state {state!r}{detail}")
        self.event = event
        self.state = state


class KeyNotFound(PermanentError):
    """An operator command names a key that has no state yet: most often a typo (2052 for
    2025), so nothing is created unless the operator asks for it."""

    def __init__(self, gate: str, key: str) -> None:
        super().__init__(
            f"{key} has no state yet: nothing was delivered for it in gate {gate};"
            " check the key, or pass --create to start it"
        )
        self.gate = gate
        self.key = key


class NotQuarantined(PermanentError):
    """No quarantined message has this id: it never existed, or was purged or replayed."""


class StoreRejected(PermanentError):
    """The store refused a write for good (a document over the size limit, say): the same
    write can never succeed, so the message is quarantined and the key left as it was."""


class SpecError(PhaseactorsError):
    """A gate or pipeline definition is malformed; the message names the file and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: {field}: {problem}")
        self.source = source
        self.field = field
        self.problem = problem


class ConfigurationError(PhaseactorsError):
    """A setting is missing, malformed or contradicts another; fix the environment."""


class CredentialsMissing(ConfigurationError):
    """A Google client found no credentials, and no emulator is configured; the message says
    which credentials are needed and how to get them."""

    @classmethod
    def for_service(cls, service: str, url: str, emulator_variable: str) -> CredentialsMissing:
        """The error for ``service`` (``Firestore``, ``Pub/Sub``) opened as ``url``."""
        return cls(
            f"{url}: no Google credentials for {service}, and {emulator_variable} is unset"
            " (so the real service was meant): run `gcloud auth application-default login`,"
            " or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file; for the"
            f" emulator set {emulator_variable}=HOST:PORT"
        )


class InvalidURL(ConfigurationError, ValueError):
    """A store or publisher URL that cannot be opened as written; also a ``ValueError``, which
    release 0.1.0 raised for it."""


class StoreNotFound(ConfigurationError):
    """A command that only reads found no store where it looked: a mistyped path must not
    silently become a new, empty store."""


class UsageError(PhaseactorsError):
    """A command was given missing, contradicting or malformed arguments."""


class NotConfirmed(PhaseactorsError):
    """The operator did not confirm a destructive command at the prompt; nothing was done."""


class PrerequisiteMissing(ConfigurationError):
    """A tool, a login or a staged file a command needs is not there; the message names it."""


class DiagramToolMissing(PrerequisiteMissing):
    """A diagram format needs something that is not installed; the message says what to run."""


class GraphvizMissing(DiagramToolMissing):
    """SVG or PNG was asked for but Graphviz's ``dot`` program is not installed."""

    def __init__(self, fmt: str) -> None:
        super().__init__(
            f"{fmt} needs Graphviz's `dot` program, which is not on PATH: install Graphviz (the"
            " Debian package graphviz; scripts/setup-system in a checkout), or use"
            " --format mermaid|dot|md"
        )


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
