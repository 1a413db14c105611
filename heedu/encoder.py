r"""The CKKS encoder: complex vectors <-> integer polynomials, through the canonical embedding.

**The idea.** A real polynomial :math:`m(X) \in \mathbb{R}[X]/(X^N+1)` is
determined by its values at the :math:`N` primitive :math:`2N`-th roots of
unity :math:`\zeta^{e}`, :math:`\zeta = e^{i\pi/N}`, :math:`e` odd. Because
:math:`m` is real, :math:`m(\bar\omega) = \overline{m(\omega)}`, so only
:math:`N/2` of the values are free: those are the **slots**. SEAL orders them
by powers of 3 (which generates, with :math:`-1`, the odd residues mod
:math:`2N`):

.. math:: z_j = m\big(\zeta^{3^j \bmod 2N}\big), \qquad j = 0, \dots, N/2 - 1,

so that the automorphism :math:`X \mapsto X^{3^r}` rotates the slots by
:math:`r` (``heedu.evaluator``). Multiplying polynomials multiplies slots
pointwise; adding adds them: the embedding is a ring isomorphism
:math:`\mathbb{R}[X]/(X^N+1) \to \mathbb{C}^{N/2}`.

**Encoding** inverts the embedding, scales by :math:`\Delta`, and rounds to the
nearest integers (half to even): :math:`\mathrm{pt} = \lfloor \Delta \cdot
\sigma^{-1}(z) \rceil`. The rounding error, at most 1/2 per coefficient,
becomes at most :math:`\frac{1}{2}\sqrt{N}`-ish per slot after dividing by
:math:`\Delta` (see ``tests``), which is why :math:`\Delta` sets the precision.

**Fast path.** Writing :math:`e = 2r + 1`,
:math:`m(\zeta^{2r+1}) = \sum_k (m_k \zeta^k)\,\omega^{rk}` with
:math:`\omega = \zeta^2 = e^{2\pi i/N}`: one length-:math:`N` FFT after a
twist by :math:`\zeta^k`. The :math:`O(N^2)` Vandermonde matrix
(:func:`embedding_matrix`) is kept as the oracle.

References: [CKKS17] Cheon, Kim, Kim, Song, eprint 2016/421, section 3.1;
[SEAL] ``native/src/seal/ckks.h``.

Examples
--------
>>> import numpy as np
>>> from heedu.params import CKKSContext, CKKSParameters
>>> ctx = CKKSContext(CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 40],
...                                  scale=2.0**30, allow_insecure=True))
>>> encoder = CKKSEncoder(ctx)
>>> (np.round(encoder.decode(encoder.encode([1.5, -2.0, 3.25])), 6)[:4] + 0.0).tolist()
[1.5, -2.0, 3.25, 0.0]
"""

from __future__ import annotations

import math

import numpy as np

from .coefficient_encoder import integers_to_rns, resolve_encoding, scale_and_round
from .errors import EncodingError, ShapeError
from .params import CKKSContext
from .plaintext import Plaintext, check_plaintext


