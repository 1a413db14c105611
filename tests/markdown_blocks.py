"""Run the ```python blocks of a Markdown file, so the documentation is tested as written.

Shared by the tests of the course, the chapters and the README. Import it as
``from tests.markdown_blocks import run_python_blocks`` (the suite runs as
``python -m pytest`` from the repository root).
"""

from __future__ import annotations

import re
from pathlib import Path

# A python fence at the start of a line, up to the next fence at the start of a line.
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(lines before the block's first line, code)`` for every ```python block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start(1)), match.group(1)) for match in PYTHON_BLOCK.finditer(text)]


def run_python_blocks(path: Path, module_name: str) -> None:
    """Execute every ```python block of ``path`` in order, in one namespace.

    Refuses a file with no block, and one whose ```python fences do not all start a line
    (they would be skipped silently). Tracebacks carry the Markdown file's line numbers.
    """
    blocks = python_blocks(path)
    assert blocks, f"{path.name} has no ```python block"
    assert len(blocks) == path.read_text(encoding="utf-8").count("```python"), (
        f"{path.name} has ```python fences that do not start a line; they would not be tested"
    )
    namespace: dict[str, object] = {"__name__": module_name}
    for lines_before, code in blocks:
        # Leading newlines make the line numbers of a traceback those of the Markdown file.
        exec(compile("\n" * lines_before + code, str(path), "exec"), namespace)
