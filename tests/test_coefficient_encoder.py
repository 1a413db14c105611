r"""Coefficient encoding: values as scaled polynomial coefficients, and products as negacyclic convolutions.

Oracles: :func:`heedu.coefficient_encoder.encode_reference` (Python integers, Python's ``round``),
exact CRT composition of the residues (:meth:`RNSBasis.compose`), and the schoolbook negacyclic product
(:func:`heedu.ntt.negacyclic_multiply_schoolbook`). The property the coefficient protocol rests on is
the last one: the NTT pointwise product of two coefficient encodings *is* the encoding of the
negacyclic convolution of the integers, :math:`(ab)_k = \sum_{i+j=k} a_i b_j - \sum_{i+j=k+N} a_i b_j`.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import heedu
from heedu import modarith
from heedu.coefficient_encoder import (
    CoefficientEncoder,
    check_encoding_scale,
    encode_reference,
    integers_to_rns,
    scale_and_round,
)
from heedu.ntt import negacyclic_multiply_schoolbook
from heedu.plaintext import Plaintext
from tests.strategies import cached_toy_context

EPS = float(np.finfo(np.float64).eps)


@cache
def context(bits: tuple[int, ...] = (40, 30)) -> heedu.CKKSContext:
    """N = 16, scale 2^20, no special prime (every prime holds data); by default the module docstring's ring."""
    return heedu.CKKSContext(
        heedu.CKKSParameters(
            poly_modulus_degree=16,
            coeff_modulus_bits=bits,
            scale=2.0**20,
            special_prime=False,
            allow_insecure=True,
        )
    )


def contexts() -> list[heedu.CKKSContext]:
    """Moduli of 40 to 180 bits: the module's toy, a wide ring (room far above 2^62), one with a special prime."""
    return [context(), context((60, 60, 60)), cached_toy_context(16, (40, 30, 40), 30)]


def exact_coefficients(ctx: heedu.CKKSContext, plaintext: Plaintext) -> list[int]:
    """The plaintext's centered integer coefficients, by Python-int CRT (no floats)."""
    ring = ctx.ring(plaintext.level)
    return ring.basis.compose(ring.ntt.inverse(plaintext.data), centered=True)


def half_modulus_bits(ctx: heedu.CKKSContext, level: int) -> int:
    """A bit size ``b`` with :math:`2^b \\le Q_\\ell / 4`: scaled magnitudes up to it are safely encodable."""
    return ctx.ring(level).basis.product.bit_length() - 3


def scales(low_bits: int, high_bits: int) -> st.SearchStrategy[float]:
    """Scales in :math:`[2^{low}, 2^{high}]`: powers of two (products and quotients exact) and any floats."""
    return st.one_of(
        st.integers(low_bits, high_bits).map(lambda s: 2.0**s),
        st.floats(2.0**low_bits, 2.0**high_bits, allow_nan=False, allow_infinity=False),
    )


@st.composite
def encodings(
    draw: st.DrawFn, batch: tuple[int, ...] = (), decodable: bool = False
) -> tuple[heedu.CKKSContext, int, float, np.ndarray]:
    r"""``(context, level, scale, values)``: values of shape ``(*batch, m)`` whose scaled magnitudes fit.

    Each scaled value has a magnitude drawn up to :math:`2^e`, ``e`` itself drawn up to
    :math:`\log_2(Q_\ell / 4)`: small values, values around :math:`2^{53}` and :math:`2^{62}`, and
    values near :math:`Q_\ell / 2` (180-bit rings) all appear. Scales stay in :math:`[1, Q_\ell)`, the
    only ones encoding accepts (``decodable`` is kept for the callers that state it).
    """
    ctx = draw(st.sampled_from(contexts()))
    level = draw(st.integers(0, ctx.max_level))
    top = half_modulus_bits(ctx, level)
    scale = draw(scales(0, min(60, top)))
    m = draw(st.integers(0, ctx.poly_modulus_degree))
    count = m * math.prod(batch)

    def one(e: int) -> st.SearchStrategy[float]:
        return st.floats(-(2.0**e), 2.0**e, allow_nan=False, allow_infinity=False).map(lambda x: x / scale)

    values = draw(st.lists(st.integers(0, top).flatmap(one), min_size=count, max_size=count))
    return ctx, level, scale, np.array(values, dtype=np.float64).reshape(*batch, m)


