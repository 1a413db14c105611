"""Tests for heedu.params: parameter validation, the modulus chain, SEAL's parms_id, security.

Known answers come from the SEAL 3.5 wire-format spec (observed with the real
``encrypted-inference`` package): parms_id words are little-endian u64 of the
32-byte BLAKE2b digest.
"""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings

from heedu import serialization
from heedu.encoder import CKKSEncoder
from heedu.encryption import Decryptor, Encryptor
from heedu.errors import LevelError, MissingKeyError, ParameterError, SecurityError, SerializationError
from heedu.keys import KeyGenerator
from heedu.params import HE_STANDARD_128_MAX_BITS, CKKSContext, CKKSParameters, parameters_from_peer, parms_id
from heedu.sampling import SeededRandomSource
from tests.strategies import (
    SEAL_TUTORIAL_PRIMES,
    cached_toy_context,
    largest_ntt_primes,
    toy_contexts,
    toy_parameter_choices,
    toy_parameters,
)

KEY_LEVEL_FIRST_WORD = 0xCFDA86153FDDA8E2
TOP_DATA_LEVEL_WORDS = (0x12A009457DBF8B0F, 0x6364D5F3D4C92B3C, 0x96A841CCD88E440C, 0x1255677018089458)
AFTER_ONE_RESCALE_FIRST_WORD = 0xDC264F695A81D156


def words(pid: bytes) -> tuple[int, ...]:
    assert len(pid) == 32
    return struct.unpack("<4Q", pid)


@pytest.fixture(scope="module")
def tutorial() -> CKKSContext:
    return CKKSContext(CKKSParameters.tutorial())


# --------------------------------------------------------------------------------------
# parms_id
# --------------------------------------------------------------------------------------


def test_parms_id_function_matches_the_spec() -> None:
    q0, q1, q2, p = SEAL_TUTORIAL_PRIMES
    assert words(parms_id(8192, [q0, q1, q2, p]))[0] == KEY_LEVEL_FIRST_WORD
    assert words(parms_id(8192, [q0, q1, q2])) == TOP_DATA_LEVEL_WORDS
    assert words(parms_id(8192, [q0, q1]))[0] == AFTER_ONE_RESCALE_FIRST_WORD


def test_tutorial_context_parms_ids_match_the_spec(tutorial: CKKSContext) -> None:
    assert tutorial.max_level == 2
    assert words(tutorial.key_parms_id)[0] == KEY_LEVEL_FIRST_WORD
    assert words(tutorial.parms_id(2)) == TOP_DATA_LEVEL_WORDS
    assert words(tutorial.parms_id(1))[0] == AFTER_ONE_RESCALE_FIRST_WORD
    assert len({tutorial.parms_id(0), tutorial.parms_id(1), tutorial.parms_id(2), tutorial.key_parms_id}) == 4


@settings(max_examples=30, deadline=None)
@given(toy_parameters())
def test_parms_id_is_blake2b_of_the_le_words(parameters: CKKSParameters) -> None:
    n, primes = parameters.poly_modulus_degree, list(parameters.primes)
    packed = b"".join(w.to_bytes(8, "little") for w in [2, n, *primes, 0])
    assert parms_id(n, primes) == hashlib.blake2b(packed, digest_size=32).digest()


def test_parms_id_depends_on_order_degree_and_every_prime() -> None:
    primes = list(SEAL_TUTORIAL_PRIMES[:3])
    reference = parms_id(8192, primes)
    assert parms_id(8192, primes[::-1]) != reference
    assert parms_id(4096, primes) != reference
    assert parms_id(8192, [*primes[:2], primes[2] + 2 * 8192]) != reference


@settings(max_examples=30, deadline=None)
@given(toy_contexts())
def test_level_of_inverts_parms_id(context: CKKSContext) -> None:
    for level in range(context.max_level + 1):
        pid = context.parms_id(level)
        assert context.level_of(pid) == level
        assert context.level_of(bytearray(pid)) == level
        assert pid == parms_id(context.poly_modulus_degree, context.data_primes[: level + 1])


