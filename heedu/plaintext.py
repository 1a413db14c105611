r"""Plaintexts: an encoded message, a polynomial in NTT form at a level, with its scale as metadata.

A :class:`Plaintext` is a value type: it knows its data, its level and its scale,
and nothing about how it was made. The encoder makes them (``heedu.encoder``),
decryption returns them (``heedu.encryption``), serialization stores them
(``heedu.serialization``); all three depend on this module, never on each other.
:func:`check_plaintext` is the one place that says what a valid plaintext of a
context is, so every boundary checks the same things.

Examples
--------
>>> import numpy as np
>>> from heedu.params import CKKSContext, CKKSParameters
>>> ctx = CKKSContext(CKKSParameters(poly_modulus_degree=8, coeff_modulus_bits=[30, 30],
...                                  scale=2.0**20, allow_insecure=True))
>>> plain = Plaintext(np.zeros((1, 8), dtype=np.uint64), level=0, scale=2.0**20)
>>> check_plaintext(ctx, plain)
Plaintext(level=0, log2(scale)=20.00)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import modarith
from .errors import ContextMismatchError, ShapeError
from .params import CKKSContext


def describe_scale(scale: object) -> str:
    """``log2(scale)`` with two decimals, for reprs and messages; the scale as given if it has no logarithm.

    >>> describe_scale(2.0**40), describe_scale(float("nan")), describe_scale("2^40")
    ('40.00', 'nan', "'2^40'")
    """
    try:
        return f"{math.log2(scale):.2f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(scale)


@dataclass(frozen=True, eq=False)
class Plaintext:
    r"""An encoded message: a polynomial in NTT form at a level, with its scale.

    ``data`` is ``(k, N)`` ``uint64`` with ``k = level + 1`` RNS rows. The
    represented real polynomial is :math:`\mathrm{data} / \mathrm{scale}`.
    """

    data: np.ndarray
    level: int
    scale: float
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Plaintext(level={self.level}, log2(scale)={describe_scale(self.scale)})"

    def shoup(self, q: np.ndarray) -> np.ndarray:
        """Shoup companions of ``data`` modulo its level's primes ``q``, computed once and cached.

        A plaintext multiplied many times (a model's weights) pays for them once.
        """
        # Keyed by the primes: the same plaintext multiplied at another level needs other companions.
        key = ("shoup", np.asarray(q, dtype=np.uint64).tobytes())
        if key not in self._cache:
            self._cache[key] = modarith.shoup_precompute(self.data, q)
        return self._cache[key]


def check_polynomials(context: CKKSContext, data: object, level: int, scale: object, what: str) -> None:
    r"""Check the RNS polynomials of a plaintext or ciphertext: level, shape, dtype, residues and scale.

    ``data`` must be a ``uint64`` array of shape ``(..., level + 1, N)`` whose row ``i`` is
    reduced modulo :math:`q_i`, and ``scale`` must satisfy :meth:`CKKSContext.check_scale`.

    Raises
    ------
    LevelError
        ``level`` is not a data level of ``context``.
    ContextMismatchError
        The shape belongs to other parameters.
    ShapeError
        The data is not ``uint64`` or holds unreduced residues.
    ScaleOutOfBoundsError
        The scale is not finite in :math:`[1, 2^{\text{bits of } Q_\ell})`.
    """
    context.check_level(level)
    shape = getattr(data, "shape", None)
    if shape is None or tuple(shape[-2:]) != (level + 1, context.poly_modulus_degree):
        raise ContextMismatchError(
            f"{what} data has shape {shape}, expected (..., {level + 1}, {context.poly_modulus_degree}) at level "
            f"{level} of this context: was it made with other parameters?"
        )
    if not isinstance(data, np.ndarray) or data.dtype != np.uint64:
        raise ShapeError(f"{what} data must be a uint64 NumPy array of residues, got {getattr(data, 'dtype', None)}")
    if (data >= context.ring(level).q).any():
        raise ShapeError(f"{what} data holds a residue that is not reduced modulo its prime: it was not made by heedu")
    context.check_scale(level, scale, f"a {what}")


def check_plaintext(context: CKKSContext, plaintext: object) -> Plaintext:
    """Validate that ``plaintext`` is a :class:`Plaintext` of this context, with one polynomial.

    Raises
    ------
    TypeError
        Not a :class:`Plaintext`.
    LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
        As :func:`check_polynomials`.
    """
    if not isinstance(plaintext, Plaintext):
        raise TypeError(f"expected a Plaintext, got {type(plaintext).__name__}")
    shape = getattr(plaintext.data, "shape", None)
    if shape is None or len(shape) != 2:
        raise ContextMismatchError(f"plaintext data must be one (k, N) polynomial, got shape {shape}")
    check_polynomials(context, plaintext.data, plaintext.level, plaintext.scale, "plaintext")
    return plaintext