def reference_rows(ctx: heedu.CKKSContext, level: int, scale: float, values: np.ndarray) -> np.ndarray:
    """``encode_reference`` over the rows of ``values``, stacked as ``(..., k, N)`` Python ints."""
    moduli, n = ctx.ring(level).moduli, ctx.poly_modulus_degree
    flat = values.reshape(math.prod(values.shape[:-1]), values.shape[-1])
    rows = [encode_reference(row.tolist(), scale, moduli, n) for row in flat]
    return np.array(rows, dtype=object).reshape(*values.shape[:-1], len(moduli), n)


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def test_module_example() -> None:
    coder = CoefficientEncoder(context())
    plaintext = coder.encode([1.5, -0.25, 3.0])
    assert (plaintext.level, plaintext.scale) == (1, 2.0**20)
    assert coder.decode(plaintext).tolist() == [1.5, -0.25, 3.0] + [0.0] * 13
    assert exact_coefficients(context(), plaintext)[:4] == [3 * 2**19, -(2**18), 3 * 2**20, 0]
    assert repr(coder) == "CoefficientEncoder(N=16)"


def test_reference_known_answer() -> None:
    assert encode_reference([1.5, -1.0], 2.0, [17], 4) == [[3, 15, 0, 0]]
    assert encode_reference([0.25, 0.75], 2.0, [17, 13], 2) == [[0, 2], [0, 2]]  # 0.5 -> 0, 1.5 -> 2


def test_rounding_known_answers_are_half_to_even() -> None:
    scaled = scale_and_round([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, -0.51], 1.0, 2**20, level=0)
    assert scaled.tolist() == [0.0, 2.0, 2.0, 0.0, -2.0, -2.0, 0.0, -1.0]
    assert scaled.dtype == np.float64


def test_empty_input_encodes_zero() -> None:
    coder = CoefficientEncoder(context())
    assert not coder.encode([]).data.any()
    assert coder.residues(np.zeros((3, 0))).shape == (3, 2, 16)


# --------------------------------------------------------------------------------------
# The fast path equals the oracle
# --------------------------------------------------------------------------------------


@given(encodings())
def test_residues_equal_the_reference(case: tuple[heedu.CKKSContext, int, float, np.ndarray]) -> None:
    ctx, level, scale, values = case
    fast = CoefficientEncoder(ctx).residues(values, scale=scale, level=level)
    assert fast.dtype == np.uint64 and fast.shape == (ctx.ring(level).k, ctx.poly_modulus_degree)
    assert fast.tolist() == reference_rows(ctx, level, scale, values).tolist()


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(st.sampled_from([(1,), (3,), (2, 3)]).flatmap(lambda batch: encodings(batch)))
def test_batched_residues_equal_the_reference_row_by_row(
    case: tuple[heedu.CKKSContext, int, float, np.ndarray],
) -> None:
    ctx, level, scale, values = case
    fast = CoefficientEncoder(ctx).residues(values, scale=scale, level=level)
    assert fast.shape == (*values.shape[:-1], ctx.ring(level).k, ctx.poly_modulus_degree)
    assert fast.tolist() == reference_rows(ctx, level, scale, values).tolist()


@given(st.data())
def test_integers_to_rns_is_exact_at_every_magnitude(data: st.DataObject) -> None:
    ctx = context((60, 60, 60))
    ring = ctx.ring(ctx.max_level)
    top = half_modulus_bits(ctx, ctx.max_level)
    exponents = st.integers(0, top)
    integers = data.draw(
        st.lists(exponents.flatmap(lambda e: st.integers(-(2**e), 2**e)), min_size=1, max_size=2 * ring.n)
    )
    values = np.array([float(v) for v in integers])  # integer-valued doubles, some far above 2^62
    batch = np.zeros((2, ring.n))
    batch.reshape(-1)[: len(values)] = values
    expected = [[[int(v) % q for v in row] for q in ring.moduli] for row in batch.tolist()]
    assert integers_to_rns(batch, ring).tolist() == expected
    assert integers_to_rns(batch[0], ring).tolist() == expected[0]


# --------------------------------------------------------------------------------------
# Rounding and round trips
# --------------------------------------------------------------------------------------


