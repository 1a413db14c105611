r"""BLAKE2b, BLAKE2Xb and SEAL 3.5's ``BlakePRNG``, in NumPy.

SEAL 3.5 does not store the uniform half of a seeded ciphertext or of a key: it
stores a 64-byte seed and regenerates the polynomial from a pseudo-random byte
stream. To read or write such objects, heedu must produce *the same bytes* as
SEAL, so this module implements SEAL's generator exactly: BLAKE2Xb, an
extendable-output function built on the BLAKE2b hash of RFC 7693.

BLAKE2b in one page
-------------------
The state is eight 64-bit words ``h``. It starts as the initialization vector
(the first 64 bits of the fractional parts of the square roots of the first
eight primes, as in SHA-512) XORed with a 64-byte **parameter block**:

====== ====== ============================================================
bytes  field  meaning
====== ====== ============================================================
0      1      digest length (1 to 64)
1      1      key length (0 to 64)
2      1      fanout (tree hashing; 1 for sequential hashing)
3      1      depth (maximal tree depth; 1 for sequential hashing)
4-7    4      leaf length
8-15   8      node offset; BLAKE2X splits it: node offset in bytes 8-11,
              XOF length in bytes 12-15
16     1      node depth
17     1      inner length
18-31  14     reserved (zero)
32-47  16     salt
48-63  16     personalization
====== ====== ============================================================

The message (preceded by the key zero-padded to a full block, if there is a
key) is cut into 128-byte blocks, each read as sixteen little-endian words
``m``, and fed to the **compression function** ``F(h, m, t, f)``:

* a 16-word working vector ``v`` holds ``h`` and the IV, with the byte counter
  ``t`` (bytes hashed so far, this block included) XORed into ``v[12]``
  (``v[13]`` takes the counter's high word, always 0 here) and ``v[14]``
  inverted for the last block (``v[15]`` too when hashing the last node of a
  tree level);
* twelve rounds, each applying the mixing function ``G`` first to the four
  **columns** of ``v`` seen as a 4 x 4 matrix, then to its four **diagonals**.
  ``G`` mixes two message words into four state words with additions modulo
  :math:`2^{64}`, XORs and right rotations by 32, 24, 16 and 63 bits; round
  ``r`` picks the message words in the order of the permutation
  ``SIGMA[r mod 10]``;
* the new state is ``h ^ v[0:8] ^ v[8:16]``.

The digest is the first *digest length* bytes of the final ``h`` in little-endian
order. An empty unkeyed message is hashed as one all-zero block with ``t = 0``.

Vectorization
-------------
NumPy cannot speed up one compression (it is a chain of dependent word
operations), but it can run **many independent compressions at once**:
:func:`blake2b_compress` takes a batch of states and blocks, and each word
operation becomes one array operation over the batch. Inside a batch element,
the four ``G`` calls of a column step are independent too, so the working
vector is kept as four rows ``a, b, c, d`` of shape ``(4, batch)`` (the rows of
the 4 x 4 matrix) and one ``G`` on whole rows mixes all four columns. Rotating
row ``b`` by one place, ``c`` by two and ``d`` by three lines the diagonals up
as columns, so the diagonal step is the same ``G`` again (the classic SIMD
formulation of BLAKE). :func:`blake2b_compress_reference` is the plain-integer
transcription of RFC 7693 that the tests hold the fast kernel to.

BLAKE2Xb
--------
BLAKE2Xb turns BLAKE2b into an XOF with output length ``L`` (below
:math:`2^{32} - 1` bytes):

1. the **root** is the (keyed) BLAKE2b-512 of the message with fanout 1,
   depth 1 and ``L`` in the XOF-length field;
2. output block ``j`` (64 bytes; the last one has the ``L mod 64`` left over,
   if any) is the unkeyed BLAKE2b of the 64-byte root digest with key length 0,
   fanout 0, depth 0, leaf length 64, node offset ``j``, XOF length ``L``,
   inner length 64 and digest length the size of that block.

Because ``L`` sits in every parameter block, outputs of different lengths are
unrelated: a shorter output is *not* a prefix of a longer one.

One field differs between two published versions of the reference code: the
key length of the expansion nodes. SEAL's copy of ``blake2xb.c`` sets it to 0
(the nodes hash no key), and so does this module. The reference code that
generated the keyed BLAKE2Xb vectors of the BLAKE2 repository's
``testvectors/blake2-kat.json`` left it at the root's key length (64 there),
so those vectors come out only with ``expansion_key_length=64`` in
:func:`blake2xb_reference`. Unkeyed outputs are the same either way. Vectors
computed with SEAL itself (published with the tests of the mpc4j project) agree
with key length 0, and SEAL is what heedu must match.

Each expansion node is a single compression of one block (the 64-byte digest,
zero-padded, ``t = 64``, last), so all the nodes of an output, and all the
outputs SEAL's generator needs, go through :func:`blake2b_compress` in one
batch.

SEAL's generator
----------------
``BlakePRNG`` (SEAL 3.5) has a 64-byte seed (eight little-endian ``uint64``
words) and produces its stream in 4096-byte buffers: buffer ``i`` (counting
from 0) is ``BLAKE2Xb(L = 4096, message = le64(i), key = seed)``. The stream is
the concatenation of the buffers; a 32-bit word is four consecutive bytes read
little-endian. The samplers built on it live elsewhere in :mod:`heedu.seal`.

References: [RFC7693] M-J. Saarinen, J-P. Aumasson, *The BLAKE2 Cryptographic
Hash and Message Authentication Code (MAC)*, RFC 7693 (2015), sections 2.5-3.3;
[BLAKE2] J-P. Aumasson et al., *BLAKE2: simpler, smaller, fast as MD5* (2013),
section 2.8 (the parameter block); [BLAKE2X] J-P. Aumasson et al., *BLAKE2X*
(2016), and the reference ``blake2xb.c``; Microsoft SEAL 3.5,
``native/src/seal/randomgen.cpp`` and ``native/src/seal/util/blake2xb.c``.

Examples
--------
>>> import hashlib
>>> blake2b(b"abc", 32) == hashlib.blake2b(b"abc", digest_size=32).digest()
True
>>> blake2xb(3, bytes(range(256))).hex()  # blake2-kat.json, unkeyed BLAKE2Xb, 3 bytes
'bc38f1'
>>> prng = BlakePRNG(bytes(64))
>>> prng.random_u32(2).dtype, len(prng.random_bytes(5000))
(dtype('uint32'), 5000)
>>> prng
BlakePRNG(<seed hidden>, buffers_used=2)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np

from ..errors import ParameterError

BLOCK_BYTES = 128
"""BLAKE2b block size in bytes (sixteen 64-bit words)."""

OUT_BYTES = 64
"""Largest BLAKE2b digest, in bytes (eight 64-bit words)."""

KEY_BYTES = 64
"""Longest BLAKE2b key, in bytes."""

SALT_BYTES = PERSON_BYTES = 16
"""Length of the salt and of the personalization string in the parameter block."""

ROUNDS = 12
"""Rounds of the BLAKE2b compression function."""

XOF_UNKNOWN_LENGTH = 0xFFFFFFFF
"""The XOF length value BLAKE2X reserves for "length not known in advance" (not supported here)."""

PRNG_SEED_BYTES = 64
"""SEAL 3.5's ``prng_seed_type``: eight ``uint64`` words."""

