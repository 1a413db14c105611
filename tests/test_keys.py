r"""Key generation: the secret, the public key and key-switching keys satisfy their defining equations.

Every relation is checked modulo :math:`Q_L p` over all RNS rows of the key level:

* public key :math:`(b, a)`: :math:`b + as = e` with :math:`|e_k| \le 19 = \lfloor 6\sigma \rfloor`
  (the clipped Gaussian), and :math:`e = 0` exactly under ``ZeroNoiseSource``;
* key-switching component :math:`j` for :math:`s'`: :math:`b_j + a_j s = e_j + [p]_{q_j} s'` in the
  row of :math:`q_j` and :math:`e_j` in every other row (including :math:`p`'s), i.e.
  :math:`p\,\hat e_j s' + e_j` with :math:`\hat e_j` the CRT idempotent of :math:`q_j`.

The targets :math:`s' = s^2` and :math:`s' = s(X^g)` are recomputed here from the secret's ternary
coefficients by schoolbook arithmetic on integers, independently of the NTT.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import heedu
from heedu import modarith
from heedu.keys import default_rotation_steps, galois_elt_from_step
from heedu.sampling import expand_seed

NOISE_BOUND = 19  # floor(6 * 3.2): the Gaussian sampler clips at 6 sigma


def key_phase(context: heedu.CKKSContext, component: np.ndarray, secret: heedu.SecretKey) -> np.ndarray:
    """:math:`b + a s` (NTT form, every key-level row) of an RLWE pair ``component = (b, a)``."""
    q = context.key_ring.q
    return modarith.add_mod(component[0], modarith.mul_mod(component[1], secret.data, q), q)


def key_centered(context: heedu.CKKSContext, ntt_data: np.ndarray) -> list[int]:
    """Exact centered coefficients modulo :math:`Q_L p` (Python-int CRT)."""
    ring = context.key_ring
    return ring.basis.compose(ring.ntt.inverse(np.ascontiguousarray(ntt_data)), centered=True)


def negacyclic_square(coefficients: np.ndarray) -> np.ndarray:
    """:math:`s^2 \\bmod X^N + 1` on integers (|coefficient| <= N, exact in int64)."""
    s = coefficients.astype(np.int64)
    n = len(s)
    full = np.convolve(s, s)
    out = full[:n].copy()
    out[: n - 1] -= full[n:]
    return out


def automorphism(coefficients: np.ndarray, galois_elt: int) -> np.ndarray:
    """:math:`s(X^g)` written out: :math:`X^k \\mapsto \\pm X^{kg \\bmod N}` (integers stay integers)."""
    n = len(coefficients)
    dtype = np.result_type(coefficients.dtype, np.int64)
    out = np.zeros(n, dtype=dtype)
    for k, c in enumerate(coefficients.astype(dtype)):
        e = k * galois_elt % (2 * n)
        out[e % n] += c if e < n else -c
    return out


def expected_switch_term(context: heedu.CKKSContext, target: np.ndarray, j: int) -> np.ndarray:
    """NTT form of :math:`[p]_{q_j} s'` in row ``j`` and 0 in every other key-level row."""
    ring = context.key_ring
    target_ntt = ring.from_signed(target).to_ntt().data
    out = np.zeros_like(target_ntt)
    qj = context.data_primes[j]
    out[j] = modarith.mul_mod(target_ntt[j], np.uint64(context.special_prime % qj), np.uint64(qj))
    return out


# ---------------------------------------------------------------------------- secret key


@pytest.mark.parametrize("kit_name", ["toy", "toy_seeded", "toy_zero_noise"])
def test_secret_key_is_ternary_and_stored_in_ntt_form_at_the_key_level(request, kit_name):
    kit = request.getfixturevalue(kit_name)
    sk, ring = kit.secret_key, kit.context.key_ring
    assert sk.coefficients.dtype == np.int8
    assert sk.coefficients.shape == (kit.n,)
    assert set(np.unique(sk.coefficients).tolist()) <= {-1, 0, 1}
    assert sk.data.shape == (ring.k, kit.n) == (len(kit.context.parameters.primes), kit.n)
    assert np.array_equal(sk.data, ring.from_signed(sk.coefficients).to_ntt().data)


def test_secret_coefficients_are_uniform_over_minus_one_zero_one(toy_context):
    # 128 seeded keys of 32 coefficients: each value count ~ Binomial(4096, 1/3), sd = sqrt(4096 * 2/9) = 30.2.
    # 6 sd = 181 leaves a deterministic (seeded) test far from the edge for any sound sampler,
    # while a biased one (e.g. no rejection of byte 255, or {0, 1} only) lands far outside.
    source = heedu.SeededRandomSource(b"ternary-distribution-test-seed!!")
    coefficients = np.concatenate([heedu.KeyGenerator(toy_context, random_source=source).secret_key().coefficients
                                   for _ in range(128)])
    counts = {v: int(np.count_nonzero(coefficients == v)) for v in (-1, 0, 1)}
    assert sum(counts.values()) == coefficients.size == 4096
    for count in counts.values():
        assert abs(count - 4096 / 3) < 6 * np.sqrt(4096 * 2 / 9)


def test_reprs_hide_the_secret(toy):
    assert repr(toy.secret_key) == "SecretKey(<hidden>)"
    assert str(toy.secret_key) == "SecretKey(<hidden>)"
    assert repr(toy.decryptor) == "Decryptor(<secret key hidden>)"
    assert repr(toy.encryptor).startswith("Encryptor(")
    secret_texts = (np.array2string(toy.secret_key.coefficients), str(int(toy.secret_key.data[0, 0])))
    shown_objects = (toy.public_key, toy.relin_keys, toy.galois_keys, toy.keygen, toy.encryptor, toy.decryptor)
    for shown in map(repr, shown_objects):
        assert not any(text in shown for text in secret_texts)
        assert "array" not in shown


def test_same_seed_same_keys_other_seed_other_keys(toy_context):
    def keys(seed: bytes) -> tuple[np.ndarray, np.ndarray]:
        keygen = heedu.KeyGenerator(toy_context, random_source=heedu.SeededRandomSource(seed))
        return keygen.secret_key().coefficients, keygen.public_key().data

    s1, p1 = keys(b"A" * 32)
    s2, p2 = keys(b"A" * 32)
    s3, p3 = keys(b"B" * 32)
    assert np.array_equal(s1, s2) and np.array_equal(p1, p2)
    assert not np.array_equal(s1, s3) and not np.array_equal(p1, p3)


def test_adopting_an_existing_secret_key(toy, toy_context):
    keygen = heedu.KeyGenerator(toy_context, secret_key=toy.secret_key)
    assert keygen.secret_key() is toy.secret_key
    phase = key_centered(toy_context, key_phase(toy_context, keygen.public_key().data, toy.secret_key))
    assert max(abs(v) for v in phase) <= NOISE_BOUND


def test_a_foreign_secret_key_is_rejected(toy_context):
    other = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=32, coeff_modulus_bits=(40, 30, 40), scale=2.0**30,
                             allow_insecure=True)
    )
    with pytest.raises(heedu.ContextMismatchError, match="SecretKey of this context"):
        heedu.KeyGenerator(toy_context, secret_key=heedu.KeyGenerator(other).secret_key())
    with pytest.raises(heedu.ContextMismatchError):
        heedu.KeyGenerator(toy_context, secret_key=np.zeros(32, dtype=np.int8))


# ---------------------------------------------------------------------------- public key


def test_public_key_is_an_exact_encryption_of_zero_without_noise(toy_zero_noise):
    kit = toy_zero_noise
    pk = kit.public_key
    assert pk.data.shape == (2, kit.context.key_ring.k, kit.n)
    phase = key_phase(kit.context, pk.data, kit.secret_key)
    assert not phase.any()  # b + a s = 0 in every row, exactly
    assert pk.data[1].any()  # ... with a non-trivial mask


def test_public_key_equation_in_python_integers(toy_zero_noise):
    """The same relation without NTT or uint64 kernels: schoolbook a*s modulo X^N + 1 and Q_L p."""
    kit = toy_zero_noise
    modulus = kit.context.key_ring.basis.product
    b, a = (key_centered(kit.context, kit.public_key.data[i]) for i in (0, 1))
    s = [int(v) for v in kit.secret_key.coefficients]
    n = kit.n
    for k in range(n):
        # coefficient k of a*s: sum over i + j = k minus sum over i + j = k + N
        acc = sum(a[i] * s[k - i] for i in range(k + 1)) - sum(a[i] * s[k + n - i] for i in range(k + 1, n))
        assert (b[k] + acc) % modulus == 0


@pytest.mark.parametrize("kit_name", ["toy", "toy_seeded"])
def test_public_key_noise_is_small_and_consistent_across_rows(request, kit_name):
    kit = request.getfixturevalue(kit_name)
    for _ in range(3):
        pk = kit.keygen.public_key()
        noise = key_centered(kit.context, key_phase(kit.context, pk.data, kit.secret_key))
        # the same small integer in every RNS row (a uniform value would be ~2^139 after CRT)
        assert max(abs(v) for v in noise) <= NOISE_BOUND
        assert any(noise)  # with noise on, the sample really is noisy


def test_public_key_mask_comes_from_its_seed(toy):
    first, second = toy.keygen.public_key(), toy.keygen.public_key()
    ring = toy.context.key_ring
    for pk in (first, second):
        assert isinstance(pk.seed, bytes) and len(pk.seed) == 32
        assert np.array_equal(expand_seed(pk.seed, ring.moduli, ring.n), pk.data[1])
        assert "seeded=True" in repr(pk)
    assert first.seed != second.seed
    assert not np.array_equal(first.data[1], second.data[1])


# ---------------------------------------------------------------------------- key-switching keys


def check_kswitch_key(kit, key: heedu.KSwitchKey, target: np.ndarray, exact: bool) -> None:
    """Component j of ``key`` encrypts [p]_{q_j} s' in row j (and 0 elsewhere) under s."""
    context = kit.context
    ring = context.key_ring
    assert key.data.shape == (len(context.data_primes), 2, ring.k, kit.n)
    for j in range(len(context.data_primes)):
        phase = key_phase(context, key.data[j], kit.secret_key)
        residual = modarith.sub_mod(phase, expected_switch_term(context, target, j), ring.q)
        if exact:
            assert not residual.any(), f"component {j}"
        else:
            noise = key_centered(context, residual)
            assert max(abs(v) for v in noise) <= NOISE_BOUND, f"component {j}"
        assert np.array_equal(expand_seed(key.seeds[j], ring.moduli, ring.n), key.data[j, 1])
    assert len(set(key.seeds)) == len(key.seeds)