def slot_exponents(n: int) -> np.ndarray:
    r"""The odd exponents :math:`3^j \bmod 2N` of the slot points, :math:`j < N/2`.

    >>> slot_exponents(8).tolist()
    [1, 3, 9, 11]
    """
    exponents = np.empty(n // 2, dtype=np.int64)
    value = 1
    for j in range(n // 2):
        exponents[j] = value
        value = value * 3 % (2 * n)
    return exponents


def embedding_matrix(n: int) -> np.ndarray:
    r"""The :math:`(N/2) \times N` matrix :math:`V_{jk} = \zeta^{3^j k}`: slots = V @ coefficients.

    The slow oracle: :math:`O(N^2)` memory and time.
    """
    exponents = slot_exponents(n)
    k = np.arange(n)
    return np.exp(1j * np.pi * np.outer(exponents, k) / n)


def embed_reference(coefficients: np.ndarray) -> np.ndarray:
    """Slots of a real polynomial by the Vandermonde matrix (oracle for :meth:`CKKSEncoder.embed`)."""
    coefficients = np.asarray(coefficients, dtype=np.float64)
    return embedding_matrix(coefficients.shape[-1]) @ coefficients


def inverse_embed_reference(slots: np.ndarray, n: int) -> np.ndarray:
    r"""The real polynomial with the given slots, by the Vandermonde matrix.

    The full :math:`N \times N` matrix (slots and their conjugates) satisfies
    :math:`V^H V = N I`, so :math:`m = \mathrm{Re}(V^H z)\cdot 2/N` over the half.
    """
    v = embedding_matrix(n)
    z = np.zeros(n // 2, dtype=np.complex128)
    z[: len(slots)] = slots
    return 2.0 / n * np.real(v.conj().T @ z)


class CKKSEncoder:
    r"""Encodes vectors of up to :math:`N/2` real or complex numbers into plaintexts, and back.

    Parameters
    ----------
    context : CKKSContext
    """

    def __init__(self, context: CKKSContext) -> None:
        self.context = context
        n = context.poly_modulus_degree
        self.n = n
        self.slot_count = n // 2
        exponents = slot_exponents(n)
        self._slot_index = (exponents - 1) // 2
        self._conj_index = (2 * n - exponents - 1) // 2
        self._twist = np.exp(1j * np.pi * np.arange(n) / n)

    # ------------------------------------------------------------------ embedding

    def embed(self, coefficients: np.ndarray) -> np.ndarray:
        r"""Slots :math:`z_j = m(\zeta^{3^j})` of real polynomials ``(..., N)``, by FFT.

        Raises
        ------
        ShapeError
            The last axis does not hold :math:`N` coefficients.

        Examples
        --------
        >>> x = np.zeros(16); x[0] = 2.0  # the constant polynomial 2
        >>> np.round(encoder.embed(x).real, 6).tolist()[:3]
        [2.0, 2.0, 2.0]
        """
        if np.shape(coefficients)[-1:] != (self.n,):
            raise ShapeError(f"embed takes polynomials of {self.n} coefficients, got shape {np.shape(coefficients)}")
        values = self.n * np.fft.ifft(np.asarray(coefficients, dtype=np.float64) * self._twist, axis=-1)
        return values[..., self._slot_index]

    def inverse_embed(self, slots: np.ndarray) -> np.ndarray:
        r"""The real polynomial ``(N,)`` whose slots are ``slots`` (zero-padded to :math:`N/2`).

        Raises
        ------
        EncodingError
            More than :math:`N/2` slots.

        Examples
        --------
        >>> m = encoder.inverse_embed(np.array([1.0, 2.0]))
        >>> (np.round(encoder.embed(m)[:3].real, 6) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0
        [1.0, 2.0, 0.0]
        """
        if len(slots) > self.slot_count:
            raise EncodingError(f"{len(slots)} values do not fit in {self.slot_count} slots")
        values = np.zeros(self.n, dtype=np.complex128)
        values[self._slot_index[: len(slots)]] = slots
        values[self._conj_index[: len(slots)]] = np.conj(slots)
        return np.real(np.fft.fft(values) / self.n * np.conj(self._twist))

    # ------------------------------------------------------------------ encode

    def _validate_values(self, values: object) -> np.ndarray:
        try:
            array = np.asarray(values)
        except (ValueError, TypeError) as error:
            raise EncodingError(f"values must form a 1-D numeric vector: {error}") from None
        if array.ndim == 0:
            array = array.reshape(1)
        if array.ndim != 1:
            raise EncodingError(f"expected a 1-D vector of at most {self.slot_count} values, got shape {array.shape}")
        if array.size > self.slot_count:
            raise EncodingError(
                f"{array.size} values do not fit in {self.slot_count} slots (N/2 for N = {self.n}); "
                "split them over several plaintexts or use a larger poly_modulus_degree"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise EncodingError(f"values must be real or complex numbers, got dtype {array.dtype}")
        array = array.astype(np.complex128)
        if not np.all(np.isfinite(array)):
            raise EncodingError("values must be finite (found NaN or infinity)")
        return array

    def encode(self, values: object, scale: float | None = None, level: int | None = None) -> Plaintext:
        r"""Encode up to :math:`N/2` real or complex values (or one number, in slot 0).

        Returns :math:`\lfloor \Delta\,\sigma^{-1}(z) \rceil` in NTT form at ``level``
        (default: the top data level) and ``scale`` (default: the context's).

        Raises
        ------
        EncodingError
            Too many values, non-numeric or non-finite values, or scaled values
            too large for the level's modulus.
        LevelError, ScaleOutOfBoundsError
            Bad ``level`` or ``scale``.

        Examples
        --------
        >>> pt = encoder.encode([1.5, -2.0], level=1)
        >>> (pt.level, np.round(encoder.decode(pt)[:2], 6).tolist())
        (1, [1.5, -2.0])
        """
        scale, level = resolve_encoding(self.context, scale, level)
        slots = self._validate_values(values)
        return self.encode_coefficients(self.inverse_embed(slots), scale, level)

    def encode_constant(self, value: float, scale: float | None = None, level: int | None = None) -> Plaintext:
        r"""Encode a real number in *every* slot: the constant polynomial :math:`\lfloor \Delta c \rceil`.

        Raises
        ------
        EncodingError
            ``value`` is not a finite real number, or too large for the modulus.
        LevelError, ScaleOutOfBoundsError
            Bad ``level`` or ``scale``.

        Examples
        --------
        >>> np.round(encoder.decode(encoder.encode_constant(0.5))[:3], 6).tolist()
        [0.5, 0.5, 0.5]
        """
        real_types = (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, real_types) or not math.isfinite(float(value)):
            raise EncodingError(f"encode_constant takes a finite real number, got {value!r}; use encode() for complex")
        scale, level = resolve_encoding(self.context, scale, level)
        coefficients = np.zeros(self.n)
        coefficients[0] = float(value)
        return self.encode_coefficients(coefficients, scale, level)

    def encode_coefficients(self, coefficients: np.ndarray, scale: float, level: int) -> Plaintext:
        """Scale real coefficients, round half to even, and lift them into the RNS ring in NTT form.

        The last step of encoding, shared with :class:`~heedu.coefficient_encoder.CoefficientEncoder`.

        Raises
        ------
        EncodingError
            Not :math:`N` coefficients, or scaled values beyond the level's modulus.
        LevelError, ScaleOutOfBoundsError
            Bad ``level`` or ``scale``.

        Examples
        --------
        >>> pt = encoder.encode_coefficients(np.arange(16) / 4, scale=2.0**20, level=0)
        >>> encoder.context.ring(0).basis.to_centered_float(encoder.context.ring(0).ntt.inverse(pt.data))[:3].tolist()
        [0.0, 262144.0, 524288.0]
        """
        scale, level = resolve_encoding(self.context, scale, level)
        if np.shape(coefficients) != (self.n,):
            raise EncodingError(f"expected {self.n} coefficients, got shape {np.shape(coefficients)}")
        ring = self.context.ring(level)
        scaled = scale_and_round(coefficients, scale, ring.basis.product, level, "coefficients")
        residues = integers_to_rns(scaled, ring)
        return Plaintext(ring.ntt.forward(residues), level, scale)

    # ------------------------------------------------------------------ decode

    def decode(self, plaintext: Plaintext, complex_output: bool = False) -> np.ndarray:
        r"""The slots of a plaintext, divided by its scale: real parts, or complex with ``complex_output``.

        Raises
        ------
        TypeError, LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
            A plaintext :func:`~heedu.plaintext.check_plaintext` refuses (another context, corrupt data).

        Examples
        --------
        >>> encoder.decode(encoder.encode([1j]), complex_output=True)[0].round(6)
        np.complex128(1j)
        """
        plaintext = check_plaintext(self.context, plaintext)
        ring = self.context.ring(plaintext.level)
        coefficients = ring.basis.to_centered_float(ring.ntt.inverse(plaintext.data)) / plaintext.scale
        slots = self.embed(coefficients)
        return slots if complex_output else slots.real.copy()
