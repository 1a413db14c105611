r"""Keys: the secret, the public key, and the key-switching keys (relinearization, Galois).

**Secret key.** :math:`s \in R` with ternary coefficients, held in NTT form at
the key level (all primes, including the special prime :math:`p`).

**Public key.** An RLWE sample :math:`(b, a) = (-as + e, a)` with :math:`a`
uniform and :math:`e` small: :math:`b + as = e \approx 0`, and by the RLWE
assumption :math:`(b, a)` looks uniform to anyone without :math:`s`.

**Key-switching keys.** To turn a ciphertext decryptable under :math:`s'` into
one under :math:`s` we publish, for each data prime :math:`q_j`, an encryption
of :math:`p \cdot e_j \cdot s'` under :math:`s` modulo :math:`Q_L p`, where
:math:`e_j` is the CRT idempotent (:math:`1 \bmod q_j`, :math:`0 \bmod q_i`).
Following SEAL, component :math:`j` is :math:`(-a_j s + e_j' + [p]_{q_j} s', a_j)`
with the :math:`s'` term added *in the RNS row of* :math:`q_j` *only*, which is
exactly :math:`p e_j s'` in RNS form. ``heedu.keyswitch`` uses them.

* **Relinearization keys** switch from :math:`s' = s^2` (a product ciphertext
  has a :math:`c_2 s^2` term).
* **Galois keys** switch from :math:`s' = \sigma_g(s) = s(X^g)`: after applying
  :math:`\sigma_g` to a ciphertext it decrypts under :math:`\sigma_g(s)`.
  Rotation by ``r`` slots (left) uses :math:`g = 3^r \bmod 2N`; conjugation
  :math:`g = 2N - 1`.

**Seeded form.** The uniform :math:`a`'s are expanded from 32-byte seeds
(``heedu.sampling.expand_seed``), so serialized keys store one polynomial and a
seed per component: about half the size.

The secret key never appears in a ``repr`` and is serialized only on request.

References: [CKKS17] eprint 2016/421; [GHS12] Gentry, Halevi, Smart, eprint
2012/099 (key switching with a special prime); [SEAL] ``keygenerator.cpp``.

Examples
--------
>>> from heedu.params import CKKSContext, CKKSParameters
>>> ctx = CKKSContext(CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 40],
...                                  scale=2.0**30, allow_insecure=True))
>>> keygen = KeyGenerator(ctx)
>>> keygen.secret_key()
SecretKey(<hidden>)
>>> sorted(keygen.galois_keys(steps=[1, -1]).steps())
[-1, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

from . import modarith
from .errors import ContextMismatchError, LevelError, MissingKeyError, OperandError, SecretKeyExposureError, ShapeError
from .params import CKKSContext
from .ring import PolyRing, RNSPoly
from .sampling import SHAKE_EXPANSION, RandomSource, SecureRandomSource, SeedExpansion


def refuse_to_pickle(holder: object) -> NoReturn:
    """Raise :class:`~heedu.errors.SecretKeyExposureError`: ``holder`` holds a secret key.

    ``pickle`` is a serialization nobody asks for explicitly: ``multiprocessing``,
    ``joblib``, ``concurrent.futures`` and caches apply it to whatever they are given,
    and a pickled secret ends up in a pipe, a temporary file or a log. So every
    object that holds the secret (the key, a key generator, a decryptor, a client)
    calls this from ``__reduce_ex__``, before any of its state is written.
    """
    raise SecretKeyExposureError(
        f"refusing to pickle a {type(holder).__name__}: it holds a secret key, and pickles travel to worker "
        "processes, caches and files. Create the object where it is used, or export the key on purpose with "
        "heedu.serialization.dumps(secret_key, context, allow_secret_key=True)."
    )


class SecretKey:
    r"""The ternary secret :math:`s`: small coefficients and the NTT form at the key level.

    Never shown by ``repr``, never pickled (:func:`refuse_to_pickle`); written only by
    :func:`heedu.serialization.dumps` with ``allow_secret_key=True``.
    """

    __slots__ = ("coefficients", "data")

    def __init__(self, coefficients: np.ndarray, data: np.ndarray) -> None:
        self.coefficients = np.asarray(coefficients, dtype=np.int8)
        self.data = data

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)

    def at(self, ring: PolyRing, key_ring: PolyRing) -> np.ndarray:
        """NTT form of :math:`s` in ``ring`` (a subset of the key ring's primes): a row selection."""
        rows = [key_ring.moduli.index(q) for q in ring.moduli]
        return self.data[rows]


@dataclass(eq=False)
class PublicKey:
    r"""An RLWE sample :math:`(-as + e, a)` at the key level, ``data`` of shape ``(2, K, N)``, NTT form."""

    data: np.ndarray
    seed: bytes | None = None

    def __repr__(self) -> str:
        return f"PublicKey(rows={self.data.shape[1]}, seeded={self.seed is not None})"


@dataclass(eq=False)
class KSwitchKey:
    r"""Key-switching key: one RLWE component per data prime, ``data`` of shape ``(l+1, 2, l+2, N)``.

    ``data[j]`` encrypts :math:`p e_j s'` under :math:`s` over the primes
    :math:`\{q_0, \dots, q_l, p\}`. A fresh key covers every level
    (:math:`l = L`); :meth:`trimmed` keeps only what switching at levels up to
    :math:`l` needs (the components and rows of the higher primes are never
    touched there), which makes keys used only after rescaling much smaller.
    ``seeds[j]`` (if any) regenerates ``data[j, 1]`` (expanded over the full key
    ring, then restricted to the kept rows). ``shoup`` caches Shoup companions
    (derived, never serialized).
    """

    data: np.ndarray
    seeds: tuple[bytes, ...] | None = None
    _shoup: np.ndarray | None = field(default=None, repr=False)

    @property
    def level(self) -> int:
        """The highest data level this key can switch at."""
        return int(self.data.shape[0]) - 1

    def trimmed(self, level: int) -> KSwitchKey:
        """The same key restricted to levels ``<= level``: components ``0..level``, rows ``q_0..q_level, p``."""
        if not 0 <= level <= self.level:
            raise LevelError(
                f"cannot trim a key of level {self.level} to level {level}; choose one in [0, {self.level}]"
            )
        rows = [*range(level + 1), self.data.shape[2] - 1]
        seeds = self.seeds[: level + 1] if self.seeds is not None else None
        return KSwitchKey(np.ascontiguousarray(self.data[: level + 1][:, :, rows, :]), seeds)

    def shoup(self, key_q: np.ndarray) -> np.ndarray:
        """Shoup companions of ``data`` modulo ``key_q`` (the key's rows), computed once."""
        if self._shoup is None:
            self._shoup = modarith.shoup_precompute(self.data, key_q)
        return self._shoup


@dataclass(eq=False)
class RelinKeys:
    """Relinearization keys: a key switch from :math:`s^2` to :math:`s`."""

    key: KSwitchKey

    def __repr__(self) -> str:
        return "RelinKeys()"


@dataclass(eq=False)
class GaloisKeys:
    r"""Key switches from :math:`\sigma_g(s)` to :math:`s`, by Galois element :math:`g`."""

    keys: dict[int, KSwitchKey]
    poly_modulus_degree: int

    def __repr__(self) -> str:
        return f"GaloisKeys(steps={sorted(self.steps())}, conjugation={self.has_conjugation()})"

    def galois_elts(self) -> list[int]:
        return sorted(self.keys)

    def steps(self) -> list[int]:
        """Rotation steps covered (each as the signed step of smallest size; conjugation excluded)."""
        table = _step_of_galois_elt(self.poly_modulus_degree)
        return sorted(table[g] for g in self.keys if g in table)

    def has_conjugation(self) -> bool:
        return 2 * self.poly_modulus_degree - 1 in self.keys

    def galois_elt_of(self, step: int) -> int:
        """The Galois element of a rotation by ``step`` slots in this ring."""
        return galois_elt_from_step(step, self.poly_modulus_degree)

    def trimmed(self, levels_by_step: dict[int, int]) -> GaloisKeys:
        """Keep the keys for the given rotation steps, each trimmed to the highest level it is used at."""
        keys = {}
        for step, level in levels_by_step.items():
            galois_elt = galois_elt_from_step(step, self.poly_modulus_degree)
            keys[galois_elt] = self.key_for(galois_elt, f"a rotation by {step} step(s)").trimmed(level)
        return GaloisKeys(keys, self.poly_modulus_degree)

    def key_for(self, galois_elt: int, what: str) -> KSwitchKey:
        try:
            return self.keys[galois_elt]
        except KeyError:
            raise MissingKeyError(
                f"no Galois key for {what} (galois_elt {galois_elt}); this key set covers steps "
                f"{self.steps()}{' and conjugation' if self.has_conjugation() else ''}. "
                f"Generate it with KeyGenerator.galois_keys(steps=[...]) or compose available steps."
            ) from None


def galois_elt_from_step(step: int, poly_modulus_degree: int) -> int:
    r"""The Galois element :math:`3^{r} \bmod 2N` rotating slots left by ``step`` (negative: right).

    >>> galois_elt_from_step(1, 8192), galois_elt_from_step(-1, 16)
    (3, 11)
    """
    slots = poly_modulus_degree // 2
    return pow(3, step % slots, 2 * poly_modulus_degree)


def _step_of_galois_elt(n: int) -> dict[int, int]:
    slots = n // 2
    table = {}
    for step in range(-slots // 2 + 1, slots // 2 + 1):
        table.setdefault(galois_elt_from_step(step, n), step)
    return table


def default_rotation_steps(poly_modulus_degree: int) -> list[int]:
    """SEAL's default set: every power of two below the slot count, in both directions."""
    slots = poly_modulus_degree // 2
    powers = [1 << i for i in range(slots.bit_length() - 1)]
    return powers + [-p for p in powers]


class KeyGenerator:
    r"""Generates a secret key (or adopts one) and everything derived from it.

    Parameters
    ----------
    context : CKKSContext
    secret_key : SecretKey, optional
        Reuse an existing secret instead of sampling a new one.
    random_source : RandomSource, optional
        Defaults to a fresh :class:`~heedu.sampling.SecureRandomSource`.
    seed_expansion : SeedExpansion, optional
        How the seeds of the uniform polynomials are expanded (heedu's SHAKE-256 by default;
        :class:`heedu.seal.samplers.BlakeExpansion` for SEAL 3.5's keys).

    Raises
    ------
    ContextMismatchError
        ``secret_key`` is not a secret key of ``context``.

    Examples
    --------
    On the toy ring of :class:`~heedu.evaluator.Evaluator`'s example (``ctx``; never for real data):

    >>> keygen = heedu.KeyGenerator(ctx)
    >>> keygen.public_key().data.shape, keygen.relin_keys().key.level
    ((2, 4, 16), 2)
    """

    def __init__(
        self,
        context: CKKSContext,
        secret_key: SecretKey | None = None,
        random_source: RandomSource | None = None,
        seed_expansion: SeedExpansion = SHAKE_EXPANSION,
    ) -> None:
        self.context = context
        self.random = random_source if random_source is not None else SecureRandomSource()
        self.seed_expansion = seed_expansion
        ring = context.key_ring
        if secret_key is None:
            coefficients = self.random.ternary(context.poly_modulus_degree)
            secret_key = SecretKey(coefficients, ring.from_signed(coefficients).to_ntt().data)
        elif not isinstance(secret_key, SecretKey) or secret_key.data.shape != (ring.k, ring.n):
            raise ContextMismatchError("secret_key must be a SecretKey of this context")
        self._secret_key = secret_key

    def __repr__(self) -> str:
        return f"KeyGenerator({self.context!r}, <secret key hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)

    def secret_key(self) -> SecretKey:
        """The secret key :math:`s` (ternary), in NTT form at the key level. Keep it here.

        Examples
        --------
        >>> keygen.secret_key()
        SecretKey(<hidden>)
        """
        return self._secret_key

    def _rlwe_sample(self, ring: PolyRing, secret: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes]:
        """``(-a s + e, a, seed)`` in NTT form with ``a`` expanded from a fresh seed."""
        seed = self.random.random_bytes(self.seed_expansion.seed_bytes)
        a = self.seed_expansion.expand(seed, ring.moduli, ring.n)
        e = ring.from_signed(self.random.gaussian(ring.n)).to_ntt().data
        b = modarith.sub_mod(e, modarith.mul_mod(a, secret, ring.q), ring.q)
        return b, a, seed

    def public_key(self) -> PublicKey:
        """A fresh public key :math:`(-as + e, a)` at the key level, seeded (``a`` from 32 bytes).

        Each call draws new randomness: two public keys of one secret differ, and both work.

        Examples
        --------
        >>> pk = keygen.public_key()
        >>> (pk.data.shape, len(pk.seed))
        ((2, 4, 16), 32)
        """
        ring = self.context.key_ring
        b, a, seed = self._rlwe_sample(ring, self._secret_key.data)
        return PublicKey(np.stack([b, a]), seed)

    def create_kswitch_key(self, new_key: np.ndarray) -> KSwitchKey:
        r"""Components :math:`(-a_j s + e_j + [p]_{q_j} s'\ \text{in row } j, a_j)` for each data prime.

        ``new_key`` is :math:`s'` in NTT form at the key level, shape ``(K, N)``.

        Raises
        ------
        MissingKeyError
            The context has no special prime (``special_prime=False``): it cannot switch keys.
        ShapeError
            ``new_key`` is not a ``uint64`` array of shape ``(K, N)`` reduced modulo the key level's primes.

        Examples
        --------
        >>> s = keygen.secret_key().data
        >>> keygen.create_kswitch_key(s).data.shape  # (data primes, 2, all primes, N)
        (3, 2, 4, 16)
        """
        ctx = self.context
        ctx.check_key_switching("a relinearization or Galois key")
        ring = ctx.key_ring
        if not isinstance(new_key, np.ndarray) or new_key.dtype != np.uint64 or new_key.shape != (ring.k, ring.n):
            raise ShapeError(f"new_key must be a uint64 array of shape {(ring.k, ring.n)} (NTT form at the key level)")
        if (new_key >= ring.q).any():
            raise ShapeError("new_key holds residues that are not reduced modulo the key level's primes")
        components, seeds = [], []
        for j, qj in enumerate(ctx.data_primes):
            b, a, seed = self._rlwe_sample(ring, self._secret_key.data)
            factor = np.uint64(ctx.special_prime % qj)  # type: ignore[operator]
            q = np.uint64(qj)
            b[j] = modarith.add_mod(b[j], modarith.mul_mod(new_key[j], factor, q), q)
            components.append(np.stack([b, a]))
            seeds.append(seed)
        return KSwitchKey(np.stack(components), tuple(seeds))

    def relin_keys(self) -> RelinKeys:
        r"""Relinearization keys: a key switch from :math:`s^2` to :math:`s`.

        Examples
        --------
        >>> keygen.relin_keys().key.level
        2
        """
        self.context.check_key_switching("a relinearization key")
        s = self._secret_key.data
        return RelinKeys(self.create_kswitch_key(modarith.mul_mod(s, s, self.context.key_ring.q)))

    def galois_keys(
        self,
        steps: Iterable[int] | None = None,
        conjugation: bool = False,
        galois_elts: Sequence[int] = (),
    ) -> GaloisKeys:
        r"""Galois keys for the rotation ``steps`` (default: :math:`\pm 2^i`, as SEAL), plus conjugation if asked.

        Raises
        ------
        OperandError
            A step is not an integer, or a Galois element is not odd in :math:`(0, 2N)`.

        Examples
        --------
        >>> sorted(keygen.galois_keys(steps=[1, -1]).steps()), keygen.galois_keys(conjugation=True).has_conjugation()
        ([-1, 1], True)
        """
        self.context.check_key_switching("a Galois key")
        n = self.context.poly_modulus_degree
        step_list = default_rotation_steps(n) if steps is None else list(steps)
        elements = set()
        for step in step_list:
            if not isinstance(step, (int, np.integer)) or isinstance(step, bool):
                raise OperandError(f"rotation steps must be integers, got {step!r}")
            if step % (n // 2) == 0:
                continue  # a rotation by a multiple of the slot count is the identity
            elements.add(galois_elt_from_step(int(step), n))
        for g in galois_elts:
            if not isinstance(g, (int, np.integer)) or g % 2 == 0 or not 0 < g < 2 * n:
                raise OperandError(f"a Galois element must be odd and in (0, {2 * n}), got {g!r}")
            elements.add(int(g))
        if conjugation:
            elements.add(2 * n - 1)
        ring = self.context.key_ring
        s = RNSPoly(ring, self._secret_key.data, is_ntt=True)
        return GaloisKeys({g: self.create_kswitch_key(s.apply_galois(g).data) for g in sorted(elements)}, n)