@pytest.mark.parametrize(("kit_name", "exact"), [("toy_zero_noise", True), ("toy", False)])
def test_relinearization_key_switches_from_s_squared(request, kit_name, exact):
    kit = request.getfixturevalue(kit_name)
    check_kswitch_key(kit, kit.relin_keys.key, negacyclic_square(kit.secret_key.coefficients), exact)


@pytest.mark.parametrize(("kit_name", "exact"), [("toy_zero_noise", True), ("toy", False)])
def test_galois_keys_switch_from_the_automorphism_of_s(request, kit_name, exact):
    kit = request.getfixturevalue(kit_name)
    elements = kit.galois_keys.galois_elts()
    assert 2 * kit.n - 1 in elements  # conjugation
    for g in elements:
        check_kswitch_key(kit, kit.galois_keys.keys[g], automorphism(kit.secret_key.coefficients, g), exact)


def test_a_key_for_the_wrong_target_does_not_verify(toy_zero_noise):
    """The check above can fail: the key for g = 3 is not a key for g = 9 or for s^2."""
    kit = toy_zero_noise
    key = kit.galois_keys.keys[3]
    with pytest.raises(AssertionError):
        check_kswitch_key(kit, key, automorphism(kit.secret_key.coefficients, 9), exact=True)
    with pytest.raises(AssertionError):
        check_kswitch_key(kit, key, negacyclic_square(kit.secret_key.coefficients), exact=True)


