r"""Acceptance tests for heedu.seal.wire: SEAL's object header, Ciphertext and KSwitchKeys codecs.

Oracles:

* an independent writer in this file, built from
  SEAL 3.5's byte layout (chapter 8 of the course: header ``<HBBBBHQ``, ciphertext members at fixed offsets,
  nested coefficient array, trailing seed; KSwitchKeys ``parms_id | dim1 | (dim2, PublicKey objects)*``):
  heedu's writer must produce the same bytes and its reader must accept them;
* the SEAL 4.x layout (version 4.x headers, a ``u64 correction_factor`` after ``scale``) built by hand,
  and, if ``seal-python`` (SEAL 4.4) is installed, a ciphertext saved by real SEAL 4.4 that heedu must
  read *and decrypt*;
* for malformed input, the contract of the module docstring: every violation raises
  :class:`heedu.SerializationError` (a :class:`heedu.HeeduError`) with a message that names the problem,
  and Hypothesis fuzzing checks that nothing else ever escapes.

Most tests use the toy context of ``conftest.py`` (N = 32, primes of [40, 30, 30, 40] bits), so that
fuzzing is cheap; a few use the tutorial parameters (N = 8192, [60, 40, 40, 60]).
"""

from __future__ import annotations

import re
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heedu
from heedu.seal.blake2 import BlakePRNG
from heedu.seal.samplers import WordStream, sample_uniform
from heedu.seal.wire import (
    MAX_KEY_BYTES,
    MAX_OBJECT_BYTES,
    SealCiphertext,
    parse_ciphertext_members,
    read_ciphertext,
    read_kswitch_keys,
    read_object,
    write_ciphertext,
    write_kswitch_keys,
)

MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")
BOMB_MIB = 300

# --------------------------------------------------------------------------------------
# An independent writer, straight from the spec's byte table
# --------------------------------------------------------------------------------------


def header(
    size: int,
    compr: int = 0,
    version: tuple[int, int] = (3, 5),
    magic: int = MAGIC,
    header_size: int = 16,
    reserved: int = 0,
) -> bytes:
    return HEADER.pack(magic, header_size, version[0], version[1], compr, reserved, size)


def wrap(members: bytes, compr: int = 0, version: tuple[int, int] = (3, 5)) -> bytes:
    """A complete SEAL object: header + members (zlib level 6, SEAL's default, with ``compr = 1``)."""
    body = zlib.compress(members, 6) if compr == 1 else members
    return header(16 + len(body), compr, version) + body


def nested_array(words: np.ndarray, version: tuple[int, int] = (3, 5)) -> bytes:
    array = struct.pack("<Q", words.size) + np.ascontiguousarray(words, dtype="<u8").tobytes()
    return wrap(array, 0, version)


def ct_members(
    parms_id: bytes,
    data: np.ndarray,
    scale: float,
    seed: bytes | None = None,
    version: tuple[int, int] = (3, 5),
    correction_factor: int = 1,
) -> bytes:
    """Ciphertext members: parms_id | is_ntt | size | N | k | scale | [4.x: correction] | array | [seed]."""
    size, k, n = data.shape
    words = data[:1] if seed is not None else data
    correction = struct.pack("<Q", correction_factor) if version[0] >= 4 else b""
    return (
        parms_id
        + struct.pack("<BQQQd", 1, size, n, k, scale)
        + correction
        + nested_array(words, version)
        + (seed if seed is not None else b"")
    )


def kswitch_members(parms_id: bytes, slots: list[list[tuple[np.ndarray, bytes | None]]]) -> bytes:
    parts = [parms_id, struct.pack("<Q", len(slots))]
    for components in slots:
        parts.append(struct.pack("<Q", len(components)))
        parts.extend(wrap(ct_members(parms_id, data, 1.0, seed)) for data, seed in components)
    return b"".join(parts)


def unwrap(blob: bytes) -> bytes:
    """The members of a well-formed object (test helper: no checks beyond the format)."""
    magic, _, _, _, compr, _, size = HEADER.unpack_from(blob)
    assert magic == MAGIC and size == len(blob)
    return zlib.decompress(blob[16:]) if compr == 1 else blob[16:]


def patch(data: bytes, offset: int, fmt: str, *values: object) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, offset, *values)
    return bytes(out)


# Offsets inside ciphertext members (SEAL 3.5), from the spec's table.
OFF_PARMS, OFF_NTT, OFF_SIZE, OFF_N, OFF_K, OFF_SCALE = 0, 32, 33, 41, 49, 57
OFF_NESTED, OFF_COUNT, OFF_DATA = 65, 81, 89  # nested array header, its u64 count, the first word

# --------------------------------------------------------------------------------------
# Building valid objects
# --------------------------------------------------------------------------------------


def random_polys(
    context: heedu.CKKSContext, moduli: tuple[int, ...], size: int, rng: np.random.Generator
) -> np.ndarray:
    n = context.poly_modulus_degree
    return np.stack([np.stack([rng.integers(0, q, n, dtype=np.uint64) for q in moduli]) for _ in range(size)])


def expand(seed: bytes, moduli: tuple[int, ...], n: int, version: str = "3.5.0") -> np.ndarray:
    return sample_uniform(WordStream(BlakePRNG(seed)), moduli, n, version)


def make_ct(
    context: heedu.CKKSContext,
    level: int,
    seeded: bool,
    rng: np.random.Generator,
    size: int = 2,
    scale: float = 2.0**30,
) -> SealCiphertext:
    moduli = context.ring(level).moduli
    if not seeded:
        return SealCiphertext(context.parms_id(level), random_polys(context, moduli, size, rng), scale)
    seed = rng.bytes(64)
    c0 = random_polys(context, moduli, 1, rng)[0]
    c1 = expand(seed, moduli, context.poly_modulus_degree)
    return SealCiphertext(context.parms_id(level), np.stack([c0, c1]), scale, seed)


def make_key_component(context: heedu.CKKSContext, rng: np.random.Generator) -> SealCiphertext:
    moduli = context.key_ring.moduli
    seed = rng.bytes(64)
    c0 = random_polys(context, moduli, 1, rng)[0]
    c1 = expand(seed, moduli, context.poly_modulus_degree)
    return SealCiphertext(context.key_parms_id, np.stack([c0, c1]), 1.0, seed)


