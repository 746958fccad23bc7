"""The package as a user gets it: the wheel is built, installed into a fresh virtual
environment outside the checkout (from a local wheelhouse, offline), and there the demo runs
on the gates shipped inside it, a completion is delivered, and the diagram command says
which extra it needs. The wheel's metadata keeps the Cloud Function's install (``[gcp]``)
free of the diagram dependencies."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from support import REPO

pytestmark = pytest.mark.slow

#: Installed files that a wheel of the distribution must not carry.
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def repack(name: str, into: Path) -> Path:
    """A wheel of the installed pure-Python distribution ``name``, rebuilt from its files
    (with a fresh RECORD), so the test needs no package index."""
    dist = metadata.distribution(name)
    files = [
        f
        for f in dist.files or []
        if f.parts[0] != ".." and "__pycache__" not in f.parts and f.name not in _INSTALL_ONLY
    ]
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    normalized = dist.metadata["Name"].replace("-", "_").replace(".", "_")
    wheel = into / f"{normalized}-{dist.version}-py3-none-any.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(str(file), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            writer.writerow([str(file), f"sha256={digest.decode()}", len(data)])
        writer.writerow([f"{info}/RECORD", "", ""])
        archive.writestr(f"{info}/RECORD", record.getvalue())
    return wheel


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(house),
            str(REPO),
        ],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        capture_output=True,
        timeout=300,
    )
    for dependency in ("attrs", "python-statemachine"):
        repack(dependency, house)
    return house


def the_wheel(house: Path) -> Path:
    [wheel] = house.glob("phaseactors-*.whl")
    return wheel


def test_the_wheel_ships_the_gates_the_license_and_the_types(wheelhouse: Path) -> None:
    names = zipfile.ZipFile(the_wheel(wheelhouse)).namelist()
    shipped = {n for n in names if n.startswith("phaseactors/machines/")}
    assert shipped == {f"phaseactors/machines/{p.name}" for p in (REPO / "machines").glob("*.toml")}
    assert "phaseactors/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_cloud_function_install_has_no_diagram_dependencies(wheelhouse: Path) -> None:
    with zipfile.ZipFile(the_wheel(wheelhouse)) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(info).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    core = [r for r in requires if "extra ==" not in r]
    gcp = [r for r in requires if "extra == 'gcp'" in r]
    assert gcp
    assert not [r for r in core + gcp if "diagrams" in r or "pydot" in r], requires
    assert [r for r in requires if "extra == 'diagrams'" in r]
    requirements = (REPO / "examples" / "cloud_function" / "requirements.txt").read_text()
    assert "[gcp]" in requirements
    assert "diagrams" not in requirements


def test_installed_outside_the_checkout_the_demo_and_a_delivery_work(
    wheelhouse: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PHASEACTORS_", "PYTHON"))}
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "phaseactors",
        ],
        env={**clean, "PIP_CONFIG_FILE": os.devnull},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "phaseactors"), *args],
            cwd=work,
            env=clean,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    version = run("--version")
    assert version.stdout.startswith("phaseactors "), version.stderr
    demo = run("demo", "--json", "--mode", "threads")
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert (summary["state"], summary["triggers_published"]) == ("triggered", 1)
    assert sorted(p.name for p in work.iterdir()) == [
        "phaseactors.db",
        "phaseactors.triggers.jsonl",
    ]

    body = {
        "processor_name": "NbacScheduleProcessor",
        "game_date": "2025-11-30",
        "status": "success",
        "execution_id": "run-1",
    }
    delivered = run("deliver", "--gate", "phase2_to_phase3", "--json", stdin=json.dumps(body))
    assert delivered.returncode == 0, delivered.stderr
    assert json.loads(delivered.stdout)["state"] == "partial"
    status = run("status", "2025-11-30", "--gate", "phase2_to_phase3", "--json")
    assert list(json.loads(status.stdout)["done"]) == ["nbac_schedule"]

    mermaid = run("diagram", "phase2_to_phase3")
    assert mermaid.returncode == 0, mermaid.stderr
    assert "stateDiagram-v2" in mermaid.stdout
    dot = run("diagram", "phase2_to_phase3", "-f", "dot")
    assert dot.returncode == 2  # something to install: a setting the user changes
    assert "pip install 'phaseactors[diagrams]'" in dot.stderr
    assert "Traceback" not in dot.stderr
