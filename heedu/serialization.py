r"""heedu's own serialization: versioned, self-describing, compact, and bounded on every read.

(SEAL's wire format is a separate concern, in ``heedu.seal``; this one is
heedu's native format.)

**Layout.** Every object starts with a 48-byte header, little-endian:

=======  =====  ==================================================================
offset   size   field
=======  =====  ==================================================================
0        4      magic ``b"HEDU"``
4        1      format version (1)
5        1      object kind (1 parameters, 2 plaintext, 3 ciphertext, 4 public key,
                5 relinearization keys, 6 Galois keys, 7 secret key)
6        2      flags (bit 0: seeded)
8        8      payload length in bytes (u64)
16       32     parms_id of the object's level (the key level for keys; zero for parameters)
=======  =====  ==================================================================

then the payload (polynomials as little-endian u64 words, row by row, NTT
form). **Seeded** objects (fresh symmetric ciphertexts, public keys, key
switching keys made by heedu) store only their first polynomial and the
32-byte seed from which the uniform one is regenerated: about half the size.

**Safety.** :func:`loads` checks the magic, version, kind, the declared length
against the bytes present (before allocating anything), every count against
the context's limits, that every residue is reduced modulo its prime, and that
the parms_id belongs to the context it is loaded into. Any violation raises
:class:`~heedu.errors.SerializationError` (or
:class:`~heedu.errors.ContextMismatchError` for a foreign parms_id).

**Secret keys** are written and read only with ``allow_secret_key=True``;
otherwise :class:`~heedu.errors.SecretKeyExposureError` is raised, so a secret
cannot leave by accident with the public material.

Examples
--------
>>> import heedu
>>> from heedu.serialization import dumps, loads
>>> params = heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 40],
...                               scale=2.0**30, allow_insecure=True)
>>> loads(dumps(params), allow_insecure=True) == params  # a toy ring: the reader opts in itself
True
"""

from __future__ import annotations

import struct

import numpy as np

from .ciphertext import Ciphertext, check_ciphertext
from .errors import ContextMismatchError, SecretKeyExposureError, SecurityError, SerializationError
from .keys import GaloisKeys, KSwitchKey, PublicKey, RelinKeys, SecretKey
from .params import CKKSContext, CKKSParameters, parameters_from_peer
from .plaintext import Plaintext, check_plaintext
from .sampling import SEED_BYTES, expand_seed

MAGIC = b"HEDU"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sBBHQ32s")
KIND_PARAMETERS, KIND_PLAINTEXT, KIND_CIPHERTEXT = 1, 2, 3
KIND_PUBLIC_KEY, KIND_RELIN_KEYS, KIND_GALOIS_KEYS, KIND_SECRET_KEY = 4, 5, 6, 7
FLAG_SEEDED = 1
#: On parameters: every prime is a data prime (``special_prime=False``).
FLAG_NO_SPECIAL_PRIME = 2
MAX_CIPHERTEXT_SIZE = 16
MAX_PRIMES = 64

Serializable = CKKSParameters | Plaintext | Ciphertext | PublicKey | RelinKeys | GaloisKeys | SecretKey


# ---------------------------------------------------------------------------------- writing