def test_level_of_rejects_unknown_ids(tutorial: CKKSContext) -> None:
    with pytest.raises(ParameterError):
        tutorial.level_of(tutorial.key_parms_id)  # the key level is not a data level
    with pytest.raises(ParameterError):
        tutorial.level_of(bytes(32))
    with pytest.raises(ParameterError):
        tutorial.level_of(cached_toy_context().parms_id(0))


def test_same_primes_given_explicitly_give_the_same_ids(tutorial: CKKSContext) -> None:
    explicit = CKKSContext(CKKSParameters(poly_modulus_degree=8192, coeff_modulus=SEAL_TUTORIAL_PRIMES, scale=2.0**40))
    assert explicit.key_parms_id == tutorial.key_parms_id
    assert [explicit.parms_id(level) for level in range(3)] == [tutorial.parms_id(level) for level in range(3)]


# --------------------------------------------------------------------------------------
# The modulus chain
# --------------------------------------------------------------------------------------


def test_a_context_rebuilt_from_its_coeff_modulus_is_the_same_chain(tutorial: CKKSContext) -> None:
    """Once ``CKKSParameters(coeff_modulus=ctx.coeff_modulus)`` silently built a chain one level shorter."""
    again = CKKSContext(CKKSParameters(poly_modulus_degree=8192, coeff_modulus=tutorial.coeff_modulus))
    assert again.max_level == tutorial.max_level and again.parms_id(0) == tutorial.parms_id(0)


def test_tutorial_chain(tutorial: CKKSContext) -> None:
    assert tutorial.poly_modulus_degree == 8192 and not hasattr(tutorial, "n")  # one name per meaning
    assert tutorial.slot_count == 4096
    assert tutorial.data_primes == SEAL_TUTORIAL_PRIMES[:3]
    assert tutorial.coeff_modulus == SEAL_TUTORIAL_PRIMES  # SEAL's meaning: every prime, special prime last
    assert tutorial.special_prime == SEAL_TUTORIAL_PRIMES[3]
    assert tutorial.scale == 2.0**40
    assert tutorial.total_bits == 200
    assert tutorial.key_ring.moduli == SEAL_TUTORIAL_PRIMES
    assert CKKSParameters.tutorial().primes == SEAL_TUTORIAL_PRIMES


@settings(max_examples=30, deadline=None)
@given(toy_contexts())
def test_levels_rings_and_counts(context: CKKSContext) -> None:
    primes = context.parameters.primes
    assert context.max_level == len(primes) - 2
    assert context.slot_count == context.poly_modulus_degree // 2
    assert context.data_primes == primes[:-1]
    assert context.special_prime == primes[-1]
    assert context.total_bits == sum(q.bit_length() for q in primes)
    for level in range(context.max_level + 1):
        assert context.ring(level).moduli == primes[: level + 1]
        assert context.ring(level).n == context.poly_modulus_degree
        assert context.ring_with_special(level).moduli == (*primes[: level + 1], primes[-1])
    assert context.key_ring.moduli == primes


@pytest.mark.parametrize("level", [-1, 3, 100, True, 1.0, "0", None])
def test_bad_levels_raise_level_error(tutorial: CKKSContext, level: object) -> None:
    with pytest.raises(LevelError):
        tutorial.ring(level)  # type: ignore[arg-type]
    with pytest.raises(LevelError):
        tutorial.parms_id(level)  # type: ignore[arg-type]
    with pytest.raises(LevelError):
        tutorial.check_level(level)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Security
# --------------------------------------------------------------------------------------


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + 1] * extra + [base] * (parts - extra)


