r"""Tests for heedu.ntt: the negacyclic NTT in SEAL's order, its inverse, and Galois permutations.

Oracles: direct evaluation (``ntt_reference``), the schoolbook negacyclic product,
and sympy's cyclic NTT applied to the :math:`\psi`-twisted input.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.discrete.transforms import ntt as sympy_ntt
from sympy.ntheory import n_order

from heedu import ntt
from heedu.errors import ParameterError, ShapeError
from heedu.modarith import mul_mod_reference
from heedu.numth import minimal_primitive_root
from tests.strategies import (
    SEAL_TUTORIAL_PRIMES,
    SEAL_TUTORIAL_ROOTS,
    automorphism_reference,
    bit_reverse_reference,
    degrees_and_moduli,
    largest_ntt_primes,
    residue_arrays,
)


@st.composite
def tables_and_arrays(
    draw: st.DrawFn, count: int = 1, batch: tuple[int, ...] = (), max_n: int = 32, max_k: int = 3
) -> tuple[ntt.NTTTables, list[np.ndarray]]:
    """NTT tables for a toy (n, moduli) and ``count`` residue arrays of shape ``(*batch, k, n)``."""
    n, moduli = draw(degrees_and_moduli(max_n=max_n, max_size=max_k))
    tables = ntt.NTTTables(n, moduli)
    arrays = [draw(residue_arrays(moduli, n, batch)) for _ in range(count)]
    return tables, arrays


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def test_known_answer_mod_17() -> None:
    assert ntt.ntt_reference([1, 1], 17) == [5, 14]  # psi = 4: (1 + 4, 1 - 4)
    tables = ntt.NTTTables(2, [17])
    assert tables.forward(np.array([[1, 1]], dtype=np.uint64)).tolist() == [[5, 14]]


def test_product_with_x_to_the_7_wraps_negatively() -> None:
    tables = ntt.NTTTables(8, [17])
    a = np.array([[1, 2, 0, 0, 0, 0, 0, 0]], dtype=np.uint64)  # 1 + 2X
    b = np.array([[0, 0, 0, 0, 0, 0, 0, 1]], dtype=np.uint64)  # X^7
    product = tables.inverse(tables.forward(a) * tables.forward(b) % 17)
    assert product.tolist() == [[15, 0, 0, 0, 0, 0, 0, 1]]  # -2 + X^7


def test_constant_polynomial_is_constant_everywhere() -> None:
    moduli = largest_ntt_primes(16, 40, 2)
    tables = ntt.NTTTables(16, moduli)
    a = np.zeros((2, 16), dtype=np.uint64)
    a[:, 0] = 5
    assert (tables.forward(a) == 5).all()


def test_tables_use_the_minimal_root_for_the_spec_primes() -> None:
    tables = ntt.NTTTables(8192, SEAL_TUTORIAL_PRIMES)
    assert tables.psi == SEAL_TUTORIAL_ROOTS


@settings(max_examples=40)
@given(degrees_and_moduli(max_size=3))
def test_tables_psi_is_a_primitive_2n_th_root(n_and_moduli: tuple[int, list[int]]) -> None:
    n, moduli = n_and_moduli
    tables = ntt.NTTTables(n, moduli)
    for psi, q in zip(tables.psi, moduli):
        assert n_order(psi, q) == 2 * n
        assert psi == minimal_primitive_root(2 * n, q)


# --------------------------------------------------------------------------------------
# Forward, inverse, products
# --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tables_and_arrays(max_n=16))
def test_forward_matches_direct_evaluation(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a,) = case
    expected = [ntt.ntt_reference([int(c) for c in row], q) for row, q in zip(a, tables.moduli)]
    assert tables.forward(a).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(tables_and_arrays())
def test_inverse_undoes_forward_and_vice_versa(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a,) = case
    forward = tables.forward(a)
    assert forward.dtype == np.uint64
    assert np.array_equal(tables.inverse(forward), a)
    assert np.array_equal(tables.forward(tables.inverse(a)), a)


@settings(max_examples=60, deadline=None)
@given(tables_and_arrays(count=2))
def test_pointwise_product_is_the_negacyclic_product(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a, b) = case
    q = np.array(tables.moduli, dtype=np.uint64).reshape(-1, 1)
    product = tables.inverse(mul_mod_reference(tables.forward(a), tables.forward(b), q))
    expected = [
        ntt.negacyclic_multiply_schoolbook([int(c) for c in ra], [int(c) for c in rb], m)
        for ra, rb, m in zip(a, b, tables.moduli)
    ]
    assert product.tolist() == expected


@settings(max_examples=40, deadline=None)
@given(tables_and_arrays(count=2))
def test_forward_is_linear(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a, b) = case
    q = [int(m) for m in tables.moduli]
    total = np.array([[(int(x) + int(y)) % m for x, y in zip(ra, rb)] for ra, rb, m in zip(a, b, q)], dtype=np.uint64)
    fa, fb = tables.forward(a), tables.forward(b)
    expected = [[(int(x) + int(y)) % m for x, y in zip(ra, rb)] for ra, rb, m in zip(fa, fb, q)]
    assert tables.forward(total).tolist() == expected


@settings(max_examples=30, deadline=None)
@given(tables_and_arrays(batch=(2, 3)))
def test_batching_over_leading_axes_equals_per_row(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a,) = case
    forward = tables.forward(a)
    assert forward.shape == a.shape
    inverse = tables.inverse(a)
    for j, q in enumerate(tables.moduli):
        single = ntt.NTTTables(tables.n, [q])
        for i0 in range(2):
            for i1 in range(3):
                row = a[i0, i1, j : j + 1]
                assert np.array_equal(forward[i0, i1, j : j + 1], single.forward(row))
                assert np.array_equal(inverse[i0, i1, j : j + 1], single.inverse(row))


@settings(max_examples=30, deadline=None)
@given(tables_and_arrays())
def test_forward_and_inverse_leave_their_input_alone(case: tuple[ntt.NTTTables, list[np.ndarray]]) -> None:
    tables, (a,) = case
    before = a.copy()
    tables.forward(a)
    tables.inverse(a)
    assert np.array_equal(a, before)


def test_non_contiguous_input_is_transformed_correctly() -> None:
    moduli = largest_ntt_primes(8, 30, 2)
    tables = ntt.NTTTables(8, moduli)
    rng = np.random.default_rng(11)
    wide = np.stack([rng.integers(0, q, 16, dtype=np.uint64) for q in moduli])
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    expected = [ntt.ntt_reference([int(c) for c in row], q) for row, q in zip(strided, moduli)]
    assert tables.forward(strided).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(tables_and_arrays(max_k=1))
def test_forward_agrees_with_sympy_cyclic_ntt_of_the_twisted_input(
    case: tuple[ntt.NTTTables, list[np.ndarray]],
) -> None:
    r"""With :math:`r = \mathrm{bitrev}(i)`, heedu slot ``i`` is :math:`\sum_j (a_j \psi^j) (\psi^2)^{j r}`.

    sympy's cyclic NTT uses :math:`\omega = g^{(q-1)/n}` for sympy's generator ``g``:
    :math:`X_k = \sum_j b_j \omega^{jk}`. With :math:`\psi^2 = \omega^t`, slot ``i`` is
    :math:`X_{t\,\mathrm{bitrev}(i) \bmod n}`.
    """
    tables, (a,) = case
    n, q = tables.n, tables.moduli[0]
    psi = tables.psi[0]
    twisted = [int(c) * pow(psi, j, q) % q for j, c in enumerate(a[0])]
    cyclic = sympy_ntt(twisted, q)
    omega = pow(sympy.primitive_root(q), (q - 1) // n, q)
    t = next(k for k in range(n) if pow(omega, k, q) == psi * psi % q)
    log_n = n.bit_length() - 1
    expected = [cyclic[t * bit_reverse_reference(i, log_n) % n] for i in range(n)]
    assert tables.forward(a).tolist() == [expected]


# --------------------------------------------------------------------------------------
# Galois permutations
# --------------------------------------------------------------------------------------


def test_galois_permutation_known_answer() -> None:
    # n = 4: slots 0..3 hold the exponents 1, 5, 3, 7; times g = 7 mod 8 they become 7, 3, 5, 1,
    # which live in slots 3, 2, 1, 0.
    assert ntt.galois_permutation_ntt(4, 7).tolist() == [3, 2, 1, 0]
    assert ntt.galois_permutation_ntt(8, 1).tolist() == list(range(8))


@settings(max_examples=60, deadline=None)
@given(tables_and_arrays(), st.data())
def test_galois_permutation_matches_the_coefficient_automorphism(
    case: tuple[ntt.NTTTables, list[np.ndarray]], data: st.DataObject
) -> None:
    tables, (a,) = case
    n = tables.n
    g = data.draw(st.integers(0, n - 1).map(lambda k: 2 * k + 1))
    permutation = ntt.galois_permutation_ntt(n, g)
    assert sorted(permutation.tolist()) == list(range(n))
    rotated = np.array(
        [automorphism_reference([int(c) for c in row], g, q) for row, q in zip(a, tables.moduli)], dtype=np.uint64
    )
    assert np.array_equal(tables.forward(a)[..., permutation], tables.forward(rotated))


@pytest.mark.parametrize("n", [2, 4, 8, 16, 32])
def test_galois_permutations_compose_like_the_group(n: int) -> None:
    # sigma_g(sigma_h(a)) = sigma_{gh}(a): gathering by perm_g then perm_h gives perm_{gh}.
    for g in range(1, 2 * n, 2):
        for h in (3, 2 * n - 1):
            composed = ntt.galois_permutation_ntt(n, g)[ntt.galois_permutation_ntt(n, h)]
            assert composed.tolist() == ntt.galois_permutation_ntt(n, g * h % (2 * n)).tolist()


@pytest.mark.parametrize("g", [0, 2, 16, 17, 33, -1, -3])
def test_galois_permutation_rejects_bad_elements(g: int) -> None:
    with pytest.raises(ParameterError):
        ntt.galois_permutation_ntt(8, g)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3, 6, 12, -8])
def test_tables_reject_a_bad_degree(n: int) -> None:
    with pytest.raises(ParameterError):
        ntt.NTTTables(n, [97])


@pytest.mark.parametrize(
    "q",
    [
        91,  # composite
        15 * 64 + 1,  # 961 = 31^2, 1 mod 64 but composite
        97 + 4,  # prime 101 but not 1 mod 64
        largest_ntt_primes(32, 62, 1)[0],  # 62 bits
        2**64 - 59,  # prime, 64 bits
    ],
)
def test_tables_reject_unsuitable_moduli(q: int) -> None:
    with pytest.raises(ParameterError):
        ntt.NTTTables(32, [q])


@pytest.mark.parametrize(
    "values",
    [
        np.zeros((2, 8), dtype=np.int64),  # wrong dtype
        np.zeros((2, 8), dtype=np.uint32),
        np.zeros((3, 8), dtype=np.uint64),  # wrong number of rows
        np.zeros((2, 16), dtype=np.uint64),  # wrong degree
        np.zeros(16, dtype=np.uint64),  # flat
        np.zeros((8, 2), dtype=np.uint64),  # transposed
    ],
)
def test_transforms_reject_bad_shapes(values: np.ndarray) -> None:
    tables = ntt.NTTTables(8, largest_ntt_primes(8, 30, 2))
    with pytest.raises(ShapeError):
        tables.forward(values)
    with pytest.raises(ShapeError):
        tables.inverse(values)


# --------------------------------------------------------------------------------------
# The tutorial size
# --------------------------------------------------------------------------------------


def _evaluate(coefficients: list[int], point: int, q: int) -> int:
    value = 0
    for c in reversed(coefficients):
        value = (value * point + c) % q
    return value


def test_tutorial_size_round_trip_and_spot_values() -> None:
    n = 8192
    tables = ntt.NTTTables(n, SEAL_TUTORIAL_PRIMES)
    rng = np.random.default_rng(2024)
    a = np.stack([rng.integers(0, q, n, dtype=np.uint64) for q in SEAL_TUTORIAL_PRIMES])
    forward = tables.forward(a)
    assert np.array_equal(tables.inverse(forward), a)
    # A few slots by direct evaluation at psi^(2 bitrev(i) + 1).
    for j, (q, psi) in enumerate(zip(SEAL_TUTORIAL_PRIMES, SEAL_TUTORIAL_ROOTS)):
        row = [int(c) for c in a[j]]
        for i in (0, 1, 4097, n - 1):
            point = pow(psi, 2 * bit_reverse_reference(i, 13) + 1, q)
            assert int(forward[j, i]) == _evaluate(row, point, q)


def test_tutorial_size_product_with_a_monomial_is_a_negacyclic_shift() -> None:
    n, shift = 8192, 1234
    tables = ntt.NTTTables(n, SEAL_TUTORIAL_PRIMES)
    rng = np.random.default_rng(5)
    a = np.stack([rng.integers(0, q, n, dtype=np.uint64) for q in SEAL_TUTORIAL_PRIMES])
    monomial = np.zeros_like(a)
    monomial[:, shift] = 3  # 3 X^shift
    q = np.array(SEAL_TUTORIAL_PRIMES, dtype=np.uint64).reshape(-1, 1)
    product = tables.inverse(mul_mod_reference(tables.forward(a), tables.forward(monomial), q))
    expected = []
    for row, m in zip(a, SEAL_TUTORIAL_PRIMES):
        coefficients = [int(c) for c in row]
        out = [0] * n
        for j, c in enumerate(coefficients):
            e = j + shift
            out[e % n] = (3 * c if e < n else -3 * c) % m
        expected.append(out)
    assert product.tolist() == expected
