"""The user's words: refusals name commands, not the machine's events, and say what the key's
state allows; unknown processor names get the closest known one."""

from __future__ import annotations

from typing import Any

from ..core.machine_actor import MachineActor
from ..gate.spec import GateSpec
from .args import suggest

__all__ = ["COMMAND_OF_EVENT", "allowed_commands", "closest_processor", "refusal"]

#: The command that sends each machine event (None: no command sends it directly).
COMMAND_OF_EVENT: dict[str, str] = {
    "report_done": "deliver",
    "report_failure": "deliver",
    "force": "force-trigger",
    "fail": "fail",
    "rearm": "rearm",
    "tick": "sweep",
    "confirm_trigger": "sweep",
}

_NOTES = {
    ("complete", "sweep"): "sweep (publishes the pending trigger)",
    ("complete", "deliver"): "deliver (recorded as late)",
    ("triggered", "deliver"): "deliver (recorded as late)",
}


def allowed_commands(actor: MachineActor[Any], state: str) -> list[str]:
    """The commands a key in ``state`` accepts, each with a note where it matters."""
    commands: list[str] = []
    for event in actor.allowed_events(state):
        command = COMMAND_OF_EVENT.get(event)
        if command is not None and command not in commands:
            commands.append(command)
    return [_NOTES.get((state, c), c) for c in sorted(commands)]


def refusal(actor: MachineActor[Any], command: str, state: str) -> str:
    """``complete, where rearm is not possible; a complete key allows: deliver (recorded as
    late), sweep (publishes the pending trigger)``."""
    allowed = ", ".join(allowed_commands(actor, state)) or "nothing"
    return f"{state}, where {command} is not possible; a {state} key allows: {allowed}"


def closest_processor(spec: GateSpec, name: str) -> str:
    """``"; did you mean 'x'?"`` for the expected processor or alias closest to ``name``."""
    return suggest(name, [*spec.expected, *spec.aliases])
