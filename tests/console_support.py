"""A console over a SQLite store of sample keys, for the console's tests (unit and browser)."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
from flask import Flask

from phaseactors import GateActor, GateRuntime, RecordingPublisher, load_spec
from phaseactors.console.app import create_app
from phaseactors.console.auth import Authenticator, Nobody, TokenSignIn
from phaseactors.console.context import ConsoleOptions
from phaseactors.console.lanes import GateLane
from phaseactors.core.actor import Outcome, Stepped
from phaseactors.core.events import Event, Tick
from phaseactors.core.snapshot import Snapshot
from phaseactors.gate.data import CompletionRecord, GateData
from phaseactors.stores import SqliteStore
from phaseactors.testing.sample import SampleClock, fill_sample

GATES = ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
END = date(2025, 12, 10)
TOKEN = "console-token-for-tests-0123456789"
IDENTITY = "alice@example.com"
PROBE = "<img src=x onerror=alert(1)>"


@attrs.define
class Sample:
    """The console's pieces: the store, one runtime per gate, the shared clock, the app."""

    store: SqliteStore
    runtimes: dict[str, GateRuntime]
    clock: SampleClock
    now: datetime
    app: Flask
    url: str = ""

    def lane(self, gate: str) -> GateRuntime:
        return self.runtimes[gate]


_TEMPLATES: dict[int, tuple[Path, datetime]] = {}


def _runtimes(store: SqliteStore, clock: SampleClock) -> dict[str, GateRuntime]:
    return {
        name: GateRuntime(GateActor(load_spec(name)), store, RecordingPublisher(), clock=clock)
        for name in GATES
    }


def _template(days: int) -> tuple[Path, datetime]:
    """A SQLite file of ``days`` sample dates, made once per test session."""
    if days not in _TEMPLATES:
        directory = Path(tempfile.mkdtemp(prefix="phaseactors-console-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        store = SqliteStore(directory / "sample.db")
        clock = SampleClock(datetime(2025, 1, 1, tzinfo=UTC))
        now = fill_sample(list(_runtimes(store, clock).values()), clock, days=days, end=END)
        store.close()
        _TEMPLATES[days] = (directory / "sample.db", now)
    return _TEMPLATES[days]


def make_sample(
    tmp_path: Path,
    *,
    days: int = 12,
    allow_actions: bool = False,
    authenticator: Authenticator | None = None,
) -> Sample:
    template, now = _template(days)
    with (
        closing(sqlite3.connect(template)) as source,
        closing(sqlite3.connect(tmp_path / "console.db")) as target,
    ):
        source.backup(target)
    store = SqliteStore(tmp_path / "console.db")
    clock = SampleClock(now)
    runtimes = _runtimes(store, clock)
    if authenticator is None:
        authenticator = TokenSignIn(TOKEN, IDENTITY) if allow_actions else Nobody()
    options = ConsoleOptions(allow_actions=allow_actions, authenticator=authenticator, clock=clock)
    app = create_app([GateLane(r) for r in runtimes.values()], store, options)
    return Sample(store=store, runtimes=runtimes, clock=clock, now=now, app=app)


class Planting:
    """Wraps a gate actor so that one step writes what ``change`` makes of the snapshot:
    data no validated path would let in, as an older release or a hand edit could leave."""

    def __init__(
        self, inner: GateActor, change: Callable[[Snapshot[GateData]], Snapshot[GateData]]
    ):
        self.inner = inner
        self.change = change

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def step(self, snapshot: Snapshot[GateData], event: Event) -> Stepped[GateData]:
        changed = self.change(snapshot)
        return Stepped(changed.evolve(version=snapshot.version + 1), Outcome.APPLIED, "planted")


def plant_probe(sample: Sample, gate: str, key: str, text: str = PROBE) -> None:
    """Give ``gate/key`` an unknown processor and a failure named ``text``, with ``text`` as
    its error message too."""
    runtime = sample.runtimes[gate]

    def change(snapshot: Snapshot[GateData]) -> Snapshot[GateData]:
        record = CompletionRecord(
            processor=text,
            reported_as=text,
            status="failed",
            execution_id=text,
            correlation_id=text,
            received_at=sample.now,
            error_message=text,
        )
        data = attrs.evolve(
            snapshot.data,
            unknown={**snapshot.data.unknown, text: record},
        )
        return snapshot.evolve(data=data)

    sample.store.apply(Planting(runtime.actor, change), key, Tick(at=sample.now))


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free local port in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def form_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    import re

    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no form token on the page"
    return match[1]


def json_of(body: bytes) -> Mapping[str, Any]:
    import json

    value: Mapping[str, Any] = json.loads(body)
    return value
