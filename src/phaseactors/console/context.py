"""What every view of the console needs: its lanes, the store, the options, the signer."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from attrs import field, frozen

from ..core.clock import Clock, utcnow
from ..core.store import Store
from .auth import Authenticator, Nobody
from .lanes import GateLane, Lane, PipelineLane
from .security import Confirmations

__all__ = ["Console", "ConsoleOptions"]


def _secret(value: str | bytes | None) -> bytes:
    """The configured secret as bytes; a random one when none is configured."""
    if value is None or value == b"" or value == "":
        return secrets.token_bytes(32)
    return value.encode() if isinstance(value, str) else value


@frozen(kw_only=True)
class ConsoleOptions:
    """How the console runs: whether actions are allowed, who may take them, the secret that
    signs its cookies and confirmations, whether cookies need HTTPS."""

    allow_actions: bool = False
    authenticator: Authenticator = field(factory=Nobody)
    secret_key: bytes = field(default=None, converter=_secret, repr=False)
    secure_cookies: bool = False
    clock: Clock = utcnow


class Console:
    """The gates a console shows, over one store."""

    def __init__(
        self,
        gates: Sequence[GateLane],
        store: Store,
        options: ConsoleOptions,
        *,
        extra_lanes: Sequence[Lane] = (),
    ) -> None:
        if not gates:
            raise ValueError("a console needs at least one gate")
        self.gates = {lane.name: lane for lane in gates}
        self.store = store
        self.options = options
        self.extra_lanes = tuple(extra_lanes)
        """Lanes shown before the gates (the pipeline run, when present)."""
        self.pipelines = {
            lane.name: lane for lane in self.extra_lanes if isinstance(lane, PipelineLane)
        }
        self.confirmations = Confirmations(options.secret_key)

    @property
    def lanes(self) -> tuple[Lane, ...]:
        return (*self.extra_lanes, *self.gates.values())
