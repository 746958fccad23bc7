"""The command line at its edges: the quarantine from deliver to purge, operator commands over
date ranges and key files, replaying recorded completions, confirmations and refusals on a
terminal, closed pipes, JSON errors, where triggers go, starter gates, unreachable services."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli import GATE, as_json

from support import REPO

S = ("--store", "sqlite:///ops.db")


def env(**extra: str) -> dict[str, str]:
    values = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines"), **extra}
    for variable in ("PHASEACTORS_STORE", "PHASEACTORS_GATE", "PHASEACTORS_PUBLISHER"):
        values.pop(variable, None)
    return values


def pa(
    cwd: Path, *args: str, stdin: str | None = "", check: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "phaseactors", *args],
        cwd=cwd,
        env=env(**extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def deliver(cwd: Path, key: str, processor: str, run: str = "r1") -> None:
    pa(
        cwd,
        "deliver",
        "--gate",
        GATE,
        *S,
        "--key",
        key,
        "--processor",
        processor,
        "--execution-id",
        f"{processor}-{key}-{run}",
    )


def on_terminal(cwd: Path, args: list[str], answer: str | None) -> tuple[int, str]:
    """Run with a terminal as stdin (answering ``answer`` to a prompt); exit code, stderr."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "phaseactors", *args],
            cwd=cwd,
            env=env(),
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if answer is not None:
            os.write(controller, answer.encode())
        _, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    return process.returncode, stderr


# -- the quarantine --------------------------------------------------------------------------