def assert_same_ct(got: SealCiphertext, want: SealCiphertext) -> None:
    assert got.parms_id == want.parms_id
    assert got.scale == want.scale
    assert got.seed == want.seed
    assert got.data.dtype == np.uint64
    np.testing.assert_array_equal(got.data, want.data)


@pytest.fixture(scope="module")
def tut() -> heedu.CKKSContext:
    return heedu.CKKSContext(heedu.CKKSParameters.tutorial())


@pytest.fixture(scope="module")
def base(toy_context: heedu.CKKSContext) -> dict[str, object]:
    """A reference unseeded and seeded ciphertext of the toy context, and their members."""
    rng = np.random.default_rng(35)
    plain = make_ct(toy_context, 2, False, rng)
    seeded = make_ct(toy_context, 2, True, rng)
    return {
        "plain": plain,
        "seeded": seeded,
        "plain_members": ct_members(plain.parms_id, plain.data, plain.scale),
        "seeded_members": ct_members(seeded.parms_id, seeded.data, seeded.scale, seeded.seed),
    }


@pytest.fixture(scope="module")
def keys(toy_context: heedu.CKKSContext) -> dict[str, object]:
    """A KSwitchKeys value of the toy context: 5 slots, slots 1 and 3 filled with 3 seeded components."""
    rng = np.random.default_rng(55)
    k = toy_context.max_level + 1
    slots = [[], [make_key_component(toy_context, rng) for _ in range(k)], [], [], []]
    slots[3] = [make_key_component(toy_context, rng) for _ in range(k)]
    members = kswitch_members(toy_context.key_parms_id, [[(c.data, c.seed) for c in s] for s in slots])
    return {"slots": slots, "members": members}


#: Every wire test that takes ``compr`` runs on both of SEAL's stored forms: no compression and zlib.
BOTH_COMPRESSIONS = pytest.mark.parametrize("compr", [0, 1], ids=["none", "zlib"])


# --------------------------------------------------------------------------------------
# Round trips and the exact layout
# --------------------------------------------------------------------------------------


@BOTH_COMPRESSIONS
@pytest.mark.parametrize("seeded", [False, True], ids=["unseeded", "seeded"])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_ciphertext_round_trip_and_layout(toy_context, compr, seeded, level):
    rng = np.random.default_rng(1000 * level + 10 * seeded + compr)
    ct = make_ct(toy_context, level, seeded, rng, scale=2.0**30 * 1.5)
    blob = write_ciphertext(ct, compr)
    assert blob == wrap(ct_members(ct.parms_id, ct.data, ct.scale, ct.seed), compr)
    assert_same_ct(read_ciphertext(blob, toy_context), ct)


def test_seeded_ciphertext_stores_only_c0_and_the_seed(toy_context, base):
    ct = base["seeded"]
    members = unwrap(write_ciphertext(ct, 0))
    k, n = ct.data.shape[1:]
    assert struct.unpack_from("<Q", members, OFF_COUNT)[0] == k * n
    assert len(members) == OFF_DATA + 8 * k * n + 64
    assert members[-64:] == ct.seed
    assert members[OFF_NTT] == 1 and struct.unpack_from("<Q", members, OFF_SIZE)[0] == 2


@pytest.mark.parametrize("scale", [2.0**40, float("nan"), 0.5])
def test_scale_rule_holds_for_a_level_wider_than_a_float(toy_context, scale):
    """A level of 1080 bits (insecure parameters may have one) puts :math:`2^{bits}` beyond a float;
    the stored-scale rule must still decide, not overflow: 2^40 reads, NaN and 0.5 are the bytes' fault."""
    moduli = (2**60 - 93,) * 18
    pid = heedu.params.parms_id(toy_context.poly_modulus_degree, moduli)
    data = np.zeros((2, len(moduli), toy_context.poly_modulus_degree), dtype=np.uint64)
    head, members, _ = read_object(wrap(ct_members(pid, data, scale)))
    if scale == 2.0**40:
        ct, _ = parse_ciphertext_members(members, head, toy_context, {pid: moduli})
        assert ct.scale == scale
    else:
        with pytest.raises(heedu.SerializationError, match=r"a scale must be a finite number in \[1, 2\^1080\)"):
            parse_ciphertext_members(members, head, toy_context, {pid: moduli})


def test_size_three_ciphertext_round_trips(toy_context):
    ct = make_ct(toy_context, 1, False, np.random.default_rng(3), size=3)
    assert_same_ct(read_ciphertext(write_ciphertext(ct), toy_context), ct)


def test_seeded_reader_uses_the_requested_sampler(toy_context, base):
    ct = base["seeded"]
    blob = write_ciphertext(ct)
    moduli = toy_context.ring(2).moduli
    late = read_ciphertext(blob, toy_context, sampler="3.5.5")
    np.testing.assert_array_equal(late.data[0], ct.data[0])
    np.testing.assert_array_equal(late.data[1], expand(ct.seed, moduli, toy_context.poly_modulus_degree, "3.5.5"))
    assert (late.data[1] != ct.data[1]).mean() > 0.9


def test_tutorial_ciphertext_round_trip(tut):
    rng = np.random.default_rng(8192)
    for level, seeded in [(2, True), (1, False)]:
        ct = make_ct(tut, level, seeded, rng, scale=2.0**40)
        blob = write_ciphertext(ct)
        assert blob == wrap(ct_members(ct.parms_id, ct.data, ct.scale, ct.seed), 1)
        assert_same_ct(read_ciphertext(blob, tut), ct)


@BOTH_COMPRESSIONS
def test_kswitch_keys_round_trip_and_layout(toy_context, keys, compr):
    blob = write_kswitch_keys(toy_context.key_parms_id, keys["slots"], compr)
    assert blob == wrap(keys["members"], compr)
    slots, end = read_kswitch_keys(blob, 0, toy_context, max_slots=8)
    assert end == len(blob)
    assert sorted(slots) == [1, 3]
    for index in (1, 3):
        assert len(slots[index]) == len(keys["slots"][index])
        for got, want in zip(slots[index], keys["slots"][index], strict=True):
            assert_same_ct(got, want)


