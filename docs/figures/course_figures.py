"""Draw the figures of the course (docs/course/) from heedu itself.

Usage::

    .venv/bin/python docs/figures/course_figures.py [OUT_DIR]

OUT_DIR defaults to ``docs/figures/out/`` (not committed). One PNG per chapter:

- ``course-ntt.png``: negacyclic wrap-around of ``X^3 · X^6``, and the butterflies of an N = 8 NTT;
- ``course-rns.png``: residues as sawtooth waves, and the bits of Q_ℓ down a modulus chain;
- ``course-slots.png``: the slots ζ^(3^j) on the unit circle, and encoding error against the scale;
- ``course-noise.png``: the noise of fresh encryptions, measured with the secret key;
- ``course-multiply.png``: noise, scale and headroom through multiply, relinearize, rescale;
- ``course-rotation.png``: a rotation as a permutation of the slots and of the NTT values;
- ``course-coefficients.png``: where the features, weights and scores sit in the coefficients of a
  query, a weight polynomial and an answer (chapter 11).

All randomness is seeded and the PNGs are saved without timestamps, so the same versions of the
libraries give the same bytes. Drawing everything takes a few seconds.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or through runpy
import numpy as np
from drawing import command_line, draw, save

ROOT = Path(__file__).resolve().parents[2]
BLUE, ORANGE, GREEN, RED, GREY = "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8C8C8C"
LIGHT_GREY = "#E6E6E6"


def _heedu():
    try:
        import heedu
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(ROOT))
        import heedu
    return heedu


def _seed(label: str) -> bytes:
    return label.encode().ljust(32, b"\0")[:32]


def _toy_context(heedu, n: int, bits: list[int], scale: float):
    return heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=bits, scale=scale, allow_insecure=True)
    )


# ------------------------------------------------------------------------------------------ chapter 1


def figure_ntt(plt, path: Path) -> Path:
    from heedu.numth import bit_reverse

    n = 8
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.2]})

    # Left: X^3 · X^6 = X^9 = -X. Show the coefficient vector of X^3 shifted by 6, wrapping with a sign.
    shift = 6
    a = np.zeros(n)
    a[3] = 1.0
    rows = []
    current = a.copy()
    for _ in range(shift + 1):
        rows.append(current.copy())
        current = np.concatenate([[-current[-1]], current[:-1]])  # multiply by X: shift up, -1 wraps to X^0
    image = np.array(rows)
    left.imshow(image, cmap="RdBu_r", vmin=-1.2, vmax=1.2, aspect="auto")
    for k, row in enumerate(rows):
        for i, value in enumerate(row):
            if value:
                left.text(i, k, "+1" if value > 0 else "−1", ha="center", va="center", fontsize=9, color="white")
    left.set_xticks(range(n), [f"$X^{i}$" for i in range(n)])
    left.set_yticks(range(shift + 1), [f"$X^3 \\cdot X^{k}$" for k in range(shift + 1)])
    left.set_title("multiplying by X in $\\mathbb{Z}_q[X]/(X^8+1)$:\nwhat leaves at $X^7$ re-enters at $X^0$, negated")
    left.annotate("", xy=(0, 5), xytext=(7, 4), arrowprops={"arrowstyle": "->", "color": ORANGE, "lw": 1.5, "ls": "--"})

    # Right: butterflies of the merged-twist Cooley-Tukey NTT.
    log_n = n.bit_length() - 1
    colours = [BLUE, ORANGE, GREEN]
    m, t, stage = 1, n // 2, 0
    while m < n:
        for i in range(m):
            w_exponent = bit_reverse(m + i, log_n)
            for j in range(2 * i * t, 2 * i * t + t):
                right.plot([stage, stage + 1], [j, j], color=GREY, lw=0.6)
                right.plot([stage, stage + 1], [j + t, j + t], color=GREY, lw=0.6)
                right.plot([stage, stage + 1], [j + t, j], color=colours[stage], lw=1.4)
                right.plot([stage, stage + 1], [j, j + t], color=colours[stage], lw=1.4)
            right.text(
                stage + 0.5,
                2 * i * t + t - 0.5,
                f"$\\psi^{{{w_exponent}}}$",
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": colours[stage]},
            )
        m, t, stage = 2 * m, t // 2, stage + 1
    right.scatter(np.repeat(np.arange(log_n + 1), n), np.tile(np.arange(n), log_n + 1), s=14, color="black", zorder=3)
    right.set_yticks(range(n), [f"$a_{i}$" for i in range(n)])
    right.invert_yaxis()
    twin = right.twinx()
    twin.set_ylim(right.get_ylim())
    twin.set_yticks(range(n), [f"$a(\\psi^{{{2 * bit_reverse(i, log_n) + 1}}})$" for i in range(n)])
    right.set_xticks(range(log_n + 1), ["input", "stage 1\nm = 1", "stage 2\nm = 2", "stage 3\nm = 4"])
    right.set_title("NTT butterflies, N = 8: $(X, Y) \\mapsto (X + WY, X - WY)$, output bit-reversed")
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 2


def figure_rns(plt, path: Path) -> Path:
    heedu = _heedu()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    moduli = [5, 7, 11]  # pairwise coprime, Q = 385
    x = np.arange(0, 120)
    for q, colour in zip(moduli, (BLUE, ORANGE, GREEN)):
        left.step(x, x % q, where="post", color=colour, label=f"x mod {q}")
    left.set_xlabel("x")
    left.set_ylabel("residue")
    left.set_title("residues of x for q = 5, 7, 11: the triple repeats only after Q = 385")
    left.legend(loc="upper right")

    ctx = _toy_context(heedu, 8192, [60, 40, 40, 40, 40, 60], 2.0**40)
    levels = list(range(ctx.max_level, -1, -1))
    bits = [ctx.ring(level).basis.product.bit_length() for level in levels]
    right.bar([str(level) for level in levels], bits, color=BLUE)
    for k, total in enumerate(bits):
        right.text(k, total + 2, f"{total}", ha="center", fontsize=9)
    right.set_xlabel("level ℓ (each rescale drops the last prime)")
    right.set_ylabel("bits of $Q_\\ell$")
    right.set_title("N = 8192, primes of [60, 40, 40, 40, 40 | 60] bits")
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 3


def figure_slots(plt, path: Path) -> Path:
    heedu = _heedu()
    from heedu.encoder import slot_exponents

    n = 16
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.2))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    left.plot(circle.real, circle.imag, color=GREY, lw=0.8)
    for e in range(2 * n):
        point = np.exp(1j * np.pi * e / n)
        left.scatter(point.real, point.imag, s=10, color="#CCCCCC" if e % 2 == 0 else GREY, zorder=2)
    exponents = slot_exponents(n)
    points = np.exp(1j * np.pi * exponents / n)
    left.plot(points.real, points.imag, color=BLUE, lw=0.8, alpha=0.5)
    for j, (e, point) in enumerate(zip(exponents, points)):
        left.scatter(point.real, point.imag, s=70, color=BLUE, zorder=3)
        left.annotate(
            f"j={j}\n$\\zeta^{{{e}}}$",
            (point.real, point.imag),
            xytext=(1.22 * point.real, 1.22 * point.imag),
            ha="center",
            va="center",
            fontsize=8,
            color=BLUE,
        )
        conjugate = np.conj(point)
        left.scatter(conjugate.real, conjugate.imag, s=40, color="#BBBBBB", zorder=3, marker="s")
    left.set_aspect("equal")
    left.set_xlim(-1.5, 1.5)
    left.set_ylim(-1.5, 1.5)
    left.set_title("N = 16: slot j is $m(\\zeta^{3^j})$ (blue); conjugates (grey squares)")
    left.axis("off")

    ctx = _toy_context(heedu, 1024, [60, 50, 60], 2.0**30)
    encoder = heedu.CKKSEncoder(ctx)
    rng = np.random.default_rng(3)
    z = rng.uniform(-1, 1, ctx.slot_count) + 1j * rng.uniform(-1, 1, ctx.slot_count)
    log_scales = np.arange(8, 45, 2)
    errors = [
        np.abs(encoder.decode(encoder.encode(z, scale=2.0**s), complex_output=True) - z).max() for s in log_scales
    ]
    right.semilogy(log_scales, errors, "o-", color=BLUE, label="max slot error, N = 1024")
    right.semilogy(log_scales, 2.0**-log_scales * math.sqrt(1024), "--", color=ORANGE, label="$\\sqrt{N}/\\Delta$")
    right.set_xlabel("$\\log_2 \\Delta$")
    right.set_ylabel("largest |decode(encode(z)) − z|")
    right.set_title("encoding error halves with every bit of scale")
    right.legend()
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 4


def figure_noise(plt, path: Path) -> Path:
    heedu = _heedu()
    from heedu.debug import measure_noise
    from heedu.sampling import SeededRandomSource

    ctx = _toy_context(heedu, 1024, [50, 30, 50], 2.0**30)
    keygen = heedu.KeyGenerator(ctx, random_source=SeededRandomSource(_seed("course noise keys")))
    secret = keygen.secret_key()
    encoder = heedu.CKKSEncoder(ctx)
    public_encryptor = heedu.Encryptor(
        ctx, keygen.public_key(), random_source=SeededRandomSource(_seed("course noise public"))
    )
    symmetric_encryptor = heedu.Encryptor(
        ctx, secret_key=secret, random_source=SeededRandomSource(_seed("course noise symmetric"))
    )
    decryptor = heedu.Decryptor(ctx, secret)
    ring = ctx.ring(ctx.max_level)
    zero = encoder.encode(np.zeros(ctx.slot_count))
    rng = np.random.default_rng(4)
    public_noise, symmetric_noise, public_bits, symmetric_bits = [], [], [], []
    for _ in range(12):
        x = rng.uniform(-1, 1, ctx.slot_count)
        for encrypt, noise, bits in (
            (public_encryptor.encrypt, public_noise, public_bits),
            (symmetric_encryptor.encrypt_symmetric, symmetric_noise, symmetric_bits),
        ):
            ct0 = encrypt(zero)
            noise.append(ring.basis.to_centered_float(ring.ntt.inverse(decryptor.decrypt(ct0).data)))
            bits.append(measure_noise(ctx, secret, encrypt(encoder.encode(x)), x).noise_bits)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    public_all, symmetric_all = np.concatenate(public_noise), np.concatenate(symmetric_noise)
    edges = np.arange(-25.5, 26.5, 1.0)
    left.hist(symmetric_all, bins=edges, color=ORANGE, alpha=0.6, label=f"symmetric (std {symmetric_all.std():.2f})")
    left.hist(public_all, bins=edges, color=BLUE, alpha=0.7, label=f"public key (std {public_all.std():.2f})")
    left.set_xlabel("coefficient of $c_0 + c_1 s - \\mathrm{pt}$")
    left.set_ylabel("count")
    left.set_title("noise of fresh encryptions of zero (N = 1024, 12 each)")
    left.legend()

    right.plot(range(1, 13), public_bits, "o-", color=BLUE, label="public key")
    right.plot(range(1, 13), symmetric_bits, "s-", color=ORANGE, label="symmetric")
    right.axhline(30, color=GREY, ls="--")
    right.text(1, 29, "$\\log_2 \\Delta = 30$", va="top", color=GREY)
    right.set_ylim(0, 32)
    right.set_xlabel("encryption of a random x")
    right.set_ylabel("measure_noise(...).noise_bits")
    right.set_title("noise bits, far below the scale")
    right.legend(loc="center right")
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 5


def figure_multiply(plt, path: Path) -> Path:
    heedu = _heedu()
    from heedu.debug import NoiseTracker
    from heedu.sampling import SeededRandomSource

    ctx = _toy_context(heedu, 1024, [50, 30, 30, 50], 2.0**30)
    keygen = heedu.KeyGenerator(ctx, random_source=SeededRandomSource(_seed("course multiply keys")))
    secret, relin = keygen.secret_key(), keygen.relin_keys()
    encoder, ev = heedu.CKKSEncoder(ctx), heedu.Evaluator(ctx)
    encryptor = heedu.Encryptor(ctx, keygen.public_key(), random_source=SeededRandomSource(_seed("course multiply")))
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1, 1, ctx.slot_count), rng.uniform(-1, 1, ctx.slot_count)
    ct_x, ct_y = encryptor.encrypt(encoder.encode(x)), encryptor.encrypt(encoder.encode(y))
    tracker = NoiseTracker(ctx, secret)
    tracker.record("fresh x", ct_x, x)
    product = ev.multiply(ct_x, ct_y)
    tracker.record("multiply", product, x * y)
    product = ev.relinearize(product, relin)
    tracker.record("relinearize", product, x * y)
    product = ev.rescale_to_next(product)
    tracker.record("rescale", product, x * y)
    product = ev.multiply(product, ev.mod_switch_to_next(ct_x))
    tracker.record("multiply by x", product, x * x * y)
    product = ev.relinearize(product, relin)
    tracker.record("relinearize", product, x * x * y)
    product = ev.rescale_to_next(product)
    tracker.record("rescale", product, x * x * y)

    names = [name for name, _ in tracker.rows]
    reports = [report for _, report in tracker.rows]
    steps = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    left.plot(steps, [r.log2_scale for r in reports], "o-", color=BLUE, label="$\\log_2$ scale")
    left.plot(steps, [r.noise_bits for r in reports], "s-", color=RED, label="noise bits")
    left.plot(
        steps,
        [r.log2_scale - r.precision.min_bits for r in reports],
        "^:",
        color=GREEN,
        label="$\\log_2$ scale − precision bits",
    )
    for k, r in enumerate(reports):
        left.annotate(
            f"ℓ={r.level}", (k, r.log2_scale), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8
        )
    left.set_xticks(steps, names, rotation=30, ha="right")
    left.set_ylabel("bits")
    left.set_title("x · y · x with N = 1024, primes [50, 30, 30 | 50]")
    left.legend()

    right.bar(
        steps,
        [r.headroom_bits for r in reports],
        color=[BLUE if r.level == 2 else ORANGE if r.level == 1 else GREEN for r in reports],
    )
    right.set_xticks(steps, names, rotation=30, ha="right")
    right.set_ylabel("headroom bits below $Q_\\ell / 2$")
    right.set_title("headroom: blue ℓ = 2, orange ℓ = 1, green ℓ = 0")
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 6


def figure_rotation(plt, path: Path) -> Path:
    _heedu()
    from heedu.encoder import slot_exponents
    from heedu.keys import galois_elt_from_step
    from heedu.ntt import galois_permutation_ntt

    n, r = 32, 3
    slots = n // 2
    g = galois_elt_from_step(r, n)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 5.4))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    left.plot(circle.real, circle.imag, color="#DDDDDD", lw=0.8)
    exponents = slot_exponents(n)
    points = np.exp(1j * np.pi * exponents / n)
    cmap = plt.get_cmap("viridis")
    for j, point in enumerate(points):
        left.scatter(point.real, point.imag, s=120, color=cmap(j / slots), zorder=3, edgecolor="black", lw=0.5)
        left.text(1.16 * point.real, 1.16 * point.imag, str(j), ha="center", va="center", fontsize=8)
    for j in range(slots):
        source, target = points[(j + r) % slots], points[j]
        left.annotate(
            "",
            xy=(0.9 * target.real, 0.9 * target.imag),
            xytext=(0.9 * source.real, 0.9 * source.imag),
            arrowprops={
                "arrowstyle": "->",
                "color": cmap(((j + r) % slots) / slots),
                "lw": 1.0,
                "connectionstyle": "arc3,rad=0.25",
            },
        )
    left.set_aspect("equal")
    left.set_xlim(-1.35, 1.35)
    left.set_ylim(-1.35, 1.35)
    left.axis("off")
    left.set_title(f"N = 32, rotation by r = {r} ($g = 3^{r} = {g}$):\nthe value of slot j + {r} moves to slot j")

    permutation = galois_permutation_ntt(n, g)
    matrix = np.zeros((n, n))
    matrix[np.arange(n), permutation] = 1.0
    right.imshow(matrix, cmap="Blues", vmin=0, vmax=1.3)
    right.set_xlabel("input NTT index (bit-reversed order)")
    right.set_ylabel("output NTT index")
    right.set_title(
        f"the same automorphism on NTT values:\nout[i] = in[perm[i]], perm = galois_permutation_ntt({n}, {g})"
    )
    fig.tight_layout()
    return save(plt, fig, path)


# ------------------------------------------------------------------------------------------ chapter 11


def coefficient_kinds(layout, inputs: int) -> tuple[list, list, list]:
    """What each coefficient holds in a query, a weight polynomial and an answer of ``layout`` (one chunk, block 0).

    Returns three lists of ``N`` entries: ``("x", b, i)`` or ``None`` for the query, ``("w", j, i, sign)`` or
    ``None`` for the weights, and ``("score", b, j)``, ``"partial"`` or ``None`` for the answer. The answer's
    kinds come from an exact integer product of random polynomials laid out by ``layout`` itself, checked
    against its score positions, so the picture cannot drift from the code.
    """
    n, t, nw = layout.poly_modulus_degree, layout.block_size, layout.features_per_chunk
    query: list = [None] * n
    for b in range(inputs):
        for i in range(nw):
            query[b * t + i] = ("x", b, i)
    weights: list = [None] * n
    for j in range(layout.outputs_per_block):
        for i in range(nw):
            exponent = j * nw - i
            weights[exponent % n] = ("w", j, i, -1 if exponent < 0 else 1)
    rng = np.random.default_rng(11)
    x = rng.integers(1, 9, (inputs, layout.n_features)).astype(float)
    w = rng.integers(1, 9, (layout.n_outputs, layout.n_features)).astype(float)
    x_poly = layout.query_values(x)[0, 0].astype(np.int64)
    w_poly = layout.weight_values(w)[0, 0].astype(np.int64)
    product = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(x_poly):  # schoolbook negacyclic product
        shifted = np.roll(w_poly, i)
        shifted[:i] *= -1
        product += x_poly[i] * shifted
    positions = layout.score_positions(inputs, 0, 0)
    chunk = slice(0, nw)
    assert np.array_equal(product[positions], x[:, chunk] @ w[: positions.shape[1], chunk].T)
    answer: list = [None if value == 0 else "partial" for value in product]
    for b, row in enumerate(positions):
        for j, position in enumerate(row):
            answer[position] = ("score", b, j)
    return query, weights, answer


def _box(start: float, width: float, face: str, edge: str = "black"):
    from matplotlib.patches import Rectangle

    return Rectangle((start, 0), width, 1, facecolor=face, edgecolor=edge, lw=0.4)


def _cells(ax, kinds: list, colour, label, title: str) -> None:
    """One row of ``len(kinds)`` coefficient cells, coloured and labelled by what each holds."""
    n = len(kinds)
    for k, kind in enumerate(kinds):
        face = colour(kind)
        ax.add_patch(_box(k, 1, face))
        if label(kind):
            dark = face not in ("white", LIGHT_GREY)
            ax.text(k + 0.5, 0.5, label(kind), ha="center", va="center", fontsize=6.5,
                    color="white" if dark else "black")
    ax.set_xlim(0, n)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xticks(np.arange(0, n, 4) + 0.5, [str(k) for k in range(0, n, 4)], fontsize=7)
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=9.5, loc="left")


def figure_coefficients(plt, path: Path) -> Path:
    _heedu()
    from heedu.inference import CoefficientLayout, plan_layout

    inputs = 2
    toy = CoefficientLayout(n_outputs=3, n_features=4, poly_modulus_degree=32, outputs_per_block=3,
                            features_per_chunk=4, inputs_per_ciphertext=inputs)
    n, nw = toy.poly_modulus_degree, toy.features_per_chunk
    query, weights, answer = coefficient_kinds(toy, inputs)
    input_colours, row_colours = [BLUE, "#8FB3E0"], [GREEN, ORANGE, "#8172B2"]

    fig = plt.figure(figsize=(13, 7.2))
    grid = fig.add_gridspec(4, 1, height_ratios=[1, 1, 1, 1.35], hspace=1.15, left=0.02, right=0.99, top=0.93,
                            bottom=0.05)
    axes = [fig.add_subplot(grid[k]) for k in range(4)]
    _cells(
        axes[0], query,
        lambda kind: "white" if kind is None else input_colours[kind[1]],
        lambda kind: "" if kind is None else f"$x_{kind[1]}[{kind[2]}]$",
        f"query $\\hat x$: input b's features at $X^{{bT+i}}$ (N = {n}, $m_w$ = {toy.outputs_per_block}, "
        f"$n_w$ = {nw}, T = {toy.block_size}, B = {inputs})",
    )
    _cells(
        axes[1], weights,
        lambda kind: "white" if kind is None else row_colours[kind[1]],
        lambda kind: "" if kind is None else ("−" if kind[3] < 0 else "") + f"$w_{{{kind[1]}{kind[2]}}}$",
        "weights $\\hat w$: row j at $X^{j n_w - i}$; row 0 wraps, since $X^{-i} = -X^{N-i}$",
    )
    _cells(
        axes[2], answer,
        lambda kind: "white" if kind is None else LIGHT_GREY if kind == "partial" else RED,
        lambda kind: f"$s_{{{kind[2]}}}(x_{{{kind[1]}}})$" if isinstance(kind, tuple) else "",
        "answer $\\hat x \\hat w$: score j of input b at $X^{bT + j n_w}$ (red); "
        "every grey coefficient is a partial sum of W, never sent",
    )
    axes[2].annotate(
        "wrapped terms of input 0\n(row 0, i < i′) land here", xy=(n - nw + 2.5, 1.0), xytext=(n - nw - 6, 1.55),
        fontsize=7.5, ha="center", arrowprops={"arrowstyle": "->", "color": GREY}, annotation_clip=False,
    )

    mnist = plan_layout(n_outputs=10, n_features=784, poly_modulus_degree=4096, inputs=1, prime_count=2)
    ax = axes[3]
    n = mnist.poly_modulus_degree
    positions = mnist.score_positions(1, 0, 0)[0]
    ax.add_patch(_box(0, n, LIGHT_GREY, edge="none"))
    for j, position in enumerate(positions):
        ax.add_patch(_box(position, 24, RED, edge="none"))  # 24 coefficients wide, to be seen at this size
        ax.text(position + 12, 1.15, f"$s_{{{j}}}$\n{position}", ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, n)
    ax.set_ylim(0, 2.0)
    ax.set_yticks([])
    ax.set_xticks(np.arange(0, n + 1, 512))
    ax.tick_params(labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        f"one MNIST image at N = {n}: $m_w$ = {mnist.outputs_per_block}, $n_w$ = {mnist.features_per_chunk}, "
        f"C = {mnist.feature_chunks} products summed into one answer.\nIts {len(positions)} scores sit "
        f"{mnist.features_per_chunk} coefficients apart (red, widened to be seen); only they leave the server "
        f"with $c_1$, the other {n - len(positions)} coefficients of $c_0$ stay",
        fontsize=9.5, loc="left",
    )
    return save(plt, fig, path)

# ------------------------------------------------------------------------------------------ driver


def make_course_figures(out_dir: Path) -> list[Path]:
    """Write the course's figures into ``out_dir`` (created if missing); returns their paths."""
    return draw(
        "course_figures.py",
        out_dir,
        [
            (figure_ntt, "course-ntt.png"),
            (figure_rns, "course-rns.png"),
            (figure_slots, "course-slots.png"),
            (figure_noise, "course-noise.png"),
            (figure_multiply, "course-multiply.png"),
            (figure_rotation, "course-rotation.png"),
            (figure_coefficients, "course-coefficients.png"),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    return command_line(__doc__.splitlines()[0], make_course_figures, argv)


if __name__ == "__main__":
    sys.exit(main())