PRNG_BUFFER_BYTES = 4096
"""Bytes per refill of SEAL 3.5's ``BlakePRNG``: one BLAKE2Xb output of this length."""

IV = np.array(
    [
        0x6A09E667F3BCC908,
        0xBB67AE8584CAA73B,
        0x3C6EF372FE94F82B,
        0xA54FF53A5F1D36F1,
        0x510E527FADE682D1,
        0x9B05688C2B3E6C1F,
        0x1F83D9ABFB41BD6B,
        0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)
"""The BLAKE2b initialization vector (SHA-512's)."""

SIGMA = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ],
    dtype=np.intp,
)
"""The message schedule: round ``r`` reads message words in the order ``SIGMA[r % 10]``."""

# Round r's message words, all twelve rounds at once: SCHEDULE[r] == SIGMA[r % 10].
_SCHEDULE = SIGMA[np.arange(ROUNDS) % len(SIGMA)]
_MASK64 = (1 << 64) - 1
_ALL_ONES = np.uint64(_MASK64)
_ZERO = np.uint64(0)
_ROTATIONS = (32, 24, 16, 63)
_SHIFTS = {r: (np.uint64(r), np.uint64(64 - r)) for r in _ROTATIONS}


# --------------------------------------------------------------------------------------
# The compression function: plain-integer reference and batched kernel
# --------------------------------------------------------------------------------------