# ---------------------------------------------------------------------------- Galois bookkeeping


@given(st.sampled_from([4, 8, 16, 32, 1024, 8192]), st.integers(-(10**6), 10**6))
def test_galois_element_of_a_step_is_a_power_of_three(n, step):
    slots = n // 2
    g = galois_elt_from_step(step, n)
    assert g == pow(3, step % slots, 2 * n)
    assert g % 2 == 1 and 0 < g < 2 * n
    assert g == galois_elt_from_step(step + slots, n)  # slots is the order of 3 modulo 2N
    assert g * galois_elt_from_step(-step, n) % (2 * n) == 1  # left by r then right by r: identity


def test_galois_element_conventions_by_example():
    assert galois_elt_from_step(1, 8192) == 3
    assert galois_elt_from_step(-1, 16) == 11  # 3^7 mod 32: the inverse of 3
    assert 3 * 11 % 32 == 1
    assert galois_elt_from_step(0, 32) == 1
    assert galois_elt_from_step(16, 32) == 1
    assert galois_elt_from_step(-1, 32) == pow(3, 15, 64)


@pytest.mark.parametrize("step", [1, 2, 3, 5, -1, -3, 7, -7])
def test_positive_steps_rotate_left_negative_steps_rotate_right(toy, step):
    """At the encoder level: the automorphism for ``step`` maps slots z to np.roll(z, -step)."""
    z = np.arange(1, toy.slots + 1) + 0.5j * np.arange(toy.slots)
    coefficients = toy.encoder.inverse_embed(z)
    rotated = toy.encoder.embed(automorphism(coefficients, galois_elt_from_step(step, toy.n)))
    # two float transforms of 16 slots of size <= 16: error far below 1e-9
    assert np.max(np.abs(rotated - np.roll(z, -step))) <= 1e-9
    assert np.max(np.abs(rotated - z)) > 0.5  # and it is not the identity