def _bits_summing_to(total: int) -> list[int]:
    return _split(total, max(2, -(-total // 58)))


def test_the_security_table_is_the_he_standard() -> None:
    assert HE_STANDARD_128_MAX_BITS == {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}


@pytest.mark.parametrize(
    "n",
    [2048, 4096, 8192, 16384, pytest.param(32768, marks=pytest.mark.slow)],
)
def test_security_bound_is_inclusive_and_enforced(n: int) -> None:
    limit = HE_STANDARD_128_MAX_BITS[n]
    at_limit = CKKSContext(
        CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=_bits_summing_to(limit), scale=2.0**20)
    )
    assert at_limit.is_secure
    assert at_limit.total_bits == limit
    assert at_limit.security_limit_bits == limit
    over = CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=_bits_summing_to(limit + 1), scale=2.0**20)
    with pytest.raises(SecurityError):
        CKKSContext(over)
    toy = CKKSContext(
        CKKSParameters(
            poly_modulus_degree=n, coeff_modulus_bits=_bits_summing_to(limit + 1), scale=2.0**20, allow_insecure=True
        )
    )
    assert not toy.is_secure


def test_n_1024_over_its_bound_needs_allow_insecure() -> None:
    primes = largest_ntt_primes(1024, 14, 1) + largest_ntt_primes(1024, 16, 1)  # 30 bits > 27
    with pytest.raises(SecurityError):
        CKKSContext(CKKSParameters(poly_modulus_degree=1024, coeff_modulus=primes, scale=2.0**10))
    toy = CKKSContext(
        CKKSParameters(poly_modulus_degree=1024, coeff_modulus=primes, scale=2.0**10, allow_insecure=True)
    )
    assert not toy.is_secure


@pytest.mark.parametrize("n", [8, 16, 512])
def test_rings_below_1024_are_never_secure(n: int) -> None:
    with pytest.raises(SecurityError):
        CKKSContext(CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=[20, 20], scale=2.0**10))
    toy = CKKSContext(
        CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=[20, 20], scale=2.0**10, allow_insecure=True)
    )
    assert not toy.is_secure
    assert toy.security_limit_bits is None


def test_security_error_is_a_parameter_error() -> None:
    assert issubclass(SecurityError, ParameterError)
    assert issubclass(ParameterError, ValueError)


def test_describe_is_loud_for_toys_and_quiet_for_secure_sets(tutorial: CKKSContext) -> None:
    toy = cached_toy_context()
    text = toy.describe()
    assert "TOY" in text
    assert "NOT 128-BIT SECURE" in text
    assert "INSECURE" in text
    assert text.splitlines()[0].startswith("!!!")  # the warning comes first
    assert "TOY" in repr(toy)
    secure = tutorial.describe()
    assert "TOY" not in secure
    assert "INSECURE" not in secure
    assert "secure" in secure
    assert "TOY" not in repr(tutorial)
    for expected in ("8192", "4096", "[60, 40, 40]", "200", "218"):
        assert expected in secure


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3, 12, 1000, -8, 65536, True, 8.0, "8", None])
def test_bad_degrees(n: object) -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=(20, 20), allow_insecure=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [(), (20,), (62, 20), (1, 20), (20, 0), (20, 30.5), (20, -20), (8, 8)])
def test_bad_bit_sizes(bits: tuple[object, ...]) -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=1024, coeff_modulus_bits=bits, allow_insecure=True)  # type: ignore[arg-type]


def test_exactly_one_of_bits_or_primes() -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16)
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 30), coeff_modulus=largest_ntt_primes(16, 30, 2))


def _explicit_prime_cases() -> list[tuple[int, ...]]:
    good = largest_ntt_primes(16, 30, 2)
    huge = largest_ntt_primes(16, 62, 1)[0]
    return [
        (good[0], good[0]),  # repeated
        (good[0],),  # only one prime
        (good[0], 2**31 - 1),  # prime, but 31 mod 32
        (good[0], 101),  # prime, but 5 mod 32
        (good[0], 15 * 32 + 1),  # 481 = 13 * 37, 1 mod 32
        (good[0], huge),  # 62 bits
        (good[0], 1),
    ]


@pytest.mark.parametrize("primes", _explicit_prime_cases())
def test_bad_explicit_primes(primes: tuple[int, ...]) -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus=primes, scale=2.0**10, allow_insecure=True)


@pytest.mark.parametrize("scale", [0, 0.5, -(2.0**40), math.nan, math.inf, -math.inf, "2^40", None])
def test_bad_scales(scale: object) -> None:
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 30), scale=scale, allow_insecure=True)  # type: ignore[arg-type]


