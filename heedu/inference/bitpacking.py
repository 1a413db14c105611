r"""Residues packed at their bit width: a 55-bit residue takes 55 bits on the wire, not 64.

Values are written least significant bit first, one after the other, with no
padding between them; the last byte is padded with zero bits. A value of
:math:`w` bits needs :math:`\lceil c w / 8 \rceil` bytes for :math:`c` of them.
At :math:`N = 4096` and primes of 54 and 55 bits, a polynomial takes 55.8 kB
instead of 65.5 kB; an answer's :math:`c_1` with 35 kept bits takes 17.9 kB.

:func:`pack_bits_reference` and :func:`unpack_bits_reference` do the same with
one Python integer: the oracles of the vectorized pair.

Examples
--------
>>> data = pack_bits(np.array([5, 3, 7], dtype=np.uint64), width=3)
>>> (data.hex(), unpack_bits(data, width=3, count=3).tolist())
('dd01', [5, 3, 7])
"""

from __future__ import annotations

import numpy as np

from ..errors import SerializationError


def packed_size(count: int, width: int) -> int:
    """Bytes of ``count`` values of ``width`` bits."""
    return -(-count * width // 8)


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """``values`` (``uint64``, each below :math:`2^{width}`), ``width`` bits each, LSB first.

    Raises
    ------
    ValueError
        ``width`` outside [1, 64], or a value that does not fit in ``width`` bits.
    """
    if not 1 <= width <= 64:
        raise ValueError(f"width must be in [1, 64], got {width}")
    words = np.ascontiguousarray(values, dtype="<u8").reshape(-1)
    if width < 64 and words.size and int(words.max()) >> width:
        raise ValueError(f"a value does not fit in {width} bits")
    bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")[:, :width]
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def unpack_bits(data: bytes | memoryview, width: int, count: int) -> np.ndarray:
    r"""``count`` values of ``width`` bits from :func:`pack_bits`'s output, as ``uint64``.

    Value :math:`i` starts at bit :math:`o = i w`: it is the 64-bit little-endian word at byte
    :math:`\lfloor o/64 \rfloor \cdot 8` shifted right by :math:`o \bmod 64`, completed by the low
    bits of the next word, and masked to ``width`` bits.

    Raises
    ------
    ValueError
        ``width`` outside [1, 64] or a negative ``count`` (the caller's mistake, not the data's).
    SerializationError
        ``data`` is not exactly :func:`packed_size` bytes, or its padding bits are not zero.
    """
    if not 1 <= width <= 64 or count < 0:
        raise ValueError(f"width must be in [1, 64] and count >= 0, got {width} and {count}")
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size != packed_size(count, width):
        raise SerializationError(f"expected {packed_size(count, width)} bytes of packed values, got {raw.size}")
    used = count * width
    if used % 8 and int(raw[-1]) >> (used % 8):
        raise SerializationError("the padding bits after the packed values are not zero")
    words = np.zeros(raw.size // 8 + 2, dtype="<u8")
    words.view(np.uint8)[: raw.size] = raw
    offsets = np.arange(count, dtype=np.uint64) * np.uint64(width)
    index, shift = (offsets >> np.uint64(6)).astype(np.intp), offsets & np.uint64(63)
    low = words[index] >> shift
    # A shift by 64 is undefined in NumPy (as in C): values that start on a word boundary take no high part.
    high = np.where(shift == 0, np.uint64(0), words[index + 1] << ((np.uint64(64) - shift) & np.uint64(63)))
    values = low | high
    return values if width == 64 else values & np.uint64((1 << width) - 1)


def pack_bits_reference(values: list[int], width: int) -> bytes:
    """The oracle of :func:`pack_bits`: one big integer, ``value_i << (i * width)``."""
    total = sum(int(v) << (i * width) for i, v in enumerate(values))
    return total.to_bytes(packed_size(len(values), width), "little")


def unpack_bits_reference(data: bytes, width: int, count: int) -> list[int]:
    """The oracle of :func:`unpack_bits`."""
    total = int.from_bytes(data, "little")
    return [(total >> (i * width)) & ((1 << width) - 1) for i in range(count)]
