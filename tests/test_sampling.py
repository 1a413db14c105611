r"""Tests for heedu.sampling: seeded determinism, ranges, distributions, and seed hygiene.

Statistical checks use fixed seeds (so they never flake) and generous bounds:
a chi-square statistic with ``d`` degrees of freedom has mean ``d`` and standard
deviation :math:`\sqrt{2d}`; we accept ``d +- 8 sqrt(2d)``, which a correct
sampler misses with probability far below :math:`10^{-9}`, while a biased one
(say, a value twice as likely as it should be) lands far outside.
"""

from __future__ import annotations

import base64
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedu import sampling
from heedu.errors import ParameterError
from tests.strategies import LARGEST_SUPPORTED_PRIME, SEAL_TUTORIAL_PRIMES, primes_up_to_61_bits

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))


def chi_square(counts: np.ndarray, expected: np.ndarray) -> float:
    return float(((counts - expected) ** 2 / expected).sum())


def assert_chi_square_plausible(counts: np.ndarray, probabilities: np.ndarray) -> None:
    total = counts.sum()
    statistic = chi_square(counts.astype(np.float64), total * probabilities)
    dof = len(counts) - 1
    spread = 8 * math.sqrt(2 * dof)
    assert dof - spread < statistic < dof + spread, f"chi-square {statistic:.1f} with {dof} degrees of freedom"


def seeds() -> st.SearchStrategy[bytes]:
    return st.binary(min_size=32, max_size=32)


# --------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(seeds())
def test_same_seed_same_stream(seed: bytes) -> None:
    first, second = sampling.SeededRandomSource(seed), sampling.SeededRandomSource(seed)
    moduli = [97, SEAL_TUTORIAL_PRIMES[0]]
    assert np.array_equal(first.uniform(moduli, 64), second.uniform(moduli, 64))
    assert np.array_equal(first.ternary(64), second.ternary(64))
    assert np.array_equal(first.gaussian(64), second.gaussian(64))
    assert first.new_seed() == second.new_seed()
    assert first.random_bytes(100) == second.random_bytes(100)


@settings(max_examples=30)
@given(seeds(), seeds())
def test_distinct_seeds_give_distinct_streams(seed: bytes, other: bytes) -> None:
    if seed == other:
        return
    a, b = sampling.SeededRandomSource(seed), sampling.SeededRandomSource(other)
    assert a.random_bytes(32) != b.random_bytes(32)
    assert not np.array_equal(a.uniform([SEAL_TUTORIAL_PRIMES[0]], 16), b.uniform([SEAL_TUTORIAL_PRIMES[0]], 16))


def test_successive_calls_are_fresh() -> None:
    source = sampling.SeededRandomSource(SEED)
    assert source.random_bytes(64) != source.random_bytes(64)
    assert not np.array_equal(
        source.uniform([LARGEST_SUPPORTED_PRIME], 32), source.uniform([LARGEST_SUPPORTED_PRIME], 32)
    )
    assert source.new_seed() != source.new_seed()


def test_rows_of_one_uniform_call_differ() -> None:
    sample = sampling.SeededRandomSource(SEED).uniform([SEAL_TUTORIAL_PRIMES[0], SEAL_TUTORIAL_PRIMES[3]], 64)
    assert not np.array_equal(sample[0], sample[1])


def test_expand_seed_is_seeded_uniform() -> None:
    moduli, n = list(SEAL_TUTORIAL_PRIMES[:3]), 128
    expanded = sampling.expand_seed(SEED, moduli, n)
    assert np.array_equal(expanded, sampling.SeededRandomSource(SEED).uniform(moduli, n))
    assert np.array_equal(expanded, sampling.expand_seed(SEED, moduli, n))
    assert not np.array_equal(expanded, sampling.expand_seed(OTHER_SEED, moduli, n))


def test_secure_sources_are_not_repeatable() -> None:
    a, b = sampling.SecureRandomSource(), sampling.SecureRandomSource()
    assert a.random_bytes(32) != b.random_bytes(32)
    assert len(a.new_seed()) == sampling.SEED_BYTES == 32


# --------------------------------------------------------------------------------------
# Uniform
# --------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(st.lists(primes_up_to_61_bits(), min_size=1, max_size=4), st.integers(1, 300), seeds())
def test_uniform_is_in_range_with_the_right_shape(moduli: list[int], n: int, seed: bytes) -> None:
    sample = sampling.SeededRandomSource(seed).uniform(moduli, n)
    assert sample.dtype == np.uint64
    assert sample.shape == (len(moduli), n)
    for row, q in zip(sample, moduli):
        assert int(row.max()) < q


