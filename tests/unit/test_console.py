"""The console's pages and JSON over a SQLite store of sample keys: what they list, that the
JSON is the CLI's, that every value is escaped, and the rules of actions."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from console_support import (
    GATES,
    IDENTITY,
    PROBE,
    TOKEN,
    Sample,
    form_token,
    json_of,
    make_sample,
    plant_probe,
)
from phaseactors.cli import main
from phaseactors.console.security import CONTENT_SECURITY_POLICY

pytest.importorskip("flask")


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    return make_sample(tmp_path)


@pytest.fixture
def acting(tmp_path: Path) -> Sample:
    return make_sample(tmp_path, allow_actions=True)


def cli_json(capsys: pytest.CaptureFixture[str], sample: Sample, *argv: str) -> dict:
    store = f"sqlite:///{sample.store.path}"
    capsys.readouterr()
    main([*argv, "--store", store, "--json"])
    return json.loads(capsys.readouterr().out)


# -- the grid ---------------------------------------------------------------------------


def test_the_grid_lists_every_gate_with_its_keys_and_states(sample: Sample) -> None:
    page = sample.app.test_client().get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for gate in GATES:
        assert f">{gate}</th>" in html
    assert re.search(
        r'<th scope="row">2025-12-10</th>\s*<td class="cell state-partial stuck"', html
    )
    assert "/gates/phase4_to_phase5/keys/2025-12-09" in html
    assert "past deadline 30m, 3 required missing" in html  # listed under "Needs attention"


def test_the_grid_json_rows_are_those_of_phaseactors_list(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = json_of(sample.app.test_client().get("/?format=json").data)
    assert [g["gate"] for g in grid["gates"]] == list(GATES)
    assert grid["keys"] == sorted(grid["keys"], reverse=True)
    for entry in grid["gates"]:
        states = ["waiting", "partial", "complete", "triggered", "failed"]
        flags = [arg for state in states for arg in ("--state", state)]
        listed = cli_json(capsys, sample, "list", "--gate", entry["gate"], *flags)
        # `list` is in key order and its due times are worked out at the real now
        expected = {row["key"]: row for row in listed["keys"]}
        assert entry["keys"], entry["gate"]
        for row in entry["keys"]:
            assert row == expected[row["key"]] | {"due_at": row["due_at"]}


def test_json_is_also_chosen_by_the_accept_header(sample: Sample) -> None:
    client = sample.app.test_client()
    answer = client.get("/", headers={"Accept": "application/json"})
    assert answer.mimetype == "application/json"
    assert client.get("/", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_the_grid_filters_by_state_and_date_range_and_pages(sample: Sample) -> None:
    client = sample.app.test_client()
    failed = json_of(client.get("/?format=json&state=failed").data)
    assert failed["keys"] == ["2025-12-05"]
    ranged = json_of(client.get("/?format=json&from=2025-12-03&to=2025-12-06").data)
    assert ranged["keys"] == ["2025-12-06", "2025-12-05", "2025-12-04", "2025-12-03"]
    first = json_of(client.get("/?format=json&limit=5").data)
    assert first["keys"] == [f"2025-12-{d:02d}" for d in range(10, 5, -1)]
    assert first["older"] == "2025-12-06"
    second = json_of(client.get("/?format=json&limit=5&before=2025-12-06").data)
    assert second["keys"] == [f"2025-12-{d:02d}" for d in range(5, 0, -1)]
    assert client.get("/?limit=0").status_code == 400
    assert client.get("/?state=done").status_code == 400


def test_a_state_filter_shows_the_other_gates_of_its_rows(sample: Sample) -> None:
    grid = json_of(sample.app.test_client().get("/?format=json&state=partial").data)
    assert grid["keys"] == ["2025-12-10", "2025-12-09"]
    html = sample.app.test_client().get("/?state=partial").get_data(as_text=True)
    assert "cell state-triggered dimmed" in html  # 2025-12-09 in the earlier gates


def test_stuck_keys_are_listed_first_with_why(sample: Sample) -> None:
    grid = json_of(sample.app.test_client().get("/?format=json").data)
    stuck = {(a["gate"], a["key"]): a["why"] for a in grid["attention"]}
    assert stuck[("phase2_to_phase3", "2025-12-10")].startswith("past deadline 30m")
    assert stuck[("phase2_to_phase3", "2025-12-05")].startswith(
        "failed: required processor bdl_player_boxscores failed"
    )
    assert ("phase4_to_phase5", "2025-12-09") not in stuck  # no deadline: still in time


# -- a key ------------------------------------------------------------------------------


def test_a_key_page_names_the_missing_processors(sample: Sample) -> None:
    html = sample.app.test_client().get("/gates/phase2_to_phase3/keys/2025-12-10")
    text = html.get_data(as_text=True)
    status = sample.runtimes["phase2_to_phase3"].load("2025-12-10")
    assert status is not None
    missing = [
        p for p in sample.runtimes["phase2_to_phase3"].spec.required if p not in status.data.done
    ]
    assert len(missing) == 3
    section = text[text.index('id="missing"') : text.index("</div>", text.index('id="missing"'))]
    for name in missing:
        assert f"<li>{name}</li>" in section
    assert '<li class="state-partial current" aria-current="step">partial</li>' in text
    assert 'id="timeline"' in text


def test_a_key_json_is_phaseactors_status_json(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    for gate, key in (("phase2_to_phase3", "2025-12-10"), ("phase3_to_phase4", "2025-11-29")):
        page = json_of(sample.app.test_client().get(f"/gates/{gate}/keys/{key}?format=json").data)
        assert page == cli_json(capsys, sample, "status", key, "--gate", gate)


def test_a_key_never_seen_is_not_found_as_the_cli_says(
    sample: Sample, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sample.app.test_client()
    answer = client.get("/gates/phase2_to_phase3/keys/2030-01-01?format=json")
    assert answer.status_code == 404
    cli = cli_json(capsys, sample, "status", "2030-01-01", "--gate", "phase2_to_phase3")
    assert json_of(answer.data) == cli
    assert client.get("/gates/nope/keys/2025-12-10").status_code == 404
    assert client.get("/gates/phase2_to_phase3/keys/not-a-date").status_code == 404


def test_the_diagram_highlights_the_current_state(sample: Sample) -> None:
    from phaseactors.gate.diagrams import graphviz_available

    if not graphviz_available():
        pytest.skip("Graphviz's dot is not installed (scripts/setup-system)")
    answer = sample.app.test_client().get("/gates/phase2_to_phase3/keys/2025-12-10/diagram.svg")
    assert answer.mimetype == "image/svg+xml"
    svg = answer.get_data(as_text=True)
    node = re.search(r"<title>partial</title>\s*<path fill=\"(\w+)\"", svg)
    assert node
    assert node[1] == "turquoise"
    assert "script-src" not in answer.headers["Content-Security-Policy"]
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")


# -- quarantine and health --------------------------------------------------------------


def test_quarantine_lists_reasons_newest_first(sample: Sample) -> None:
    from phaseactors.core.store import Quarantined

    for minute, reason in enumerate(["InvalidMessage: status", f"InvalidKey: {PROBE}"]):
        sample.store.quarantine(
            Quarantined(
                at=sample.now.replace(minute=minute),
                reason=reason,
                raw=json.dumps({"processor_name": PROBE}),
                actor="phase2_to_phase3",
                message_id=f"m-{minute}",
            )
        )
    client = sample.app.test_client()
    value = json_of(client.get("/quarantine?format=json").data)
    assert [q["message_id"] for q in value["quarantined"]] == ["m-1", "m-0"]
    assert value["quarantined"][0]["reason"] == f"InvalidKey: {PROBE}"
    html = client.get("/quarantine").get_data(as_text=True)
    assert PROBE not in html
    assert "InvalidKey: &lt;img src=x onerror=alert(1)&gt;" in html
    assert json_of(client.get("/quarantine?format=json&gate=other").data)["quarantined"] == []


def test_healthz(sample: Sample) -> None:
    answer = sample.app.test_client().get("/healthz")
    assert (answer.status_code, json_of(answer.data)) == (200, {"status": "ok"})


# -- safe by construction ---------------------------------------------------------------


def test_untrusted_names_and_text_are_escaped_everywhere(sample: Sample) -> None:
    plant_probe(sample, "phase2_to_phase3", "2025-12-10")
    client = sample.app.test_client()
    for path in ("/", "/gates/phase2_to_phase3/keys/2025-12-10"):
        html = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in html
        for tag in re.findall(r"<[a-zA-Z][^>]*>", html):  # no event handler attribute
            assert not re.search(r"\son\w+\s*=", re.sub(r'"[^"]*"', '""', tag)), tag
    html = client.get("/gates/phase2_to_phase3/keys/2025-12-10").get_data(as_text=True)
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # table, timeline, title
    value = json_of(client.get("/gates/phase2_to_phase3/keys/2025-12-10?format=json").data)
    assert PROBE in value["unknown"]


def test_every_page_has_the_strict_policy(sample: Sample) -> None:
    client = sample.app.test_client()
    for path in ("/", "/gates/phase2_to_phase3/keys/2025-12-10", "/quarantine", "/healthz"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    html = client.get("/").get_data(as_text=True)
    assert "<script>" not in html
    assert " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/console.js" defer>']


def test_a_read_only_console_offers_and_takes_no_action(sample: Sample) -> None:
    client = sample.app.test_client()
    html = client.get("/gates/phase2_to_phase3/keys/2025-12-10").get_data(as_text=True)
    assert "/actions/" not in html
    assert "read-only" in html
    answer = client.post(
        "/gates/phase2_to_phase3/keys/2025-12-10/actions/force", data={"reason": "x"}
    )
    assert answer.status_code == 403
    assert "--allow-actions" in answer.get_data(as_text=True)


# -- actions ----------------------------------------------------------------------------

KEY_PAGE = "/gates/phase2_to_phase3/keys/2025-12-10"


def signed_in(sample: Sample):  # type: ignore[no-untyped-def]
    client = sample.app.test_client()
    csrf = form_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"csrf": csrf, "token": TOKEN})
    assert answer.status_code == 303
    fresh = form_token(client.get(KEY_PAGE).get_data(as_text=True))
    assert fresh != csrf  # signing in starts a new form token
    return client, fresh


def test_signing_in_needs_the_token_and_no_page_shows_it(acting: Sample) -> None:
    client = acting.app.test_client()
    csrf = form_token(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={"csrf": csrf, "token": "not-the-token-at-all"})
    assert wrong.status_code == 403
    assert client.post("/login", data={"token": TOKEN}).status_code == 403  # no CSRF token
    client.post("/login", data={"csrf": csrf, "token": TOKEN})
    for path in ("/", KEY_PAGE, "/quarantine", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert TOKEN not in html
    assert f"signed in as <strong>{IDENTITY}</strong>" in client.get("/").get_data(as_text=True)
    cookie = client.get_cookie("phaseactors_console")
    assert cookie is not None
    assert TOKEN not in cookie.value


def test_an_action_without_identity_is_refused(acting: Sample) -> None:
    client = acting.app.test_client()
    html = client.get(KEY_PAGE).get_data(as_text=True)
    assert "Actions need an authenticated identity" in html
    csrf = form_token(client.get("/login").get_data(as_text=True))
    answer = client.post(f"{KEY_PAGE}/actions/force", data={"csrf": csrf, "reason": "feed down"})
    assert answer.status_code == 403
    assert acting.runtimes["phase2_to_phase3"].load("2025-12-10").state == "partial"


@pytest.mark.parametrize(
    ("path", "form", "status", "says"),
    [
        (f"{KEY_PAGE}/actions/force", {"reason": "   "}, 400, "a reason is required"),
        (f"{KEY_PAGE}/actions/force", {"reason": ""}, 400, "a reason is required"),
        (f"{KEY_PAGE}/actions/force", {"reason": "x" * 1001}, 400, "longer than 1000"),
        (
            "/gates/phase2_to_phase3/keys/2030-01-01/actions/force",
            {"reason": "r"},
            404,
            "never seen",
        ),
        (
            "/gates/phase2_to_phase3/keys/2025-12-09/actions/fail",
            {"reason": "r"},
            409,
            "not allowed from triggered",
        ),
        (f"{KEY_PAGE}/actions/delete", {"reason": "r"}, 404, "no action"),
        ("/gates/nope/keys/2025-12-10/actions/force", {"reason": "r"}, 404, "no gate"),
    ],
    ids=["blank reason", "no reason", "long reason", "never seen", "state", "action", "gate"],
)
def test_an_action_is_refused_before_review(
    acting: Sample, path: str, form: dict[str, str], status: int, says: str
) -> None:
    client, csrf = signed_in(acting)
    answer = client.post(path, data={"csrf": csrf, **form})
    assert answer.status_code == status
    assert says in answer.get_data(as_text=True)
    assert acting.store.load(acting.runtimes["phase2_to_phase3"].actor, "2030-01-01") is None


def test_a_form_without_its_token_or_from_another_site_is_refused(acting: Sample) -> None:
    client, csrf = signed_in(acting)
    path = f"{KEY_PAGE}/actions/force"
    assert client.post(path, data={"reason": "r"}).status_code == 403
    assert client.post(path, data={"csrf": "forged", "reason": "r"}).status_code == 403
    cross = client.post(
        path, data={"csrf": csrf, "reason": "r"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    site = client.post(
        path, data={"csrf": csrf, "reason": "r"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert site.status_code == 403


def review(client, csrf: str, action: str = "force", reason: str = "bettingpros is down"):  # type: ignore[no-untyped-def]
    answer = client.post(f"{KEY_PAGE}/actions/{action}", data={"csrf": csrf, "reason": reason})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    html = answer.get_data(as_text=True)
    token = re.search(r'name="confirmation" value="([^"]+)"', html)
    assert token
    return html, token[1]


def test_an_allowed_action_is_reviewed_then_confirmed_and_audited(acting: Sample) -> None:
    client, csrf = signed_in(acting)
    html, confirmation = review(client, csrf, reason=f"feed down {PROBE}")
    assert "Confirm: Force-trigger phase2_to_phase3 / 2025-12-10" in html
    assert "feed down &lt;img src=x onerror=alert(1)&gt;" in html
    runtime = acting.runtimes["phase2_to_phase3"]
    assert runtime.load("2025-12-10").state == "partial"  # reviewing changes nothing
    done = client.post(
        f"{KEY_PAGE}/actions/force/confirm", data={"csrf": csrf, "confirmation": confirmation}
    )
    assert done.status_code == 303
    snapshot = runtime.load("2025-12-10")
    assert snapshot.state == "triggered"
    last = [h for h in snapshot.history if h.event == "force"][-1]
    assert (last.by, last.cause) == (IDENTITY, f"feed down {PROBE}")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"(by {IDENTITY})" in page
    assert f"<td>{IDENTITY}</td>" in page  # the history's "by" column
    again = client.post(
        f"{KEY_PAGE}/actions/force/confirm", data={"csrf": csrf, "confirmation": confirmation}
    )
    assert again.status_code == 409  # the key changed: a confirmation runs once


def test_a_confirmation_cannot_be_altered_reused_elsewhere_or_taken_stale(acting: Sample) -> None:
    client, csrf = signed_in(acting)
    _, confirmation = review(client, csrf, action="fail", reason="bad feed")
    confirm = f"{KEY_PAGE}/actions/fail/confirm"
    altered = confirmation[:-2] + ("AA" if not confirmation.endswith("AA") else "BB")
    assert client.post(confirm, data={"csrf": csrf, "confirmation": altered}).status_code == 400
    other = f"{KEY_PAGE}/actions/force/confirm"
    assert client.post(other, data={"csrf": csrf, "confirmation": confirmation}).status_code == 400
    runtime = acting.runtimes["phase2_to_phase3"]
    before = runtime.load("2025-12-10")
    missing = next(p for p in runtime.spec.required if p not in before.data.done)
    from phaseactors import Completion

    runtime.deliver(  # the key moves on between review and confirmation
        Completion(processor=missing, key="2025-12-10", status="success", execution_id="late")
    )
    stale = client.post(confirm, data={"csrf": csrf, "confirmation": confirmation})
    assert stale.status_code == 409
    assert "changed since you reviewed" in stale.get_data(as_text=True)
    assert runtime.load("2025-12-10").state == "partial"


def test_a_confirmation_is_for_its_reviewer_only(tmp_path: Path) -> None:
    sample = make_sample(tmp_path, allow_actions=True)
    client, csrf = signed_in(sample)
    _, confirmation = review(client, csrf, action="fail", reason="bad feed")
    from phaseactors.console.actions import ActionRefused, carry_out
    from phaseactors.console.lanes import GateLane

    summary = sample.app.extensions["phaseactors_console"].confirmations.check(confirmation)
    lane = GateLane(sample.runtimes["phase2_to_phase3"])
    with pytest.raises(ActionRefused) as refused:
        carry_out(lane, summary, "mallory@example.com")
    assert refused.value.status == 403
    assert sample.runtimes["phase2_to_phase3"].load("2025-12-10").state == "partial"


def test_the_cli_refuses_actions_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PHASEACTORS_CONSOLE_TOKEN", raising=False)
    assert main(["console", "--allow-actions", "--gate", "phase2_to_phase3"]) == 2
    assert "PHASEACTORS_CONSOLE_TOKEN" in capsys.readouterr().err


def test_the_cli_and_the_console_package_load_no_web_framework() -> None:
    """``phaseactors`` commands other than ``console`` pay nothing for it."""
    import subprocess
    import sys

    code = "import sys, phaseactors.cli, phaseactors.console; print(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {name.strip("'") for name in result.stdout.strip("[]\n").split(", ")}
    assert not {m for m in loaded if m.split(".")[0] in ("flask", "werkzeug", "jinja2")}


def test_phaseactors_console_serves_what_curl_shows(sample: Sample) -> None:
    """The command itself, as an operator starts it: the grid lists each gate with its keys
    and states, a key's page names its missing processors."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "phaseactors", "console", "--port", "0"]
    command += ["--store", f"sqlite:///{sample.store.path}"]
    for gate in GATES:
        command += ["--gate", gate]
    server = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/ \(read-only\)", line)
        assert url, line
        with urllib.request.urlopen(url[1] + "/", timeout=30) as answer:
            grid = answer.read().decode()
        for gate in GATES:
            assert f">{gate}</th>" in grid
        assert '<th scope="row">2025-12-09</th>' in grid
        assert '<span class="state">partial</span> <span class="counts">4/5</span>' in grid
        with urllib.request.urlopen(url[1] + KEY_PAGE, timeout=30) as answer:
            key = answer.read().decode()
        missing = json_of(
            urllib.request.urlopen(url[1] + KEY_PAGE + "?format=json", timeout=30).read()
        )["missing"]
        assert len(missing) == 3
        for name in missing:
            assert f"<li>{name}</li>" in key
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_the_timeline_places_arrivals_against_deadlines_and_the_trigger(sample: Sample) -> None:
    from phaseactors.console.timeline import timeline
    from phaseactors.gate.status import gate_status

    runtime = sample.runtimes["phase2_to_phase3"]
    undecided = gate_status(runtime.spec, runtime.load("2025-12-10"))
    drawn = timeline(undecided, sample.now)
    assert [r.label for r in drawn.rows] == list(undecided.expected)
    assert {r.label for r in drawn.rows if r.x is None} == set(undecided.missing)
    assert all(drawn.left <= r.x <= drawn.right for r in drawn.rows if r.x is not None)
    marks = {m.label: m for m in drawn.marks}
    assert marks["30m"].kind == "deadline-passed"
    assert marks["2h"].kind == "deadline"
    assert marks["now"].x < marks["2h"].x
    first = min(r.x for r in drawn.rows if r.x is not None)
    assert first == drawn.left  # the first arrival starts the axis

    forced = gate_status(runtime.spec, runtime.load("2025-12-01"))  # forced, then published
    drawn = timeline(forced, sample.now)
    kinds = [m.kind for m in drawn.marks]
    assert "trigger" in kinds
    assert "published" in kinds
    assert "now" not in kinds  # a decided key has no "now"
    assert drawn.marks[kinds.index("trigger")].title.endswith("(forced)")


