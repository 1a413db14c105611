r"""The residue number system (RNS): big integers as tuples of small residues.

CKKS needs a ciphertext modulus :math:`Q` of hundreds of bits, but machines
multiply 64-bit words. The Chinese remainder theorem says that for pairwise
coprime :math:`q_0, \dots, q_{k-1}` with :math:`Q = \prod q_i`,

.. math:: \mathbb{Z}_Q \cong \mathbb{Z}_{q_0} \times \dots \times \mathbb{Z}_{q_{k-1}},
          \qquad x \mapsto (x \bmod q_0, \dots, x \bmod q_{k-1}),

a ring isomorphism: additions and multiplications happen independently per
prime ("RNS row"). Only a few operations need to look across rows, and this
module holds them:

* **compose** (:meth:`RNSBasis.compose`, reference in Python integers) and
  :meth:`RNSBasis.to_centered_float`, which recovers the centered value
  :math:`x \in (-Q/2, Q/2]` as a float through Garner's mixed-radix digits
  :math:`x = d_0 + d_1 q_0 + d_2 q_0 q_1 + \dots` (each digit needs only
  arithmetic mod one prime, so it vectorizes);
* **divide and round by the last prime** (:meth:`RNSBasis.divide_and_round_by_last`),
  the heart of *rescaling* (by :math:`q_\ell`) and *mod-down* (by the special
  prime :math:`p`): :math:`\lfloor x / q_{k-1} \rceil \bmod Q/q_{k-1}` without
  ever forming :math:`x`.

Representation: arrays of shape ``(..., k, n)``, ``uint64``, row ``i`` reduced
mod :math:`q_i`; leading axes are batch axes.

References: [BEHZ16] Bajard et al., eprint 2016/510; [CHKKS18] Cheon, Han, Kim,
Kim, Song, *A full RNS variant of approximate homomorphic encryption*,
eprint 2018/931; [SEAL] ``util/rns.cpp`` (``divide_and_round_q_last``).

Examples
--------
>>> import numpy as np
>>> basis = RNSBasis([7, 11])
>>> residues = basis.decompose([-3, 20])
>>> residues.tolist()
[[4, 6], [8, 9]]
>>> basis.compose(residues, centered=True)
[-3, 20]
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from . import modarith
from .errors import ParameterError, ShapeError


class RNSBasis:
    r"""An ordered set of pairwise coprime moduli :math:`(q_0, \dots, q_{k-1})` and CRT constants.

    Parameters
    ----------
    moduli : sequence of int
        Distinct primes below :math:`2^{61}` (heedu's ``uint64`` arithmetic bound).

    Raises
    ------
    ParameterError
        If the list is empty, has repeats, or a modulus is out of range.
    """

    def __init__(self, moduli: Sequence[int]) -> None:
        moduli = tuple(int(q) for q in moduli)
        if not moduli:
            raise ParameterError("an RNS basis needs at least one modulus")
        if len(set(moduli)) != len(moduli):
            raise ParameterError(f"RNS moduli must be distinct, got {moduli}")
        for q in moduli:
            if not 2 <= q < 2**modarith.MAX_MODULUS_BITS:
                raise ParameterError(f"RNS modulus {q} is outside [2, 2^61)")
        self.moduli = moduli
        self.q = modarith.as_moduli(moduli)
        self.product = prod(moduli)
        # Garner: inverse of q_j modulo q_i for j < i.
        self._garner_inverses = [[pow(moduli[j], -1, moduli[i]) for j in range(i)] for i in range(len(moduli))]
        # Mixed-radix digits of floor(Q / 2), the largest value that centers to itself.
        half, self._half_digits = self.product // 2, []
        for q in moduli:
            half, digit = divmod(half, q)
            self._half_digits.append(digit)
        # q_{k-1}^{-1} mod q_i for the division by the last prime, with Shoup companions.
        head = modarith.as_moduli(moduli[:-1]) if len(moduli) > 1 else np.zeros((0, 1), np.uint64)
        self._last_inverse = (
            modarith.as_moduli([pow(moduli[-1], -1, q) for q in moduli[:-1]]) if len(moduli) > 1 else head
        )
        self._last_inverse_shoup = modarith.shoup_precompute(self._last_inverse, head)

    def __len__(self) -> int:
        return len(self.moduli)

    def __repr__(self) -> str:
        bits = [q.bit_length() for q in self.moduli]
        return f"RNSBasis(bits={bits}, log2(Q)={self.product.bit_length()})"

    def _check(self, residues: np.ndarray) -> np.ndarray:
        residues = np.asarray(residues)
        if residues.dtype != np.uint64 or residues.ndim < 2 or residues.shape[-2] != len(self):
            raise ShapeError(
                f"expected uint64 residues of shape (..., {len(self)}, n), got {residues.dtype} {residues.shape}"
            )
        return residues

    # ---------------------------------------------------------------- references

    def decompose(self, values: Sequence[int]) -> np.ndarray:
        """Residues ``(k, n)`` of Python integers (any sign, any size): ``x mod q_i``."""
        return np.array([[int(v) % q for v in values] for q in self.moduli], dtype=np.uint64)

    def compose(self, residues: np.ndarray, centered: bool = False) -> list[int]:
        r"""The integers :math:`x \in [0, Q)` (or :math:`(-Q/2, Q/2]`) with the given residues.

        Reference implementation in Python integers:
        :math:`x = \sum_i [x_i (Q/q_i)^{-1}]_{q_i} \cdot Q/q_i \bmod Q`.
        Takes a ``(k, n)`` array.
        """
        residues = self._check(residues)
        if residues.ndim != 2:
            raise ShapeError(f"compose takes one (k, n) array, got shape {residues.shape}; loop over the batch")
        Q = self.product
        out = []
        for column in residues.reshape(len(self), -1).T:
            x = 0
            for xi, q in zip(column, self.moduli):
                punctured = Q // q
                x += int(xi) * pow(punctured, -1, q) % q * punctured
            x %= Q
            out.append(x - Q if centered and x > Q // 2 else x)
        return out

    # ---------------------------------------------------------------- fast paths

    def mixed_radix_digits(self, residues: np.ndarray) -> list[np.ndarray]:
        r"""Garner's digits :math:`d_i \in [0, q_i)` with :math:`x = \sum_i d_i \prod_{j<i} q_j`.

        :math:`d_i = (\dots((x_i - d_0) q_0^{-1} - d_1) q_1^{-1} \dots - d_{i-1}) q_{i-1}^{-1} \bmod q_i`.
        """
        residues = self._check(residues)
        digits: list[np.ndarray] = []
        for i, qi in enumerate(self.moduli):
            q = np.uint64(qi)
            t = residues[..., i, :]
            for j, inverse in enumerate(self._garner_inverses[i]):
                dj = digits[j] if self.moduli[j] < qi else modarith.reduce_mod(digits[j], q)
                t = modarith.mul_mod(modarith.sub_mod(t, dj, q), np.uint64(inverse), q)
            digits.append(t)
        return digits

    def to_centered_float(self, residues: np.ndarray) -> np.ndarray:
        r"""The centered values :math:`x \in (-Q/2, Q/2]` as float64, exact to double precision.

        Horner over Garner's digits gives :math:`x` with relative error about
        :math:`k \cdot 2^{-53}`; the complement digits :math:`q_i - 1 - d_i` give
        :math:`Q - 1 - x` just as accurately, so negative values keep their full
        relative precision too (subtracting two large floats would not).
        Shape ``(..., k, n)`` in, ``(..., n)`` out.
        """
        digits = self.mixed_radix_digits(residues)
        value = digits[-1].astype(np.float64)
        complement = (self.moduli[-1] - 1 - digits[-1]).astype(np.float64)
        for i in range(len(digits) - 2, -1, -1):
            qi = self.moduli[i]
            value = value * float(qi) + digits[i].astype(np.float64)
            complement = complement * float(qi) + (np.uint64(qi - 1) - digits[i]).astype(np.float64)
        complement += 1.0
        # Decide the sign exactly: x > floor(Q/2) iff its digits exceed those of floor(Q/2), compared from
        # the top (near +-Q/2, x and Q - x round to the same float, so the floats cannot decide).
        negative = np.zeros(digits[0].shape, dtype=bool)
        undecided = np.ones(digits[0].shape, dtype=bool)
        for digit, half in zip(reversed(digits), reversed(self._half_digits)):
            negative |= undecided & (digit > np.uint64(half))
            undecided &= digit == np.uint64(half)
        return np.where(negative, -complement, value)

    def divide_and_round_by_last(self, residues: np.ndarray) -> np.ndarray:
        r""":math:`\lfloor x / q_{k-1} \rceil` in the basis without its last prime (coefficient form).

        With :math:`h = \lfloor q_{k-1}/2 \rfloor` and
        :math:`r = (x + h) \bmod q_{k-1}` (read off the last row),
        :math:`x + h - r` is divisible by :math:`q_{k-1}` and
        :math:`(x + h - r)/q_{k-1} = \lfloor (x + h)/q_{k-1} \rfloor = \lfloor x/q_{k-1} \rceil`.
        Row ``i`` of the result is therefore
        :math:`((x_i + h) - r) \cdot q_{k-1}^{-1} \bmod q_i`, exactly what SEAL computes
        (as :math:`(x_i - (r - h)) q_{k-1}^{-1}`).

        Shape ``(..., k, n)`` in, ``(..., k-1, n)`` out.
        """
        residues = self._check(residues)
        if len(self) < 2:
            raise ParameterError("cannot divide by the last prime of a one-prime basis")
        last = self.moduli[-1]
        half = np.uint64(last >> 1)
        r = modarith.add_mod(residues[..., -1:, :], half, np.uint64(last))
        correction = self.last_row_correction(r)
        return self.finish_division(residues[..., :-1, :], correction)

    def last_row_correction(self, r: np.ndarray) -> np.ndarray:
        r""":math:`(r - h) \bmod q_i` for every remaining row, from :math:`r = (x + h) \bmod q_{k-1}`."""
        q = self.q[:-1]
        half = np.uint64(self.moduli[-1] >> 1)
        return modarith.sub_mod(modarith.reduce_mod(r, q), modarith.reduce_mod(half, q), q)

    def finish_division(self, head: np.ndarray, correction: np.ndarray) -> np.ndarray:
        r""":math:`(x_i - c_i) \cdot q_{k-1}^{-1} \bmod q_i` (works in either form if both inputs share it)."""
        q = self.q[:-1]
        return modarith.mul_shoup(
            modarith.sub_mod(head, correction, q), self._last_inverse, self._last_inverse_shoup, q
        )

    def drop_last(self) -> "RNSBasis":
        """The basis without its last modulus."""
        return RNSBasis(self.moduli[:-1])


def divide_and_round_reference(values: Sequence[int], divisor: int) -> list[int]:
    r"""Rounded division :math:`\lfloor (x + \lfloor d/2 \rfloor)/d \rfloor` in Python integers (the oracle)."""
    return [(int(v) + divisor // 2) // divisor for v in values]
