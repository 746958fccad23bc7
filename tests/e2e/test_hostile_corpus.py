"""A hostile producer's corpus, over HTTP to `phaseactors serve` (``handle`` and ``push``) and
through `phaseactors deliver`: every message is acknowledged (2xx; exit 2 for the CLI),
quarantined with a reason naming its defect and the limit, and the key is left as it was.
The encoding and size cases run through the function on the Firestore emulator too.

These add to the 42 messages of tests/unit/test_bad_messages.py: values of the wrong type,
numbers past 64 bits, dates and timestamps whose arithmetic would overflow, text that is not
Unicode, object keys no store can keep, nesting deep enough to exhaust the parser, sizes past
the limits, and envelopes with oversized ids and attributes.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from phaseactors import GateActor, GateRuntime, RecordingPublisher, load_spec
from phaseactors.cli import main
from phaseactors.limits import MAX_BODY_BYTES
from phaseactors.stores import SqliteStore, Store, open_store
from support import KEY, REPO, require_emulator

pytest.importorskip("functions_framework")

GATE_FILE = REPO / "machines" / "phase3_to_phase4.toml"
SPEC = load_spec(GATE_FILE)
GOOD = {
    "processor_name": "player_game_summary",
    "game_date": KEY,
    "status": "success",
    "execution_id": "good-1",
}
BASE = {**GOOD, "processor_name": "team_defense_game_summary", "execution_id": "hostile-1"}
TOKEN = "s3cret-push-token"
TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
BAD, KEYBAD = "InvalidMessage: ", "InvalidKey: game_date: "


def text(**fields: Any) -> bytes:
    """The JSON of the base body with fields replaced (``None`` removes one)."""
    body = {**BASE, **fields}
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def raw(template: str) -> bytes:
    """JSON text spliced into the base body where ``@`` stands, for what json.dumps cannot
    write (NaN, lone surrogates, duplicate names, deep nesting)."""
    base = json.dumps({k: v for k, v in BASE.items() if k != "execution_id"})
    return (base[:-1] + ', "execution_id": "hostile-1", ' + template + "}").encode()


# (label, producer body, how the quarantine reason starts)
BODIES: list[tuple[str, bytes, str | tuple[str, ...]]] = [
    ("status a list", text(status=["success"]), f"{BAD}status: ['success'] is not one of"),
    ("status an object", text(status={"v": "success"}), f"{BAD}status: {{'v': 'success'}}"),
    ("status true", text(status=True), f"{BAD}status: True is not one of"),
    ("status with a space", text(status="success "), f"{BAD}status: 'success '"),
    ("status a number", text(status=0), f"{BAD}status: 0 is not one of"),
    ("record count superscript", text(record_count="²"), f"{BAD}record_count: must be"),
    ("record count Arabic digits", text(record_count="١٢"), f"{BAD}record_count: must be"),
    ("record count 2^63", text(record_count=2**63), f"{BAD}body.record_count: integer outside"),
    ("record count 1e300", text(record_count=1e300), f"{BAD}record_count: must be"),
    ("record count true", text(record_count=True), f"{BAD}record_count: must be"),
    ("record count 12abc", text(record_count="12abc"), f"{BAD}record_count: must be"),
    ("record count a fraction", text(record_count=-0.5), f"{BAD}record_count: must be"),
    ("record count a list", text(record_count=[1]), f"{BAD}record_count: must be"),
    ("year 9999", text(game_date="9999-12-31"), f"{KEYBAD}'9999-12-31' is outside the dates"),
    ("year 1", text(game_date="0001-01-01"), f"{KEYBAD}'0001-01-01' is outside the dates"),
    ("the day before 1900", text(game_date="1899-12-31"), f"{KEYBAD}'1899-12-31' is outside"),
    ("a key of 201 characters", text(game_date="2" * 201), f"{BAD}game_date: longer than 200"),
    ("a key with an escape", text(game_date="2025-11-29\x1b[2J"), f"{KEYBAD}'2025-11-29\\x1b"),
    ("a key that is a list", text(game_date=["2025-11-29"]), f"{BAD}game_date: invalid key"),
    ("a key that is an object", text(game_date={"d": 1}), f"{BAD}game_date: invalid key"),
    ("a date and time key", text(game_date="2025-11-29T00:00:00"), f"{KEYBAD}'2025-11-29T"),
    ("a signed year", text(game_date="+2025-11-29"), f"{KEYBAD}'+2025-11-29' is not"),
    ("timestamp before year 1 UTC", text(timestamp="0001-01-01T00:00:00+01:00"), f"{BAD}timestamp"),
    ("timestamp after 9999 UTC", text(timestamp="9999-12-31T23:59:59-01:00"), f"{BAD}timestamp"),
    ("timestamp a number", text(timestamp=12345), f"{BAD}timestamp: 12345 is not ISO-8601"),
    ("timestamp month 13", text(timestamp="2025-13-45T00:00:00Z"), f"{BAD}timestamp"),
    ("timestamp a list", text(timestamp=["2025-11-29"]), f"{BAD}timestamp"),
    ("processor with NUL", text(processor_name="alpha\x00"), f"{BAD}processor_name: 'alpha\\x00'"),
    ("processor with ANSI", text(processor_name="\x1b[31mred"), f"{BAD}processor_name"),
    ("processor with a newline", text(processor_name="a\nb"), f"{BAD}processor_name: 'a\\nb'"),
    ("processor in Cyrillic", text(processor_name="\u0430lpha"), f"{BAD}processor_name"),
    ("processor an object", text(processor_name={"n": 1}), f"{BAD}processor_name: must be"),
    ("processor an empty list", text(processor_name=[]), f"{BAD}processor_name: must be"),
    (
        "processor a lone surrogate",
        raw('"processor_name": "\\ud800"'),
        f"{BAD}body.processor_name:",
    ),
    ("execution id an object", text(execution_id={"id": 1}), f"{BAD}execution_id: must be"),
    ("execution id a number", text(execution_id=5), f"{BAD}execution_id: must be a string"),
    ("execution id blank", text(execution_id="   "), f"{BAD}execution_id: missing"),
    ("correlation id a number", text(correlation_id=7), f"{BAD}correlation_id: must be"),
    ("correlation id a list", text(correlation_id=["c"]), f"{BAD}correlation_id: must be"),
    ("output table a number", text(output_table=3), f"{BAD}output_table: must be"),
    ("metadata 11 deep", text(metadata=nested(10)), f"{BAD}body.metadata.a.a.a.a.a.a.a.a"),
    ("metadata 5,000 deep", raw('"metadata": ' + "[" * 5000 + "]" * 5000), f"{BAD}body: nested"),
    ("metadata 2^63", text(metadata={"n": 2**63}), f"{BAD}body.metadata.n: integer outside"),
    ("metadata below -2^63", text(metadata={"n": -(2**63) - 1}), f"{BAD}body.metadata.n"),
    ("metadata NaN", raw('"metadata": {"x": NaN}'), f"{BAD}body: not valid JSON: NaN"),
    ("metadata Infinity", raw('"metadata": {"x": -Infinity}'), f"{BAD}body: not valid JSON"),
    ("metadata empty key", text(metadata={"": 1}), f"{BAD}body.metadata: an object key must"),
    ("metadata reserved key", text(metadata={"__proto__": 1}), f"{BAD}body.metadata: object key"),
    ("metadata long key", text(metadata={"k" * 2000: 1}), f"{BAD}body.metadata: object key 'kk"),
    ("metadata surrogate key", raw('"metadata": {"\\udfff": 1}'), f"{BAD}body.metadata: text"),
    ("metadata surrogate value", raw('"metadata": {"x": "\\ud83d"}'), f"{BAD}body.metadata.x:"),
    ("metadata a list", text(metadata=[1, 2]), f"{BAD}metadata: must be an object"),
    ("metadata a number", text(metadata=5), f"{BAD}metadata: must be an object"),
    (
        "a body over 256 KiB",
        text(padding="p" * MAX_BODY_BYTES),
        # in an envelope, its base64 text is refused before it is decoded
        (f"{BAD}body: ", f"{BAD}message.data: longer than {MAX_BODY_BYTES}"),
    ),
    (
        "an aggregated payload over 64 KiB",
        text(metadata={"entities_changed": [f"player-{i:06d}" for i in range(6_000)]}),
        f"{BAD}metadata: contributes",
    ),
    ("a status named twice", raw('"status": "bogus"'), f"{BAD}status: 'bogus' is not one of"),
    ("truncated JSON", text()[:-5], f"{BAD}body: not valid JSON"),
    ("trailing garbage", text() + b" x", f"{BAD}body: not valid JSON: Extra data"),
    ("JSON true", b"true", f"{BAD}body: must be a JSON object"),
    ("an empty object", b"{}", f"{BAD}processor_name: missing"),
    ("Latin-1", text().replace(b"team_", b"t\xe9am_"), f"{BAD}body: not valid JSON"),
]


def envelope(data: bytes, message_id: Any = "m-1", **message: Any) -> dict[str, Any]:
    out = {"data": base64.b64encode(data).decode(), "messageId": message_id, **message}
    return {"message": {k: v for k, v in out.items() if v is not None}, "subscription": "s"}


# Envelopes with defects of their own (the producer body inside is good).
ENVELOPES: list[tuple[str, Any, str]] = [
    ("message id of 600 characters", envelope(text(), "m" * 600), f"{BAD}message.messageId"),
    ("message id an object", envelope(text(), {"id": 1}), f"{BAD}message.messageId: must be"),
    ("message id true", envelope(text(), True), f"{BAD}message.messageId: must be text"),
    (
        "101 attributes",
        envelope(text(), attributes={f"a{i}": "v" for i in range(101)}),
        f"{BAD}message.attributes: more than 100",
    ),
    (
        "an attribute of 2,000 bytes",
        envelope(text(), attributes={"a": "v" * 2000}),
        f"{BAD}message.attributes.a: over 1024 bytes",
    ),
    (
        "an attribute name of 300 bytes",
        envelope(text(), attributes={"n" * 300: "v"}),
        f"{BAD}message.attributes: a name over 256",
    ),
    (
        "an attribute that is a number",
        envelope(text(), attributes={"a": 1}),
        f"{BAD}message.attributes: must map strings",
    ),
    (
        "publish time before year 1 UTC",
        envelope(text(), publishTime="0001-01-01T00:00:00+01:00"),
        f"{BAD}message.publishTime",
    ),
    ("publish time a number", envelope(text(), publishTime=12), f"{BAD}message.publishTime"),
    (
        "data of 300 KiB",
        envelope(text(padding="p" * 300_000)),
        f"{BAD}message.data: longer than 262144",
    ),
    ("message a list", {"message": [1, 2]}, f"{BAD}message: must be an object"),
    ("data a lone surrogate", {"message": {"data": "\ud800"}}, f"{BAD}envelope.message.data"),
]
# Only the push entry point parses the request body itself; functions-framework parses a
# CloudEvent's JSON before `handle` sees it, and Eventarc never sends these.
PUSH_ONLY: list[tuple[str, bytes, str]] = [
    ("envelope 5,000 deep", ('{"x": ' + "[" * 5000 + "]" * 5000 + "}").encode(), f"{BAD}envelope"),
    ("envelope over 1 MiB", json.dumps({"x": "y" * 1_100_000}).encode(), f"{BAD}envelope: "),
    ("envelope not JSON", b"{message", f"{BAD}envelope: not valid JSON"),
]


def test_the_corpus_is_large_and_new() -> None:
    import importlib.util

    path = REPO / "tests" / "unit" / "test_bad_messages.py"
    loaded = importlib.util.spec_from_file_location("bad_messages", path)
    assert loaded is not None
    assert loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    labels = [label for label, *_ in BODIES + ENVELOPES + PUSH_ONLY]
    assert len(labels) == len(set(labels)) >= 60
    earlier = {json.dumps(data, sort_keys=True) for _, data, _ in module.QUARANTINED}
    assert not any(json.dumps(envelope(b), sort_keys=True) in earlier for _, b, _ in BODIES)


# -- the HTTP servers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(target: str, directory: Path, *extra: str) -> Iterator[tuple[str, Path]]:
    """`phaseactors serve --target TARGET` on a free port over a SQLite file; yields the URL
    and the database, and checks on the way out that the server logged no traceback."""
    port = free_port()
    database = directory / f"{target}.db"
    log = directory / f"{target}.log"
    command = [
        sys.executable,
        "-m",
        "phaseactors",
        "serve",
        "--target",
        target,
        "--gate",
        str(GATE_FILE),
        "--store",
        f"sqlite:///{database}",
        "--publisher",
        f"jsonl://{directory / 'triggers.jsonl'}",
        "--port",
        str(port),
        *extra,
    ]
    with open(log, "w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/", database
    finally:
        server.terminate()
        server.wait(timeout=10)
    logged = log.read_text()
    assert "Traceback" not in logged, logged
    assert TOKEN not in logged  # the push token never reaches a log line...
    if "--push-token" in extra:
        assert "?token=*** HTTP/1.1" in logged  # ...though the access log shows the request


def post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def as_cloud_event(data: Any, case: int) -> tuple[bytes, dict[str, str]]:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": TYPE,
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
        "ce-id": f"case-{case}",
        "Content-Type": "application/json",
    }
    return json.dumps(data).encode(), headers


def check_each(
    database: Path, cases: list[tuple[str, bytes, dict[str, str], Any]], url: str
) -> None:
    store = SqliteStore(database)
    actor = GateActor(SPEC)
    before = store.load(actor, KEY)
    assert before is not None
    assert set(before.data.done) == {"player_game_summary"}
    for number, (label, data, headers, reason) in enumerate(cases, 1):
        status = post(url, data, headers)
        assert status in (200, 204), (label, status)
        quarantined = store.quarantined(SPEC.name, limit=1000)
        assert len(quarantined) == number, label
        assert quarantined[0].reason.startswith(reason), (label, quarantined[0].reason)
        assert store.load(actor, KEY) == before, label


def test_handle_acknowledges_and_quarantines_every_case(tmp_path: Path) -> None:
    with serving("handle", tmp_path) as (url, database):
        good, headers = as_cloud_event(envelope(json.dumps(GOOD).encode(), "good"), 0)
        assert post(url, good, headers) == 200
        cases = []
        for number, (label, data, reason) in enumerate(BODIES, 1):
            cases.append((label, *as_cloud_event(envelope(data, f"m-{number}"), number), reason))
        for number, (label, data, reason) in enumerate(ENVELOPES, len(BODIES) + 1):
            cases.append((label, *as_cloud_event(data, number), reason))
        check_each(database, cases, url)


def test_push_acknowledges_and_quarantines_every_case(tmp_path: Path) -> None:
    with serving("push", tmp_path, "--push-token", TOKEN) as (url, database):
        url = f"{url}?token={TOKEN}"
        headers = {"Content-Type": "application/json"}
        good = json.dumps(envelope(json.dumps(GOOD).encode(), "good")).encode()
        assert post(url, good, headers) == 204
        cases = [
            (label, json.dumps(envelope(data, f"m-{n}")).encode(), headers, reason)
            for n, (label, data, reason) in enumerate(BODIES, 1)
        ]
        cases += [(label, json.dumps(data).encode(), headers, r) for label, data, r in ENVELOPES]
        cases += [(label, data, headers, reason) for label, data, reason in PUSH_ONLY]
        check_each(database, cases, url)


# -- phaseactors deliver ---------------------------------------------------------------------


def test_deliver_exits_2_with_one_line_for_every_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store_url = f"sqlite:///{tmp_path}/cli.db"
    common = ["--gate", str(GATE_FILE), "--store", store_url, "--publisher", "memory://"]

    def deliver(data: bytes) -> int:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        return main(["deliver", *common])

    assert deliver(json.dumps(GOOD).encode()) == 0
    store = open_store(store_url)
    before = store.load(GateActor(SPEC), KEY)
    capsys.readouterr()
    for number, (label, data, reason) in enumerate(BODIES, 1):
        assert deliver(data) == 2, label
        err = capsys.readouterr().err
        assert err.count("\n") == 1, (label, err)
        assert "Traceback" not in err, label
        assert err.startswith("phaseactors deliver: "), (label, err)
        assert not any(c in err[:-1] for c in "\x00\x1b\r\n"), (label, err)  # shown escaped
        quarantined = store.quarantined(SPEC.name, limit=1000)
        assert len(quarantined) == number, label
        assert quarantined[0].reason.startswith(reason), (label, quarantined[0].reason)
    assert store.load(GateActor(SPEC), KEY) == before


# -- on Firestore ----------------------------------------------------------------------------

ENCODING_AND_SIZE = [
    case
    for case in BODIES
    if any(
        word in case[0] for word in ("2^63", "deep", "surrogate", "key", "KiB", "NaN", "Infinity")
    )
]


@pytest.mark.emulator
def test_encoding_and_size_cases_on_the_firestore_emulator() -> None:
    require_emulator("FIRESTORE_EMULATOR_HOST")
    from cloudevents.http import CloudEvent

    from phaseactors.gcp.functions import GateFunction

    store: Store = open_store(f"firestore://phaseactors-test?prefix=h{uuid.uuid4().hex[:8]}.")
    runtime = GateRuntime(GateActor(SPEC), store, RecordingPublisher())
    function = GateFunction(SPEC, runtime, project="phaseactors-test")
    attributes = {"type": TYPE, "source": "//pubsub", "id": "good"}
    assert function.on_cloud_event(CloudEvent(attributes, envelope(json.dumps(GOOD).encode())))
    before = runtime.load(KEY)
    assert len(ENCODING_AND_SIZE) >= 15
    for number, (label, data, reason) in enumerate(ENCODING_AND_SIZE, 1):
        event = CloudEvent({**attributes, "id": f"e{number}"}, envelope(data, f"m-{number}"))
        assert function.on_cloud_event(event) is None, label  # acknowledged, not applied
        [newest, *_] = store.quarantined(SPEC.name, limit=1)
        assert newest.reason.startswith(reason), (label, newest.reason)
        assert runtime.load(KEY) == before, label
    assert len(store.quarantined(SPEC.name, limit=1000)) == len(ENCODING_AND_SIZE)
