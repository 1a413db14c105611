"""Native SEAL 4.4 (seal-python) as an oracle: heedu's encoder, NTT order and codecs agree with it bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import heedu
from heedu.seal.wire import (
    COMPR_NONE,
    SealCiphertext,
    read_ciphertext,
    read_plaintext,
    read_secret_key,
    write_ciphertext,
    write_secret_key,
)

seal = pytest.importorskip("seal", reason="seal-python 4.4 (pip install seal-python==4.4.0) is the native oracle")


@pytest.fixture(scope="module")
def both():
    params = seal.EncryptionParameters(seal.scheme_type.ckks)
    params.set_poly_modulus_degree(8192)
    params.set_coeff_modulus(seal.CoeffModulus.Create(8192, [60, 40, 40, 60]))
    native = seal.SEALContext(params)
    keygen = seal.KeyGenerator(native)
    ctx = heedu.CKKSContext(heedu.CKKSParameters.tutorial())
    return native, keygen, ctx


def _saved(obj, path: Path) -> bytes:
    obj.save(str(path))
    return path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_encoder_is_bit_identical_to_seal_for_moderate_values(both, tmp_path, seed):
    # Slot order, scaling, rounding and NTT order all agree with SEAL. For values of size ~1-10 at scale 2^40
    # the two FFTs' floating-point errors (~1e-16 relative) stay far from a rounding boundary.
    native, _, ctx = both
    x = np.random.default_rng(seed).normal(size=4096) * (1.0 + 3.0 * seed)
    sealed = read_plaintext(_saved(seal.CKKSEncoder(native).encode(x, 2.0**40), tmp_path / "pt.bin"), ctx)
    np.testing.assert_array_equal(sealed.data, heedu.CKKSEncoder(ctx).encode(x).data)
    assert sealed.parms_id == ctx.parms_id(ctx.max_level)


@pytest.mark.slow
def test_encoder_agrees_with_seal_up_to_rounding_for_large_values(both, tmp_path):
    # At |x| ~ 100 the coefficients reach ~2^50 and numpy's FFT and SEAL's differ by ~1e-2 units, so a few
    # coefficients may round the other way: the plaintexts differ in bits but not in value beyond 1/scale.
    native, _, ctx = both
    encoder = heedu.CKKSEncoder(ctx)
    x = np.random.default_rng(7).normal(size=4096) * 100.0
    sealed = read_plaintext(_saved(seal.CKKSEncoder(native).encode(x, 2.0**40), tmp_path / "pt.bin"), ctx)
    ring = ctx.ring(ctx.max_level)
    ours = ring.basis.to_centered_float(ring.ntt.inverse(encoder.encode(x).data))
    theirs = ring.basis.to_centered_float(ring.ntt.inverse(sealed.data))
    assert np.max(np.abs(ours - theirs)) <= 1.0


@pytest.mark.slow
def test_heedu_decrypts_a_native_seal_ciphertext_with_seals_key(both, tmp_path):
    native, keygen, ctx = both
    x = np.linspace(-1, 1, 4096)
    ct = seal.Encryptor(native, keygen.create_public_key()).encrypt(seal.CKKSEncoder(native).encode(x, 2.0**40))
    sealed = read_ciphertext(_saved(ct, tmp_path / "ct.bin"), ctx)  # SEAL 4.x layout
    sk = read_secret_key(_saved(keygen.secret_key(), tmp_path / "sk.bin"), ctx, allow_secret_key=True)
    plain = heedu.Decryptor(ctx, sk).decrypt(heedu.Ciphertext(sealed.data, ctx.level_of(sealed.parms_id), sealed.scale))
    # fresh public-key encryption noise is a few dozen units at scale 2^40
    assert np.max(np.abs(heedu.CKKSEncoder(ctx).decode(plain) - x)) < 1e-7


@pytest.mark.slow
def test_native_seal_decrypts_heedu_objects(both, tmp_path):
    native, _, ctx = both
    keygen = heedu.KeyGenerator(ctx)
    x = np.linspace(-2, 2, 4096)
    ct = heedu.Encryptor(ctx, keygen.public_key()).encrypt(heedu.CKKSEncoder(ctx).encode(x))
    (tmp_path / "ct.bin").write_bytes(
        write_ciphertext(SealCiphertext(ctx.parms_id(ct.level), ct.data, ct.scale), COMPR_NONE)
    )
    (tmp_path / "sk.bin").write_bytes(write_secret_key(keygen.secret_key(), ctx, allow_secret_key=True))
    native_ct, native_sk = seal.Ciphertext(), seal.SecretKey()
    native_ct.load(native, str(tmp_path / "ct.bin"))
    native_sk.load(native, str(tmp_path / "sk.bin"))
    decoded = seal.CKKSEncoder(native).decode(seal.Decryptor(native, native_sk).decrypt(native_ct))
    assert np.max(np.abs(np.asarray(decoded) - x)) < 1e-7


def test_secret_key_codec_needs_opt_in(both):
    _, _, ctx = both
    secret = heedu.KeyGenerator(ctx).secret_key()
    with pytest.raises(heedu.SecretKeyExposureError):
        write_secret_key(secret, ctx)
    blob = write_secret_key(secret, ctx, allow_secret_key=True)
    with pytest.raises(heedu.SecretKeyExposureError):
        read_secret_key(blob, ctx)
    np.testing.assert_array_equal(read_secret_key(blob, ctx, allow_secret_key=True).coefficients, secret.coefficients)