@given(st.integers(-(2**50), 2**50), st.integers(0, 20), st.sampled_from(contexts()))
def test_ties_round_half_to_even(k: int, scale_bits: int, ctx: heedu.CKKSContext) -> None:
    scale = 2.0**scale_bits
    value = (k + 0.5) / scale  # exact: k + 1/2 has at most 52 significant bits
    expected = k + (k % 2)  # the even one of k and k + 1
    plaintext = CoefficientEncoder(ctx).encode([value, -value], scale=scale)
    assert exact_coefficients(ctx, plaintext)[:2] == [expected, -expected]


@given(encodings(decodable=True))
def test_encode_then_decode_rounds_each_value_to_the_scale_grid(
    case: tuple[heedu.CKKSContext, int, float, np.ndarray],
) -> None:
    ctx, level, scale, values = case
    coder = CoefficientEncoder(ctx)
    plaintext = coder.encode(values, scale=scale, level=level)
    assert (plaintext.level, plaintext.scale) == (level, scale)
    n, m = ctx.poly_modulus_degree, len(values)
    integers = [round(float(v) * scale) for v in values] + [0] * (n - m)
    assert exact_coefficients(ctx, plaintext) == integers  # exact, however large
    decoded = coder.decode(plaintext)
    assert decoded.shape == (n,) and decoded.dtype == np.float64
    expected = np.array([float(i) for i in integers]) / scale
    small = np.abs(np.array(integers, dtype=float)) < 2.0**53
    # Below 2^53 the centered lift is exact, so decoding is exactly one division.
    assert np.array_equal(decoded[small], expected[small])
    # Above, the lift has relative error about k 2^-53 (k primes).
    k = ctx.ring(level).k
    assert np.all(np.abs(decoded - expected) <= 4 * k * EPS * np.abs(expected))
    # And the round trip is within half a grid step of the input (plus the float errors above).
    assert np.all(np.abs(decoded[:m] - values) <= 0.5 / scale + 4 * (k + 1) * EPS * np.abs(values))


def largest_accepted(q: int) -> float:
    """The largest integer-valued double strictly below the double nearest ``q / 2``."""
    fence = q / 2
    below = float(math.floor(fence))
    return below if below < fence else math.nextafter(fence, 0.0)


@pytest.mark.parametrize("ctx", contexts(), ids=["toy", "wide", "special"])
def test_values_just_below_half_the_modulus_round_trip(ctx: heedu.CKKSContext) -> None:
    coder = CoefficientEncoder(ctx)
    for level in range(ctx.max_level + 1):
        q = ctx.ring(level).basis.product
        largest = largest_accepted(q)
        assert largest == int(largest) and 2 * int(largest) < q
        plaintext = coder.encode([largest, -largest, 1.0], scale=1.0, level=level)
        assert exact_coefficients(ctx, plaintext)[:3] == [int(largest), -int(largest), 1]
        decoded = coder.decode(plaintext)
        bound = 4 * (level + 1) * EPS * largest
        assert decoded[2] == 1.0
        assert abs(decoded[0] - largest) <= bound and abs(decoded[1] + largest) <= bound


def test_every_double_below_half_the_modulus_is_accepted() -> None:
    """(q - 1) / 2 is valid, though the double q / 2 rounds down to it: the bound is compared exactly."""
    ctx = context((60, 60, 60))
    q = ctx.ring(0).basis.product
    half_down = (q - 1) // 2
    assert float(half_down) == half_down == q / 2  # representable, and the double nearest q / 2
    plaintext = CoefficientEncoder(ctx).encode([float(half_down)], scale=1.0, level=0)
    assert exact_coefficients(ctx, plaintext)[0] == half_down


@pytest.mark.parametrize("scale", [0.5, 2.0**45], ids=["below-1", "above-q0"])
def test_encode_refuses_the_scales_decode_would_refuse(scale: float) -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(heedu.ScaleOutOfBoundsError, match="an encoding at level 0"):
        coder.encode([0.0], scale=scale, level=0)


# --------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------


@given(st.data())
def test_values_reaching_half_the_modulus_are_refused(data: st.DataObject) -> None:
    ctx = data.draw(st.sampled_from(contexts()))
    level = data.draw(st.integers(0, ctx.max_level))
    q = ctx.ring(level).basis.product
    scale = 2.0 ** data.draw(st.integers(0, min(40, q.bit_length() - 1)))
    # 2^(bits - 1) > q / 2 because q < 2^bits; scale a power of two, so value * scale is exact.
    magnitude = 2.0 ** (q.bit_length() - 1) * data.draw(st.floats(1.0, 2.0**10))
    sign = data.draw(st.sampled_from([1.0, -1.0]))
    values = data.draw(st.lists(st.floats(-1.0, 1.0), min_size=0, max_size=ctx.poly_modulus_degree - 1))
    values.insert(data.draw(st.integers(0, len(values))), sign * magnitude / scale)
    coder = CoefficientEncoder(ctx)
    with pytest.raises(heedu.EncodingError, match=f"level-{level} modulus"):
        coder.encode(values, scale=scale, level=level)
    with pytest.raises(heedu.EncodingError, match=f"level-{level} modulus"):
        coder.residues([values, values], scale=scale, level=level)