def test_scale_must_fit_in_the_data_modulus() -> None:
    ok = CKKSContext(
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 30), scale=2.0**29, allow_insecure=True)
    )
    assert ok.scale == 2.0**29
    with pytest.raises(ParameterError):
        CKKSContext(
            CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 30), scale=2.0**30, allow_insecure=True)
        )
    with pytest.raises(ParameterError):
        CKKSContext(
            CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(20, 30), scale=2.0**25, allow_insecure=True)
        )


def test_context_needs_parameters() -> None:
    with pytest.raises(ParameterError):
        CKKSContext({"poly_modulus_degree": 8192})  # type: ignore[arg-type]


def test_parameters_are_normalised_frozen_and_comparable() -> None:
    a = CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[30, 20, 30], scale=2**20, allow_insecure=True)
    b = CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 20, 30), scale=2.0**20, allow_insecure=True)
    assert a.coeff_modulus_bits == (30, 20, 30)
    assert isinstance(a.scale, float)
    assert a == b
    assert hash(a) == hash(b)
    larger_30, smaller_30 = largest_ntt_primes(16, 30, 2)
    (largest_20,) = largest_ntt_primes(16, 20, 1)
    assert a.primes == (smaller_30, largest_20, larger_30)  # SEAL's order: the first 30-bit slot gets the smaller
    with pytest.raises(AttributeError):
        a.scale = 2.0  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# Without a special prime (special_prime=False)
# --------------------------------------------------------------------------------------


def _no_special(bits: tuple[int, ...] = (40, 30, 30), n: int = 16, scale: float = 2.0**30) -> CKKSContext:
    return CKKSContext(
        CKKSParameters(
            poly_modulus_degree=n, coeff_modulus_bits=bits, scale=scale, special_prime=False, allow_insecure=True
        )
    )


@pytest.fixture(scope="module")
def no_special() -> CKKSContext:
    """N = 16, primes of [40, 30, 30] bits, all three holding data: levels 2, 1 and 0."""
    return _no_special()


@settings(max_examples=30, deadline=None)
@given(toy_parameter_choices())
def test_without_a_special_prime_every_prime_is_a_data_prime(choice: tuple[int, tuple[int, ...], int]) -> None:
    n, bits, scale_bits = choice
    parameters = CKKSParameters(
        poly_modulus_degree=n, coeff_modulus_bits=bits, scale=2.0**scale_bits, special_prime=False,
        allow_insecure=True,
    )
    assert parameters.data_primes == parameters.primes
    context = CKKSContext(parameters)
    primes = parameters.primes
    assert context.data_primes == context.coeff_modulus == primes
    assert context.special_prime is None and not context.can_switch_keys
    assert context.max_level == len(primes) - 1
    assert context.total_bits == sum(q.bit_length() for q in primes)
    for level in range(context.max_level + 1):
        assert context.ring(level).moduli == primes[: level + 1]
        assert context.level_of(context.parms_id(level)) == level
    # The key level is the top data level: same ring, same parms_id.
    assert context.key_ring.moduli == context.ring(context.max_level).moduli == primes
    assert context.key_parms_id == context.parms_id(context.max_level) == parms_id(n, primes)
    # The same primes with a special prime: one level fewer, the last prime kept for keys.
    with_special = CKKSParameters(poly_modulus_degree=n, coeff_modulus=primes, scale=2.0**scale_bits,
                                  allow_insecure=True)
    assert with_special.data_primes == primes[:-1]
    assert with_special.primes == primes


def test_describe_says_there_is_no_special_prime(no_special: CKKSContext) -> None:
    text = no_special.describe()
    assert "no special prime" in text
    assert "[40, 30, 30]" in text
    assert "special prime p:" not in text
    assert "special prime p: 40 bits" in cached_toy_context().describe()


