"""The wheel works outside the source tree: built, installed into a folder of its own, run from elsewhere.

A plain ``pip install heedu`` needs NumPy alone (the wheel's only unconditional requirement); each
command that needs more names its extra. Nothing in the installed package points back into the
checkout: the Azure entry script, the examples' narration helpers and the CLI all come from the
installed copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the folder it is installed into with ``pip install --target``)."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools (the dev extra has it)")
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(ROOT), "-w",
         str(out)], capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert "License classifiers are deprecated" not in build.stderr and "project.license" not in build.stderr
    wheel = next(out.glob("heedu-*.whl"))
    target = tmp_path_factory.mktemp("site")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    return wheel, target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The installed copy first on the path, and a working folder outside the checkout.
    env = {**os.environ, "PYTHONPATH": str(target), "HEEDU_DATA": ""}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_needs_numpy_alone(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    required = [line for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert required == ["Requires-Dist: numpy>=1.24"]
    extras = {line.split(": ", 1)[1] for line in lines if line.startswith("Provides-Extra:")}
    assert {"demo", "azure", "azure-v2", "docs", "notebooks", "seal", "bench", "dev"} <= extras
    assert any(line == "License-Expression: MIT" for line in lines)


def test_the_installed_package_runs_from_anywhere(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, target = installed
    where = _run(target, tmp_path, "-c", (
        "import heedu, azure_adapter.commands as c, heedu.tools.narration as n; "
        "print(heedu.__file__); print(c.score_script()); print(n.__file__)"
    ))
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(target.resolve()), line
        assert not Path(line).resolve().is_relative_to(ROOT), line
    version = _run(target, tmp_path, "-m", "heedu", "--version")
    assert version.returncode == 0 and version.stdout.startswith("heedu ")
    demo = _run(target, tmp_path, "-m", "heedu", "demo", "--batch", "2", "--test-size", "4", "--png", "")
    assert demo.returncode == 0, demo.stderr
    assert "every image: yes" in demo.stdout
    example = tmp_path / "elsewhere" / "example.py"
    example.parent.mkdir()
    shutil.copy(ROOT / "examples" / "01_basics.py", example)  # the examples' helpers come with the package
    ran = _run(target, tmp_path, str(example))
    assert ran.returncode == 0, ran.stderr