def test_steps_lists_the_covered_rotations(toy_zero_noise):
    keygen = toy_zero_noise.keygen
    keys = keygen.galois_keys(steps=[1, 3, -1])
    assert keys.steps() == [-1, 1, 3]
    assert keys.galois_elts() == sorted(galois_elt_from_step(s, 32) for s in (1, 3, -1))
    assert not keys.has_conjugation()
    assert repr(keys) == "GaloisKeys(steps=[-1, 1, 3], conjugation=False)"
    with_conjugation = keygen.galois_keys(steps=[2], conjugation=True)
    assert with_conjugation.steps() == [2]
    assert with_conjugation.has_conjugation()
    assert with_conjugation.galois_elts() == sorted([galois_elt_from_step(2, 32), 63])


@pytest.mark.parametrize(
    ("steps", "shown"),
    [([15], [-1]), ([9], [-7]), ([8], [8]), ([-8], [8]), ([16], []), ([0], []), ([-16, 32], []), ([17, 1], [1])],
)
def test_steps_are_reported_as_the_smallest_signed_rotation(toy_zero_noise, steps, shown):
    assert toy_zero_noise.keygen.galois_keys(steps=steps).steps() == shown


def test_keys_for_every_rotation_report_every_step_once(toy):
    """16 slots: 15 non-trivial rotations, named -7..8 (the signed step of smallest size)."""
    assert toy.galois_keys.steps() == [*range(-7, 0), *range(1, 9)]
    elements = toy.galois_keys.galois_elts()
    assert set(elements) == {pow(3, r, 64) for r in range(1, 16)} | {63}


def test_default_steps_are_plus_and_minus_powers_of_two(toy_zero_noise):
    assert default_rotation_steps(32) == [1, 2, 4, 8, -1, -2, -4, -8]
    assert default_rotation_steps(8192) == [2**i for i in range(12)] + [-(2**i) for i in range(12)]
    keys = toy_zero_noise.keygen.galois_keys()
    assert keys.galois_elts() == sorted({galois_elt_from_step(s, 32) for s in default_rotation_steps(32)})
    assert keys.steps() == [-4, -2, -1, 1, 2, 4, 8]  # +8 and -8 are the same rotation of 16 slots
    assert not keys.has_conjugation()


def test_missing_key_error_lists_the_available_steps(toy_zero_noise):
    keys = toy_zero_noise.keygen.galois_keys(steps=[1, 3])
    with pytest.raises(heedu.MissingKeyError) as caught:
        keys.key_for(galois_elt_from_step(2, 32), "a rotation by 2 step(s)")
    message = str(caught.value)
    assert message.startswith("no Galois key for a rotation by 2 step(s)")  # shown as written, not repr'd
    assert "[1, 3]" in message
    assert "conjugation" not in message.split("covers")[1].split(".")[0]
    assert "galois_keys(steps=" in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, heedu.HeeduError)
    with_conjugation = toy_zero_noise.keygen.galois_keys(steps=[-1], conjugation=True)
    with pytest.raises(heedu.MissingKeyError, match=r"covers steps \[-1\] and conjugation"):
        with_conjugation.key_for(3, "a rotation by 1 step(s)")


@pytest.mark.parametrize("bad", [[1.5], [True], ["1"], [None], [1, 2.0]])
def test_rotation_steps_must_be_integers(toy_zero_noise, bad):
    with pytest.raises(heedu.OperandError, match="integers"):
        toy_zero_noise.keygen.galois_keys(steps=bad)


@pytest.mark.parametrize("bad", [2, 0, 64, 65, -3, 3.0])
def test_galois_elements_must_be_odd_and_in_range(toy_zero_noise, bad):
    with pytest.raises(heedu.OperandError, match="odd"):
        toy_zero_noise.keygen.galois_keys(steps=[], galois_elts=[bad])


def test_explicit_galois_elements_and_numpy_integer_steps(toy_zero_noise):
    keys = toy_zero_noise.keygen.galois_keys(steps=[np.int64(2)], galois_elts=[5])
    assert keys.galois_elts() == sorted([5, galois_elt_from_step(2, 32)])
    assert keys.steps() == [2]  # 5 is not a power of 3 modulo 64: not a rotation
    check_kswitch_key(toy_zero_noise, keys.keys[5], automorphism(toy_zero_noise.secret_key.coefficients, 5), True)