def test_kswitch_keys_read_at_an_offset(toy_context, keys):
    """Two objects back to back (as in the key blob): the end offset of the first is the start of the second."""
    first = write_kswitch_keys(toy_context.key_parms_id, keys["slots"], 1)
    second = write_kswitch_keys(toy_context.key_parms_id, [keys["slots"][1]], 0)
    blob = first + second
    slots, end = read_kswitch_keys(blob, 0, toy_context, max_slots=8)
    assert end == len(first) and sorted(slots) == [1, 3]
    slots2, end2 = read_kswitch_keys(blob, end, toy_context, max_slots=1)
    assert end2 == len(blob) and sorted(slots2) == [0]
    for got, want in zip(slots2[0], keys["slots"][1], strict=True):
        assert_same_ct(got, want)


def test_kswitch_keys_keep_only_the_components_asked_for(toy_context, keys):
    """The components beyond ``keep_components`` are read and checked but neither expanded nor returned."""
    blob = write_kswitch_keys(toy_context.key_parms_id, keys["slots"], 1)
    slots, end = read_kswitch_keys(blob, 0, toy_context, max_slots=8, keep_components=1)
    assert end == len(blob) and sorted(slots) == [1, 3]
    for index in (1, 3):
        assert len(slots[index]) == 1
        assert_same_ct(slots[index][0], keys["slots"][index][0])
    # An unreduced coefficient in a component that is not kept is still refused.
    last = keys["slots"][3][-1]
    corrupt = last.data.copy()
    corrupt[0, 0, 0] = np.uint64(2**64 - 1)
    tampered = list(keys["slots"])  # slots by index, empty ones included
    tampered[3] = [*keys["slots"][3][:-1], type(last)(last.parms_id, corrupt, last.scale, last.seed)]
    bad = write_kswitch_keys(toy_context.key_parms_id, tampered, 1)
    with pytest.raises(heedu.SerializationError):
        read_kswitch_keys(bad, 0, toy_context, max_slots=8, keep_components=1)


def test_empty_kswitch_keys(toy_context):
    blob = wrap(toy_context.key_parms_id + struct.pack("<QQQ", 2, 0, 0))
    assert read_kswitch_keys(blob, 0, toy_context, max_slots=2) == ({}, len(blob))


# --------------------------------------------------------------------------------------
# SEAL 4.x layout
# --------------------------------------------------------------------------------------


@BOTH_COMPRESSIONS
@pytest.mark.parametrize("version", [(4, 0), (4, 4)])
@pytest.mark.parametrize("level", [0, 2])
def test_reads_the_4x_layout(toy_context, compr, version, level):
    ct = make_ct(toy_context, level, False, np.random.default_rng(40 + level), scale=2.0**31)
    blob35 = wrap(ct_members(ct.parms_id, ct.data, ct.scale), compr)
    blob4 = wrap(ct_members(ct.parms_id, ct.data, ct.scale, version=version, correction_factor=1), compr, version)
    assert len(unwrap(blob4)) == len(unwrap(blob35)) + 8
    got4 = read_ciphertext(blob4, toy_context)
    assert_same_ct(got4, ct)
    assert_same_ct(got4, read_ciphertext(blob35, toy_context))


def test_35_members_under_a_4x_header_are_rejected(toy_context, base):
    """Without the correction factor the nested array starts 8 bytes early: the layouts must not be mixed up."""
    ct = base["plain"]
    with pytest.raises(heedu.SerializationError):
        read_ciphertext(wrap(ct_members(ct.parms_id, ct.data, ct.scale), 0, (4, 0)), toy_context)
    with pytest.raises(heedu.SerializationError):
        read_ciphertext(wrap(ct_members(ct.parms_id, ct.data, ct.scale, version=(4, 0))), toy_context)


def _seal_secret_from_bytes(context: heedu.CKKSContext, blob: bytes) -> heedu.SecretKey:
    """Parse a SEAL 4.4 SecretKey (a Plaintext: parms_id | coeff_count | scale | array), uncompressed."""
    members = unwrap(blob)
    offset = 32 + 8 + 8 + 16
    (count,) = struct.unpack_from("<Q", members, offset)
    assert count == context.key_ring.k * context.poly_modulus_degree
    data = np.frombuffer(members, dtype="<u8", count=count, offset=offset + 8).astype(np.uint64)
    data = data.reshape(context.key_ring.k, context.poly_modulus_degree)
    from heedu.ring import RNSPoly

    coefficients = RNSPoly(context.key_ring, data, is_ntt=True).to_coeff().to_signed()
    assert set(np.unique(coefficients)) <= {-1, 0, 1}
    return heedu.SecretKey(coefficients, data)


def test_reads_and_decrypts_a_real_seal_44_ciphertext(tut):
    seal = pytest.importorskip("seal", reason="needs seal-python (SEAL 4.4) for a real 4.x object")
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(8192)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(8192, [60, 40, 40, 60]))
    context = seal.SEALContext(parms)
    keygen = seal.KeyGenerator(context)
    values = [1.0, -2.5, 3.25, 0.125]
    plain = seal.CKKSEncoder(context).encode(values, 2.0**40)
    ct = seal.Encryptor(context, keygen.create_public_key()).encrypt(plain)
    blob = bytes(ct.to_string())
    magic, _, major, _, _, _, _ = HEADER.unpack_from(blob)
    assert (magic, major) == (MAGIC, 4)
    sealed = read_ciphertext(blob, tut)
    assert sealed.parms_id == tut.parms_id(2) and sealed.scale == 2.0**40 and sealed.seed is None
    secret = _seal_secret_from_bytes(tut, bytes(keygen.secret_key().to_string()))
    decrypted = heedu.Decryptor(tut, secret).decrypt(heedu.Ciphertext(sealed.data, 2, sealed.scale))
    slots = heedu.CKKSEncoder(tut).decode(decrypted)
    np.testing.assert_allclose(slots[:4], values, atol=1e-6)
    np.testing.assert_allclose(slots[4:], 0.0, atol=1e-6)


# --------------------------------------------------------------------------------------
# Malformed objects: the header
# --------------------------------------------------------------------------------------


