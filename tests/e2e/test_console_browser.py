"""The console in a real browser: Debian's Chromium driven by Playwright. Load the grid, open a
key, see its missing processors and its highlighted state, sign in, force it with a reason and
find the audit line in its history; a processor named like an HTML tag stays text; a pipeline
run leads across its phases to a gate key.

Without Chromium (``scripts/setup-system`` installs it) these tests are skipped, unless
``PHASEACTORS_REQUIRE_BROWSER=1`` (as in CI), which makes that a failure.
``PHASEACTORS_CHROMIUM`` names another Chromium binary (default /usr/bin/chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console_support import IDENTITY, PROBE, TOKEN, Sample, make_sample, plant_probe, serving

CHROMIUM = os.environ.get("PHASEACTORS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEY = "/gates/phase2_to_phase3/keys/2025-12-10"


def _missing(reason: str) -> None:
    if os.environ.get("PHASEACTORS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser required: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (the dev extra)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"{CHROMIUM} not found: run scripts/setup-system (Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    tab.problems = []  # dialogs opened, script errors, CSP violations: none is expected
    tab.on(
        "dialog",
        lambda dialog: (tab.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()),
    )
    tab.on("pageerror", lambda error: tab.problems.append(f"error: {error}"))
    tab.on(
        "console",
        lambda message: message.type == "error" and tab.problems.append(f"console: {message.text}"),
    )
    yield tab
    context.close()


def test_the_grid_leads_to_a_key_with_its_missing_processors(tmp_path: Path, page: Any) -> None:
    sample = make_sample(tmp_path)
    runtime = sample.runtimes["phase2_to_phase3"]
    snapshot = runtime.load("2025-12-10")
    missing = [p for p in runtime.spec.required if p not in snapshot.data.done]
    with serving(sample.app) as url:
        page.goto(url + "/")
        grid = page.locator("#grid")
        for gate in ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5"):
            assert grid.locator("thead th", has_text=gate).is_visible()
        assert page.locator(".attention").get_by_text("past deadline 30m").is_visible()
        cell = (
            grid.locator("tbody tr", has=page.locator("th", has_text="2025-12-10"))
            .locator("td.cell")
            .first
        )
        assert "partial" in cell.inner_text()
        cell.locator("a").click()
        page.wait_for_url(url + KEY)
        assert page.locator("h1").inner_text().startswith("phase2_to_phase3 / 2025-12-10")
        listed = page.locator("#missing li").all_inner_texts()
        assert listed == missing
        current = page.locator("ol.states li[aria-current=step]")
        assert current.inner_text() == "partial"
        assert current.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
        assert page.locator("#timeline .row.missing").count() == len(missing)
        diagram = page.locator("#diagram")
        diagram.scroll_into_view_if_needed()
        page.wait_for_function("document.getElementById('diagram').complete")
        assert diagram.evaluate("img => img.naturalWidth") > 100
    assert page.problems == []


def test_a_processor_named_like_a_tag_renders_as_text(tmp_path: Path, page: Any) -> None:
    sample = make_sample(tmp_path)
    plant_probe(sample, "phase2_to_phase3", "2025-12-10")
    with serving(sample.app) as url:
        page.goto(url + KEY)
        row = page.locator("table.processors tr.row-unknown")
        assert row.locator("td").first.inner_text() == PROBE
        assert row.is_visible()
        assert page.locator("#timeline .row.unknown text.label").text_content() == PROBE
        assert page.locator("img[src=x]").count() == 0
        page.goto(url + "/")
        page.goto(url + KEY + "?format=json")
    assert page.problems == []


def test_an_operator_forces_a_key_and_sees_the_audit_line(tmp_path: Path, page: Any) -> None:
    sample = make_sample(tmp_path, allow_actions=True)
    reason = f"bettingpros is down today {PROBE}"
    with serving(sample.app) as url:
        page.goto(url + KEY)
        assert page.get_by_text("Actions need an authenticated identity").is_visible()
        page.get_by_role("link", name="Sign in", exact=True).click()
        page.fill("input[name=token]", TOKEN)
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_text(f"signed in as {IDENTITY}").is_visible()
        page.goto(url + KEY)
        form = page.locator("form.action[data-action=force]")
        button = form.get_by_role("button")
        assert button.is_disabled()  # no reason yet
        form.locator("textarea").fill(reason)
        assert button.is_enabled()
        button.click()
        assert page.locator("h1").inner_text().startswith("Confirm: Force-trigger")
        assert page.locator("dd.reason").inner_text() == reason
        assert sample.runtimes["phase2_to_phase3"].load("2025-12-10").state == "partial"
        page.locator("#confirm").click()
        page.wait_for_url(url + KEY)
        assert page.locator("#state").inner_text() == "triggered"
        assert page.get_by_role("status").inner_text().endswith(f"(by {IDENTITY})")
        rows = page.locator("#history tbody tr")
        newest = [rows.nth(i).locator("td").all_inner_texts()[2:] for i in range(2)]
        assert newest[1] == ["partial → complete", "force", reason, IDENTITY]
        assert newest[0][:2] == ["complete → triggered", "confirm_trigger"]
    snapshot = sample.runtimes["phase2_to_phase3"].load("2025-12-10")
    assert [h.by for h in snapshot.history if h.event == "force"] == [IDENTITY]
    assert page.problems == []


def test_without_a_reason_the_server_refuses_too(tmp_path: Path, page: Any) -> None:
    sample: Sample = make_sample(tmp_path, allow_actions=True)
    with serving(sample.app) as url:
        page.goto(url + "/login")
        page.fill("input[name=token]", TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.goto(url + KEY)
        form = page.locator("form.action[data-action=fail]")
        with page.expect_navigation():  # the refusal is a new page, not the key's again
            form.evaluate("f => { f.querySelector('textarea').required = false; f.submit(); }")
        assert page.locator("h1").inner_text() == "400"
        assert "a reason is required" in page.locator(".refusal").inner_text()
    assert sample.runtimes["phase2_to_phase3"].load("2025-12-10").state == "partial"


def test_a_pipeline_run_leads_across_its_phases(tmp_path: Path, page: Any) -> None:
    from phaseactors.cli import main
    from phaseactors.console.context import ConsoleOptions
    from phaseactors.console.setup import open_console
    from support import REPO

    store = f"sqlite:///{tmp_path / 'runs.db'}"
    publisher = f"jsonl://{tmp_path / 'published.jsonl'}"
    demo = ["demo", "--pipeline", "--mode", "threads", "--store", store, "--publisher", publisher]
    assert main([*demo, "--json"]) == 0
    gates = [
        str(REPO / "machines" / f"{n}.toml")
        for n in ("phase2_to_phase3", "phase3_to_phase4", "phase4_to_phase5")
    ]
    app = open_console(gates, store=store, publisher="log://", options=ConsoleOptions())
    with serving(app) as url:
        page.goto(url + "/")
        grid = page.locator("#grid")
        assert grid.locator("thead th").nth(1).inner_text() == "nba_daily"
        run = grid.locator("tbody tr", has=page.locator("th", has_text="2025-11-29"))
        cell = run.locator("td.cell").first
        assert cell.inner_text().split() == ["done", "3/3"]
        cell.locator("a").click()
        page.wait_for_url(url + "/pipelines/nba_daily/keys/2025-11-29")
        assert page.locator("ol.states li[aria-current=step]").inner_text() == "done"
        phases = page.locator("#phases tbody tr")
        assert phases.count() == 3
        assert phases.nth(2).get_by_text("late").is_visible()  # the demo's late handoff
        reasons = page.locator("#alerts tbody tr td:nth-child(2)").all_inner_texts()
        assert reasons == ["stalled", "recovered"]
        phases.nth(0).locator("a").click()
        page.wait_for_url(url + "/gates/phase2_to_phase3/keys/2025-11-29")
        assert page.locator("#state").inner_text() == "triggered"
    assert page.problems == []
