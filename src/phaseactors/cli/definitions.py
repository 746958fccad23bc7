"""The verbs of versioned gate definitions: ``migrate`` (move keys in flight to the current
definition) and ``check`` (validate a gate file, show its semantic diff to another)."""

from __future__ import annotations

import argparse

from . import check, migrate

__all__ = ["register_definition_verbs"]


def register_definition_verbs(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    for verb in (migrate, check):
        verb.register(subparsers)
