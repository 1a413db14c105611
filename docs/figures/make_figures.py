"""Draw the figures of chapter 7 (docs/course/07-encrypted-linear-layers.md) from heedu's own PackingPlan.

Usage::

    .venv/bin/python docs/figures/make_figures.py [OUT_DIR]

OUT_DIR defaults to ``docs/figures/out/`` (not committed). Three PNGs are written:

- ``slot-layout.png``: the MNIST plan's interleaved slots, query and answer, with slot-by-slot zooms;
- ``diagonals.png``: the diagonals of a 4 x 8 matrix as the entries they pick;
- ``schedule.png``: the MNIST rotation schedule as a timeline over the levels.

Everything is computed from ``PackingPlan`` (so the pictures follow the code), drawn with the Agg
backend and saved without timestamps, so the same versions of the libraries give the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or through runpy
from drawing import command_line, draw, save

ROOT = Path(__file__).resolve().parents[2]

# One colour per kind of slot or operation, used consistently across the figures.
COLOURS = {
    "feature": "#4C72B0",
    "padding": "#BFD0E6",
    "score": "#C44E52",
    "ignored": "#B8B8B8",  # padded outputs; the per-class baseline
    "baby": "#4C72B0",
    "giant": "#DD8452",
    "fold": "#55A868",
    "plain": "#8C8C8C",
}


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


# ----------------------------------------------------------------------------- slot layout (figure 7.2)


def slot_owner(plan, slot: int) -> tuple[int, int]:
    """``(j, t)``: slot ``j * B + t`` holds feature ``j`` of input ``t`` (query), then score ``j mod m'`` of it."""
    return divmod(slot, plan.inputs_per_ciphertext)


def _replay(plan, weights, bias, inputs):
    """The server's schedule on one group's slot vectors, every ciphertext operation replaced by its effect."""
    import numpy as np

    def rot(v, i):
        return np.roll(v, -i)

    (group,) = plan.input_slots(inputs)
    diagonals = plan.diagonal_slots(weights)
    total = np.zeros(plan.slot_count)
    for a in range(plan.giant_steps):
        part = np.zeros(plan.slot_count)
        for c in range(plan.feature_chunks):
            babies = [group[c]] + [rot(group[c], step) for step in plan.baby_rotations]
            for b, baby in enumerate(babies):
                part += diagonals[c, a, b] * baby
        total += rot(part, plan.baby_step * plan.inputs_per_ciphertext * a)
    for step in plan.fold_rotations:
        total += rot(total, step)
    return total + plan.bias_slots(bias)


def slot_kinds(plan) -> tuple[list[str], list[tuple[int, int]]]:
    """The kind of every query slot (``feature`` or ``padding``, first chunk) and ``(r, t)`` of every answer slot.

    Answer slot ``j * B + t`` holds score ``r = j mod m'`` of input ``t``. Both lists are checked against
    ``PackingPlan``: the slots ``input_slots`` fills, and a replay of the schedule on random numbers.
    """
    import numpy as np

    per = plan.inputs_per_ciphertext
    query, answer = [], []
    for slot in range(plan.slot_count):
        j, t = slot_owner(plan, slot)
        query.append("feature" if j < plan.n_features else "padding")
        answer.append((j % plan.class_block, t))

    rng = np.random.default_rng(0)
    inputs = rng.uniform(1.0, 2.0, (per, plan.n_features))  # non-zero: a zero slot is padding
    filled = plan.input_slots(inputs)[0, 0] != 0
    weights = rng.normal(size=(plan.n_outputs, plan.n_features))
    bias = rng.normal(size=plan.n_outputs)
    scores = np.zeros((per, plan.class_block))
    scores[:, : plan.n_outputs] = inputs @ weights.T + bias  # padded outputs score 0
    expected = np.array([scores[t, r] for r, t in answer])
    if list(filled) != [kind == "feature" for kind in query] or not np.allclose(
        _replay(plan, weights, bias, inputs), expected
    ):
        raise RuntimeError("slot_kinds disagrees with PackingPlan; update the figure")
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