def test_a_value_fitting_one_level_is_refused_at_a_lower_one() -> None:
    ctx = context()
    coder = CoefficientEncoder(ctx)
    value = 2.0**50  # scale 1: fits in 70 bits, not in 40
    assert exact_coefficients(ctx, coder.encode([value], scale=1.0, level=1))[0] == 2**50
    with pytest.raises(heedu.EncodingError, match="level-0"):
        coder.encode([value], scale=1.0, level=0)


def test_overflow_of_double_precision_is_refused() -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(heedu.EncodingError, match="overflow"):
        coder.encode([1e300], scale=2.0**60)  # a valid scale, a value it takes past 1.8e308


@pytest.mark.parametrize(
    "values",
    [[math.nan], [1.0, math.inf], [-math.inf], [1.0 + 2.0j], np.array([0.5], dtype=np.complex128), ["one"], [None]],
    ids=["nan", "inf", "-inf", "complex", "complex-array", "string", "none"],
)
def test_non_real_or_non_finite_values_are_refused(values: object) -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(heedu.EncodingError):
        coder.encode(values)
    with pytest.raises(heedu.EncodingError):
        coder.residues([values])


@pytest.mark.parametrize(
    "values", [[0.0] * 17, 1.0, [[1.0, 2.0]], np.zeros((2, 2))], ids=["17-values", "scalar", "nested", "matrix"]
)
def test_encode_wants_one_row_of_at_most_n_values(values: object) -> None:
    with pytest.raises(heedu.EncodingError):
        CoefficientEncoder(context()).encode(values)


@pytest.mark.parametrize("values", [1.0, np.zeros((2, 17))], ids=["scalar", "17-per-row"])
def test_residues_wants_rows_of_at_most_n_values(values: object) -> None:
    with pytest.raises(heedu.EncodingError):
        CoefficientEncoder(context()).residues(values)


@pytest.mark.parametrize("scale", [0, 0.0, -1.0, -(2.0**20), math.nan, math.inf, -math.inf, True, "2", 1j, [2.0]])
def test_bad_scales_raise_scale_out_of_bounds(scale: object) -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        coder.encode([1.0], scale=scale)  # type: ignore[arg-type]
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        coder.residues([1.0], scale=scale)  # type: ignore[arg-type]
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        check_encoding_scale(scale)


def test_good_scales_are_floats() -> None:
    for scale in (1, 2.0**-5, np.float32(4.0), np.int64(8), 2.0**100):
        assert check_encoding_scale(scale) == float(scale)
        assert type(check_encoding_scale(scale)) is float
    assert CoefficientEncoder(context()).encode([1.0]).scale == context().scale


@pytest.mark.parametrize("level", [-1, 2, 100, True, 1.0, "0", np.int64(-1)])
def test_bad_levels_raise_level_error(level: object) -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(heedu.LevelError):
        coder.encode([1.0], level=level)  # type: ignore[arg-type]
    with pytest.raises(heedu.LevelError):
        coder.residues([1.0], level=level)  # type: ignore[arg-type]


def test_decode_refuses_what_is_not_a_plaintext_of_the_context() -> None:
    coder = CoefficientEncoder(context())
    with pytest.raises(TypeError):
        coder.decode(np.zeros((2, 16), dtype=np.uint64))  # type: ignore[arg-type]
    foreign = CoefficientEncoder(context((60, 60, 60))).encode([1.0])
    with pytest.raises(heedu.HeeduError):
        coder.decode(foreign)


# --------------------------------------------------------------------------------------
# Products are negacyclic convolutions (what the coefficient protocol relies on)
# --------------------------------------------------------------------------------------


def negacyclic_integers(a: list[int], b: list[int]) -> list[int]:
    """The negacyclic product over the integers, by definition (:math:`X^N = -1`), no modulus."""
    n = len(a)
    out = [0] * n
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            if i + j < n:
                out[i + j] += ai * bj
            else:
                out[i + j - n] -= ai * bj
    return out


