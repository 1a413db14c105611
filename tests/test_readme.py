"""The README's code runs as written (it is the first thing a newcomer copies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.markdown_blocks import run_python_blocks

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.slow
def test_readme_python_blocks_run() -> None:
    run_python_blocks(README, "readme")
