"""Tests for heedu.modarith: exact uint64 arithmetic modulo primes below 2^61.

Every kernel is compared with Python's unbounded integers, over random words
and primes of every size up to 61 bits, with the extremes 0, q - 1 and (for the
free operand of Shoup's multiplication) 2^64 - 1 always in play.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from heedu import modarith
from tests.strategies import (
    LARGEST_SUPPORTED_PRIME,
    SEAL_TUTORIAL_PRIMES,
    primes_up_to_61_bits,
    residues_mod,
    uint64_words,
)

MAX_U64 = 2**64 - 1


def u64(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def ints(array: np.ndarray) -> list[int]:
    return [int(v) for v in np.ravel(array)]


@st.composite
def prime_and_residues(draw: st.DrawFn, count: int = 3, max_size: int = 12) -> tuple[int, list[list[int]]]:
    """A prime q < 2^61 and ``count`` equally long lists of residues mod q."""
    q = draw(primes_up_to_61_bits())
    size = draw(st.integers(1, max_size))
    lists = [draw(st.lists(residues_mod(q), min_size=size, max_size=size)) for _ in range(count)]
    return q, lists


# --------------------------------------------------------------------------------------
# mulhi
# --------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.lists(st.tuples(uint64_words(), uint64_words()), min_size=1, max_size=16))
def test_mulhi_is_the_high_word_of_the_128_bit_product(pairs: list[tuple[int, int]]) -> None:
    a, b = u64([x for x, _ in pairs]), u64([y for _, y in pairs])
    assert ints(modarith.mulhi(a, b)) == [x * y >> 64 for x, y in pairs]


@pytest.mark.parametrize(
    ("x", "y"),
    [(0, 0), (MAX_U64, MAX_U64), (MAX_U64, 1), (2**32, 2**32), (2**32 - 1, 2**32 - 1), (2**63, 2), (2**63, 2**63)],
)
def test_mulhi_extremes(x: int, y: int) -> None:
    assert int(modarith.mulhi(u64([x]), u64([y]))[0]) == x * y >> 64


@given(st.lists(st.tuples(uint64_words(), uint64_words()), min_size=1, max_size=8))
def test_mulhi_reference_agrees_with_python(pairs: list[tuple[int, int]]) -> None:
    a, b = u64([x for x, _ in pairs]), u64([y for _, y in pairs])
    assert ints(modarith.mulhi_reference(a, b)) == [x * y >> 64 for x, y in pairs]


def test_mulhi_broadcasts() -> None:
    a = u64([[MAX_U64], [2**40]])
    b = u64([3, 2**62, MAX_U64])
    out = modarith.mulhi(a, b)
    assert out.shape == (2, 3)
    assert [[int(v) for v in row] for row in out] == [
        [x * y >> 64 for y in (3, 2**62, MAX_U64)] for x in (MAX_U64, 2**40)
    ]


# --------------------------------------------------------------------------------------
# Shoup
# --------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(prime_and_residues(count=1))
def test_shoup_precompute_is_floor_w_times_2_64_over_q(case: tuple[int, list[list[int]]]) -> None:
    q, (w,) = case
    got = modarith.shoup_precompute(u64(w), np.uint64(q))
    assert ints(got) == [(x << 64) // q for x in w]


@pytest.mark.parametrize("q", [2, 3, 97, 65537, *SEAL_TUTORIAL_PRIMES, LARGEST_SUPPORTED_PRIME])
def test_shoup_precompute_extremes(q: int) -> None:
    w = [0, 1, q // 2, q - 2, q - 1] if q > 2 else [0, 1]
    assert ints(modarith.shoup_precompute(u64(w), np.uint64(q))) == [(x << 64) // q for x in w]


@settings(max_examples=300)
@given(st.data())
def test_mul_shoup_accepts_any_uint64_free_operand(data: st.DataObject) -> None:
    q = data.draw(primes_up_to_61_bits())
    size = data.draw(st.integers(1, 12))
    a = data.draw(st.lists(uint64_words(), min_size=size, max_size=size))
    w = data.draw(st.lists(residues_mod(q), min_size=size, max_size=size))
    w_array = u64(w)
    got = modarith.mul_shoup(u64(a), w_array, modarith.shoup_precompute(w_array, np.uint64(q)), np.uint64(q))
    assert ints(got) == [x * y % q for x, y in zip(a, w)]


def test_mul_shoup_with_the_largest_operands() -> None:
    q = LARGEST_SUPPORTED_PRIME
    w = u64([q - 1, q - 1, 1, 0])
    a = u64([MAX_U64, q - 1, MAX_U64, MAX_U64])
    got = modarith.mul_shoup(a, w, modarith.shoup_precompute(w, np.uint64(q)), np.uint64(q))
    assert ints(got) == [MAX_U64 * (q - 1) % q, (q - 1) * (q - 1) % q, MAX_U64 % q, 0]


# --------------------------------------------------------------------------------------
# mul_mod
# --------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(prime_and_residues(count=2))
def test_mul_mod_matches_python(case: tuple[int, list[list[int]]]) -> None:
    q, (a, b) = case
    got = modarith.mul_mod(u64(a), u64(b), np.uint64(q))
    assert ints(got) == [x * y % q for x, y in zip(a, b)]
    assert ints(modarith.mul_mod_reference(u64(a), u64(b), np.uint64(q))) == ints(got)


@pytest.mark.parametrize("q", [2, 3, 65537, *SEAL_TUTORIAL_PRIMES, LARGEST_SUPPORTED_PRIME])
def test_mul_mod_extremes(q: int) -> None:
    values = sorted({0, 1, q // 2, q - 1})
    a = u64([x for x in values for _ in values])
    b = u64([y for _ in values for y in values])
    assert ints(modarith.mul_mod(a, b, np.uint64(q))) == [x * y % q for x in values for y in values]


def test_mul_mod_minus_one_squared_is_one_for_the_spec_primes() -> None:
    q = modarith.as_moduli(SEAL_TUTORIAL_PRIMES)
    minus_one = q - np.uint64(1)
    assert ints(modarith.mul_mod(minus_one, minus_one, q)) == [1, 1, 1, 1]


@settings(max_examples=50)
@given(st.lists(primes_up_to_61_bits(), min_size=1, max_size=4, unique=True), st.integers(1, 8), st.data())
def test_mul_mod_rows_use_their_own_modulus(moduli: list[int], n: int, data: st.DataObject) -> None:
    rows_a = [data.draw(st.lists(residues_mod(q), min_size=n, max_size=n)) for q in moduli]
    rows_b = [data.draw(st.lists(residues_mod(q), min_size=n, max_size=n)) for q in moduli]
    q = modarith.as_moduli(moduli)
    got = modarith.mul_mod(np.array(rows_a, dtype=np.uint64), np.array(rows_b, dtype=np.uint64), q)
    assert got.shape == (len(moduli), n)
    expected = [[x * y % m for x, y in zip(ra, rb)] for ra, rb, m in zip(rows_a, rows_b, moduli)]
    assert got.tolist() == expected


def test_mul_mod_batches_over_leading_axes() -> None:
    moduli = [97, 193, LARGEST_SUPPORTED_PRIME]
    rng = np.random.default_rng(7)
    q = modarith.as_moduli(moduli)
    a = np.stack([np.stack([rng.integers(0, m, 5, dtype=np.uint64) for m in moduli]) for _ in range(3)])
    b = np.stack([np.stack([rng.integers(0, m, 5, dtype=np.uint64) for m in moduli]) for _ in range(3)])
    got = modarith.mul_mod(a, b, q)
    for i in range(3):
        assert np.array_equal(got[i], modarith.mul_mod_reference(a[i], b[i], q))


def test_as_moduli_is_a_uint64_column() -> None:
    column = modarith.as_moduli([7, LARGEST_SUPPORTED_PRIME])
    assert column.dtype == np.uint64
    assert column.shape == (2, 1)
    assert ints(column) == [7, LARGEST_SUPPORTED_PRIME]
    assert modarith.as_moduli(np.array([5, 11])).shape == (2, 1)


# --------------------------------------------------------------------------------------
# Addition, subtraction, negation, reduction
# --------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(prime_and_residues(count=2))
def test_add_sub_neg_match_python(case: tuple[int, list[list[int]]]) -> None:
    q, (a, b) = case
    qq = np.uint64(q)
    assert ints(modarith.add_mod(u64(a), u64(b), qq)) == [(x + y) % q for x, y in zip(a, b)]
    assert ints(modarith.sub_mod(u64(a), u64(b), qq)) == [(x - y) % q for x, y in zip(a, b)]
    assert ints(modarith.neg_mod(u64(a), qq)) == [-x % q for x in a]


@pytest.mark.parametrize("q", [2, 3, *SEAL_TUTORIAL_PRIMES, LARGEST_SUPPORTED_PRIME])
def test_add_sub_neg_extremes(q: int) -> None:
    values = sorted({0, 1, q - 1})
    qq = np.uint64(q)
    a = u64([x for x in values for _ in values])
    b = u64([y for _ in values for y in values])
    assert ints(modarith.add_mod(a, b, qq)) == [(x + y) % q for x in values for y in values]
    assert ints(modarith.sub_mod(a, b, qq)) == [(x - y) % q for x in values for y in values]
    assert ints(modarith.neg_mod(u64(values), qq)) == [-x % q for x in values]


@given(primes_up_to_61_bits(), st.data())
def test_reduce_once_maps_0_to_2q_onto_residues(q: int, data: st.DataObject) -> None:
    xs = data.draw(
        st.lists(st.one_of(st.sampled_from([0, q - 1, q, 2 * q - 1]), st.integers(0, 2 * q - 1)), min_size=1)
    )
    assert ints(modarith.reduce_once(u64(xs), np.uint64(q))) == [x % q for x in xs]


@given(primes_up_to_61_bits(), st.lists(uint64_words(), min_size=1, max_size=16))
def test_reduce_mod_of_any_word(q: int, xs: list[int]) -> None:
    assert ints(modarith.reduce_mod(u64(xs), np.uint64(q))) == [x % q for x in xs]


INT64 = st.integers(-(2**63) + 1, 2**63 - 1)


@settings(max_examples=200)
@given(
    primes_up_to_61_bits(), st.lists(st.one_of(st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63) + 1]), INT64), min_size=1)
)
def test_from_signed_is_the_residue_of_a_signed_value(q: int, values: list[int]) -> None:
    got = modarith.from_signed(np.array(values, dtype=np.int64), np.uint64(q))
    assert got.dtype == np.uint64
    assert ints(got) == [v % q for v in values]


def test_from_signed_multiples_of_q_are_zero() -> None:
    q = SEAL_TUTORIAL_PRIMES[1]
    values = np.array([q, -q, 3 * q, -5 * q], dtype=np.int64)
    assert ints(modarith.from_signed(values, np.uint64(q))) == [0, 0, 0, 0]


@settings(max_examples=200)
@given(prime_and_residues(count=1))
@example((2, [[0, 1]]))
@example((3, [[0, 1, 2]]))
def test_to_centered_is_the_representative_in_the_half_open_interval(case: tuple[int, list[list[int]]]) -> None:
    q, (residues,) = case
    got = modarith.to_centered(u64(residues), np.uint64(q))
    assert got.dtype == np.int64
    expected = [r if r <= q // 2 else r - q for r in residues]
    assert ints(got) == expected
    for value, r in zip(ints(got), residues):
        assert value % q == r
        assert -q < 2 * value <= q  # value in (-q/2, q/2]


@given(primes_up_to_61_bits(), st.lists(INT64, min_size=1, max_size=16))
def test_to_centered_inverts_from_signed_for_small_values(q: int, values: list[int]) -> None:
    small = [v for v in values if -q < 2 * v <= q]
    if not small:
        small = [0]
    residues = modarith.from_signed(np.array(small, dtype=np.int64), np.uint64(q))
    assert ints(modarith.to_centered(residues, np.uint64(q))) == small


def test_outputs_are_reduced_for_the_largest_prime() -> None:
    q = LARGEST_SUPPORTED_PRIME
    rng = np.random.default_rng(3)
    a = rng.integers(0, q, 1000, dtype=np.uint64)
    b = rng.integers(0, q, 1000, dtype=np.uint64)
    qq = np.uint64(q)
    for out in (
        modarith.mul_mod(a, b, qq),
        modarith.add_mod(a, b, qq),
        modarith.sub_mod(a, b, qq),
        modarith.neg_mod(a, qq),
    ):
        assert out.dtype == np.uint64
        assert int(out.max()) < q
