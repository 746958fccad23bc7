"""The sender processes: the producers (or their subscription) of the workload.

Each is a fresh interpreter (``spawn``) that builds its system's client, waits at the barrier,
then delivers its share one message at a time. A message the system did not acknowledge (an
exception: connection refused, timeout, a transient error) is delivered again after a short
back-off, as an at-least-once producer or Pub/Sub would, until it is acknowledged or the
sender's time budget is spent. Per message it reports when its first attempt started, when it
was acknowledged, what the system answered and how many attempts it took.
"""

from __future__ import annotations

import importlib
import resource
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from system import Sender
from workload import Message

__all__ = ["Delivered", "SenderResult", "load_sender", "sender_main"]

BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class Delivered:
    """One message, acknowledged (or given up on: ``acked_at`` is None)."""

    index: int
    started_at: float
    acked_at: float | None
    outcome: str
    attempts: int


@dataclass
class SenderResult:
    delivered: list[Delivered] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu_s: float = 0.0
    setup_error: str | None = None


def load_sender(path: str, params: Mapping[str, Any]) -> Sender:
    """Build the Sender named ``module:Class``."""
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    sender: Sender = cls(params)
    return sender


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def deliver_all(
    sender: Sender,
    messages: Sequence[Message],
    budget_s: float,
    progress: Any = None,
    result: SenderResult | None = None,
) -> SenderResult:
    """Deliver ``messages`` in order, each until acknowledged or the budget is spent."""
    result = result or SenderResult()
    deadline = time.monotonic() + budget_s
    for message in messages:
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                outcome = sender.send(message)
            except Exception as exc:
                result.errors[type(exc).__name__] += 1
                if time.monotonic() > deadline:
                    result.delivered.append(Delivered(message.index, started, None, "gave-up", 0))
                    break
                time.sleep(BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1])
                continue
            result.delivered.append(
                Delivered(message.index, started, time.monotonic(), outcome, attempts)
            )
            break
        if progress is not None:
            with progress.get_lock():
                progress.value += 1
    return result


def sender_main(
    path: str,
    params: Mapping[str, Any],
    messages: Sequence[Message],
    barrier: Any,
    progress: Any,
    queue: Any,
    index: int,
    budget_s: float,
) -> None:
    """Process entry point: set up, wait for the barrier, deliver, report on ``queue``."""
    result = SenderResult()
    try:
        sender = load_sender(path, params)
    except Exception:
        result.setup_error = traceback.format_exc(limit=4)
        barrier.abort()
        queue.put((index, result))
        return
    try:
        barrier.wait(600)
        cpu_start = _cpu()
        deliver_all(sender, messages, budget_s, progress, result)
        result.cpu_s = _cpu() - cpu_start
    except Exception:
        result.setup_error = traceback.format_exc(limit=4)
    finally:
        queue.put((index, result))
        try:
            sender.close()
        except Exception:
            traceback.print_exc()
