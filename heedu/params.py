r"""Parameters: a light literal (:class:`CKKSParameters`) and a heavy context (:class:`CKKSContext`).

**The modulus chain.** RNS-CKKS uses primes :math:`q_0, \dots, q_L` for data
and one *special prime* :math:`p` that only keys carry. A fresh ciphertext
lives modulo :math:`Q_L = q_0 \cdots q_L`; each *rescale* divides it by its
last prime and moves it one **level** down, to :math:`Q_{\ell-1}`. At level 0
only :math:`q_0` is left and no multiplication can follow. So
``coeff_modulus_bits=[60, 40, 40, 60]`` means: :math:`q_0` of 60 bits (room for
the final result), two 40-bit primes (one rescale each, matching a
:math:`2^{40}` scale), and a 60-bit special prime. Levels are numbered like
SEAL's ``chain_index``: the top data level is :math:`L`, the last is 0.
The *key level* (all primes, including :math:`p`) sits above the top.

**Without a special prime.** :math:`p` exists only for key switching
(relinearization and rotations). A computation that never switches keys (a
ciphertext times plaintexts, as in coefficient-encoded inference) can give the
whole security budget to data: ``special_prime=False`` makes every prime a data
prime, and the key level is the top data level. Such a context refuses to make
relinearization or Galois keys, and :meth:`CKKSContext.describe` says so.

**parms_id.** SEAL names every level by a 256-bit hash, BLAKE2b over the
little-endian words :math:`[2, N, q_0, \dots, q_{k-1}, 0]` (scheme 2 = CKKS,
plain modulus 0). heedu computes the same ids, so they mean the same thing
on the wire.

**Security.** The Homomorphic Encryption Standard tabulates, for each
:math:`N`, the largest :math:`\log_2(QP)` that still gives 128-bit classical
security with a ternary secret and :math:`\sigma = 3.2`. Parameters above it
raise :class:`~heedu.errors.SecurityError` unless the caller passes
``allow_insecure=True``, and then :meth:`CKKSContext.describe` says so loudly.

**Parameters from a peer.** The opt-in is the *local* caller's, never a field
of received data: a fake service that served a toy plan (:math:`N = 64`) would
otherwise receive keys from which lattice reduction recovers the secret in
seconds. :func:`parameters_from_peer` is the one door for parameters read from
bytes or from a peer's plan: it checks the degree, the number and size of the
primes, the security table with the caller's own ``allow_insecure``, and the
memory the context's tables would take, all before anything is allocated.

References: [HES18] Homomorphic Encryption Standard, table 1 (classical,
ternary); [CHKKS18] eprint 2018/931; [SEAL] ``encryptionparams.cpp``,
``context.cpp``, ``util/hestdparms.h``.

Examples
--------
>>> ctx = CKKSContext(CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[30, 20, 30],
...                                  scale=2.0**20, allow_insecure=True))
>>> ctx.max_level, ctx.slot_count, ctx.is_secure
(1, 8, False)
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .errors import LevelError, MissingKeyError, ParameterError, ScaleOutOfBoundsError, SecurityError
from .numth import coeff_modulus_create, is_power_of_two, is_prime
from .ring import PolyRing

#: Largest log2(Q * P) for 128-bit classical security, ternary secret [HES18, table 1].
HE_STANDARD_128_MAX_BITS: dict[int, int] = {
    1024: 27,
    2048: 54,
    4096: 109,
    8192: 218,
    16384: 438,
    32768: 881,
}

CKKS_SCHEME_ID = 2
#: SEAL's bounds: at most 64 primes (``SEAL_COEFF_MOD_COUNT_MAX``), each below 2^61 here.
MAX_PRIMES = 64
MAX_PRIME_BITS = 61
#: What parameters received from a peer may make this process allocate for the context's tables.
PEER_CONTEXT_BUDGET_BYTES = 256 * 2**20
#: Bytes of precomputed tables per prime and coefficient: ten uint64 NTT tables (twiddles, their
#: inverses, Shoup companions and their 32-bit halves).
_TABLE_BYTES_PER_ROW_ENTRY = 10 * 8


def parms_id(poly_modulus_degree: int, moduli: Sequence[int]) -> bytes:
    r"""SEAL's 32-byte id of a level: BLAKE2b-256 of ``[2, N, q_0, ..., q_{k-1}, 0]`` as u64 LE.

    >>> parms_id(8192, [1152921504606748673, 1099510890497, 1099511480321,
    ...                 1152921504606830593])[:8][::-1].hex()
    'cfda86153fdda8e2'
    """
    words = [CKKS_SCHEME_ID, poly_modulus_degree, *moduli, 0]
    return hashlib.blake2b(struct.pack(f"<{len(words)}Q", *words), digest_size=32).digest()


def check_stored_scale(scale: object, moduli: Sequence[int], what: str) -> None:
    r"""SEAL's rule for a stored scale: :math:`1 \le \Delta < 2^{\text{bits of } Q}`, :math:`Q = \prod q_i`.

    A scale below 1 or NaN cannot come from encoding; one at or above :math:`Q`
    leaves no room for any value. Either decrypts to nonsense (NaN, 1e-289), so
    objects that claim such a scale are refused where they enter. The bound is
    compared in :math:`\log_2`, because :math:`2^{\text{bits}}` overflows a float
    beyond 1023 bits of modulus.

    Raises
    ------
    ScaleOutOfBoundsError
        ``scale`` is not a finite number in that range.

    >>> check_stored_scale(2.0**40, [2**60 - 93], "a ciphertext")
    >>> check_stored_scale(2.0**60, [2**60 - 93], "a ciphertext")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    heedu.errors.ScaleOutOfBoundsError: a ciphertext has scale 1.152921504606847e+18; ... in [1, 2^60) ...
    """
    bits = sum(q.bit_length() for q in moduli)
    real = isinstance(scale, (int, float, np.integer, np.floating)) and not isinstance(scale, bool)
    if not real or not (math.isfinite(scale) and scale >= 1 and math.log2(scale) < bits):  # type: ignore[arg-type]
        raise ScaleOutOfBoundsError(
            f"{what} has scale {scale!r}; a scale must be a finite number in [1, 2^{bits}) "
            f"there (the level's modulus has {bits} bits)"
        )


@dataclass(frozen=True, eq=False)
class CKKSParameters:
    r"""The literal description of a CKKS parameter set (cheap to make, compare and send).

    Parameters
    ----------
    poly_modulus_degree : int
        :math:`N`, a power of two; there are :math:`N/2` slots.
    coeff_modulus_bits : sequence of int, optional
        Bit sizes of :math:`q_0, \dots, q_L, p`; primes are chosen as SEAL does.
    coeff_modulus : sequence of int, optional
        The primes themselves (instead of ``coeff_modulus_bits``).
    scale : float
        The default scale :math:`\Delta` for encoding.
    allow_insecure : bool
        Opt into toy rings that miss 128-bit security (for teaching and tests).
    special_prime : bool
        The last prime is the special prime :math:`p` of key switching (default, as SEAL). With
        ``False`` every prime holds data and no key can be switched: no relinearization, no rotation.
    """

    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...] | None = None
    coeff_modulus: tuple[int, ...] | None = None
    scale: float = 2.0**40
    allow_insecure: bool = False
    special_prime: bool = True
    _primes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.poly_modulus_degree
        if not isinstance(n, int) or isinstance(n, bool) or not is_power_of_two(n) or n < 2:
            raise ParameterError(f"poly_modulus_degree must be a power of two >= 2, got {n!r}")
        if n > 32768:
            raise ParameterError(f"poly_modulus_degree {n} is above SEAL's maximum 32768")
        if (self.coeff_modulus_bits is None) == (self.coeff_modulus is None):
            raise ParameterError("give exactly one of coeff_modulus_bits (e.g. [60, 40, 40, 60]) or coeff_modulus")
        listed = self.coeff_modulus_bits if self.coeff_modulus_bits is not None else self.coeff_modulus
        try:
            count = len(listed)  # type: ignore[arg-type]
        except TypeError:
            raise ParameterError(f"the primes must be given as a sequence, got {type(listed).__name__}") from None
        if count > MAX_PRIMES:
            raise ParameterError(f"{count} primes requested; SEAL and heedu allow at most {MAX_PRIMES}")
        if self.coeff_modulus_bits is not None:
            object.__setattr__(self, "coeff_modulus_bits", tuple(self.coeff_modulus_bits))
            primes = tuple(coeff_modulus_create(n, self.coeff_modulus_bits))
        else:
            primes = tuple(self.coeff_modulus)  # type: ignore[arg-type]
            for q in primes:
                # Size first: primality tests and float conversions of huge integers fail in other ways.
                if not isinstance(q, (int, np.integer)) or isinstance(q, bool) or not 1 < int(q) < 2**MAX_PRIME_BITS:
                    raise ParameterError(f"coeff_modulus entries must be integers in (1, 2^{MAX_PRIME_BITS}), got {q}")
            primes = tuple(int(q) for q in primes)
            object.__setattr__(self, "coeff_modulus", primes)
            for q in primes:
                if not is_prime(q) or q % (2 * n) != 1:
                    raise ParameterError(
                        f"{q} is not a prime below 2^61 congruent to 1 mod 2N = {2 * n}; "
                        "use coeff_modulus_bits to let heedu choose primes"
                    )
            if len(set(primes)) != len(primes):
                raise ParameterError(f"coeff_modulus has repeated primes: {primes}")
        if not isinstance(self.special_prime, bool):
            raise ParameterError(f"special_prime must be True or False, got {self.special_prime!r}")
        if len(primes) < 1 + self.special_prime:
            raise ParameterError(
                "need at least two primes: one for data and the special prime for keys, e.g. [60, 60] "
                "(or special_prime=False, for computations that never switch keys)"
                if self.special_prime
                else "need at least one prime"
            )
        scale = self.scale
        if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 1:
            raise ParameterError(f"scale must be a finite number >= 1, got {scale!r}")
        object.__setattr__(self, "scale", float(scale))
        object.__setattr__(self, "_primes", primes)

    def _identity(self) -> tuple:
        return (self.poly_modulus_degree, self._primes, self.scale, self.allow_insecure, self.special_prime)

    def __eq__(self, other: object) -> bool:
        """Equal when they describe the same ring, primes, scale, security opt-in and key-switching choice."""
        return isinstance(other, CKKSParameters) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def primes(self) -> tuple[int, ...]:
        """All primes, data primes first and the special prime (if any) last."""
        return self._primes

    @property
    def data_primes(self) -> tuple[int, ...]:
        r""":math:`q_0, \dots, q_L`: every prime but the special prime."""
        return self._primes[:-1] if self.special_prime else self._primes

    @property
    def total_bits(self) -> int:
        r""":math:`\log_2(QP)` as the HE standard counts it: the sum of the primes' bit lengths."""
        return sum(q.bit_length() for q in self._primes)

    @property
    def security_limit_bits(self) -> int | None:
        """The HE standard's largest 128-bit-secure total for this degree (``None`` below N = 1024)."""
        return HE_STANDARD_128_MAX_BITS.get(self.poly_modulus_degree)

    @property
    def is_secure(self) -> bool:
        """True when the HE standard's table gives these parameters 128-bit classical security."""
        limit = self.security_limit_bits
        return limit is not None and self.total_bits <= limit

    def check_security(self) -> None:
        """Raise :class:`~heedu.errors.SecurityError` unless secure or ``allow_insecure`` was passed.

        Raises
        ------
        SecurityError
            Below the HE standard's 128-bit table without ``allow_insecure=True``.
        """
        if self.is_secure or self.allow_insecure:
            return
        n, limit = self.poly_modulus_degree, self.security_limit_bits
        reason = (
            f"log2(QP) = {self.total_bits} bits exceeds {limit}, the 128-bit bound for N = {n}"
            if limit is not None
            else f"N = {n} is below 1024, too small for any security"
        )
        raise SecurityError(
            f"{reason} (HE standard). Use fewer or smaller primes or a larger N, "
            "or pass allow_insecure=True for a toy ring (never for real data)."
        )

    @classmethod
    def tutorial(cls) -> "CKKSParameters":
        """The Azure ML tutorial's parameters: N = 8192, [60, 40, 40, 60], scale 2^40."""
        return cls(poly_modulus_degree=8192, coeff_modulus_bits=(60, 40, 40, 60), scale=2.0**40)