def test_a_malformed_body_is_listed_replayed_corrected_and_purged_with_an_audit(
    tmp_path: Path,
) -> None:
    bad = '{"processor_name": "NbacScheduleProcessor", "game_date": "2025-11-30"}'
    refused = pa(tmp_path, "deliver", "--gate", GATE, *S, stdin=bad, check=False)
    assert refused.returncode == 2
    assert refused.stderr == (
        "phaseactors deliver: execution_id: missing"
        " (quarantined as 1: phaseactors quarantine show 1)\n"
    )
    pa(tmp_path, "deliver", "--gate", GATE, *S, stdin="not json", check=False)

    listed = as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"]
    assert [(q["id"], q["gate"], q["source"]) for q in listed] == [
        ("2", GATE, "stdin"),
        ("1", GATE, "stdin"),
    ]
    assert listed[1]["reason"] == "InvalidMessage: execution_id: missing"
    shown = pa(tmp_path, "quarantine", "show", "1", *S).stdout
    assert '"processor_name": "NbacScheduleProcessor"' in shown

    as_it_was = pa(tmp_path, "quarantine", "replay", "1", *S, check=False)
    assert as_it_was.returncode == 2  # still broken: it stays, once
    assert "execution_id: missing" in as_it_was.stderr
    assert len(as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"]) == 2

    fixed = json.dumps({**json.loads(bad), "status": "success", "execution_id": "run-7"})
    replayed = as_json(
        pa(
            tmp_path,
            "quarantine",
            "replay",
            "1",
            *S,
            "--body",
            "-",
            "--by",
            "ana",
            "--json",
            stdin=fixed,
        )
    )
    assert (replayed["outcome"], replayed["state"]) == ("applied", "partial")
    status = as_json(pa(tmp_path, "status", "2025-11-30", "--gate", GATE, *S, "--json"))
    assert status["done"]["nbac_schedule"]["execution_id"] == "run-7"

    purged = pa(tmp_path, "quarantine", "purge", "2", *S, "--reason", "not a completion")
    assert "purged 1 message(s)" in purged.stdout
    assert as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"] == []
    audit = as_json(pa(tmp_path, "quarantine", "list", "--resolved", *S, "--json"))["resolved"]
    assert [(a["id"], a["action"], a["outcome"]) for a in audit] == [
        ("2", "purged", None),
        ("1", "replayed", "applied"),
    ]
    assert audit[0]["reason"] == "not a completion"
    assert audit[0]["quarantine_reason"].startswith("InvalidMessage: body: not valid JSON")
    assert audit[0]["raw_bytes"] == len("not json")
    assert audit[1]["by"] == "ana"
    again = pa(tmp_path, "quarantine", "purge", "2", *S, "--reason", "x", check=False)
    assert again.returncode == 2
    assert "no quarantined message '2'" in again.stderr


def test_purge_asks_on_a_terminal_and_dry_run_purges_nothing(tmp_path: Path) -> None:
    for body in ("{}", "[]", "1"):
        pa(tmp_path, "deliver", "--gate", GATE, *S, stdin=body, check=False)
    dry = pa(tmp_path, "quarantine", "purge", "--all", *S, "--reason", "x", "--dry-run").stdout
    assert dry.count("would purge") == 3
    code, stderr = on_terminal(
        tmp_path, ["quarantine", "purge", "--all", *S, "--reason", "x"], "n\n"
    )
    assert code == 1
    assert "purge 3 quarantined message(s) (3, 2, 1) for good? [y/N]" in stderr
    assert "not confirmed; nothing was done" in stderr
    assert len(as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"]) == 3
    code, _ = on_terminal(tmp_path, ["quarantine", "purge", "--all", *S, "--reason", "x"], "y\n")
    assert code == 0
    assert as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"] == []


# -- ranges ----------------------------------------------------------------------------------


def history_events(cwd: Path, key: str) -> list[str]:
    found = as_json(pa(cwd, "history", key, "--gate", GATE, *S, "--json"))["history"]
    return [h["event"] for h in found]


def test_rearm_over_a_month_lists_with_dry_run_then_does_it_once_per_key(tmp_path: Path) -> None:
    for key in ("2025-11-02", "2025-11-03", "2025-11-20"):
        deliver(tmp_path, key, "nbac_schedule")
    month = ("--gate", GATE, *S, "--from", "2025-11-01", "--to", "2025-11-30")
    dry = pa(tmp_path, "rearm", *month, "--reason", "backfill", "--dry-run")
    lines = dry.stdout.splitlines()
    assert "2025-11-02  would be rearmed: partial -> waiting (generation 2)" in lines
    assert "2025-11-01  skipped: no state (--create would start it)" in lines
    assert lines[-1] == "dry run, nothing changed: rearm 30 keys: 27 skipped, 3 would be rearmed"
    assert history_events(tmp_path, "2025-11-02") == ["report_done"]

    done = as_json(pa(tmp_path, "rearm", *month, "--reason", "backfill", "--json"))
    assert done["summary"] == {"rearmed": 3, "skipped": 27}
    assert [k["key"] for k in done["keys"] if k["result"] == "rearmed"] == [
        "2025-11-02",
        "2025-11-03",
        "2025-11-20",
    ]
    for key in ("2025-11-02", "2025-11-03", "2025-11-20"):
        assert history_events(tmp_path, key) == ["report_done", "rearm"]
    assert pa(tmp_path, "status", "2025-11-01", "--gate", GATE, *S, check=False).returncode == 2

    again = pa(tmp_path, "rearm", *month, "--reason", "twice", check=False)
    assert again.returncode == 2  # a waiting key cannot be rearmed: nothing done twice
    assert (
        "2025-11-02  refused: waiting, where rearm is not possible; a waiting key allows:"
        " deliver, fail, force-trigger, sweep"
    ) in again.stdout


def test_fail_from_a_key_file_asks_first_on_a_terminal(tmp_path: Path) -> None:
    for key in ("2025-11-02", "2025-11-05"):
        deliver(tmp_path, key, "nbac_schedule")
    (tmp_path / "keys.txt").write_text("2025-11-02\n2025-11-05  # the bad feed\n\n2025-11-09\n")
    args = ["fail", "--gate", GATE, *S, "--keys", "keys.txt", "--reason", "bad feed"]
    code, stderr = on_terminal(tmp_path, args, "no\n")
    assert code == 1
    assert "fail 2 of 3 keys of phase2_to_phase3 (2025-11-02 .. 2025-11-09" in stderr
    assert history_events(tmp_path, "2025-11-02") == ["report_done"]
    result = as_json(pa(tmp_path, *args, "--json"))
    assert result["summary"] == {"failed": 2, "skipped": 1}
    listed = as_json(pa(tmp_path, "list", "--gate", GATE, *S, "--state", "failed", "--json"))
    assert [k["key"] for k in listed["keys"]] == ["2025-11-02", "2025-11-05"]


def test_status_over_a_range_counts_states(tmp_path: Path) -> None:
    deliver(tmp_path, "2025-11-02", "nbac_schedule")
    result = pa(
        tmp_path, "status", "--gate", GATE, *S, "--from", "2025-11-01", "--to", "2025-11-03"
    )
    assert result.stdout.splitlines()[-1] == "3 keys: 2 no state, 1 partial"
    data = as_json(
        pa(
            tmp_path,
            "status",
            "--gate",
            GATE,
            *S,
            "--keys",
            "-",
            "--json",
            stdin="2025-11-02\n2025-11-04\n",
        )
    )
    assert [(k["key"], k["state"]) for k in data["keys"]] == [
        ("2025-11-02", "partial"),
        ("2025-11-04", None),
    ]
    assert data["summary"] == {"partial": 1, "no state": 1}


def test_sweep_over_keys_skips_keys_with_no_state_and_dry_run_changes_nothing(
    tmp_path: Path,
) -> None:
    deliver(tmp_path, "2025-11-02", "nbac_schedule")  # replayed long after: deadlines passed
    dry = as_json(
        pa(
            tmp_path,
            "sweep",
            "--gate",
            GATE,
            *S,
            "--from",
            "2025-11-01",
            "--to",
            "2025-11-02",
            "--dry-run",
            "--json",
        )
    )
    assert dry["skipped"] == ["2025-11-01"]
    assert list(dry["would"]) == ["2025-11-02"]
    swept = as_json(pa(tmp_path, "sweep", "--gate", GATE, *S, "2025-11-01", "2025-11-02", "--json"))
    assert (swept["visited"], swept["skipped"]) == (1, ["2025-11-01"])
    assert pa(tmp_path, "status", "2025-11-01", "--gate", GATE, *S, check=False).returncode == 2


# -- deliveries ------------------------------------------------------------------------------


def body(processor: str, key: str = "2025-11-30", **fields: Any) -> str:
    values = {
        "processor_name": processor,
        "game_date": key,
        "status": "success",
        "execution_id": f"{processor}-1",
        **fields,
    }
    return json.dumps(values)


def test_deliver_file_replays_lines_and_quarantines_only_the_bad_ones(tmp_path: Path) -> None:
    lines = [
        body("NbacScheduleProcessor"),
        "# a comment",
        body("bdl_injuries"),
        "{broken",
        body("NbacScheduleProcessor"),
        "",
    ]
    (tmp_path / "completions.jsonl").write_text("\n".join(lines) + "\n")
    checked = pa(
        tmp_path,
        "deliver",
        "--gate",
        GATE,
        *S,
        "--file",
        "completions.jsonl",
        "--dry-run",
        check=False,
    )
    assert checked.returncode == 2
    assert "line 4: body: not valid JSON" in checked.stdout
    assert "3 valid, 1 refused" in checked.stdout
    assert not (tmp_path / "ops.db").exists()

    replayed = pa(
        tmp_path,
        "deliver",
        "--gate",
        GATE,
        *S,
        "--file",
        "completions.jsonl",
        "--json",
        check=False,
    )
    assert replayed.returncode == 2
    result = as_json(replayed)
    assert result["outcomes"] == {"applied": 2, "duplicate": 1, "quarantined": 1}
    assert [(p["line"], p["quarantined_as"]) for p in result["problems"]] == [(4, "1")]
    [record] = as_json(pa(tmp_path, "quarantine", "list", *S, "--json"))["quarantined"]
    assert record["source"] == "file:completions.jsonl:4"


def test_strict_refuses_an_unknown_processor_and_storing_nothing(tmp_path: Path) -> None:
    strict = pa(
        tmp_path, "deliver", "--gate", GATE, *S, "--strict", stdin=body("BdlBoxscores"), check=False
    )
    assert strict.returncode == 2
    assert "'BdlBoxscores' is not a processor of gate phase2_to_phase3" in strict.stderr
    assert not (tmp_path / "ops.db").exists()
    loose = pa(tmp_path, "deliver", "--gate", GATE, *S, stdin=body("nbac_schedul"))
    assert "unknown processor: recorded apart" in loose.stderr
    assert "did you mean 'nbac_schedule'?" in loose.stderr


def test_deliver_refuses_to_wait_on_a_terminal(tmp_path: Path) -> None:
    code, stderr = on_terminal(tmp_path, ["deliver", "--gate", GATE], None)
    assert code == 2
    assert "no completion given" in stderr
    assert list(tmp_path.iterdir()) == []


def test_triggers_go_to_a_file_beside_the_store_named_in_the_output(tmp_path: Path) -> None:
    from phaseactors import load_spec

    spec = load_spec("phase4_to_phase5")
    out = ""
    for name in spec.required:
        out = pa(
            tmp_path,
            "deliver",
            "--gate",
            "phase4_to_phase5",
            "--store",
            "sqlite:///data/p.db",
            stdin=body(name, "2025-11-29"),
        ).stdout
    assert "published trigger phase4_to_phase5/2025-11-29/1 as " in out
    assert out.rstrip().endswith("to jsonl://data/p.triggers.jsonl")
    [line] = (tmp_path / "data" / "p.triggers.jsonl").read_text().splitlines()
    assert json.loads(line)["attributes"]["trigger_id"] == "phase4_to_phase5/2025-11-29/1"


# -- operator commands -----------------------------------------------------------------------


def test_force_trigger_asks_on_a_terminal_and_create_starts_a_new_key(tmp_path: Path) -> None:
    deliver(tmp_path, "2025-11-30", "nbac_schedule")
    args = ["force-trigger", "2025-11-30", "--gate", GATE, *S, "--reason", "ship it"]
    code, stderr = on_terminal(tmp_path, args, "\n")
    assert code == 1
    assert "force-trigger phase2_to_phase3/2025-11-30 (partial, 9 required missing)?" in stderr
    code, _ = on_terminal(tmp_path, [*args, "--yes"], None)
    assert code == 0
    dry = pa(
        tmp_path, "fail", "2026-01-01", "--gate", GATE, *S, "--reason", "x", "--create", "--dry-run"
    )
    assert "dry run: phase2_to_phase3/2026-01-01: would be failed: no state -> failed" in dry.stdout
    assert pa(tmp_path, "status", "2026-01-01", "--gate", GATE, *S, check=False).returncode == 2
    pa(tmp_path, "fail", "2026-01-01", "--gate", GATE, *S, "--reason", "cancelled", "--create")
    assert history_events(tmp_path, "2026-01-01") == ["fail"]


# -- output ----------------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    deliver(tmp_path, "2025-11-30", "nbac_schedule")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phaseactors",
            "status",
            "--gate",
            GATE,
            *S,
            "--from",
            "2015-01-01",
            "--to",
            "2024-12-31",
        ],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=60) == 141
    assert process.stderr is not None
    assert process.stderr.read() == b""