@pytest.mark.parametrize("q", [2, 3, 97, 257, 1009])
def test_uniform_small_modulus_hits_every_residue_equally(q: int) -> None:
    per_value = 400
    sample = sampling.SeededRandomSource(SEED).uniform([q], q * per_value)[0]
    counts = np.bincount(sample.astype(np.int64), minlength=q)
    assert len(counts) == q
    assert_chi_square_plausible(counts, np.full(q, 1.0 / q))


@pytest.mark.parametrize("q", [SEAL_TUTORIAL_PRIMES[0], SEAL_TUTORIAL_PRIMES[1], LARGEST_SUPPORTED_PRIME, 2**40 + 15])
def test_uniform_large_modulus_fills_every_bucket_equally(q: int) -> None:
    buckets, n = 64, 64 * 400
    sample = sampling.SeededRandomSource(OTHER_SEED).uniform([q], n)[0]
    index = [int(v) * buckets // q for v in sample]
    counts = np.bincount(np.array(index), minlength=buckets)
    assert_chi_square_plausible(counts, np.full(buckets, 1.0 / buckets))
    mean = float(np.mean(sample.astype(np.float64))) / q
    assert abs(mean - 0.5) < 8 * math.sqrt(1 / 12 / n)


def test_uniform_just_above_a_power_of_two_is_not_folded() -> None:
    # q = 2^k + 1: about half the draws are rejected; a modular fold would pile up on small values.
    q = 2**12 + 1
    sample = sampling.SeededRandomSource(SEED).uniform([q], 50 * q)[0]
    low = int(np.count_nonzero(sample < q // 2))
    assert abs(low / sample.size - (q // 2) / q) < 0.01


# --------------------------------------------------------------------------------------
# Ternary
# --------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(st.integers(1, 500), seeds())
def test_ternary_values_are_in_minus_one_zero_one(n: int, seed: bytes) -> None:
    sample = sampling.SeededRandomSource(seed).ternary(n)
    assert sample.dtype == np.int8
    assert sample.shape == (n,)
    assert set(np.unique(sample).tolist()) <= {-1, 0, 1}


def test_ternary_frequencies_are_equal() -> None:
    sample = sampling.SeededRandomSource(SEED).ternary(30000)
    counts = np.array([np.count_nonzero(sample == v) for v in (-1, 0, 1)])
    assert counts.sum() == 30000
    assert_chi_square_plausible(counts, np.full(3, 1 / 3))


# --------------------------------------------------------------------------------------
# Gaussian
# --------------------------------------------------------------------------------------


def discrete_gaussian_pmf(sigma: float, bound: int) -> np.ndarray:
    support = np.arange(-bound, bound + 1, dtype=np.float64)
    weights = np.exp(-(support**2) / (2 * sigma**2))
    return weights / weights.sum()


def test_gaussian_bounds_and_moments() -> None:
    n = 200_000
    sample = sampling.SeededRandomSource(SEED).gaussian(n)
    assert sample.dtype == np.int64
    assert sample.shape == (n,)
    assert int(np.abs(sample).max()) <= 19
    assert abs(float(sample.mean())) < 8 * 3.2 / math.sqrt(n)
    assert abs(float(sample.std()) - 3.2) < 0.03
    # Symmetric: +k and -k about equally often.
    for k in (1, 3, 6):
        plus, minus = np.count_nonzero(sample == k), np.count_nonzero(sample == -k)
        assert abs(plus - minus) < 8 * math.sqrt(plus + minus)


def test_gaussian_matches_the_discrete_gaussian_pmf() -> None:
    n, bound = 200_000, 19
    sample = sampling.SeededRandomSource(OTHER_SEED).gaussian(n)
    counts = np.bincount(sample + bound, minlength=2 * bound + 1)
    probabilities = discrete_gaussian_pmf(3.2, bound)
    # Pool the far tails (expected counts below 5) into the outermost kept bins.
    keep = np.nonzero(probabilities * n >= 5)[0]
    lo, hi = keep[0], keep[-1]
    pooled_counts = np.concatenate([[counts[: lo + 1].sum()], counts[lo + 1 : hi], [counts[hi:].sum()]])
    pooled_p = np.concatenate([[probabilities[: lo + 1].sum()], probabilities[lo + 1 : hi], [probabilities[hi:].sum()]])
    assert_chi_square_plausible(pooled_counts, pooled_p)
    assert abs(np.count_nonzero(sample == 0) / n - probabilities[bound]) < 0.005  # about 0.1247


@pytest.mark.parametrize("sigma", [1.0, 2.0, 5.0])
def test_gaussian_other_sigmas_clip_at_six_sigma(sigma: float) -> None:
    sample = sampling.SeededRandomSource(SEED).gaussian(50_000, sigma=sigma)
    assert int(np.abs(sample).max()) <= math.floor(6 * sigma)
    assert abs(float(sample.std()) - sigma) < 0.05 * sigma


def test_zero_noise_source_has_zero_gaussian_but_random_everything_else() -> None:
    source = sampling.ZeroNoiseSource(sampling.SeededRandomSource(SEED))
    noise = source.gaussian(1000)
    assert noise.dtype == np.int64
    assert noise.shape == (1000,)
    assert not noise.any()
    assert np.count_nonzero(source.ternary(1000)) > 500
    assert len(np.unique(source.uniform([SEAL_TUTORIAL_PRIMES[0]], 100))) == 100


def test_zero_noise_source_is_deterministic_given_a_seeded_base() -> None:
    a = sampling.ZeroNoiseSource(sampling.SeededRandomSource(SEED))
    b = sampling.ZeroNoiseSource(sampling.SeededRandomSource(SEED))
    assert np.array_equal(a.uniform([97], 50), b.uniform([97], 50))
    assert np.array_equal(a.ternary(50), b.ternary(50))


def test_zero_noise_source_defaults_to_secure_randomness() -> None:
    a, b = sampling.ZeroNoiseSource(), sampling.ZeroNoiseSource()
    assert a.random_bytes(32) != b.random_bytes(32)


# --------------------------------------------------------------------------------------
# Seed hygiene
# --------------------------------------------------------------------------------------


def _seed_spellings(seed: bytes) -> list[str]:
    return [
        seed.hex(),
        seed.hex().upper(),
        repr(seed),
        base64.b64encode(seed).decode(),
        str(int.from_bytes(seed, "little")),
        str(int.from_bytes(seed, "big")),
        seed[:8].hex(),
    ]


@pytest.mark.parametrize("seed", [SEED, b"\xff" * 32, b"heedu test seed, not a secret!!!"])
def test_repr_never_reveals_the_seed(seed: bytes) -> None:
    source = sampling.SeededRandomSource(seed)
    for text in (repr(source), str(source), f"{source!r:>10}", repr(sampling.ZeroNoiseSource(source))):
        for spelling in _seed_spellings(seed):
            assert spelling not in text
    assert "hidden" in repr(source)


def test_secure_source_has_no_state_to_show_or_copy() -> None:
    source = sampling.SecureRandomSource()
    assert repr(source) == "SecureRandomSource(os.urandom)"
    assert vars(source) == {}  # nothing a pickle, a copy or a fork could duplicate


def test_copies_of_a_secure_source_never_replay() -> None:
    import copy
    import pickle

    source = sampling.SecureRandomSource()
    copies = [pickle.loads(pickle.dumps(source)), copy.deepcopy(source), copy.copy(source), source]
    draws = {c.random_bytes(32) for c in copies}
    assert len(draws) == len(copies)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_secure_source_draws_other_bytes_than_its_parent() -> None:
    source = sampling.SecureRandomSource()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its draw and leave without running pytest's exit handlers
        try:
            os.write(write_end, source.random_bytes(32))
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        child = os.read(read_end, 32)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert len(child) == 32 and child != source.random_bytes(32)


def test_a_seeded_source_replays_by_design() -> None:
    import pickle

    source = sampling.SeededRandomSource(SEED)
    assert pickle.loads(pickle.dumps(source)).random_bytes(32) == source.random_bytes(32)


@pytest.mark.parametrize(
    "seed",
    [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64, "a" * 32, None, 12345, list(range(32)), np.zeros(32, np.uint8)],
    ids=["empty", "31 bytes", "33 bytes", "64 bytes", "str", "None", "int", "list", "ndarray"],
)
def test_bad_seeds_raise_parameter_error(seed: object) -> None:
    with pytest.raises(ParameterError):
        sampling.SeededRandomSource(seed)  # type: ignore[arg-type]


def test_bytearray_seed_is_accepted_and_copied() -> None:
    seed = bytearray(SEED)
    source = sampling.SeededRandomSource(seed)
    seed[0] ^= 0xFF  # mutating the caller's buffer must not change the stream
    assert source.random_bytes(32) == sampling.SeededRandomSource(SEED).random_bytes(32)
