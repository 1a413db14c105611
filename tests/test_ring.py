r"""Tests for heedu.ring: RNS polynomials in coefficient and NTT form.

Oracles: per-prime schoolbook negacyclic products (``heedu.ntt``'s slow reference),
the automorphism :math:`X \mapsto X^g` by its definition, the coefficient-form
``RNSBasis.divide_and_round_by_last``, and exact integer arithmetic.
"""

from __future__ import annotations

from math import isqrt, prod

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from heedu.errors import ContextMismatchError, FormError, ParameterError, ShapeError
from heedu.ntt import negacyclic_multiply_schoolbook
from heedu.ring import PolyRing, RNSPoly
from heedu.rns import RNSBasis
from tests.strategies import (
    automorphism_reference,
    degrees_and_moduli,
    largest_ntt_primes,
    residue_arrays,
    signed_coefficients,
)


@st.composite
def rings(draw: st.DrawFn, min_k: int = 1, max_k: int = 3, max_n: int = 32) -> PolyRing:
    n, moduli = draw(degrees_and_moduli(max_n=max_n, min_size=min_k, max_size=max_k))
    return PolyRing(n, moduli)


@st.composite
def ring_and_polys(
    draw: st.DrawFn, count: int = 2, batch: tuple[int, ...] = (), min_k: int = 1, max_k: int = 3
) -> tuple[PolyRing, list[RNSPoly]]:
    """A toy ring and ``count`` random polynomials in coefficient form."""
    ring = draw(rings(min_k=min_k, max_k=max_k))
    polys = [RNSPoly(ring, draw(residue_arrays(ring.moduli, ring.n, batch)), is_ntt=False) for _ in range(count)]
    return ring, polys


def rows(poly: RNSPoly) -> list[list[int]]:
    return [[int(c) for c in row] for row in poly.data]


def negacyclic_over_integers(a: list[int], b: list[int]) -> list[int]:
    n = len(a)
    out = [0] * n
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if i + j < n:
                out[i + j] += x * y
            else:
                out[i + j - n] -= x * y
    return out


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def test_x_to_the_n_is_minus_one() -> None:
    ring = PolyRing(8, [17, 97])
    x = ring.from_signed(np.array([0, 1, 0, 0, 0, 0, 0, 0]))
    assert (x.to_ntt() ** 8).to_coeff().to_signed().tolist() == [-1, 0, 0, 0, 0, 0, 0, 0]
    assert (x.to_ntt() ** 3).to_coeff().to_signed().tolist() == [0, 0, 0, 1, 0, 0, 0, 0]


def test_from_signed_reduces_each_row() -> None:
    ring = PolyRing(4, [17, 97])
    poly = ring.from_signed(np.array([-1, 2, -20, 0]))
    assert not poly.is_ntt
    assert rows(poly) == [[16, 2, 14, 0], [96, 2, 77, 0]]
    assert ring.from_signed(np.array([-1, 2, -20, 0]), is_ntt_output=True).is_ntt


# --------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ring_and_polys())
def test_add_sub_neg_in_coefficient_form(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a, b) = case
    for op, expected in (
        (a + b, lambda x, y, q: (x + y) % q),
        (a - b, lambda x, y, q: (x - y) % q),
        (-a, lambda x, y, q: -x % q),
    ):
        assert not op.is_ntt
        assert rows(op) == [
            [expected(x, y, q) for x, y in zip(ra, rb)] for ra, rb, q in zip(rows(a), rows(b), ring.moduli)
        ]


