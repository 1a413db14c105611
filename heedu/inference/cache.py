r"""A least-recently-used cache bounded by the bytes it holds, for keys that clients send once and reuse.

A service parses a client's public keys once (seed expansion, checks) and keeps them for the
client's next requests; the scoring service also keeps the raw blobs it downloaded. Bounding by
*count* would let a few large key sets exhaust memory, so every cache here is bounded by the bytes
of its values, evicting the least recently used first. One class serves
:class:`~heedu.inference.coefficients.EncryptedLinearModel`, :class:`~heedu.inference.ei.EIServer` and the
Azure adapter's scoring script. It is thread-safe: the inference server may run requests on threads.

Examples
--------
>>> cache = ByteBoundedCache(max_bytes=10, size_of=len)
>>> cache.put("a", b"123456"); cache.put("b", b"7890")
>>> cache.get("a") is not None
True
>>> cache.put("c", b"xyz")  # 13 bytes would be too many: "b" is the least recently used
>>> sorted(cache.keys()), cache.size
(['a', 'c'], 9)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

from ..errors import ParameterError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def array_bytes(value: object) -> int:
    """Bytes of the NumPy arrays in ``value``: an array, an object with ``data``/``keys`` arrays, or a tuple."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(array_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(array_bytes(item) for item in value.values())
    for name in ("keys", "key", "data"):
        inner = getattr(value, name, None)
        if inner is not None and not callable(inner):
            return array_bytes(inner)
    return 0


class ByteBoundedCache(Generic[K, V]):
    """Values by key, least recently used evicted first once their sizes add up to more than ``max_bytes``.

    The newest value is always kept, even alone above the bound (the caller bounds what one value
    may be); ``size_of`` measures a value (``len`` for bytes, :func:`array_bytes` for parsed keys).

    Raises
    ------
    ParameterError
        ``max_bytes`` is not a positive integer.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int] = array_bytes) -> None:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ParameterError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes held now."""
        return self._size

    def keys(self) -> list[K]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key``, then evict the least recently used beyond ``max_bytes``."""
        size = int(self._size_of(value))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._entries[key] = (value, size)
            self._size += size
            while self._size > self.max_bytes and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= evicted