def _rejects(
    data: bytes, context: heedu.CKKSContext, pattern: str, read: Callable[..., object] = read_ciphertext
) -> heedu.SerializationError:
    """``read(data, context)`` raises a :class:`heedu.SerializationError` whose message matches ``pattern``."""
    with pytest.raises(heedu.SerializationError) as info:
        read(data, context)
    assert re.search(pattern, str(info.value), re.IGNORECASE), str(info.value)
    return info.value


HEADER_CASES = {
    "wrong magic": (dict(magic=0xA15F), r"magic"),
    "magic byte-swapped": (dict(magic=0x5EA1), r"magic"),
    "header size 8": (dict(header_size=8), r"header size"),
    "header size 32": (dict(header_size=32), r"header size"),
    "reserved nonzero": (dict(reserved=1), r"reserved"),
    "version 2.0": (dict(version=(2, 0)), r"version 2\.0"),
    "version 2.2": (dict(version=(2, 2)), r"version"),
    "version 5.0": (dict(version=(5, 0)), r"version 5\.0"),
    "version 0.0": (dict(version=(0, 0)), r"version"),
    "version 255.255": (dict(version=(255, 255)), r"version"),
    "compr_mode 2 (zstd)": (dict(compr=2), r"zstd"),
    "compr_mode 7": (dict(compr=7), r"compression mode 7"),
    "compr_mode 255": (dict(compr=255), r"compression mode"),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_malformed_header(toy_context, base, case):
    fields, pattern = HEADER_CASES[case]
    members = base["plain_members"]
    _rejects(header(16 + len(members), **fields) + members, toy_context, pattern)


@pytest.mark.parametrize("declared", [0, 1, 15, "len+1", "len+1000", 2**40, 2**64 - 1])
def test_declared_size_larger_than_the_data_or_below_a_header(toy_context, base, declared):
    members = base["plain_members"]
    size = {"len+1": 17 + len(members), "len+1000": 1016 + len(members)}.get(declared, declared)
    _rejects(header(size) + members, toy_context, r"declares|truncated")


def test_declared_size_smaller_than_the_data(toy_context, base):
    members = base["plain_members"]
    _rejects(header(16 + len(members) - 64) + members, toy_context, r"unexpected bytes")


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 8, b"garbage!", b"\x5e\xa1\x10\x03\x05\x00\x00\x00"])
@BOTH_COMPRESSIONS
def test_trailing_bytes_after_the_object(toy_context, base, compr, extra):
    blob = wrap(base["plain_members"], compr)
    _rejects(blob + extra, toy_context, r"unexpected bytes")


def test_a_second_object_after_the_ciphertext_is_trailing_data(toy_context, base):
    blob = wrap(base["plain_members"])
    _rejects(blob + blob, toy_context, r"unexpected bytes")