def blake2b_compress_reference(
    h: Sequence[int], block: Sequence[int], t: int, last: bool, last_node: bool = False
) -> list[int]:
    """RFC 7693's compression function ``F`` on Python integers: the oracle for :func:`blake2b_compress`.

    Parameters
    ----------
    h : sequence of 8 int
        Chained state words.
    block : sequence of 16 int
        The message block as little-endian 64-bit words.
    t : int
        Byte counter (bytes hashed so far, this block included), below :math:`2^{128}`.
    last : bool
        Whether this is the final block.
    last_node : bool, optional
        Whether this is the last node of its tree level (sets the second finalization flag).

    Returns
    -------
    list of 8 int
        The new state.

    Examples
    --------
    >>> state = [int(w) for w in IV]
    >>> state[0] ^= 0x01010040  # digest length 64, fanout 1, depth 1
    >>> new = blake2b_compress_reference(state, [0] * 16, 0, True)
    >>> bytes.fromhex("".join(w.to_bytes(8, "little").hex() for w in new)) == hashlib.blake2b(b"").digest()
    True
    """

    def rotr(x: int, r: int) -> int:
        return ((x >> r) | (x << (64 - r))) & _MASK64

    def g(a: int, b: int, c: int, d: int, x: int, y: int) -> None:
        v[a] = (v[a] + v[b] + x) & _MASK64
        v[d] = rotr(v[d] ^ v[a], 32)
        v[c] = (v[c] + v[d]) & _MASK64
        v[b] = rotr(v[b] ^ v[c], 24)
        v[a] = (v[a] + v[b] + y) & _MASK64
        v[d] = rotr(v[d] ^ v[a], 16)
        v[c] = (v[c] + v[d]) & _MASK64
        v[b] = rotr(v[b] ^ v[c], 63)

    m = [int(w) for w in block]
    v = [int(w) for w in h] + [int(w) for w in IV]
    v[12] ^= t & _MASK64
    v[13] ^= (t >> 64) & _MASK64
    if last:
        v[14] ^= _MASK64
    if last_node:
        v[15] ^= _MASK64
    for r in range(ROUNDS):
        s = [int(i) for i in SIGMA[r % 10]]
        g(0, 4, 8, 12, m[s[0]], m[s[1]])
        g(1, 5, 9, 13, m[s[2]], m[s[3]])
        g(2, 6, 10, 14, m[s[4]], m[s[5]])
        g(3, 7, 11, 15, m[s[6]], m[s[7]])
        g(0, 5, 10, 15, m[s[8]], m[s[9]])
        g(1, 6, 11, 12, m[s[10]], m[s[11]])
        g(2, 7, 8, 13, m[s[12]], m[s[13]])
        g(3, 4, 9, 14, m[s[14]], m[s[15]])
    return [int(h[i]) ^ v[i] ^ v[i + 8] for i in range(8)]


def _rotr(x: np.ndarray, r: int) -> np.ndarray:
    """Rotate each ``uint64`` right by ``r`` bits."""
    right, left = _SHIFTS[r]
    return (x >> right) | (x << left)