def test_json_errors_are_one_object_on_stdout(tmp_path: Path) -> None:
    missing = pa(
        tmp_path, "list", "--gate", GATE, "--store", "sqlite:///typo.db", "--json", check=False
    )
    assert missing.returncode == 2
    assert as_json(missing) == {
        "error": "no store at typo.db: nothing was ever delivered there (check the path:"
        " --store or $PHASEACTORS_STORE)",
        "error_type": "StoreNotFound",
        "exit_code": 2,
    }
    usage = pa(tmp_path, "list", "--gate", GATE, "--older-than", "2", "--json", check=False)
    assert as_json(usage)["exit_code"] == 2
    quarantined = pa(tmp_path, "deliver", "--gate", GATE, *S, "--json", stdin="{}", check=False)
    assert as_json(quarantined)["quarantined_as"] == "1"


def test_version_and_help_texts_are_plain(tmp_path: Path) -> None:
    from phaseactors import __version__
    from phaseactors.cli import build_parser

    assert pa(tmp_path, "--version").stdout == f"phaseactors {__version__}\n"
    parser = build_parser([])
    commands = next(a for a in parser._actions if a.dest == "command").choices
    texts = [parser.format_help()]
    for _name, sub in commands.items():  # type: ignore[union-attr]
        texts.append(sub.format_help())
        for action in sub._actions:
            if action.dest == "action":
                texts += [child.format_help() for child in action.choices.values()]
    assert len(texts) > len(commands)
    for text in texts:
        for markup in ("``", ":class:", ":mod:", ":func:", ":meth:"):
            assert markup not in text, text