def _bare(ax) -> None:
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _strip(ax, colours: list[str], start: int = 0, cells: bool = False) -> None:
    """One bar per slot from ``start``, coloured ``colours[k]``; ``cells`` draws white borders."""
    for colour, first, length in _runs(colours, start):
        if cells:
            for slot in range(first, first + length):
                ax.broken_barh([(slot, 1)], (0, 1), facecolors=colour, edgecolors="white", linewidth=0.8)
        else:
            ax.broken_barh([(first, length)], (0, 1), facecolors=colour, edgecolors="none")
    _bare(ax)


def _shade(colour: str, t: int, inputs: int) -> str:
    """``colour`` mixed with white, more for larger ``t``: input 0 is the darkest."""
    from matplotlib.colors import to_hex, to_rgb

    mix = 0.55 * t / max(1, inputs - 1)
    return to_hex(tuple(c + (1 - c) * mix for c in to_rgb(colour)))


def _score_colour(plan, r: int) -> str:
    """A hue per score ``r``; the padded outputs ``r >= n_outputs`` (zero rows of W) are grey."""
    import matplotlib
    from matplotlib.colors import to_hex

    if r >= plan.n_outputs:
        return COLOURS["ignored"]
    if r % 10 == 7:  # tab10's grey would look like a padded output
        return "#393B79"
    return to_hex(matplotlib.colormaps["tab10"](r % 10))


