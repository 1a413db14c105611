r"""Homomorphic operations on CKKS ciphertexts, with level and scale as checked metadata.

Each operation maps the decryption invariant
:math:`\sum_i c_i s^i = \Delta m + e \pmod{Q_\ell}` to a new one:

* **add/sub/negate**: componentwise; scales and levels must match, noises add.
* **multiply_plain**: :math:`(c_0 \cdot \mathrm{pt}, c_1 \cdot \mathrm{pt})`;
  scale :math:`\Delta_c \Delta_p`.
* **multiply**: the tensor product
  :math:`(c_0 d_0,\ c_0 d_1 + c_1 d_0,\ c_1 d_1)` decrypts under
  :math:`(1, s, s^2)` to the product; scale :math:`\Delta_c \Delta_d`.
* **relinearize**: key-switch :math:`c_2` from :math:`s^2` to :math:`s` and fold
  it into :math:`(c_0, c_1)`.
* **rescale_to_next**: divide everything by the last prime :math:`q_\ell`
  (rounding): level :math:`\ell \to \ell - 1`, scale
  :math:`\Delta \to \Delta / q_\ell`, noise divided too. This is what keeps the
  scale from squaring at every multiplication.
* **mod_switch_to_next**: drop :math:`q_\ell` without dividing (a value mod
  :math:`Q_\ell` is also one mod :math:`Q_{\ell-1}`): level down, scale kept.
  Used to bring operands to a common level.
* **rotate_vector**: apply :math:`\sigma_{3^r}` (slots move left by ``r``) then
  key-switch :math:`c_1` back to :math:`s`; **complex_conjugate** likewise with
  :math:`g = 2N - 1`; **rotate_vector_hoisted** shares one decomposition among
  many steps (``heedu.keyswitch``).

Nothing happens behind the user's back: no automatic relinearization or
rescaling (that would hide the lesson). Mismatches raise typed errors that
show both operands and say how to align them.

References: [CKKS17] eprint 2016/421, section 3; [CHKKS18] eprint 2018/931;
[SEAL] ``evaluator.cpp``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from . import keyswitch, modarith
from .ciphertext import Ciphertext, check_ciphertext
from .errors import LevelError, OperandError, ScaleMismatchError, ScaleOutOfBoundsError
from .keys import GaloisKeys, RelinKeys, galois_elt_from_step
from .params import CKKSContext
from .plaintext import Plaintext, check_plaintext

# Relative tolerance for "the same scale": SEAL compares scales up to a few ulps.
SCALE_RELATIVE_TOLERANCE = 1e-12


def _describe(operand: Ciphertext | Plaintext) -> str:
    kind = "ciphertext" if isinstance(operand, Ciphertext) else "plaintext"
    return f"{kind} at level {operand.level} with scale 2^{math.log2(operand.scale):.7f} = {operand.scale:.10g}"


class Evaluator:
    r"""Stateless homomorphic operations for one :class:`~heedu.params.CKKSContext`.

    Every method returns a new object and leaves its arguments unchanged. Every method checks its
    operands first (:func:`~heedu.ciphertext.check_ciphertext`): an object that is not a
    ``Ciphertext`` raises ``TypeError``; one of another context, ``ContextMismatchError``; corrupt
    data, ``ShapeError``; an impossible scale, ``ScaleOutOfBoundsError``. The ``Raises`` lists below
    name what each operation adds to that.

    Examples
    --------
    The methods' examples use this toy ring (never for real data) and its keys:

    >>> ctx = heedu.CKKSContext(heedu.CKKSParameters(poly_modulus_degree=16,
    ...     coeff_modulus_bits=[40, 30, 30, 40], scale=2.0**30, allow_insecure=True))
    >>> keygen, encoder = heedu.KeyGenerator(ctx), heedu.CKKSEncoder(ctx)
    >>> encryptor = heedu.Encryptor(ctx, keygen.public_key(), keygen.secret_key())
    >>> decryptor, evaluator = heedu.Decryptor(ctx, keygen.secret_key()), heedu.Evaluator(ctx)
    >>> relin_keys = keygen.relin_keys()
    >>> galois_keys = keygen.galois_keys(steps=[1, -1, 2], conjugation=True)
    >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0, 3.0]))
    >>> np.round(encoder.decode(decryptor.decrypt(evaluator.add(x, x)))[:3], 3).tolist()
    [2.0, 4.0, 6.0]
    """

    def __init__(self, context: CKKSContext) -> None:
        self.context = context

    def __repr__(self) -> str:
        return f"Evaluator({self.context!r})"

    # ------------------------------------------------------------------ checks

    def _ct(self, ciphertext: object) -> Ciphertext:
        return check_ciphertext(self.context, ciphertext)

    def _same_level_and_scale(self, a: Ciphertext | Plaintext, b: Ciphertext | Plaintext, op: str) -> None:
        if a.level != b.level:
            raise LevelError(
                f"{op}: operands are at different levels ({_describe(a)} vs {_describe(b)}); "
                "bring the higher one down with mod_switch_to(x, level) first"
            )
        if not math.isclose(a.scale, b.scale, rel_tol=SCALE_RELATIVE_TOLERANCE):
            raise ScaleMismatchError(
                f"{op}: operands have different scales ({_describe(a)} vs {_describe(b)}); "
                "rescale the product first, re-encode the plaintext at the ciphertext's scale, "
                "or multiply by a constant to align the scales"
            )

    def _check_scale_fits(self, scale: float, level: int, op: str) -> None:
        bits = self.context.ring(level).basis.product.bit_length()
        if scale >= 2.0 ** (bits - 1):
            raise ScaleOutOfBoundsError(
                f"{op}: the result's scale 2^{math.log2(scale):.1f} does not fit in the level-{level} "
                f"modulus of {bits} bits; rescale_to_next the operands before multiplying"
            )

    # ------------------------------------------------------------------ linear

    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """:math:`a + b`, componentwise; a size-2 and a size-3 ciphertext add to size 3.

        Raises
        ------
        LevelError
            The operands are at different levels (``mod_switch_to`` the higher one).
        ScaleMismatchError
            Their scales differ (rescale, or re-encode, first).

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0]))
        >>> np.round(encoder.decode(decryptor.decrypt(evaluator.add(x, x)))[:2], 3).tolist()
        [2.0, 4.0]
        """
        a, b = self._ct(a), self._ct(b)
        self._same_level_and_scale(a, b, "add")
        q = self.context.ring(a.level).q
        size = max(a.size, b.size)
        out = np.zeros((size, *a.data.shape[1:]), dtype=np.uint64)
        out[: a.size] = a.data
        out[: b.size] = modarith.add_mod(out[: b.size], b.data, q)
        return Ciphertext(out, a.level, a.scale)

    def negate(self, a: Ciphertext) -> Ciphertext:
        """:math:`-a`, componentwise: decrypts to the negated message, same level and scale.

        Raises
        ------
        TypeError, ContextMismatchError
            Only the operand checks every method makes (see the class).

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, -2.0]))
        >>> np.round(encoder.decode(decryptor.decrypt(evaluator.negate(x)))[:2], 3).tolist()
        [-1.0, 2.0]
        """
        a = self._ct(a)
        return Ciphertext(modarith.neg_mod(a.data, self.context.ring(a.level).q), a.level, a.scale)

    def sub(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """:math:`a - b`, componentwise: :meth:`add` of the negation, with :meth:`add`'s ``Raises``.

        Raises
        ------
        LevelError
            The operands are at different levels.
        ScaleMismatchError
            Their scales differ.

        Examples
        --------
        >>> x, y = (encryptor.encrypt(encoder.encode(v)) for v in ([5.0, 1.0], [2.0, 3.0]))
        >>> np.round(encoder.decode(decryptor.decrypt(evaluator.sub(x, y)))[:2], 3).tolist()
        [3.0, -2.0]
        """
        return self.add(a, self.negate(b))

    def add_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        """:math:`(c_0 + \\mathrm{pt}, c_1, \\dots)`: scales and levels must match.

        Raises
        ------
        LevelError, ScaleMismatchError
            The plaintext is at another level or scale (encode it at the ciphertext's).

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0]))
        >>> y = evaluator.add_plain(x, encoder.encode([0.5, 0.5]))
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [1.5, 2.5]
        """
        return self._with_plain(a, plain, modarith.add_mod, "add_plain")

    def sub_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        r""":math:`(c_0 - \mathrm{pt}, c_1, \dots)`: scales and levels must match.

        Raises
        ------
        LevelError, ScaleMismatchError
            As :meth:`add_plain`.

        Examples
        --------
        >>> pt = encoder.encode([0.5, -0.25])
        >>> back = evaluator.sub_plain(evaluator.add_plain(encryptor.encrypt(pt), pt), pt)  # (pt + pt) - pt
        >>> [round(float(v), 3) for v in encoder.decode(decryptor.decrypt(back))[:2]]
        [0.5, -0.25]
        """
        return self._with_plain(a, plain, modarith.sub_mod, "sub_plain")

    def _with_plain(self, a: Ciphertext, plain: Plaintext, combine: Callable, op: str) -> Ciphertext:
        """``combine(c_0, pt)`` in place of :math:`c_0`: what add_plain and sub_plain share."""
        a, plain = self._ct(a), check_plaintext(self.context, plain)
        self._same_level_and_scale(a, plain, op)
        out = a.data.copy()
        out[0] = combine(out[0], plain.data, self.context.ring(a.level).q)
        return Ciphertext(out, a.level, a.scale)

    # ------------------------------------------------------------------ products

    def multiply_plain(self, a: Ciphertext, plain: Plaintext) -> Ciphertext:
        r"""Every component times the plaintext; scale :math:`\Delta_a \Delta_p`, same level.

        Raises
        ------
        LevelError
            The plaintext is at another level (encode it at the ciphertext's).
        ScaleOutOfBoundsError
            :math:`\Delta_a \Delta_p` would not fit in the level's modulus (rescale first).

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0]))
        >>> y = evaluator.rescale_to_next(evaluator.multiply_plain(x, encoder.encode([3.0, 0.5])))
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [3.0, 1.0]
        """
        a, plain = self._ct(a), check_plaintext(self.context, plain)
        if a.level != plain.level:
            raise LevelError(
                f"multiply_plain: {_describe(a)} but {_describe(plain)}; encode the plaintext at "
                f"level {a.level} (encoder.encode(values, level={a.level}))"
            )
        scale = a.scale * plain.scale
        self._check_scale_fits(scale, a.level, "multiply_plain")
        q = self.context.ring(a.level).q
        return Ciphertext(modarith.mul_shoup(a.data, plain.data[None], plain.shoup(q)[None], q), a.level, scale)

    def multiply(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        r"""Tensor product of two size-2 ciphertexts: size 3, scale :math:`\Delta_a \Delta_b`.

        The result decrypts under :math:`(1, s, s^2)`; :meth:`relinearize` brings it back to size 2.

        Raises
        ------
        OperandError
            An operand is not of size 2 (relinearize it first).
        LevelError
            The operands are at different levels.
        ScaleOutOfBoundsError
            :math:`\Delta_a \Delta_b` would not fit in the level's modulus (rescale first).

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.5, 2.0]))
        >>> y = evaluator.rescale_to_next(evaluator.relinearize(evaluator.multiply(x, x), relin_keys))
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [2.25, 4.0]
        """
        a, b = self._ct(a), self._ct(b)
        if a.size != 2 or b.size != 2:
            raise OperandError(
                f"multiply takes size-2 ciphertexts, got sizes {a.size} and {b.size}; relinearize first"
            )
        if a.level != b.level:
            raise LevelError(
                f"multiply: {_describe(a)} vs {_describe(b)}; bring the higher one down with mod_switch_to"
            )
        scale = a.scale * b.scale
        self._check_scale_fits(scale, a.level, "multiply")
        q = self.context.ring(a.level).q
        (a0, a1), (b0, b1) = a.data, b.data
        products = modarith.mul_mod(np.stack([a0, a0, a1, a1]), np.stack([b0, b1, b0, b1]), q)
        middle = modarith.add_mod(products[1], products[2], q)
        return Ciphertext(np.stack([products[0], middle, products[3]]), a.level, scale)

    def square(self, a: Ciphertext) -> Ciphertext:
        r""":math:`(c_0^2, 2 c_0 c_1, c_1^2)`: :meth:`multiply` by itself, three products instead of four.

        Raises
        ------
        OperandError
            Not of size 2.
        ScaleOutOfBoundsError
            :math:`\Delta^2` would not fit in the level's modulus.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([3.0, -1.0]))
        >>> y = evaluator.rescale_to_next(evaluator.relinearize(evaluator.square(x), relin_keys))
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [9.0, 1.0]
        """
        a = self._ct(a)
        if a.size != 2:
            raise OperandError(f"square takes a size-2 ciphertext, got size {a.size}; relinearize first")
        scale = a.scale * a.scale
        self._check_scale_fits(scale, a.level, "square")
        q = self.context.ring(a.level).q
        c0, c1 = a.data
        products = modarith.mul_mod(np.stack([c0, c0, c1]), np.stack([c0, c1, c1]), q)
        return Ciphertext(
            np.stack([products[0], modarith.add_mod(products[1], products[1], q), products[2]]), a.level, scale
        )

    def relinearize(self, a: Ciphertext, relin_keys: RelinKeys) -> Ciphertext:
        r"""Size 3 to size 2: :math:`(c_0, c_1) + \mathrm{KeySwitch}_{s^2 \to s}(c_2)`; size 2 is returned as is.

        Raises
        ------
        TypeError
            ``relin_keys`` is not :class:`~heedu.keys.RelinKeys`.
        OperandError
            The ciphertext has more than 3 polynomials.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([2.0]))
        >>> product = evaluator.multiply(x, x)
        >>> product.size, evaluator.relinearize(product, relin_keys).size
        (3, 2)
        """
        a = self._ct(a)
        if not isinstance(relin_keys, RelinKeys):
            raise TypeError(f"relinearize needs RelinKeys, got {type(relin_keys).__name__}")
        if a.size == 2:
            return a
        if a.size != 3:
            raise OperandError(f"relinearize handles size-3 ciphertexts, got size {a.size}")
        switched = keyswitch.switch_key(self.context, a.level, a.data[2], relin_keys.key)
        q = self.context.ring(a.level).q
        return Ciphertext(modarith.add_mod(a.data[:2], switched, q), a.level, a.scale)

    # ------------------------------------------------------------------ levels

    def rescale_to_next(self, a: Ciphertext) -> Ciphertext:
        r"""Divide by the last prime :math:`q_\ell` with rounding: level :math:`\ell-1`, scale :math:`\Delta/q_\ell`.

        Notes
        -----
        If :math:`\langle ct, (1, s) \rangle = \Delta m + e \pmod{Q_\ell}`, then after it
        :math:`\langle ct', (1, s) \rangle = (\Delta/q_\ell) m + e' \pmod{Q_{\ell-1}}` with
        :math:`|e'| \le |e|/q_\ell + (1 + h)/2` (:math:`h` the secret's Hamming weight).

        Raises
        ------
        LevelError
            The ciphertext is at level 0: no prime is left to divide by.

        Examples
        --------
        >>> x = evaluator.multiply_plain(encryptor.encrypt(encoder.encode([2.0])), encoder.encode([2.0]))
        >>> y = evaluator.rescale_to_next(x)
        >>> (x.level - y.level, round(float(encoder.decode(decryptor.decrypt(y))[0]), 3))
        (1, 4.0)
        """
        a = self._ct(a)
        if a.level == 0:
            raise LevelError(
                "rescale_to_next: the ciphertext is at level 0 (only q_0 left); no rescale is possible. "
                "Use parameters with more primes for deeper circuits."
            )
        ring = self.context.ring(a.level)
        data = ring.divide_and_round_by_last_ntt(a.data)
        return Ciphertext(data, a.level - 1, a.scale / ring.moduli[-1])

    def mod_switch_to_next(self, a: Ciphertext | Plaintext) -> Ciphertext | Plaintext:
        """Drop the last prime without dividing: level down by one, scale unchanged (a plaintext too).

        Raises
        ------
        LevelError
            Already at level 0.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.25]))
        >>> y = evaluator.mod_switch_to_next(x)
        >>> (x.level - y.level, y.scale == x.scale, round(float(encoder.decode(decryptor.decrypt(y))[0]), 3))
        (1, True, 1.25)
        """
        if isinstance(a, Plaintext):
            check_plaintext(self.context, a)
            if a.level == 0:
                raise LevelError("mod_switch_to_next: the plaintext is already at level 0")
            return Plaintext(a.data[:-1].copy(), a.level - 1, a.scale)
        a = self._ct(a)
        if a.level == 0:
            raise LevelError("mod_switch_to_next: the ciphertext is already at level 0")
        return Ciphertext(a.data[:, :-1].copy(), a.level - 1, a.scale)

    def mod_switch_to(self, a: Ciphertext | Plaintext, level: int) -> Ciphertext | Plaintext:
        """Drop primes until ``level`` (which must not be above the current level).

        Raises
        ------
        LevelError
            ``level`` is not a level of the context, or above the operand's.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.25]))
        >>> evaluator.mod_switch_to(x, 0).level
        0
        """
        self.context.check_level(level)
        if level > a.level:
            raise LevelError(f"mod_switch_to: cannot go up from level {a.level} to level {level}")
        while a.level > level:
            a = self.mod_switch_to_next(a)
        return a

    def set_scale(self, a: Ciphertext, scale: float, max_relative_change: float = 2.0**-10) -> Ciphertext:
        r"""Relabel the scale without touching the data (SEAL's ``ct.scale() = 2^40`` idiom).

        After a rescale the scale is :math:`\Delta^2 / q_\ell`, close to but not
        exactly :math:`\Delta`. Declaring it to be :math:`\Delta` multiplies the
        decrypted values by :math:`(\Delta^2/q_\ell)/\Delta`, a relative error of
        :math:`|1 - \Delta/q_\ell|` (about :math:`6 \cdot 10^{-7}` for the
        tutorial's primes): harmless when it is below the precision you need.

        Raises
        ------
        ScaleOutOfBoundsError
            ``scale`` is not a positive finite number.
        ScaleMismatchError
            If the relative change exceeds ``max_relative_change`` (then it is
            not a relabelling but a wrong answer; multiply by a constant instead).

        Examples
        --------
        >>> x = evaluator.rescale_to_next(evaluator.multiply_plain(encryptor.encrypt(encoder.encode([2.0])),
        ...                                                        encoder.encode([1.0])))
        >>> evaluator.set_scale(x, 2.0**30).scale == 2.0**30 != x.scale
        True
        """
        a = self._ct(a)
        if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ScaleOutOfBoundsError(f"set_scale: scale must be a positive finite number, got {scale!r}")
        change = abs(a.scale / scale - 1.0)
        if change > max_relative_change:
            raise ScaleMismatchError(
                f"set_scale: from 2^{math.log2(a.scale):.4f} to 2^{math.log2(scale):.4f} changes every value by a "
                f"factor {a.scale / scale:.6g}; that is a different result, not a relabelling"
            )
        return Ciphertext(a.data, a.level, float(scale))

    # ------------------------------------------------------------------ Galois

    def apply_galois(self, a: Ciphertext, galois_elt: int, galois_keys: GaloisKeys) -> Ciphertext:
        r""":math:`\sigma_g` on the slots: permute both components, then switch :math:`c_1` back to :math:`s`.

        Raises
        ------
        OperandError
            Not of size 2 (relinearize first).
        TypeError
            ``galois_keys`` is not :class:`~heedu.keys.GaloisKeys`.
        MissingKeyError
            No key for ``galois_elt``; the message lists the ones there are.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0, 3.0]))
        >>> y = evaluator.apply_galois(x, galois_keys.galois_elt_of(1), galois_keys)
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [2.0, 3.0]
        """
        a = self._galois_operands(a, galois_keys, "Galois automorphisms")
        key = galois_keys.key_for(galois_elt, f"galois_elt {galois_elt}")
        ring = self.context.ring(a.level)
        permuted = a.data[..., ring.galois_permutation(galois_elt)]
        switched = keyswitch.switch_key(self.context, a.level, permuted[1], key)
        switched[0] = modarith.add_mod(switched[0], permuted[0], ring.q)
        return Ciphertext(switched, a.level, a.scale)

    def _galois_operands(self, a: Ciphertext, galois_keys: GaloisKeys, what: str) -> Ciphertext:
        """What every Galois operation checks first: a size-2 ciphertext of this context, and Galois keys."""
        a = self._ct(a)
        if a.size != 2:
            raise OperandError(f"{what} need a size-2 ciphertext (relinearize first), got {a.size}")
        if not isinstance(galois_keys, GaloisKeys):
            raise TypeError(f"expected GaloisKeys, got {type(galois_keys).__name__}")
        return a

    def _step_elt(self, steps: int) -> int:
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
            raise OperandError(f"rotation steps must be an integer, got {steps!r}")
        return galois_elt_from_step(int(steps), self.context.poly_modulus_degree)

    def rotate_vector(self, a: Ciphertext, steps: int, galois_keys: GaloisKeys) -> Ciphertext:
        r"""Rotate the slots left by ``steps`` (negative: right), as SEAL: slot ``steps`` moves to slot 0.

        Decrypts to ``np.roll(x, -steps)``. Needs the Galois key for ``steps``.

        Raises
        ------
        OperandError
            ``steps`` is not an integer, or the ciphertext is not of size 2.
        TypeError
            ``galois_keys`` is not :class:`~heedu.keys.GaloisKeys`.
        MissingKeyError
            No key for this rotation; the message lists the steps there are keys for.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0, 3.0]))
        >>> y = evaluator.rotate_vector(x, 1, galois_keys)
        >>> np.round(encoder.decode(decryptor.decrypt(y))[:2], 3).tolist()
        [2.0, 3.0]
        """
        galois_elt = self._step_elt(steps)
        a = self._ct(a)
        if int(steps) % self.context.slot_count == 0:
            return a
        if not isinstance(galois_keys, GaloisKeys):
            raise TypeError(f"expected GaloisKeys, got {type(galois_keys).__name__}")
        galois_keys.key_for(galois_elt, f"a rotation by {steps} step(s)")
        return self.apply_galois(a, galois_elt, galois_keys)

    def rotate_vector_hoisted(self, a: Ciphertext, steps: Sequence[int], galois_keys: GaloisKeys) -> list[Ciphertext]:
        r"""Rotations of one ciphertext by several ``steps``, sharing one key-switch decomposition.

        Each result equals :meth:`rotate_vector` by that step, up to noise; the decomposition of
        :math:`c_1` into digits and their NTTs, the expensive part, is done once (hoisting).

        Raises
        ------
        OperandError, TypeError, MissingKeyError
            As :meth:`rotate_vector`, for any of the steps.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0, 3.0]))
        >>> left, right = evaluator.rotate_vector_hoisted(x, [1, -1], galois_keys)
        >>> [round(float(encoder.decode(decryptor.decrypt(y))[1]), 3) for y in (left, right)]
        [3.0, 1.0]
        """
        a = self._galois_operands(a, galois_keys, "rotations")
        ring = self.context.ring(a.level)
        elements = [self._step_elt(s) for s in steps]
        pending = [
            (g, galois_keys.key_for(g, f"a rotation by {s} step(s)"))
            for g, s in zip(elements, steps)
            if int(s) % self.context.slot_count != 0
        ]
        switched = iter(keyswitch.hoisted_switch(self.context, a.level, a.data[1], pending))
        results = []
        for g, s in zip(elements, steps):
            if int(s) % self.context.slot_count == 0:
                results.append(a)
                continue
            out = next(switched)
            permutation = ring.galois_permutation(g)
            out[0] = modarith.add_mod(out[0], a.data[0][..., permutation], ring.q)
            results.append(Ciphertext(out, a.level, a.scale))
        return results

    def complex_conjugate(self, a: Ciphertext, galois_keys: GaloisKeys) -> Ciphertext:
        r"""Conjugate every slot (:math:`g = 2N - 1`); needs a conjugation key.

        Raises
        ------
        OperandError, TypeError, MissingKeyError
            As :meth:`apply_galois`.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1 + 2j]))
        >>> y = evaluator.complex_conjugate(x, galois_keys)
        >>> complex(np.round(encoder.decode(decryptor.decrypt(y), complex_output=True)[0], 3))
        (1-2j)
        """
        return self.apply_galois(a, 2 * self.context.poly_modulus_degree - 1, galois_keys)
