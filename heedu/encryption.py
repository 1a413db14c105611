r"""Encryption and decryption: RLWE ciphertexts :math:`(c_0, c_1)` with :math:`c_0 + c_1 s \approx \Delta m`.

**Invariant.** A ciphertext at level :math:`\ell` is a tuple
:math:`(c_0, \dots, c_{t-1})` of polynomials modulo :math:`Q_\ell` with

.. math:: \sum_i c_i s^i = \mathrm{pt} + e \pmod{Q_\ell},

where :math:`\mathrm{pt}` is the encoded message (scale :math:`\Delta`) and
:math:`e` is small noise. Fresh ciphertexts have :math:`t = 2`; a product has
:math:`t = 3` until it is relinearized.

**Public-key encryption** (anyone with :math:`(b, a) = (-as + e, a)`): sample a
ternary :math:`u` and noise :math:`e_0, e_1`; then
:math:`c = (ub + e_0 + \mathrm{pt}, ua + e_1)` decrypts to
:math:`\mathrm{pt} + ue + e_0 + e_1 s`. As in SEAL, the encryption of zero is
made with the special prime :math:`p` present and then divided by :math:`p`
(rounding), which shrinks that noise to about the rounding error.

**Symmetric encryption** (with :math:`s`): :math:`c = (-as + e + \mathrm{pt}, a)`
with a uniform :math:`a` expanded from a 32-byte seed, so the ciphertext can be
stored as :math:`c_0` plus the seed: half the size. This is what
``encrypted-inference`` clients send.

**Decryption** computes :math:`\sum_i c_i s^i`, a plaintext at the ciphertext's
level and scale; decoding divides by :math:`\Delta`.

References: [CKKS17] eprint 2016/421, section 3.4; [LPR10] Lyubashevsky,
Peikert, Regev (RLWE); [SEAL] ``encryptor.cpp``, ``decryptor.cpp``.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np

from . import modarith
from .ciphertext import Ciphertext, check_ciphertext
from .errors import ContextMismatchError, MissingKeyError
from .keys import PublicKey, SecretKey, refuse_to_pickle
from .params import CKKSContext
from .plaintext import Plaintext, check_plaintext
from .sampling import SHAKE_EXPANSION, RandomSource, SecureRandomSource, SeedExpansion


class Encryptor:
    r"""Encrypts plaintexts with a public key, or with the secret key (``encrypt_symmetric``).

    Parameters
    ----------
    context : CKKSContext
    public_key : PublicKey, optional
    secret_key : SecretKey, optional
    random_source : RandomSource, optional
        Defaults to a fresh :class:`~heedu.sampling.SecureRandomSource`.
    seed_expansion : SeedExpansion, optional
        How the seed of a symmetric encryption's :math:`a` is expanded (heedu's SHAKE-256 by
        default; :class:`heedu.seal.samplers.BlakeExpansion` for SEAL 3.5's seeded ciphertexts).

    Raises
    ------
    MissingKeyError
        Neither key is given.
    ContextMismatchError
        A key does not belong to ``context``.

    Examples
    --------
    On the toy ring of :class:`~heedu.evaluator.Evaluator`'s example (``ctx``, ``keygen``, ``encoder``):

    >>> encryptor = heedu.Encryptor(ctx, keygen.public_key(), keygen.secret_key())
    >>> decryptor = heedu.Decryptor(ctx, keygen.secret_key())
    >>> x = encryptor.encrypt(encoder.encode([0.25, -1.5]))
    >>> np.round(encoder.decode(decryptor.decrypt(x))[:2], 3).tolist()
    [0.25, -1.5]
    """

    def __init__(
        self,
        context: CKKSContext,
        public_key: PublicKey | None = None,
        secret_key: SecretKey | None = None,
        random_source: RandomSource | None = None,
        seed_expansion: SeedExpansion = SHAKE_EXPANSION,
    ) -> None:
        if public_key is None and secret_key is None:
            raise MissingKeyError("an Encryptor needs a public key, a secret key, or both")
        key_shape = (context.key_ring.k, context.poly_modulus_degree)
        if public_key is not None and (
            not isinstance(public_key, PublicKey) or public_key.data.shape != (2, *key_shape)
        ):
            raise ContextMismatchError("public_key is not a PublicKey of this context")
        if secret_key is not None and (not isinstance(secret_key, SecretKey) or secret_key.data.shape != key_shape):
            raise ContextMismatchError("secret_key is not a SecretKey of this context")
        self.context = context
        self.public_key = public_key
        self._secret_key = secret_key
        self.random = random_source if random_source is not None else SecureRandomSource()
        self.seed_expansion = seed_expansion

    def __repr__(self) -> str:
        return f"Encryptor(public={self.public_key is not None}, symmetric={self._secret_key is not None})"

    def __reduce_ex__(self, protocol: object) -> tuple:
        # A public-key encryptor may travel to worker processes (its SecureRandomSource keeps no
        # state to replay); one that holds the secret key may not.
        if self._secret_key is not None:
            refuse_to_pickle(self)
        return super().__reduce_ex__(protocol)  # type: ignore[arg-type]

    def encrypt(self, plaintext: Plaintext) -> Ciphertext:
        r"""Public-key encryption: :math:`(ub + e_0, ua + e_1)` mod :math:`Q_\ell p`, divided by :math:`p`, plus pt.

        The result is at the plaintext's level and scale; its noise is about the rounding of the
        division by :math:`p` (SEAL's trick), far below a symmetric encryption's :math:`\sigma`.
        Without a special prime (``special_prime=False``) the sample is made modulo :math:`Q_\ell`
        directly and keeps its noise :math:`ue + e_0 + e_1 s`.

        Raises
        ------
        MissingKeyError
            This encryptor has no public key.
        TypeError, LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
            ``plaintext`` fails :func:`~heedu.plaintext.check_plaintext` for this context.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([1.0, 2.0], level=1))
        >>> (x.size, x.level, x.seed is None)
        (2, 1, True)
        """
        if self.public_key is None:
            raise MissingKeyError("this Encryptor has no public key; use encrypt_symmetric or pass public_key")
        plaintext = check_plaintext(self.context, plaintext)
        ctx, level = self.context, plaintext.level
        # With a special prime, encrypt modulo Q_l p and divide by p (SEAL); without one, modulo Q_l directly.
        with_special = ctx.can_switch_keys
        ring = ctx.ring_with_special(level) if with_special else ctx.ring(level)
        rows = [*range(level + 1), ctx.key_ring.k - 1] if with_special else list(range(level + 1))
        pk = self.public_key.data[:, rows, :]
        u = ring.from_signed(self.random.ternary(ctx.poly_modulus_degree)).to_ntt().data
        n = ctx.poly_modulus_degree
        noise = ring.from_signed(np.stack([self.random.gaussian(n), self.random.gaussian(n)])).to_ntt().data
        zero = modarith.add_mod(modarith.mul_mod(pk, u[None], ring.q), noise, ring.q)
        if with_special:
            zero = mod_down_ntt(ctx, zero, level)
        q = ctx.ring(level).q
        zero[0] = modarith.add_mod(zero[0], plaintext.data, q)
        return Ciphertext(zero, level, plaintext.scale)

    def encrypt_symmetric(self, plaintext: Plaintext) -> Ciphertext:
        r"""Secret-key encryption :math:`(-as + e + \mathrm{pt}, a)`, ``a`` expanded from a fresh seed.

        The ciphertext remembers the seed, so :func:`heedu.serialization.dumps` stores it instead of
        :math:`c_1`: half the size.

        Raises
        ------
        MissingKeyError
            This encryptor has no secret key.
        TypeError, LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
            As :meth:`encrypt`.

        Examples
        --------
        >>> x = encryptor.encrypt_symmetric(encoder.encode([1.0, 2.0]))
        >>> (len(x.seed), round(float(encoder.decode(decryptor.decrypt(x))[1]), 3))
        (32, 2.0)
        """
        if self._secret_key is None:
            raise MissingKeyError("this Encryptor has no secret key; use encrypt() or pass secret_key")
        plaintext = check_plaintext(self.context, plaintext)
        ctx, level = self.context, plaintext.level
        ring = ctx.ring(level)
        seed = self.random.random_bytes(self.seed_expansion.seed_bytes)
        a = self.seed_expansion.expand(seed, ring.moduli, ring.n)
        s = self._secret_key.at(ring, ctx.key_ring)
        e = ring.from_signed(self.random.gaussian(ctx.poly_modulus_degree)).to_ntt().data
        c0 = modarith.sub_mod(modarith.add_mod(e, plaintext.data, ring.q), modarith.mul_mod(a, s, ring.q), ring.q)
        return Ciphertext(np.stack([c0, a]), level, plaintext.scale, seed)


def mod_down_ntt(context: CKKSContext, values: np.ndarray, level: int) -> np.ndarray:
    r""":math:`\lfloor x / p \rceil` for NTT-form ``(..., level + 2, N)`` data over :math:`\{q_0..q_\ell, p\}`."""
    return context.ring_with_special(level).divide_and_round_by_last_ntt(values)


class Decryptor:
    r"""Decrypts with the secret key: :math:`\sum_i c_i s^i`, a plaintext at the ciphertext's level and scale.

    Never pickled, never shown (:func:`heedu.keys.refuse_to_pickle`).

    Raises
    ------
    ContextMismatchError
        The key given is not the secret key of a context with these primes.

    Examples
    --------
    >>> decryptor = heedu.Decryptor(ctx, keygen.secret_key())
    >>> decryptor
    Decryptor(<secret key hidden>)
    """

    def __init__(self, context: CKKSContext, secret_key: SecretKey) -> None:
        key_shape = (context.key_ring.k, context.poly_modulus_degree)
        if not isinstance(secret_key, SecretKey) or secret_key.data.shape != key_shape:
            raise ContextMismatchError("secret_key is not a SecretKey of this context")
        self.context = context
        self._secret_key = secret_key

    def __repr__(self) -> str:
        return "Decryptor(<secret key hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)

    def decrypt(self, ciphertext: Ciphertext) -> Plaintext:
        r"""The plaintext :math:`\sum_i c_i s^i \bmod Q_\ell` (Horner's rule), at the ciphertext's level and scale.

        Works for any size (a product not yet relinearized decrypts too). The result holds the
        message *plus the noise*: never hand it back to whoever computed on the ciphertext
        (IND-CPA-D; see the course's security chapter).

        Raises
        ------
        TypeError, LevelError, ContextMismatchError, ShapeError, ScaleOutOfBoundsError
            ``ciphertext`` fails :func:`~heedu.ciphertext.check_ciphertext` for this context.

        Examples
        --------
        >>> x = encryptor.encrypt(encoder.encode([3.0]))
        >>> round(float(encoder.decode(decryptor.decrypt(evaluator.multiply(x, x)))[0]), 3)  # size 3, scale Δ²
        9.0
        """
        ciphertext = check_ciphertext(self.context, ciphertext)
        ring = self.context.ring(ciphertext.level)
        s = self._secret_key.at(ring, self.context.key_ring)
        # Horner: ((c_{t-1} s + c_{t-2}) s + ...) s + c_0
        accumulator = ciphertext.data[-1]
        for component in ciphertext.data[-2::-1]:
            accumulator = modarith.add_mod(modarith.mul_mod(accumulator, s, ring.q), component, ring.q)
        return Plaintext(accumulator, ciphertext.level, ciphertext.scale)
