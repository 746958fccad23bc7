"""DBOS Transact on a SQLite system database: one durable workflow per key, send/recv.

A sender delivers a completion with ``DBOSClient.send`` to workflow ``gate-KEY`` on topic
``completion``, with the idempotency key ``processor/execution id``: the system database drops
a copy whose key it already holds (an insert that conflicts). When the workflow does not
exist yet, the sender enqueues it (fixed workflow id; an existing one is returned) and sends
again. The workflow receives messages one ``recv`` at a time, dedups them in its state as
well, and once the expected set is covered runs the trigger as a step. All of it lives in one
SQLite file that the worker process and every sender open.

Run as the worker:  python adapter_dbos.py --db URL --ready PATH
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sink
from dbos import DBOS, DBOSClient
from dbos._error import DBOSNonExistentWorkflowError
from procs import Component
from system import System
from workload import Message, processors

QUEUE = "gates"
TOPIC = "completion"
WORKFLOW = "peers.gate"
RECV_TIMEOUT_S = 3600.0


def workflow_id(key: str) -> str:
    return f"gate-{key}"


@DBOS.step(name="peers.trigger")
async def trigger(key: str, done: list[str], sink_path: str, system: str) -> str:
    """Append the trigger to the sink; its id is the workflow id (a re-run keeps it)."""
    trigger_id = str(DBOS.workflow_id)
    sink.append(sink_path, system, key, trigger_id, done)
    return trigger_id


@DBOS.workflow(name=WORKFLOW)
async def gate(key: str, expected: list[str], sink_path: str, system: str) -> int:
    """Wait for every expected processor, then trigger once; return the copies it dropped."""
    seen: set[str] = set()
    done: set[str] = set()
    duplicates = 0
    while not set(expected) <= done:
        body = await DBOS.recv_async(TOPIC, timeout_seconds=RECV_TIMEOUT_S)
        if body is None:
            continue
        token = f"{body['processor']}/{body['execution_id']}"
        if token in seen:
            duplicates += 1
            continue
        seen.add(token)
        done.add(body["processor"])
    await trigger(key, sorted(done), sink_path, system)
    return duplicates


def work(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a DBOS worker for the peers benchmark")
    parser.add_argument("--db", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args(argv)
    DBOS(config={"name": "peers", "system_database_url": args.db, "log_level": "WARNING"})
    DBOS.launch()  # also recovers the workflows this executor left pending
    DBOS.register_queue(QUEUE)
    Path(args.ready).touch()
    while True:
        time.sleep(3600)


# -- the sender ------------------------------------------------------------------------------


class DbosSender:
    """``DBOSClient.send`` per completion; enqueues the key's workflow when it is missing."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.client = DBOSClient(system_database_url=params["db"])
        self.args = (list(processors()), params["sink"], params["system"])

    def _send(self, message: Message) -> None:
        self.client.send(
            workflow_id(message.key),
            message.body(),
            TOPIC,
            idempotency_key=f"{message.processor}/{message.execution_id}",
        )

    def send(self, message: Message) -> str:
        try:
            self._send(message)
            return "sent"
        except DBOSNonExistentWorkflowError:
            pass
        options = {
            "workflow_name": WORKFLOW,
            "queue_name": QUEUE,
            "workflow_id": workflow_id(message.key),
        }
        self.client.enqueue(options, message.key, *self.args)  # type: ignore[arg-type]
        self._send(message)
        return "enqueued-and-sent"

    def close(self) -> None:
        self.client.destroy()


# -- the server side -------------------------------------------------------------------------


class DbosSystem(System):
    name = "dbos-sqlite"
    durability = "SQLite system database, SQLite defaults (rollback journal, synchronous=FULL)"
    dedup = (
        "the idempotency key of send: a unique message id in the system database, a copy is "
        "an insert that does nothing; plus a set in the workflow; every receive is a recorded "
        "step, and a waiting workflow polls the database once a second"
    )
    sender = "adapter_dbos:DbosSender"

    def __init__(self, workdir: Path, sink_path: str, label: str) -> None:
        super().__init__(workdir, sink_path, label)
        self.path = workdir / "dbos.sqlite"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def start(self) -> None:
        here = Path(__file__).resolve().parent
        ready = self.workdir / "worker.ready"
        worker = Component(
            "dbos-worker",
            [
                sys.executable,
                str(here / "adapter_dbos.py"),
                "--db",
                self.url,
                "--ready",
                str(ready),
            ],
            self.workdir / "dbos-worker.log",
            env={"PYTHONPATH": os.pathsep.join(map(str, (here, here.parent)))},
            ready=ready.exists,
        )
        self.components = [worker]
        worker.start()

    def restart(self) -> None:
        (self.workdir / "worker.ready").unlink(missing_ok=True)
        super().restart()

    def sender_params(self) -> dict[str, Any]:
        return {"db": self.url}

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path, timeout=30) as connection:
            return connection.execute(sql, args).fetchall()

    def recorded(self, keys: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for key in keys:
            rows = self._query(
                "SELECT message_uuid FROM notifications WHERE destination_uuid = ? AND consumed",
                workflow_id(key),
            )
            if rows:
                found[key] = {str(row[0]).split("/", 1)[0] for row in rows}
        return found

    def leftovers(self, keys: Sequence[str]) -> dict[str, Any]:
        unread = self._query("SELECT count(*) FROM notifications WHERE NOT consumed")[0][0]
        pending = self._query(
            "SELECT count(*) FROM workflow_status WHERE status IN ('PENDING', 'ENQUEUED')"
        )[0][0]
        return {"unread_messages": unread, "workflows_pending": pending - 0}

    def operator_command(self) -> str:
        return f".venv/bin/dbos workflow list --sys-db-url '{self.url}' --status PENDING"

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"dbos": version("dbos"), "sqlite": sqlite3.sqlite_version}


if __name__ == "__main__":
    work()
