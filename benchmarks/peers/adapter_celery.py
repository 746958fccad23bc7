"""Celery 5 on Redis: one chord per key, each completion one header task of it.

Celery joins only tasks it launched itself: a chord counts its own header tasks, by task id,
in Redis. So the chord of each key is declared before the run (its size set in Redis, as
``chord.apply_async`` does before it sends the header), and each completion is the header task
of its processor, sent by a sender with ``send_task`` and the chord's options; its copies are
the same task message sent again (same task id), as a broker redelivery would be. A producer
that reports with its own business id, the way the other systems receive completions, has no
way into the chord: that is the asymmetry of this row.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import celery_tasks
from procs import Component, free_port, port_open
from system import System
from workload import Message, processors

CONCURRENCY = 2  # prefork pool processes (the machine has 2 cores)


class CelerySender:
    """Sends each completion as its chord's header task, by name, on its own app."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.app = celery_tasks.make_app(params["redis_url"])
        self.sink, self.system = params["sink"], params["system"]
        self.position = {name: i for i, name in enumerate(processors())}
        self.bodies: dict[str, Any] = {}

    def send(self, message: Message) -> str:
        body = self.bodies.get(message.key)
        if body is None:
            body = celery_tasks.body(self.app, message.key, self.sink, self.system)
            self.bodies[message.key] = body
        self.app.send_task(
            "peers.complete",
            args=(message.key, message.processor, message.execution_id),
            task_id=f"{message.key}/{message.processor}",
            group_id=celery_tasks.group_id(message.key),
            group_index=self.position[message.processor],
            chord=body,
        )
        return "queued"

    def close(self) -> None:
        self.app.close()


class CelerySystem(System):
    name = "celery-redis"
    durability = (
        "Redis AOF, appendfsync everysec: survives a killed process, may lose about 1 s on "
        "power loss; tasks acknowledged after they ran"
    )
    dedup = (
        "the chord's join in Redis (a Lua script per header result): a set of header task "
        "ids, a claim and a done marker kept 5 minutes; copies must be the same task (same "
        "task id), and every copy still runs and stores its result"
    )
    sender = "adapter_celery:CelerySender"

    def __init__(self, workdir: Path, sink_path: str, label: str) -> None:
        super().__init__(workdir, sink_path, label)
        self.port = 0
        self._app: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("no redis-server: run benchmarks/peers/setup-peers")
        self.port = free_port()
        redis = Component(
            "redis-server",
            [
                *(server, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.workdir), "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "everysec"),
            ],
            self.workdir / "redis.log",
            ready=lambda: port_open(self.port),
        )
        here = Path(__file__).resolve().parent
        ready = self.workdir / "worker.ready"
        worker = Component(
            "celery-worker",
            [
                *(sys.executable, "-m", "celery", "-A", "celery_tasks", "worker"),
                *("-Q", celery_tasks.QUEUE, "-c", str(CONCURRENCY), "--pool", "prefork"),
                *("-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            self.workdir / "celery-worker.log",
            env={
                "PYTHONPATH": os.pathsep.join(map(str, (here, here.parent))),
                "PEERS_REDIS_URL": self.url,
                "PEERS_CELERY_READY": str(ready),
            },
            cwd=self.workdir,
            ready=ready.exists,
        )
        self.components = [redis, worker]
        redis.start()
        worker.start()
        self._app = celery_tasks.make_app(self.url)

    def deciding(self) -> list[Component]:
        return [c for c in self.components if c.name == "celery-worker"]

    def restart(self) -> None:
        ready = self.workdir / "worker.ready"
        ready.unlink(missing_ok=True)
        super().restart()

    def prepare(self, keys: Sequence[str]) -> None:
        """Declare each key's chord: its size, as ``chord.apply_async`` sets it."""
        for key in keys:
            self._app.backend.set_chord_size(celery_tasks.group_id(key), len(processors()))

    def sender_params(self) -> dict[str, Any]:
        return {"redis_url": self.url}

    def recorded(self, keys: Sequence[str]) -> dict[str, set[str]]:
        backend = self._app.backend
        found = {}
        for key in keys:
            members = backend.client.zrange(
                backend.get_key_for_group(celery_tasks.group_id(key), ".j"), 0, -1
            )
            if members:
                found[key] = {str(backend.decode(m)[3]) for m in members}
        return found

    def leftovers(self, keys: Sequence[str]) -> dict[str, Any]:
        client = self._app.backend.client
        return {
            "queued_messages": client.llen(celery_tasks.QUEUE),
            "unacked_messages": client.hlen("unacked"),
        }

    def operator_command(self) -> str:
        return f"redis-cli -p {self.port} --scan --pattern 'chord-unlock-chord/*.s'"

    def stop(self) -> None:
        if self._app is not None:
            self._app.close()
        super().stop()

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"celery": version("celery"), "kombu": version("kombu"), "redis": version("redis")}
