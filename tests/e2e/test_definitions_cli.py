"""A changed gate definition, through the command line, on SQLite and the Firestore emulator:
pin keeps keys in flight on their own definition and status shows the drift; adopt re-evaluates
at the next event; migrate does it on purpose, once; a new alias counts for keys in flight;
``check`` validates a file and prints its semantic diff. One trigger per key, always."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from phaseactors.cli import main
from phaseactors.publishers import read_jsonl
from support import REPO, require_emulator

V1 = """
name = "defs"
[key]
field = "game_date"
[topics]
output = "defs-next"
[processors]
required = ["alpha", "beta", "gamma"]
"""


def gate_file(*, required: list[str], on_change: str = "pin", aliases: str = "") -> str:
    names = ", ".join(f'"{n}"' for n in required)
    return (
        f'name = "defs"\non_change = "{on_change}"\n[key]\nfield = "game_date"\n'
        f'[topics]\noutput = "defs-next"\n[processors]\nrequired = [{names}]\n'
        + (f"[aliases]\n{aliases}\n" if aliases else "")
    )


class Cli:
    """The ``phaseactors`` command, run in this process against one store."""

    def __init__(self, tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.dir = tmp_path
        self.store = store
        self.capsys = capsys
        self.triggers = tmp_path / "triggers.jsonl"

    def gate(self, name: str, text: str) -> str:
        path = self.dir / f"{name}.toml"
        path.write_text(text)
        return str(path)

    def run(self, *args: str, gate: str | None = None, check: bool = True) -> tuple[int, str]:
        common = ["--store", self.store, "--publisher", f"jsonl://{self.triggers}"]
        argv = [*args, *(["--gate", gate] if gate else []), *common]
        self.capsys.readouterr()
        code = main(argv)
        out, err = self.capsys.readouterr()
        if check:
            assert code == 0, f"{argv}: exit {code}\n{out}\n{err}"
        return code, out

    def json(self, *args: str, gate: str) -> dict[str, Any]:
        _, out = self.run(*args, "--json", gate=gate)
        value: dict[str, Any] = json.loads(out)
        return value

    def deliver(self, gate: str, key: str, *processors: str, run: str = "1") -> None:
        for name in processors:
            self.run(
                "deliver", "--key", key, "--processor", name, "--execution-id", f"{name}-{run}",
                gate=gate,
            )  # fmt: skip

    def published(self) -> list[str]:
        if not self.triggers.exists():
            return []
        return [m["entry_id"] for m in read_jsonl(self.triggers)]


@pytest.fixture(params=["sqlite", pytest.param("firestore", marks=pytest.mark.emulator)])
def cli(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    monkeypatch.delenv("PHASEACTORS_STORE", raising=False)
    monkeypatch.delenv("PHASEACTORS_GATE", raising=False)
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path}/defs.db"
    else:
        require_emulator("FIRESTORE_EMULATOR_HOST")
        store = f"firestore://phaseactors-test?prefix=d{uuid.uuid4().hex[:8]}."
    return Cli(tmp_path, store, capsys)


def test_a_removed_required_processor_pinned_adopted_and_migrated(cli: Cli) -> None:
    v1 = cli.gate("v1", V1)
    pin = cli.gate("pin", gate_file(required=["alpha", "beta"]))
    adopt = cli.gate("adopt", gate_file(required=["alpha", "beta"], on_change="adopt"))
    for key in ("2025-11-01", "2025-11-02"):
        cli.deliver(v1, key, "alpha", "beta")

    # pin: the key still waits for gamma, and status shows why
    cli.deliver(pin, "2025-11-01", "alpha", run="2")
    status = cli.json("status", "2025-11-01", gate=pin)
    assert (status["state"], status["missing"]) == ("partial", ["gamma"])
    definition = status["definition"]
    assert set(definition) == {"fingerprint", "current", "drifted", "changes"}
    assert definition["drifted"] is True
    assert definition["fingerprint"] != definition["current"]
    assert [(c["field"], c["removed"]) for c in definition["changes"]] == [
        ("processors.required", ["gamma"])
    ]
    _, screen = cli.run("status", "2025-11-01", gate=pin)
    assert "pinned: it decides by its own definition until migrated" in screen
    assert "changed: processors.required: removed gamma" in screen
    drifted = cli.json("list", "--drifted", gate=pin)
    assert [(k["key"], k["drifted"]) for k in drifted["keys"]] == [
        ("2025-11-01", True),
        ("2025-11-02", True),
    ]
    _, table = cli.run("list", "--drifted", gate=pin)
    assert "processors.required: removed gamma" in table
    assert cli.published() == []

    # adopt: the next event (a sweep's tick) re-evaluates the key, history says why
    cli.run("sweep", "2025-11-01", gate=adopt)
    status = cli.json("status", "2025-11-01", gate=adopt)
    assert status["state"] == "triggered"
    assert status["definition"]["drifted"] is False
    adopted = [h for h in status["history"] if h["event"] == "adopt"]
    assert [(h["source"], h["target"]) for h in adopted] == [("partial", "complete")]
    assert "processors.required: removed gamma" in adopted[0]["cause"]
    assert cli.published() == ["defs/2025-11-01/1"]

    # migrate: a dry run changes nothing; the real run applies once; a second does nothing
    before = cli.json("status", "2025-11-02", gate=pin)
    plan = cli.json("migrate", "--dry-run", gate=pin)
    assert [(k["key"], k["action"], k["applied"]) for k in plan["keys"]] == [
        ("2025-11-02", "trigger", False)
    ]
    _, screen = cli.run("migrate", "--dry-run", gate=pin)
    assert "trigger now (all_done)" in screen
    assert cli.json("status", "2025-11-02", gate=pin) == before
    done = cli.json("migrate", "--reason", "gamma was retired", "--by", "ops", gate=pin)
    assert [(k["key"], k["action"], k["state_after"]) for k in done["keys"]] == [
        ("2025-11-02", "trigger", "triggered")
    ]
    again = cli.json("migrate", "--reason", "gamma was retired", "2025-11-02", gate=pin)
    assert [k["action"] for k in again["keys"]] == ["unchanged"]
    assert cli.json("migrate", "--reason", "again", gate=pin)["keys"] == []
    history = cli.json("history", "2025-11-02", gate=pin)["history"]
    migrated = [h for h in history if h["event"] == "migrate"]
    assert len(migrated) == 1
    assert migrated[0]["by"] == "ops"
    assert migrated[0]["cause"].startswith("gamma was retired (definition ")
    assert sorted(cli.published()) == ["defs/2025-11-01/1", "defs/2025-11-02/1"]


def test_an_added_processor_pinned_and_adopted(cli: Cli) -> None:
    v1 = cli.gate("v1", gate_file(required=["alpha", "beta"]))
    pin = cli.gate("pin", gate_file(required=["alpha", "beta", "delta"]))
    adopt = cli.gate("adopt", gate_file(required=["alpha", "beta", "delta"], on_change="adopt"))
    for key in ("2025-11-03", "2025-11-04"):
        cli.deliver(v1, key, "alpha")

    cli.deliver(pin, "2025-11-03", "beta")  # pin: the old set is complete
    assert cli.json("status", "2025-11-03", gate=pin)["state"] == "triggered"
    refused = cli.json("migrate", "--reason", "delta is new", "2025-11-03", gate=pin)
    assert [(k["action"], k["state_after"]) for k in refused["keys"]] == [("refused", "triggered")]
    assert "keeps the definition it decided under" in refused["keys"][0]["reason"]

    cli.deliver(adopt, "2025-11-04", "beta")  # adopt: it waits for delta
    status = cli.json("status", "2025-11-04", gate=adopt)
    assert (status["state"], status["missing"]) == ("partial", ["delta"])
    cli.deliver(adopt, "2025-11-04", "delta")
    assert cli.json("status", "2025-11-04", gate=adopt)["state"] == "triggered"
    assert cli.published() == ["defs/2025-11-03/1", "defs/2025-11-04/1"]


def test_a_rename_covered_by_a_new_alias_counts_for_a_key_in_flight(cli: Cli) -> None:
    v1 = cli.gate("v1", V1)
    v2 = cli.gate("v2", V1 + '[aliases]\nGammaLoaderV2 = "gamma"\n')
    cli.deliver(v1, "2025-11-05", "alpha", "beta")
    cli.deliver(v2, "2025-11-05", "GammaLoaderV2")
    status = cli.json("status", "2025-11-05", gate=v2)
    assert status["state"] == "triggered"
    assert status["done"]["gamma"]["reported_as"] == "GammaLoaderV2"
    assert status["definition"]["drifted"] is False  # an alias decides nothing
    assert cli.published() == ["defs/2025-11-05/1"]


def test_check_validates_and_prints_the_semantic_diff(tmp_path: Path) -> None:
    old = tmp_path / "old.toml"
    new = tmp_path / "new.toml"
    bad = tmp_path / "bad.toml"
    old.write_text(V1)
    new.write_text(
        "# gamma is gone\n" + gate_file(required=["beta", "alpha"], aliases='Gamma = "alpha"')
    )
    bad.write_text(V1.replace('"gamma"]', '"gamma", "gamma"]'))

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines")}
        return subprocess.run(
            [sys.executable, "-m", "phaseactors", "check", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    diff = check(str(new), "--against", str(old))
    assert diff.returncode == 0, diff.stderr
    assert "what decides keys changed" in diff.stdout
    assert "processors.required: removed gamma" in diff.stdout
    assert "aliases.Gamma: added alpha" in diff.stdout
    same = check(str(old), "--against", str(old))
    assert "no change" in same.stdout
    invalid = check(str(bad))
    assert invalid.returncode == 2
    assert invalid.stdout == ""
    assert "processors.required[3]: 'gamma' is listed twice" in invalid.stderr
    assert "Traceback" not in invalid.stderr
    as_json = check(str(bad), "--json")
    assert (as_json.returncode, json.loads(as_json.stdout)["valid"]) == (2, False)
    shipped = check("phase2_to_phase3", "--json")
    assert json.loads(shipped.stdout)["valid"] is True
