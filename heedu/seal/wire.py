r"""SEAL's serialization format (3.5, and reading 4.x): headers, ciphertexts, plaintexts, keys.

Every SEAL object starts with a 16-byte header, little-endian ``<HBBBBHQ``:
magic ``0xA15E``, header size 16, version major and minor, compression mode
(0 none, 1 zlib, 2 zstd), a reserved ``u16`` zero, and the total size in bytes
including the header. With zlib, everything after the header is one zlib
stream.

**Ciphertext members** (after decompression): ``parms_id`` (32 bytes),
``is_ntt_form`` (1), ``size`` (u64), ``poly_modulus_degree`` (u64),
``coeff_modulus_size`` (u64), ``scale`` (f64), in 4.x a ``correction_factor``
(u64), then the coefficient array as a nested SEAL object (its own header,
compression none) holding a u64 count and the words: polynomial-major, then
prime-major, then coefficient. A *seeded* ciphertext stores only :math:`c_0`
(count :math:`kN`) followed by a 64-byte seed from which :math:`c_1` is
regenerated (``heedu.seal.samplers``).

**KSwitchKeys** (Galois and relinearization keys): ``parms_id``, ``u64 dim1``,
and for each of the ``dim1`` slots a ``u64 dim2`` followed by ``dim2`` complete
PublicKey objects (each a SEAL object: header plus ciphertext members). Galois
keys sit at index :math:`(g - 1)/2`.

Reading is defensive: every declared size is checked against hard limits and
against the bytes actually present *before* anything is allocated; zlib output
is capped (no decompression bombs); the parms_id must name a level of the
context; every residue must be reduced. Violations raise
:class:`~heedu.errors.SerializationError`.

References: SEAL 3.5 ``serialization.h``, ``ciphertext.cpp``, ``kswitchkeys.cpp``;
the format chapter, ``docs/course/08-seal-wire-format.md``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import ScaleOutOfBoundsError, SecretKeyExposureError, SerializationError
from ..keys import SecretKey
from ..params import CKKSContext, check_stored_scale
from ..serialization import ByteReader
from .blake2 import BlakePRNG
from .samplers import SamplerVersion, WordStream, sample_uniform

SEAL_MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")
COMPR_NONE, COMPR_ZLIB, COMPR_ZSTD = 0, 1, 2
SEED_WORDS = 8
SEED_BYTES = 8 * SEED_WORDS
MAX_OBJECT_BYTES = 256 * 1024 * 1024  # no object heedu reads legitimately comes near this
MAX_CIPHERTEXT_SIZE = 16
MAX_KEY_BYTES = 64 * 1024 * 1024  # the tutorial's 12 Galois keys inflate to about 9.5 MB


def max_ciphertext_bytes(context: CKKSContext) -> int:
    """The largest legitimate ciphertext of these parameters (decompressed), plus room for headers."""
    return MAX_CIPHERTEXT_SIZE * context.key_ring.k * context.poly_modulus_degree * 8 + 4096


@dataclass(frozen=True)
class SealHeader:
    """The 16-byte header of a SEAL object."""

    major: int
    minor: int
    compr_mode: int
    size: int


def write_object(members: bytes, compr_mode: int = COMPR_ZLIB, version: tuple[int, int] = (3, 5)) -> bytes:
    """Wrap serialized members in a SEAL header, compressing with zlib (level 6, SEAL's default) if asked."""
    if compr_mode == COMPR_ZLIB:
        body = zlib.compress(members, 6)
    elif compr_mode == COMPR_NONE:
        body = members
    else:
        raise ValueError(f"heedu writes compression modes 0 (none) and 1 (zlib), not {compr_mode}")
    return HEADER.pack(SEAL_MAGIC, HEADER.size, version[0], version[1], compr_mode, 0, HEADER.size + len(body)) + body


def read_object(data: bytes, offset: int = 0, max_bytes: int = MAX_OBJECT_BYTES) -> tuple[SealHeader, bytes, int]:
    """Parse one SEAL object at ``offset``: its header, its (decompressed) members, and the offset after it.

    Raises
    ------
    SerializationError
        Truncated data, wrong magic or header size, unknown version or
        compression, nonzero reserved field, or decompressed size above ``max_bytes``.
    """
    if len(data) - offset < HEADER.size:
        raise SerializationError(
            f"truncated SEAL object: {len(data) - offset} bytes at offset {offset}, a header alone is {HEADER.size}"
        )
    magic, header_size, major, minor, compr_mode, reserved, size = HEADER.unpack_from(data, offset)
    if magic != SEAL_MAGIC:
        raise SerializationError(f"not a SEAL object: magic 0x{magic:04X} at offset {offset}, expected 0xA15E")
    if header_size != HEADER.size or reserved != 0:
        raise SerializationError(f"malformed SEAL header (header size {header_size}, reserved {reserved})")
    if major not in (3, 4):
        raise SerializationError(f"unsupported SEAL version {major}.{minor}; heedu reads 3.x and 4.x")
    if size < HEADER.size or size > len(data) - offset:
        raise SerializationError(
            f"SEAL header declares {size} bytes but {len(data) - offset} remain at offset {offset} (truncated?)"
        )
    if size > max_bytes:
        raise SerializationError(f"SEAL object of {size} bytes exceeds the limit of {max_bytes}")
    body = bytes(data[offset + HEADER.size : offset + size])
    if compr_mode == COMPR_ZLIB:
        body = _inflate(body, max_bytes)
    elif compr_mode == COMPR_ZSTD:
        raise SerializationError("zstd-compressed SEAL objects are not supported; save with compr_mode none or zlib")
    elif compr_mode != COMPR_NONE:
        raise SerializationError(f"unknown SEAL compression mode {compr_mode}")
    return SealHeader(major, minor, compr_mode, size), body, offset + size


def _inflate(body: bytes, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj()
    try:
        out = decompressor.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise SerializationError(f"corrupt zlib stream in SEAL object: {error}") from None
    if len(out) > max_bytes:
        raise SerializationError(f"zlib stream inflates beyond the limit of {max_bytes} bytes (a zlib bomb?)")
    if not decompressor.eof or decompressor.unused_data:
        raise SerializationError("zlib stream in SEAL object is truncated or followed by extra bytes")
    return out


# --------------------------------------------------------------------------------- ciphertexts


@dataclass(frozen=True)
class SealCiphertext:
    """A ciphertext as SEAL stores it: data ``(size, k, N)`` in NTT form, its parms_id, scale and seed."""

    parms_id: bytes
    data: np.ndarray
    scale: float
    seed: bytes | None = None


def ciphertext_members(ct: SealCiphertext, version: tuple[int, int] = (3, 5)) -> bytes:
    """Serialize ciphertext members (seeded: only c0 and the 64-byte seed)."""
    size, k, n = ct.data.shape
    words = ct.data[:1] if ct.seed is not None else ct.data
    array = struct.pack("<Q", words.size) + np.ascontiguousarray(words, dtype="<u8").tobytes()
    nested = write_object(array, COMPR_NONE, version)
    correction = struct.pack("<Q", 1) if version[0] >= 4 else b""
    head = ct.parms_id + struct.pack("<BQQQd", 1, size, n, k, ct.scale) + correction
    return head + nested + (ct.seed if ct.seed is not None else b"")


def write_ciphertext(ct: SealCiphertext, compr_mode: int = COMPR_ZLIB) -> bytes:
    """A complete SEAL 3.5 Ciphertext object."""
    return write_object(ciphertext_members(ct), compr_mode)


def parse_ciphertext_members(
    members: bytes,
    header: SealHeader,
    context: CKKSContext,
    allowed_moduli: dict[bytes, tuple[int, ...]],
    sampler: SamplerVersion = "3.5.0",
    what: str = "ciphertext",
    exact: bool = True,
    expand: bool = True,
) -> tuple[SealCiphertext, int]:
    """Parse ciphertext members; returns the ciphertext and how many bytes were used.

    ``allowed_moduli`` maps each acceptable parms_id to its primes (data
    levels for ciphertexts, the key level for key components). With ``expand=False`` a seeded
    ciphertext keeps its seed unexpanded (``data`` then holds :math:`c_0` only): everything is
    checked but the expensive uniform polynomial is not drawn.
    """
    cursor = ByteReader(members, what)
    parms_id = cursor.take(32, "parms_id")
    if parms_id not in allowed_moduli:
        raise SerializationError(
            f"{what} has parms_id {parms_id[:8][::-1].hex()}..., which is not a level of these parameters "
            f"(N = {context.poly_modulus_degree}, {len(context.parameters.primes)} primes)"
        )
    moduli = allowed_moduli[parms_id]
    is_ntt, size, n, k, scale = cursor.unpack("BQQQd", "ciphertext metadata")
    if header.major >= 4:
        cursor.unpack("Q", "correction factor")
    if is_ntt != 1:
        raise SerializationError(f"{what} is not in NTT form (is_ntt_form = {is_ntt}); CKKS ciphertexts always are")
    if n != context.poly_modulus_degree or k != len(moduli):
        raise SerializationError(
            f"{what} declares N = {n}, {k} primes; its parms_id means N = {context.poly_modulus_degree}, "
            f"{len(moduli)} primes"
        )
    if not 2 <= size <= MAX_CIPHERTEXT_SIZE:
        raise SerializationError(f"{what} declares {size} polynomials; expected 2..{MAX_CIPHERTEXT_SIZE}")
    _check_scale(scale, moduli, what)
    words = _read_coefficient_array(members, cursor, moduli, n, what)
    if words.shape[0] == size:
        seeded = False
    elif words.shape[0] == 1 and size == 2:
        seeded = True
    else:
        raise SerializationError(
            f"{what} stores {words.shape[0]} polynomial(s) for size {size}; expected {size} (or 1 with a seed)"
        )
    seed = None
    if seeded:
        seed = cursor.take(SEED_BYTES, "seed")
        if expand:
            c1 = sample_uniform(WordStream(BlakePRNG(seed)), moduli, n, sampler)
            words = np.stack([words[0], c1])
    if exact and cursor.remaining():
        raise SerializationError(f"{cursor.remaining()} unexpected bytes after the {what}")
    return SealCiphertext(parms_id, words, float(scale), seed), cursor.offset


def _read_coefficient_array(
    members: bytes, cursor: ByteReader, moduli: tuple[int, ...], n: int, what: str
) -> np.ndarray:
    """The nested, uncompressed SEAL array of u64 words after an object's metadata, as ``(polys, k, n)``.

    Checks the declared count against the bytes present and against whole ``k x n`` polynomials
    before reading, and that every word is reduced modulo its row's prime.
    """
    nested_header, nested, cursor.offset = read_object(members, cursor.offset, max_bytes=len(members))
    if nested_header.compr_mode != COMPR_NONE:
        raise SerializationError(f"{what}: the nested coefficient array must be uncompressed")
    array = ByteReader(nested, f"{what} coefficients")
    (count,) = array.unpack("Q", "coefficient count")
    per_poly = len(moduli) * n
    if count == 0 or count % per_poly or array.remaining() != 8 * count:
        raise SerializationError(
            f"{what} stores {count} coefficients and its array holds {array.remaining()} bytes; "
            f"expected a positive multiple of {per_poly} ({len(moduli)} primes x N = {n}), 8 bytes each"
        )
    words = np.frombuffer(array.take(8 * count, "coefficients"), dtype="<u8").astype(np.uint64)
    words = words.reshape(-1, len(moduli), n)
    if (words >= np.array(moduli, dtype=np.uint64)[:, None]).any():
        raise SerializationError(f"{what} holds a coefficient that is not reduced modulo its prime")
    return words


def _check_scale(scale: float, moduli: tuple[int, ...], what: str) -> None:
    """:func:`~heedu.params.check_stored_scale`, reported as the bytes' fault."""
    try:
        check_stored_scale(scale, moduli, what)
    except ScaleOutOfBoundsError as error:
        raise SerializationError(str(error)) from None


def data_level_moduli(context: CKKSContext) -> dict[bytes, tuple[int, ...]]:
    """parms_id -> primes for every data level of ``context``."""
    return {context.parms_id(level): context.ring(level).moduli for level in range(context.max_level + 1)}


def read_ciphertext(data: bytes, context: CKKSContext, sampler: SamplerVersion = "3.5.0") -> SealCiphertext:
    """Parse a complete SEAL Ciphertext object (3.5 or 4.x layout, seeded or not, zlib or none)."""
    header, members, end = read_object(data, max_bytes=max_ciphertext_bytes(context))
    if end != len(data):
        raise SerializationError(f"{len(data) - end} unexpected bytes after the SEAL ciphertext")
    ct, _ = parse_ciphertext_members(members, header, context, data_level_moduli(context), sampler)
    return ct


# --------------------------------------------------------------------------------- keys


def write_kswitch_keys(parms_id: bytes, slots: list[list[SealCiphertext]], compr_mode: int = COMPR_ZLIB) -> bytes:
    """A complete KSwitchKeys object (GaloisKeys or RelinKeys): ``slots[i]`` holds the PublicKeys of index ``i``."""
    parts = [parms_id, struct.pack("<Q", len(slots))]
    for components in slots:
        parts.append(struct.pack("<Q", len(components)))
        parts.extend(write_object(ciphertext_members(c), COMPR_NONE) for c in components)
    return write_object(b"".join(parts), compr_mode)


def read_kswitch_keys(
    data: bytes,
    offset: int,
    context: CKKSContext,
    max_slots: int,
    sampler: SamplerVersion = "3.5.0",
    max_bytes: int = MAX_KEY_BYTES,
    keep_components: int | None = None,
) -> tuple[dict[int, list[SealCiphertext]], int]:
    """Parse a KSwitchKeys object at ``offset``: ``{index: components}`` of the non-empty slots, and the end offset.

    ``keep_components`` returns only each key's first components (those a key switch at levels
    below ``keep_components`` uses); the others are still read and checked, but their seeds are
    not expanded, which is most of the cost of reading a key.
    """
    _, members, end = read_object(data, offset, max_bytes=max_bytes)
    cursor = ByteReader(members, "key-switching keys")
    parms_id = cursor.take(32, "parms_id")
    if parms_id != context.key_parms_id:
        raise SerializationError(
            f"key-switching keys have parms_id {parms_id[:8][::-1].hex()}..., expected the key level "
            f"{context.key_parms_id[:8][::-1].hex()}... of these parameters"
        )
    (dim1,) = cursor.unpack("Q", "number of key slots")
    if dim1 > max_slots:
        raise SerializationError(f"key-switching keys declare {dim1} slots; at most {max_slots} are possible")
    key_level = {context.key_parms_id: context.key_ring.moduli}
    components_per_key = context.max_level + 1
    slots: dict[int, list[SealCiphertext]] = {}
    for index in range(dim1):
        (dim2,) = cursor.unpack("Q", f"component count of slot {index}")
        if dim2 not in (0, components_per_key):
            raise SerializationError(f"key slot {index} has {dim2} components; expected 0 or {components_per_key}")
        components = []
        for j in range(dim2):
            component_header, component, after = read_object(members, cursor.offset, max_bytes=len(members))
            cursor.offset = after
            keep = keep_components is None or j < keep_components
            ct, _ = parse_ciphertext_members(
                component, component_header, context, key_level, sampler, what=f"key component {index}.{j}",
                expand=keep,
            )
            if ct.data.shape[0] != (2 if keep or ct.seed is None else 1):
                raise SerializationError(f"key component {index}.{j} has {ct.data.shape[0]} polynomials, expected 2")
            if keep:
                components.append(ct)
        if components:
            slots[index] = components
    if cursor.remaining():
        raise SerializationError(f"{cursor.remaining()} unexpected bytes after the key-switching keys")
    return slots, end


# --------------------------------------------------------------------------------- plaintexts and secret keys


@dataclass(frozen=True)
class SealPlaintext:
    """A CKKS plaintext as SEAL stores it: NTT-form data ``(k, N)``, parms_id and scale."""

    parms_id: bytes
    data: np.ndarray
    scale: float


def plaintext_members(pt: SealPlaintext, version: tuple[int, int] = (3, 5)) -> bytes:
    """Plaintext members: parms_id | u64 coeff_count | f64 scale | nested coefficient array."""
    array = struct.pack("<Q", pt.data.size) + np.ascontiguousarray(pt.data, dtype="<u8").tobytes()
    return pt.parms_id + struct.pack("<Qd", pt.data.size, pt.scale) + write_object(array, COMPR_NONE, version)


def parse_plaintext_members(
    members: bytes, context: CKKSContext, allowed_moduli: dict[bytes, tuple[int, ...]], what: str = "plaintext"
) -> SealPlaintext:
    """Parse plaintext members (the same in SEAL 3.5 and 4.x); the whole of ``members`` must be used."""
    cursor = ByteReader(members, what)
    parms_id = cursor.take(32, "parms_id")
    if parms_id not in allowed_moduli:
        raise SerializationError(f"{what} has parms_id {parms_id[:8][::-1].hex()}..., not a level of these parameters")
    moduli = allowed_moduli[parms_id]
    coeff_count, scale = cursor.unpack("Qd", "plaintext metadata")
    if coeff_count != len(moduli) * context.poly_modulus_degree:
        expected = len(moduli) * context.poly_modulus_degree
        raise SerializationError(f"{what} declares {coeff_count} coefficients, expected {expected}")
    _check_scale(scale, moduli, what)
    words = _read_coefficient_array(members, cursor, moduli, context.poly_modulus_degree, what)
    if words.shape[0] != 1:
        raise SerializationError(f"{what} stores {words.shape[0]} polynomials; a plaintext has one")
    words = words[0]
    if cursor.remaining():
        raise SerializationError(f"{cursor.remaining()} unexpected bytes after the {what}")
    return SealPlaintext(parms_id, words, float(scale))


def write_plaintext(pt: SealPlaintext, compr_mode: int = COMPR_ZLIB) -> bytes:
    """A complete SEAL 3.5 Plaintext object."""
    return write_object(plaintext_members(pt), compr_mode)


def read_plaintext(data: bytes, context: CKKSContext) -> SealPlaintext:
    """Parse a complete SEAL Plaintext object at a data level (3.5 or 4.x)."""
    _, members, end = read_object(data)
    if end != len(data):
        raise SerializationError(f"{len(data) - end} unexpected bytes after the SEAL plaintext")
    return parse_plaintext_members(members, context, data_level_moduli(context))


def write_secret_key(secret: SecretKey, context: CKKSContext, allow_secret_key: bool = False) -> bytes:
    """A SEAL SecretKey object (the key-level plaintext :math:`s` in NTT form), only on explicit request."""
    if not allow_secret_key:
        raise SecretKeyExposureError("refusing to serialize a secret key; pass allow_secret_key=True if you mean to")
    return write_object(plaintext_members(SealPlaintext(context.key_parms_id, secret.data, 1.0)), COMPR_NONE)


def read_secret_key(data: bytes, context: CKKSContext, allow_secret_key: bool = False) -> SecretKey:
    """Parse a SEAL SecretKey object; checks that the key is ternary, as SEAL's keys are."""
    if not allow_secret_key:
        raise SecretKeyExposureError("these bytes would load a secret key; pass allow_secret_key=True to load it")
    _, members, end = read_object(data)
    if end != len(data):
        raise SerializationError(f"{len(data) - end} unexpected bytes after the SEAL secret key")
    pt = parse_plaintext_members(members, context, {context.key_parms_id: context.key_ring.moduli}, "secret key")
    ring = context.key_ring
    coefficients = ring.basis.to_centered_float(ring.ntt.inverse(pt.data))
    if not np.all(np.isin(coefficients, (-1.0, 0.0, 1.0))):
        raise SerializationError("the secret key is not ternary: not a CKKS key of these parameters")
    return SecretKey(coefficients.astype(np.int8), pt.data)
