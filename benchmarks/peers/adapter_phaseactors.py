"""phaseactors: the Phase 2 gate embedded in handler processes, on SQLite or Firestore.

Each handler is a process serving ``POST /deliver`` on loopback (as a Cloud Function serves its
push subscription): it turns the body into a ``Completion`` and delivers it; the response is
the acknowledgement (200 applied or duplicate, 503 transient: the sender retries). The trigger
is published by the runtime through a publisher that appends to the benchmark's sink. Senders
are dealt to the handlers round-robin. Only the top-level ``phaseactors`` API is used.

Run as a handler:  python adapter_phaseactors.py --port P --store URL --sink PATH --system NAME
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sink
from procs import Component, free_port, listening_pids, peak_rss_mib, port_open
from system import System
from workload import Message

from common import pipeline_gate
from phaseactors import (
    Completion,
    Delivery,
    GateActor,
    GateRuntime,
    OutboxEntry,
    PermanentError,
    TransientError,
    open_store,
)

HANDLERS = 2  # handler processes (the machine has 2 cores)


def deliver(runtime: GateRuntime, completion: Completion) -> Delivery[Any]:
    """The one call into phaseactors per message."""
    return runtime.deliver(completion)


class SinkPublisher:
    """A ``Publisher`` that appends each trigger to the benchmark's sink, without dedup."""

    def __init__(self, path: str, system: str) -> None:
        self.path = path
        self.system = system

    def publish(self, entry: OutboxEntry) -> str:
        body = dict(entry.body)
        sink.append(self.path, self.system, body["key"], entry.id, body.get("completed", ()))
        return uuid.uuid4().hex


def make_runtime(store_url: str, sink_path: str, system: str) -> GateRuntime:
    """The pipeline gate without its announcements: the peers announce nothing, so the gate
    does the same work as they do, and only triggers reach the sink."""
    spec = pipeline_gate()
    return GateRuntime(GateActor(spec), open_store(store_url), SinkPublisher(sink_path, system))


# -- the handler process ---------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per sender
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall
    runtime: GateRuntime

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        completion = Completion(
            processor=body["processor"],
            key=body["key"],
            status="success",
            execution_id=body["execution_id"],
            message_id=body["message_id"],
        )
        try:
            status, answer = 200, str(deliver(self.runtime, completion).outcome)
        except TransientError as exc:
            status, answer = 503, type(exc).__name__
        except PermanentError as exc:
            status, answer = 400, type(exc).__name__
        data = json.dumps({"outcome": answer}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def serve(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a phaseactors handler for the peers benchmark")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--system", required=True)
    args = parser.parse_args(argv)
    _Handler.runtime = make_runtime(args.store, args.sink, args.system)
    _Handler.runtime.load("1999-01-01")  # open the file or channel before serving
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _Handler)
    server.daemon_threads = True
    server.serve_forever()


# -- the sender ------------------------------------------------------------------------------


class PhaseactorsSender:
    """POSTs each completion to its handler over one keep-alive connection."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        ports = params["ports"]
        self.port = ports[params["sender_index"] % len(ports)]
        self.connection: http.client.HTTPConnection | None = None

    def send(self, message: Message) -> str:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            self.connection.request(
                "POST",
                "/deliver",
                json.dumps(message.body()),
                {"Content-Type": "application/json"},
            )
            response = self.connection.getresponse()
            answer = json.loads(response.read())["outcome"]
        except Exception:
            self.connection.close()
            self.connection = None
            raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer}")
        return str(answer)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


# -- the server side -------------------------------------------------------------------------


class PhaseactorsSystem(System):
    """Handler processes on one store."""

    sender = "adapter_phaseactors:PhaseactorsSender"
    dedup = (
        "in the step, inside the store's transaction: (processor, execution id) and message id "
        "tokens kept in the key's snapshot; a copy costs one read and no write"
    )

    def __init__(self, workdir: Path, sink_path: str, label: str) -> None:
        super().__init__(workdir, sink_path, label)
        self.handlers = int(os.environ.get("PEERS_PHASEACTORS_HANDLERS", HANDLERS))
        self.ports: list[int] = []
        self.store_url = ""
        self._runtime: GateRuntime | None = None

    def start(self) -> None:
        here = Path(__file__).resolve().parent
        for i in range(self.handlers):
            port = free_port()
            self.ports.append(port)
            argv = [sys.executable, str(here / "adapter_phaseactors.py"), "--port", str(port)]
            argv += ["--store", self.store_url, "--sink", self.sink, "--system", self.label]
            self.components.append(
                Component(
                    f"handler-{i}",
                    argv,
                    self.workdir / f"handler-{i}.log",
                    env={"PYTHONPATH": os.pathsep.join(map(str, (here, here.parent)))},
                    ready=lambda port=port: port_open(port),
                )
            )
        for component in self.components:
            component.start()

    def deciding(self) -> list[Component]:
        return self.components  # every handler decides for the keys it is sent

    def sender_params(self) -> dict[str, Any]:
        return {"ports": self.ports}

    @property
    def runtime(self) -> GateRuntime:
        """The runner's own runtime on the store: for the sweep and for reading keys."""
        if self._runtime is None:
            self._runtime = make_runtime(self.store_url, self.sink, self.label)
        return self._runtime

    def tick(self) -> None:
        self.runtime.sweep()

    def recorded(self, keys: Sequence[str]) -> dict[str, set[str]]:
        found = {}
        for key in keys:
            snapshot = self.runtime.load(key)
            if snapshot is not None:
                found[key] = set(snapshot.data.done)
        return found

    def leftovers(self, keys: Sequence[str]) -> dict[str, Any]:
        late = states = 0
        for key in keys:
            snapshot = self.runtime.load(key)
            if snapshot is not None:
                late += len(snapshot.data.late)
                states += snapshot.state != "triggered"
        return {"late_records": late, "keys_not_triggered_in_store": states}

    def operator_command(self) -> str:
        return f".venv/bin/phaseactors list --gate phase2_to_phase3 --store '{self.store_url}'"

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"phaseactors": version("phaseactors")}


class PhaseactorsSqlite(PhaseactorsSystem):
    name = "phaseactors-sqlite"
    durability = "SQLite WAL, synchronous=NORMAL: survives a killed process, not power loss"

    def start(self) -> None:
        self.store_url = "sqlite:///" + str(self.workdir / "phaseactors.db")
        super().start()


class PhaseactorsSqliteFull(PhaseactorsSystem):
    name = "phaseactors-sqlite-full"
    durability = "SQLite WAL, synchronous=FULL: an fsync per commit, survives power loss"

    def start(self) -> None:
        self.store_url = "sqlite:///" + str(self.workdir / "phaseactors.db")
        self.store_url += "?synchronous=FULL"
        super().start()


class PhaseactorsFirestore(PhaseactorsSystem):
    name = "phaseactors-firestore"
    durability = "Firestore (the emulator): committed on the server before the acknowledgement"

    def start(self) -> None:
        if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
            raise RuntimeError(
                "phaseactors-firestore needs the emulator: run under scripts/emulators run -- ..."
            )
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "phaseactors-bench")
        self.store_url = f"firestore://{project}?prefix=peers-{uuid.uuid4().hex[:8]}."
        super().start()

    def external_rss(self) -> float | None:
        port = int(os.environ["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1])
        pids = listening_pids(port)
        return peak_rss_mib(pids) if pids else None


if __name__ == "__main__":
    serve()