def _mix(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mixing function ``G`` on whole rows: four ``G`` calls, for every batch element, at once."""
    a = a + b + x  # uint64 arrays wrap modulo 2^64, which is the addition BLAKE2b wants
    d = _rotr(d ^ a, 32)
    c = c + d
    b = _rotr(b ^ c, 24)
    a = a + b + y
    d = _rotr(d ^ a, 16)
    c = c + d
    b = _rotr(b ^ c, 63)
    return a, b, c, d


def blake2b_compress(
    h: np.ndarray,
    block: np.ndarray,
    t: np.ndarray | int,
    last: np.ndarray | bool,
    last_node: np.ndarray | bool = False,
) -> np.ndarray:
    r"""RFC 7693's compression function ``F``, for a whole batch of states at once.

    Parameters
    ----------
    h : np.ndarray
        States, shape ``(B, 8)`` (any leading shape works), ``uint64``.
    block : np.ndarray
        Message blocks as little-endian words, shape ``(B, 16)``, ``uint64``.
    t : np.ndarray or int
        Byte counters, shape ``(B,)`` or broadcastable to it, below :math:`2^{64}`
        (the counter's high word is 0: every message here is shorter than :math:`2^{64}` bytes).
    last : np.ndarray or bool
        Final-block flags, shape ``(B,)`` or broadcastable.
    last_node : np.ndarray or bool, optional
        Last-node flags for tree hashing, shape ``(B,)`` or broadcastable (default ``False``).

    Returns
    -------
    np.ndarray
        The new states, shape ``(B, 8)``, ``uint64``. The inputs are not modified.

    Examples
    --------
    >>> h = np.tile(IV, (3, 1))
    >>> h[:, 0] ^= np.uint64(0x01010040)
    >>> out = blake2b_compress(h, np.zeros((3, 16), np.uint64), 0, True)
    >>> out.shape, out[2].tobytes() == hashlib.blake2b(b"").digest()
    ((3, 8), True)
    """
    h = np.asarray(h, dtype=np.uint64)
    block = np.asarray(block, dtype=np.uint64)
    if h.shape[-1:] != (8,) or block.shape[-1:] != (16,) or h.shape[:-1] != block.shape[:-1]:
        raise ParameterError(
            f"blake2b_compress needs states (..., 8) and blocks (..., 16) with one batch shape, "
            f"got {h.shape} and {block.shape}"
        )
    batch_shape = h.shape[:-1]
    states = h.reshape(-1, 8)
    count = states.shape[0]
    t = np.broadcast_to(np.asarray(t, dtype=np.uint64), batch_shape).reshape(count)
    last = np.broadcast_to(np.asarray(last, dtype=bool), batch_shape).reshape(count)
    last_node = np.broadcast_to(np.asarray(last_node, dtype=bool), batch_shape).reshape(count)

    # The message words every round reads, gathered once: words[r, i] is m[SIGMA[r % 10][i]] per batch element.
    words = block.reshape(count, 16).T[_SCHEDULE]  # (12, 16, B)

    # The working vector as the rows of its 4 x 4 matrix, each row of shape (4, B).
    v = np.empty((16, count), dtype=np.uint64)
    v[:8] = states.T
    v[8:] = IV[:, None]
    v[12] ^= t
    v[14] ^= np.where(last, _ALL_ONES, _ZERO)
    v[15] ^= np.where(last_node, _ALL_ONES, _ZERO)
    a, b, c, d = v[0:4], v[4:8], v[8:12], v[12:16]

    for r in range(ROUNDS):
        w = words[r]
        # Columns: G(v0, v4, v8, v12), G(v1, v5, v9, v13), ... with message words s0 s1, s2 s3, s4 s5, s6 s7.
        a, b, c, d = _mix(a, b, c, d, w[0:8:2], w[1:8:2])
        # Diagonals: shift row b left by 1, c by 2, d by 3; then G(v0, v5, v10, v15), G(v1, v6, v11, v12), ...
        b, c, d = np.roll(b, -1, axis=0), np.roll(c, -2, axis=0), np.roll(d, -3, axis=0)
        a, b, c, d = _mix(a, b, c, d, w[8:16:2], w[9:16:2])
        b, c, d = np.roll(b, 1, axis=0), np.roll(c, 2, axis=0), np.roll(d, 3, axis=0)

    new = states.T ^ np.concatenate([a, b]) ^ np.concatenate([c, d])
    return np.ascontiguousarray(new.T).reshape(h.shape)


# --------------------------------------------------------------------------------------
# BLAKE2b with the full parameter block
# --------------------------------------------------------------------------------------


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ParameterError(f"BLAKE2b {name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def parameter_words(
    digest_size: int = OUT_BYTES,
    key_length: int = 0,
    *,
    fanout: int = 1,
    depth: int = 1,
    leaf_length: int = 0,
    node_offset: int = 0,
    xof_length: int = 0,
    node_depth: int = 0,
    inner_length: int = 0,
    salt: bytes = b"",
    person: bytes = b"",
) -> np.ndarray:
    """The 64-byte BLAKE2b parameter block as eight little-endian ``uint64`` words.

    ``node_offset`` has 64 bits when ``xof_length`` is 0 (plain BLAKE2b, as in
    ``hashlib``); a non-zero ``xof_length`` (BLAKE2X) takes the upper 32 bits of
    that field, leaving 32 bits for the node offset. Depth 0 is allowed (BLAKE2X's
    expansion nodes use it). ``salt`` and ``person`` are zero-padded to 16 bytes.

    Examples
    --------
    >>> hex(int(parameter_words(64)[0]))  # digest 64, no key, fanout 1, depth 1
    '0x1010040'
    >>> hex(int(parameter_words(64, xof_length=4096, node_offset=3)[1]))
    '0x100000000003'
    """
    digest_size = _check_range("digest size", digest_size, 1, OUT_BYTES)
    key_length = _check_range("key length", key_length, 0, KEY_BYTES)
    fanout = _check_range("fanout", fanout, 0, 255)
    depth = _check_range("depth", depth, 0, 255)
    leaf_length = _check_range("leaf length", leaf_length, 0, 0xFFFFFFFF)
    xof_length = _check_range("XOF length", xof_length, 0, 0xFFFFFFFF)
    node_offset = _check_range("node offset", node_offset, 0, _MASK64 if xof_length == 0 else 0xFFFFFFFF)
    node_depth = _check_range("node depth", node_depth, 0, 255)
    inner_length = _check_range("inner length", inner_length, 0, OUT_BYTES)
    for name, value, size in (("salt", salt, SALT_BYTES), ("personalization", person, PERSON_BYTES)):
        if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) > size:
            raise ParameterError(f"BLAKE2b {name} must be at most {size} bytes, got {value!r}")
    block = struct.pack(
        "<BBBBIQBB14x16s16s",
        digest_size,
        key_length,
        fanout,
        depth,
        leaf_length,
        node_offset | (xof_length << 32),
        node_depth,
        inner_length,
        bytes(salt),  # struct zero-pads short byte strings
        bytes(person),
    )
    return np.frombuffer(block, dtype="<u8").astype(np.uint64)


def blake2b(
    data: bytes,
    digest_size: int = OUT_BYTES,
    key: bytes = b"",
    *,
    last_node: bool = False,
    **fields: int | bytes,
) -> bytes:
    """BLAKE2b of one message with every field of the parameter block under the caller's control.

    The same function as ``hashlib.blake2b`` (whose ``leaf_size`` and
    ``inner_size`` are ``leaf_length`` and ``inner_length`` here), plus the
    BLAKE2X field ``xof_length`` and depth 0, which ``hashlib`` refuses. Blocks
    are compressed one after the other (a hash chain cannot be batched), so this
    is meant for short messages; it is the readable definition that
    :func:`blake2xb`'s batched expansion is checked against.

    Parameters
    ----------
    data : bytes
        The message.
    digest_size : int, optional
        Digest length in bytes, 1 to 64 (default 64).
    key : bytes, optional
        MAC key, at most 64 bytes (default none).
    last_node : bool, optional
        Set the last-node flag on the final block.
    **fields
        The other fields of the parameter block, by the keyword names and defaults of
        :func:`parameter_words`: ``fanout``, ``depth``, ``leaf_length``, ``node_offset``,
        ``xof_length``, ``node_depth``, ``inner_length`` (integers), ``salt`` and ``person``
        (at most 16 bytes each). An unknown name is a ``TypeError``, as for any keyword.

    Returns
    -------
    bytes
        The digest, ``digest_size`` bytes.

    Examples
    --------
    >>> blake2b(b"abc").hex()[:16]  # RFC 7693, appendix A
    'ba80a53f981c4d0d'
    >>> blake2b(b"", 16, key=b"k", depth=3) == hashlib.blake2b(b"", digest_size=16, key=b"k", depth=3).digest()
    True
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParameterError(f"BLAKE2b hashes bytes, got {type(data).__name__}")
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) > KEY_BYTES:
        raise ParameterError(f"a BLAKE2b key must be at most {KEY_BYTES} bytes")
    words = parameter_words(digest_size, len(key), **fields)
    h = (IV ^ words)[None, :]

    # A key is hashed as a first block of its own; an empty message is one zero block with t = 0.
    message = (bytes(key).ljust(BLOCK_BYTES, b"\0") if key else b"") + bytes(data)
    total = len(message)
    block_count = max(1, -(-total // BLOCK_BYTES))
    blocks = np.frombuffer(message.ljust(block_count * BLOCK_BYTES, b"\0"), dtype="<u8").astype(np.uint64)
    blocks = blocks.reshape(block_count, 1, 16)
    for i in range(block_count):
        final = i == block_count - 1
        t = total if final else (i + 1) * BLOCK_BYTES
        h = blake2b_compress(h, blocks[i], t, final, last_node and final)
    return h[0].astype("<u8").tobytes()[:digest_size]


# --------------------------------------------------------------------------------------
# BLAKE2Xb
# --------------------------------------------------------------------------------------


def _check_output_length(output_length: int) -> int:
    return _check_range("XOF output length", output_length, 1, XOF_UNKNOWN_LENGTH - 1)


def _roots(messages: Sequence[bytes], key: bytes, output_length: int) -> np.ndarray:
    """BLAKE2Xb root digests of several messages, as a ``(R, 8)`` ``uint64`` array.

    The root is ``blake2b(message, 64, key, xof_length=output_length)``; ``hashlib``
    computes it (its 64-bit ``node_offset`` is the BLAKE2X pair node offset,
    XOF length), much faster than :func:`blake2b` for long messages.
    """
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) > KEY_BYTES:
        raise ParameterError(f"a BLAKE2Xb key must be at most {KEY_BYTES} bytes")
    digests = b"".join(
        hashlib.blake2b(bytes(message), key=bytes(key), node_offset=output_length << 32).digest()
        for message in messages
    )
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64).reshape(len(messages), 8)


def _expand(roots: np.ndarray, output_length: int) -> np.ndarray:
    """BLAKE2Xb expansion of ``(R, 8)`` root digests: ``(R, output_length)`` ``uint8``, one compression per node."""
    nodes = -(-output_length // OUT_BYTES)
    last_size = output_length - OUT_BYTES * (nodes - 1)
    common = {"fanout": 0, "depth": 0, "leaf_length": OUT_BYTES, "xof_length": output_length, "inner_length": OUT_BYTES}
    params = np.tile(parameter_words(OUT_BYTES, **common), (nodes, 1))
    params[-1] = parameter_words(last_size, **common)
    params[:, 1] |= np.arange(nodes, dtype=np.uint64)  # node offset j in the low 32 bits
    h = np.broadcast_to(IV ^ params, (len(roots), nodes, 8))

    # Every node hashes the same single block: the root digest, zero-padded, t = 64, last.
    block = np.zeros((len(roots), nodes, 16), dtype=np.uint64)
    block[:, :, :8] = roots[:, None, :]
    out = blake2b_compress(h, block, OUT_BYTES, True)
    # Nodes are concatenated in order; only the last may be shorter, so cutting the tail suffices.
    return out.astype("<u8").view(np.uint8).reshape(len(roots), nodes * OUT_BYTES)[:, :output_length]


def blake2xb(output_length: int, data: bytes, key: bytes = b"") -> bytes:
    """BLAKE2Xb with a known output length, as SEAL's copy of the reference ``blake2xb.c`` computes it.

    Parameters
    ----------
    output_length : int
        Bytes of output, from 1 to :math:`2^{32} - 2` (the length is part of every
        parameter block, so it changes all of the output, not just its end).
    data : bytes
        The message.
    key : bytes, optional
        Key of the root hash, at most 64 bytes.

    Returns
    -------
    bytes
        ``output_length`` bytes.

    Examples
    --------
    >>> blake2xb(1, bytes(range(256))).hex()  # blake2-kat.json, unkeyed, 1 byte
    'f0'
    >>> blake2xb(256, (0).to_bytes(8, "little"), key=bytes(64)).hex()[:16]  # as SEAL computes it
    'bb53a26ba73cffa4'
    >>> blake2xb(64, b"x")[:2] == blake2xb(65, b"x")[:2]  # no prefix property across lengths
    False
    """
    output_length = _check_output_length(output_length)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParameterError(f"BLAKE2Xb hashes bytes, got {type(data).__name__}")
    return _expand(_roots([data], key, output_length), output_length)[0].tobytes()


def _expansion_node(root: bytes, size: int, key_length: int, **fields: int) -> bytes:
    """One BLAKE2Xb expansion node: the root digest hashed with ``key_length`` in the parameter block but no key."""
    words = parameter_words(size, key_length, **fields)
    block = np.zeros((1, 16), dtype=np.uint64)
    block[0, :8] = np.frombuffer(root, dtype="<u8")
    return blake2b_compress((IV ^ words)[None, :], block, OUT_BYTES, True)[0].astype("<u8").tobytes()[:size]


def blake2xb_reference(output_length: int, data: bytes, key: bytes = b"", *, expansion_key_length: int = 0) -> bytes:
    """BLAKE2Xb node by node through :func:`blake2b` (slow; the oracle for :func:`blake2xb`).

    ``expansion_key_length`` is the key length written into the expansion
    nodes' parameter blocks: 0 as in SEAL (and :func:`blake2xb`); the key's
    length reproduces the keyed vectors of the BLAKE2 repository's
    ``blake2-kat.json`` (see the module docstring). No key is hashed either way.

    >>> blake2xb_reference(100, b"abc", b"key") == blake2xb(100, b"abc", b"key")
    True
    >>> blake2xb_reference(3, bytes(range(256)), bytes(range(64)), expansion_key_length=64).hex()
    'fcb867'
    """
    output_length = _check_output_length(output_length)
    expansion_key_length = _check_range("expansion key length", expansion_key_length, 0, KEY_BYTES)
    root = blake2b(data, OUT_BYTES, key, xof_length=output_length)
    out = b""
    for j in range(-(-output_length // OUT_BYTES)):
        size = min(OUT_BYTES, output_length - j * OUT_BYTES)
        node = {"fanout": 0, "depth": 0, "leaf_length": OUT_BYTES, "node_offset": j,
                "xof_length": output_length, "inner_length": OUT_BYTES}  # BLAKE2X's expansion node j
        if expansion_key_length:  # a key length without a key block: blake2b() cannot express it
            out += _expansion_node(root, size, expansion_key_length, **node)
        else:
            out += blake2b(root, size, **node)
    return out


# --------------------------------------------------------------------------------------
# SEAL 3.5's BlakePRNG
# --------------------------------------------------------------------------------------


def _seed_bytes(seed: bytes | Sequence[int] | np.ndarray) -> bytes:
    """A seed as 64 bytes: given as bytes, or as eight ``uint64`` words (SEAL's ``prng_seed_type``)."""
    if isinstance(seed, (bytes, bytearray, memoryview)):
        if len(seed) != PRNG_SEED_BYTES:
            raise ParameterError(f"a BlakePRNG seed is {PRNG_SEED_BYTES} bytes, got {len(seed)}")
        return bytes(seed)
    try:
        words = [int(w) for w in seed]
    except (TypeError, ValueError) as error:
        raise ParameterError(f"a BlakePRNG seed is 64 bytes or 8 uint64 words, got {type(seed).__name__}") from error
    if len(words) != PRNG_SEED_BYTES // 8 or not all(0 <= w <= _MASK64 for w in words):
        raise ParameterError("a BlakePRNG seed given as words needs exactly 8 integers in [0, 2^64)")
    return b"".join(w.to_bytes(8, "little") for w in words)


class BlakePRNG:
    """SEAL 3.5's ``BlakePRNG``: a deterministic byte stream from a 64-byte seed.

    Buffer ``i`` is ``blake2xb(4096, le64(i), key=seed)``; the stream is buffer
    0, then buffer 1, and so on. :meth:`random_bytes` and :meth:`random_u32` read
    the stream in order, like SEAL's ``generate``; :meth:`buffers` computes any
    range of buffers directly, without touching the stream position.

    Parameters
    ----------
    seed : bytes or sequence of 8 int
        64 bytes, or SEAL's eight ``uint64`` seed words (stored little-endian).
        It is never shown by ``repr``.

    Examples
    --------
    >>> prng = BlakePRNG(range(1, 9))
    >>> first = prng.random_bytes(10)
    >>> first == BlakePRNG(range(1, 9)).buffers(0, 1)[0, :10].tobytes()
    True
    >>> int(prng.random_u32(1)[0]) == int.from_bytes(BlakePRNG(range(1, 9)).random_bytes(14)[10:], "little")
    True
    """

    BUFFER_BYTES = PRNG_BUFFER_BYTES
    _MAX_BATCH = 256  # buffers expanded per compression batch: bounds the working memory (about 2 MiB per 64 buffers)

    def __init__(self, seed: bytes | Sequence[int] | np.ndarray) -> None:
        self._seed = _seed_bytes(seed)
        self._next_buffer = 0  # index of the next buffer to generate
        self._pending = b""  # unread tail of the current buffer

    def __repr__(self) -> str:  # never show the seed
        return f"{type(self).__name__}(<seed hidden>, buffers_used={self._next_buffer})"

    @property
    def buffers_used(self) -> int:
        """How many 4096-byte buffers the stream has generated so far (SEAL's counter)."""
        return self._next_buffer

    def buffers(self, first: int, count: int) -> np.ndarray:
        """Buffers ``first`` to ``first + count - 1`` as a ``(count, 4096)`` ``uint8`` array.

        The expansion nodes of all of them (64 per buffer) go through one batched
        compression. Does not move the stream position.

        >>> prng = BlakePRNG(bytes(64))
        >>> both = prng.buffers(0, 2)
        >>> both.shape, bool((both[1] == prng.buffers(1, 1)[0]).all())
        ((2, 4096), True)
        """
        first = _check_range("buffer index", first, 0, _MASK64)
        count = _check_range("buffer count", count, 0, _MASK64 + 1 - first)
        out = np.empty((count, self.BUFFER_BYTES), dtype=np.uint8)
        for start in range(0, count, self._MAX_BATCH):
            stop = min(count, start + self._MAX_BATCH)
            counters = [(first + i).to_bytes(8, "little") for i in range(start, stop)]
            out[start:stop] = _expand(_roots(counters, self._seed, self.BUFFER_BYTES), self.BUFFER_BYTES)
        return out

    def random_bytes(self, count: int) -> bytes:
        """The next ``count`` bytes of the stream.

        >>> prng = BlakePRNG(bytes(64))
        >>> prng.random_bytes(4000) + prng.random_bytes(200) == BlakePRNG(bytes(64)).random_bytes(4200)
        True
        """
        count = _check_range("byte count", count, 0, 1 << 62)
        taken, self._pending = self._pending[:count], self._pending[count:]
        missing = count - len(taken)
        if missing == 0:
            return taken
        fresh_buffers = -(-missing // self.BUFFER_BYTES)
        fresh = self.buffers(self._next_buffer, fresh_buffers).tobytes()
        self._next_buffer += fresh_buffers
        self._pending = fresh[missing:]
        return taken + fresh[:missing]

    def random_u32(self, count: int) -> np.ndarray:
        """The next ``count`` 32-bit words of the stream (four bytes each, little-endian), as ``uint32``.

        >>> BlakePRNG(bytes(64)).random_u32(3).shape
        (3,)
        """
        count = _check_range("word count", count, 0, 1 << 60)
        return np.frombuffer(self.random_bytes(4 * count), dtype="<u4").astype(np.uint32)
