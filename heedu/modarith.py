r"""Exact modular arithmetic on NumPy ``uint64`` arrays, for primes below :math:`2^{61}`.

The problem: residues mod a 60-bit prime are 60-bit integers, and the product
of two of them has 120 bits. NumPy has no 128-bit integers, and a product in
``int64`` silently wraps. We never let that happen by accident:

* ``uint64`` multiplication in NumPy is exact *modulo* :math:`2^{64}`
  (it wraps); that gives the low 64 bits of a product for free;
* the high 64 bits come from :func:`mulhi`, which splits each factor into
  32-bit halves so that every partial product fits in 64 bits;
* with the high half we can do **Shoup's multiplication** by a fixed operand
  :math:`w` (a twiddle factor, a key): precompute
  :math:`w' = \lfloor w \cdot 2^{64} / q \rfloor`; then for any
  :math:`a < 2^{64}`, :math:`Q = \lfloor a w' / 2^{64} \rfloor` is the true
  quotient :math:`\lfloor a w / q \rfloor` or one less, so
  :math:`r = a w - Q q` (computed mod :math:`2^{64}`) lies in :math:`[0, 2q)`,
  and one conditional subtraction finishes the job.

A general product :math:`a b \bmod q` reuses the same idea: compute
:math:`b'` on the fly (:func:`shoup_precompute`, an exact vectorized
128-by-64-bit division in two 32-bit steps) and then multiply as above.

Conditional subtraction without branches: for unsigned ``x`` in
:math:`[0, 2q)`, ``min(x, x - q)`` is ``x mod q``, because when ``x < q`` the
subtraction wraps around to a huge number.

Every array function takes the modulus as a ``uint64`` array that broadcasts
against the operands (shape ``(k, 1)`` for ``k`` RNS rows of ``n``
coefficients), so one call works on a whole RNS polynomial. Inputs must be
reduced (``< q``) unless a docstring says otherwise; outputs always are.

Next to the fast kernels sit ``*_reference`` functions in plain Python
integers, which the tests treat as the truth.

References: [Shoup] V. Shoup, NTL (``MulModPrecon``); [Harvey14] D. Harvey,
*Faster arithmetic for number-theoretic transforms*, arXiv 1205.2926, section 2.

Examples
--------
>>> import numpy as np
>>> q = np.array([[1152921504606748673]], dtype=np.uint64)
>>> a = np.array([[q[0, 0] - 1]], dtype=np.uint64)
>>> int(mul_mod(a, a, q)[0, 0])  # (-1) * (-1) = 1
1
"""

from __future__ import annotations

import numpy as np

MAX_MODULUS_BITS = 61
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def as_moduli(moduli: "list[int] | tuple[int, ...] | np.ndarray") -> np.ndarray:
    """The moduli as a ``(k, 1)`` ``uint64`` column that broadcasts over ``(k, n)`` rows.

    >>> as_moduli([7, 11]).shape
    (2, 1)
    """
    return np.asarray([int(q) for q in np.ravel(moduli)], dtype=np.uint64).reshape(-1, 1)


# --------------------------------------------------------------------------------------
# 64 x 64 -> 128-bit products
# --------------------------------------------------------------------------------------


def mulhi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""High 64 bits of the 128-bit product :math:`a b`, elementwise.

    With :math:`a = a_1 2^{32} + a_0` and :math:`b = b_1 2^{32} + b_0`:

    .. math:: ab = a_1 b_1 2^{64} + (a_1 b_0 + a_0 b_1) 2^{32} + a_0 b_0,

    each partial product fits in 64 bits; the middle column is summed from its
    low halves (at most three 32-bit values, no overflow) and its carry is
    added to the high word.

    >>> import numpy as np
    >>> x = np.array([2**63 + 5], dtype=np.uint64)
    >>> int(mulhi(x, x)[0]) == (2**63 + 5) ** 2 >> 64
    True
    """
    a0, a1 = a & _LOW32, a >> _32
    b0, b1 = b & _LOW32, b >> _32
    low = a0 * b0
    cross1 = a1 * b0
    cross2 = a0 * b1
    middle = (low >> _32) + (cross1 & _LOW32) + (cross2 & _LOW32)
    return a1 * b1 + (cross1 >> _32) + (cross2 >> _32) + (middle >> _32)


def reduce_once(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Map ``x`` in ``[0, 2q)`` to ``x mod q`` without a branch: ``min(x, x - q)``.

    >>> import numpy as np
    >>> reduce_once(np.array([3, 9], dtype=np.uint64), np.uint64(7)).tolist()
    [3, 2]
    """
    with np.errstate(over="ignore"):  # x - q wraps on purpose when x < q
        return np.minimum(x, x - q)


# --------------------------------------------------------------------------------------
# Shoup multiplication by a precomputed operand
# --------------------------------------------------------------------------------------


