"""Draw the figures of the course (docs/course/) from heedu itself.

Usage::

    .venv/bin/python docs/figures/course_figures.py [OUT_DIR]

OUT_DIR defaults to ``docs/figures/out/`` (not committed). One PNG per chapter:

- ``course-ntt.png``: negacyclic wrap-around of ``X^3 · X^6``, and the butterflies of an N = 8 NTT;
- ``course-rns.png``: residues as sawtooth waves, and the bits of Q_ℓ down a modulus chain;
- ``course-slots.png``: the slots ζ^(3^j) on the unit circle, and encoding error against the scale;
- ``course-noise.png``: the noise of fresh encryptions, measured with the secret key;
- ``course-multiply.png``: noise, scale and headroom through multiply, relinearize, rescale;
- ``course-rotation.png``: a rotation as a permutation of the slots and of the NTT values.

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
        ],
    )


def main(argv: list[str] | None = None) -> int:
    return command_line(__doc__.splitlines()[0], make_course_figures, argv)


if __name__ == "__main__":
    sys.exit(main())
