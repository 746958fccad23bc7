"""The one workload every peer gets: the Phase 2 gate's 21 processors x K old game dates, every
completion delivered ``copies`` times with the same business id, one seeded shuffle dealt
round-robin to the sender processes.

Keys are old dates (``common.make_keys``) so the gate picks its backfill profile: all 21
processors, no wall-clock deadline. The peers wait for the same 21 names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from common import PIPELINE_GATE, WARM_UP_KEY, make_keys
from phaseactors import load_spec

__all__ = ["WARM_UP_KEY", "Message", "deal", "plan", "processors", "warm_up"]


@dataclass(frozen=True)
class Message:
    """One delivery of one completion: ``copy`` 0, 1, 2 carry the same ids."""

    index: int  # position in the shuffled plan
    key: str
    processor: str
    copy: int

    @property
    def execution_id(self) -> str:
        """The producer's run id: the same for every copy (the business id)."""
        return f"{self.processor}-{self.key}"

    @property
    def message_id(self) -> str:
        """The transport's message id: also the same for every copy (a redelivery)."""
        return f"msg-{self.processor}-{self.key}"

    def body(self) -> dict[str, str]:
        """What a sender puts on the wire, for every system alike."""
        return {
            "key": self.key,
            "processor": self.processor,
            "execution_id": self.execution_id,
            "message_id": self.message_id,
        }


@cache
def processors() -> tuple[str, ...]:
    """The 21 processor names the Phase 2 -> Phase 3 gate expects (its backfill profile)."""
    return tuple(sorted(load_spec(PIPELINE_GATE).expected))


def plan(keys: int, copies: int = 3, seed: int = 1) -> tuple[list[str], list[Message]]:
    """``keys`` game dates and their ``keys * 21 * copies`` deliveries, shuffled by ``seed``."""
    key_list = make_keys(keys)
    pairs = [(k, p, c) for k in key_list for p in processors() for c in range(copies)]
    random.Random(seed).shuffle(pairs)
    return key_list, [Message(i, k, p, c) for i, (k, p, c) in enumerate(pairs)]


def deal(messages: list[Message], senders: int) -> list[list[Message]]:
    """Round-robin: sender ``i`` gets messages ``i, i + senders, ...`` in plan order."""
    return [messages[i::senders] for i in range(senders)]


def warm_up() -> list[Message]:
    """One key's 21 completions, delivered once before timing (cold caches, first workflow)."""
    return [Message(-1 - i, WARM_UP_KEY, p, 0) for i, p in enumerate(processors())]
