r"""Encryption and decryption: exact algebra without noise, theory-derived noise bounds with it.

Decryption of a ciphertext at level :math:`\ell` is :math:`\sum_i c_i s^i \bmod Q_\ell`; the noise
is that minus the plaintext, an integer polynomial read here exactly (Python-int CRT, centered).

**Symmetric** :math:`(-as + e + \mathrm{pt}, a)`: noise :math:`e`, so :math:`|e_k| \le 19`
(the sampler clips the Gaussian at :math:`\lfloor 6\sigma \rfloor = 19`); without noise, exact.

**Public key** :math:`\lfloor (ub + e_0, ua + e_1)/p \rceil + (\mathrm{pt}, 0)`, with
:math:`b + as = e_{pk}`. Writing each rounding as :math:`x/p + r` with :math:`|r| \le 1/2`:

.. math:: c_0 + c_1 s - \mathrm{pt} = (u e_{pk} + e_0 + e_1 s)/p + r_0 + r_1 s \pmod{Q_\ell}.

With :math:`h` the number of non-zero secret coefficients, :math:`|(r_0 + r_1 s)_k| \le (1 + h)/2`
and :math:`|(u e_{pk} + e_0 + e_1 s)_k| \le 19 (N + 1 + h)`. **Finding:** even under
``ZeroNoiseSource`` public-key encryption is *not* exact: the division by :math:`p` leaves the
integer polynomial :math:`r_0 + r_1 s`, bounded by :math:`(1 + h)/2` and in practice non-zero.
Only symmetric encryption is exact without noise.

In slots, an integer noise polynomial :math:`e` moves every slot by at most
:math:`\|e\|_1/\Delta \le N \|e\|_\infty / \Delta` (each slot is a sum of the :math:`N`
coefficients times roots of unity).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import heedu
from heedu import modarith
from heedu.sampling import expand_seed
from heedu.serialization import dumps

NOISE_BOUND = 19  # floor(6 * 3.2)
EPS = float(np.finfo(np.float64).eps)
VALUE_BOUND = 100.0


def value_vectors(slots: int) -> st.SearchStrategy[np.ndarray]:
    return arrays(
        np.complex128,
        st.integers(1, slots),
        elements=st.complex_numbers(max_magnitude=VALUE_BOUND, allow_nan=False, allow_infinity=False),
    )


def public_noise_bound(kit) -> float:
    """Coefficient bound of public-key encryption noise (module docstring)."""
    h = kit.hamming_weight
    return (1 + h) / 2 + NOISE_BOUND * (kit.n + 1 + h) / kit.context.special_prime


def slot_bound(kit, coefficient_bound: float, scale: float, values: np.ndarray) -> float:
    """Slot error of decode(decrypt(ct)) against the values: noise, encoding rounding, float error."""
    float_error = 64 * kit.n * EPS * (1 + float(np.sum(np.abs(values))))
    return kit.n * (coefficient_bound + 0.5) / scale + float_error


def padded(kit, values: np.ndarray) -> np.ndarray:
    out = np.zeros(kit.slots, dtype=np.complex128)
    out[: len(values)] = values
    return out


levels = st.integers(0, 2)
few = settings(max_examples=max(5, settings.default.max_examples // 2))


# ---------------------------------------------------------------------------- exact algebra


@given(value_vectors(16), levels)
def test_symmetric_encryption_without_noise_is_exact(toy_zero_noise, values, level):
    kit = toy_zero_noise
    plaintext = kit.encoder.encode(values, level=level)
    ciphertext = kit.encryptor.encrypt_symmetric(plaintext)
    assert np.array_equal(kit.decryptor.decrypt(ciphertext).data, plaintext.data)


@given(value_vectors(16), levels)
def test_public_key_encryption_without_noise_leaves_only_the_rounding_by_p(toy_zero_noise, values, level):
    kit = toy_zero_noise
    plaintext = kit.encoder.encode(values, level=level)
    noise = kit.noise(kit.encryptor.encrypt(plaintext), plaintext)
    assert max(abs(v) for v in noise) <= (1 + kit.hamming_weight) / 2


def test_public_key_encryption_without_noise_is_not_exact(toy_zero_noise):
    """The finding stated in the module docstring: r_0 + r_1 s is not zero (5 seeded tries)."""
    kit = toy_zero_noise
    encryptor = heedu.Encryptor(
        kit.context, kit.public_key, random_source=heedu.ZeroNoiseSource(heedu.SeededRandomSource(b"r" * 32))
    )
    plaintext = kit.encoder.encode([1.0, 2.0])
    noises = [kit.noise(encryptor.encrypt(plaintext), plaintext) for _ in range(5)]
    assert all(max(abs(v) for v in noise) <= (1 + kit.hamming_weight) / 2 for noise in noises)
    assert any(any(noise) for noise in noises)


def test_decryption_is_the_horner_evaluation_at_s(toy_seeded):
    """decrypt(c_0, c_1, c_2) = c_0 + c_1 s + c_2 s^2 for arbitrary components (sizes 2 and 3)."""
    kit = toy_seeded
    source = heedu.SeededRandomSource(b"h" * 32)
    for level in range(kit.context.max_level + 1):
        ring = kit.context.ring(level)
        s = kit.secret_key.at(ring, kit.context.key_ring)
        c = np.stack([source.uniform(ring.moduli, kit.n) for _ in range(3)])
        expected = modarith.add_mod(
            modarith.add_mod(c[0], modarith.mul_mod(c[1], s, ring.q), ring.q),
            modarith.mul_mod(c[2], modarith.mul_mod(s, s, ring.q), ring.q),
            ring.q,
        )
        assert np.array_equal(kit.decryptor.decrypt(heedu.Ciphertext(c, level, 1.0)).data, expected)
        two = modarith.add_mod(c[0], modarith.mul_mod(c[1], s, ring.q), ring.q)
        assert np.array_equal(kit.decryptor.decrypt(heedu.Ciphertext(c[:2], level, 1.0)).data, two)


# ---------------------------------------------------------------------------- noise bounds


@few
@given(value_vectors(16), levels)
def test_symmetric_noise_is_the_clipped_gaussian(toy, values, level):
    plaintext = toy.encoder.encode(values, level=level)
    ciphertext = toy.encryptor.encrypt_symmetric(plaintext)
    noise = toy.noise(ciphertext, plaintext)
    assert max(abs(v) for v in noise) <= NOISE_BOUND
    decoded = toy.slots_of(ciphertext)
    assert np.max(np.abs(decoded - padded(toy, values))) <= slot_bound(toy, NOISE_BOUND, plaintext.scale, values)


@few
@given(value_vectors(16), levels)
def test_public_key_noise_is_within_the_derived_bound(toy, values, level):
    plaintext = toy.encoder.encode(values, level=level)
    ciphertext = toy.encryptor.encrypt(plaintext)
    bound = public_noise_bound(toy)
    noise = toy.noise(ciphertext, plaintext)
    assert max(abs(v) for v in noise) <= bound
    decoded = toy.slots_of(ciphertext)
    assert np.max(np.abs(decoded - padded(toy, values))) <= slot_bound(toy, bound, plaintext.scale, values)


@pytest.mark.slow
def test_noise_bounds_hold_at_the_tutorial_parameters_too(tutorial):
    kit = tutorial
    values = np.linspace(-1, 1, kit.slots)
    plaintext = kit.encoder.encode(values)
    assert max(abs(v) for v in kit.noise(kit.encryptor.encrypt(plaintext), plaintext)) <= public_noise_bound(kit)
    assert max(abs(v) for v in kit.noise(kit.encryptor.encrypt_symmetric(plaintext), plaintext)) <= NOISE_BOUND


def test_noise_statistics_match_the_theory(toy_seeded):
    r"""Seeded (deterministic): 64 encryptions x 32 coefficients = 2048 noise samples per kind.

    Symmetric: one discrete Gaussian per coefficient, mean 0 and sd 3.2; the sample sd has a standard
    error of about 3.2/sqrt(2 * 2048) = 0.05, the mean 3.2/sqrt(2048) = 0.07: we allow ~6 of them.
    This catches a missing or doubled noise term, which the worst-case bound 19 alone would not.
    Public key: r_0 + r_1 s dominates, r uniform on (-1/2, 1/2] with variance 1/12, so the sd is
    sqrt((1 + h)/12) (the (u e + e_0 + e_1 s)/p part is below 19 (N + 1 + h)/p < 1e-6).
    """
    kit = toy_seeded
    encryptor = heedu.Encryptor(kit.context, kit.public_key, kit.secret_key, heedu.SeededRandomSource(b"s" * 32))
    plaintext = kit.encoder.encode([1.0, 2.0])
    samples = 64 * kit.n
    symmetric = np.concatenate([kit.noise(encryptor.encrypt_symmetric(plaintext), plaintext) for _ in range(64)])
    symmetric = symmetric.astype(np.float64)
    assert abs(symmetric.mean()) <= 6 * 3.2 / np.sqrt(samples)
    assert abs(symmetric.std() - 3.2) <= 6 * 3.2 / np.sqrt(2 * samples)
    public = np.concatenate([kit.noise(encryptor.encrypt(plaintext), plaintext) for _ in range(64)]).astype(np.float64)
    expected_sd = np.sqrt((1 + kit.hamming_weight) / 12)
    assert abs(public.mean()) <= 6 * expected_sd / np.sqrt(samples)
    assert abs(public.std() - expected_sd) <= 0.1 * expected_sd


# ---------------------------------------------------------------------------- ciphertext objects


@pytest.mark.parametrize("level", [0, 1, 2])
def test_symmetric_ciphertext_is_c0_plus_a_seed_for_c1(toy, level):
    plaintext = toy.encoder.encode([1.0, -1.0], level=level)
    first, second = (toy.encryptor.encrypt_symmetric(plaintext) for _ in range(2))
    ring = toy.context.ring(level)
    for ciphertext in (first, second):
        assert isinstance(ciphertext.seed, bytes) and len(ciphertext.seed) == 32
        assert np.array_equal(expand_seed(ciphertext.seed, ring.moduli, ring.n), ciphertext.data[1])
        assert (ciphertext.size, ciphertext.level, ciphertext.scale) == (2, level, plaintext.scale)
        assert ciphertext.data.shape == (2, level + 1, toy.n) and ciphertext.data.dtype == np.uint64
        assert "seeded=True" in repr(ciphertext)
    assert first.seed != second.seed
    assert not np.array_equal(first.data, second.data)


def test_public_key_ciphertext_is_fresh_each_time_and_has_no_seed(toy):
    plaintext = toy.encoder.encode([3.0])
    first, second = toy.encryptor.encrypt(plaintext), toy.encryptor.encrypt(plaintext)
    assert first.seed is None and "seeded=False" in repr(first)
    assert (first.size, first.level, first.scale) == (2, plaintext.level, plaintext.scale)
    assert not np.array_equal(first.data, second.data)
    assert repr(first) == "Ciphertext(size=2, level=2, log2(scale)=30.00, seeded=False)"


def test_seeded_sources_make_encryption_reproducible(toy_seeded):
    kit = toy_seeded
    plaintext = kit.encoder.encode([0.25, 0.5])

    def encrypt_both(seed: bytes) -> tuple[heedu.Ciphertext, heedu.Ciphertext]:
        encryptor = heedu.Encryptor(kit.context, kit.public_key, kit.secret_key, heedu.SeededRandomSource(seed))
        return encryptor.encrypt(plaintext), encryptor.encrypt_symmetric(plaintext)

    (p1, s1), (p2, s2), (p3, s3) = encrypt_both(b"e" * 32), encrypt_both(b"e" * 32), encrypt_both(b"f" * 32)
    assert np.array_equal(p1.data, p2.data) and np.array_equal(s1.data, s2.data) and s1.seed == s2.seed
    assert not np.array_equal(p1.data, p3.data) and not np.array_equal(s1.data, s3.data)


# ---------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def other():
    """A different parameter set with the same N and more primes, and one with another N."""
    more = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=32, coeff_modulus_bits=(40, 30, 30, 30, 40), scale=2.0**30,
                             allow_insecure=True)
    )
    wider = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=64, coeff_modulus_bits=(40, 30, 30, 40), scale=2.0**30,
                             allow_insecure=True)
    )
    return more, wider


def test_an_encryptor_needs_a_key(toy):
    with pytest.raises(heedu.MissingKeyError, match="needs a public key, a secret key, or both"):
        heedu.Encryptor(toy.context)
    public_only = heedu.Encryptor(toy.context, toy.public_key)
    with pytest.raises(heedu.MissingKeyError, match="no secret key"):
        public_only.encrypt_symmetric(toy.encoder.encode([1.0]))
    secret_only = heedu.Encryptor(toy.context, secret_key=toy.secret_key)
    with pytest.raises(heedu.MissingKeyError, match="no public key"):
        secret_only.encrypt(toy.encoder.encode([1.0]))


def test_keys_of_another_context_are_rejected(toy, other):
    for context in other:
        keygen = heedu.KeyGenerator(context)
        with pytest.raises(heedu.ContextMismatchError, match="PublicKey of this context"):
            heedu.Encryptor(toy.context, keygen.public_key())
        with pytest.raises(heedu.ContextMismatchError, match="SecretKey of this context"):
            heedu.Encryptor(toy.context, secret_key=keygen.secret_key())
        with pytest.raises(heedu.ContextMismatchError, match="SecretKey of this context"):
            heedu.Decryptor(toy.context, keygen.secret_key())
    with pytest.raises(heedu.ContextMismatchError):
        heedu.Encryptor(toy.context, public_key=toy.secret_key)
    with pytest.raises(heedu.ContextMismatchError):
        heedu.Decryptor(toy.context, toy.public_key)


def test_plaintexts_and_ciphertexts_of_another_context_are_rejected(toy, other):
    more, wider = other
    at_level_3 = heedu.CKKSEncoder(more).encode([1.0])  # level 3 does not exist in the toy context
    with pytest.raises(heedu.LevelError):
        toy.encryptor.encrypt(at_level_3)
    wide_plaintext = heedu.CKKSEncoder(wider).encode([1.0])  # level 2, but N = 64
    for encrypt in (toy.encryptor.encrypt, toy.encryptor.encrypt_symmetric):
        with pytest.raises(heedu.ContextMismatchError, match="other parameters"):
            encrypt(wide_plaintext)
    wide_keygen = heedu.KeyGenerator(wider)
    wide_ciphertext = heedu.Encryptor(wider, wide_keygen.public_key()).encrypt(wide_plaintext)
    with pytest.raises(heedu.ContextMismatchError, match="other parameters"):
        toy.decryptor.decrypt(wide_ciphertext)


def test_wrong_types_are_type_errors(toy):
    plaintext = toy.encoder.encode([1.0])
    ciphertext = toy.encryptor.encrypt(plaintext)
    with pytest.raises(TypeError, match="Plaintext"):
        toy.encryptor.encrypt(ciphertext)
    with pytest.raises(TypeError, match="Plaintext"):
        toy.encryptor.encrypt_symmetric(np.zeros((3, toy.n), dtype=np.uint64))
    with pytest.raises(TypeError, match="Ciphertext"):
        toy.decryptor.decrypt(plaintext)


def test_malformed_ciphertexts_are_rejected(toy):
    ciphertext = toy.encryptor.encrypt(toy.encoder.encode([1.0]))
    with pytest.raises(heedu.ContextMismatchError):
        toy.decryptor.decrypt(heedu.Ciphertext(ciphertext.data[:1], 2, ciphertext.scale))  # size 1
    with pytest.raises(heedu.ContextMismatchError):
        toy.decryptor.decrypt(heedu.Ciphertext(ciphertext.data, 1, ciphertext.scale))  # 3 rows at level 1
    with pytest.raises(heedu.LevelError):
        toy.decryptor.decrypt(heedu.Ciphertext(ciphertext.data, 5, ciphertext.scale))


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, 1e-300, 2.0**1000, "2^40", None, True])
def test_hand_built_ciphertexts_with_impossible_scales_are_refused(toy, scale):
    # A NaN scale once propagated through every operation and decrypted to NaN.
    ciphertext = toy.encryptor.encrypt(toy.encoder.encode([1.0]))
    forged = heedu.Ciphertext(ciphertext.data, ciphertext.level, scale)  # type: ignore[arg-type]
    uses = (toy.decryptor.decrypt, lambda c: toy.evaluator.add(c, c), lambda c: dumps(c, toy.context))
    for use in uses:
        with pytest.raises(heedu.ScaleOutOfBoundsError, match="scale"):
            use(forged)


def test_hand_built_ciphertexts_with_foreign_data_are_refused(toy):
    ciphertext = toy.encryptor.encrypt(toy.encoder.encode([1.0]))
    as_float = heedu.Ciphertext(ciphertext.data.astype(np.float64), ciphertext.level, ciphertext.scale)
    with pytest.raises(heedu.ShapeError, match="uint64"):  # once silently converted
        toy.decryptor.decrypt(as_float)
    unreduced = ciphertext.data.copy()
    unreduced[1, 0, 0] = np.uint64(2**64 - 1)
    with pytest.raises(heedu.ShapeError, match="not reduced"):
        toy.evaluator.negate(heedu.Ciphertext(unreduced, ciphertext.level, ciphertext.scale))
    with pytest.raises(heedu.ContextMismatchError):
        toy.decryptor.decrypt(heedu.Ciphertext(ciphertext.data.tolist(), ciphertext.level, ciphertext.scale))
    plaintext = toy.encoder.encode([1.0])
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        toy.evaluator.add_plain(ciphertext, heedu.Plaintext(plaintext.data, plaintext.level, float("nan")))


# --------------------------------------------------------------------------------------
# Copies of an encryptor (pickle, fork, worker pools) must never reuse its randomness.
# Two ciphertexts with the same c1 give c0 - c0' = pt - pt' + (e - e'): the difference of
# the messages, readable without any key. That is the attack each test below replays.


def _replayed_difference(toy, first: heedu.Ciphertext, second: heedu.Ciphertext) -> np.ndarray | None:
    """What an eavesdropper without the key reads from two ciphertexts if their masks coincide."""
    if not np.array_equal(first.data[1], second.data[1]):
        return None
    ring = toy.context.ring(first.level)
    difference = heedu.Plaintext(modarith.sub_mod(first.data[0], second.data[0], ring.q), first.level, first.scale)
    return toy.encoder.decode(difference)


def test_a_pickled_public_key_encryptor_draws_fresh_randomness(toy):
    import pickle

    encryptor = heedu.Encryptor(toy.context, toy.keygen.public_key())
    twin = pickle.loads(pickle.dumps(encryptor))
    m1, m2 = [0.25, -1.0, 3.0], [2.0, 0.5, -0.75]
    first = encryptor.encrypt(toy.encoder.encode(m1))
    second = twin.encrypt(toy.encoder.encode(m2))
    assert _replayed_difference(toy, first, second) is None
    assert np.allclose(toy.slots_of(second).real[:3], m2, atol=1e-4)  # the copy still works


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_encryptor_draws_fresh_randomness(toy):
    import os

    encryptor = heedu.Encryptor(toy.context, toy.keygen.public_key(), toy.secret_key)
    plaintext = toy.encoder.encode([1.0, 2.0])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ciphertext = encryptor.encrypt_symmetric(plaintext)
            os.write(write_end, np.ascontiguousarray(ciphertext.data[1]).tobytes())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    child_mask = np.frombuffer(b"".join(chunks), dtype=np.uint64)
    parent_mask = encryptor.encrypt_symmetric(plaintext).data[1].ravel()
    assert child_mask.size == parent_mask.size and not np.array_equal(child_mask, parent_mask)


@pytest.mark.parametrize("holder", ["secret_key", "keygen", "decryptor", "symmetric_encryptor"])
def test_objects_holding_the_secret_key_refuse_to_be_pickled(toy, holder):
    import copy
    import pickle

    objects = {
        "secret_key": toy.secret_key,
        "keygen": toy.keygen,
        "decryptor": toy.decryptor,
        "symmetric_encryptor": heedu.Encryptor(toy.context, secret_key=toy.secret_key),
    }
    with pytest.raises(heedu.SecretKeyExposureError, match="allow_secret_key=True"):
        pickle.dumps(objects[holder])
    with pytest.raises(heedu.SecretKeyExposureError):
        copy.deepcopy(objects[holder])
