"""The architecture as the tree shows it: the layers hold (and a violation is caught), the
kernel loads no machine, ``import phaseactors`` loads no Google library, and the public API
keeps every name of the previous release."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import phaseactors
from support import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

#: ``phaseactors.__all__`` of release 0.1.0: none of these may disappear without an alias.
RELEASE_0_1_0 = [
    "Actor",
    "Completion",
    "CompletionReported",
    "ContentionError",
    "Delivery",
    "Event",
    "FailKey",
    "ForceTrigger",
    "GateActor",
    "GateMachine",
    "GateSpec",
    "HistoryEntry",
    "InvalidKey",
    "InvalidMessage",
    "JsonlPublisher",
    "LogPublisher",
    "MemoryStore",
    "OutboxEntry",
    "OutboxPublished",
    "OutboxReleased",
    "Outcome",
    "PermanentError",
    "PhaseactorsError",
    "PublishFailed",
    "Publisher",
    "Rearm",
    "RecordingPublisher",
    "Runtime",
    "Snapshot",
    "SpecError",
    "SqliteStore",
    "Status",
    "Stepped",
    "Store",
    "StoreRejected",
    "StoreUnavailable",
    "SweepReport",
    "Tick",
    "TransientError",
    "TransitionRefused",
    "UnknownGate",
    "load_spec",
    "open_publisher",
    "open_store",
    "spec_from_mapping",
    "trigger_id",
]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's import contracts over the package found under ``root / "src"``."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contracts with ``line`` added to ``module``."""
    shutil.copytree(REPO / "src" / "phaseactors", tmp_path / "src" / "phaseactors")
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert contracts["contracts"]
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "src" / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return tmp_path


def test_the_import_contracts_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "phaseactors.core.actor",
            "from phaseactors.gate import spec as _gate",
            "phaseactors.core.actor -> phaseactors.gate.spec",
        ),
        (
            "phaseactors.gate.spec",
            "from phaseactors.cli import common as _cli",
            "phaseactors.gate.spec -> phaseactors.cli.common",
        ),
        (
            "phaseactors.gate.keys",
            "import google.cloud.firestore as _firestore",
            "phaseactors.gate.keys -> google (l.",
        ),
        (
            "phaseactors.stores.sqlite",
            "import functions_framework as _framework",
            "phaseactors.stores.sqlite -> functions_framework",
        ),
        (
            "phaseactors.config",
            "import google.cloud.firestore as _firestore",
            "phaseactors.config -> google (l.",
        ),
    ],
    ids=[
        "kernel imports the gate",
        "gate imports the CLI",
        "gate imports Google",
        "sqlite",
        "settings import Google",
    ],
)
def test_a_deliberate_violation_breaks_a_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    result = lint_imports(copy_with(tmp_path, module, line))
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert broken in result.stdout, result.stdout


def test_every_module_is_under_a_contract() -> None:
    """A new top-level module is not left outside the contracts by accident: each is a layer or
    is forbidden Google's libraries, but for the entry points' old place, which loads them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    covered: set[str] = set()
    for contract in config["contracts"]:
        for entry in (*contract.get("layers", ()), *contract.get("source_modules", ())):
            covered.update(name.strip() for name in entry.split("|"))
    package = REPO / "src" / "phaseactors"
    modules = {
        f"phaseactors.{p.stem}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert modules - covered == {"phaseactors.functions"}


def loaded_after(statement: str) -> set[str]:
    """The modules ``statement`` loads beyond those a bare interpreter starts with."""

    def modules(code: str) -> set[str]:
        code = f"import sys; {code}; print('\\n'.join(sorted(sys.modules)))"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        return set(result.stdout.split())

    return modules(statement) - modules("pass")


def test_the_kernel_loads_no_machine_and_no_adapter() -> None:
    modules = loaded_after("import phaseactors.core")
    assert {m for m in modules if m.startswith("phaseactors.")} <= {
        *(f"phaseactors.core.{m.stem}" for m in (REPO / "src/phaseactors/core").glob("*.py")),
        "phaseactors.core",
        "phaseactors.errors",
        "phaseactors.limits",
    }


def test_import_phaseactors_loads_no_google_library() -> None:
    modules = loaded_after("import phaseactors")
    assert not {m for m in modules if m.split(".")[0] in ("google", "functions_framework")}


def test_the_public_api_is_sorted_and_keeps_the_previous_release() -> None:
    names = phaseactors.__all__
    assert names == sorted(names)
    assert set(names) == set(phaseactors._WHERE)  # every public name loads from somewhere
    assert all(getattr(phaseactors, name) is not None for name in names)
    assert set(RELEASE_0_1_0) <= set(names)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = phaseactors.Nothing  # type: ignore[attr-defined]


def test_the_top_level_shows_the_layers() -> None:
    entries = {p.name for p in (REPO / "src" / "phaseactors").iterdir() if p.name != "__pycache__"}
    assert entries == {
        "__init__.py",
        "__main__.py",
        "config.py",
        "errors.py",
        "limits.py",
        "functions.py",  # the entry points' old place, for one release
        "py.typed",
        "core",
        "alerts",
        "gate",
        "pipeline",
        "stores",
        "publishers",
        "gcp",
        "cli",
        "console",
        "testing",
    }


def test_every_exception_lives_in_errors_and_in_its_tree() -> None:
    import importlib
    import inspect
    import pkgutil

    import phaseactors.errors as errors

    defined_elsewhere = []
    for info in pkgutil.walk_packages(phaseactors.__path__, "phaseactors."):
        if info.name.endswith("__main__") or info.name == "phaseactors.functions":
            continue  # running the CLI; the deprecated alias, which warns on import
        module = importlib.import_module(info.name)
        defined_elsewhere += [
            f"{info.name}.{name}"
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and issubclass(value, errors.PhaseactorsError)
            and value.__module__ == info.name
            and info.name != "phaseactors.errors"
        ]
    assert defined_elsewhere == []
    tree = errors.__doc__ or ""
    assert [name for name in errors.__all__ if name not in tree.split()] == []


def test_the_moved_names_still_work_for_one_release_with_a_warning() -> None:
    sys.modules.pop("phaseactors.functions", None)  # warns on each first import
    with pytest.warns(DeprecationWarning, match="moved to phaseactors.gcp.functions"):
        import phaseactors.functions as old
    import phaseactors.gcp.functions as new

    assert (old.handle, old.push, old.sweep, old.status) == (
        new.handle,
        new.push,
        new.sweep,
        new.status,
    )

    from phaseactors import Completion, GateActor, RecordingPublisher, Runtime, load_spec
    from phaseactors.stores import MemoryStore

    runtime = Runtime(GateActor(load_spec("phase2_to_phase3")), MemoryStore(), RecordingPublisher())
    completion = Completion(
        processor="nbac_schedule", key="2025-11-29", status="success", execution_id="e1"
    )
    with pytest.warns(DeprecationWarning, match="Runtime.deliver moved to GateRuntime"):
        delivery = runtime.deliver(completion)  # type: ignore[attr-defined]
    assert delivery.snapshot.state == "partial"
    with pytest.warns(DeprecationWarning, match="Runtime.force moved to GateRuntime"):
        runtime.force("2025-11-29", reason="ship", by="ana")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'deliverr'"):
        runtime.deliverr  # type: ignore[attr-defined]  # noqa: B018