@pytest.mark.emulator
def test_the_console_pages_keys_on_firestore() -> None:
    """The grid's paged, newest-first reads and a key page, on the Firestore emulator."""
    import uuid

    from support import require_emulator

    require_emulator("FIRESTORE_EMULATOR_HOST")
    from google.cloud import firestore

    from phaseactors import GateActor, GateRuntime, RecordingPublisher, load_spec
    from phaseactors.console.app import create_app
    from phaseactors.console.context import ConsoleOptions
    from phaseactors.console.lanes import GateLane
    from phaseactors.stores.firestore import FirestoreStore
    from phaseactors.testing.sample import SampleClock, fill_sample

    store = FirestoreStore(
        firestore.Client(project="phaseactors-test"), prefix=f"t{uuid.uuid4().hex[:10]}."
    )
    clock = SampleClock(datetime.now(UTC))
    runtimes = [
        GateRuntime(GateActor(load_spec(name)), store, RecordingPublisher(), clock=clock)
        for name in GATES
    ]
    fill_sample(runtimes, clock, days=6, end=date(2025, 12, 10))
    app = create_app([GateLane(r) for r in runtimes], store, ConsoleOptions(clock=clock))
    client = app.test_client()
    first = json_of(client.get("/?format=json&limit=3").data)
    assert first["keys"] == ["2025-12-10", "2025-12-09", "2025-12-08"]
    assert first["older"] == "2025-12-08"
    older = json_of(client.get("/?format=json&limit=3&before=2025-12-08").data)
    assert older["keys"] == ["2025-12-07", "2025-12-06", "2025-12-05"]
    ranged = json_of(client.get("/?format=json&from=2025-12-05&to=2025-12-06").data)
    assert ranged["keys"] == ["2025-12-06", "2025-12-05"]
    stuck = {(a["gate"], a["key"]) for a in first["attention"]}
    assert ("phase2_to_phase3", "2025-12-05") in stuck  # failed
    key = json_of(client.get("/gates/phase2_to_phase3/keys/2025-12-10?format=json").data)
    assert len(key["missing"]) == 3
