"""Server processes the benchmark starts itself, and what /proc says about them.

Each component runs in its own session (its own process group), so ``kill9`` ends the whole
tree it started (a Celery worker's pool children too) and nothing else. CPU and peak RSS are
read from /proc for the component's process tree; CPU of a tree that is killed is banked
before the kill so that a crash run still accounts for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "Component",
    "ComponentExited",
    "cpu_seconds",
    "free_port",
    "listening_pids",
    "peak_rss_mib",
    "port_open",
    "tree",
    "wait_for",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ComponentExited(RuntimeError):
    """A component's process ended while the benchmark waited for it to serve."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    """Poll ``check`` until it is true; raise ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ComponentExited:
            raise
        except Exception:
            pass
        time.sleep(step)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat(pid) is None:
            continue
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of ``pids`` and of their reaped children."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14-17
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def peak_rss_mib(pids: Iterable[int]) -> float:
    """Sum of the peak resident set sizes (VmHWM) of ``pids``, in MiB."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def listening_pids(port: int) -> list[int]:
    """Processes with a socket listening on ``port`` (for servers started elsewhere)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            for row in handle.readlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(entry))
                    break
    return pids


class Component:
    """One server-side process (a server, a worker, a handler) started by the benchmark."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: Callable[[], bool] | None = None,
        ready_timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.ready = ready  # polled until true, while the process lives
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.banked_cpu = 0.0  # CPU of trees killed before, counted once
        self.banked_rss = 0.0

    def start(self) -> None:
        """Start the process (appending to its log) and wait until it is ready."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        process, ready = self.process, self.ready

        def serving() -> bool:
            if process.poll() is not None:
                raise ComponentExited(
                    f"{self.name} exited with {process.returncode}; see {self.log}"
                )
            return ready is None or ready()

        wait_for(serving, self.ready_timeout, self.name)

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return tree(self.process.pid)

    def cpu(self) -> float:
        return self.banked_cpu + cpu_seconds(self.pids())

    def rss(self) -> float:
        return max(self.banked_rss, peak_rss_mib(self.pids()))

    def kill9(self) -> None:
        """SIGKILL the component's process group, as a crash would."""
        if self.process is None:
            return
        self.banked_cpu += cpu_seconds(self.pids())
        self.banked_rss = max(self.banked_rss, peak_rss_mib(self.pids()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``grace``."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group
            os.killpg(self.process.pid, signal.SIGKILL)