def test_no_key_switching_keys_without_a_special_prime(no_special: CKKSContext) -> None:
    keygen = KeyGenerator(no_special, random_source=SeededRandomSource(b"params: no special prime seed 01"))
    with pytest.raises(MissingKeyError, match="special_prime"):
        keygen.relin_keys()
    with pytest.raises(MissingKeyError, match="special_prime"):
        keygen.galois_keys()
    with pytest.raises(MissingKeyError, match="special_prime"):
        keygen.galois_keys(steps=[1], conjugation=True)
    with pytest.raises(MissingKeyError, match="special_prime"):
        keygen.create_kswitch_key(keygen.secret_key().data)
    for level in range(no_special.max_level + 1):
        with pytest.raises(MissingKeyError, match="special_prime"):
            no_special.ring_with_special(level)


def test_public_key_encryption_works_without_a_special_prime(no_special: CKKSContext) -> None:
    """Decryption is within the worst-case noise: rounding 1/2 plus ue + e_0 + e_1 s, at most 2 * 19 N + 19."""
    keygen = KeyGenerator(no_special, random_source=SeededRandomSource(b"params: no special prime seed 02"))
    secret_key, public_key = keygen.secret_key(), keygen.public_key()
    assert public_key.data.shape == (2, 3, 16)  # every prime, and no more
    encoder = CKKSEncoder(no_special)
    encryptor = Encryptor(no_special, public_key, secret_key)
    decryptor = Decryptor(no_special, secret_key)
    n = no_special.poly_modulus_degree
    values = np.linspace(-1.0, 1.0, no_special.slot_count)
    for level in range(no_special.max_level + 1):
        plaintext = encoder.encode(values, level=level)
        bound = n * (0.5 + 2 * 19 * n + 19) / plaintext.scale
        for ciphertext in (encryptor.encrypt(plaintext), encryptor.encrypt_symmetric(plaintext)):
            assert (ciphertext.level, ciphertext.scale) == (level, plaintext.scale)
            decoded = encoder.decode(decryptor.decrypt(ciphertext))
            assert np.max(np.abs(decoded - values)) <= bound


def test_public_key_bytes_carry_the_top_data_level_id(no_special: CKKSContext) -> None:
    keygen = KeyGenerator(no_special, random_source=SeededRandomSource(b"params: no special prime seed 03"))
    public_key = keygen.public_key()
    data = serialization.dumps(public_key, no_special)
    assert data[16:48] == no_special.parms_id(no_special.max_level)  # the header's parms_id field
    restored = serialization.loads(data, no_special)
    assert np.array_equal(restored.data, public_key.data)


@pytest.mark.parametrize("special_prime", [True, False])
def test_serialized_parameters_keep_the_special_prime_flag(special_prime: bool) -> None:
    parameters = CKKSParameters(
        poly_modulus_degree=16, coeff_modulus_bits=(40, 30, 30), scale=2.0**30, special_prime=special_prime,
        allow_insecure=True,
    )
    data = serialization.dumps(parameters)
    restored = serialization.loads(data, allow_insecure=True)
    assert restored == parameters and restored.special_prime is special_prime
    flags = struct.unpack_from("<H", data, 6)[0]
    assert flags == (0 if special_prime else serialization.FLAG_NO_SPECIAL_PRIME)


@pytest.mark.parametrize("flags", [serialization.FLAG_SEEDED, 4, 0x8000, serialization.FLAG_NO_SPECIAL_PRIME | 1])
def test_unknown_parameter_flags_are_refused(flags: int) -> None:
    parameters = CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(40, 30), scale=2.0**20,
                                special_prime=False, allow_insecure=True)
    data = bytearray(serialization.dumps(parameters))
    struct.pack_into("<H", data, 6, flags)
    with pytest.raises(SerializationError, match="flags"):
        serialization.loads(bytes(data), allow_insecure=True)


def test_the_no_special_prime_flag_means_nothing_on_other_objects(no_special: CKKSContext) -> None:
    keygen = KeyGenerator(no_special, random_source=SeededRandomSource(b"params: no special prime seed 04"))
    data = bytearray(serialization.dumps(keygen.public_key(), no_special))
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | serialization.FLAG_NO_SPECIAL_PRIME)
    with pytest.raises(SerializationError, match="flags"):
        serialization.loads(bytes(data), no_special)


