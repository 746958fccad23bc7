"""The one reader of phaseactors' environment variables: every ``PHASEACTORS_*`` setting, read
into one frozen :class:`Settings` (docs/configuration.md has the table; a test keeps the two in
step). Read when asked, never cached: a process's environment is its configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from attrs import field, frozen

from .errors import ConfigurationError

__all__ = ["VARIABLES", "Settings"]

#: Each setting: its environment variable and what it means.
VARIABLES: dict[str, tuple[str, str]] = {
    "gate": ("PHASEACTORS_GATE", "the gate a command or function serves: a name or a path"),
    "pipeline": (
        "PHASEACTORS_PIPELINE",
        "the pipeline a command or function serves: a name or a path",
    ),
    "store": ("PHASEACTORS_STORE", "the store URL (the CLI's default: sqlite:///phaseactors.db)"),
    "publisher": (
        "PHASEACTORS_PUBLISHER",
        "the publisher URL (the CLI's default: a JSON-lines file beside the store)",
    ),
    "machines": ("PHASEACTORS_MACHINES", "where gate files are looked up by name, :-separated"),
    "operator": ("PHASEACTORS_OPERATOR", "who runs operator commands (default USER@HOST)"),
    "dead_letter_topic": (
        "PHASEACTORS_DEAD_LETTER_TOPIC",
        "the function also publishes quarantined messages here",
    ),
    "push_token": ("PHASEACTORS_PUSH_TOKEN", "the shared secret of the push entry point"),
    "push_audience": ("PHASEACTORS_PUSH_AUDIENCE", "the OIDC audience of push requests"),
    "push_service_account": (
        "PHASEACTORS_PUSH_SERVICE_ACCOUNT",
        "the one service account whose OIDC tokens push accepts",
    ),
    "console_gates": (
        "PHASEACTORS_CONSOLE_GATES",
        "the gates the console shows, comma-separated (default: every gate file found)",
    ),
    "console_token": (
        "PHASEACTORS_CONSOLE_TOKEN",
        "the token a browser signs in with to act in a local console",
    ),
    "console_secret": (
        "PHASEACTORS_CONSOLE_SECRET",
        "signs the console's cookies and confirmations (default: random per process)",
    ),
    "console_allow_actions": (
        "PHASEACTORS_CONSOLE_ALLOW_ACTIONS",
        "1: the console on Cloud Run allows actions (force, rearm, fail)",
    ),
    "console_iap_audience": (
        "PHASEACTORS_CONSOLE_IAP_AUDIENCE",
        "the audience of the Identity-Aware Proxy assertions the console on Cloud Run accepts",
    ),
}


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in text.split(os.pathsep) if p)


@frozen(kw_only=True)
class Settings:
    """phaseactors' settings; unset ones are None (or empty)."""

    gate: str | None = None
    pipeline: str | None = None
    store: str | None = None
    publisher: str | None = None
    machines: tuple[Path, ...] = field(default=(), converter=tuple)
    operator: str | None = None
    dead_letter_topic: str | None = None
    push_token: str | None = None
    push_audience: str | None = None
    push_service_account: str | None = None
    console_gates: str | None = None
    console_token: str | None = None
    console_secret: str | None = None
    console_allow_actions: str | None = None
    console_iap_audience: str | None = None
    project: str | None = None
    """Google Cloud's own project variable (``GOOGLE_CLOUD_PROJECT`` or ``GCP_PROJECT``)."""
    firestore_emulator: str | None = None
    """The Google clients' ``FIRESTORE_EMULATOR_HOST`` (read here only to explain errors)."""
    pubsub_emulator: str | None = None
    """The Google clients' ``PUBSUB_EMULATOR_HOST`` (read here only to explain errors)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            name: env.get(variable) or None for name, (variable, _) in VARIABLES.items()
        }
        values["machines"] = _paths(env.get("PHASEACTORS_MACHINES", ""))
        values["project"] = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or None
        values["firestore_emulator"] = env.get("FIRESTORE_EMULATOR_HOST") or None
        values["pubsub_emulator"] = env.get("PUBSUB_EMULATOR_HOST") or None
        return cls(**values)  # type: ignore[arg-type]

    def cloud_urls(self) -> tuple[str, str]:
        """The store and publisher URLs of a Google Cloud deployment: the settings, else
        Firestore and Pub/Sub in the project (:class:`ConfigurationError` without either)."""
        project = self.project
        store = self.store or (f"firestore://{project}" if project else None)
        publisher = self.publisher or (f"pubsub://{project}" if project else None)
        if not store or not publisher:
            raise ConfigurationError(
                "set GOOGLE_CLOUD_PROJECT, or PHASEACTORS_STORE and PHASEACTORS_PUBLISHER"
            )
        return store, publisher
