"""What the tests of the documentation share: paths, the matplotlib marker, running a script, checking a PNG.

Import it as ``from tests.docs_support import ...`` (the suite runs as ``python -m pytest`` from the
repository root).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib is not installed (optional, only for the figures): .venv/bin/pip install matplotlib",
)


def run_python(args: list[str], cwd: Path, tail: int = 2000) -> None:
    """Run ``python *args`` in ``cwd`` (at most 300 s); it must exit 0, else the end of its output is shown."""
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stdout[-tail:] + result.stderr[-tail:]


def check_png_header(path: Path, min_bytes: int, min_width: int, min_height: int) -> None:
    """``path`` is a PNG of more than ``min_bytes`` bytes and at least ``min_width`` x ``min_height`` pixels."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"
    assert len(data) > min_bytes, f"{path.name} is only {len(data)} bytes"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the IHDR chunk
    assert width >= min_width and height >= min_height, f"{path.name} is {width} x {height} pixels"
