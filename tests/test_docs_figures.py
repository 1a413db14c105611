"""Chapter 7's printed plan matches the code, and its figures can be drawn.

(Its code blocks run with every chapter's, in ``tests/test_course.py``.)

* ``docs/figures/make_figures.py`` draws its PNGs into a temporary directory; those tests are
  skipped when matplotlib is not installed (it is not a dependency of heedu).
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from heedu.inference import PackingPlan
from tests.docs_support import DOCS, ROOT, check_png_header, needs_matplotlib, run_python

CHAPTER_7 = DOCS / "course" / "07-encrypted-linear-layers.md"  # its code blocks run with the course's
FIGURE_SCRIPT = DOCS / "figures" / "make_figures.py"
FIGURES = ["slot-layout.png", "diagonals.png", "schedule.png"]


def test_printed_plan_matches_the_code() -> None:
    """The MNIST plan printed in chapter 7 is what PackingPlan.describe() says today."""
    text = CHAPTER_7.read_text(encoding="utf-8")
    assert PackingPlan.for_model(784, 10, 4096).describe() in text


@pytest.mark.parametrize("sizes", [(784, 10, 4096), (20, 3, 128), (5000, 10, 4096), (7, 1, 8)])
def test_slot_layout_figure_follows_the_plan(sizes: tuple[int, int, int]) -> None:
    """Figure (a) colours the slots as PackingPlan lays them out (interleaved; every answer slot a score).

    ``slot_kinds`` itself checks its answer against ``input_slots`` and a replay of the schedule; this
    test runs it (without matplotlib) and checks the layout it reports.
    """
    slot_kinds = runpy.run_path(str(FIGURE_SCRIPT))["slot_kinds"]
    plan = PackingPlan.for_model(*sizes)
    query, answer = slot_kinds(plan)
    per, n_pad = plan.inputs_per_ciphertext, plan.feature_block
    features = min(plan.n_features, n_pad)  # the first chunk's
    assert query.count("feature") == features * per and query.count("padding") == (n_pad - features) * per
    assert len(answer) == plan.slot_count and set(answer) == {
        (r, t) for r in range(plan.class_block) for t in range(per)
    }
    for slot, (r, t) in enumerate(answer):  # slot j * B + t: score j mod m' of input t
        assert (r, t) == ((slot // per) % plan.class_block, slot % per)


def _check_png(path: Path) -> None:
    import matplotlib.image

    check_png_header(path, min_bytes=20_000, min_width=1000, min_height=600)
    pixels = matplotlib.image.imread(path)[..., :3]
    drawn = (pixels < 0.95).any(axis=-1).mean()  # share of pixels that are not (near) white
    colours = len({tuple(p) for p in pixels[::7, ::7].reshape(-1, 3).round(2).tolist()})
    assert drawn > 0.05, f"{path.name} is almost blank ({drawn:.1%} drawn)"
    assert colours > 10, f"{path.name} has only {colours} colours"


@needs_matplotlib
def test_make_figures(tmp_path: Path) -> None:
    run_python([str(FIGURE_SCRIPT), str(tmp_path / "cli")], cwd=ROOT)
    for name in FIGURES:
        _check_png(tmp_path / "cli" / name)

    # Deterministic: drawing again (here in-process, without writing bytecode next to it) gives the same bytes.
    make_figures = runpy.run_path(str(FIGURE_SCRIPT))["make_figures"]
    again = make_figures(tmp_path / "again")
    assert [p.name for p in again] == FIGURES
    for name in FIGURES:
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def test_make_figures_without_matplotlib(tmp_path: Path) -> None:
    """Without matplotlib the script stops with an instruction, not a traceback."""
    hide_matplotlib = (
        "import runpy, sys\n"
        "sys.modules['matplotlib'] = None  # makes `import matplotlib` raise ImportError\n"
        f"sys.argv = ['make_figures.py', {str(tmp_path)!r}]\n"
        f"runpy.run_path({str(FIGURE_SCRIPT)!r}, run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", hide_matplotlib], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "needs matplotlib" in result.stderr and "pip install matplotlib" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