def figure_slot_layout(plt, path: Path) -> Path:
    import numpy as np
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch, Rectangle

    plan = mnist_plan()
    query, answer = slot_kinds(plan)
    per, n_pad, m_pad, n = plan.inputs_per_ciphertext, plan.feature_block, plan.class_block, plan.n_features
    period = m_pad * per  # the answer repeats every m' B slots
    boundary = n * per  # the first padding slot
    query_zooms = [(0, 8 * per), (boundary - 4 * per, boundary + 4 * per)]
    answer_zoom = (0, period + 4 * per)
    hues = {r: _score_colour(plan, r) for r in range(m_pad)}

    def query_colour(slot: int, shaded: bool = True) -> str:
        if query[slot] == "padding":
            return COLOURS["padding"]
        return _shade(COLOURS["feature"], slot_owner(plan, slot)[1], per) if shaded else COLOURS["feature"]

    def answer_colour(slot: int) -> str:
        r, t = answer[slot]
        return _shade(hues[r], t, per)

    def slot_ticks(ax, lo: int, hi: int) -> None:
        ax.set_xticks([s + 0.5 for s in range(lo, hi, per)], [str(s) for s in range(lo, hi, per)], fontsize=7)
        ax.tick_params(axis="x", length=2)

    fig = plt.figure(figsize=(14, 10.5))
    grid = fig.add_gridspec(4, 2, height_ratios=[0.8, 1.2, 2.0, 1.4], hspace=0.75, wspace=0.05)
    fig.suptitle(
        f"MNIST plan: {plan.n_outputs} x {n} on {plan.slot_count} slots, n' = {n_pad}, m' = {m_pad}. "
        f"B = {plan.slot_count} / {n_pad} = {per} inputs interleaved: slot j * {per} + t holds feature j of input t",
        fontsize=11,
    )

    ax = fig.add_subplot(grid[0, :])
    _strip(ax, [query_colour(s, shaded=False) for s in range(plan.slot_count)])
    ax.set_xlim(0, plan.slot_count)
    top = ax.secondary_xaxis("top", functions=(lambda s: s / per, lambda j: j * per))
    top.set_xlabel("feature j = slot // B", fontsize=8)
    top.tick_params(labelsize=7)
    ax.set_title("query: one ciphertext, all slots", fontsize=10, loc="left")
    ax.text(boundary / 2, 0.5, f"features 0..{n - 1} of inputs 0..{per - 1}, interleaved", ha="center", va="center")
    ax.text(
        (boundary + plan.slot_count) / 2, 0.5, f"zero padding (features {n}..{n_pad - 1})", ha="center", va="center"
    )
    for lo, hi in query_zooms:
        ax.add_patch(Rectangle((lo, -0.1), hi - lo, 1.2, fill=False, ls="--", lw=1, clip_on=False))

    titles = [
        "query, slots {lo}..{hi}: the inputs take turns, slot j * {per} + t holds x_t[j]",
        "query, slots {lo}..{hi}: the last features, then zero padding up to n' = {n_pad}",
    ]
    for column, ((lo, hi), title) in enumerate(zip(query_zooms, titles)):
        ax = fig.add_subplot(grid[1, column])
        _strip(ax, [query_colour(s) for s in range(lo, hi)], start=lo, cells=True)
        ax.set_xlim(lo, hi)
        slot_ticks(ax, lo, hi)
        ax.set_title(title.format(lo=lo, hi=hi - 1, per=per, n_pad=n_pad), fontsize=9, loc="left")
        for slot in range(lo, hi):
            j, t = slot_owner(plan, slot)
            feature = query[slot] == "feature"
            ax.text(
                slot + 0.5,
                0.5,
                f"x{t}[{j}]" if feature else "0",
                ha="center",
                va="center",
                fontsize=6.5,
                rotation=90,
                color="white" if feature and t < per - 1 else "black",
            )

    # The whole answer, one row per period of m' B slots: every row is the same.
    ax = fig.add_subplot(grid[2, :])
    rows = plan.slot_count // period
    image = np.array([to_rgb(answer_colour(s)) for s in range(plan.slot_count)]).reshape(rows, period, 3)
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(0, period, rows, 0))
    for r in range(1, m_pad):
        ax.axvline(r * per, color="white", lw=0.8)
    ax.set_xticks([r * per + per / 2 for r in range(m_pad)], [f"s{r}" for r in range(m_pad)], fontsize=8)
    ax.xaxis.set_ticks_position("top")
    ax.tick_params(axis="x", length=0)
    ax.set_yticks(
        [0.5, rows - 0.5], [f"slots 0..{period - 1}", f"slots {plan.slot_count - period}..{plan.slot_count - 1}"]
    )
    ax.tick_params(axis="y", labelsize=7, length=2)
    ax.set_ylabel(f"{rows} rows", fontsize=8)
    ax.set_xlabel(
        f"slot mod {period} = {per} r + t  (column group r: score s_r; shade: input t)", fontsize=8, labelpad=2
    )
    ax.set_title(
        f"answer (one ciphertext at level 0), all {plan.slot_count} slots in {rows} rows of m' B = {period}: "
        "every row is the same, every slot holds a whole score s_r(x_t), r = j mod m'",
        fontsize=10,
        loc="left",
        pad=22,
    )

    ax = fig.add_subplot(grid[3, :])
    lo, hi = answer_zoom
    _strip(ax, [answer_colour(s) for s in range(lo, hi)], start=lo, cells=True)
    ax.set_xlim(lo, hi)
    slot_ticks(ax, lo, hi)
    ax.set_title(
        f"answer, slots {lo}..{hi - 1}: score r of input t is read in slot r * {per} + t, "
        f"and is there again every {period} slots",
        fontsize=10,
        loc="left",
    )
    for slot in range(lo, hi):
        r, t = answer[slot]
        ax.text(
            slot + 0.5,
            0.5,
            f"s{r}(x{t})",
            ha="center",
            va="center",
            fontsize=6.5,
            rotation=90,
            color="black" if r >= plan.n_outputs or t == per - 1 else "white",
        )
    ax.axvline(period, color="black", lw=1.5)
    ax.text(period + 0.3, 1.06, f"slot {period}: the same scores again", fontsize=8, va="bottom")
    ax.set_xlabel("slot")

    legend = [
        Patch(facecolor=COLOURS["feature"], label=f"features ({n} per input)"),
        Patch(facecolor=COLOURS["padding"], label=f"zero padding to n' = {n_pad}"),
        *[Patch(facecolor=_shade(COLOURS["feature"], t, per), label=f"input t = {t}") for t in range(per)],
        *[Patch(facecolor=hues[r], label=f"score s{r}") for r in range(plan.n_outputs)],
        Patch(facecolor=hues[m_pad - 1], label=f"s{plan.n_outputs}..s{m_pad - 1}: padded outputs (0)"),
    ]
    fig.legend(
        handles=legend,
        loc="lower center",
        ncol=9,
        fontsize=8,
        frameon=False,
        title="shades: lighter for later inputs t (darkest t = 0), in the query and the answer",
        title_fontsize=8,
    )
    fig.subplots_adjust(left=0.08, right=0.99, top=0.9, bottom=0.12)
    return save(plt, fig, path)


