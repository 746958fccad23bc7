"""A progress bar on stderr for commands over many keys, shown only on a terminal."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from ..core.untrusted import printable

__all__ = ["Progress"]

_BAR = 24


class Progress:
    """``rearm [#########...............] 12/30 2025-11-12`` redrawn in place on stderr; lines
    printed through :meth:`say` appear above it. Silent when stderr is not a terminal."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = total > 1 and self.stream.isatty()
        self._shown = False

    def step(self, key: str) -> None:
        """One more key is done; ``key`` is shown beside the bar."""
        self.done += 1
        if not self.enabled:
            return
        filled = _BAR * self.done // max(self.total, 1)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total}"
            f" {printable(key)}"
        )
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r" + line[:width].ljust(width))
        self.stream.flush()
        self._shown = True

    def say(self, line: str) -> None:
        """Print ``line`` on stdout, above the bar."""
        self._clear()
        print(line)
        sys.stdout.flush()

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._shown:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self._shown = False
