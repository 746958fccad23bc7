"""The console's pipeline lane: a run per date before the gates, its page with every phase,
the same JSON as ``phaseactors pipeline status --json``, stalled runs listed for attention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phaseactors import RecordingPublisher
from phaseactors.cli import main
from phaseactors.console.context import ConsoleOptions
from phaseactors.console.setup import discover_pipelines, open_console
from phaseactors.gate.lifecycle import Announcement, LifecycleEvent
from phaseactors.pipeline import PipelineActor, PipelineRuntime, load_pipeline
from phaseactors.stores import SqliteStore
from support import REPO, T0, ManualClock

pytest.importorskip("flask")

GATES = [
    str(REPO / "machines" / f"{name}.toml")
    for name in ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
]
DONE_KEY = "2025-11-29"
STALLED_KEY = "2025-11-28"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding the pipeline demo's run (done, one late handoff recovered) and
    a run whose second phase never reported, swept past its handoff deadline (stalled)."""
    directory = tmp_path_factory.mktemp("console-pipeline")
    url = f"sqlite:///{directory / 'runs.db'}"
    publisher = f"jsonl://{directory / 'published.jsonl'}"
    argv = ["demo", "--pipeline", "--mode", "threads", "--key", DONE_KEY, "--json"]
    assert main([*argv, "--store", url, "--publisher", publisher]) == 0
    clock = ManualClock(T0)
    store = SqliteStore(directory / "runs.db")
    runs = PipelineRuntime(
        PipelineActor(load_pipeline("nba_daily")), store, RecordingPublisher(), clock=clock
    )
    for event, extra in (("started", {}), ("triggered", {"trigger_id": "t", "reason": "all_done"})):
        runs.announce(
            Announcement(
                gate="phase2_to_phase3",
                key=STALLED_KEY,
                generation=1,
                event=LifecycleEvent(event),
                at=clock(),
                **extra,
            )
        )
    clock.advance(2 * 3600)  # the handoff into phase3_to_phase4 is 1h
    runs.sweep()
    assert runs.load(STALLED_KEY).state == "stalled"
    store.close()
    return url


@pytest.fixture
def client(store_url: str, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    app = open_console(GATES, store=store_url, publisher="log://", options=ConsoleOptions())
    capsys.readouterr()
    return app.test_client()


def cli_json(capsys: pytest.CaptureFixture[str], store_url: str, *argv: str) -> dict:
    capsys.readouterr()
    main([*argv, "--store", store_url, "--json"])
    return json.loads(capsys.readouterr().out)


def test_the_pipeline_beside_the_gates_is_found() -> None:
    assert [Path(p).stem for p in discover_pipelines(GATES)] == ["nba_daily"]
    assert discover_pipelines(GATES[:2]) == []  # a pipeline is shown only with all its gates


def test_the_grid_puts_the_run_first_in_each_row(client) -> None:  # type: ignore[no-untyped-def]
    grid = client.get("/?format=json").get_json()
    assert [(lane["gate"], lane["kind"]) for lane in grid["gates"]] == [
        ("nba_daily", "pipeline"),
        ("phase2_to_phase3", "gate"),
        ("phase3_to_phase4", "gate"),
        ("phase4_to_phase5", "gate"),
    ]
    runs = {row["key"]: row["state"] for row in grid["gates"][0]["keys"]}
    assert runs == {DONE_KEY: "done", STALLED_KEY: "stalled"}
    assert grid["gates"][0]["states"] == ["waiting", "running", "stalled", "failed", "done"]
    html = client.get("/").get_data(as_text=True)
    assert f'href="/pipelines/nba_daily/keys/{DONE_KEY}"' in html
    assert '<span class="counts">3/3</span>' in html


def test_the_grid_rows_are_those_of_pipeline_list(  # type: ignore[no-untyped-def]
    client, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = cli_json(
        capsys, store_url, "pipeline", "list", "--state", "stalled", "--state", "done"
    )
    grid = client.get("/?format=json").get_json()
    assert sorted(grid["gates"][0]["keys"], key=lambda r: r["key"]) == sorted(
        listed["runs"], key=lambda r: r["key"]
    )


def test_a_stalled_run_needs_attention_and_says_which_handoff(client) -> None:  # type: ignore[no-untyped-def]
    attention = client.get("/?format=json").get_json()["attention"]
    runs = [a for a in attention if a["kind"] == "pipeline"]
    assert [(a["gate"], a["key"], a["state"]) for a in runs] == [
        ("nba_daily", STALLED_KEY, "stalled")
    ]
    assert "phase3_to_phase4" in runs[0]["why"]
    html = client.get("/").get_data(as_text=True)
    assert f'<a href="/pipelines/nba_daily/keys/{STALLED_KEY}">{STALLED_KEY}</a>' in html


def test_a_run_page_json_is_pipeline_status_json(  # type: ignore[no-untyped-def]
    client, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in (DONE_KEY, STALLED_KEY):
        page = client.get(
            f"/pipelines/nba_daily/keys/{key}", headers={"Accept": "application/json"}
        )
        status = cli_json(capsys, store_url, "pipeline", "status", key)
        # due times and overdue flags depend only on the run (no run here is still in time)
        assert page.get_json() == status


def test_a_run_page_shows_every_phase_and_its_alerts(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get(f"/pipelines/nba_daily/keys/{DONE_KEY}").get_data(as_text=True)
    assert html.count('<span class="badge state-triggered">triggered</span>') == 3
    assert f'href="/gates/phase4_to_phase5/keys/{DONE_KEY}"' in html
    assert "late</strong>" in html  # the demo's late handoff
    assert ">stalled<" in html
    assert ">recovered<" in html
    stalled = client.get(f"/pipelines/nba_daily/keys/{STALLED_KEY}").get_data(as_text=True)
    assert 'aria-current="step">stalled<' in stalled
    assert "overdue</strong>" in stalled
    # the phase in progress names what its gate misses: it has no key yet, so nothing
    assert '<span class="muted">no key</span>' in stalled


def test_a_run_never_seen_or_a_pipeline_not_shown_is_not_found(client) -> None:  # type: ignore[no-untyped-def]
    missing = client.get("/pipelines/nba_daily/keys/2099-01-01?format=json")
    assert missing.status_code == 404
    assert "no such run" in missing.get_json()["error"]
    assert client.get(f"/pipelines/other/keys/{DONE_KEY}").status_code == 404
    assert client.get("/pipelines/nba_daily/keys/not-a-date").status_code == 404
