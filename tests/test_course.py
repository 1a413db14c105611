"""The course (docs/course/) runs and its figures can be drawn.

* Every block fenced as ```python in a chapter is executed, in the order of the file and in one
  namespace per chapter, as tests/test_docs_figures.py does for the other chapters. Tracebacks
  point at the Markdown file and its line numbers.
* ``docs/figures/course_figures.py`` draws the course's PNGs into a temporary directory (skipped
  without matplotlib). Every figure it draws, and every figure of chapter 7 that
  ``docs/figures/make_figures.py`` draws (tested in tests/test_docs_figures.py), is shown by a chapter.
* The strict MkDocs build of the whole site, every chapter a page, is tests/test_docs_site.py's.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tests.docs_support import DOCS, ROOT, check_png_header, needs_matplotlib, run_python
from tests.markdown_blocks import run_python_blocks
from tests.test_docs_figures import FIGURES as CHAPTER_7_FIGURES

COURSE = DOCS / "course"
CHAPTERS = sorted(path.name for path in COURSE.glob("[0-9][0-9]-*.md"))
COURSE_FIGURES = DOCS / "figures" / "course_figures.py"
MAKE_FIGURES = DOCS / "figures" / "make_figures.py"
IMAGE_LINK = re.compile(r"\]\(\.\./figures/out/([^)\s]+)\)")  # the end of ![alt](path): alt texts may hold brackets


def test_chapters_exist() -> None:
    assert CHAPTERS, "docs/course/ has no chapters"
    assert CHAPTERS[0].startswith("01-"), CHAPTERS


SIZES_LINE = re.compile(r"^keys \d+ B, query \d+ B, answer \d+ B$", re.MULTILINE)


@pytest.mark.parametrize("name", CHAPTERS)
def test_python_blocks_run(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = COURSE / name
    run_python_blocks(path, f"course_{path.stem.replace('-', '_')}")
    if name.startswith("07-"):  # the sizes printed by chapter 7's tiny run are deterministic: the text must show them
        printed = SIZES_LINE.findall(capsys.readouterr().out)
        assert len(printed) == 1 and printed[0] in path.read_text(encoding="utf-8"), printed


TEST_REFERENCE = re.compile(r"`(tests/test_\w+\.py)::(\w+)`|`(test_\w+)`")


@pytest.mark.parametrize(("name", "at_least"), [("07-encrypted-linear-layers.md", 2), ("10-security.md", 15)])
def test_chapters_cite_tests_that_exist(name: str, at_least: int) -> None:
    """Chapters 7 and 10 name, for each defence, the test that attacks it: every one must be a real test."""
    import ast

    text = (COURSE / name).read_text(encoding="utf-8")
    cited, current = [], None
    for match in TEST_REFERENCE.finditer(text):
        if match.group(1):
            current = match.group(1)
            cited.append((current, match.group(2)))
        elif current is not None:  # a bare name continues the last file named before it
            cited.append((current, match.group(3)))
    assert len(cited) >= at_least, cited
    for path, test in cited:
        tree = ast.parse((DOCS.parent / path).read_text(encoding="utf-8"))
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert test in names, f"docs/course/{name} cites {path}::{test}, which does not exist"


def _course_figure_names() -> list[str]:
    names = []
    for name in CHAPTERS:
        names += IMAGE_LINK.findall((COURSE / name).read_text(encoding="utf-8"))
    return names


def _check_png(path: Path) -> None:
    check_png_header(path, min_bytes=10_000, min_width=800, min_height=400)


@needs_matplotlib
def test_course_figures(tmp_path: Path) -> None:
    run_python([str(COURSE_FIGURES), str(tmp_path)], cwd=ROOT)
    drawn = sorted(path.name for path in tmp_path.glob("*.png"))
    referenced = _course_figure_names()
    assert referenced, "no chapter shows a figure"
    available = set(drawn) | set(CHAPTER_7_FIGURES)
    assert set(referenced) <= available, f"chapters show figures that are not drawn: {set(referenced) - available}"
    assert available <= set(referenced), f"figures are drawn but no chapter shows them: {available - set(referenced)}"
    for name in drawn:
        _check_png(tmp_path / name)


@needs_matplotlib
def test_course_figures_are_deterministic(tmp_path: Path) -> None:
    make = runpy.run_path(str(COURSE_FIGURES))["make_course_figures"]
    first = make(tmp_path / "first")
    second = make(tmp_path / "second")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


