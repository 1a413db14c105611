"""Draw the figures of docs/linear-layers.md from heedu's own PackingPlan.

Usage::

    .venv/bin/python docs/figures/make_figures.py [OUT_DIR]

OUT_DIR defaults to ``docs/figures/out/`` (not committed). Three PNGs are written:

- ``slot-layout.png``: the MNIST plan's slots, query and answer, with zooms on a tile boundary;
- ``diagonals.png``: the diagonals of a 4 x 8 matrix as the entries they pick;
- ``schedule.png``: the MNIST rotation schedule as a timeline over the levels.

Everything is computed from ``PackingPlan`` (so the pictures follow the code), drawn with the Agg
backend and saved without timestamps, so the same versions of the libraries give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path(__file__).resolve().parent / "out"
DPI = 150

# One colour per kind of slot or operation, used consistently across the figures.
COLOURS = {
    "feature": "#4C72B0",
    "padding": "#BFD0E6",
    "duplicate": "#DD8452",
    "unused": "#F2F2F2",
    "score": "#C44E52",
    "ignored": "#B8B8B8",
    "baby": "#4C72B0",
    "giant": "#DD8452",
    "fold": "#55A868",
    "plain": "#8C8C8C",
}


def _matplotlib():
    """pyplot on the Agg backend, or a clear exit if matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        sys.exit(
            "make_figures.py needs matplotlib, which is not installed in this Python.\n"
            "Install it into the project's environment with:  .venv/bin/pip install matplotlib"
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _packing_plan():
    try:
        from heedu.inference import PackingPlan
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(ROOT))
        from heedu.inference import PackingPlan
    return PackingPlan


def mnist_plan():
    """The plan of the tutorial's model: 10 classes, 784 features, N = 8192 (4096 slots)."""
    return _packing_plan().for_model(n_features=784, n_outputs=10, slot_count=4096)


# ----------------------------------------------------------------------------- (a) slot layout


def slot_kinds(plan) -> tuple[list[str], list[str]]:
    """The kind of every slot in the query (one input chunk) and in the answer."""
    used = plan.inputs_per_ciphertext * plan.tile
    query, answer = [], []
    for slot in range(plan.slot_count):
        offset = slot % plan.tile
        if slot >= used:
            query.append("unused")
        elif offset < plan.n_features:
            query.append("feature")
        elif offset < plan.feature_block:
            query.append("padding")
        else:
            query.append("duplicate")
        answer.append("score" if slot < used and offset < plan.n_outputs else "ignored")
    # Cross-check with the slots the client really encrypts: inputs 1, 2, ..., n_features are non-zero
    # exactly where the layout says a feature or a copy of one sits.
    import numpy as np

    marker = np.tile(np.arange(1.0, plan.n_features + 1), (plan.inputs_per_ciphertext, 1))
    filled = plan.input_slots(marker)[0, 0] != 0
    if plan.feature_chunks != 1 or list(filled) != [kind in ("feature", "duplicate") for kind in query]:
        raise RuntimeError("slot_kinds disagrees with PackingPlan.input_slots; update the figure")
    return query, answer


