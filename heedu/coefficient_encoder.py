r"""Coefficient encoding: real numbers as the scaled coefficients of a polynomial.

**The idea.** The simplest way to put real numbers :math:`v_0, \dots, v_{N-1}`
into :math:`R_Q = \mathbb{Z}_Q[X]/(X^N+1)` is to make them the coefficients:

.. math:: \mathrm{pt}(X) = \sum_{i<N} \lfloor \Delta v_i \rceil X^i .

No embedding, no FFT: decoding is dividing the centered coefficients by
:math:`\Delta`. Addition still adds values; but a product is no longer a
product of values. It is a *negacyclic convolution*:
:math:`(ab)_k = \sum_{i+j=k} a_i b_j - \sum_{i+j=k+N} a_i b_j`. That is exactly
what makes it useful: placed well, one product of polynomials computes many
inner products at once (:mod:`heedu.inference.coefficient_layout`), with no
rotation and no key switching. The canonical-embedding encoder
(:mod:`heedu.encoder`) builds on this one: it computes the real coefficients
:math:`\sigma^{-1}(z)`, then encodes them here.

**Exactness.** The product :math:`v_i \Delta` is a double (exact when
:math:`\Delta` is a power of two); it is rounded half to even, and integers of
any size (a double's 53-bit mantissa times a power of two) are lifted to RNS
residues exactly (:func:`integers_to_rns`). A value whose scaled magnitude
reaches :math:`Q/2` would wrap around the modulus and decode as garbage: it is
refused with an :class:`~heedu.errors.EncodingError` instead.

The slow oracle, :func:`encode_reference`, does the same in Python integers.

References: [CKKS17] eprint 2016/421 (where :math:`\sigma^{-1}` comes before
this step); [Cheetah22] Huang et al., USENIX Security 2022 (coefficient
encoding for linear layers).

Examples
--------
>>> from heedu.params import CKKSContext, CKKSParameters
>>> toy = CKKSContext(CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30],
...                                  scale=2.0**20, special_prime=False, allow_insecure=True))
>>> coder = CoefficientEncoder(toy)
>>> pt = coder.encode([1.5, -0.25, 3.0])
>>> coder.decode(pt)[:4].tolist()
[1.5, -0.25, 3.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import modarith
from .errors import EncodingError, LevelError, ScaleOutOfBoundsError
from .params import CKKSContext
from .plaintext import Plaintext, check_plaintext
from .ring import PolyRing


def check_encoding_scale(scale: object) -> float:
    """``scale`` as a float, if it is a positive finite real number.

    Raises
    ------
    ScaleOutOfBoundsError
        Anything else (a bool, NaN, infinity, zero or a negative number).
    """
    real_types = (int, float, np.integer, np.floating)
    if isinstance(scale, bool) or not isinstance(scale, real_types) or not math.isfinite(scale) or scale <= 0:
        raise ScaleOutOfBoundsError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale)


def resolve_encoding(context: CKKSContext, scale: object, level: object) -> tuple[float, int]:
    """``(scale, level)`` of an encoding: the context's defaults (its scale, the top level) where ``None``.

    Raises
    ------
    LevelError
        ``level`` is not a data level of ``context``.
    ScaleOutOfBoundsError
        ``scale`` is not a positive finite number, or one that decoding would refuse at that level.
    """
    level = context.max_level if level is None else level
    if not isinstance(level, (int, np.integer)) or isinstance(level, bool) or not 0 <= level <= context.max_level:
        raise LevelError(f"level must be an integer in [0, {context.max_level}], got {level!r}")
    scale = check_encoding_scale(context.scale if scale is None else scale)
    context.check_scale(int(level), scale, "an encoding")  # what decoding and every other operation accept
    return scale, int(level)


def scale_and_round(values: object, scale: float, modulus: int, level: int, what: str = "values") -> np.ndarray:
    r""":math:`\lfloor \Delta v \rceil` (half to even) as integer-valued doubles, refused if :math:`\ge Q/2`.

    Raises
    ------
    EncodingError
        Non-numeric or non-finite values, or scaled values that overflow a double or reach
        half the modulus (they would wrap around it).

    >>> scale_and_round([0.5, 1.5, -2.25], 2.0, 2**20, level=0).tolist()
    [1.0, 3.0, -4.0]
    """
    try:
        raw = np.asarray(values)
        if np.iscomplexobj(raw):
            raise TypeError("complex values belong in slots (CKKSEncoder), not in coefficients")
        array = raw.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise EncodingError(f"{what} must be real numbers: {error}") from None
    if not np.all(np.isfinite(array)):
        raise EncodingError(f"{what} must be finite (no NaN or infinity)")
    with np.errstate(over="ignore"):  # an overflow to infinity is reported just below
        scaled = np.rint(array * scale)
    largest = float(np.max(np.abs(scaled))) if scaled.size else 0.0
    if not math.isfinite(largest):
        raise EncodingError(
            f"{what} times the scale 2^{math.log2(scale):.1f} overflow double precision; reduce the values or the scale"
        )
    if 2 * int(largest) >= modulus:  # exact: a float's Q/2 could round down to (Q - 1)/2
        raise EncodingError(
            f"{what} times the scale reach 2^{math.log2(largest):.1f}, beyond half the level-{level} modulus "
            f"of {modulus.bit_length()} bits: they would wrap around it; reduce the scale "
            f"(now 2^{math.log2(scale):.1f}) or the values, or encode at a higher level"
        )
    return scaled


def integers_to_rns(values: np.ndarray, ring: PolyRing) -> np.ndarray:
    r"""Residues ``(..., k, N)`` of integer-valued float64 ``values`` ``(..., N)`` of any magnitude, exactly.

    Below :math:`2^{62}` a value converts to ``int64`` directly. Above, a double is
    :math:`M \cdot 2^E` with a 53-bit integer mantissa :math:`M`, so
    :math:`x \bmod q = (M \bmod q)(2^E \bmod q) \bmod q` exactly.
    """
    values = np.asarray(values, dtype=np.float64)
    large = np.abs(values) >= 2.0**62
    if not large.any():
        return modarith.from_signed(values.astype(np.int64)[..., None, :], ring.q)
    mantissa, exponent = np.frexp(values)
    mantissa_int = np.where(large, np.ldexp(mantissa, 53), values).astype(np.int64)
    shift = np.where(large, exponent - 53, 0)
    residues = modarith.from_signed(mantissa_int[..., None, :], ring.q)
    unique_shifts, positions = np.unique(shift, return_inverse=True)
    powers = np.array([[pow(2, int(s), q) for s in unique_shifts] for q in ring.moduli], dtype=np.uint64)
    factors = np.moveaxis(powers[:, positions.reshape(shift.shape)], 0, -2)  # (..., k, N)
    return modarith.mul_mod(residues, factors, ring.q)


def encode_reference(values: Sequence[float], scale: float, moduli: Sequence[int], n: int) -> list[list[int]]:
    r"""The oracle: residues of :math:`\lfloor \Delta v_i \rceil` in Python integers, ``k`` rows of ``n``.

    >>> encode_reference([1.5, -1.0], 2.0, [17], 4)
    [[3, 15, 0, 0]]
    """
    integers = [round(float(v) * scale) for v in values] + [0] * (n - len(values))
    return [[value % q for value in integers] for q in moduli]


class CoefficientEncoder:
    r"""Encodes up to :math:`N` real numbers as the coefficients of a plaintext, and back.

    Parameters
    ----------
    context : CKKSContext

    Examples
    --------
    On the toy ring of the module's example (``toy``, ``coder``):

    >>> coder.encode([2.0], scale=2.0**10, level=0).level
    0
    """

    def __init__(self, context: CKKSContext) -> None:
        self.context = context
        self.n = context.poly_modulus_degree

    def __repr__(self) -> str:
        return f"CoefficientEncoder(N={self.n})"

    def residues(self, values: object, scale: float | None = None, level: int | None = None) -> np.ndarray:
        r"""Coefficient-form residues ``(..., k, N)`` of :math:`\lfloor \Delta v \rceil`, values ``(..., m)``, m <= N.

        The batch form of :meth:`encode` (no NTT): rows of values become rows of polynomials,
        zero-padded to :math:`N` coefficients.

        Raises
        ------
        EncodingError
            More than :math:`N` values per row, non-finite values, or values beyond the modulus.
        LevelError, ScaleOutOfBoundsError
            Bad ``level`` or ``scale``.

        >>> coder.residues([[1.0], [-1.0]], scale=4.0, level=0)[:, 0, :2].tolist()  # doctest: +ELLIPSIS
        [[4, 0], [1099511..., 0]]
        """
        scale, level = resolve_encoding(self.context, scale, level)
        ring = self.context.ring(level)
        scaled = scale_and_round(values, scale, ring.basis.product, level)
        if scaled.ndim == 0 or scaled.shape[-1] > self.n:
            raise EncodingError(f"expected at most N = {self.n} values per polynomial, got shape {scaled.shape}")
        padded = np.zeros((*scaled.shape[:-1], self.n))
        padded[..., : scaled.shape[-1]] = scaled
        return integers_to_rns(padded, ring)

    def encode(self, values: object, scale: float | None = None, level: int | None = None) -> Plaintext:
        r"""The plaintext :math:`\sum_i \lfloor \Delta v_i \rceil X^i` (NTT form) of up to :math:`N` reals.

        ``scale`` defaults to the context's, ``level`` to the top data level.

        Raises
        ------
        EncodingError
            Not a 1-D sequence of at most :math:`N` finite reals, or values beyond the modulus.
        LevelError, ScaleOutOfBoundsError
            Bad ``level`` or ``scale``.

        Examples
        --------
        >>> pt = coder.encode([1.0, 2.0], scale=2.0**10)
        >>> (pt.level, pt.scale)
        (1, 1024.0)
        """
        if np.ndim(values) != 1:
            raise EncodingError(f"expected a 1-D sequence of at most {self.n} reals, got shape {np.shape(values)}")
        scale, level = resolve_encoding(self.context, scale, level)
        residues = self.residues(values, scale, level)
        return Plaintext(self.context.ring(level).ntt.forward(residues), level, scale)

    def decode(self, plaintext: Plaintext) -> np.ndarray:
        r"""The :math:`N` centered coefficients of ``plaintext`` divided by its scale.

        Raises
        ------
        TypeError, LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
            A plaintext :func:`~heedu.plaintext.check_plaintext` refuses.

        Examples
        --------
        >>> coder.decode(coder.encode([-3.5], scale=8.0))[:2].tolist()
        [-3.5, 0.0]
        """
        plaintext = check_plaintext(self.context, plaintext)
        ring = self.context.ring(plaintext.level)
        return ring.basis.to_centered_float(ring.ntt.inverse(plaintext.data)) / plaintext.scale
