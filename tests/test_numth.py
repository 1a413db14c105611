"""Tests for heedu.numth: primality, SEAL's prime choice, minimal primitive roots.

Oracles: ``sympy.isprime``, ``sympy.ntheory.n_order`` / ``primitive_root``, brute
force for small primes, and the known answers of the SEAL 3.5 spec and SEAL's
own unit tests.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sympy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sympy.ntheory import n_order

from heedu import numth
from heedu.errors import ParameterError
from tests.strategies import (
    SEAL_TUTORIAL_PRIMES,
    SEAL_TUTORIAL_ROOTS,
    bit_reverse_reference,
    largest_ntt_primes,
    ntt_prime_pool,
)

# Composites that fool weaker primality tests.
CARMICHAEL_NUMBERS = [561, 1105, 1729, 2465, 2821, 6601, 8911, 10585, 15841, 29341, 41041, 62745, 63973, 75361]
LARGE_CARMICHAEL_NUMBERS = [
    9999109081,  # 13 * 19 * 61 * 73 * 9091
    3778118040573702001,  # 11 * 47 * 1051 * 67967 * 102302009
    # Chernick's (6k + 1)(12k + 1)(18k + 1) with all three factors prime, just below 2^64:
    (6 * 200116 + 1) * (12 * 200116 + 1) * (18 * 200116 + 1),
    (6 * 200171 + 1) * (12 * 200171 + 1) * (18 * 200171 + 1),
]
STRONG_PSEUDOPRIMES = [
    2047,  # base 2
    1373653,  # bases 2, 3
    25326001,  # bases 2, 3, 5
    3215031751,  # bases 2, 3, 5, 7
    2152302898747,  # bases 2..11
    3474749660383,  # bases 2..13
    341550071728321,  # bases 2..17
    3825123056546413051,  # bases 2..23 (below 2^64)
    318665857834031151167461,  # bases 2..37: only the base 41 catches it
]
LARGE_PRIMES = [
    2**31 - 1,
    2**61 - 1,
    2**64 - 59,  # the largest prime below 2^64
    *SEAL_TUTORIAL_PRIMES,
]


# --------------------------------------------------------------------------------------
# is_prime
# --------------------------------------------------------------------------------------


def test_is_prime_matches_sympy_exhaustively_below_20000() -> None:
    mismatches = [n for n in range(-10, 20000) if numth.is_prime(n) != sympy.isprime(n)]
    assert mismatches == []


@pytest.mark.parametrize("n", CARMICHAEL_NUMBERS + LARGE_CARMICHAEL_NUMBERS + STRONG_PSEUDOPRIMES)
def test_is_prime_rejects_carmichael_numbers_and_strong_pseudoprimes(n: int) -> None:
    assert not sympy.isprime(n)  # guard the test data itself
    assert numth.is_prime(n) is False


@pytest.mark.parametrize("n", LARGE_PRIMES)
def test_is_prime_accepts_large_primes(n: int) -> None:
    assert sympy.isprime(n)
    assert numth.is_prime(n) is True


@pytest.mark.parametrize("n", [2**64 - 1, 2**61 + 1, 2**62 - 1, (2**31 - 1) * (2**31 - 1), (2**61 - 1) * 3])
def test_is_prime_rejects_large_composites(n: int) -> None:
    assert numth.is_prime(n) is False


@pytest.mark.parametrize("p", [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41])
def test_is_prime_on_the_miller_rabin_bases_and_their_squares(p: int) -> None:
    assert numth.is_prime(p) is True
    assert numth.is_prime(p * p) is False


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=2**64 - 1))
@example(2**64 - 59)
@example(1)
@example(0)
def test_is_prime_matches_sympy_up_to_2_64(n: int) -> None:
    assert numth.is_prime(n) == sympy.isprime(n)


@settings(max_examples=100)
@given(st.integers(3, 2**32 - 1).map(sympy.prevprime), st.integers(3, 2**32 - 1).map(sympy.prevprime))
def test_is_prime_rejects_products_of_two_primes(p: int, q: int) -> None:
    assert numth.is_prime(p * q) is False


@settings(max_examples=100)
@given(st.integers(3, 2**61).map(sympy.prevprime))
def test_is_prime_accepts_random_primes_up_to_61_bits(p: int) -> None:
    assert numth.is_prime(p) is True


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def test_is_power_of_two_matches_a_reference() -> None:
    powers = {1 << i for i in range(20)}
    assert [n for n in range(-8, 2**19 + 10) if numth.is_power_of_two(n)] == sorted(powers)


@given(st.integers(0, 20).flatmap(lambda bits: st.tuples(st.integers(0, 2**bits - 1), st.just(bits))))
def test_bit_reverse_matches_reference_and_is_an_involution(value_bits: tuple[int, int]) -> None:
    value, bits = value_bits
    reversed_value = numth.bit_reverse(value, bits)
    assert reversed_value == bit_reverse_reference(value, bits)
    assert numth.bit_reverse(reversed_value, bits) == value


def test_bit_reverse_known_answers() -> None:
    assert [numth.bit_reverse(i, 3) for i in range(8)] == [0, 4, 2, 6, 1, 5, 3, 7]
    assert numth.bit_reverse(0, 0) == 0
    assert numth.bit_reverse(1, 1) == 1


@settings(max_examples=100)
@given(st.integers(3, 2**61).map(sympy.prevprime), st.data())
def test_mod_inverse_is_an_inverse(q: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(1, q - 1))
    inverse = numth.mod_inverse(a, q)
    assert 0 <= inverse < q
    assert a * inverse % q == 1


def test_mod_inverse_of_a_non_unit_raises() -> None:
    with pytest.raises(ValueError):
        numth.mod_inverse(6, 9)


# --------------------------------------------------------------------------------------
# get_primes and coeff_modulus_create (SEAL's CoeffModulus::Create)
# --------------------------------------------------------------------------------------


def test_coeff_modulus_create_gives_the_tutorial_primes_of_the_spec() -> None:
    assert numth.coeff_modulus_create(8192, [60, 40, 40, 60]) == list(SEAL_TUTORIAL_PRIMES)


@pytest.mark.parametrize(
    ("n", "bits", "expected"),
    [
        (2, [3], [5]),
        (2, [3, 4], [5, 13]),
        (2, [3, 5, 4, 5], [5, 17, 13, 29]),  # SEAL's CoeffModTest.CustomTest
        (8, [17, 17], [131009, 131041]),  # heedu's doctest, checked by the reference below
    ],
)
def test_coeff_modulus_create_known_answers_from_seal(n: int, bits: list[int], expected: list[int]) -> None:
    assert numth.coeff_modulus_create(n, bits) == expected


def test_coeff_modulus_create_seal_custom_test_with_repeated_sizes() -> None:
    primes = numth.coeff_modulus_create(32, [30, 40, 30, 30, 40])
    assert [q.bit_length() for q in primes] == [30, 40, 30, 30, 40]
    assert all(q % 64 == 1 and sympy.isprime(q) for q in primes)
    assert len(set(primes)) == 5
    # Positions with the same size get ascending primes (the smallest goes first).
    assert primes[0] < primes[2] < primes[3]
    assert primes[1] < primes[4]


def _seal_create_reference(n: int, bit_sizes: list[int]) -> list[int] | None:
    """CoeffModulus::Create restated with sympy's primality; None if there are too few primes."""
    pools: dict[int, list[int]] = {}
    for b in set(bit_sizes):
        found = largest_ntt_primes(n, b, bit_sizes.count(b))
        if len(found) < bit_sizes.count(b):
            return None
        pools[b] = found
    taken = {b: 0 for b in pools}
    out = []
    for b in bit_sizes:
        # the i-th position of size b (of c) gets the (c - 1 - i)-th largest prime
        out.append(pools[b][bit_sizes.count(b) - 1 - taken[b]])
        taken[b] += 1
    return out


