r"""Randomness: where security comes from, behind one injectable interface.

RLWE security rests on three distributions, all sampled here:

* **uniform** :math:`a \leftarrow \mathcal{U}(R_q)` for the public "mask",
  by rejection sampling (draw ``bit_length(q)`` random bits, keep values
  below ``q``: exactly uniform, expected fewer than two draws per coefficient);
* **ternary** secrets and ephemeral keys, coefficients uniform in
  :math:`\{-1, 0, 1\}` (draw a byte, reject 255, take it mod 3);
* **noise** from a discrete Gaussian with :math:`\sigma = 3.2` clipped at
  :math:`6\sigma` (``floor(19.2) = 19``), the HE standard's choice, sampled by
  inversion of its cumulative table with 63-bit uniform words.

A :class:`RandomSource` turns bytes into those samples.
:class:`SecureRandomSource`, the default everywhere, reads every byte from the
operating system's CSPRNG (``os.urandom``; NumPy's generators are not
cryptographic). It keeps no state, so nothing can replay it: a pickled or
copied encryptor, a forked worker, a ``multiprocessing`` or ``joblib`` child
all draw fresh bytes from the kernel. (An earlier heedu expanded one OS seed
with SHAKE-256; a copy of that stream replays it, and two ciphertexts with the
same mask :math:`c_1` reveal the difference of their messages without any key.)
:class:`SeededRandomSource` expands a caller-chosen 32-byte seed with SHAKE-256
and a call counter: reproducible by design, for tests and for *seeded
objects*, whose uniform half is regenerated from 32 bytes instead of being
stored. :class:`ZeroNoiseSource` returns zero noise, so tests can check the
algebra of encryption with exact equality.

References: [HES18] Albrecht et al., *Homomorphic Encryption Standard* (2018),
section 2.1; FIPS 202 (SHAKE-256).

Examples
--------
>>> source = SeededRandomSource(b"\x00" * 32)
>>> sample = source.uniform([17, 97], 4)
>>> sample.shape, bool((sample[0] < 17).all() and (sample[1] < 97).all())
((2, 4), True)
>>> sorted(set(SeededRandomSource(b"\x01" * 32).ternary(64).tolist()))
[-1, 0, 1]
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import ParameterError

SEED_BYTES = 32
NOISE_STANDARD_DEVIATION = 3.2
NOISE_MAX_DEVIATION = 6 * NOISE_STANDARD_DEVIATION


def _gaussian_thresholds(sigma: float, bound: int) -> np.ndarray:
    """Cumulative distribution of the clipped discrete Gaussian on [-bound, bound], times 2^63."""
    support = np.arange(-bound, bound + 1)
    weights = np.exp(-(support.astype(np.float64) ** 2) / (2 * sigma * sigma))
    cumulative = np.cumsum(weights) / weights.sum()
    # The last threshold is 2^63 exactly, so every 63-bit word maps into the support.
    thresholds = [int(c * 2**63) for c in cumulative[:-1]] + [2**63]
    return np.array(thresholds, dtype=np.uint64)


class RandomSource:
    r"""Turns a stream of random bytes into the samples RLWE needs.

    Subclasses provide :meth:`random_bytes`; everything else is derived. Each
    call consumes fresh bytes, so samples are independent.
    """

    def random_bytes(self, count: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def new_seed(self) -> bytes:
        """A fresh 32-byte seed for a seeded object (taken from this source's stream)."""
        return self.random_bytes(SEED_BYTES)

    def _words(self, count: int) -> np.ndarray:
        return np.frombuffer(self.random_bytes(8 * count), dtype="<u8").astype(np.uint64)

    def uniform(self, moduli: Sequence[int], n: int) -> np.ndarray:
        r"""A ``(k, n)`` ``uint64`` array, row ``i`` uniform in :math:`[0, q_i)`, by rejection."""
        rows = []
        for q in (int(m) for m in moduli):
            mask = np.uint64((1 << q.bit_length()) - 1)
            kept = np.empty(0, dtype=np.uint64)
            while kept.size < n:
                # Acceptance probability is above 1/2; ask for a little more than needed.
                draw = self._words(2 * (n - kept.size) + 16) & mask
                kept = np.concatenate([kept, draw[draw < np.uint64(q)]])
            rows.append(kept[:n])
        return np.stack(rows)

    def ternary(self, n: int) -> np.ndarray:
        r"""``n`` coefficients uniform in :math:`\{-1, 0, 1\}` as ``int8``."""
        kept = np.empty(0, dtype=np.uint8)
        while kept.size < n:
            draw = np.frombuffer(self.random_bytes(n - kept.size + 16), dtype=np.uint8)
            kept = np.concatenate([kept, draw[draw < 255]])
        return (kept[:n] % 3).astype(np.int8) - 1

    def gaussian(self, n: int, sigma: float = NOISE_STANDARD_DEVIATION) -> np.ndarray:
        r"""``n`` samples of the discrete Gaussian, clipped at :math:`6\sigma`, as ``int64``."""
        bound = math.floor(6 * sigma)
        thresholds = _gaussian_thresholds(sigma, bound)
        words = self._words(n) >> np.uint64(1)
        return np.searchsorted(thresholds, words, side="right").astype(np.int64) - bound


class SeededRandomSource(RandomSource):
    """Bytes from SHAKE-256(seed || counter): a reproducible stream from a caller-chosen 32-byte seed.

    For tests and seeded objects only: a copy (pickle, fork) replays the same
    bytes, which is the point of a seed and the reason it never protects data.
    """

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
            raise ParameterError(f"a seed must be {SEED_BYTES} bytes, got {type(seed).__name__}")
        self._seed = bytes(seed)
        self._counter = 0

    def random_bytes(self, count: int) -> bytes:
        block = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "little"))
        self._counter += 1
        return block.digest(count)

    def __repr__(self) -> str:  # never show the seed
        return f"{type(self).__name__}(<seed hidden>)"


