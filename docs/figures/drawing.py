"""What the two figure scripts share: pyplot on Agg (or a clear exit), saving, the house style, the command line.

``course_figures.py`` (chapters 1-6) and ``make_figures.py`` (chapter 7) import it from this folder; both
run as scripts (``python docs/figures/make_figures.py OUT``) and through ``runpy`` in the tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
DPI = 150
STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "savefig.facecolor": "white", "svg.hashsalt": "heedu"}
#: A figure: a function drawing with pyplot into a path, and the file name it gets.
Figure = tuple[Callable[..., Path], str]


def pyplot(script: str):
    """pyplot on the Agg backend, or a clear exit (naming ``script``) if matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        sys.exit(
            f"{script} needs matplotlib, which is not installed in this Python.\n"
            "Install it into the project's environment with:  .venv/bin/pip install matplotlib"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(plt, fig, path: Path) -> Path:
    """Write ``fig`` as a PNG without a software tag (so the bytes do not change between runs) and close it."""
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def draw(script: str, out_dir: Path, figures: Sequence[Figure]) -> list[Path]:
    """Draw every figure into ``out_dir`` (created if missing) in the house style; returns their paths."""
    plt = pyplot(script)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):
        return [function(plt, out_dir / name) for function, name in figures]


def command_line(description: str, make: Callable[[Path], list[Path]], argv: list[str] | None = None) -> int:
    """``script [OUT_DIR]``: draw the figures and say what was written."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    for path in make(args.out_dir):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