def parameters_from_peer(
    poly_modulus_degree: object, coeff_modulus: object, scale: object, *,
    allow_insecure: bool = False, max_context_bytes: int = PEER_CONTEXT_BUDGET_BYTES, special_prime: bool = True,
) -> CKKSParameters:
    """Parameters read from bytes or from a peer's plan: validated, security-checked and size-bounded.

    ``allow_insecure`` is the local caller's decision; whatever the data says about it is ignored.
    ``special_prime`` is a fact of the parameters (the reader's format carries it).

    Raises
    ------
    ParameterError
        Malformed values (not a power of two, not primes, too many or too large primes, a bad scale),
        or a context whose tables would exceed ``max_context_bytes``.
    SecurityError
        Below the HE standard's 128-bit table, unless the local caller passed ``allow_insecure=True``.

    Examples
    --------
    >>> parameters_from_peer(64, [1125899906839937, 1099511623297, 1125899906840833], 2.0**40)
    Traceback (most recent call last):
      ...
    heedu.errors.SecurityError: N = 64 is below 1024, too small for any security (HE standard). ...
    """
    if not isinstance(poly_modulus_degree, (int, np.integer)) or isinstance(poly_modulus_degree, bool):
        raise ParameterError(f"poly_modulus_degree must be an integer, got {poly_modulus_degree!r}")
    if not isinstance(scale, (int, float, np.floating, np.integer)) or isinstance(scale, bool):
        raise ParameterError(f"scale must be a number, got {scale!r}")
    if not isinstance(coeff_modulus, (list, tuple)):
        raise ParameterError(f"coeff_modulus must be a list of primes, got {type(coeff_modulus).__name__}")
    n = int(poly_modulus_degree)
    if not is_power_of_two(n) or not 2 <= n <= 32768:
        raise ParameterError(f"poly_modulus_degree must be a power of two in [2, 32768], got {n}")
    if len(coeff_modulus) > MAX_PRIMES:
        raise ParameterError(f"{len(coeff_modulus)} primes; at most {MAX_PRIMES} are allowed")
    rows = (len(coeff_modulus) - 1) * len(coeff_modulus) // 2 + len(coeff_modulus)
    if _TABLE_BYTES_PER_ROW_ENTRY * n * rows > max_context_bytes:  # before primality tests: those cost too
        raise ParameterError(
            f"N = {n} with {len(coeff_modulus)} primes would need about "
            f"{_TABLE_BYTES_PER_ROW_ENTRY * n * rows / 2**20:.0f} MiB of tables; parameters from a peer may use "
            f"at most {max_context_bytes / 2**20:.0f} MiB"
        )
    parameters = CKKSParameters(
        poly_modulus_degree=n,
        coeff_modulus=tuple(coeff_modulus),
        scale=float(scale),
        allow_insecure=allow_insecure,
        special_prime=special_prime,
    )
    parameters.check_security()
    return parameters


