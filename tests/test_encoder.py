r"""The CKKS encoder: canonical embedding, slot order, scaling, rounding, and its typed errors.

Notation: :math:`N` the ring degree, :math:`\zeta = e^{i\pi/N}`, slot ``j`` holds
:math:`m(\zeta^{3^j \bmod 2N})`, :math:`\Delta` the scale. Floating-point tolerances use the
standard summation bound: a sum of :math:`N` products computed in float64 is off by at most
about :math:`N \varepsilon \sum |\text{terms}|` (Higham, *Accuracy and Stability*, eq. 3.5);
the Vandermonde oracle adds the error of ``exp`` at arguments up to :math:`2\pi N`, another
:math:`\approx 2\pi N \varepsilon` per entry. ``FP`` below is 16 (> 1 + 2π, with margin) times
:math:`N \varepsilon`.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import heedu
from heedu.encoder import (
    CKKSEncoder,
    embed_reference,
    embedding_matrix,
    inverse_embed_reference,
    slot_exponents,
)
from heedu.plaintext import Plaintext

EPS = float(np.finfo(np.float64).eps)
FP = 16.0  # see the module docstring: floating-point error per unit of N * eps * (sum of |terms|)

DEGREES = st.sampled_from([2, 4, 8, 16, 32, 64, 128, 256])


@cache
def encoder_for(n: int) -> CKKSEncoder:
    """An encoder for degree ``n`` (two 30-bit primes, scale 2^20): only its embedding is used."""
    params = heedu.CKKSParameters(
        poly_modulus_degree=n, coeff_modulus_bits=(30, 30), scale=2.0**20, allow_insecure=True
    )
    return CKKSEncoder(heedu.CKKSContext(params))


@cache
def wide_context() -> heedu.CKKSContext:
    """N = 16 with 160 bits of data modulus at the top level, room for scales far above 2^62."""
    params = heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(60, 50, 50, 60), scale=2.0**30,
                                  allow_insecure=True)
    return heedu.CKKSContext(params)


def finite_floats(bound: float) -> st.SearchStrategy[float]:
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


def complex_vectors(max_len: int, bound: float, min_len: int = 1) -> st.SearchStrategy[np.ndarray]:
    return arrays(
        np.complex128,
        st.integers(min_len, max_len),
        elements=st.complex_numbers(max_magnitude=bound, allow_nan=False, allow_infinity=False),
    )


def real_vectors(max_len: int, bound: float, min_len: int = 1) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, st.integers(min_len, max_len), elements=finite_floats(bound))


@st.composite
def polynomials(draw: st.DrawFn, bound: float = 1e6) -> np.ndarray:
    n = draw(DEGREES)
    return draw(arrays(np.float64, n, elements=finite_floats(bound)))


def automorphism(coefficients: np.ndarray, galois_elt: int) -> np.ndarray:
    r""":math:`m(X) \mapsto m(X^g)` on real coefficients, written out: :math:`X^{N+k} = -X^k`."""
    n = len(coefficients)
    out = np.zeros(n)
    for k, c in enumerate(coefficients):
        e = k * galois_elt % (2 * n)
        if e < n:
            out[e] += c
        else:
            out[e - n] -= c
    return out


def exact_coefficients(context: heedu.CKKSContext, plaintext: Plaintext) -> list[int]:
    """The plaintext's integer coefficients, centered, through Python-int CRT (no floats)."""
    ring = context.ring(plaintext.level)
    return ring.basis.compose(ring.ntt.inverse(plaintext.data), centered=True)


def half_even(x: Fraction) -> int:
    """Python's round() on a Fraction rounds half to even, exactly."""
    return round(x)


# ---------------------------------------------------------------------------- embedding


