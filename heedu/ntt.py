r"""The negacyclic number-theoretic transform (NTT), batched over RNS rows, in SEAL's order.

Why: multiplying two polynomials in :math:`\mathbb{Z}_q[X]/(X^N+1)` by the
schoolbook rule costs :math:`N^2` products. If :math:`\psi` is a primitive
:math:`2N`-th root of unity mod ``q`` (it exists because
:math:`q \equiv 1 \pmod{2N}`, see ``heedu.numth``), then

.. math:: X^N + 1 = \prod_{i=0}^{N-1} (X - \psi^{2i+1}) \pmod q,

so by the Chinese remainder theorem a polynomial is determined by its values
at the :math:`N` odd powers of :math:`\psi`, and the product of two
polynomials is the pointwise product of their values. The NTT computes all
:math:`N` values in :math:`O(N \log N)`; so does its inverse.

**SEAL's conventions** (needed to read and write SEAL's NTT-form data):
:math:`\psi` is the *minimal* primitive :math:`2N`-th root; input in natural
order; output in *bit-reversed* order, i.e. output slot ``i`` holds
:math:`a(\psi^{2\,\mathrm{bitrev}(i)+1})`; the inverse multiplies by
:math:`N^{-1}`.

**The algorithm** is the iterative Cooley-Tukey transform with the twist by
powers of :math:`\psi` merged into the twiddles ([LN16], Algorithm 1). At the
stage with ``m`` groups of gap ``t = N/(2m)``, group ``i`` applies the
butterfly :math:`(X, Y) \mapsto (X + WY, X - WY)` with
:math:`W = \psi^{\mathrm{bitrev}(m+i)}`. The inverse undoes the stages in
reverse order with the Gentleman-Sande butterfly
:math:`(X, Y) \mapsto (X + Y, (X - Y) W^{-1})` and scales by :math:`N^{-1}`.
Each stage is *one* vectorized step: reshaping the ``(..., k, N)`` array to
``(..., k, m, 2, t)`` puts every ``X`` and every ``Y`` of the stage in two
strided views, so no Python loop runs over coefficients or rows. Twiddle
products use Shoup's trick (``heedu.modarith``) with precomputed companions.

The slow oracles beside the fast kernels: :func:`negacyclic_multiply_schoolbook`
and :func:`ntt_reference` (direct evaluation at the odd powers of
:math:`\psi`, in Python integers).

References: [LN16] Longa and Naehrig, eprint 2016/504; [Harvey14] arXiv 1205.2926;
[SEAL] ``native/src/seal/util/ntt.cpp``.

Examples
--------
>>> import numpy as np
>>> tables = NTTTables(8, [17])
>>> a = np.array([[1, 2, 0, 0, 0, 0, 0, 0]], dtype=np.uint64)  # 1 + 2X
>>> b = np.array([[0, 0, 0, 0, 0, 0, 0, 1]], dtype=np.uint64)  # X^7
>>> tables.inverse(tables.forward(a) * tables.forward(b) % 17).tolist()  # (1 + 2X) X^7 = -2 + X^7
[[15, 0, 0, 0, 0, 0, 0, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from . import modarith
from .errors import ParameterError, ShapeError
from .numth import bit_reverse, is_power_of_two, is_prime, minimal_primitive_root, mod_inverse

_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


@lru_cache(maxsize=64)
def _prime_tables(n: int, q: int) -> tuple[np.ndarray, ...]:
    """Twiddles for one prime: psi^bitrev(i), their inverses, both with Shoup companions."""
    if not is_prime(q) or q % (2 * n) != 1:
        raise ParameterError(f"{q} is not a prime congruent to 1 mod 2N = {2 * n}")
    if q.bit_length() > modarith.MAX_MODULUS_BITS:
        raise ParameterError(f"{q} has {q.bit_length()} bits; heedu supports primes below 2^61")
    psi = minimal_primitive_root(2 * n, q)
    psi_inv = mod_inverse(psi, q)
    log_n = n.bit_length() - 1
    powers, inverse_powers = [1] * n, [1] * n
    for i in range(1, n):
        powers[i] = powers[i - 1] * psi % q
        inverse_powers[i] = inverse_powers[i - 1] * psi_inv % q
    order = [bit_reverse(i, log_n) for i in range(n)]
    root = np.array([powers[j] for j in order], dtype=np.uint64)
    inv_root = np.array([inverse_powers[j] for j in order], dtype=np.uint64)
    qq = np.uint64(q)
    n_inv = np.array([mod_inverse(n, q)], dtype=np.uint64)
    return (
        root,
        modarith.shoup_precompute(root, qq),
        inv_root,
        modarith.shoup_precompute(inv_root, qq),
        n_inv,
        modarith.shoup_precompute(n_inv, qq),
        np.array([psi], dtype=np.uint64),
    )


class NTTTables:
    r"""Precomputed twiddles for the negacyclic NTT of degree ``n`` modulo each of ``moduli``.

    Transforms act on arrays of shape ``(..., k, n)`` (``k = len(moduli)``):
    row ``j`` of the last two axes is reduced modulo ``moduli[j]``; leading
    axes are batch axes (e.g. the polynomials of a ciphertext).

    Parameters
    ----------
    n : int
        Polynomial degree, a power of two (at least 2).
    moduli : sequence of int
        Primes :math:`q \equiv 1 \pmod{2n}` below :math:`2^{61}`.

    Raises
    ------
    ParameterError
        If ``n`` is not a power of two or a modulus is not a suitable prime.
    """

    def __init__(self, n: int, moduli: Sequence[int]) -> None:
        if not is_power_of_two(n) or n < 2:
            raise ParameterError(f"NTT degree must be a power of two >= 2, got {n}")
        self.n = n
        self.moduli = tuple(int(q) for q in moduli)
        per_prime = [_prime_tables(n, q) for q in self.moduli]
        stack = [np.stack([t[i] for t in per_prime]) for i in range(7)]
        self.root, self.root_shoup, self.inv_root, self.inv_root_shoup = stack[:4]
        self.n_inv, self.n_inv_shoup = stack[4], stack[5]
        # Shoup companions split into 32-bit halves once, for the butterflies' mulhi.
        self.root_shoup_low = self.root_shoup & _LOW32
        self.root_shoup_high = self.root_shoup >> _32
        self.inv_root_shoup_low = self.inv_root_shoup & _LOW32
        self.inv_root_shoup_high = self.inv_root_shoup >> _32
        self.n_inv_shoup_low = self.n_inv_shoup & _LOW32
        self.n_inv_shoup_high = self.n_inv_shoup >> _32
        self.psi = tuple(int(x[0]) for x in stack[6])
        self.q = modarith.as_moduli(self.moduli)

    def _check(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        if values.dtype != np.uint64 or values.shape[-2:] != (len(self.moduli), self.n):
            raise ShapeError(
                f"expected a uint64 array of shape (..., {len(self.moduli)}, {self.n}), "
                f"got {values.dtype} {values.shape}"
            )
        return values

    def forward(self, values: np.ndarray) -> np.ndarray:
        r"""NTT of each row: natural-order coefficients in, bit-reversed evaluations out.

        Output ``[..., j, i]`` is :math:`a_j(\psi_j^{2\,\mathrm{bitrev}(i)+1}) \bmod q_j`.
        Inputs must be reduced mod their row's prime; outputs are.
        """
        a = self._check(values).copy()
        k, n = len(self.moduli), self.n
        batch = a.reshape(-1, k, n)
        work = _Workspace(batch.shape[0], k, n)
        q = self.q.reshape(1, k, 1, 1)
        m, t = 1, n // 2
        while m < n:
            view = batch.reshape(-1, k, m, 2, t)
            x, y = view[:, :, :, 0, :], view[:, :, :, 1, :]
            stage = slice(m, 2 * m)
            wy = work.mul_shoup(
                y,
                self.root[None, :, stage, None],
                self.root_shoup_low[None, :, stage, None],
                self.root_shoup_high[None, :, stage, None],
                q,
                (m, t),
            )
            work.sub_mod(x, wy, q, out=y)
            work.add_mod(x, wy, q, out=x)
            m, t = 2 * m, t // 2
        return a

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Inverse NTT of each row: bit-reversed evaluations in, coefficients out (times 1/n)."""
        a = self._check(values).copy()
        k, n = len(self.moduli), self.n
        batch = a.reshape(-1, k, n)
        work = _Workspace(batch.shape[0], k, n)
        q = self.q.reshape(1, k, 1, 1)
        m, t = n // 2, 1
        while m >= 1:
            view = batch.reshape(-1, k, m, 2, t)
            x, y = view[:, :, :, 0, :], view[:, :, :, 1, :]
            stage = slice(m, 2 * m)
            difference = work.sub_mod(x, y, q, out=work.spare((m, t)))
            work.add_mod(x, y, q, out=x)
            work.mul_shoup(
                difference,
                self.inv_root[None, :, stage, None],
                self.inv_root_shoup_low[None, :, stage, None],
                self.inv_root_shoup_high[None, :, stage, None],
                q,
                (m, t),
                out=y,
            )
            m, t = m // 2, 2 * t
        # Scale by 1/n, one half of each row at a time so the workspace shapes fit.
        halves = batch.reshape(-1, k, 2, n // 2)
        for half in (halves[:, :, :1, :], halves[:, :, 1:, :]):
            work.mul_shoup(
                half,
                self.n_inv[None, :, :, None],
                self.n_inv_shoup_low[None, :, :, None],
                self.n_inv_shoup_high[None, :, :, None],
                q,
                (1, n // 2),
                out=half,
            )
        return a


class _Workspace:
    """Preallocated scratch arrays for one transform, so no stage allocates memory.

    Allocating fresh temporaries for every ufunc call costs more than the
    arithmetic once arrays pass a few hundred kilobytes (page faults), so the
    butterflies below write into these buffers with ``out=``. The arithmetic is
    exactly that of :func:`heedu.modarith.mul_shoup` and friends. Writing results
    into contiguous scratch and touching the strided ``X``/``Y`` views once per
    stage measured faster than Harvey's lazy variant, which needs more strided passes.
    """

    def __init__(self, batch: int, k: int, n: int) -> None:
        self.shape = (batch, k)
        self.size = batch * k * n // 2
        self.buffers = [np.empty(self.size, dtype=np.uint64) for _ in range(6)]

    def _views(self, group_shape: tuple[int, int]) -> list[np.ndarray]:
        return [b.reshape(*self.shape, *group_shape) for b in self.buffers]

    def spare(self, group_shape: tuple[int, int]) -> np.ndarray:
        return self._views(group_shape)[5]

    def mul_shoup(
        self,
        y: np.ndarray,
        w: np.ndarray,
        w_shoup_low: np.ndarray,
        w_shoup_high: np.ndarray,
        q: np.ndarray,
        group_shape: tuple[int, int],
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``y * w mod q`` by Shoup's method, into scratch (or ``out``); see :func:`heedu.modarith.mul_shoup`."""
        y0, y1, low, cross1, cross2 = self._views(group_shape)[:5]
        np.bitwise_and(y, _LOW32, out=y0)
        np.right_shift(y, _32, out=y1)
        np.multiply(y0, w_shoup_low, out=low)
        np.right_shift(low, _32, out=low)
        np.multiply(y1, w_shoup_low, out=cross1)
        np.multiply(y0, w_shoup_high, out=cross2)
        np.multiply(y1, w_shoup_high, out=y1)  # y1 now holds the high-high product
        for cross in (cross1, cross2):  # the middle products' low halves carry into the low word...
            np.bitwise_and(cross, _LOW32, out=y0)
            np.add(low, y0, out=low)
        np.right_shift(low, _32, out=low)
        for cross in (cross1, cross2):  # ...and their high halves go straight into the high word
            np.right_shift(cross, _32, out=cross)
            np.add(y1, cross, out=y1)
        np.add(y1, low, out=y1)  # y1 = floor(y * w_shoup / 2^64), the Shoup quotient
        np.multiply(y1, q, out=y1)
        np.multiply(y, w, out=y0)
        np.subtract(y0, y1, out=y0)  # in [0, 2q)
        np.subtract(y0, q, out=y1)
        return np.minimum(y0, y1, out=y0 if out is None else out)

    def add_mod(self, x: np.ndarray, y: np.ndarray, q: np.ndarray, out: np.ndarray) -> np.ndarray:
        total, shifted = self.buffers[3].reshape(out.shape), self.buffers[4].reshape(out.shape)
        np.add(x, y, out=total)
        np.subtract(total, q, out=shifted)
        return np.minimum(total, shifted, out=out)

    def sub_mod(self, x: np.ndarray, y: np.ndarray, q: np.ndarray, out: np.ndarray) -> np.ndarray:
        total, shifted = self.buffers[3].reshape(out.shape), self.buffers[4].reshape(out.shape)
        np.subtract(x, y, out=total)
        np.add(total, q, out=total)
        np.subtract(total, q, out=shifted)
        return np.minimum(total, shifted, out=out)


def galois_permutation_ntt(n: int, galois_elt: int) -> np.ndarray:
    r"""Index map of the automorphism :math:`X \mapsto X^g` on NTT-form (bit-reversed) data.

    :math:`\sigma_g(a)(\psi^e) = a(\psi^{e g})`, so output slot ``i`` (point
    :math:`\psi^{2\,\mathrm{bitrev}(i)+1}`) takes input slot
    :math:`\mathrm{bitrev}(((2\,\mathrm{bitrev}(i)+1) g \bmod 2n - 1)/2)`. A
    rotation is therefore a pure gather in the NTT domain, as in SEAL.

    >>> galois_permutation_ntt(4, 7).tolist()  # X -> X^-1 (conjugation) reverses the bit-reversed order
    [3, 2, 1, 0]
    """
    if galois_elt % 2 == 0 or not 0 < galois_elt < 2 * n:
        raise ParameterError(f"a Galois element must be odd and in (0, 2N) = (0, {2 * n}), got {galois_elt}")
    log_n = n.bit_length() - 1
    reverse = np.array([bit_reverse(i, log_n) for i in range(n)], dtype=np.int64)
    exponents = ((2 * reverse + 1) * galois_elt) % (2 * n)
    return reverse[(exponents - 1) // 2]


# --------------------------------------------------------------------------------------
# Slow, obviously correct references
# --------------------------------------------------------------------------------------


def negacyclic_multiply_schoolbook(a: Sequence[int], b: Sequence[int], q: int) -> list[int]:
    r"""The product :math:`ab \bmod (X^n + 1, q)` by the definition: :math:`X^n = -1`.

    >>> negacyclic_multiply_schoolbook([1, 2], [0, 1], 17)  # (1 + 2X) X = X + 2X^2 = -2 + X
    [15, 1]
    """
    n = len(a)
    out = [0] * n
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            if i + j < n:
                out[i + j] += int(ai) * int(bj)
            else:
                out[i + j - n] -= int(ai) * int(bj)
    return [c % q for c in out]


def ntt_reference(a: Sequence[int], q: int) -> list[int]:
    r"""NTT by direct evaluation: entry ``i`` is :math:`a(\psi^{2\,\mathrm{bitrev}(i)+1}) \bmod q`.

    >>> ntt_reference([1, 1], 17)  # psi = 4 is the minimal 4th root mod 17: (1 + 4, 1 - 4)
    [5, 14]
    """
    n = len(a)
    psi = minimal_primitive_root(2 * n, q)
    log_n = n.bit_length() - 1
    out = []
    for i in range(n):
        point = pow(psi, 2 * bit_reverse(i, log_n) + 1, q)
        out.append(sum(int(c) * pow(point, j, q) for j, c in enumerate(a)) % q)
    return out
