r"""Shared Hypothesis strategies (and a few plain helpers) for heedu's tests.

Everything here is independent of heedu's own number theory: primes come from
``sympy``, never from :mod:`heedu.numth`, so a test that draws its moduli here
and checks heedu against them is a real check.

Naming: functions returning a Hypothesis strategy are plural nouns or say
``..._strategy`` (``ntt_primes(n)``, ``residue_arrays(moduli, n)``,
``toy_contexts()``); plain helpers are verbs or singular nouns
(``largest_ntt_primes``, ``cached_toy_context``).

Sizes are toys on purpose: property tests use ``N`` in :data:`TOY_DEGREES`, so a
hundred examples cost milliseconds.

The NTT prime pools are fixed (the largest primes of a spread of bit sizes,
from 8 to 61 bits), so heedu's per-prime table cache is reused across examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np
import sympy
from hypothesis import strategies as st

from heedu.keys import KeyGenerator
from heedu.params import CKKSContext, CKKSParameters
from heedu.sampling import SeededRandomSource

#: Polynomial degrees used by the property tests (powers of two, small).
TOY_DEGREES: tuple[int, ...] = (2, 4, 8, 16, 32)

#: The largest modulus heedu supports: the Mersenne prime 2^61 - 1 (61 bits).
LARGEST_SUPPORTED_PRIME = 2**61 - 1

#: Bit sizes from which the NTT prime pools are drawn (those too small for a degree are skipped).
POOL_BIT_SIZES: tuple[int, ...] = (8, 12, 17, 20, 24, 28, 30, 31, 32, 36, 40, 44, 48, 52, 55, 58, 59, 60, 61)

#: The four primes of the Azure ML tutorial (SEAL's CoeffModulus::Create(8192, [60, 40, 40, 60])).
SEAL_TUTORIAL_PRIMES: tuple[int, ...] = (
    1152921504606748673,
    1099510890497,
    1099511480321,
    1152921504606830593,
)

#: SEAL's minimal primitive 16384-th roots of unity for :data:`SEAL_TUTORIAL_PRIMES`, in order.
SEAL_TUTORIAL_ROOTS: tuple[int, ...] = (100406242475323, 5405730, 30370987, 25959043411404)


# --------------------------------------------------------------------------------------
# Plain helpers (no Hypothesis)
# --------------------------------------------------------------------------------------


def largest_ntt_primes(n: int, bits: int, count: int) -> list[int]:
    r"""Up to ``count`` largest primes :math:`q < 2^{bits}` with :math:`q \equiv 1 \pmod{2n}`, descending.

    Only primes with exactly ``bits`` bits are returned (possibly fewer than
    ``count``). Primality by ``sympy.isprime``: an oracle independent of heedu.
    """
    two_n = 2 * n
    found: list[int] = []
    candidate = ((1 << bits) - 1) // two_n * two_n + 1
    if candidate >= 1 << bits:
        candidate -= two_n
    while len(found) < count and candidate > 1 << (bits - 1):
        if sympy.isprime(candidate):
            found.append(candidate)
        candidate -= two_n
    return found


@cache
def ntt_prime_pool(n: int) -> tuple[int, ...]:
    r"""A fixed pool of NTT-friendly primes for degree ``n``: :math:`q \equiv 1 \pmod{2n}`, 8 to 61 bits.

    For each size in :data:`POOL_BIT_SIZES`, the three largest such primes (as
    found by :func:`largest_ntt_primes`). Sorted ascending, no repeats.
    """
    pool: set[int] = set()
    for bits in POOL_BIT_SIZES:
        if (1 << bits) <= 4 * n:
            continue
        pool.update(largest_ntt_primes(n, bits, 3))
    return tuple(sorted(pool))


def bit_reverse_reference(value: int, bits: int) -> int:
    """Reverse the lowest ``bits`` bits of ``value`` (arithmetic, not strings)."""
    out = 0
    for _ in range(bits):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def automorphism_reference(a: Sequence[int], g: int, q: int) -> list[int]:
    r"""Coefficients of :math:`a(X^g) \bmod (X^n + 1, q)`, by the definition: :math:`X^{n+k} = -X^k`."""
    n = len(a)
    out = [0] * n
    for j, c in enumerate(a):
        e = j * g % (2 * n)
        out[e % n] = (out[e % n] + (c if e < n else -c)) % q
    return out


def as_uint64_rows(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """A ``(k, n)`` ``uint64`` array from nested Python integers."""
    return np.array([[int(v) for v in row] for row in rows], dtype=np.uint64)


@lru_cache(maxsize=32)
def cached_toy_context(
    n: int = 16,
    bits: tuple[int, ...] = (40, 30, 40),
    scale_bits: int = 30,
) -> CKKSContext:
    """A cached toy :class:`~heedu.params.CKKSContext` (``allow_insecure=True``).

    ``bits`` are the bit sizes of the data primes followed by the special
    prime, as for ``CKKSParameters.coeff_modulus_bits``; the scale is
    ``2**scale_bits``. Contexts are heavy, so equal arguments share one object.
    """
    return toy_context(n, bits, scale_bits)


def toy_context(n: int, bits: Sequence[int], scale_bits: int) -> CKKSContext:
    """A fresh (uncached) toy context with the arguments of :func:`cached_toy_context`."""
    parameters = CKKSParameters(
        poly_modulus_degree=n,
        coeff_modulus_bits=tuple(bits),
        scale=2.0**scale_bits,
        allow_insecure=True,
    )
    return CKKSContext(parameters)


def seeded_toy_keys(n: int, bits: Sequence[int], scale_bits: int, seed: bytes) -> tuple[CKKSContext, KeyGenerator]:
    """A fresh toy context (see :func:`toy_context`) and a key generator drawing from ``SeededRandomSource(seed)``."""
    context = toy_context(n, bits, scale_bits)
    return context, KeyGenerator(context, random_source=SeededRandomSource(seed))


# --------------------------------------------------------------------------------------
# Integers and primes
# --------------------------------------------------------------------------------------


def uint64_words() -> st.SearchStrategy[int]:
    """Any unsigned 64-bit integer, with the extremes 0 and 2^64 - 1 emphasised."""
    return st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))


def primes_up_to_61_bits() -> st.SearchStrategy[int]:
    """Primes in ``[2, 2^61)`` of every size, including 2, 3 and the largest one, 2^61 - 1."""
    return st.one_of(
        st.sampled_from([2, 3, 5, 65537, *SEAL_TUTORIAL_PRIMES, LARGEST_SUPPORTED_PRIME]),
        st.integers(3, LARGEST_SUPPORTED_PRIME).map(sympy.prevprime),
    )


def residues_mod(q: int) -> st.SearchStrategy[int]:
    """Reduced residues ``0 <= x < q``, with 0, 1 and ``q - 1`` emphasised."""
    return st.one_of(st.sampled_from(sorted({0, min(1, q - 1), q - 1})), st.integers(0, q - 1))


def degrees(max_n: int = 32, min_n: int = 2) -> st.SearchStrategy[int]:
    """Toy polynomial degrees from :data:`TOY_DEGREES` in ``[min_n, max_n]``."""
    return st.sampled_from([n for n in TOY_DEGREES if min_n <= n <= max_n])


def ntt_primes(n: int) -> st.SearchStrategy[int]:
    r"""Primes :math:`q \equiv 1 \pmod{2n}` below :math:`2^{61}` from :func:`ntt_prime_pool`."""
    return st.sampled_from(ntt_prime_pool(n))


def ntt_moduli(n: int, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[list[int]]:
    """Lists of distinct NTT-friendly primes for degree ``n`` (an RNS basis for a toy ring)."""
    return st.lists(ntt_primes(n), min_size=min_size, max_size=max_size, unique=True)


def degrees_and_moduli(
    max_n: int = 32, min_size: int = 1, max_size: int = 4, min_n: int = 2
) -> st.SearchStrategy[tuple[int, list[int]]]:
    """Pairs ``(n, moduli)`` with ``n`` a toy degree and ``moduli`` distinct NTT primes for it."""
    return degrees(max_n, min_n).flatmap(
        lambda n: st.tuples(st.just(n), ntt_moduli(n, min_size=min_size, max_size=max_size))
    )


# --------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------


def residue_arrays(moduli: Sequence[int], n: int, batch: tuple[int, ...] = ()) -> st.SearchStrategy[np.ndarray]:
    """``uint64`` arrays of shape ``(*batch, k, n)`` whose row ``i`` is reduced modulo ``moduli[i]``."""
    count = int(np.prod(batch, dtype=np.int64)) if batch else 1
    row_strategies = [st.lists(residues_mod(int(q)), min_size=n, max_size=n) for q in moduli]
    one = st.tuples(*row_strategies).map(as_uint64_rows)
    return st.lists(one, min_size=count, max_size=count).map(
        lambda polys: np.stack(polys).reshape(*batch, len(moduli), n)
    )


def signed_coefficients(n: int, bound: int, batch: tuple[int, ...] = ()) -> st.SearchStrategy[np.ndarray]:
    """``int64`` arrays of shape ``(*batch, n)`` with entries in ``[-bound, bound]``."""
    count = n * (int(np.prod(batch, dtype=np.int64)) if batch else 1)
    return st.lists(st.integers(-bound, bound), min_size=count, max_size=count).map(
        lambda values: np.array(values, dtype=np.int64).reshape(*batch, n)
    )


def slot_vectors(
    slot_count: int, max_abs: float = 1.0, complex_values: bool = False, min_size: int = 1
) -> st.SearchStrategy[np.ndarray]:
    """Vectors of ``min_size..slot_count`` finite values with ``|real|, |imag| <= max_abs``.

    Real (``float64``) by default, ``complex128`` with ``complex_values=True``.
    """
    real = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False)
    element = st.builds(complex, real, real) if complex_values else real
    dtype = np.complex128 if complex_values else np.float64
    return st.lists(element, min_size=min_size, max_size=slot_count).map(lambda v: np.array(v, dtype=dtype))


def rotation_steps(slot_count: int) -> st.SearchStrategy[int]:
    """Rotation steps in ``(-slot_count, slot_count)`` (positive = left, as in SEAL)."""
    return st.integers(-(slot_count - 1), slot_count - 1)


# --------------------------------------------------------------------------------------
# Toy CKKS parameter sets
# --------------------------------------------------------------------------------------


def toy_parameter_choices(max_n: int = 32, max_levels: int = 3) -> st.SearchStrategy[tuple[int, tuple[int, ...], int]]:
    """Triples ``(n, bits, scale_bits)`` for :func:`cached_toy_context`: small ``N``, 25..40-bit primes.

    ``bits`` lists ``1..max_levels + 1`` data primes then a special prime at
    least as large as any data prime; ``scale_bits`` (10..20) always fits.
    """
    data = st.lists(st.integers(25, 40), min_size=1, max_size=max_levels + 1)
    return st.tuples(degrees(max_n, min_n=8), data, st.integers(10, 20)).flatmap(
        lambda t: st.integers(max(t[1]), 40).map(lambda special: (t[0], (*t[1], special), t[2]))
    )


def toy_parameters(max_n: int = 32, max_levels: int = 3) -> st.SearchStrategy[CKKSParameters]:
    """Toy :class:`~heedu.params.CKKSParameters` (``allow_insecure=True``)."""
    return toy_parameter_choices(max_n, max_levels).map(
        lambda t: CKKSParameters(
            poly_modulus_degree=t[0], coeff_modulus_bits=t[1], scale=2.0 ** t[2], allow_insecure=True
        )
    )


def toy_contexts(max_n: int = 32, max_levels: int = 3) -> st.SearchStrategy[CKKSContext]:
    """Toy :class:`~heedu.params.CKKSContext` objects, shared through :func:`cached_toy_context`'s cache."""
    return toy_parameter_choices(max_n, max_levels).map(lambda t: cached_toy_context(*t))