@given(polynomials())
def test_fft_embedding_matches_vandermonde_oracle(coefficients):
    n = len(coefficients)
    fast = encoder_for(n).embed(coefficients)
    slow = embed_reference(coefficients)
    assert fast.shape == slow.shape == (n // 2,)
    # both are sums of N terms of size |c_k|: error <= FP * N * eps * sum |c_k|
    tolerance = FP * n * EPS * float(np.sum(np.abs(coefficients))) + 1e-300
    assert np.max(np.abs(fast - slow)) <= tolerance


@given(st.data())
def test_fft_inverse_embedding_matches_vandermonde_oracle(data):
    n = data.draw(DEGREES)
    slots = data.draw(complex_vectors(n // 2, 1e6))
    fast = encoder_for(n).inverse_embed(slots)
    slow = inverse_embed_reference(slots, n)
    assert fast.shape == slow.shape == (n,)
    assert fast.dtype == np.float64
    # each coefficient is (2/N) * a sum of N/2 terms of size |z_j|
    tolerance = FP * n * EPS * (2.0 / n) * float(np.sum(np.abs(slots))) + 1e-300
    assert np.max(np.abs(fast - slow)) <= tolerance


@given(st.data())
def test_embedding_is_a_bijection_between_real_polynomials_and_slots(data):
    n = data.draw(DEGREES)
    encoder = encoder_for(n)
    coefficients = data.draw(arrays(np.float64, n, elements=finite_floats(1e6)))
    slots = data.draw(complex_vectors(n // 2, 1e6, min_len=n // 2))
    # Two transforms in a row: twice the single-transform bound, in the norm of the input.
    back = encoder.inverse_embed(encoder.embed(coefficients))
    assert np.max(np.abs(back - coefficients)) <= 2 * FP * n * EPS * float(np.sum(np.abs(coefficients))) + 1e-300
    again = encoder.embed(encoder.inverse_embed(slots))
    assert np.max(np.abs(again - slots)) <= 2 * FP * n * EPS * 2 * float(np.sum(np.abs(slots))) + 1e-300


def test_vandermonde_rows_are_the_powers_of_three():
    n = 32
    assert slot_exponents(8).tolist() == [1, 3, 9, 11]
    exponents = slot_exponents(n)
    assert exponents.tolist() == [pow(3, j, 2 * n) for j in range(n // 2)]
    # with their negatives they are exactly the odd residues mod 2N: the N roots of X^N + 1
    assert sorted([*exponents.tolist(), *(2 * n - exponents).tolist()]) == list(range(1, 2 * n, 2))
    matrix = embedding_matrix(n)
    assert matrix.shape == (n // 2, n)
    assert np.allclose(matrix[:, 1], np.exp(1j * np.pi * exponents / n), rtol=0, atol=1e-15)


@given(st.data())
def test_embedding_turns_negacyclic_products_into_slot_products(data):
    n = data.draw(DEGREES)
    small_ints = arrays(np.int64, n, elements=st.integers(-100, 100))
    a, b = data.draw(small_ints), data.draw(small_ints)
    full = np.convolve(a, b)  # exact in int64
    product = full[:n].copy()
    product[: n - 1] -= full[n:]  # X^N = -1
    encoder = encoder_for(n)
    lhs = encoder.embed(product.astype(np.float64))
    rhs = encoder.embed(a.astype(np.float64)) * encoder.embed(b.astype(np.float64))
    # lhs: one embedding of sum|ab|; rhs: |A| dB + |B| dA + dA dB with |A| <= sum|a|
    sa, sb = float(np.abs(a).sum()), float(np.abs(b).sum())
    tolerance = FP * n * EPS * (float(np.abs(product).sum()) + 3 * sa * sb) + 1e-300
    assert np.max(np.abs(lhs - rhs)) <= tolerance


@given(st.data())
def test_automorphism_by_powers_of_three_rotates_slots_and_minus_one_conjugates(data):
    n = data.draw(DEGREES.filter(lambda d: d >= 4))
    encoder = encoder_for(n)
    coefficients = data.draw(arrays(np.float64, n, elements=finite_floats(1e3)))
    r = data.draw(st.integers(-2 * n, 2 * n))
    slots = encoder.embed(coefficients)
    tolerance = 2 * FP * n * EPS * float(np.abs(coefficients).sum()) + 1e-300
    rotated = encoder.embed(automorphism(coefficients, pow(3, r % (n // 2), 2 * n)))
    assert np.max(np.abs(rotated - np.roll(slots, -r))) <= tolerance
    conjugated = encoder.embed(automorphism(coefficients, 2 * n - 1))
    assert np.max(np.abs(conjugated - np.conj(slots))) <= tolerance


# ---------------------------------------------------------------------------- encode / decode


def slot_bound(n: int, scale: float, slots: np.ndarray, coefficients: np.ndarray) -> float:
    r"""Largest slot error of decode(encode(z)) allowed by theory.

    decode(encode(z)) - z = sigma(pt/Delta - m~) + sigma(m~ - m) + (float error of decode's embedding),
    where m~ is the encoder's float inverse embedding of z: the first term is at most N * 1/(2 Delta)
    (N rounding errors of at most 1/2, each times a root of unity); m~ - m is at most the inverse
    embedding's float error per coefficient, so sigma(m~ - m) is at most N times that.
    """
    inverse_fp = FP * n * EPS * (2.0 / n) * float(np.sum(np.abs(slots)))
    embed_fp = FP * n * EPS * float(np.sum(np.abs(coefficients))) / scale
    return n / (2 * scale) + n * inverse_fp + embed_fp


@given(st.data(), st.booleans())
def test_round_trip_error_is_bounded_by_the_rounding_of_each_coefficient(toy, data, complex_input):
    r"""Encoding rounds each of the N coefficients of :math:`\Delta\sigma^{-1}(z)` half to even: the
    integers are exactly the rounded products, and each slot moves by at most :math:`N/(2\Delta)`."""
    context, encoder = toy.context, toy.encoder
    n, magnitude = context.poly_modulus_degree, 1e3
    level = data.draw(st.integers(0, context.max_level))
    level_bits = context.ring(level).basis.product.bit_length()
    k = data.draw(st.integers(10, min(45, level_bits - 14)))  # 2^k * |m_k| <= 2^k * 2 * 1e3 < Q/2
    scale = 2.0**k
    vectors = complex_vectors if complex_input else real_vectors
    z = data.draw(vectors(context.slot_count, magnitude)).astype(np.complex128)
    plaintext = encoder.encode(z, scale=scale, level=level)
    assert (plaintext.level, plaintext.scale) == (level, scale)

    # coefficient level: exactly the half-to-even rounding of Delta * m~ (a power of two: exact product)
    coefficients = exact_coefficients(context, plaintext)
    assert coefficients == [half_even(Fraction(float(c)) * 2**k) for c in encoder.inverse_embed(z)]

    # slot level
    decoded = encoder.decode(plaintext, complex_output=True)
    padded = np.zeros(context.slot_count, dtype=np.complex128)
    padded[: len(z)] = z
    assert np.max(np.abs(decoded - padded)) <= slot_bound(n, scale, z, np.array(coefficients, dtype=np.float64))
    real = encoder.decode(plaintext)
    assert real.dtype == np.float64
    assert np.array_equal(real, decoded.real)


@pytest.mark.parametrize("j", range(16))
def test_one_hot_vector_lands_in_its_slot(toy, j):
    r"""Slot ``j`` is the value at :math:`\zeta^{3^j}`, checked by evaluating the polynomial directly."""
    context, encoder = toy.context, toy.encoder
    n, scale = context.poly_modulus_degree, context.scale
    value = 0.75 - 0.5j
    z = np.zeros(context.slot_count, dtype=np.complex128)
    z[j] = value
    plaintext = encoder.encode(z)
    coefficients = [Fraction(c) / Fraction(scale) for c in exact_coefficients(context, plaintext)]
    bound = n / (2 * scale) + 1e-12  # rounding (see above) plus float evaluation of 32 terms of size <= 1
    for i in range(context.slot_count):
        e = pow(3, i, 2 * n)
        point = sum(float(c) * complex(np.exp(1j * np.pi * e * k / n)) for k, c in enumerate(coefficients))
        assert abs(point - (value if i == j else 0)) <= bound, (i, j)
    decoded = encoder.decode(plaintext, complex_output=True)
    assert int(np.argmax(np.abs(decoded))) == j
    assert np.max(np.abs(decoded - z)) <= bound


def test_a_single_number_goes_to_slot_zero(toy):
    decoded = toy.encoder.decode(toy.encoder.encode(2.5))
    expected = np.zeros(toy.slots)
    expected[0] = 2.5
    assert np.max(np.abs(decoded - expected)) <= toy.n / (2 * toy.scale)


@given(st.data(), finite_floats(1e3))
def test_encode_constant_is_the_rounded_constant_polynomial(toy, data, value):
    context, encoder = toy.context, toy.encoder
    level = data.draw(st.integers(0, context.max_level))
    k = data.draw(st.integers(10, 28))
    scale = 2.0**k  # a power of two, so value * scale is exact and the reference is exact too
    plaintext = encoder.encode_constant(value, scale=scale, level=level)
    coefficients = exact_coefficients(context, plaintext)
    assert coefficients[0] == half_even(Fraction(value) * 2**k)
    assert coefficients[1:] == [0] * (context.poly_modulus_degree - 1)
    # a constant polynomial takes the same value at every root: only one rounding error, 1/(2 Delta)
    decoded = encoder.decode(plaintext, complex_output=True)
    assert np.max(np.abs(decoded - value)) <= 1 / (2 * scale) + 4 * EPS * abs(value) * context.poly_modulus_degree


@given(st.data())
def test_plaintext_lives_at_the_requested_level_and_scale(toy, data):
    context, encoder = toy.context, toy.encoder
    level = data.draw(st.integers(0, context.max_level))
    scale = data.draw(st.floats(1.0, 2.0**25))
    plaintext = encoder.encode(data.draw(real_vectors(context.slot_count, 10.0)), scale=scale, level=level)
    assert plaintext.level == level
    assert plaintext.scale == scale
    assert plaintext.data.shape == (level + 1, context.poly_modulus_degree)
    assert plaintext.data.dtype == np.uint64
    moduli = np.array(context.data_primes[: level + 1], dtype=np.uint64)[:, None]
    assert np.all(plaintext.data < moduli)
    assert f"level={level}" in repr(plaintext)


def test_default_level_and_scale_come_from_the_context(toy):
    plaintext = toy.encoder.encode([1.0, 2.0])
    assert plaintext.level == toy.context.max_level
    assert plaintext.scale == toy.context.scale


@given(st.data())
def test_scales_above_2_to_the_62_encode_exactly(data):
    """Coefficients beyond int64 go through mantissa * 2^E residues: compare with Python-int rounding."""
    context = wide_context()
    encoder = CKKSEncoder(context)
    level = data.draw(st.integers(1, context.max_level))
    level_bits = context.ring(level).basis.product.bit_length()
    z = data.draw(complex_vectors(context.slot_count, 1e3))
    k = data.draw(st.integers(62, level_bits - 16))  # |m_k| <= (2/N) sum|z| <= 2^11: 2^k |m_k| < Q/2
    scale = 2.0**k
    plaintext = encoder.encode(z, scale=scale, level=level)
    m = encoder.inverse_embed(z)  # the float coefficients the encoder scales and rounds
    expected = [half_even(Fraction(float(c)) * 2**k) for c in m]
    assert exact_coefficients(context, plaintext) == expected
    decoded = encoder.decode(plaintext, complex_output=True)
    padded = np.zeros(context.slot_count, dtype=np.complex128)
    padded[: len(z)] = z
    assert np.max(np.abs(decoded - padded)) <= slot_bound(context.poly_modulus_degree, scale, z, m)


def test_mixed_magnitudes_around_2_to_the_62_encode_exactly():
    context = wide_context()
    encoder = CKKSEncoder(context)
    values = [
        2.0**62, -(2.0**62), 2.0**62 - 1024, -(2.0**62) + 1024, 2.0**70 + 2.0**18, -(2.0**90), 3.0,
        -5.0, 0.0, 1.5 * 2.0**100, -(2.0**53) - 2, 2.0**63, -(2.0**63), 12345678912345.0, 2.0**61, 7.0 * 2.0**64,
    ]
    plaintext = encoder.encode_coefficients(np.array(values), scale=1.0, level=2)
    assert exact_coefficients(context, plaintext) == [int(v) for v in values]
    # a non-power-of-two scale: the float64 product (an integer above 2^53) is lifted exactly
    scale = 3.0 * 2.0**66
    coefficients = np.array([0.1, -0.7, 123.456, -1e3, 1.0, 0.0, 2.5e-3, -1e-5] * 2)
    plaintext = encoder.encode_coefficients(coefficients, scale=scale, level=2)
    assert exact_coefficients(context, plaintext) == [int(v) for v in np.rint(coefficients * scale)]
    decoded = encoder.decode(plaintext)
    # rounding error 1/(2 scale) per coefficient is negligible; float error of one embedding remains
    tolerance = FP * context.poly_modulus_degree * EPS * np.abs(coefficients).sum()
    assert np.max(np.abs(decoded - encoder.embed(coefficients).real)) <= tolerance


def test_rounding_is_half_to_even(toy):
    context, encoder = toy.context, toy.encoder
    halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 4.5, 1e6 + 0.5, -(1e6 + 1.5), 0.49999999999999994]
                      + [0.0] * (context.poly_modulus_degree - 12))
    expected = [0, 2, 2, 0, -2, -2, 4, -4, 4, 1000000, -1000002, 0] + [0] * (context.poly_modulus_degree - 12)
    assert exact_coefficients(context, encoder.encode_coefficients(halves, scale=1.0, level=0)) == expected
    # the same through the scale: 0.625 * 4 = 2.5 -> 2, 0.875 * 4 = 3.5 -> 4
    assert exact_coefficients(context, encoder.encode_constant(0.625, scale=4.0))[0] == 2
    assert exact_coefficients(context, encoder.encode_constant(0.875, scale=4.0))[0] == 4


@given(st.integers(-(2**30), 2**30))
def test_exact_halves_round_to_the_even_neighbour(toy, k):
    plaintext = toy.encoder.encode_constant(k + 0.5, scale=1.0, level=0)
    assert exact_coefficients(toy.context, plaintext)[0] == (k if k % 2 == 0 else k + 1)


def test_largest_value_that_fits_the_modulus_and_the_first_that_does_not(toy):
    context, encoder = toy.context, toy.encoder
    q0 = context.data_primes[0]
    top = (q0 - 1) // 2  # centered residues mod q0 cover [-(q0-1)/2, (q0-1)/2]
    for value in (top, -top):
        plaintext = encoder.encode_constant(float(value), scale=1.0, level=0)
        assert exact_coefficients(context, plaintext)[0] == value
        assert np.max(np.abs(encoder.decode(plaintext) - value)) <= FP * context.poly_modulus_degree * EPS * top
    with pytest.raises(heedu.EncodingError, match="level-0 modulus"):
        encoder.encode_constant(float(top + 1), scale=1.0, level=0)
    with pytest.raises(heedu.EncodingError, match="reduce the scale"):
        encoder.encode([1e3], scale=2.0**35, level=0)
    # the same vector fits one level up (70 bits): the error names the cure that works
    encoder.encode([1e3], scale=2.0**35, level=1)


# ---------------------------------------------------------------------------- errors


def test_too_many_values(toy):
    with pytest.raises(heedu.EncodingError, match=f"do not fit in {toy.slots} slots"):
        toy.encoder.encode(np.ones(toy.slots + 1))
    toy.encoder.encode(np.ones(toy.slots))  # exactly N/2 is fine


@pytest.mark.parametrize(
    "values",
    [
        [1.0, float("nan")],
        [float("inf")],
        [-float("inf"), 0.0],
        np.array([1 + 1j, complex(0, float("nan"))]),
        np.array([complex(float("inf"), 0)]),
    ],
)
def test_non_finite_values(toy, values):
    with pytest.raises(heedu.EncodingError, match="finite"):
        toy.encoder.encode(values)


@pytest.mark.parametrize("values", [["a", "b"], "text", [None], None, [1.0, "2"], np.array([object()])])
def test_non_numeric_values(toy, values):
    with pytest.raises(heedu.EncodingError):
        toy.encoder.encode(values)


def test_matrix_is_not_a_vector(toy):
    with pytest.raises(heedu.EncodingError, match="1-D"):
        toy.encoder.encode(np.ones((2, 2)))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1 + 2j, np.complex128(3.0)])
def test_encode_constant_needs_a_finite_real(toy, value):
    with pytest.raises(heedu.EncodingError):
        toy.encoder.encode_constant(value)


@pytest.mark.parametrize("level", [-1, 3, 99, 1.0, True, "1"])
def test_bad_levels(toy, level):
    with pytest.raises(heedu.LevelError, match=r"\[0, 2\]"):
        toy.encoder.encode([1.0], level=level)
    with pytest.raises(heedu.LevelError):
        toy.encoder.encode_constant(1.0, level=level)


@pytest.mark.parametrize("scale", [0, 0.0, -1.0, -(2.0**30), float("nan"), float("inf"), "2", 1j])
def test_bad_scales(toy, scale):
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        toy.encoder.encode([1.0], scale=scale)
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        toy.encoder.encode_constant(1.0, scale=scale)


def test_errors_are_typed_and_catchable_as_builtins(toy):
    for error in (heedu.EncodingError, heedu.LevelError, heedu.ScaleOutOfBoundsError):
        assert issubclass(error, heedu.HeeduError)
        assert issubclass(error, ValueError)
    with pytest.raises(ValueError):
        toy.encoder.encode(np.ones(toy.slots + 1))


def test_decode_takes_a_plaintext(toy):
    with pytest.raises(TypeError, match="Plaintext"):
        toy.encoder.decode(np.zeros((3, toy.n), dtype=np.uint64))
    ciphertext = toy.encrypt([1.0])
    with pytest.raises(TypeError, match="Ciphertext"):
        toy.encoder.decode(ciphertext)


# ---------------------------------------------------------------------------- regressions (bugs found and fixed)


@pytest.mark.parametrize(
    "kwargs", [{"level": np.int64(1)}, {"scale": np.float32(2.0**20)}, {"scale": np.int64(2**20)}], ids=repr
)
def test_numpy_scalars_are_valid_levels_and_scales(toy, kwargs):
    try:
        plaintext = toy.encoder.encode([1.0], **kwargs)
    except (heedu.LevelError, heedu.ScaleOutOfBoundsError) as error:
        raise AssertionError(f"encode rejected {kwargs}: {error}") from error
    assert plaintext.level == kwargs.get("level", toy.context.max_level)


def test_ragged_input_is_an_encoding_error(toy):
    with pytest.raises(heedu.EncodingError):
        toy.encoder.encode([[1.0, 2.0], [3.0]])


def test_encode_constant_of_a_string_is_an_encoding_error(toy):
    with pytest.raises(heedu.EncodingError):
        toy.encoder.encode_constant("1")


def test_encode_constant_rejects_numpy_complex64(toy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ComplexWarning is a RuntimeWarning, an error under pytest's config
        try:
            plaintext = toy.encoder.encode_constant(np.complex64(1 + 2j))
        except heedu.EncodingError:
            return
    raise AssertionError(f"accepted and decoded to {toy.encoder.decode(plaintext)[0]:.3f}")