@given(st.data())
def test_product_of_encodings_is_the_negacyclic_convolution(data: st.DataObject) -> None:
    ctx = data.draw(st.sampled_from(contexts()))
    n = ctx.poly_modulus_degree
    level = data.draw(st.integers(0, ctx.max_level))
    scale_a, scale_b = (2.0 ** data.draw(st.integers(0, 14)) for _ in range(2))
    integers = st.integers(-(2**15), 2**15)
    a = data.draw(st.lists(integers, min_size=0, max_size=n))
    b = data.draw(st.lists(integers, min_size=0, max_size=n))
    coder = CoefficientEncoder(ctx)
    # a_i / scale_a is exact (a power of two), so the encodings hold exactly the integers a and b.
    pa = coder.encode([x / scale_a for x in a], scale=scale_a, level=level)
    pb = coder.encode([x / scale_b for x in b], scale=scale_b, level=level)
    ring = ctx.ring(level)
    product = Plaintext(modarith.mul_mod(pa.data, pb.data, ring.q), level, scale_a * scale_b)

    a_full, b_full = a + [0] * (n - len(a)), b + [0] * (n - len(b))
    residues = ring.ntt.inverse(product.data)
    for row, q in zip(residues.tolist(), ring.moduli):
        assert row == negacyclic_multiply_schoolbook(a_full, b_full, q)
    expected = negacyclic_integers(a_full, b_full)  # |.| <= 16 * 2^30 < Q / 2: no wrap-around
    assert exact_coefficients(ctx, product) == expected
    # Decoding divides by scale_a * scale_b: the convolution of the encoded values, exactly.
    assert coder.decode(product).tolist() == [c / (scale_a * scale_b) for c in expected]


def test_shifted_weights_put_an_inner_product_in_the_constant_coefficient() -> None:
    r"""The one-line reason for the layout: :math:`\sum x_i X^i \cdot \sum w_i X^{-i}` has :math:`x \cdot w` at 0."""
    ctx = context()
    n = ctx.poly_modulus_degree
    x, w = [3, -1, 4, 1, -5], [2, 7, -1, 8, 2]
    w_poly = [0] * n
    w_poly[0] = w[0]
    for i in range(1, len(w)):
        w_poly[n - i] = -w[i]  # X^{-i} = -X^{N-i}
    coder = CoefficientEncoder(ctx)
    px, pw = coder.encode(x, scale=1.0), coder.encode(w_poly, scale=1.0)
    ring = ctx.ring(ctx.max_level)
    product = Plaintext(modarith.mul_mod(px.data, pw.data, ring.q), ctx.max_level, 1.0)
    assert coder.decode(product)[0] == sum(xi * wi for xi, wi in zip(x, w)) == -7


def test_encrypted_product_decrypts_to_the_convolution() -> None:
    """The protocol's step without a special prime: Enc(x) times an encoded w, decrypted, is x * w (negacyclic).

    Noise bound: a fresh encryption without a special prime has noise :math:`ue + e_0 + e_1 s` with
    coefficients at most :math:`2 \\cdot 19 N + 19` (Gaussians clipped at 19, ternary u and s); times the
    plaintext :math:`w` it grows by at most :math:`\\|w\\|_1`.
    """
    ctx = context()
    n = ctx.poly_modulus_degree
    keygen = heedu.KeyGenerator(ctx, random_source=heedu.SeededRandomSource(b"coefficient encoder test seed 01"))
    coder = CoefficientEncoder(ctx)
    x = [0.5, -1.25, 2.0, 0.75, 3.0, -0.5] + [0.0] * 10
    w = [1, -2, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1]
    scale_x = 2.0**20
    ciphertext = heedu.Encryptor(ctx, keygen.public_key()).encrypt(coder.encode(x, scale=scale_x, level=0))
    product = heedu.Evaluator(ctx).multiply_plain(ciphertext, coder.encode(w, scale=1.0, level=0))
    decrypted = heedu.Decryptor(ctx, keygen.secret_key()).decrypt(product)
    expected = np.array(negacyclic_integers([round(v * scale_x) for v in x], w)) / scale_x
    bound = (2 * 19 * n + 19) * sum(abs(v) for v in w) / scale_x
    assert np.max(np.abs(coder.decode(decrypted) - expected)) <= bound
