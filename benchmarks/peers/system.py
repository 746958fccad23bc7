"""What the runner needs from each peer: its servers, a sender, and how to inspect the end state.

An adapter module defines one ``System`` subclass (the server side, used by the runner) and one
``Sender`` class (the client side, built again inside every sender process from plain
parameters, so it must be importable by ``"module:Class"`` and take only JSON-able values).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from procs import Component
from workload import Message

__all__ = ["Sender", "System"]


class Sender(Protocol):
    """One sender process's client. ``send`` returns once the system acknowledged the message
    (returning what it said: ``accepted``, ``duplicate``, ``rejected-closed``, ...) and raises
    when it did not, in which case the sender delivers the same message again."""

    def __init__(self, params: Mapping[str, Any]) -> None: ...

    def send(self, message: Message) -> str: ...

    def close(self) -> None: ...


class System(abc.ABC):
    """The server side of one peer row: started, crashed and inspected by the runner."""

    name: str  # the row's name in the table
    durability: str  # what an acknowledged completion survives, in a few words
    dedup: str  # what the system's idiomatic dedup is and costs, in a few words
    sender: str  # "module:Class" of the Sender

    def __init__(self, workdir: Path, sink: str, label: str) -> None:
        self.workdir = workdir
        self.sink = sink
        self.label = label  # the ``system`` field of this run's sink lines
        self.components: list[Component] = []

    # -- lifecycle ------------------------------------------------------------------------

    @abc.abstractmethod
    def start(self) -> None:
        """Start every server-side process on loopback; return once they serve."""

    def prepare(self, keys: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Anything a key needs before its first completion (nothing, for most systems)."""

    @abc.abstractmethod
    def sender_params(self) -> dict[str, Any]:
        """What a Sender needs to connect (ports, URLs, the policy of the row). The runner adds
        ``sink`` and ``system`` (where and under which label triggers go) and
        ``sender_index``."""

    def deciding(self) -> list[Component]:
        """What the crash scenario kills: the component that decides and commits."""
        return self.components[:1]

    def restart(self) -> None:
        """Start the killed components again, from what they persisted."""
        for component in self.deciding():
            component.start()

    def tick(self) -> None:  # noqa: B027 - optional hook
        """What a scheduler would run periodically in production (phaseactors' sweep)."""

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()

    # -- measurements ---------------------------------------------------------------------

    def cpu(self) -> float:
        return sum(component.cpu() for component in self.components)

    def rss(self) -> float:
        return sum(component.rss() for component in self.components)

    def external_rss(self) -> float | None:
        """RSS of a server the benchmark did not start (the Firestore emulator), if any."""
        return None

    @abc.abstractmethod
    def recorded(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """The processors the system holds for each of ``keys`` (keys it does not know: absent).
        Asked only about keys that never triggered, after the run."""

    def leftovers(self, keys: Sequence[str]) -> dict[str, Any]:
        """End-state facts about late duplicates: zombie runs, unread messages, ..."""
        return {}

    @abc.abstractmethod
    def operator_command(self) -> str:
        """The command an operator runs to find the keys that never triggered."""

    def versions(self) -> dict[str, str]:
        return {}