@settings(max_examples=60, deadline=None)
@given(ring_and_polys())
def test_add_sub_neg_commute_with_the_ntt(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    _, (a, b) = case
    fa, fb = a.to_ntt(), b.to_ntt()
    assert np.array_equal((fa + fb).to_coeff().data, (a + b).data)
    assert np.array_equal((fa - fb).to_coeff().data, (a - b).data)
    assert np.array_equal((-fa).to_coeff().data, (-a).data)
    assert (fa + fb).is_ntt and (fa - fb).is_ntt and (-fa).is_ntt


@settings(max_examples=60, deadline=None)
@given(ring_and_polys())
def test_mul_is_the_negacyclic_product(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a, b) = case
    product = a.to_ntt() * b.to_ntt()
    assert product.is_ntt
    expected = [negacyclic_multiply_schoolbook(ra, rb, q) for ra, rb, q in zip(rows(a), rows(b), ring.moduli)]
    assert rows(product.to_coeff()) == expected


@settings(max_examples=30, deadline=None)
@given(ring_and_polys(count=3))
def test_ring_laws(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    _, polys = case
    a, b, c = (p.to_ntt() for p in polys)
    assert np.array_equal((a * (b + c)).data, (a * b + a * c).data)
    assert np.array_equal((a * b).data, (b * a).data)
    assert np.array_equal((a - a).data, np.zeros_like(a.data))
    assert np.array_equal((a + (-a)).data, np.zeros_like(a.data))


@settings(max_examples=30, deadline=None)
@given(ring_and_polys(count=1))
def test_positive_powers_are_repeated_products(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    _, (a,) = case
    x = a.to_ntt()
    assert np.array_equal((x**1).data, x.data)
    assert np.array_equal((x**3).data, (x * x * x).data)


@pytest.mark.parametrize("exponent", [0, -1])
def test_non_positive_powers_are_correct_or_refused(exponent: int) -> None:
    ring = PolyRing(8, [17, 97])
    x = ring.from_signed(np.array([0, 2, 0, 0, 0, 0, 0, 0])).to_ntt()
    try:
        result = x**exponent
    except (ValueError, TypeError, ArithmeticError):
        return
    one = [1, 0, 0, 0, 0, 0, 0, 0]
    if exponent == 0:
        assert result.to_coeff().to_signed().tolist() == one
    else:  # 2X is a unit here (X^-1 = -X^7), so an inverse would also be acceptable
        assert (result * x).to_coeff().to_signed().tolist() == one


@settings(max_examples=30, deadline=None)
@given(ring_and_polys(batch=(2, 3)))
def test_operations_batch_over_leading_axes(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a, b) = case
    fa, fb = a.to_ntt(), b.to_ntt()
    product, total = fa * fb, a + b
    assert product.data.shape == (2, 3, ring.k, ring.n)
    for i in range(2):
        for j in range(3):
            ai, bi = RNSPoly(ring, a.data[i, j], False), RNSPoly(ring, b.data[i, j], False)
            assert np.array_equal(product.data[i, j], (ai.to_ntt() * bi.to_ntt()).data)
            assert np.array_equal(total.data[i, j], (ai + bi).data)
            assert np.array_equal(fa.data[i, j], ai.to_ntt().data)


@settings(max_examples=30, deadline=None)
@given(ring_and_polys())
def test_operations_do_not_modify_their_operands(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    _, (a, b) = case
    a_before, b_before = a.data.copy(), b.data.copy()
    _ = a + b, a - b, -a, a.apply_galois(3 % (2 * a.ring.n)), a.to_ntt()
    fa, fb = a.to_ntt(), b.to_ntt()
    fa_before = fa.data.copy()
    _ = fa * fb, fa.to_coeff(), fa.apply_galois(2 * a.ring.n - 1)
    assert np.array_equal(a.data, a_before)
    assert np.array_equal(b.data, b_before)
    assert np.array_equal(fa.data, fa_before)


# --------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(ring_and_polys(count=1))
def test_to_ntt_and_to_coeff_round_trip(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a,) = case
    forward = a.to_ntt()
    assert forward.is_ntt and not a.is_ntt
    assert np.array_equal(forward.data, ring.ntt.forward(a.data))
    back = forward.to_coeff()
    assert not back.is_ntt
    assert np.array_equal(back.data, a.data)
    # Converting to the form a polynomial is already in changes nothing.
    assert np.array_equal(forward.to_ntt().data, forward.data)
    assert np.array_equal(a.to_coeff().data, a.data)


def test_form_errors() -> None:
    ring = PolyRing(8, largest_ntt_primes(8, 30, 2))
    coeff = ring.from_signed(np.arange(8))
    ntt_form = coeff.to_ntt()
    with pytest.raises(FormError):
        coeff * coeff
    with pytest.raises(FormError):
        coeff * ntt_form
    with pytest.raises(FormError):
        ntt_form * coeff
    with pytest.raises(FormError):
        coeff + ntt_form
    with pytest.raises(FormError):
        ntt_form - coeff
    with pytest.raises(FormError):
        ntt_form.to_signed()


def test_mixing_rings_or_types_is_refused() -> None:
    primes = largest_ntt_primes(8, 30, 3)
    first, second = PolyRing(8, primes[:2]), PolyRing(8, primes[1:])
    a, b = first.zeros(), second.zeros()
    with pytest.raises(ContextMismatchError):
        a + b
    with pytest.raises(ContextMismatchError):
        a * b
    with pytest.raises(TypeError):
        a + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        a * a.data  # type: ignore[operator]


@pytest.mark.parametrize(
    "data",
    [
        np.zeros((2, 8), dtype=np.int64),
        np.zeros((3, 8), dtype=np.uint64),
        np.zeros((2, 4), dtype=np.uint64),
        np.zeros(16, dtype=np.uint64),
    ],
)
def test_rnspoly_rejects_bad_data(data: np.ndarray) -> None:
    ring = PolyRing(8, largest_ntt_primes(8, 30, 2))
    with pytest.raises(ShapeError):
        RNSPoly(ring, data, is_ntt=False)


def test_from_signed_rejects_the_wrong_length() -> None:
    ring = PolyRing(8, largest_ntt_primes(8, 30, 2))
    with pytest.raises(ShapeError):
        ring.from_signed(np.zeros(7, dtype=np.int64))


def test_zeros() -> None:
    ring = PolyRing(16, largest_ntt_primes(16, 30, 3))
    z = ring.zeros((2,), is_ntt=False)
    assert z.data.shape == (2, 3, 16)
    assert z.data.dtype == np.uint64
    assert not z.is_ntt and not z.data.any()
    assert ring.zeros().is_ntt


# --------------------------------------------------------------------------------------
# Galois automorphisms
# --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ring_and_polys(count=1), st.data())
def test_apply_galois_in_both_forms_is_the_automorphism(
    case: tuple[PolyRing, list[RNSPoly]], data: st.DataObject
) -> None:
    ring, (a,) = case
    g = data.draw(st.integers(0, ring.n - 1).map(lambda k: 2 * k + 1))
    expected = [automorphism_reference(row, g, q) for row, q in zip(rows(a), ring.moduli)]
    in_coeff = a.apply_galois(g)
    in_ntt = a.to_ntt().apply_galois(g)
    assert not in_coeff.is_ntt and in_ntt.is_ntt
    assert rows(in_coeff) == expected
    assert rows(in_ntt.to_coeff()) == expected


@settings(max_examples=30, deadline=None)
@given(ring_and_polys(), st.data())
def test_apply_galois_is_a_ring_homomorphism(case: tuple[PolyRing, list[RNSPoly]], data: st.DataObject) -> None:
    ring, (a, b) = case
    g = data.draw(st.integers(0, ring.n - 1).map(lambda k: 2 * k + 1))
    fa, fb = a.to_ntt(), b.to_ntt()
    assert np.array_equal((fa * fb).apply_galois(g).data, (fa.apply_galois(g) * fb.apply_galois(g)).data)


@pytest.mark.parametrize("g", [0, 2, 16, 17, -1])
@pytest.mark.parametrize("is_ntt", [False, True])
def test_apply_galois_rejects_bad_elements(g: int, is_ntt: bool) -> None:
    ring = PolyRing(8, largest_ntt_primes(8, 30, 2))
    poly = ring.from_signed(np.arange(8), is_ntt_output=is_ntt)
    with pytest.raises(ParameterError):
        poly.apply_galois(g)


# --------------------------------------------------------------------------------------
# Rescaling support and exact lifts
# --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(ring_and_polys(count=1, min_k=2, max_k=4))
def test_divide_and_round_by_last_ntt_matches_coefficient_form(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a,) = case
    expected = RNSBasis(ring.moduli).divide_and_round_by_last(a.data)
    got = ring.divide_and_round_by_last_ntt(a.to_ntt().data)
    assert got.shape == (ring.k - 1, ring.n)
    assert np.array_equal(ring.without_last.ntt.inverse(got), expected)


@settings(max_examples=20, deadline=None)
@given(ring_and_polys(count=1, min_k=2, max_k=3, batch=(2,)))
def test_divide_and_round_by_last_ntt_batches(case: tuple[PolyRing, list[RNSPoly]]) -> None:
    ring, (a,) = case
    got = ring.divide_and_round_by_last_ntt(a.to_ntt().data)
    assert got.shape == (2, ring.k - 1, ring.n)
    for i in range(2):
        expected = ring.basis.divide_and_round_by_last(a.data[i])
        assert np.array_equal(ring.without_last.ntt.inverse(got[i]), expected)


@settings(max_examples=60, deadline=None)
@given(rings(), st.data())
def test_to_signed_inverts_from_signed(ring: PolyRing, data: st.DataObject) -> None:
    Q = prod(ring.moduli)
    bound = min((Q - 1) // 2, 2**63 - 1)
    values = data.draw(signed_coefficients(ring.n, bound, batch=(2,)))
    poly = ring.from_signed(values)
    signed = poly.to_signed()
    assert signed.dtype == np.int64
    assert signed.shape == (2, ring.n)
    assert np.array_equal(signed, values)


@settings(max_examples=40, deadline=None)
@given(rings(min_k=2), st.data())
def test_to_signed_of_a_product_is_the_exact_integer_product(ring: PolyRing, data: st.DataObject) -> None:
    Q = prod(ring.moduli)
    bound = min(isqrt((Q // 2 - 1) // ring.n), 2**20)  # n * bound^2 < Q/2: no wrap-around
    assume(bound >= 1)
    a = data.draw(signed_coefficients(ring.n, bound))
    b = data.draw(signed_coefficients(ring.n, bound))
    product = (ring.from_signed(a).to_ntt() * ring.from_signed(b).to_ntt()).to_coeff().to_signed()
    assert product.tolist() == negacyclic_over_integers(a.tolist(), b.tolist())


def test_to_signed_refuses_values_beyond_int64() -> None:
    ring = PolyRing(8, largest_ntt_primes(8, 61, 2))
    values = [2**63, -(2**63) - 1, 0, 0, 0, 0, 0, 0]
    poly = RNSPoly(ring, ring.basis.decompose(values), is_ntt=False)
    with pytest.raises(OverflowError):
        poly.to_signed()
    assert ring.basis.compose(poly.data, centered=True) == values


def test_ring_identity_and_the_ring_without_the_last_prime() -> None:
    primes = largest_ntt_primes(16, 40, 3)
    ring = PolyRing(16, primes)
    assert ring == PolyRing(16, primes)
    assert hash(ring) == hash(PolyRing(16, primes))
    assert ring != PolyRing(16, primes[:2])
    assert ring != PolyRing(32, largest_ntt_primes(32, 40, 3))
    assert ring.without_last == PolyRing(16, primes[:2])
    assert ring.k == 3