@BOTH_COMPRESSIONS
@pytest.mark.parametrize("seeded", [False, True], ids=["unseeded", "seeded"])
def test_truncated_object_at_every_interesting_offset(toy_context, base, seeded, compr):
    """The whole object cut short (its header still declaring the full size)."""
    blob = wrap(base["seeded_members" if seeded else "plain_members"], compr)
    cuts = sorted({0, 1, 2, 8, 15, 16, 17, 16 + 32, 16 + 89, len(blob) // 2, len(blob) - 64, len(blob) - 1})
    for cut in cuts:
        _rejects(blob[:cut], toy_context, r"truncated")


@pytest.mark.parametrize("seeded", [False, True], ids=["unseeded", "seeded"])
def test_truncated_members_at_every_interesting_offset(toy_context, base, seeded):
    """Members cut short inside a consistent header: every field boundary, the nested header, data and seed."""
    members = base["seeded_members" if seeded else "plain_members"]
    data_end = len(members) - (64 if seeded else 0)
    cuts = {
        0, 1, 31, OFF_NTT, OFF_SIZE, OFF_SIZE + 4, OFF_N, OFF_K, OFF_SCALE, OFF_SCALE + 7,
        OFF_NESTED, OFF_NESTED + 8, OFF_COUNT, OFF_COUNT + 4, OFF_DATA, OFF_DATA + 8,
        (OFF_DATA + data_end) // 2, data_end - 8, data_end - 1,
    }  # fmt: skip
    if seeded:
        cuts |= {data_end, data_end + 1, data_end + 32, len(members) - 1}
    for cut in sorted(cuts):
        for compr in (0, 1):
            _rejects(wrap(members[:cut], compr), toy_context, r"truncated")


# --------------------------------------------------------------------------------------
# Malformed objects: zlib
# --------------------------------------------------------------------------------------


def test_corrupt_zlib_stream(toy_context, base):
    blob = bytearray(wrap(base["plain_members"], 1))
    middle = 16 + (len(blob) - 16) // 2
    blob[middle] ^= 0xFF
    blob[middle + 1] ^= 0x55
    _rejects(bytes(blob), toy_context, r"zlib")


def test_corrupt_zlib_checksum(toy_context, base):
    blob = bytearray(wrap(base["plain_members"], 1))
    blob[-1] ^= 0x01  # the adler32 of the members
    _rejects(bytes(blob), toy_context, r"zlib")


def test_not_a_zlib_stream(toy_context, base):
    members = base["plain_members"]
    _rejects(header(16 + len(members), compr=1) + members, toy_context, r"zlib")


@pytest.mark.parametrize("keep", [0, 1, 2, 10, "half", "all-but-1", "all-but-4"])
def test_truncated_zlib_stream_in_a_consistent_header(toy_context, base, keep):
    body = zlib.compress(base["plain_members"], 6)
    keep = {"half": len(body) // 2, "all-but-1": len(body) - 1, "all-but-4": len(body) - 4}.get(keep, keep)
    _rejects(header(16 + keep, compr=1) + body[:keep], toy_context, r"zlib|truncated")


def test_bytes_after_the_zlib_stream_inside_the_object(toy_context, base):
    body = zlib.compress(base["plain_members"], 6) + b"\x00\x01"
    _rejects(header(16 + len(body), compr=1) + body, toy_context, r"extra bytes")


def test_compressed_nested_array_is_rejected(toy_context):
    """SEAL writes the nested array uncompressed; a zlib one is refused (as compressed, or as inflating too much)."""
    n = toy_context.poly_modulus_degree
    array = struct.pack("<Q", 2 * 3 * n) + bytes(8 * 2 * 3 * n)
    head = toy_context.parms_id(2) + struct.pack("<BQQQd", 1, 2, n, 3, 2.0**30)
    assert read_ciphertext(wrap(head + wrap(array, 0)), toy_context).data.shape == (2, 3, n)
    _rejects(wrap(head + wrap(array, 1)), toy_context, r"uncompressed|limit")


def _streamed_zero_bomb(mebibytes: int) -> bytes:
    """zlib of ``mebibytes`` MiB of zeros, produced in 1 MiB pieces (never holding the inflated data)."""
    compressor = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(mebibytes)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A valid 3.5 zlib header around zlib(300 MiB of zeros): about 300 KB."""
    body = _streamed_zero_bomb(BOMB_MIB)
    return header(16 + len(body), compr=1) + body


def test_the_bomb_is_a_bomb(bomb):
    assert len(bomb) < 400_000
    inflater, total, pending = zlib.decompressobj(), 0, bomb[16:]
    while pending:
        chunk = inflater.decompress(pending, 16 << 20)
        total += len(chunk)
        assert not chunk.strip(b"\x00")
        pending = inflater.unconsumed_tail
    assert inflater.eof and total == BOMB_MIB << 20 > MAX_OBJECT_BYTES


def test_zlib_bomb_is_rejected_by_the_cap(toy_context, bomb):
    start = time.perf_counter()
    _rejects(bomb, toy_context, r"limit|bomb")
    assert time.perf_counter() - start < 20.0


def _peak_memory(call, *args) -> int:
    """Peak traced memory (bytes) of ``call(*args)``, which must raise SerializationError.

    Memory, not time, is what shows that nothing beyond the cap is inflated: a wall-clock bound would
    only measure how busy the machine is.
    """
    tracemalloc.start()
    try:
        with pytest.raises(heedu.SerializationError, match=r"limit|bomb"):
            call(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("which", ["toy", "tutorial"])
def test_zlib_bomb_is_rejected_with_small_memory(toy_context, tut, bomb, which):
    """The cap is what the parameters allow (a few MiB at N = 8192), and nothing beyond it is inflated.

    (Before the context-derived cap, this bomb cost 512 MiB peak and about 1 s.)
    """
    context = toy_context if which == "toy" else tut
    peak = _peak_memory(read_ciphertext, bomb, context)
    assert peak < 64 << 20, f"rejecting a {len(bomb)}-byte bomb allocated {peak / 2**20:.0f} MiB"


def test_zlib_bomb_in_kswitch_keys_costs_at_most_the_key_cap(toy_context, bomb):
    peak = _peak_memory(read_kswitch_keys, bomb, 0, toy_context, 8)
    assert MAX_KEY_BYTES <= 64 << 20
    assert peak < 2 * MAX_KEY_BYTES + (16 << 20), f"{peak / 2**20:.0f} MiB to reject a key bomb"


def test_the_cap_admits_the_largest_legitimate_ciphertext(tut):
    """16 polynomials at the top level of the tutorial parameters (3 MiB inflated) are still read."""
    ct = make_ct(tut, tut.max_level, False, np.random.default_rng(16), size=16, scale=2.0**40)
    for compr in (0, 1):
        assert_same_ct(read_ciphertext(write_ciphertext(ct, compr), tut), ct)


# --------------------------------------------------------------------------------------
# Malformed objects: ciphertext members
# --------------------------------------------------------------------------------------


def _with_nested(members: bytes, array: bytes, tail: bytes = b"") -> bytes:
    """Replace the nested coefficient object (and what follows) of 3.5 members."""
    return members[:OFF_NESTED] + header(16 + len(array)) + array + tail


@pytest.fixture(scope="module")
def member_cases(toy_context, base, tut) -> dict[str, tuple[bytes, str]]:
    return _member_cases(toy_context, base, tut)


def _member_cases(context: heedu.CKKSContext, base: dict, other: heedu.CKKSContext) -> dict[str, tuple[bytes, str]]:
    plain, seeded = base["plain_members"], base["seeded_members"]
    ct = base["plain"]
    k, n = ct.data.shape[1:]
    full, words = 2 * k * n, ct.data.astype("<u8").tobytes()
    q0 = context.ring(2).moduli[0]
    q2 = context.ring(2).moduli[2]
    unreduced_first = bytearray(plain)
    struct.pack_into("<Q", unreduced_first, OFF_DATA, q0)
    unreduced_last = bytearray(plain)
    struct.pack_into("<Q", unreduced_last, len(plain) - 8, 2**64 - 1)
    unreduced_q2 = bytearray(plain)
    struct.pack_into("<Q", unreduced_q2, OFF_DATA + 8 * (2 * n + 3), q2)  # c0, prime 2, coefficient 3
    unreduced_seeded = bytearray(seeded)
    struct.pack_into("<Q", unreduced_seeded, OFF_DATA + 8, q0 + 1)
    return {
        "parms_id of the key level": (context.key_parms_id + plain[32:], r"not a level"),
        "parms_id of a foreign context": (other.parms_id(2) + plain[32:], r"not a level"),
        "parms_id of a foreign context, level 0": (other.parms_id(0) + plain[32:], r"not a level"),
        "parms_id zero": (bytes(32) + plain[32:], r"not a level"),
        "parms_id one bit off": (bytes([plain[0] ^ 1]) + plain[1:], r"not a level"),
        "is_ntt_form 0": (patch(plain, OFF_NTT, "B", 0), r"NTT"),
        "is_ntt_form 2": (patch(plain, OFF_NTT, "B", 2), r"NTT"),
        "size 2^40": (patch(plain, OFF_SIZE, "Q", 2**40), r"polynomials"),
        "size 2^64-1": (patch(plain, OFF_SIZE, "Q", 2**64 - 1), r"polynomials"),
        "size 0": (patch(plain, OFF_SIZE, "Q", 0), r"polynomials"),
        "size 1": (patch(plain, OFF_SIZE, "Q", 1), r"polynomials"),
        "size 3 with 2 polynomials of data": (patch(plain, OFF_SIZE, "Q", 3), r"stores"),
        "N mismatch (16)": (patch(plain, OFF_N, "Q", 16), r"N = 16"),
        "N mismatch (8192)": (patch(plain, OFF_N, "Q", 8192), r"N = 8192"),
        "N = 2^62": (patch(plain, OFF_N, "Q", 2**62), r"N ="),
        "N = 0": (patch(plain, OFF_N, "Q", 0), r"N = 0"),
        "k mismatch (2)": (patch(plain, OFF_K, "Q", 2), r"2 primes"),
        "k mismatch (4)": (patch(plain, OFF_K, "Q", 4), r"4 primes"),
        "k = 2^63": (patch(plain, OFF_K, "Q", 2**63), r"primes"),
        "scale NaN": (patch(plain, OFF_SCALE, "d", float("nan")), r"scale"),
        "scale +inf": (patch(plain, OFF_SCALE, "d", float("inf")), r"scale"),
        "scale -2^30": (patch(plain, OFF_SCALE, "d", -(2.0**30)), r"scale"),
        "scale 0": (patch(plain, OFF_SCALE, "d", 0.0), r"scale"),
        "count 2^40": (patch(plain, OFF_COUNT, "Q", 2**40), r"stores"),
        "count 2^61 (8*count overflows u64)": (patch(plain, OFF_COUNT, "Q", 2**61), r"stores"),
        "count 2^64-1": (patch(plain, OFF_COUNT, "Q", 2**64 - 1), r"stores"),
        "count one more than the data": (patch(plain, OFF_COUNT, "Q", full + 1), r"stores"),
        "count one less, data one word short": (
            _with_nested(plain, struct.pack("<Q", full - 1) + words[:-8]),
            r"stores",
        ),
        "count right, data one word short": (_with_nested(plain, struct.pack("<Q", full) + words[:-8]), r"holds"),
        "count right, data one word long": (
            _with_nested(plain, struct.pack("<Q", full) + words + bytes(8)),
            r"holds",
        ),
        "count of a seeded c0 but no seed": (
            _with_nested(plain, struct.pack("<Q", k * n) + words[: 8 * k * n]),
            r"seed",
        ),
        "seeded c0 with size 3": (patch(seeded, OFF_SIZE, "Q", 3), r"stores"),
        "nested magic wrong": (patch(plain, OFF_NESTED, "H", 0xBEEF), r"magic"),
        "nested version 5.0": (patch(plain, OFF_NESTED + 3, "BB", 5, 0), r"version"),
        "nested compr_mode 7": (patch(plain, OFF_NESTED + 5, "B", 7), r"compression mode"),
        "nested reserved nonzero": (patch(plain, OFF_NESTED + 6, "H", 3), r"reserved"),
        "nested size beyond the members": (patch(plain, OFF_NESTED + 8, "Q", len(plain)), r"declares"),
        "nested size 2^63": (patch(plain, OFF_NESTED + 8, "Q", 2**63), r"declares"),
        "nested size below its header": (patch(plain, OFF_NESTED + 8, "Q", 8), r"declares"),
        "unreduced: q0 in c0[0][0]": (bytes(unreduced_first), r"not reduced"),
        "unreduced: 2^64-1 in the last word": (bytes(unreduced_last), r"not reduced"),
        "unreduced: q2 in c0[2][3]": (bytes(unreduced_q2), r"not reduced"),
        "unreduced: seeded c0": (bytes(unreduced_seeded), r"not reduced"),
        "bytes after the data": (plain + b"\x00", r"unexpected bytes"),
        "bytes after the seed": (seeded + b"\x00" * 8, r"unexpected bytes"),
        "seed cut to 63 bytes": (seeded[:-1], r"seed"),
    }


MEMBER_CASE_NAMES = [
    "parms_id of the key level", "parms_id of a foreign context", "parms_id of a foreign context, level 0",
    "parms_id zero", "parms_id one bit off", "is_ntt_form 0", "is_ntt_form 2", "size 2^40", "size 2^64-1",
    "size 0", "size 1", "size 3 with 2 polynomials of data", "N mismatch (16)", "N mismatch (8192)", "N = 2^62",
    "N = 0", "k mismatch (2)", "k mismatch (4)", "k = 2^63", "scale NaN", "scale +inf", "scale -2^30", "scale 0",
    "count 2^40", "count 2^61 (8*count overflows u64)", "count 2^64-1", "count one more than the data",
    "count one less, data one word short", "count right, data one word short", "count right, data one word long",
    "count of a seeded c0 but no seed", "seeded c0 with size 3", "nested magic wrong", "nested version 5.0",
    "nested compr_mode 7", "nested reserved nonzero", "nested size beyond the members", "nested size 2^63",
    "nested size below its header", "unreduced: q0 in c0[0][0]", "unreduced: 2^64-1 in the last word",
    "unreduced: q2 in c0[2][3]", "unreduced: seeded c0", "bytes after the data", "bytes after the seed",
    "seed cut to 63 bytes",
]  # fmt: skip


def test_member_case_list_is_complete(member_cases):
    assert sorted(MEMBER_CASE_NAMES) == sorted(member_cases)


@BOTH_COMPRESSIONS
@pytest.mark.parametrize("case", MEMBER_CASE_NAMES)
def test_malformed_ciphertext_members(toy_context, member_cases, case, compr):
    members, pattern = member_cases[case]
    error = _rejects(wrap(members, compr), toy_context, pattern)
    assert isinstance(error, heedu.HeeduError) and isinstance(error, ValueError)


def test_messages_name_what_was_expected(toy_context, base):
    """A clear message says what arrived and what was expected."""
    plain = base["plain_members"]
    message = str(_rejects(wrap(patch(plain, OFF_N, "Q", 16)), toy_context, r"N = 16"))
    assert "N = 32" in message
    message = str(_rejects(wrap(plain[:-8]), toy_context, r"truncated"))
    assert re.search(r"\d", message)
    message = str(_rejects(header(1 << 30) + plain, toy_context, r"declares"))
    assert str(1 << 30) in message


# --------------------------------------------------------------------------------------
# Malformed KSwitchKeys
# --------------------------------------------------------------------------------------

# Offsets in the KSwitchKeys members of the ``keys`` fixture.
KS_DIM1 = 32
KS_DIM2_SLOT0 = 40
KS_DIM2_SLOT1 = 48
KS_FIRST_COMPONENT = 56


def _read_eight_slots(data: bytes, context: heedu.CKKSContext) -> object:
    return read_kswitch_keys(data, 0, context, max_slots=8)


@pytest.fixture(scope="module")
def ks_cases(toy_context, keys) -> dict[str, tuple[bytes, str]]:
    return _ks_cases(toy_context, keys)


def _ks_cases(context: heedu.CKKSContext, keys: dict) -> dict[str, tuple[bytes, str]]:
    members = keys["members"]
    first = keys["slots"][1][0]
    component_len = len(wrap(ct_members(first.parms_id, first.data, 1.0, first.seed)))
    comp = KS_FIRST_COMPONENT + 16  # members of the first component
    data_level = context.parms_id(2)
    size3 = wrap(ct_members(context.key_parms_id, np.concatenate([first.data, first.data[:1]]), 1.0))
    unreduced = bytearray(members)
    struct.pack_into("<Q", unreduced, comp + OFF_DATA + 8 * 5, context.key_ring.moduli[0])
    return {
        "parms_id of a data level": (data_level + members[32:], r"key level"),
        "parms_id zero": (bytes(32) + members[32:], r"key level"),
        "dim1 above max_slots": (patch(members, KS_DIM1, "Q", 9), r"9 slots"),
        "dim1 2^40": (patch(members, KS_DIM1, "Q", 2**40), r"slots"),
        "dim1 2^64-1": (patch(members, KS_DIM1, "Q", 2**64 - 1), r"slots"),
        "dim1 larger than the data": (patch(members, KS_DIM1, "Q", 6), r"truncated"),
        "dim1 smaller than the data": (patch(members, KS_DIM1, "Q", 4), r"unexpected bytes"),
        "dim2 2 instead of 3": (patch(members, KS_DIM2_SLOT1, "Q", 2), r"2 components"),
        "dim2 4 instead of 3": (patch(members, KS_DIM2_SLOT1, "Q", 4), r"4 components"),
        "dim2 2^40": (patch(members, KS_DIM2_SLOT1, "Q", 2**40), r"components"),
        "dim2 3 on an empty slot": (patch(members, KS_DIM2_SLOT0, "Q", 3), r"magic|components|truncated"),
        "component at a data level": (
            members[:comp] + data_level + members[comp + 32 :],
            r"not a level",
        ),
        "component with 3 polynomials": (
            members[:KS_FIRST_COMPONENT] + size3 + members[KS_FIRST_COMPONENT + component_len :],
            r"3 polynomials",
        ),
        "component N mismatch": (patch(members, comp + OFF_N, "Q", 64), r"N = 64"),
        "component k = 3 (data-level count)": (patch(members, comp + OFF_K, "Q", 3), r"3 primes"),
        "component unreduced": (bytes(unreduced), r"not reduced"),
        "component header magic": (patch(members, KS_FIRST_COMPONENT, "H", 0), r"magic"),
        "component header version 5": (patch(members, KS_FIRST_COMPONENT + 3, "B", 5), r"version"),
        "component declared size too large": (
            patch(members, KS_FIRST_COMPONENT + 8, "Q", len(members)),
            r"declares",
        ),
        "component declared size 2^63": (patch(members, KS_FIRST_COMPONENT + 8, "Q", 2**63), r"declares"),
        "component with trailing bytes inside": (
            members[:KS_FIRST_COMPONENT]
            + patch(members[KS_FIRST_COMPONENT : KS_FIRST_COMPONENT + component_len], 8, "Q", component_len + 8)
            + bytes(8)
            + members[KS_FIRST_COMPONENT + component_len :],
            r"unexpected bytes",
        ),
        "bytes after the last slot": (members + bytes(8), r"unexpected bytes"),
    }


KS_CASE_NAMES = [
    "parms_id of a data level", "parms_id zero", "dim1 above max_slots", "dim1 2^40", "dim1 2^64-1",
    "dim1 larger than the data", "dim1 smaller than the data", "dim2 2 instead of 3", "dim2 4 instead of 3",
    "dim2 2^40", "dim2 3 on an empty slot", "component at a data level", "component with 3 polynomials",
    "component N mismatch", "component k = 3 (data-level count)", "component unreduced", "component header magic",
    "component header version 5", "component declared size too large", "component declared size 2^63",
    "component with trailing bytes inside", "bytes after the last slot",
]  # fmt: skip


def test_ks_case_list_is_complete(ks_cases):
    assert sorted(KS_CASE_NAMES) == sorted(ks_cases)


@BOTH_COMPRESSIONS
@pytest.mark.parametrize("case", KS_CASE_NAMES)
def test_malformed_kswitch_keys(toy_context, ks_cases, case, compr):
    members, pattern = ks_cases[case]
    _rejects(wrap(members, compr), toy_context, pattern, _read_eight_slots)


def test_truncated_kswitch_keys_at_every_interesting_offset(toy_context, keys):
    members = keys["members"]
    cuts = {0, 1, 31, 32, 36, 40, 48, 52, KS_FIRST_COMPONENT, KS_FIRST_COMPONENT + 8, KS_FIRST_COMPONENT + 16,
            KS_FIRST_COMPONENT + 16 + OFF_DATA, len(members) // 2, len(members) - 64, len(members) - 1}  # fmt: skip
    for cut in sorted(cuts):
        for compr in (0, 1):
            with pytest.raises(heedu.SerializationError, match=r"truncated"):
                read_kswitch_keys(wrap(members[:cut], compr), 0, toy_context, max_slots=8)
    blob = wrap(members, 1)
    for cut in (0, 10, 16, len(blob) // 2, len(blob) - 1):
        with pytest.raises(heedu.SerializationError, match=r"truncated"):
            read_kswitch_keys(blob[:cut], 0, toy_context, max_slots=8)


def test_kswitch_keys_offset_past_the_end(toy_context, keys):
    blob = wrap(keys["members"])
    for offset in (len(blob), len(blob) + 5):
        with pytest.raises(heedu.SerializationError, match=r"truncated"):
            read_kswitch_keys(blob, offset, toy_context, max_slots=8)


# --------------------------------------------------------------------------------------
# Fuzzing: only typed heedu errors, and whatever is accepted is well formed
# --------------------------------------------------------------------------------------


def _mutate(data: st.DataObject, blob: bytes) -> bytes:
    """One random damage: bit flips, byte overwrites, truncation, insertion, deletion, random bytes."""
    out = bytearray(blob)
    kind = data.draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete", "random", "u64"]))
    if kind == "random":
        return data.draw(st.binary(max_size=400))
    if kind == "truncate":
        return bytes(out[: data.draw(st.integers(0, max(0, len(out) - 1)))])
    # Bias positions towards the first 200 bytes, where every field but the coefficients lives.
    position = st.one_of(st.integers(0, min(len(out), 200) - 1), st.integers(0, len(out) - 1))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(position)
            out[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "overwrite":
        i = data.draw(position)
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        out[i : i + len(chunk)] = chunk
    elif kind == "u64":
        i = data.draw(position)
        value = data.draw(st.sampled_from([0, 1, 2, 3, 16, 32, 2**31, 2**32, 2**40, 2**61, 2**63, 2**64 - 1]))
        out[i : i + 8] = value.to_bytes(8, "little")
    elif kind == "insert":
        i = data.draw(st.integers(0, len(out)))
        out[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    else:
        i = data.draw(position)
        del out[i : i + data.draw(st.integers(1, 16))]
    return bytes(out)


def _mutated_object(data: st.DataObject, members: bytes) -> bytes:
    """Damage either the whole object or only its members (then re-wrapped with a consistent header)."""
    compr = data.draw(st.sampled_from([0, 1]))
    version = data.draw(st.sampled_from([(3, 5), (3, 5), (4, 0)]))
    if data.draw(st.booleans()):
        return _mutate(data, wrap(members, compr, version))
    return wrap(_mutate(data, members), compr, version)


def _check_accepted_ciphertext(ct: SealCiphertext, context: heedu.CKKSContext) -> None:
    level = context.level_of(ct.parms_id)
    moduli = np.array(context.ring(level).moduli, dtype=np.uint64)[:, None]
    assert ct.data.dtype == np.uint64 and ct.data.ndim == 3
    assert 2 <= ct.data.shape[0] <= 16 and ct.data.shape[1:] == (level + 1, context.poly_modulus_degree)
    assert (ct.data < moduli).all()
    assert ct.scale > 0 and np.isfinite(ct.scale)
    assert ct.seed is None or len(ct.seed) == 64


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(data=st.data())
def test_fuzz_read_ciphertext_raises_only_heedu_errors(toy_context, base, data):
    members = base[data.draw(st.sampled_from(["plain_members", "seeded_members"]))]
    blob = _mutated_object(data, members)
    try:
        ct = read_ciphertext(blob, toy_context, sampler=data.draw(st.sampled_from(["3.5.0", "3.5.5"])))
    except heedu.HeeduError as error:
        assert str(error)
        return
    _check_accepted_ciphertext(ct, toy_context)


@FUZZ
@given(blob=st.binary(max_size=600))
def test_fuzz_read_ciphertext_random_bytes(toy_context, blob):
    for candidate in (blob, header(16 + len(blob)) + blob, header(16 + len(blob), compr=1) + blob):
        with pytest.raises(heedu.HeeduError):
            read_ciphertext(candidate, toy_context)


@FUZZ
@given(
    magic=st.sampled_from([MAGIC, 0, 0xFFFF, 0x5EA1]),
    header_size=st.sampled_from([16, 0, 15, 17, 255]),
    major=st.integers(0, 255),
    minor=st.integers(0, 255),
    compr=st.integers(0, 255),
    reserved=st.sampled_from([0, 1, 0x8000, 0xFFFF]),
    size_delta=st.sampled_from([0, 0, -1, 1, -16, 2**20, None]),
)
def test_fuzz_header_fields(toy_context, base, magic, header_size, major, minor, compr, reserved, size_delta):
    body = base["plain_members"] if compr != 1 else zlib.compress(base["plain_members"])
    size = 2**64 - 1 if size_delta is None else max(0, 16 + len(body) + size_delta)
    blob = HEADER.pack(magic, header_size, major, minor, compr, reserved, size) + body
    valid = (magic, header_size, reserved, size_delta) == (MAGIC, 16, 0, 0) and major in (3, 4) and compr in (0, 1)
    try:
        ct = read_ciphertext(blob, toy_context)
    except heedu.HeeduError:
        assert not (valid and major == 3)  # the 3.x layout of these members must be accepted
        return
    assert valid and major == 3
    assert_same_ct(ct, base["plain"])


@FUZZ
@given(data=st.data())
def test_fuzz_read_kswitch_keys_raises_only_heedu_errors(toy_context, keys, data):
    blob = _mutated_object(data, keys["members"])
    offset = data.draw(st.sampled_from([0, 0, 0, 1, 16]))
    try:
        slots, end = read_kswitch_keys(blob, offset, toy_context, max_slots=8)
    except heedu.HeeduError as error:
        assert str(error)
        return
    assert offset < end <= len(blob)
    for index, components in slots.items():
        assert 0 <= index < 8 and len(components) == toy_context.max_level + 1
        for ct in components:
            assert ct.parms_id == toy_context.key_parms_id and ct.data.shape == (2, 4, toy_context.poly_modulus_degree)
            assert (ct.data < np.array(toy_context.key_ring.moduli, dtype=np.uint64)[:, None]).all()


@BOTH_COMPRESSIONS
def test_plaintexts_round_trip_through_the_seal_35_writer(toy_context, compr):
    """What heedu writes as a SEAL 3.5 Plaintext, it reads back: data, level and scale."""
    from heedu.seal.wire import SealPlaintext, read_plaintext, write_plaintext

    plain = heedu.CKKSEncoder(toy_context).encode([1.5, -2.0], level=1)
    sealed = SealPlaintext(toy_context.parms_id(1), plain.data, plain.scale)
    back = read_plaintext(write_plaintext(sealed, compr), toy_context)
    assert back.parms_id == sealed.parms_id and back.scale == plain.scale
    np.testing.assert_array_equal(back.data, plain.data)
    with pytest.raises(heedu.SerializationError):
        read_plaintext(write_plaintext(sealed, compr) + b"\0", toy_context)
