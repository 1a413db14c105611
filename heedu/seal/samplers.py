r"""SEAL 3.5's samplers, bit for bit: how a 64-byte seed becomes a polynomial.

SEAL stores half of every seeded object as a seed; the reader must regenerate
the uniform polynomial *exactly* as the writer did, or decryption returns noise
near :math:`10^{31}`. Two details matter and neither is in the header:

**Uniform mod q.** SEAL 3.5.0 to 3.5.4 (what ``encrypted-inference==0.9``
ships) reads two 32-bit words :math:`w_0, w_1` from the PRNG and forms the
63-bit value :math:`r = (w_0 \ll 31) \,|\, (w_1 \gg 1)`; with
:math:`M = 2^{63} - 1` it rejects :math:`r \ge M - (M \bmod q) - 1` and keeps
:math:`r \bmod q`. SEAL 3.5.5 and later (and SEAL 4.x reading *any* 3.5
object) form :math:`r = (w_0 \ll 32) \,|\, w_1` with :math:`M = 2^{64} - 1`.
Both are uniform; they are simply different functions of the same bytes, so
SEAL 4.x expands this package's seeds wrongly: "the sampler trap". Values fill
all coefficients of prime 0, then prime 1, and so on, from one stream; the
result is taken to be in NTT form directly.

**Ternary.** One 32-bit word per coefficient, reject ``0xFFFFFFFF``, value
``w // 0x55555555 - 1`` (libstdc++'s ``uniform_int_distribution<int>(-1, 1)``
as built by GCC 7).

Rejection sampling consumes a data-dependent number of words, so the code
below draws in vectorized chunks and tracks exactly how many words each
accepted sample used, keeping the stream position identical to SEAL's.

References: SEAL 3.5 ``util/rlwe.cpp`` (``sample_poly_uniform``,
``sample_poly_ternary``), ``randomgen.h``; the format chapter, ``docs/course/08-seal-wire-format.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .blake2 import BlakePRNG

SamplerVersion = Literal["3.5.0", "3.5.5"]
"""Which uniform sampler: ``"3.5.0"`` (SEAL 3.5.0-3.5.4, encrypted-inference 0.9) or ``"3.5.5"`` (3.5.5+)."""

_U64_MAX = (1 << 64) - 1
_U63_MAX = (1 << 63) - 1


class ByteSource(Protocol):
    """Anything that yields its stream's bytes in order (e.g. :class:`heedu.seal.blake2.BlakePRNG`)."""

    def random_bytes(self, count: int) -> bytes: ...


class WordStream:
    """32-bit little-endian words from a byte stream, with exact accounting of what was consumed.

    Samplers read ahead in vectorized chunks and give back what they did not
    use (:meth:`unread`), so the next sampler starts exactly where SEAL's would.
    """

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self._pending = np.empty(0, dtype=np.uint32)

    def take(self, count: int) -> np.ndarray:
        if self._pending.size < count:
            fresh = np.frombuffer(self.source.random_bytes(4 * (count - self._pending.size)), dtype="<u4")
            self._pending = np.concatenate([self._pending, fresh.astype(np.uint32)])
        words, self._pending = self._pending[:count], self._pending[count:]
        return words

    def unread(self, words: np.ndarray) -> None:
        self._pending = np.concatenate([np.asarray(words, dtype=np.uint32), self._pending])


def _accept_in_order(values: np.ndarray, accepted: np.ndarray, needed: int) -> tuple[np.ndarray, int]:
    """The first ``needed`` accepted values and how many candidates that consumed."""
    positions = np.flatnonzero(accepted)
    if positions.size < needed:
        return values[positions], values.size
    return values[positions[:needed]], int(positions[needed - 1]) + 1


def sample_uniform(stream: WordStream, moduli: Sequence[int], n: int, version: SamplerVersion = "3.5.0") -> np.ndarray:
    r"""SEAL 3.5's ``sample_poly_uniform``: a ``(k, n)`` array, row ``i`` uniform mod ``moduli[i]``.

    Each candidate uses two 32-bit words (see the module docstring for the
    formula of each ``version``). Rows are filled in order from one stream.
    """
    if version not in ("3.5.0", "3.5.5"):
        raise ValueError(f"sampler version must be '3.5.0' or '3.5.5', got {version!r}")
    limit = _U63_MAX if version == "3.5.0" else _U64_MAX
    rows = []
    for q in (int(m) for m in moduli):
        bound = np.uint64(limit - limit % q - 1)
        kept: list[np.ndarray] = []
        remaining = n
        while remaining:
            pairs = stream.take(2 * (remaining + remaining // 4 + 8)).astype(np.uint64).reshape(-1, 2)
            if version == "3.5.0":
                candidates = (pairs[:, 0] << np.uint64(31)) | (pairs[:, 1] >> np.uint64(1))
            else:
                candidates = (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]
            values, used = _accept_in_order(candidates, candidates < bound, remaining)
            stream.unread(pairs[used:].ravel().astype(np.uint32))
            kept.append(values % np.uint64(q))
            remaining -= values.size
        rows.append(np.concatenate(kept))
    return np.stack(rows)


def sample_ternary(stream: WordStream, n: int) -> np.ndarray:
    r"""SEAL 3.5's ternary sampler (GCC 7 libstdc++): ``n`` values in :math:`\{-1, 0, 1\}` as ``int8``."""
    kept: list[np.ndarray] = []
    remaining = n
    while remaining:
        words = stream.take(remaining + 8)
        values, used = _accept_in_order(words, words != np.uint32(0xFFFFFFFF), remaining)
        stream.unread(words[used:])
        kept.append((values // np.uint32(0x55555555)).astype(np.int8) - 1)
        remaining -= values.size
    return np.concatenate(kept)


@dataclass(frozen=True)
class BlakeExpansion:
    """SEAL 3.5's seed expansion: :func:`sample_uniform` from ``BlakePRNG(seed)``, 64-byte seeds.

    Pass it to :class:`heedu.keys.KeyGenerator` or :class:`heedu.encryption.Encryptor` as
    ``seed_expansion`` and their seeded keys and ciphertexts are what SEAL 3.5 writes and reads.
    """

    version: SamplerVersion = "3.5.0"
    seed_bytes: int = 64

    def expand(self, seed: bytes, moduli: Sequence[int], n: int) -> np.ndarray:
        return sample_uniform(WordStream(BlakePRNG(seed)), moduli, n, self.version)