@settings(max_examples=120, deadline=None)
@given(
    st.integers(1, 13).map(lambda e: 2**e),
    st.lists(st.integers(2, 61), min_size=1, max_size=6),
)
@example(2, [3, 3, 3])  # SEAL: too few 3-bit primes
@example(1024, [8])  # SEAL: no 8-bit prime is 1 mod 2048
@example(8, [61, 61, 61])
def test_coeff_modulus_create_matches_an_independent_reference(n: int, bit_sizes: list[int]) -> None:
    expected = _seal_create_reference(n, bit_sizes)
    if expected is None:
        with pytest.raises(ParameterError):
            numth.coeff_modulus_create(n, bit_sizes)
        return
    primes = numth.coeff_modulus_create(n, bit_sizes)
    assert primes == expected
    assert len(set(primes)) == len(primes)
    for q, b in zip(primes, bit_sizes):
        assert sympy.isprime(q)
        assert q % (2 * n) == 1
        assert q.bit_length() == b


def test_coeff_modulus_create_primes_are_the_largest_of_their_size() -> None:
    n, b = 16, 20
    primes = numth.coeff_modulus_create(n, [b, b, b])
    # Every NTT prime of b bits above the smallest chosen one is chosen.
    above = [q for q in range(min(primes), 2**b, 2 * n) if sympy.isprime(q)]
    assert sorted(primes) == above


def test_get_primes_is_descending_and_exact() -> None:
    primes = numth.get_primes(2 * 64, 30, 5)
    assert primes == largest_ntt_primes(64, 30, 5)
    assert primes == sorted(primes, reverse=True)


@pytest.mark.parametrize(
    ("n", "bits"),
    [
        (0, [30]),
        (1, [30]),
        (3, [30]),
        (12, [30]),
        (-8, [30]),
        (8, []),
        (8, [1]),
        (8, [0]),
        (8, [62]),
        (8, [64]),
        (8, [-30]),
        (8, [30.0]),
        (8, ["30"]),
        (2, [2]),
        (1024, [8]),
        (2, [3, 3, 3]),
    ],
)
def test_coeff_modulus_create_rejects_bad_input(n: int, bits: list[object]) -> None:
    with pytest.raises(ParameterError):
        numth.coeff_modulus_create(n, bits)  # type: ignore[arg-type]


