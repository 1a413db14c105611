r"""The ring :math:`R_Q = \mathbb{Z}_Q[X]/(X^N + 1)` in RNS form, and its polynomials.

A :class:`PolyRing` fixes the degree :math:`N` and the primes
:math:`q_0, \dots, q_{k-1}` (so :math:`Q = \prod q_i`) and owns their NTT tables.
An :class:`RNSPoly` is an element: a ``(..., k, N)`` ``uint64`` array plus a flag
saying whether it holds **coefficients** (row ``i``, column ``j``: the
coefficient of :math:`X^j` mod :math:`q_i`, low to high) or **NTT values**
(row ``i``, column ``j``: the value at :math:`\psi_i^{2\,\mathrm{bitrev}(j)+1}`).

In NTT form, ring multiplication is pointwise; in coefficient form, it is not,
so :meth:`RNSPoly.__mul__` refuses coefficient-form operands instead of
silently computing something else. Leading axes are batches: a ciphertext's
two polynomials live in one ``(2, k, N)`` array, and every operation
vectorizes over them.

The **Galois automorphisms** :math:`\sigma_g: X \mapsto X^g` (``g`` odd) are
ring automorphisms; CKKS uses them to rotate slots (``g = 3^r``) and to
conjugate (``g = 2N - 1``). In coefficient form,
:math:`X^j \mapsto X^{jg \bmod 2N}` and :math:`X^{N+j} = -X^j`; in NTT form
the automorphism is a permutation of the evaluation points
(:func:`heedu.ntt.galois_permutation_ntt`).

Examples
--------
>>> import numpy as np
>>> ring = PolyRing(8, [17, 97])
>>> x = ring.from_signed(np.array([0, 1, 0, 0, 0, 0, 0, 0]))  # the polynomial X
>>> (x.to_ntt() ** 8).to_coeff().to_signed().tolist()  # X^8 = -1 in this ring
[-1, 0, 0, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache

import numpy as np

from . import modarith
from .errors import ContextMismatchError, FormError, ShapeError
from .ntt import NTTTables, galois_permutation_ntt
from .rns import RNSBasis


@lru_cache(maxsize=256)
def _galois_permutation(n: int, galois_elt: int) -> np.ndarray:
    return galois_permutation_ntt(n, galois_elt)


@lru_cache(maxsize=256)
def _galois_coefficient_map(n: int, galois_elt: int) -> tuple[np.ndarray, np.ndarray]:
    exponents = (np.arange(n, dtype=np.int64) * galois_elt) % (2 * n)
    return exponents % n, exponents >= n


class PolyRing:
    r""":math:`\mathbb{Z}_Q[X]/(X^N+1)` with :math:`Q = q_0 \cdots q_{k-1}`, in RNS form.

    Parameters
    ----------
    n : int
        The degree :math:`N`, a power of two.
    moduli : sequence of int
        NTT-friendly primes (:math:`q \equiv 1 \bmod 2N`, below :math:`2^{61}`).
    """

    def __init__(self, n: int, moduli: Sequence[int]) -> None:
        self.n = int(n)
        self.basis = RNSBasis(moduli)
        self.moduli = self.basis.moduli
        self.q = self.basis.q
        self.ntt = NTTTables(self.n, self.moduli)

    def __repr__(self) -> str:
        return f"PolyRing(n={self.n}, bits={[q.bit_length() for q in self.moduli]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolyRing) and (self.n, self.moduli) == (other.n, other.moduli)

    def __hash__(self) -> int:
        return hash((self.n, self.moduli))

    @cached_property
    def k(self) -> int:
        return len(self.moduli)

    @cached_property
    def without_last(self) -> "PolyRing":
        """The ring over all primes but the last (where rescale and mod-down land)."""
        return PolyRing(self.n, self.moduli[:-1])

    @cached_property
    def _last_prime_ntt(self) -> NTTTables:
        return NTTTables(self.n, self.moduli[-1:])

    def divide_and_round_by_last_ntt(self, values: np.ndarray) -> np.ndarray:
        r""":math:`\lfloor x / q_{k-1} \rceil` for NTT-form data, landing in :meth:`without_last` (NTT form).

        Only the last row leaves the NTT domain: the correction
        :math:`(r - h) \bmod q_i` of :meth:`heedu.rns.RNSBasis.divide_and_round_by_last`
        is computed in coefficient form, transformed, and subtracted pointwise
        (the formula is linear, so it holds in either form). This is SEAL's
        ``divide_and_round_q_last_ntt_inplace``, bit for bit.
        """
        last = np.uint64(self.moduli[-1])
        last_row = self._last_prime_ntt.inverse(values[..., -1:, :])
        r = modarith.add_mod(last_row, last >> np.uint64(1), last)
        correction = self.without_last.ntt.forward(self.basis.last_row_correction(r))
        return self.basis.finish_division(values[..., :-1, :], correction)

    def zeros(self, batch: tuple[int, ...] = (), is_ntt: bool = True) -> "RNSPoly":
        return RNSPoly(self, np.zeros((*batch, self.k, self.n), dtype=np.uint64), is_ntt)

    def from_signed(self, coefficients: np.ndarray, is_ntt_output: bool = False) -> "RNSPoly":
        """The polynomial with the given small signed ``int64`` coefficients (shape ``(..., N)``)."""
        coefficients = np.asarray(coefficients, dtype=np.int64)
        if coefficients.shape[-1] != self.n:
            raise ShapeError(f"expected {self.n} coefficients, got shape {coefficients.shape}")
        residues = modarith.from_signed(coefficients[..., None, :], self.q)
        poly = RNSPoly(self, residues, is_ntt=False)
        return poly.to_ntt() if is_ntt_output else poly

    def galois_permutation(self, galois_elt: int) -> np.ndarray:
        return _galois_permutation(self.n, galois_elt)


class RNSPoly:
    r"""An element (or a batch of elements) of a :class:`PolyRing`, explicit about its form.

    ``data`` has shape ``(..., k, N)``, ``uint64``, row ``i`` reduced mod
    :math:`q_i`. ``is_ntt`` says whether the columns are coefficients or NTT
    values. Operations return new polynomials; none modifies its operands.
    """

    __slots__ = ("data", "is_ntt", "ring")

    def __init__(self, ring: PolyRing, data: np.ndarray, is_ntt: bool) -> None:
        data = np.asarray(data)
        if data.dtype != np.uint64 or data.shape[-2:] != (ring.k, ring.n):
            raise ShapeError(
                f"expected uint64 data of shape (..., {ring.k}, {ring.n}), got {data.dtype} {data.shape}"
            )
        self.ring, self.data, self.is_ntt = ring, data, bool(is_ntt)

    def __repr__(self) -> str:
        form = "ntt" if self.is_ntt else "coeff"
        return f"RNSPoly({self.ring!r}, batch={self.data.shape[:-2]}, form={form})"

    def _same(self, other: "RNSPoly") -> None:
        if not isinstance(other, RNSPoly):
            raise TypeError(f"expected an RNSPoly, got {type(other).__name__}")
        if other.ring != self.ring:
            raise ContextMismatchError(f"polynomials live in different rings: {self.ring!r} and {other.ring!r}")
        if other.is_ntt != self.is_ntt:
            raise FormError("one operand is in NTT form and the other is not; convert one with to_ntt()/to_coeff()")

    def __add__(self, other: "RNSPoly") -> "RNSPoly":
        self._same(other)
        return RNSPoly(self.ring, modarith.add_mod(self.data, other.data, self.ring.q), self.is_ntt)

    def __sub__(self, other: "RNSPoly") -> "RNSPoly":
        self._same(other)
        return RNSPoly(self.ring, modarith.sub_mod(self.data, other.data, self.ring.q), self.is_ntt)

    def __neg__(self) -> "RNSPoly":
        return RNSPoly(self.ring, modarith.neg_mod(self.data, self.ring.q), self.is_ntt)

    def __mul__(self, other: "RNSPoly") -> "RNSPoly":
        self._same(other)
        if not self.is_ntt:
            raise FormError("ring multiplication needs NTT form (pointwise); call to_ntt() first")
        return RNSPoly(self.ring, modarith.mul_mod(self.data, other.data, self.ring.q), True)

    def __pow__(self, exponent: int) -> "RNSPoly":
        if not isinstance(exponent, int) or isinstance(exponent, bool) or exponent < 1:
            raise ValueError(f"RNSPoly powers take an integer exponent >= 1, got {exponent!r}")
        result = self
        for _ in range(exponent - 1):
            result = result * self
        return result

    def to_ntt(self) -> "RNSPoly":
        return self if self.is_ntt else RNSPoly(self.ring, self.ring.ntt.forward(self.data), True)

    def to_coeff(self) -> "RNSPoly":
        return RNSPoly(self.ring, self.ring.ntt.inverse(self.data), False) if self.is_ntt else self

    def apply_galois(self, galois_elt: int) -> "RNSPoly":
        r""":math:`\sigma_g(a)(X) = a(X^g)`, in whichever form the polynomial is."""
        n = self.ring.n
        if self.is_ntt:
            return RNSPoly(self.ring, self.data[..., self.ring.galois_permutation(galois_elt)], True)
        self.ring.galois_permutation(galois_elt)  # validates g
        target, negate = _galois_coefficient_map(n, galois_elt)
        values = np.where(negate, modarith.neg_mod(self.data, self.ring.q), self.data)
        out = np.empty_like(self.data)
        out[..., target] = values
        return RNSPoly(self.ring, out, False)

    def to_signed(self) -> np.ndarray:
        """Exact centered coefficients as ``int64`` (coefficient form; through Python integers).

        Raises
        ------
        FormError
            If the polynomial is in NTT form.
        OverflowError
            If a centered coefficient does not fit in ``int64``.
        """
        if self.is_ntt:
            raise FormError("to_signed() reads coefficients; call to_coeff() first")
        rows = self.data.reshape(-1, self.ring.k, self.ring.n)
        values = [self.ring.basis.compose(row, centered=True) for row in rows]
        if any(abs(v) >= 2**63 for row in values for v in row):
            raise OverflowError("a centered coefficient does not fit in int64; use ring.basis.compose")
        return np.array(values, dtype=np.int64).reshape((*self.data.shape[:-2], self.ring.n))