class CKKSContext:
    r"""Validated parameters plus everything precomputed from them.

    Holds one :class:`~heedu.ring.PolyRing` per level (with its NTT tables),
    the key ring (all primes), the parms_id of every level, and the security
    verdict. Build one per parameter set and share it.

    Raises
    ------
    SecurityError
        If :math:`\log_2(QP)` exceeds the HE standard's 128-bit bound for
        :math:`N` (or :math:`N < 1024`) and ``allow_insecure`` is not set.
    """

    def __init__(self, parameters: CKKSParameters) -> None:
        if not isinstance(parameters, CKKSParameters):
            raise ParameterError(f"expected CKKSParameters, got {type(parameters).__name__}")
        self.parameters = parameters
        self.poly_modulus_degree = parameters.poly_modulus_degree
        self.slot_count = self.poly_modulus_degree // 2
        self.scale = parameters.scale
        #: SEAL's name and meaning: every prime, the special prime last.
        self.coeff_modulus = parameters.primes
        #: :math:`q_0, \dots, q_L`: the primes a ciphertext lives modulo (the special prime is only in keys).
        self.data_primes = parameters.data_primes
        #: :math:`p`, or ``None`` when the parameters have none (then no key can be switched).
        self.special_prime: int | None = parameters.primes[-1] if parameters.special_prime else None
        self.max_level = len(self.data_primes) - 1
        self.total_bits = parameters.total_bits
        self.security_limit_bits = parameters.security_limit_bits
        self.is_secure = parameters.is_secure
        parameters.check_security()
        data_bits = sum(q.bit_length() for q in self.data_primes)
        if self.scale >= 2.0**data_bits:
            raise ParameterError(
                f"scale 2^{math.log2(self.scale):.1f} does not fit in the data modulus of "
                f"{data_bits} bits; choose a smaller scale"
            )
        n = self.poly_modulus_degree
        self._rings = [PolyRing(n, self.data_primes[: level + 1]) for level in range(self.max_level + 1)]
        #: The ring of keys: every prime (without a special prime, the top data level's ring itself).
        self.key_ring = PolyRing(n, parameters.primes) if self.can_switch_keys else self._rings[-1]
        self.key_parms_id = parms_id(self.poly_modulus_degree, parameters.primes)
        self._parms_ids = [parms_id(self.poly_modulus_degree, ring.moduli) for ring in self._rings]
        self._level_of_parms_id = {pid: level for level, pid in enumerate(self._parms_ids)}
        self._rings_without: dict[tuple[int, int], PolyRing] = {}

    def __repr__(self) -> str:
        toy = ", TOY (insecure)" if not self.is_secure else ""
        bits = [q.bit_length() for q in self.parameters.primes]
        return f"CKKSContext(N={self.poly_modulus_degree}, bits={bits}{toy})"

    def ring(self, level: int) -> PolyRing:
        """The ring of data level ``level`` (primes :math:`q_0 \\dots q_{level}`)."""
        self.check_level(level)
        return self._rings[level]

    @property
    def can_switch_keys(self) -> bool:
        """True when the parameters have a special prime: relinearization and rotations are possible."""
        return self.special_prime is not None

    def check_key_switching(self, what: str) -> None:
        """Raise :class:`~heedu.errors.MissingKeyError` for ``what`` (e.g. "a rotation") without a special prime."""
        if self.special_prime is None:
            raise MissingKeyError(
                f"{what} needs key switching, and these parameters have no special prime "
                "(special_prime=False): use parameters with one, e.g. coeff_modulus_bits=[60, 40, 40, 60]"
            )

    def ring_with_special(self, level: int) -> PolyRing:
        """Primes :math:`q_0 \\dots q_{level}` plus the special prime :math:`p` (key switching).

        Raises
        ------
        MissingKeyError
            The parameters have no special prime.
        """
        self.check_key_switching("key switching")
        return self._ring_with_special[level]

    @cached_property
    def _ring_with_special(self) -> list[PolyRing]:
        return [
            PolyRing(self.poly_modulus_degree, (*self.data_primes[: level + 1], self.special_prime))
            for level in range(self.max_level + 1)
        ]

    def ring_without(self, level: int, j: int) -> PolyRing:
        r""":math:`\{q_0..q_{level}, p\}` without :math:`q_j`: the rows a key-switching digit is transformed into."""
        key = (level, j)
        if key not in self._rings_without:
            moduli = self.ring_with_special(level).moduli
            self._rings_without[key] = PolyRing(self.poly_modulus_degree, moduli[:j] + moduli[j + 1 :])
        return self._rings_without[key]

    def parms_id(self, level: int) -> bytes:
        """SEAL's parms_id of data level ``level``."""
        self.check_level(level)
        return self._parms_ids[level]

    def level_of(self, pid: bytes) -> int:
        """The data level whose parms_id is ``pid``; raises ParameterError if none."""
        try:
            return self._level_of_parms_id[bytes(pid)]
        except KeyError:
            raise ParameterError(f"parms_id {bytes(pid)[:8].hex()}... is not a data level of this context") from None

    def check_level(self, level: int) -> None:
        """Raise :class:`~heedu.errors.LevelError` unless ``level`` is a data level of this context."""
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= self.max_level:
            raise LevelError(f"level must be an integer in [0, {self.max_level}], got {level!r}")

    def check_scale(self, level: int, scale: object, what: str = "a ciphertext") -> None:
        r""":func:`check_stored_scale` for ``level`` of this context.

        Raises
        ------
        LevelError
            ``level`` is not a data level.
        ScaleOutOfBoundsError
            ``scale`` is not a finite number in :math:`[1, 2^{\text{bits of } Q_\ell})`.
        """
        self.check_level(level)
        check_stored_scale(scale, self.data_primes[: level + 1], f"{what} at level {level}")

    def describe(self) -> str:
        """A human-readable summary: security, levels, bits per level, precision budget, sizes."""
        lines = []
        if not self.is_secure:
            lines.append("!" * 72)
            lines.append("!!! TOY PARAMETERS: NOT 128-BIT SECURE. FOR TEACHING AND TESTS ONLY. !!!")
            lines.append("!" * 72)
        bits = [q.bit_length() for q in self.data_primes]
        data_bits = sum(bits)
        special = (
            f"special prime p: {self.special_prime.bit_length()} bits"
            if self.special_prime is not None
            else "no special prime: ciphertext-plaintext products only (no relinearization, no rotation)"
        )
        lines += [
            f"CKKS, N = {self.poly_modulus_degree} ({self.slot_count} complex slots)",
            f"data primes q_0..q_{self.max_level}: {bits} bits; {special}",
            f"log2(QP) = {self.total_bits}; HE-standard 128-bit bound for N = {self.poly_modulus_degree}: "
            f"{self.security_limit_bits if self.security_limit_bits else 'none (N < 1024)'}"
            f" -> {'secure (128-bit classical)' if self.is_secure else 'INSECURE'}",
            f"levels: {self.max_level} rescale(s) available (top level {self.max_level}, last 0)",
            f"default scale: 2^{math.log2(self.scale):.2f}",
            f"precision budget at level 0: q_0 has {bits[0]} bits, "
            f"so |value| < 2^{bits[0] - 1 - math.log2(self.scale):.1f} "
            "at the default scale",
            f"fresh ciphertext: {2 * (self.max_level + 1) * self.poly_modulus_degree * 8 / 1e6:.2f} MB uncompressed "
            f"({data_bits} bits of modulus)",
        ]
        return "\n".join(lines)
