"""Every wrong input gets a one-line answer: for each of the mistakes below, the command exits
1 or 2 with one clear line on stderr that says what is wrong, no traceback, and creates no
file (not a store, not a triggers file, not a gate file).

The mistakes run in one directory that holds a store with a partial key, a failed key and a
quarantined message, a malformed gate file, a file that is not a database, a directory, and
files of bad keys and no completions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

GATE = "phase2_to_phase3"
STORE = "sqlite:///ops.db"
G = ("--gate", GATE)
S = ("--store", STORE)

#: (what is wrong, arguments, stdin, a phrase the one line must contain)
CASES: list[tuple[str, tuple[str, ...], str | None, str]] = [
    # the command itself
    ("no command", (), None, "the following arguments are required: COMMAND"),
    ("a mistyped command", ("stauts",), None, "unknown command 'stauts'; did you mean 'status'"),
    ("an unknown option", ("status", "2025-11-30", *G, "--colour"), None, "unrecognized argum"),
    ("a missing key", ("status", *G, *S), None, "no key given"),
    # gates
    ("no gate at all", ("list", *S), None, "no gate given: use --gate NAME|PATH"),
    ("an unknown gate", ("status", "2025-11-30", "--gate", "nosuch"), None, "no gate named"),
    (
        "a mistyped gate",
        ("status", "2025-11-30", "--gate", "phase2_to_phse3"),
        None,
        "did you mean 'phase2_to_phase3'?",
    ),
    ("a missing gate file", ("status", "2025-11-30", "--gate", "./nope.toml"), None, "not exist"),
    ("a malformed gate file", ("status", "2025-11-30", "--gate", "bad.toml"), None, "bad.toml: "),
    # keys
    ("not a calendar date", ("status", "2025-02-30", *G, *S), None, "is not a calendar date"),
    ("not a date at all", ("history", "yesterday", *G, *S), None, "ISO calendar date"),
    # stores
    (
        "a mistyped store path",
        ("status", "2025-11-30", *G, "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "an unknown store scheme",
        ("status", "2025-11-30", *G, "--store", "redis://x"),
        None,
        "unknown store URL 'redis://x'",
    ),
    (
        "two slashes",
        ("status", "2025-11-30", *G, "--store", "sqlite://ops.db"),
        None,
        "three slashes",
    ),
    (
        "no store path",
        ("status", "2025-11-30", *G, "--store", "sqlite:///"),
        None,
        "has no file path",
    ),
    (
        "a mistyped store option",
        ("list", *G, "--store", "sqlite:///ops.db?synchronus=FULL"),
        None,
        "unknown option 'synchronus'",
    ),
    (
        "a file that is not a store",
        ("list", *G, "--store", "sqlite:///notes.txt"),
        None,
        "not an SQLite database",
    ),
    (
        "a directory as the store",
        ("list", *G, "--store", "sqlite:///somedir"),
        None,
        "is a directory",
    ),
    (
        "a Firestore URL without project",
        ("list", *G, "--store", "firestore://"),
        None,
        "needs a project",
    ),
    (
        "a Firestore design nobody knows",
        ("list", *G, "--store", "firestore://p?design=x"),
        None,
        "design must be one of",
    ),
    # ranges and key files
    (
        "a range without its end",
        ("status", *G, *S, "--from", "2025-11-01"),
        None,
        "needs both --from DATE and --to DATE",
    ),
    (
        "a range backwards",
        ("status", *G, *S, "--from", "2025-11-30", "--to", "2025-11-01"),
        None,
        "is before --from",
    ),
    (
        "a range of non-dates",
        ("status", *G, *S, "--from", "2025-13-01", "--to", "2025-12-31"),
        None,
        "'2025-13-01' is not a calendar date",
    ),
    (
        "a key and a range",
        ("status", "2025-11-30", *G, *S, "--from", "2025-11-01", "--to", "2025-11-02"),
        None,
        "not several of them",
    ),
    (
        "a range too long",
        ("status", *G, *S, "--from", "2000-01-01", "--to", "2025-12-31"),
        None,
        "split the range",
    ),
    ("a missing key file", ("status", *G, *S, "--keys", "missing.txt"), None, "cannot read it"),
    (
        "a key file with a bad key",
        ("rearm", *G, *S, "--keys", "bad-keys.txt", "--reason", "x"),
        None,
        "bad-keys.txt line 3: ",
    ),
    # list
    (
        "a duration without unit",
        ("list", *G, *S, "--older-than", "2"),
        None,
        "'2' is not a duration",
    ),
    ("an unknown state", ("list", *G, *S, "--state", "stuck"), None, "'stuck' is not one of"),
    ("a mistyped state", ("list", *G, *S, "--state", "partail"), None, "did you mean 'partial'?"),
    ("a zero limit", ("list", *G, *S, "--limit", "0"), None, "at least 1"),
    # deliver
    (
        "a processor without key",
        ("deliver", *G, *S, "--processor", "nbac_schedule"),
        None,
        "--processor needs --key and --execution-id too",
    ),
    (
        "a processor without run id",
        (
            "deliver",
            *G,
            "--store",
            "sqlite:///new.db",
            "--processor",
            "nbac_schedule",
            "--key",
            "2025-11-30",
        ),
        None,
        "needs --execution-id",
    ),
    (
        "an unknown status",
        ("deliver", *G, *S, "--processor", "x", "--status", "done"),
        None,
        "'done' is not one of success, partial, no_data, failed",
    ),
    (
        "a mistyped processor, strictly",
        (
            "deliver",
            *G,
            "--store",
            "sqlite:///new.db",
            "--strict",
            "--processor",
            "nbac_schedul",
            "--key",
            "2025-11-30",
            "--execution-id",
            "r",
        ),
        None,
        "did you mean 'nbac_schedule'?",
    ),
    ("an empty body", ("deliver", *G, "--store", "sqlite:///new.db"), "", "stdin is empty"),
    (
        "a record count in words",
        ("deliver", *G, *S, "--record-count", "many"),
        None,
        "invalid int value: 'many'",
    ),
    (
        "a missing completions file",
        ("deliver", *G, "--store", "sqlite:///new.db", "--file", "missing.jsonl"),
        None,
        "cannot read it",
    ),
    (
        "a file of no completions",
        ("deliver", *G, "--store", "sqlite:///new.db", "--file", "empty.jsonl"),
        None,
        "no completions in it",
    ),
    ("a dry run of nothing", ("deliver", *G, *S, "--dry-run"), None, "needs --file"),
    (
        "a file and flags",
        ("deliver", *G, *S, "--file", "empty.jsonl", "--processor", "x"),
        None,
        "not both",
    ),
    (
        "a publisher without scheme",
        (
            "deliver",
            *G,
            "--store",
            "sqlite:///new.db",
            "--processor",
            "nbac_schedule",
            "--key",
            "2025-11-30",
            "--execution-id",
            "r",
            "--publisher",
            "nope",
        ),
        None,
        "has no scheme",
    ),
    (
        "an unknown publisher",
        (
            "deliver",
            *G,
            "--store",
            "sqlite:///new.db",
            "--publisher",
            "kafka://x",
            "--processor",
            "x",
            "--key",
            "2025-11-30",
            "--execution-id",
            "r",
        ),
        None,
        "unknown publisher URL",
    ),
    (
        "a publisher file without path",
        (
            "deliver",
            *G,
            "--store",
            "sqlite:///new.db",
            "--publisher",
            "jsonl://",
            "--processor",
            "x",
            "--key",
            "2025-11-30",
            "--execution-id",
            "r",
        ),
        None,
        "has no file path",
    ),
    # operator commands
    (
        "a key from the wrong decade",
        ("force-trigger", "2052-11-30", *G, *S, "--reason", "ship"),
        None,
        "2052-11-30 has no state yet",
    ),
    (
        "rearming a key never seen",
        ("rearm", "2099-11-30", *G, *S, "--reason", "x"),
        None,
        "2099-11-30 has no state yet",
    ),
    (
        "an empty reason",
        ("force-trigger", "2025-11-30", *G, *S, "--reason", ""),
        None,
        "argument --reason: must not be empty or blank",
    ),
    ("no reason", ("fail", "2025-11-30", *G, *S), None, "required: --reason"),
    (
        "a blank operator",
        ("fail", "2025-11-30", *G, *S, "--reason", "x", "--by", "  "),
        None,
        "argument --by: must not be empty",
    ),
    (
        "failing a failed key",
        ("fail", "2025-12-01", *G, *S, "--reason", "again"),
        None,
        "2025-12-01 is failed, where fail is not possible; a failed key allows: deliver,"
        " force-trigger, rearm",
    ),
    (
        "operating on a mistyped store",
        ("force-trigger", "2025-11-30", *G, "--store", "sqlite:///typo.db", "--reason", "x"),
        None,
        "no store at typo.db",
    ),
    (
        "a range on a mistyped store",
        (
            "rearm",
            *G,
            "--store",
            "sqlite:///typo.db",
            "--from",
            "2025-11-01",
            "--to",
            "2025-11-30",
            "--reason",
            "x",
        ),
        None,
        "no store at typo.db",
    ),
    ("an operator command without key", ("rearm", *G, *S, "--reason", "x"), None, "no key given"),
    # sweep
    (
        "sweeping a mistyped store",
        ("sweep", *G, "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    ("sweeping half a range", ("sweep", *G, *S, "--to", "2025-11-30"), None, "needs both"),
    # pipeline runs and the console only read: a mistyped store is not created
    (
        "a pipeline run of a mistyped store",
        ("pipeline", "status", "2025-11-30", "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "pipeline runs of a mistyped store",
        ("pipeline", "list", "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "sweeping pipeline runs of a mistyped store",
        ("pipeline", "sweep", "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "a mistyped pipeline",
        ("pipeline", "status", "2025-11-30", "--pipeline", "nba_dialy", *S),
        None,
        "did you mean 'nba_daily'?",
    ),
    (
        "a console over a mistyped store",
        ("console", "--store", "sqlite:///typo.db", "--port", "0"),
        None,
        "no store at typo.db",
    ),
    # quarantine
    ("quarantine without action", ("quarantine",), None, "required: ACTION"),
    ("a mistyped quarantine action", ("quarantine", "lst"), None, "did you mean 'list'?"),
    (
        "an unknown quarantine id",
        ("quarantine", "show", "999", *S),
        None,
        "no quarantined message '999'",
    ),
    (
        "a quarantine of a mistyped store",
        ("quarantine", "list", "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "purging nothing in particular",
        ("quarantine", "purge", *S, "--reason", "x"),
        None,
        "give the ids of the messages to purge, or --all",
    ),
    ("purging without reason", ("quarantine", "purge", "1", *S), None, "required: --reason"),
    (
        "purging by a bad age",
        ("quarantine", "purge", "--all", "--older-than", "week", *S, "--reason", "x"),
        None,
        "'week' is not a duration",
    ),
    (
        "replaying an unknown id",
        ("quarantine", "replay", "999", *S),
        None,
        "no quarantined message '999'",
    ),
    (
        "replaying a missing body",
        ("quarantine", "replay", "1", *S, "--body", "fixed.json"),
        None,
        "--body fixed.json: cannot read it",
    ),
    # demo, diagram, init, serve, deploy
    ("no workers", ("demo", "--workers", "0"), None, "'0' is not a whole number of at least 1"),
    ("an unknown scenario", ("demo", "--scenario", "chaos"), None, "'chaos' is not one of"),
    ("a demo key that is no date", ("demo", "--key", "2025-02-30"), None, "not a calendar date"),
    ("a demo of an unknown gate", ("demo", "--gate", "nosuch"), None, "no gate named 'nosuch'"),
    ("a diagram of an unknown gate", ("diagram", "nosuch"), None, "no gate named 'nosuch'"),
    ("a png to the terminal", ("diagram", GATE, "-f", "png"), None, "png is binary"),
    ("an unknown diagram format", ("diagram", GATE, "-f", "gif"), None, "'gif' is not one of"),
    (
        "a key's diagram without store",
        ("diagram", GATE, "--key", "2025-11-30", "--store", "sqlite:///typo.db"),
        None,
        "no store at typo.db",
    ),
    (
        "a diagram into no directory",
        ("diagram", GATE, "-o", "nodir/gate.mmd"),
        None,
        "cannot write nodir/gate.mmd",
    ),
    ("a gate name with a space", ("init", "my gate"), None, "'my gate' is not a valid name"),
    ("a gate file that exists", ("init", "bad", "-o", "bad.toml"), None, "bad.toml exists"),
    ("an unknown serve target", ("serve", "--target", "lambda", *G), None, "is not one of"),
    ("port zero", ("serve", "--port", "0", *G), None, "at least 1"),
    ("serving an unknown gate", ("serve", "--gate", "nosuch"), None, "no gate named"),
    ("deploying in no mode", ("deploy",), None, "one of the arguments --dry-run --apply"),
    (
        "deploying nowhere",
        ("deploy", "--dry-run", "--machines", str(REPO / "machines")),
        None,
        "--project and --region are required",
    ),
]


def run(cwd: Path, args: tuple[str, ...], stdin: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHASEACTORS_MACHINES": str(REPO / "machines")}
    for variable in ("PHASEACTORS_STORE", "PHASEACTORS_GATE", "PHASEACTORS_PUBLISHER"):
        env.pop(variable, None)
    return subprocess.run(
        [sys.executable, "-m", "phaseactors", *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a partial key (2025-11-30), a failed one (2025-12-01) and a quarantined
    message (id 1), and the files the mistakes need."""
    cwd = tmp_path_factory.mktemp("wrong-inputs")
    for key in ("2025-11-30", "2025-12-01"):
        done = run(
            cwd,
            (
                "deliver",
                *G,
                *S,
                "--processor",
                "nbac_schedule",
                "--key",
                key,
                "--execution-id",
                f"e-{key}",
            ),
            None,
        )
        assert done.returncode == 0, done.stderr
    failed = run(cwd, ("fail", "2025-12-01", *G, *S, "--reason", "bad feed"), None)
    assert failed.returncode == 0, failed.stderr
    quarantined = run(cwd, ("deliver", *G, *S), '{"processor_name": "nbac_schedule"}')
    assert quarantined.returncode == 2, quarantined.stderr
    (cwd / "bad.toml").write_text('name = "bad"\n[key]\nfield = "d"\n')
    (cwd / "notes.txt").write_text("not a database\n" * 64)
    (cwd / "somedir").mkdir()
    (cwd / "bad-keys.txt").write_text("2025-11-01\n# a comment\n2025-11-31\n")
    (cwd / "empty.jsonl").write_text("\n# nothing but comments\n\n")
    return cwd


def files(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*")}


def test_there_are_at_least_fifty_mistakes() -> None:
    assert len(CASES) >= 50
    assert len({what for what, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(("what", "args", "stdin", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_a_mistake_gets_one_line(
    workdir: Path, what: str, args: tuple[str, ...], stdin: str | None, phrase: str
) -> None:
    before = files(workdir)
    result = run(workdir, args, stdin)
    assert result.returncode in (1, 2), (what, result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (what, result.stderr)
    assert "Traceback" not in result.stderr
    assert phrase in lines[0], (what, lines[0])
    assert lines[0].startswith("phaseactors"), lines[0]
    assert files(workdir) == before, what  # nothing created, nothing written