def _divmod_shift32(numerator_high: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact ``divmod(r * 2^32, q)`` for ``r < q < 2^61``: quotient ``< 2^32`` and remainder.

    The quotient is estimated in float64 (the true value is below :math:`2^{32}`,
    so the estimate is off by at most a couple of units), then fixed by
    computing the remainder exactly in wrapping ``uint64`` arithmetic, where
    its true value lies well inside :math:`(-2^{63}, 2^{63})`.
    """
    estimate = np.floor(
        numerator_high.astype(np.float64) * (2.0**32) / q.astype(np.float64)
    ).astype(np.int64)
    estimate = np.maximum(estimate, 0).astype(np.uint64)
    with np.errstate(over="ignore"):  # exact modulo 2^64 by design
        remainder = ((numerator_high << _32) - estimate * q).view(np.int64)
    qi = q.astype(np.int64)
    for _ in range(3):  # the float estimate is within +-2 of the truth
        low = remainder < 0
        high = remainder >= qi
        estimate = estimate - low.astype(np.uint64) + high.astype(np.uint64)
        remainder = remainder + np.where(low, qi, 0) - np.where(high, qi, 0)
    return estimate, remainder.view(np.uint64)


def shoup_precompute(w: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Shoup's companion :math:`w' = \lfloor w \cdot 2^{64} / q \rfloor` for each ``w < q``.

    Long division of :math:`w \cdot 2^{64}` by ``q`` in two 32-bit steps, each
    exact (see :func:`_divmod_shift32`).

    >>> import numpy as np
    >>> q = np.uint64(97)
    >>> int(shoup_precompute(np.array([5], dtype=np.uint64), q)[0]) == (5 << 64) // 97
    True
    """
    w = np.asarray(w, dtype=np.uint64)
    q = np.asarray(q, dtype=np.uint64)
    high, remainder = _divmod_shift32(w, q)
    low, _ = _divmod_shift32(remainder, q)
    return (high << _32) | low


def mul_shoup(a: np.ndarray, w: np.ndarray, w_shoup: np.ndarray, q: np.ndarray) -> np.ndarray:
    r""":math:`a w \bmod q` given Shoup's companion ``w_shoup`` of ``w``; ``a`` may be any ``uint64``.

    Invariant: :math:`Q = \lfloor a w' / 2^{64} \rfloor \in \{\lfloor aw/q \rfloor - 1, \lfloor aw/q \rfloor\}`,
    so :math:`aw - Qq \in [0, 2q)` and is computed exactly mod :math:`2^{64}`.

    >>> import numpy as np
    >>> q, w = np.uint64(97), np.array([5], dtype=np.uint64)
    >>> mul_shoup(np.array([50], dtype=np.uint64), w, shoup_precompute(w, q), q).tolist()
    [56]
    """
    quotient = mulhi(a, w_shoup)
    with np.errstate(over="ignore"):  # both products wrap; their difference is exact
        return reduce_once(a * w - quotient * q, q)


def mul_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    r""":math:`a b \bmod q` elementwise, for reduced ``a, b < q < 2^{61}``.

    Computes Shoup's companion of ``b`` on the fly, then :func:`mul_shoup`.
    When one operand is reused (keys, plaintexts, twiddles), precompute its
    companion once and call :func:`mul_shoup` directly: it is about twice as fast.

    >>> import numpy as np
    >>> mul_mod(np.array([3], dtype=np.uint64), np.array([4], dtype=np.uint64), np.uint64(5)).tolist()
    [2]
    """
    b = np.asarray(b, dtype=np.uint64)
    return mul_shoup(np.asarray(a, dtype=np.uint64), b, shoup_precompute(b, q), q)


# --------------------------------------------------------------------------------------
# Addition and friends
# --------------------------------------------------------------------------------------


def add_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(a + b) mod q`` for reduced inputs (the sum is below ``2^62``: no wrap)."""
    return reduce_once(a + b, q)


def sub_mod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(a - b) mod q`` for reduced inputs, computed as ``a + (q - b)``."""
    return reduce_once(a + (q - b), q)


def neg_mod(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``-a mod q`` for reduced ``a`` (zero stays zero)."""
    return reduce_once(q - a, q)


def reduce_mod(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``a mod q`` for arbitrary ``uint64`` ``a`` (hardware division; fine off the hottest paths)."""
    return np.remainder(np.asarray(a, dtype=np.uint64), q)


def from_signed(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Residues mod ``q`` of signed ``int64`` values (any magnitude below ``2^63``).

    >>> import numpy as np
    >>> from_signed(np.array([-1, 5, -12]), np.uint64(7)).tolist()
    [6, 5, 2]
    """
    values = np.asarray(values, dtype=np.int64)
    magnitude = np.remainder(np.abs(values).astype(np.uint64), q)
    return np.where(values < 0, neg_mod(magnitude, q), magnitude)


def to_centered(residues: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The centered representatives in ``(-q/2, q/2]`` of residues mod ``q``, as ``int64``.

    >>> import numpy as np
    >>> to_centered(np.array([1, 6], dtype=np.uint64), np.uint64(7)).tolist()
    [1, -1]
    """
    residues = np.asarray(residues, dtype=np.uint64)
    negative = residues > (q >> np.uint64(1))
    return np.where(negative, -((q - residues).astype(np.int64)), residues.astype(np.int64))


# --------------------------------------------------------------------------------------
# Python-int references (the truth the tests compare against)
# --------------------------------------------------------------------------------------


def mul_mod_reference(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``a * b mod q`` through Python integers (slow; the oracle for :func:`mul_mod`)."""
    a, b, q = np.broadcast_arrays(*(np.asarray(x, dtype=np.uint64) for x in (a, b, q)))
    out = [int(x) * int(y) % int(m) for x, y, m in zip(a.ravel(), b.ravel(), q.ravel())]
    return np.array(out, dtype=np.uint64).reshape(a.shape)


def mulhi_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """High 64 bits of ``a * b`` through Python integers (the oracle for :func:`mulhi`)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    out = [int(x) * int(y) >> 64 for x, y in zip(a.ravel(), b.ravel())]
    return np.array(out, dtype=np.uint64).reshape(a.shape)
