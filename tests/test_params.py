"""Tests for heedu.params: parameter validation, the modulus chain, SEAL's parms_id, security.

Known answers come from the SEAL 3.5 wire-format spec (observed with the real
``encrypted-inference`` package): parms_id words are little-endian u64 of the
32-byte BLAKE2b digest.
"""

from __future__ import annotations

import hashlib
import math
import struct

import pytest
from hypothesis import given, settings

from heedu.errors import LevelError, ParameterError, SecurityError
from heedu.params import HE_STANDARD_128_MAX_BITS, CKKSContext, CKKSParameters, parms_id
from tests.strategies import (
    SEAL_TUTORIAL_PRIMES,
    cached_toy_context,
    largest_ntt_primes,
    toy_contexts,
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