class SecureRandomSource(RandomSource):
    """The default: every byte straight from the operating system's CSPRNG (``os.urandom``).

    Stateless on purpose. The kernel's generator is fork-safe and a pickled or
    copied source has nothing to copy, so no two draws, in any process, repeat.
    (Measured here: as fast as SHAKE-256 for the 200 kB an N = 8192 encryption needs.)
    """

    def random_bytes(self, count: int) -> bytes:
        return os.urandom(count)

    def __repr__(self) -> str:
        return "SecureRandomSource(os.urandom)"


class ZeroNoiseSource(RandomSource):
    r"""Like ``base`` but with zero noise: encryption becomes exact, for algebra tests only.

    Secrets and masks stay random (a zero mask would not encrypt anything);
    only :meth:`gaussian` returns zeros. Never use it to protect data.
    """

    def __init__(self, base: RandomSource | None = None) -> None:
        self.base = base if base is not None else SecureRandomSource()

    def random_bytes(self, count: int) -> bytes:
        return self.base.random_bytes(count)

    def gaussian(self, n: int, sigma: float = NOISE_STANDARD_DEVIATION) -> np.ndarray:
        return np.zeros(n, dtype=np.int64)


def expand_seed(seed: bytes, moduli: Sequence[int], n: int) -> np.ndarray:
    """The uniform polynomial a seeded object stands for: ``SeededRandomSource(seed).uniform``."""
    return SeededRandomSource(seed).uniform(moduli, n)


class SeedExpansion(Protocol):
    """How a seeded object's uniform polynomial :math:`a` is regenerated from its seed.

    Key generation and symmetric encryption draw ``seed_bytes`` fresh bytes and call
    :meth:`expand`; the seed then stands for :math:`a` wherever the object is stored. heedu's own
    is SHAKE-256 (:data:`SHAKE_EXPANSION`); SEAL 3.5's BLAKE2 PRNG is another
    (:class:`heedu.seal.samplers.BlakeExpansion`), which is all the EI-compatible client changes.
    """

    seed_bytes: int

    def expand(self, seed: bytes, moduli: Sequence[int], n: int) -> np.ndarray:
        """A ``(len(moduli), n)`` ``uint64`` array, row ``i`` uniform modulo ``moduli[i]``, in NTT form."""
        ...


@dataclass(frozen=True)
class ShakeExpansion:
    """heedu's seed expansion: :func:`expand_seed` (SHAKE-256 of the seed and a counter), 32-byte seeds."""

    seed_bytes: int = SEED_BYTES

    def expand(self, seed: bytes, moduli: Sequence[int], n: int) -> np.ndarray:
        return expand_seed(seed, moduli, n)


#: The default everywhere: heedu's own format stores 32-byte SHAKE-256 seeds.
SHAKE_EXPANSION = ShakeExpansion()