# ----------------------------------------------------------------------------- diagonals (figure 7.1)


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
    return save(plt, fig, path)


# ----------------------------------------------------------------------------- schedule (figure 7.3)


_SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"


def schedule_events(plan, top_level: int) -> list[tuple[str, int, str]]:
    """The server's operations in order: ``(kind, level, label)``; kinds baby, giant, fold or plain.

    No mask: every slot already holds a whole score. The answer drops to level 0 and gets a fresh
    public-key encryption of zero added, so that its ``c1`` says nothing about the weights.
    """
    events: list[tuple[str, int, str]] = [("plain", top_level, "fresh input\nscale Δ")]
    events += [("baby", top_level, f"rot {step}") for step in plan.baby_rotations]
    products = plan.class_block * plan.feature_chunks  # one per diagonal d_0 .. d_{m'-1} and chunk
    events.append(("plain", top_level, f"{products} products\nwith diagonals\nscale Δ²"))
    events.append(("plain", top_level - 1, f"{plan.giant_steps} rescales\nscale Δ²/q{_SUBSCRIPTS[top_level]}"))
    events += [("giant", top_level - 1, f"rot {step}") for step in plan.giant_rotations]
    events += [("fold", top_level - 1, f"rot {step}") for step in plan.fold_rotations]
    events.append(("plain", top_level - 1, f"+ bias\nat Δ²/q{_SUBSCRIPTS[top_level]}"))
    events.append(("plain", 0, "mod switch\nto level 0"))
    events.append(("plain", 0, "+ Enc_pk(0):\nre-randomize;\nthe answer"))
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
        above = level > 0 or kind != "plain" or x % 2  # the answer's last steps alternate above and below
        ax.text(
            x,
            level + (0.13 if above else -0.13),
            label,
            ha="center",
            va="bottom" if above else "top",
            fontsize=7.5,
            rotation=0 if not is_switch else 90,
        )
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
    ax.set_ylim(-0.6, top_level + 0.95)
    ax.set_xlim(-0.7, len(events) - 0.1)
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
        f"heedu slot protocol:\n{plan.key_switches} per {plan.inputs_per_ciphertext} images",
    ]
    values = [10 * 12, per_image]
    notes = [  # the package's answer size is measured (docs/performance.md), the slot protocol's is exact
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
    return save(plt, fig, path)


# ----------------------------------------------------------------------------- entry point


def make_figures(out_dir: Path) -> list[Path]:
    """Write the three figures into ``out_dir`` (created if missing); returns their paths."""
    return draw(
        "make_figures.py",
        out_dir,
        [
            (figure_slot_layout, "slot-layout.png"),
            (figure_diagonals, "diagonals.png"),
            (figure_schedule, "schedule.png"),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    return command_line(__doc__.splitlines()[0], make_figures, argv)


if __name__ == "__main__":
    sys.exit(main())
