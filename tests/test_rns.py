r"""Tests for heedu.rns: CRT decompose/compose, the centered float lift, and divide-and-round.

The truth is Python's integers: a composed value must have the given residues,
and :math:`\lfloor x / q_{k-1} \rceil` is computed on the composed integer.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor, prod

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from heedu import rns
from heedu.errors import ParameterError, ShapeError
from tests.strategies import LARGEST_SUPPORTED_PRIME, SEAL_TUTORIAL_PRIMES, primes_up_to_61_bits, residue_arrays

EPSILON = 2.0**-53


def bases(min_size: int = 1, max_size: int = 5) -> st.SearchStrategy[list[int]]:
    """Distinct primes below 2^61 (any sizes mixed), as an RNS basis."""
    return st.lists(primes_up_to_61_bits(), min_size=min_size, max_size=max_size, unique=True)


@st.composite
def basis_and_values(
    draw: st.DrawFn, centered: bool, min_size: int = 1, max_size: int = 5
) -> tuple[list[int], list[int]]:
    """A basis and integers in [0, Q) (or (-Q/2, Q/2]), with the range ends emphasised."""
    moduli = draw(bases(min_size, max_size))
    Q = prod(moduli)
    low, high = (-((Q - 1) // 2), Q // 2) if centered else (0, Q - 1)
    ends = sorted({low, high, 0, min(1, high), max(-1, low)})
    values = draw(st.lists(st.one_of(st.sampled_from(ends), st.integers(low, high)), min_size=1, max_size=12))
    return moduli, values


@st.composite
def basis_and_residues(
    draw: st.DrawFn, min_size: int = 1, max_size: int = 5, batch: tuple[int, ...] = ()
) -> tuple[rns.RNSBasis, np.ndarray]:
    moduli = draw(bases(min_size, max_size))
    n = draw(st.integers(1, 8))
    return rns.RNSBasis(moduli), draw(residue_arrays(moduli, n, batch))


def centered(x: int, Q: int) -> int:
    x %= Q
    return x - Q if x > Q // 2 else x


# --------------------------------------------------------------------------------------
# decompose / compose
# --------------------------------------------------------------------------------------


def test_known_answer() -> None:
    basis = rns.RNSBasis([7, 11])
    residues = basis.decompose([-3, 20])
    assert residues.tolist() == [[4, 6], [8, 9]]
    assert basis.compose(residues) == [74, 20]
    assert basis.compose(residues, centered=True) == [-3, 20]


@settings(max_examples=150)
@given(basis_and_values(centered=False))
def test_compose_inverts_decompose(case: tuple[list[int], list[int]]) -> None:
    moduli, values = case
    basis = rns.RNSBasis(moduli)
    residues = basis.decompose(values)
    assert residues.dtype == np.uint64
    assert residues.shape == (len(moduli), len(values))
    assert residues.tolist() == [[v % q for v in values] for q in moduli]
    assert basis.compose(residues) == values


@settings(max_examples=150)
@given(basis_and_values(centered=True))
def test_centered_compose_inverts_decompose_including_negatives(case: tuple[list[int], list[int]]) -> None:
    moduli, values = case
    basis = rns.RNSBasis(moduli)
    assert basis.compose(basis.decompose(values), centered=True) == values


@settings(max_examples=100)
@given(basis_and_residues())
def test_compose_has_the_given_residues(case: tuple[rns.RNSBasis, np.ndarray]) -> None:
    basis, residues = case
    Q = basis.product
    values = basis.compose(residues)
    for j, x in enumerate(values):
        assert 0 <= x < Q
        assert [x % q for q in basis.moduli] == [int(r) for r in residues[:, j]]
    assert basis.compose(residues, centered=True) == [centered(x, Q) for x in values]


@given(bases(), st.lists(st.integers(-(2**400), 2**400), min_size=1, max_size=6))
def test_decompose_reduces_any_integer(moduli: list[int], values: list[int]) -> None:
    basis = rns.RNSBasis(moduli)
    Q = basis.product
    assert basis.compose(basis.decompose(values)) == [v % Q for v in values]


@settings(max_examples=100)
@given(basis_and_residues())
def test_mixed_radix_digits_reconstruct_the_value(case: tuple[rns.RNSBasis, np.ndarray]) -> None:
    basis, residues = case
    digits = basis.mixed_radix_digits(residues)
    assert len(digits) == len(basis)
    values = basis.compose(residues)
    for j, x in enumerate(values):
        total, weight = 0, 1
        for d, q in zip(digits, basis.moduli):
            assert 0 <= int(d[j]) < q
            total += int(d[j]) * weight
            weight *= q
        assert total == x


def test_basis_metadata() -> None:
    basis = rns.RNSBasis(SEAL_TUTORIAL_PRIMES)
    assert len(basis) == 4
    assert basis.product == prod(SEAL_TUTORIAL_PRIMES)
    assert basis.q.shape == (4, 1)
    assert basis.drop_last().moduli == SEAL_TUTORIAL_PRIMES[:3]
    assert "200" in repr(basis)  # log2(Q) of the tutorial chain


# --------------------------------------------------------------------------------------
# to_centered_float
# --------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(basis_and_values(centered=True, max_size=4))
@example(([2, 3], [1, -2, 0]))
@example(([LARGEST_SUPPORTED_PRIME, 3], [2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 2**60 + 1]))
def test_to_centered_float_is_exact_below_2_53_and_accurate_above(case: tuple[list[int], list[int]]) -> None:
    moduli, values = case
    basis = rns.RNSBasis(moduli)
    got = basis.to_centered_float(basis.decompose(values))
    assert got.dtype == np.float64
    assert got.shape == (len(values),)
    for f, x in zip(got.tolist(), values):
        if abs(x) < 2**53:
            assert f == x
        else:
            assert abs(Fraction(f) - x) < Fraction(1, 10**15) * abs(x)


@settings(max_examples=60)
@given(st.lists(primes_up_to_61_bits(), min_size=5, max_size=7, unique=True), st.data())
def test_to_centered_float_error_grows_at_most_linearly_with_the_number_of_primes(
    moduli: list[int], data: st.DataObject
) -> None:
    basis = rns.RNSBasis(moduli)
    Q = basis.product
    ends = [Q // 2, -((Q - 1) // 2), 0]
    values = data.draw(st.lists(st.one_of(st.sampled_from(ends), st.integers(-((Q - 1) // 2), Q // 2)), max_size=8))
    got = basis.to_centered_float(basis.decompose(values))
    bound = Fraction(2 * len(moduli) + 2) * Fraction(EPSILON)
    for f, x in zip(got.tolist(), values):
        if x == 0:
            assert f == 0.0
        else:
            assert abs(Fraction(f) - x) <= bound * abs(x)


@settings(max_examples=40)
@given(basis_and_residues(batch=(2, 3)))
def test_to_centered_float_batches(case: tuple[rns.RNSBasis, np.ndarray]) -> None:
    basis, residues = case
    got = basis.to_centered_float(residues)
    assert got.shape == (2, 3, residues.shape[-1])
    for i in range(2):
        for j in range(3):
            assert np.array_equal(got[i, j], basis.to_centered_float(residues[i, j]))


@pytest.mark.parametrize(
    "moduli",
    [[SEAL_TUTORIAL_PRIMES[0]], [SEAL_TUTORIAL_PRIMES[0], SEAL_TUTORIAL_PRIMES[3]]],
    ids=["one 60-bit prime", "two 60-bit primes"],
)
def test_to_centered_float_near_half_q_keeps_the_sign(moduli: list[int]) -> None:
    basis = rns.RNSBasis(moduli)
    Q = basis.product
    values = [Q // 2, -(Q // 2), Q // 2 - 1, -(Q // 2) + 1]  # Q is odd: all four are centered values
    got = basis.to_centered_float(basis.decompose(values)).tolist()
    for f, x in zip(got, values):
        assert abs(Fraction(f) - x) < Fraction(1, 10**15) * abs(x)


# --------------------------------------------------------------------------------------
# divide_and_round_by_last
# --------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(basis_and_residues(min_size=2))
def test_divide_and_round_by_last_is_rounded_division(case: tuple[rns.RNSBasis, np.ndarray]) -> None:
    basis, residues = case
    last = basis.moduli[-1]
    smaller = basis.drop_last()
    values = basis.compose(residues)
    got = basis.divide_and_round_by_last(residues)
    assert got.dtype == np.uint64
    assert got.shape == (len(basis) - 1, residues.shape[-1])
    expected = [v % smaller.product for v in rns.divide_and_round_reference(values, last)]
    assert smaller.compose(got) == expected
    # The same holds for the centered representatives (rescaling signed values).
    signed = [centered(v, basis.product) for v in values]
    assert smaller.compose(got) == [v % smaller.product for v in rns.divide_and_round_reference(signed, last)]


@settings(max_examples=100)
@given(basis_and_values(centered=True, min_size=2))
def test_divide_and_round_by_last_rounds_to_nearest(case: tuple[list[int], list[int]]) -> None:
    moduli, values = case
    basis = rns.RNSBasis(moduli)
    last = moduli[-1]
    smaller = basis.drop_last()
    got = smaller.compose(basis.divide_and_round_by_last(basis.decompose(values)))
    for quotient, x in zip(got, values):
        nearest = floor(Fraction(x, last) + Fraction(1, 2))  # exact; a tie needs an even prime
        assert abs(Fraction(x, last) - nearest) <= Fraction(1, 2)
        assert quotient == nearest % smaller.product


def test_divide_and_round_by_last_known_answers() -> None:
    basis = rns.RNSBasis([1009, 13])
    values = [0, 6, 7, 13, -6, -7, 13 * 50 + 6, 13 * 50 + 7, -(13 * 40) - 7]
    got = basis.drop_last().compose(basis.divide_and_round_by_last(basis.decompose(values)), centered=True)
    assert got == [0, 0, 1, 1, 0, -1, 50, 51, -41]


def test_divide_and_round_reference_rounds_half_up() -> None:
    assert rns.divide_and_round_reference([0, 4, 5, 6, -4, -5, -6, 15], 10) == [0, 0, 1, 1, 0, 0, -1, 2]


@settings(max_examples=40)
@given(basis_and_residues(min_size=2, batch=(3,)))
def test_divide_and_round_by_last_batches(case: tuple[rns.RNSBasis, np.ndarray]) -> None:
    basis, residues = case
    got = basis.divide_and_round_by_last(residues)
    assert got.shape == (3, len(basis) - 1, residues.shape[-1])
    for i in range(3):
        assert np.array_equal(got[i], basis.divide_and_round_by_last(residues[i]))


def test_divide_and_round_on_the_tutorial_chain() -> None:
    basis = rns.RNSBasis(SEAL_TUTORIAL_PRIMES)
    p = SEAL_TUTORIAL_PRIMES[-1]
    values = [p * 12345 + p // 2, p * 12345 + p // 2 + 1, -(p * 777) - p // 2 - 1, 2**150 + 3]
    got = basis.drop_last().compose(basis.divide_and_round_by_last(basis.decompose(values)), centered=True)
    assert got == [12345, 12346, -778, (2**150 + 3 + p // 2) // p]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("moduli", [[], [7, 7], [7, 11, 7], [0], [1], [7, 2**61], [2**61 + 1], [-7]])
def test_bad_bases_are_rejected(moduli: list[int]) -> None:
    with pytest.raises(ParameterError):
        rns.RNSBasis(moduli)


def test_non_coprime_moduli_are_rejected() -> None:
    with pytest.raises(ValueError):
        rns.RNSBasis([4, 6])


def test_one_prime_basis_cannot_divide_by_its_last_prime() -> None:
    basis = rns.RNSBasis([97])
    with pytest.raises(ParameterError):
        basis.divide_and_round_by_last(basis.decompose([5, 6]))


@pytest.mark.parametrize(
    "residues",
    [
        np.zeros((2, 4), dtype=np.int64),
        np.zeros((3, 4), dtype=np.uint64),
        np.zeros(4, dtype=np.uint64),
        np.zeros((4, 2, 1), dtype=np.uint64)[..., 0].T.astype(np.float64),
    ],
)
def test_bad_residue_arrays_are_rejected(residues: np.ndarray) -> None:
    basis = rns.RNSBasis([97, 193])
    for method in (basis.compose, basis.to_centered_float, basis.divide_and_round_by_last, basis.mixed_radix_digits):
        with pytest.raises(ShapeError):
            method(residues)


def test_compose_of_a_batch_is_per_item_or_refused() -> None:
    basis = rns.RNSBasis([97, 193])
    first, second = basis.decompose([1, 2, 3]), basis.decompose([-4, 5, -6])
    batch = np.stack([first, second])
    try:
        got = basis.compose(batch, centered=True)
    except ShapeError:
        return
    assert got == [1, 2, 3, -4, 5, -6]