def test_get_primes_rejects_non_positive_count() -> None:
    with pytest.raises(ParameterError):
        numth.get_primes(16, 20, 0)


# --------------------------------------------------------------------------------------
# Primitive roots
# --------------------------------------------------------------------------------------


def test_minimal_primitive_root_gives_the_spec_roots() -> None:
    roots = [numth.minimal_primitive_root(2 * 8192, q) for q in SEAL_TUTORIAL_PRIMES]
    assert roots == list(SEAL_TUTORIAL_ROOTS)


@pytest.mark.parametrize(("q", "psi"), list(zip(SEAL_TUTORIAL_PRIMES, SEAL_TUTORIAL_ROOTS)))
def test_spec_roots_are_primitive_16384th_roots(q: int, psi: int) -> None:
    assert n_order(psi, q) == 16384
    assert pow(psi, 8192, q) == q - 1
    assert numth.is_primitive_root(psi, 16384, q)


def _all_primitive_roots_brute_force(degree: int, q: int) -> list[int]:
    return [x for x in range(1, q) if pow(x, degree, q) == 1 and n_order(x, q) == degree]


def _small_cases() -> list[tuple[int, int]]:
    cases = []
    for degree in (2, 4, 8, 16, 32, 64):
        for q in range(degree + 1, 3000, degree):
            if sympy.isprime(q):
                cases.append((degree, q))
    return cases


SMALL_CASES = _small_cases()


def test_minimal_primitive_root_is_the_minimum_by_brute_force() -> None:
    failures = []
    for degree, q in SMALL_CASES:
        expected = min(_all_primitive_roots_brute_force(degree, q))
        if numth.minimal_primitive_root(degree, q) != expected:
            failures.append((degree, q))
    assert failures == []
    assert len(SMALL_CASES) > 100  # the sweep is not vacuous


def test_minimal_primitive_root_known_answers() -> None:
    assert numth.minimal_primitive_root(2, 11) == 10  # the only square root of unity besides 1
    assert numth.minimal_primitive_root(8, 17) == 2
    assert numth.minimal_primitive_root(16, 65537) == 4  # 4^8 = 2^16 = -1; 2 and 3 have other orders
    assert numth.minimal_primitive_root(4, 17) == 4


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, 4, 8, 16, 32]).flatmap(lambda n: st.tuples(st.just(n), st.sampled_from(ntt_prime_pool(n)))))
def test_minimal_primitive_root_is_the_minimum_over_sympy_roots(n_and_q: tuple[int, int]) -> None:
    n, q = n_and_q
    degree = 2 * n
    g = sympy.primitive_root(q)
    generator = pow(g, (q - 1) // degree, q)
    all_roots = {pow(generator, k, q) for k in range(1, degree, 2)}
    psi = numth.minimal_primitive_root(degree, q)
    assert psi == min(all_roots)
    assert n_order(psi, q) == degree


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, 4, 8, 16, 32]).flatmap(lambda n: st.tuples(st.just(n), st.sampled_from(ntt_prime_pool(n)))))
def test_primitive_root_has_exact_order(n_and_q: tuple[int, int]) -> None:
    n, q = n_and_q
    root = numth.primitive_root(2 * n, q)
    assert n_order(root, q) == 2 * n


@settings(max_examples=100)
@given(st.sampled_from(SMALL_CASES), st.data())
def test_is_primitive_root_matches_n_order(case: tuple[int, int], data: st.DataObject) -> None:
    degree, q = case
    x = data.draw(st.integers(1, q - 1))
    assert numth.is_primitive_root(x, degree, q) == (n_order(x, q) == degree)


@pytest.mark.parametrize(("degree", "q"), [(16, 91), (16, 15), (16, 1), (16, 0), (16, 19), (16, 113 + 2), (4, 7)])
def test_primitive_roots_reject_bad_moduli(degree: int, q: int) -> None:
    with pytest.raises(ParameterError):
        numth.primitive_root(degree, q)
    with pytest.raises(ParameterError):
        numth.minimal_primitive_root(degree, q)


@pytest.mark.parametrize("degree", [0, 1, 3, 6, 12, -4])
def test_is_primitive_root_rejects_bad_degree(degree: int) -> None:
    with pytest.raises(ParameterError):
        numth.is_primitive_root(3, degree, 97)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def _expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_minimal_primitive_root_is_fast_for_a_hard_60_bit_prime() -> None:
    # Regression: q - 1 = 4 * m with m a 58-bit prime. Factoring q - 1 by trial division (as heedu
    # once did) runs up to sqrt(m) ~ 2^29 steps, about 13 s; a power-of-two degree needs no factoring.
    q = 1152921504606846869
    assert sympy.isprime(q)
    with _time_limit(2.0):
        psi = numth.minimal_primitive_root(4, q)
    assert n_order(psi, q) == 4