def _words(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<u8").tobytes()


def _frame(kind: int, flags: int, pid: bytes, payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, FORMAT_VERSION, kind, flags, len(payload), pid) + payload


def _shake_seed(seed: bytes | None, a: np.ndarray, first_prime: int) -> bool:
    """True if ``seed`` is a 32-byte SHAKE-256 seed that regenerates ``a`` (checked on its first row).

    Only such seeds are stored: a reader regenerates ``a`` with SHAKE-256, so a seed from another
    expansion (SEAL's 64-byte BLAKE2 seeds) is not written; the object is stored in full instead.
    """
    if seed is None or len(seed) != SEED_BYTES:
        return False
    return bool(np.array_equal(expand_seed(seed, [first_prime], a.shape[-1])[0], a[0]))


def _seedable(key: KSwitchKey, first_prime: int) -> bool:
    """Every component of ``key`` has a SHAKE-256 seed for its uniform half."""
    return key.seeds is not None and all(
        _shake_seed(seed, component[1], first_prime) for seed, component in zip(key.seeds, key.data)
    )


def _kswitch_payload(key: KSwitchKey, seeded: bool) -> bytes:
    parts = [struct.pack("<I", key.data.shape[0])]
    for j, component in enumerate(key.data):
        parts.append(_words(component[0]))
        parts.append(key.seeds[j] if seeded else _words(component[1]))  # type: ignore[index]
    return b"".join(parts)


def dumps(obj: Serializable, context: CKKSContext | None = None, allow_secret_key: bool = False) -> bytes:
    r"""Serialize a heedu object to bytes.

    ``context`` is needed for everything but :class:`CKKSParameters` (to
    stamp the parms_id). Secret keys require ``allow_secret_key=True``.

    Raises
    ------
    SecretKeyExposureError
        For a secret key without ``allow_secret_key=True``.
    TypeError
        For an object heedu cannot serialize.
    """
    if isinstance(obj, CKKSParameters):
        primes = obj.primes
        payload = struct.pack(
            f"<QI{len(primes)}QdB", obj.poly_modulus_degree, len(primes), *primes, obj.scale, 0
        )  # the last byte is reserved: a reader decides about toy rings with its own allow_insecure
        return _frame(KIND_PARAMETERS, 0 if obj.special_prime else FLAG_NO_SPECIAL_PRIME, bytes(32), payload)
    if context is None:
        raise TypeError(f"dumps({type(obj).__name__}) needs the context it belongs to: dumps(obj, context)")
    if isinstance(obj, SecretKey):
        if not allow_secret_key:
            raise SecretKeyExposureError(
                "refusing to serialize a secret key; pass allow_secret_key=True if you really mean to"
            )
        return _frame(KIND_SECRET_KEY, 0, context.key_parms_id, (obj.coefficients + 1).astype(np.uint8).tobytes())
    if isinstance(obj, Plaintext):
        check_plaintext(context, obj)
        payload = struct.pack("<Id", obj.level, obj.scale) + _words(obj.data)
        return _frame(KIND_PLAINTEXT, 0, context.parms_id(obj.level), payload)
    if isinstance(obj, Ciphertext):
        check_ciphertext(context, obj)
        seeded = obj.size == 2 and _shake_seed(obj.seed, obj.data[1], context.data_primes[0])
        body = _words(obj.data[0]) + obj.seed if seeded else _words(obj.data)  # type: ignore[operator]
        payload = struct.pack("<IId", obj.level, obj.size, obj.scale) + body
        return _frame(KIND_CIPHERTEXT, FLAG_SEEDED if seeded else 0, context.parms_id(obj.level), payload)
    if isinstance(obj, PublicKey):
        seeded = _shake_seed(obj.seed, obj.data[1], context.data_primes[0])
        payload = _words(obj.data[0]) + (obj.seed if seeded else _words(obj.data[1]))  # type: ignore[operator]
        return _frame(KIND_PUBLIC_KEY, FLAG_SEEDED if seeded else 0, context.key_parms_id, payload)
    if isinstance(obj, RelinKeys):
        seeded = _seedable(obj.key, context.data_primes[0])
        payload = _kswitch_payload(obj.key, seeded)
        return _frame(KIND_RELIN_KEYS, FLAG_SEEDED if seeded else 0, context.key_parms_id, payload)
    if isinstance(obj, GaloisKeys):
        # One flag for the whole set: seeds only if every key has them (else every key in full).
        seeded = bool(obj.keys) and all(_seedable(key, context.data_primes[0]) for key in obj.keys.values())
        parts = [struct.pack("<I", len(obj.keys))]
        for galois_elt in sorted(obj.keys):
            parts.append(struct.pack("<I", galois_elt) + _kswitch_payload(obj.keys[galois_elt], seeded))
        return _frame(KIND_GALOIS_KEYS, FLAG_SEEDED if seeded else 0, context.key_parms_id, b"".join(parts))
    raise TypeError(f"heedu cannot serialize a {type(obj).__name__}")


# ---------------------------------------------------------------------------------- reading


class ByteReader:
    """A cursor over bytes that refuses to read past the end; ``what`` names the object in its errors.

    heedu's format and SEAL's wire format (:mod:`heedu.seal.wire`) both read through it, so both
    refuse truncated data with the same message. Slices are of the type given (bytes stay bytes).
    """

    def __init__(self, data: bytes | memoryview, what: str = "data") -> None:
        self.data, self.offset, self.what = data, 0, what

    def take(self, count: int, field: str) -> bytes | memoryview:
        if count < 0 or self.offset + count > len(self.data):
            raise SerializationError(
                f"truncated {self.what}: {field} needs {count} bytes at offset {self.offset}, "
                f"only {len(self.data) - self.offset} remain"
            )
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def unpack(self, fmt: str, field: str) -> tuple:
        layout = struct.Struct("<" + fmt)
        return layout.unpack(self.take(layout.size, field))

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def finish(self) -> None:
        if self.remaining():
            raise SerializationError(f"{self.remaining()} unexpected trailing bytes after the {self.what}")


def _polynomial(reader: ByteReader, moduli: tuple[int, ...], n: int, what: str) -> np.ndarray:
    """The next ``(len(moduli), n)`` little-endian words, each row reduced modulo its prime."""
    raw = reader.take(8 * len(moduli) * n, what)
    array = np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(len(moduli), n)
    if (array >= np.array(moduli, dtype=np.uint64)[:, None]).any():
        raise SerializationError(f"{what} holds a coefficient that is not reduced modulo its prime")
    return array


def _read_header(data: bytes) -> tuple[int, int, bytes, ByteReader]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SerializationError(f"expected bytes, got {type(data).__name__}")
    if len(data) < HEADER.size:
        raise SerializationError(f"truncated data: {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, kind, flags, length, pid = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SerializationError(f"not a heedu object: magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise SerializationError(
            f"unsupported heedu format version {version}; this heedu reads version {FORMAT_VERSION}"
        )
    if length != len(data) - HEADER.size:
        raise SerializationError(f"header declares {length} payload bytes but {len(data) - HEADER.size} are present")
    known = FLAG_NO_SPECIAL_PRIME if kind == KIND_PARAMETERS else FLAG_SEEDED
    if flags & ~known:
        raise SerializationError(f"unknown flags 0x{flags:04x}")
    return kind, flags, bytes(pid), ByteReader(memoryview(bytes(data))[HEADER.size :])


def _read_kswitch(reader: ByteReader, context: CKKSContext, seeded: bool) -> KSwitchKey:
    (count,) = reader.unpack("I", "the number of key components")
    if not 1 <= count <= context.max_level + 1:
        raise SerializationError(f"a key-switching key has {count} components, expected 1..{context.max_level + 1}")
    level = count - 1  # a key trimmed to level l has l + 1 components over {q_0..q_l, p}
    ring = context.ring_with_special(level)
    kept_rows = [*range(level + 1), context.key_ring.k - 1]
    components, seeds = [], []
    for j in range(count):
        b = _polynomial(reader, ring.moduli, ring.n, f"key component {j}")
        if seeded:
            seed = bytes(reader.take(SEED_BYTES, f"seed of key component {j}"))
            seeds.append(seed)
            a = expand_seed(seed, context.key_ring.moduli, ring.n)[kept_rows]
        else:
            a = _polynomial(reader, ring.moduli, ring.n, f"key component {j}")
        components.append(np.stack([b, a]))
    return KSwitchKey(np.stack(components), tuple(seeds) if seeded else None)


def loads(
    data: bytes, context: CKKSContext | None = None, allow_secret_key: bool = False, allow_insecure: bool = False
) -> Serializable:
    r"""Deserialize bytes written by :func:`dumps`, validating everything.

    Parameters read from bytes must meet the HE standard's 128-bit table unless
    *this* caller passes ``allow_insecure=True``: whoever wrote the bytes cannot
    opt the reader into a toy ring (:func:`heedu.params.parameters_from_peer`).

    Raises
    ------
    SerializationError
        Malformed, truncated, oversized or corrupt data, or parameters that are not valid
        (too many or too large primes, a context too large to build).
    SecurityError
        Parameters below 128-bit security without ``allow_insecure=True``.
    ContextMismatchError
        The object belongs to another parameter set than ``context``.
    SecretKeyExposureError
        The bytes hold a secret key and ``allow_secret_key`` is not set.
    """
    kind, flags, pid, reader = _read_header(data)
    seeded = bool(flags & FLAG_SEEDED)
    if kind == KIND_PARAMETERS:
        n, count = reader.unpack("QI", "parameters")
        if not 0 < count <= MAX_PRIMES:
            raise SerializationError(f"parameters list {count} primes; at most {MAX_PRIMES} are allowed")
        primes = reader.unpack(f"{count}Q", "primes")
        scale, _reserved = reader.unpack("dB", "scale")  # the old writer's own opt-in: never trusted
        reader.finish()
        try:
            return parameters_from_peer(
                n, list(primes), scale, allow_insecure=allow_insecure,
                special_prime=not flags & FLAG_NO_SPECIAL_PRIME,
            )
        except SecurityError:
            raise
        except ValueError as error:
            raise SerializationError(f"invalid parameters: {error}") from error
    if kind not in range(2, 8):
        raise SerializationError(f"unknown object kind {kind}")
    if context is None:
        raise TypeError("loads() needs the context this object belongs to: loads(data, context)")
    n = context.poly_modulus_degree
    if kind == KIND_PLAINTEXT or kind == KIND_CIPHERTEXT:
        level = _level_from(context, pid)
        ring = context.ring(level)
        if kind == KIND_PLAINTEXT:
            stored_level, scale = reader.unpack("Id", "plaintext metadata")
            _check_metadata(context, stored_level, level, scale)
            result: Serializable = Plaintext(_polynomial(reader, ring.moduli, n, "plaintext"), level, scale)
        else:
            stored_level, size, scale = reader.unpack("IId", "ciphertext metadata")
            _check_metadata(context, stored_level, level, scale)
            if not 2 <= size <= MAX_CIPHERTEXT_SIZE or (seeded and size != 2):
                raise SerializationError(f"ciphertext size {size} is not allowed (2..{MAX_CIPHERTEXT_SIZE}; seeded: 2)")
            if seeded:
                c0 = _polynomial(reader, ring.moduli, n, "ciphertext c0")
                seed = bytes(reader.take(SEED_BYTES, "ciphertext seed"))
                result = Ciphertext(np.stack([c0, expand_seed(seed, ring.moduli, n)]), level, scale, seed)
            else:
                polys = [_polynomial(reader, ring.moduli, n, f"ciphertext c{i}") for i in range(size)]
                result = Ciphertext(np.stack(polys), level, scale)
        reader.finish()
        return result
    if pid != context.key_parms_id:
        raise ContextMismatchError(
            f"key material for parms_id {pid[:8].hex()}..., but this context's key level is "
            f"{context.key_parms_id[:8].hex()}...: load it with the context it was made for"
        )
    ring = context.key_ring
    if kind == KIND_SECRET_KEY:
        if not allow_secret_key:
            raise SecretKeyExposureError("these bytes hold a secret key; pass allow_secret_key=True to load it")
        raw = np.frombuffer(reader.take(n, "secret key"), dtype=np.uint8)
        reader.finish()
        if (raw > 2).any():
            raise SerializationError("secret key coefficients must be ternary")
        coefficients = raw.astype(np.int8) - 1
        return SecretKey(coefficients, ring.from_signed(coefficients).to_ntt().data)
    if kind == KIND_PUBLIC_KEY:
        b = _polynomial(reader, ring.moduli, n, "public key")
        if seeded:
            seed = bytes(reader.take(SEED_BYTES, "public key seed"))
            key = PublicKey(np.stack([b, expand_seed(seed, ring.moduli, n)]), seed)
        else:
            key = PublicKey(np.stack([b, _polynomial(reader, ring.moduli, n, "public key")]))
        reader.finish()
        return key
    if kind == KIND_RELIN_KEYS:
        relin = RelinKeys(_read_kswitch(reader, context, seeded))
        reader.finish()
        return relin
    (count,) = reader.unpack("I", "the number of Galois keys")
    if count > n:
        raise SerializationError(f"{count} Galois keys declared; at most N = {n} exist")
    keys = {}
    for _ in range(count):
        (galois_elt,) = reader.unpack("I", "a Galois element")
        if galois_elt % 2 == 0 or not 0 < galois_elt < 2 * n or galois_elt in keys:
            raise SerializationError(f"invalid or repeated Galois element {galois_elt}")
        keys[galois_elt] = _read_kswitch(reader, context, seeded)
    reader.finish()
    return GaloisKeys(keys, n)


def _level_from(context: CKKSContext, pid: bytes) -> int:
    try:
        return context.level_of(pid)
    except ValueError:
        raise ContextMismatchError(
            f"parms_id {pid[:8].hex()}... is not a data level of this context; "
            "load the object with the context it was made for"
        ) from None


def _check_metadata(context: CKKSContext, stored_level: int, level: int, scale: float) -> None:
    if stored_level != level:
        raise SerializationError(f"level field {stored_level} contradicts the parms_id's level {level}")
    try:
        context.check_scale(level, scale, "the stored object")
    except ValueError as error:
        raise SerializationError(str(error)) from None
