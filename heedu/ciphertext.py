r"""Ciphertexts: RLWE tuples :math:`(c_0, \dots, c_{t-1})` in NTT form at a level, with the scale as metadata.

**Invariant.** A ciphertext at level :math:`\ell` decrypts to
:math:`\sum_i c_i s^i = \mathrm{pt} + e \pmod{Q_\ell}`: the encoded message
(scale :math:`\Delta`) plus small noise. Fresh ciphertexts have :math:`t = 2`; a
product has :math:`t = 3` until it is relinearized.

Like :class:`~heedu.plaintext.Plaintext`, a :class:`Ciphertext` is a value type:
encryption makes it, the evaluator transforms it, serialization stores it, and
:func:`check_ciphertext` says, in one place, what a valid one is.

Examples
--------
On the toy ring of :class:`~heedu.evaluator.Evaluator`'s example (``ctx``, ``N = 16``):

>>> zero = Ciphertext(np.zeros((2, 1, 16), dtype=np.uint64), level=0, scale=2.0**30)
>>> check_ciphertext(ctx, zero)
Ciphertext(size=2, level=0, log2(scale)=30.00, seeded=False)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ContextMismatchError
from .params import CKKSContext
from .plaintext import check_polynomials, describe_scale


@dataclass(frozen=True, eq=False)
class Ciphertext:
    r"""Polynomials :math:`c_0, \dots, c_{t-1}` in NTT form at a level, with the scale as metadata.

    ``data`` has shape ``(t, level + 1, N)``, ``uint64``. ``seed`` is set only
    for a fresh symmetric encryption: then ``data[1]`` equals the expansion of
    the seed, and serialization stores the seed instead.
    """

    data: np.ndarray
    level: int
    scale: float
    seed: bytes | None = None

    @property
    def size(self) -> int:
        """Number of polynomials (2 after encryption or relinearization, 3 after a multiply)."""
        return int(self.data.shape[0])

    def __repr__(self) -> str:
        return (
            f"Ciphertext(size={self.size}, level={self.level}, log2(scale)={describe_scale(self.scale)}, "
            f"seeded={self.seed is not None})"
        )


def check_ciphertext(context: CKKSContext, ciphertext: object) -> Ciphertext:
    """Validate that ``ciphertext`` is a :class:`Ciphertext` of this context, with two or more polynomials.

    Raises
    ------
    TypeError
        Not a :class:`Ciphertext`.
    ContextMismatchError
        Fewer than two polynomials, or a shape of other parameters.
    LevelError, ShapeError, ScaleOutOfBoundsError
        As :func:`~heedu.plaintext.check_polynomials`.
    """
    if not isinstance(ciphertext, Ciphertext):
        raise TypeError(f"expected a Ciphertext, got {type(ciphertext).__name__}")
    shape = getattr(ciphertext.data, "shape", None)
    if shape is None or len(shape) != 3 or shape[0] < 2:
        raise ContextMismatchError(f"ciphertext data has shape {shape}, expected (size >= 2, level + 1, N)")
    check_polynomials(context, ciphertext.data, ciphertext.level, ciphertext.scale, "ciphertext")
    return ciphertext
