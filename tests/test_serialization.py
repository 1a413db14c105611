"""heedu's own format: round trips for every object, seeded compactness, and a parser that only fails cleanly."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heedu
from heedu.serialization import HEADER, dumps, loads
from tests.strategies import seeded_toy_keys

ERRORS = (heedu.SerializationError, heedu.ContextMismatchError, heedu.SecretKeyExposureError, heedu.SecurityError)


@pytest.fixture(scope="module")
def toy():
    ctx, keygen = seeded_toy_keys(32, [40, 30, 40], 30, b"s" * 32)
    encoder = heedu.CKKSEncoder(ctx)
    values = np.linspace(-1, 1, ctx.slot_count)
    objects = {
        "parameters": ctx.parameters,
        "plaintext": encoder.encode(values),
        "ciphertext": heedu.Encryptor(ctx, keygen.public_key()).encrypt(encoder.encode(values)),
        "symmetric": heedu.Encryptor(ctx, secret_key=keygen.secret_key()).encrypt_symmetric(encoder.encode(values)),
        "public_key": keygen.public_key(),
        "relin_keys": keygen.relin_keys(),
        "galois_keys": keygen.galois_keys(steps=[1, -2], conjugation=True),
    }
    return ctx, keygen, objects


def _data(obj):
    if isinstance(obj, heedu.GaloisKeys):
        return np.concatenate([obj.keys[g].data.ravel() for g in sorted(obj.keys)])
    if isinstance(obj, heedu.RelinKeys):
        return obj.key.data
    return obj.data


@pytest.mark.parametrize(
    "name", ["plaintext", "ciphertext", "symmetric", "public_key", "relin_keys", "galois_keys"]
)
def test_round_trip_is_exact(toy, name):
    ctx, _, objects = toy
    original = objects[name]
    restored = loads(dumps(original, ctx), ctx)
    assert type(restored) is type(original)
    np.testing.assert_array_equal(_data(restored), _data(original))
    if hasattr(original, "scale"):
        assert restored.scale == original.scale and restored.level == original.level
    if isinstance(original, heedu.GaloisKeys):
        assert restored.galois_elts() == original.galois_elts()


def test_parameters_round_trip(toy):
    ctx, _, _ = toy
    assert loads(dumps(ctx.parameters), allow_insecure=True) == ctx.parameters
    secure = heedu.CKKSParameters.tutorial()
    assert loads(dumps(secure)) == secure


def _parameters_blob(n: int, primes: list[int], scale: float = 2.0**30, flag: int = 1) -> bytes:
    """Parameters as a peer could write them, the old opt-in byte included."""
    payload = struct.pack(f"<QI{len(primes)}QdB", n, len(primes), *primes, scale, flag)
    return HEADER.pack(b"HEDU", 1, 1, 0, len(payload), bytes(32)) + payload


def test_the_writer_cannot_opt_the_reader_into_a_toy_ring(toy):
    # The attack: a fake peer sends N = 32 parameters whose flag byte says "allow insecure".
    ctx, _, _ = toy
    hostile = _parameters_blob(ctx.poly_modulus_degree, list(ctx.parameters.primes), flag=1)
    with pytest.raises(heedu.SecurityError, match="allow_insecure=True"):
        loads(hostile)
    assert loads(hostile, allow_insecure=True) == ctx.parameters  # only the reader's own opt-in counts
    assert dumps(ctx.parameters)[-1] == 0  # the byte is reserved now


@pytest.mark.parametrize(
    "primes, match",
    [
        ([2**1030 + 1, 2**61 - 1], "integers in"),  # once an OverflowError
        ([2**64 - 59, 97], "integers in"),
        ([2**60 + 1] * 65, "at most 64"),
    ],
    ids=["1031-bit", "64-bit", "65 primes"],
)
def test_hostile_primes_get_typed_errors(primes, match):
    from heedu.params import parameters_from_peer

    with pytest.raises(heedu.ParameterError, match=match):
        parameters_from_peer(4096, primes, 2.0**40)
    with pytest.raises(heedu.ParameterError, match=match):
        heedu.CKKSParameters(poly_modulus_degree=4096, coeff_modulus=primes)


def test_peer_parameters_are_bounded_before_any_allocation():
    # The audit's plan: N = 32768 with 38 primes, 1.5 GB of tables from 623 bytes. Refused by size first
    # (the primes here are not even checked: their primality tests would cost time too).
    from heedu.params import parameters_from_peer

    with pytest.raises(heedu.ParameterError, match="MiB of tables"):
        parameters_from_peer(32768, [2**40 + 1] * 38, 2.0**40, allow_insecure=True)
    with pytest.raises(heedu.SerializationError, match="MiB of tables"):
        loads(_parameters_blob(32768, [2**40 + 1] * 38), allow_insecure=True)


@pytest.mark.parametrize("scale", [1e-300, 0.5, 2.0**1000, float("nan"), float("inf"), -1.0, 2.0**70])
def test_stored_scales_outside_the_level_are_refused(toy, scale):
    # 2^70 is beyond the 40 + 30 bits of the top level; 1e-300 decrypted to 1e-289, 2^1000 to NaN.
    ctx, _, objects = toy
    blob = bytearray(dumps(objects["ciphertext"], ctx))
    struct.pack_into("<d", blob, HEADER.size + 8, scale)
    with pytest.raises(heedu.SerializationError, match="scale"):
        loads(bytes(blob), ctx)


def test_seeded_ciphertext_stores_a_seed_instead_of_c1(toy):
    ctx, _, objects = toy
    fresh, seeded = len(dumps(objects["ciphertext"], ctx)), len(dumps(objects["symmetric"], ctx))
    c1_bytes = 8 * (ctx.max_level + 1) * ctx.poly_modulus_degree
    assert seeded == fresh - c1_bytes + 32


def test_secret_key_needs_explicit_opt_in(toy):
    ctx, keygen, _ = toy
    sk = keygen.secret_key()
    with pytest.raises(heedu.SecretKeyExposureError):
        dumps(sk, ctx)
    blob = dumps(sk, ctx, allow_secret_key=True)
    with pytest.raises(heedu.SecretKeyExposureError):
        loads(blob, ctx)
    restored = loads(blob, ctx, allow_secret_key=True)
    np.testing.assert_array_equal(restored.coefficients, sk.coefficients)
    np.testing.assert_array_equal(restored.data, sk.data)


def test_foreign_context_is_rejected(toy):
    ctx, _, objects = toy
    other = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=32, coeff_modulus_bits=[40, 31, 40], scale=2.0**30,
                             allow_insecure=True)
    )
    with pytest.raises(heedu.ContextMismatchError):
        loads(dumps(objects["ciphertext"], ctx), other)
    with pytest.raises(heedu.ContextMismatchError):
        loads(dumps(objects["public_key"], ctx), other)


def test_specific_corruptions_have_clear_errors(toy):
    ctx, _, objects = toy
    blob = dumps(objects["ciphertext"], ctx)
    with pytest.raises(heedu.SerializationError, match="magic"):
        loads(b"XXXX" + blob[4:], ctx)
    with pytest.raises(heedu.SerializationError, match="version"):
        loads(blob[:4] + b"\x09" + blob[5:], ctx)
    with pytest.raises(heedu.SerializationError, match="declares"):
        loads(blob[:-1], ctx)
    with pytest.raises(heedu.SerializationError, match="shorter than"):
        loads(blob[:10], ctx)
    # an unreduced coefficient: set the first word of c0 to 2^64 - 1
    corrupt = bytearray(blob)
    offset = HEADER.size + struct.calcsize("<IId")
    corrupt[offset : offset + 8] = b"\xff" * 8
    with pytest.raises(heedu.SerializationError, match="not reduced"):
        loads(bytes(corrupt), ctx)
    with pytest.raises(heedu.SerializationError, match="expected bytes"):
        loads("not bytes", ctx)  # type: ignore[arg-type]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_fuzzed_bytes_only_raise_typed_errors(toy, data):
    ctx, _, objects = toy
    name = data.draw(st.sampled_from(sorted(objects)))
    blob = bytearray(dumps(objects[name], ctx))
    mutation = data.draw(st.sampled_from(["flip", "truncate", "extend", "random", "header"]))
    if mutation == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= data.draw(st.integers(1, 255))
    elif mutation == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif mutation == "extend":
        blob += data.draw(st.binary(min_size=1, max_size=64))
    elif mutation == "random":
        blob = bytearray(data.draw(st.binary(max_size=256)))
    else:
        i = data.draw(st.integers(0, HEADER.size - 1))
        blob[i] = data.draw(st.integers(0, 255))
    try:
        result = loads(bytes(blob), ctx, allow_secret_key=data.draw(st.booleans()))
    except ERRORS:
        return
    # A mutation that still parses must give a well-formed object of a known kind.
    assert isinstance(result, (heedu.CKKSParameters, heedu.Plaintext, heedu.Ciphertext, heedu.PublicKey,
                               heedu.RelinKeys, heedu.GaloisKeys, heedu.SecretKey))


def test_oversized_counts_are_rejected_before_allocation(toy):
    ctx, _, objects = toy
    blob = bytearray(dumps(objects["galois_keys"], ctx))
    blob[HEADER.size : HEADER.size + 4] = struct.pack("<I", 2**31)
    with pytest.raises(heedu.SerializationError, match="at most"):
        loads(bytes(blob), ctx)
    params = bytearray(dumps(ctx.parameters))
    params[HEADER.size + 8 : HEADER.size + 12] = struct.pack("<I", 10**6)
    with pytest.raises(heedu.SerializationError, match="at most"):
        loads(bytes(params))


def test_unserializable_type():
    with pytest.raises(TypeError):
        dumps(object(), None)  # type: ignore[arg-type]


def test_seeds_of_another_expansion_are_not_stored_as_heedu_seeds(toy):
    """SEAL's 64-byte BLAKE2 seeds would be expanded with SHAKE-256 on reading: such objects are stored in full."""
    from heedu.seal.samplers import BlakeExpansion

    ctx, keygen, _ = toy
    blake = heedu.KeyGenerator(ctx, secret_key=keygen.secret_key(), seed_expansion=BlakeExpansion())
    encryptor = heedu.Encryptor(ctx, secret_key=keygen.secret_key(), seed_expansion=BlakeExpansion())
    ciphertext = encryptor.encrypt_symmetric(heedu.CKKSEncoder(ctx).encode([1.0]))
    assert len(ciphertext.seed) == 64
    for original in (blake.public_key(), blake.relin_keys(), blake.galois_keys(steps=[1]), ciphertext):
        blob = dumps(original, ctx)
        assert struct.unpack_from("<H", blob, 6)[0] == 0  # not flagged as seeded
        np.testing.assert_array_equal(_data(loads(blob, ctx)), _data(original))