def test_the_status_screen_fits_a_hundred_columns(tmp_path: Path) -> None:
    pa(tmp_path, "demo", "--mode", "threads", "--seed", "4", *S, "--json")
    shown = pa(tmp_path, "status", "2025-11-29", "--gate", GATE, *S).stdout
    assert max(len(line) for line in shown.splitlines()) <= 100
    assert "(times in UTC, " in shown
    narrow = pa(tmp_path, "list", "--gate", GATE, *S, "--state", "triggered", COLUMNS="60")
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_rich_tables_fit_and_show_untrusted_text_as_text() -> None:
    pytest.importorskip("rich")
    from phaseactors.cli.tables import table

    rows = [("[bold red]x[/]", "\x1b[2J" + "y" * 80, "z" * 90)]
    shown = table(("a", "b", "c"), rows, width=100, rich=True, cut_first=(1,))
    assert "[bold red]x[/]" in shown
    assert "\x1b[2J" not in shown.replace("\x1b[1m", "").replace("\x1b[0m", "")
    plain = table(("a", "b", "c"), rows, width=100, rich=False, cut_first=(1,))
    assert max(len(line) for line in plain.splitlines()) <= 100
    assert "\\x1b[" in plain


def test_the_demo_separates_this_run_from_the_key_totals(tmp_path: Path) -> None:
    first = as_json(pa(tmp_path, "demo", "--mode", "threads", "--json"))
    second = as_json(pa(tmp_path, "demo", "--mode", "threads", "--json"))
    assert first["run"]["triggers_published"] == 1
    assert second["run"] == {**second["run"], "triggers_published": 0, "deliveries": 63}
    assert second["run"]["outcomes"] == {"duplicate": 63}
    assert second["key_totals"]["completions_recorded"] == 21
    assert second["key_totals"]["state"] == "triggered"


