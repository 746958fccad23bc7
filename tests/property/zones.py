"""Run time-zone-sensitive tests under several host zones: CI runs in UTC, and a bug that
reads times in the host's zone hides whenever the host's zone is the gate's."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: UTC (CI), the pipeline's own zone, and one far from both.
HOST_ZONES = ("UTC", "America/New_York", "Asia/Kolkata")


@contextmanager
def host_zone(name: str) -> Iterator[None]:
    """Make ``name`` the process's local zone (``TZ`` and ``time.tzset``), then restore it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