def test_parameters_from_peer_without_a_special_prime() -> None:
    primes = largest_ntt_primes(16, 40, 1) + largest_ntt_primes(16, 30, 2)
    parameters = parameters_from_peer(16, primes, 2.0**30, allow_insecure=True, special_prime=False)
    assert parameters.special_prime is False
    assert parameters.data_primes == parameters.primes == tuple(primes)
    default = parameters_from_peer(16, primes, 2.0**30, allow_insecure=True)
    assert default.special_prime is True and default.data_primes == tuple(primes[:-1])
    assert CKKSContext(parameters).max_level == CKKSContext(default).max_level + 1
    with pytest.raises(SecurityError):
        parameters_from_peer(16, primes, 2.0**30, special_prime=False)


def test_special_prime_is_part_of_equality_and_hash() -> None:
    def make(special_prime: bool) -> CKKSParameters:
        return CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(40, 30), scale=2.0**20,
                              special_prime=special_prime, allow_insecure=True)

    assert make(False) == make(False) and hash(make(False)) == hash(make(False))
    assert make(True) == make(True)
    assert make(False) != make(True)
    assert make(False).primes == make(True).primes
    assert len({make(False), make(True), make(False)}) == 2
    assert "special_prime=False" in repr(make(False))


def test_one_prime_is_enough_without_a_special_prime() -> None:
    parameters = CKKSParameters(
        poly_modulus_degree=16, coeff_modulus_bits=(40,), scale=2.0**20, special_prime=False, allow_insecure=True
    )
    context = CKKSContext(parameters)
    assert context.max_level == 0 and context.data_primes == parameters.primes
    assert context.key_ring.moduli == context.ring(0).moduli
    with pytest.raises(ParameterError, match="special prime"):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(40,), scale=2.0**20, allow_insecure=True)
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(), special_prime=False, allow_insecure=True)
    (prime,) = largest_ntt_primes(16, 40, 1)
    with pytest.raises(ParameterError):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus=(prime,), allow_insecure=True)
    alone = CKKSParameters(poly_modulus_degree=16, coeff_modulus=(prime,), scale=2.0**20, special_prime=False,
                           allow_insecure=True)
    assert alone.data_primes == (prime,)


@pytest.mark.parametrize("flag", [0, 1, None, "False", np.bool_(False)])
def test_special_prime_must_be_a_bool(flag: object) -> None:
    with pytest.raises(ParameterError, match="special_prime"):
        CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(40, 30), special_prime=flag, allow_insecure=True)  # type: ignore[arg-type]


def test_the_scale_must_fit_in_all_the_primes_when_all_hold_data() -> None:
    assert _no_special((30,), scale=2.0**29).scale == 2.0**29
    with pytest.raises(ParameterError):
        _no_special((30,), scale=2.0**30)
    assert _no_special((30, 30), scale=2.0**40).scale == 2.0**40
    with pytest.raises(ParameterError):  # with a special prime, only 30 bits hold data
        CKKSContext(CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=(30, 30), scale=2.0**40,
                                   allow_insecure=True))


def test_security_counts_every_prime_without_a_special_prime() -> None:
    secure = CKKSContext(
        CKKSParameters(poly_modulus_degree=4096, coeff_modulus_bits=(54, 55), scale=2.0**40, special_prime=False)
    )
    assert secure.is_secure and secure.total_bits == 109 == HE_STANDARD_128_MAX_BITS[4096]
    assert secure.max_level == 1 and "secure (128-bit classical)" in secure.describe()
    with pytest.raises(SecurityError):
        CKKSContext(
            CKKSParameters(poly_modulus_degree=4096, coeff_modulus_bits=(55, 55), scale=2.0**40, special_prime=False)
        )
    with pytest.raises(SecurityError):
        CKKSParameters(
            poly_modulus_degree=4096, coeff_modulus_bits=(55, 55), scale=2.0**40, special_prime=False
        ).check_security()