def test_init_writes_a_gate_that_works_by_name(tmp_path: Path) -> None:
    written = pa(tmp_path, "init", "orders_ready", "--processors", "extract_orders", "load_orders")
    assert "wrote machines/orders_ready.toml" in written.stdout
    text = (tmp_path / "machines" / "orders_ready.toml").read_text()
    assert text.count("\n# ") > 5  # explained in comments
    for name in ("ExtractOrdersProcessor", "load_orders"):
        delivered = pa(
            tmp_path,
            "deliver",
            "--gate",
            "orders_ready",
            "--json",
            stdin=json.dumps(
                {
                    "processor_name": name,
                    "run_date": "2025-11-30",
                    "status": "success",
                    "execution_id": f"{name}-1",
                }
            ),
        )
    assert as_json(delivered)["state"] == "triggered"
    again = pa(tmp_path, "init", "orders_ready", check=False)
    assert again.returncode == 2


# -- unreachable and unconfigured services ---------------------------------------------------


def test_an_unreachable_firestore_fails_in_seconds_with_a_hint(tmp_path: Path) -> None:
    pytest.importorskip("google.cloud.firestore")
    started = time.monotonic()
    result = pa(
        tmp_path,
        "status",
        "2025-11-30",
        "--gate",
        GATE,
        "--store",
        "firestore://p",
        check=False,
        FIRESTORE_EMULATOR_HOST="127.0.0.1:9",
    )
    assert time.monotonic() - started < 20
    assert result.returncode == 75
    assert result.stderr == (
        "phaseactors status: firestore://p: Firestore did not answer within 5 s: is the"
        " emulator running at FIRESTORE_EMULATOR_HOST=127.0.0.1:9?\n"
    )