def _runs(kinds: list[str], start: int = 0) -> list[tuple[str, int, int]]:
    """Run-length encoding ``(kind, first slot, length)`` of a list of kinds."""
    runs: list[tuple[str, int, int]] = []
    for index, kind in enumerate(kinds, start=start):
        if runs and runs[-1][0] == kind and runs[-1][1] + runs[-1][2] == index:
            runs[-1] = (kind, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((kind, index, 1))
    return runs


def _strip(ax, kinds: list[str], start: int = 0, cells: bool = False) -> None:
    for kind, first, length in _runs(kinds, start):
        if cells:
            for slot in range(first, first + length):
                ax.broken_barh([(slot, 1)], (0, 1), facecolors=COLOURS[kind], edgecolors="white", linewidth=0.8)
        else:
            ax.broken_barh([(first, length)], (0, 1), facecolors=COLOURS[kind], edgecolors="none")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def figure_slot_layout(plt, path: Path) -> Path:
    from matplotlib.patches import Patch, Rectangle

    plan = mnist_plan()
    query, answer = slot_kinds(plan)
    tile, n_pad, m_pad = plan.tile, plan.feature_block, plan.class_block
    query_zoom = (n_pad - 8, n_pad + m_pad + 24)  # end of tile 0, its duplicates, start of tile 1
    answer_zoom = (tile - 8, tile + 24)  # around the scores of input 1

    fig, axes = plt.subplots(4, 1, figsize=(12, 7.2), gridspec_kw={"height_ratios": [1, 1.2, 1, 1.2]})
    fig.suptitle(
        f"MNIST plan: {plan.n_outputs} x {plan.n_features} on {plan.slot_count} slots, "
        f"tile = n' + m' - 1 = {n_pad} + {m_pad} - 1 = {tile} slots, {plan.inputs_per_ciphertext} inputs",
        fontsize=11,
    )

    ax = axes[0]
    _strip(ax, query)
    ax.set_xlim(0, plan.slot_count)
    ax.set_title("query: one ciphertext, all slots", fontsize=10, loc="left")
    for t in range(plan.inputs_per_ciphertext):
        ax.text(t * tile + tile / 2, 0.5, f"input {t}", ha="center", va="center", color="white", fontsize=9)
    used = plan.inputs_per_ciphertext * tile
    ax.text((used + plan.slot_count) / 2, 0.5, f"unused ({plan.slot_count - used})", ha="center", va="center")
    ax.add_patch(Rectangle((query_zoom[0], -0.08), query_zoom[1] - query_zoom[0], 1.16, fill=False, ls="--", lw=1))

    ax = axes[1]
    lo, hi = query_zoom
    _strip(ax, query[lo:hi], start=lo, cells=True)
    ax.set_xlim(lo, hi)
    ax.set_title(
        f"query, slots {lo}..{hi - 1}: the end of tile 0 (zero padding, then copies of its features "
        f"x0..x{m_pad - 2}), the start of tile 1",
        fontsize=10,
        loc="left",
    )
    for slot in range(lo, hi):
        offset = slot % tile
        if offset < n_pad and slot >= tile:  # a feature of input 1
            label = f"x{offset}"
        elif offset >= n_pad:  # a copy of feature offset - n'
            label = f"x{offset - n_pad}"
        else:
            label = "0"
        ax.text(slot + 0.5, 0.5, label, ha="center", va="center", fontsize=6, rotation=90)

    ax = axes[2]
    _strip(ax, answer)
    ax.set_xlim(0, plan.slot_count)
    ax.set_title(
        f"answer: input t, output r in slot t * {tile} + r (one ciphertext at level 0)", fontsize=10, loc="left"
    )
    ax.add_patch(Rectangle((answer_zoom[0], -0.08), answer_zoom[1] - answer_zoom[0], 1.16, fill=False, ls="--", lw=1))

    ax = axes[3]
    lo, hi = answer_zoom
    _strip(ax, answer[lo:hi], start=lo, cells=True)
    ax.set_xlim(lo, hi)
    ax.set_title(f"answer, slots {lo}..{hi - 1}: the scores of input 1", fontsize=10, loc="left")
    for slot in range(lo, hi):
        if answer[slot] == "score":
            ax.text(slot + 0.5, 0.5, f"s{slot % tile}", ha="center", va="center", fontsize=6, color="white")
    ax.set_xlabel("slot")

    legend = [
        Patch(facecolor=COLOURS["feature"], label=f"features ({plan.n_features})"),
        Patch(facecolor=COLOURS["padding"], label=f"zero padding to n' = {n_pad}"),
        Patch(facecolor=COLOURS["duplicate"], label=f"duplicated features (m' - 1 = {m_pad - 1})"),
        Patch(facecolor=COLOURS["unused"], edgecolor="#999999", label="unused slots"),
        Patch(facecolor=COLOURS["score"], label=f"score slots ({plan.n_outputs} per input)"),
        Patch(facecolor=COLOURS["ignored"], label="other slots (partial sums, ignored)"),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- (b) diagonals


def diagonal_cells(m_pad: int, n_pad: int, i: int) -> list[tuple[int, int, int]]:
    """``(slot j, row, column)`` of the entries that diagonal ``d_i`` picks: ``W[j mod m', (j+i) mod n']``."""
    return [(j, j % m_pad, (j + i) % n_pad) for j in range(n_pad)]


def _matrix_grid(ax, m_pad: int, n_pad: int) -> None:
    from matplotlib.patches import Rectangle

    for row in range(m_pad):
        for col in range(n_pad):
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor="white", edgecolor="#999999", lw=0.8))
    ax.set_xlim(-0.9, n_pad + 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([c + 0.5 for c in range(n_pad)], [str(c) for c in range(n_pad)], fontsize=8)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("column", fontsize=8)
    ax.set_ylabel("row", fontsize=8)
    ax.tick_params(length=0)
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    for row in range(m_pad):
        ax.text(-0.3, row + 0.5, str(row), ha="center", va="center", fontsize=8)


def figure_diagonals(plt, path: Path, m_pad: int = 4, n_pad: int = 8) -> Path:
    from matplotlib.patches import Rectangle

    palette = [COLOURS["baby"], COLOURS["giant"], COLOURS["fold"], COLOURS["score"], "#8172B3", "#937860"]
    fig = plt.figure(figsize=(12, 9.6))
    grid = fig.add_gridspec(3, 2, height_ratios=[1, 1, 0.62])
    fig.suptitle(
        f"The diagonals of a {m_pad} x {n_pad} matrix (m' = {m_pad}, n' = {n_pad}): "
        "d_i[j] = W[j mod m', (j + i) mod n']",
        fontsize=12,
    )
    for i in range(m_pad):
        ax = fig.add_subplot(grid[i // 2, i % 2])
        _matrix_grid(ax, m_pad, n_pad)
        colour = palette[i % len(palette)]
        for j, row, col in diagonal_cells(m_pad, n_pad, i):
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="#999999", lw=0.8))
            ax.text(col + 0.5, row + 0.5, f"j={j}", ha="center", va="center", fontsize=8, color="white")
            # the slot vector d_i, below the matrix
            ax.add_patch(Rectangle((j, m_pad + 0.7), 1, 1, facecolor=colour, edgecolor="white", lw=1.2))
            ax.text(j + 0.5, m_pad + 1.2, f"W[{row},{col}]", ha="center", va="center", fontsize=7, color="white")
            ax.text(j + 0.5, m_pad + 1.75, f"slot {j}", ha="center", va="top", fontsize=6.5)
        ax.text(-0.3, m_pad + 1.2, f"d_{i}", ha="center", va="center", fontsize=9)
        ax.set_ylim(m_pad + 2.2, -0.1)
        ax.set_title(f"d_{i}: slot j takes W[j mod {m_pad}, (j + {i}) mod {n_pad}]", fontsize=10)

    ax = fig.add_subplot(grid[2, :])
    _matrix_grid(ax, m_pad, n_pad)
    ax.set_ylim(m_pad + 0.1, -0.1)
    for i in range(m_pad):
        for j, row, col in diagonal_cells(m_pad, n_pad, i):
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=palette[i % len(palette)], edgecolor="white", lw=1))
            ax.text(col + 0.5, row + 0.5, f"d_{i}[{j}]", ha="center", va="center", fontsize=7, color="white")
    ax.set_title(
        f"together: {m_pad} diagonals x {n_pad} slots = every entry of W exactly once "
        f"(row r is in slots r, r + {m_pad}, ...; folding adds them up)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- (c) schedule


_SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"


def schedule_events(plan, top_level: int) -> list[tuple[str, int, str]]:
    """The server's operations in order: ``(kind, level, label)``; kinds baby, giant, fold or plain."""
    events: list[tuple[str, int, str]] = [("plain", top_level, "fresh input\nscale Δ")]
    events += [("baby", top_level, f"rot {step}") for step in plan.baby_rotations]
    products = plan.class_block * plan.feature_chunks  # one per diagonal d_0 .. d_{m'-1} and chunk
    events.append(("plain", top_level, f"{products} products\nwith diagonals\nscale Δ²"))
    events.append(("plain", top_level - 1, f"{plan.giant_steps} rescales\nscale Δ²/q{_SUBSCRIPTS[top_level]}"))
    events += [("giant", top_level - 1, f"rot {step}") for step in plan.giant_rotations]
    events += [("fold", top_level - 1, f"rot {step}") for step in plan.fold_rotations]
    events.append(("plain", top_level - 1, f"+ bias\nat Δ²/q{_SUBSCRIPTS[top_level]}"))
    events.append(("plain", 0, "mod switch\nanswer at\nlevel 0"))
    return events


def figure_schedule(plt, path: Path, top_level: int = 2) -> Path:
    from matplotlib.patches import Patch

    plan = mnist_plan()
    events = schedule_events(plan, top_level)
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(12, 7.4), gridspec_kw={"height_ratios": [3, 1]})
    fig.suptitle(
        f"MNIST schedule (N = 8192, primes [60, 40, 40, 60], L = {top_level}): "
        f"{plan.key_switches} key switches per ciphertext of {plan.inputs_per_ciphertext} images",
        fontsize=11,
    )
    xs = list(range(len(events)))
    levels = [level for _, level, _ in events]
    ax.step(xs, levels, where="pre", color="#CCCCCC", lw=2, zorder=1)
    for x, (kind, level, label) in zip(xs, events):
        is_switch = kind != "plain"
        ax.scatter(
            [x], [level], s=190 if is_switch else 90, marker="o" if is_switch else "s", color=COLOURS[kind], zorder=3
        )
        ax.text(x, level + 0.13, label, ha="center", va="bottom", fontsize=7.5, rotation=0 if not is_switch else 90)
    baby = [x for x, event in zip(xs, events) if event[0] == "baby"]
    ax.annotate(
        "",
        xy=(baby[0] - 0.3, top_level - 0.22),
        xytext=(baby[-1] + 0.3, top_level - 0.22),
        arrowprops={"arrowstyle": "-", "lw": 1.2, "color": COLOURS["baby"]},
    )
    ax.text(
        (baby[0] + baby[-1]) / 2,
        top_level - 0.3,
        "hoisted: one decomposition\nof the fresh input",
        ha="center",
        va="top",
        fontsize=8,
        color=COLOURS["baby"],
    )
    giant = [x for x, event in zip(xs, events) if event[0] == "giant"]
    fold = [x for x, event in zip(xs, events) if event[0] == "fold"]
    for members, text in ((giant, "giant steps:\neach a group sum"), (fold, "folding ladder:\neach the previous sum")):
        ax.text((members[0] + members[-1]) / 2, top_level - 1.25, text, ha="center", va="top", fontsize=8)
    ax.set_yticks(range(top_level + 1), [f"level {level}" for level in range(top_level + 1)])
    ax.set_ylim(-0.4, top_level + 0.95)
    ax.set_xlim(-0.7, len(events) - 0.3)
    ax.set_xticks([])
    ax.set_xlabel("order of operations (a key switch at level ℓ uses a Galois key trimmed to level ℓ)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    below = top_level - 1
    ax.legend(
        handles=[
            Patch(color=COLOURS["baby"], label=f"baby steps ({len(plan.baby_rotations)}, key level {top_level})"),
            Patch(color=COLOURS["giant"], label=f"giant steps ({len(plan.giant_rotations)}, key level {below})"),
            Patch(color=COLOURS["fold"], label=f"folding ({len(plan.fold_rotations)}, key level {below})"),
            Patch(color=COLOURS["plain"], label="no key switch"),
        ],
        loc="lower left",
        fontsize=8,
        frameon=False,
    )

    per_image = plan.key_switches / plan.inputs_per_ciphertext
    level_0_kb = 2 * 1 * 8192 * 8 / 1000  # two polynomials, one prime, N 64-bit words
    labels = [
        "encrypted-inference 0.9:\n10 classes x 12 rotations",
        f"heedu native:\n{plan.key_switches} per {plan.inputs_per_ciphertext} images",
    ]
    values = [10 * 12, per_image]
    notes = [  # the package's answer size is measured (docs/performance.md), the native one is exact
        "answer: 10 ciphertexts at level 1, 2.3 MB with zlib",
        f"answer: 1 ciphertext at level 0 per {plan.inputs_per_ciphertext} images, {level_0_kb:.0f} KB",
    ]
    bars.barh(labels, values, color=[COLOURS["ignored"], COLOURS["fold"]])
    for y, (value, note) in enumerate(zip(values, notes)):
        inside = value > 100  # long bars carry their text inside, short ones after the bar
        bars.text(2 if inside else value + 1.5, y, f"{value:g} key switches per image; {note}", va="center", fontsize=9)
    bars.set_xlim(0, 130)
    bars.set_xlabel("key switches per image")
    bars.invert_yaxis()
    bars.tick_params(axis="y", labelsize=9)
    for side in ("top", "right"):
        bars.spines[side].set_visible(False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- entry point


def make_figures(out_dir: Path) -> list[Path]:
    """Write the three figures into ``out_dir`` (created if missing); returns their paths."""
    plt = _matplotlib()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    style = {"font.family": "DejaVu Sans", "font.size": 9, "savefig.facecolor": "white", "svg.hashsalt": "heedu"}
    with plt.rc_context(style):
        return [
            figure_slot_layout(plt, out_dir / "slot-layout.png"),
            figure_diagonals(plt, out_dir / "diagonals.png"),
            figure_schedule(plt, out_dir / "schedule.png"),
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    for path in make_figures(args.out_dir):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
