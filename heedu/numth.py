r"""Number theory: the primes and roots of unity that the rest of heedu stands on.

CKKS works in the ring :math:`R_q = \mathbb{Z}_q[X]/(X^N + 1)` with
:math:`N` a power of two. Multiplying in that ring is fast when :math:`q` is a
prime with :math:`q \equiv 1 \pmod{2N}`: then :math:`\mathbb{Z}_q^*` (cyclic of
order :math:`q-1`) contains a primitive :math:`2N`-th root of unity
:math:`\psi`, i.e. :math:`\psi^N = -1`, and :math:`X^N + 1` splits into the
linear factors :math:`X - \psi^{2i+1}`. The negacyclic NTT (``heedu.ntt``)
evaluates a polynomial at exactly those points.

This module picks such primes *exactly as Microsoft SEAL does*
(``CoeffModulus::Create``), because the primes are part of the wire format: a
ciphertext made with other primes cannot be read by SEAL. It also finds the
*minimal* primitive :math:`2N`-th root, which SEAL uses for its NTT tables.

Everything here is plain Python integers: these functions run once per
parameter set, so clarity wins over speed.

References: [SEAL] ``native/src/seal/util/numth.cpp`` and ``modulus.cpp``;
[LN16] Longa and Naehrig, eprint 2016/504, section 2.

Examples
--------
>>> coeff_modulus_create(8, [17, 17])
[131009, 131041]
>>> is_prime(65537), is_prime(65535)
(True, False)
>>> minimal_primitive_root(16, 65537)
4
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ParameterError

# Bases that make Miller-Rabin deterministic for every n < 3.3 * 10^24 > 2^64.
_MILLER_RABIN_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def is_prime(n: int) -> bool:
    r"""Return whether ``n`` is prime (deterministic for :math:`n < 2^{64}`).

    Miller-Rabin: write :math:`n - 1 = 2^r d` with ``d`` odd; a prime ``n``
    satisfies, for every base ``a``, either :math:`a^d \equiv 1` or
    :math:`a^{2^i d} \equiv -1` for some :math:`i < r`. With the first 13
    primes as bases no composite below :math:`3.3 \cdot 10^{24}` passes.

    >>> [p for p in range(20) if is_prime(p)]
    [2, 3, 5, 7, 11, 13, 17, 19]
    """
    if n < 2:
        return False
    for p in _MILLER_RABIN_BASES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in _MILLER_RABIN_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def is_power_of_two(n: int) -> bool:
    """Return whether ``n`` is a positive power of two.

    >>> is_power_of_two(8192), is_power_of_two(12)
    (True, False)
    """
    return n > 0 and n & (n - 1) == 0


def get_primes(factor: int, bit_size: int, count: int) -> list[int]:
    r"""The ``count`` largest primes :math:`q < 2^{b}` with :math:`q \equiv 1 \pmod{factor}`.

    Returned in descending order, as SEAL's ``util::get_primes``: start at
    :math:`2^b - factor + 1` and step down by ``factor``, keeping primes, while
    the candidate stays above :math:`2^{b-1}` (so every prime has exactly
    ``bit_size`` bits).

    Raises
    ------
    ParameterError
        If fewer than ``count`` such primes exist.

    >>> get_primes(16, 10, 2)
    [1009, 977]
    """
    if count <= 0:
        raise ParameterError(f"count must be positive, got {count}")
    primes: list[int] = []
    value = (1 << bit_size) - factor + 1
    lower_bound = 1 << (bit_size - 1)
    while len(primes) < count and value > lower_bound:
        if is_prime(value):
            primes.append(value)
        value -= factor
    if len(primes) < count:
        raise ParameterError(
            f"only {len(primes)} primes of {bit_size} bits are 1 mod {factor}, "
            f"{count} were requested; use fewer primes of this size or other bit sizes"
        )
    return primes


def coeff_modulus_create(poly_modulus_degree: int, bit_sizes: Sequence[int]) -> list[int]:
    r"""Choose NTT-friendly primes of the given bit sizes exactly as SEAL does.

    SEAL's ``CoeffModulus::Create(N, bit_sizes)``: for each distinct bit size
    ``b`` used ``k`` times it takes the ``k`` largest ``b``-bit primes that are
    1 mod ``2N`` (descending), and hands them to the positions with that bit
    size from first to last, *taking from the end of the list*, so the first
    position gets the smallest of them. The wire format depends on this order.

    Raises
    ------
    ParameterError
        If ``N`` is not a power of two, a bit size is outside ``[2, 61]``, or
        not enough primes exist.

    >>> coeff_modulus_create(8192, [60, 40, 40, 60])
    [1152921504606748673, 1099510890497, 1099511480321, 1152921504606830593]
    """
    if not is_power_of_two(poly_modulus_degree) or poly_modulus_degree < 2:
        raise ParameterError(
            f"poly_modulus_degree must be a power of two >= 2, got {poly_modulus_degree}"
        )
    if not bit_sizes:
        raise ParameterError("bit_sizes is empty; give at least one prime size, e.g. [60, 40, 60]")
    for b in bit_sizes:
        if not isinstance(b, int) or not 2 <= b <= 61:
            raise ParameterError(
                f"every prime bit size must be an integer in [2, 61], got {b!r}; "
                "heedu's uint64 arithmetic needs primes below 2^61"
            )
    factor = 2 * poly_modulus_degree
    pools = {
        b: get_primes(factor, b, list(bit_sizes).count(b)) for b in sorted(set(bit_sizes))
    }
    return [pools[b].pop() for b in bit_sizes]


def mod_inverse(a: int, q: int) -> int:
    r"""The inverse of ``a`` modulo ``q``: the ``x`` in :math:`[0, q)` with :math:`ax \equiv 1`.

    Raises
    ------
    ValueError
        If :math:`\gcd(a, q) \ne 1`.

    >>> mod_inverse(3, 7)
    5
    """
    return pow(a, -1, q)


def is_primitive_root(root: int, degree: int, q: int) -> bool:
    r"""Whether ``root`` has multiplicative order exactly ``degree`` (a power of two) mod ``q``.

    For a power of two :math:`m`, :math:`\psi` has order :math:`m` iff
    :math:`\psi^{m/2} \equiv -1`.

    >>> is_primitive_root(4, 16, 65537)
    True
    """
    if not is_power_of_two(degree) or degree < 2:
        raise ParameterError(f"degree must be a power of two >= 2, got {degree}")
    return pow(root, degree // 2, q) == q - 1


def primitive_root(degree: int, q: int) -> int:
    r"""Some primitive ``degree``-th root of unity mod the prime ``q``.

    For any :math:`x`, :math:`x^{(q-1)/m}` has order dividing :math:`m`; for a
    power of two :math:`m` the order is exactly :math:`m` iff the
    :math:`(m/2)`-th power is :math:`-1`, true for half of all :math:`x`. We try
    :math:`x = 2, 3, \dots` deterministically; no factoring of :math:`q - 1`.

    Raises
    ------
    ParameterError
        If ``q`` is not a prime with :math:`q \equiv 1 \pmod{degree}`.

    >>> primitive_root(16, 97)
    8
    """
    if not is_prime(q) or (q - 1) % degree != 0:
        raise ParameterError(f"{q} is not a prime congruent to 1 mod {degree}")
    # No factoring of q - 1 needed: for a power-of-two degree m, x^((q-1)/m) has order exactly m
    # iff its (m/2)-th power is -1, which holds for half of all x. Try x = 2, 3, ... in turn.
    x = 2
    while True:
        root = pow(x, (q - 1) // degree, q)
        if is_primitive_root(root, degree, q):
            return root
        x += 1


def minimal_primitive_root(degree: int, q: int) -> int:
    r"""The numerically smallest primitive ``degree``-th root of unity mod ``q``.

    All primitive roots of order :math:`m` are :math:`\psi^k` with ``k`` odd
    (for :math:`m` a power of two); we take the minimum over them, as SEAL's
    ``try_minimal_primitive_root`` does. SEAL's NTT tables are built from this
    root, so matching it makes heedu's NTT-form data identical to SEAL's.

    >>> minimal_primitive_root(16, 97)
    8
    """
    root = primitive_root(degree, q)
    square = root * root % q
    best, current = root, root
    for _ in range(degree // 2 - 1):
        current = current * square % q
        best = min(best, current)
    return best


def bit_reverse(value: int, bits: int) -> int:
    """Reverse the lowest ``bits`` bits of ``value``.

    >>> bit_reverse(0b0011, 4)
    12
    """
    return int(format(value, f"0{bits}b")[::-1], 2) if bits else 0