def test_missing_google_credentials_say_which_and_how_to_get_them(tmp_path: Path) -> None:
    pytest.importorskip("google.cloud.firestore")
    unset = {"HOME": str(tmp_path), "NO_GCE_CHECK": "True", "GCE_METADATA_HOST": "127.0.0.1:9"}
    variables = (
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
    )
    cleared = {k: v for k, v in env(**unset).items() if k not in variables}
    result = subprocess.run(
        [sys.executable, "-m", "phaseactors", "list", "--gate", GATE, "--store", "firestore://p"],
        cwd=tmp_path,
        env=cleared,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "no Google credentials for Firestore, and FIRESTORE_EMULATOR_HOST is unset" in line
    assert "GOOGLE_APPLICATION_CREDENTIALS" in line


def test_an_unreachable_pubsub_leaves_the_trigger_pending_with_a_hint(tmp_path: Path) -> None:
    pytest.importorskip("google.cloud.pubsub_v1")
    deliver(tmp_path, "2025-11-30", "nbac_schedule")
    result = pa(
        tmp_path,
        "force-trigger",
        "2025-11-30",
        "--gate",
        GATE,
        *S,
        "--reason",
        "x",
        "--publisher",
        "pubsub://p?timeout=1",
        check=False,
        PUBSUB_EMULATOR_HOST="127.0.0.1:9",
    )
    assert result.returncode == 75
    assert "no answer within 1 s: is the emulator running at PUBSUB_EMULATOR_HOST=127.0.0.1:9?" in (
        result.stderr
    )
    status = as_json(pa(tmp_path, "status", "2025-11-30", "--gate", GATE, *S, "--json"))
    assert (status["state"], status["trigger"]["published"]) == ("complete", False)


def test_the_cli_bounds_waits_for_google_services() -> None:
    from argparse import Namespace

    from phaseactors.cli.common import publisher_url, store_url

    args = Namespace(store="firestore://p/db?prefix=x.", publisher="pubsub://p")
    assert store_url(args) == "firestore://p/db?prefix=x.&connect_timeout=5"
    assert publisher_url(args) == "pubsub://p?timeout=10"
    mine = Namespace(store="firestore://p?connect_timeout=30", publisher="pubsub://p?timeout=60")
    assert (store_url(mine), publisher_url(mine)) == (mine.store, mine.publisher)
    assert publisher_url(Namespace(store="firestore://p", publisher=None)) == (
        "pubsub://p?timeout=10"
    )


def test_serve_push_uses_the_store_every_command_uses(tmp_path: Path) -> None:
    pytest.importorskip("functions_framework")
    import base64
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phaseactors",
            "serve",
            "--gate",
            GATE,
            "--target",
            "push",
            "--push-token",
            "s3cret",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        envelope = {
            "message": {
                "data": base64.b64encode(body("NbacScheduleProcessor").encode()).decode(),
                "messageId": "m-1",
                "attributes": {},
            },
            "subscription": "projects/p/subscriptions/push",
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/?token=s3cret",
            data=json.dumps(envelope).encode(),
            headers={"Content-Type": "application/json"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    assert answer.status == 204
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    status = as_json(pa(tmp_path, "status", "2025-11-30", "--gate", GATE, "--json"))
    assert list(status["done"]) == ["nbac_schedule"]
    assert (tmp_path / "phaseactors.db").exists()


def test_the_progress_bar_draws_in_place_on_a_terminal_only() -> None:
    import io

    from phaseactors.cli.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = Progress("rearm", 30, stream=terminal)
    for day in range(1, 13):
        progress.step(f"2025-11-{day:02}")
    progress.close()
    drawn = terminal.getvalue()
    assert "\r" in drawn
    assert "rearm [#########...............] 12/30 2025-11-12" in drawn
    piped = io.StringIO()
    silent = Progress("rearm", 30, stream=piped)
    silent.step("2025-11-01")
    silent.close()
    assert piped.getvalue() == ""


@pytest.mark.emulator
def test_the_quarantine_commands_on_firestore(tmp_path: Path) -> None:
    import uuid

    from support import require_emulator

    require_emulator("FIRESTORE_EMULATOR_HOST")
    store = ("--store", f"firestore://phaseactors-test?prefix=q{uuid.uuid4().hex[:8]}.")
    common = ("--gate", GATE, *store, "--publisher", "log://")
    pa(tmp_path, "deliver", *common, stdin='{"processor_name": "x"}', check=False)
    [record] = as_json(pa(tmp_path, "quarantine", "list", *store, "--json"))["quarantined"]
    fixed = body("NbacScheduleProcessor")
    replayed = pa(
        tmp_path,
        "quarantine",
        "replay",
        record["id"],
        *common,
        "--body",
        "-",
        "--json",
        stdin=fixed,
    )
    assert as_json(replayed)["outcome"] == "applied"
    pa(tmp_path, "deliver", *common, stdin="[]", check=False)
    [second] = as_json(pa(tmp_path, "quarantine", "list", *store, "--json"))["quarantined"]
    pa(tmp_path, "quarantine", "purge", second["id"], *store, "--reason", "junk")
    audit = as_json(
        pa(tmp_path, "quarantine", "list", "--resolved", "--gate", GATE, *store, "--json")
    )["resolved"]
    assert [(a["id"], a["action"]) for a in audit] == [
        (second["id"], "purged"),
        (record["id"], "replayed"),
    ]
