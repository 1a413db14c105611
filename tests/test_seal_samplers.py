r"""Acceptance tests for heedu.seal.samplers: SEAL 3.5's uniform and ternary samplers, bit for bit.

Oracles, strongest first:

* **the real package** (``encrypted-inference==0.9``, SEAL 3.5 inside): its client's secret key is a
  64-byte seed and its input ciphertexts are seeded. heedu's ``seal_secret_key`` (BlakePRNG + ternary
  sampler) and ``read_ciphertext`` (BlakePRNG + 3.5.0 uniform sampler expanding :math:`c_1`) must
  decrypt them to the input values. A single wrong bit in either sampler or in the PRNG turns the
  result into noise, so this proves all three reproduce SEAL's exactly. Expanding the same seed with
  the 3.5.5 sampler must *not* decrypt (the sampler trap);
* a scalar reference written here from SEAL 3.5's sampler (chapter 8 of the course), one candidate at a time
  from the PRNG's word stream, compared with heedu's vectorized samplers on random seeds, sizes and
  moduli (including moduli chosen so that a quarter of the candidates are rejected), together with
  the position of the stream afterwards;
* crafted word streams hitting the rejection boundaries exactly;
* statistics on fixed seeds (deterministic, so never flaky): ranges, uniformity, ternary frequencies.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heedu
from heedu.seal.blake2 import BlakePRNG
from heedu.seal.samplers import WordStream, sample_ternary, sample_uniform
from heedu.seal.wire import read_ciphertext

TUTORIAL_PRIMES = (1152921504606748673, 1099510890497, 1099511480321, 1152921504606830593)
U63_MAX = (1 << 63) - 1
U64_MAX = (1 << 64) - 1
# Moduli with a rejection rate of 1/4: M mod q = q/3 - ..., so that the bound is q - 1 (see test below).
HARSH_350 = 3 * 2**61 + 1
HARSH_355 = 3 * 2**62 + 1
N = 8192


def seed_of(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=64).digest()


# --------------------------------------------------------------------------------------
# A scalar reference, straight from the spec
# --------------------------------------------------------------------------------------


class ReferenceWords:
    """The PRNG's 32-bit words one at a time (the stream SEAL's samplers read)."""

    def __init__(self, seed: bytes) -> None:
        self.prng = BlakePRNG(seed)
        self.block: list[int] = []
        self.used = 0

    def next(self) -> int:
        if not self.block:
            self.block = [int(w) for w in self.prng.random_u32(1024)][::-1]
        self.used += 1
        return self.block.pop()


def reference_uniform(words: ReferenceWords, moduli: list[int], n: int, version: str) -> list[list[int]]:
    maximum = U63_MAX if version == "3.5.0" else U64_MAX
    rows = []
    for q in moduli:
        bound = maximum - maximum % q - 1
        row: list[int] = []
        while len(row) < n:
            w0, w1 = words.next(), words.next()
            r = (w0 << 31) | (w1 >> 1) if version == "3.5.0" else (w0 << 32) | w1
            if r < bound:
                row.append(r % q)
        rows.append(row)
    return rows


def reference_ternary(words: ReferenceWords, n: int) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        w = words.next()
        if w != 0xFFFFFFFF:
            out.append(w // 0x55555555 - 1)
    return out


class CraftedSource:
    """A byte source that yields chosen 32-bit words first, then a fixed filler pattern."""

    def __init__(self, words: list[int]) -> None:
        self.words = list(words)
        self.position = 0

    def word(self, i: int) -> int:
        return self.words[i] if i < len(self.words) else (0x9E3779B9 * (i + 1)) & 0xFFFFFFFF

    def random_bytes(self, count: int) -> bytes:
        assert count % 4 == 0
        start, self.position = self.position, self.position + count // 4
        return np.array([self.word(i) for i in range(start, self.position)], dtype="<u4").tobytes()


def words_for_r(r: int, version: str, low_bit: int = 1) -> list[int]:
    """Two words that the sampler of ``version`` combines into the candidate ``r``."""
    if version == "3.5.0":
        return [r >> 31, ((r & (2**31 - 1)) << 1) | low_bit]
    return [r >> 32, r & 0xFFFFFFFF]


# --------------------------------------------------------------------------------------
# Determinism, ranges, shapes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.5.0", "3.5.5"])
def test_uniform_is_deterministic_in_the_seed(version):
    a = sample_uniform(WordStream(BlakePRNG(seed_of("u"))), TUTORIAL_PRIMES, N, version)
    b = sample_uniform(WordStream(BlakePRNG(seed_of("u"))), TUTORIAL_PRIMES, N, version)
    c = sample_uniform(WordStream(BlakePRNG(seed_of("v"))), TUTORIAL_PRIMES, N, version)
    assert a.shape == (4, N) and a.dtype == np.uint64
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.99


def test_seed_as_bytes_or_words_is_the_same_seed():
    seed = seed_of("words")
    words = [int.from_bytes(seed[8 * i : 8 * i + 8], "little") for i in range(8)]
    a = sample_uniform(WordStream(BlakePRNG(seed)), TUTORIAL_PRIMES[:2], 64)
    b = sample_uniform(WordStream(BlakePRNG(words)), TUTORIAL_PRIMES[:2], 64)
    np.testing.assert_array_equal(a, b)


def test_ternary_is_deterministic_in_the_seed():
    a = sample_ternary(WordStream(BlakePRNG(seed_of("t"))), N)
    b = sample_ternary(WordStream(BlakePRNG(seed_of("t"))), N)
    c = sample_ternary(WordStream(BlakePRNG(seed_of("t2"))), N)
    assert a.shape == (N,) and a.dtype == np.int8
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5


@pytest.mark.parametrize("version", ["3.5.0", "3.5.5"])
def test_uniform_ranges(version):
    harsh = HARSH_350 if version == "3.5.0" else HARSH_355  # 3.5.0 draws 63-bit candidates
    moduli = (3, *TUTORIAL_PRIMES, harsh, 2**61 - 1)
    values = sample_uniform(WordStream(BlakePRNG(seed_of("range"))), moduli, N, version)
    assert values.shape == (len(moduli), N)
    for row, q in zip(values, moduli):
        assert int(row.max()) < q
        assert int(row.max()) >= (q - 1) * 0.99  # and the top of the range is reached
    assert set(np.unique(values[0]).tolist()) == {0, 1, 2}


def test_sampler_version_is_checked():
    with pytest.raises(ValueError, match=r"3\.5\.0"):
        sample_uniform(WordStream(BlakePRNG(bytes(64))), [97], 4, "3.6.0")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# 3.5.0 versus 3.5.5: the sampler trap, and each uniform-looking
# --------------------------------------------------------------------------------------


def _uniformity(row: np.ndarray, q: int) -> tuple[float, float, float]:
    """Mean of value/q, chi-square over 16 equal bins, and the frequency of odd values."""
    fractions = row.astype(np.float64) / float(q)
    counts = np.bincount(np.minimum((fractions * 16).astype(int), 15), minlength=16)
    expected = row.size / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return float(fractions.mean()), chi2, float((row & np.uint64(1)).mean())


def test_the_two_uniform_samplers_differ_from_the_same_seed():
    seed = seed_of("trap")
    early = sample_uniform(WordStream(BlakePRNG(seed)), TUTORIAL_PRIMES, N, "3.5.0")
    late = sample_uniform(WordStream(BlakePRNG(seed)), TUTORIAL_PRIMES, N, "3.5.5")
    assert (early != late).mean() > 0.999
    # Same words, different formulas: with no rejection, 3.5.0's candidate is 3.5.5's shifted right by one.
    words = BlakePRNG(seed).random_u32(2 * 16).astype(np.uint64).reshape(-1, 2)
    r355 = [(int(a) << 32) | int(b) for a, b in words]
    q = TUTORIAL_PRIMES[0]
    assert [int(v) for v in late[0, :16]] == [r % q for r in r355]
    assert [int(v) for v in early[0, :16]] == [(r >> 1) % q for r in r355]


@pytest.mark.parametrize("version", ["3.5.0", "3.5.5"])
def test_each_uniform_sampler_looks_uniform(version):
    values = sample_uniform(WordStream(BlakePRNG(seed_of("stats"))), TUTORIAL_PRIMES, N, version)
    for row, q in zip(values, TUTORIAL_PRIMES):
        mean, chi2, odd = _uniformity(row, q)
        assert abs(mean - 0.5) < 0.02  # 6 sigma
        assert chi2 < 60  # 15 degrees of freedom: P(chi2 > 60) < 1e-6
        assert abs(odd - 0.5) < 0.035  # 6 sigma
        assert len(np.unique(row)) > 0.999 * N


# --------------------------------------------------------------------------------------
# Exact agreement with the scalar reference, and the stream position afterwards
# --------------------------------------------------------------------------------------

moduli_strategy = st.lists(
    st.sampled_from([*TUTORIAL_PRIMES, HARSH_350, HARSH_355, 2, 3, 65537, 2**40 + 1, 2**62 + 1, 2**63 - 25]),
    min_size=1,
    max_size=4,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.binary(min_size=64, max_size=64),
    moduli=moduli_strategy,
    n=st.integers(1, 300),
    version=st.sampled_from(["3.5.0", "3.5.5"]),
    after=st.integers(0, 40),
)
def test_uniform_matches_the_reference_and_leaves_the_stream_in_place(seed, moduli, n, version, after):
    if version == "3.5.0":
        moduli = [q for q in moduli if q <= U63_MAX] or [HARSH_350]
    stream, reference = WordStream(BlakePRNG(seed)), ReferenceWords(seed)
    got = sample_uniform(stream, moduli, n, version)
    want = reference_uniform(reference, moduli, n, version)
    assert got.shape == (len(moduli), n) and got.dtype == np.uint64
    assert got.tolist() == want
    assert stream.take(after).tolist() == [reference.next() for _ in range(after)]


@settings(deadline=None)
@given(seed=st.binary(min_size=64, max_size=64), n=st.integers(1, 3000), after=st.integers(0, 40))
def test_ternary_matches_the_reference_and_leaves_the_stream_in_place(seed, n, after):
    stream, reference = WordStream(BlakePRNG(seed)), ReferenceWords(seed)
    got = sample_ternary(stream, n)
    assert got.dtype == np.int8 and got.tolist() == reference_ternary(reference, n)
    assert stream.take(after).tolist() == [reference.next() for _ in range(after)]


def test_tutorial_sizes_match_the_reference():
    """The full-size draws SEAL makes: a secret key (ternary) then a 4-prime uniform polynomial."""
    seed = seed_of("full")
    stream, reference = WordStream(BlakePRNG(seed)), ReferenceWords(seed)
    assert sample_ternary(stream, N).tolist() == reference_ternary(reference, N)
    got = sample_uniform(stream, TUTORIAL_PRIMES, N, "3.5.0")
    assert got.tolist() == reference_uniform(reference, list(TUTORIAL_PRIMES), N, "3.5.0")
    assert reference.used == N + 2 * 4 * N  # no rejection at all with these primes and this seed


@settings(deadline=None)
@given(
    seed=st.binary(min_size=64, max_size=64),
    moduli=st.lists(st.sampled_from([*TUTORIAL_PRIMES, HARSH_350, 97]), min_size=2, max_size=4),
    n=st.integers(1, 200),
    version=st.sampled_from(["3.5.0", "3.5.5"]),
)
def test_rows_one_by_one_equal_rows_together(seed, moduli, n, version):
    together = sample_uniform(WordStream(BlakePRNG(seed)), moduli, n, version)
    stream = WordStream(BlakePRNG(seed))
    one_by_one = np.concatenate([sample_uniform(stream, [q], n, version) for q in moduli])
    np.testing.assert_array_equal(one_by_one, together)
    # ... and a row sampled in two pieces is the row sampled at once.
    stream = WordStream(BlakePRNG(seed))
    split = n // 3
    first = sample_uniform(stream, [moduli[0]], split, version) if split else np.empty((1, 0), np.uint64)
    second = sample_uniform(stream, [moduli[0]], n - split, version)
    np.testing.assert_array_equal(np.concatenate([first, second], axis=1), together[:1])


@settings(deadline=None)
@given(seed=st.binary(min_size=64, max_size=64), sizes=st.lists(st.integers(1, 500), min_size=2, max_size=5))
def test_ternary_in_pieces_equals_ternary_at_once(seed, sizes):
    stream = WordStream(BlakePRNG(seed))
    pieces = np.concatenate([sample_ternary(stream, s) for s in sizes])
    np.testing.assert_array_equal(pieces, sample_ternary(WordStream(BlakePRNG(seed)), sum(sizes)))


def test_mixed_draws_from_one_stream_follow_the_reference():
    """Ternary, uniform, ternary, uniform from one stream: every sampler starts where the last one stopped."""
    seed = seed_of("mixed")
    stream, reference = WordStream(BlakePRNG(seed)), ReferenceWords(seed)
    for n in (5, 1000, 77):
        assert sample_ternary(stream, n).tolist() == reference_ternary(reference, n)
        moduli = [HARSH_350, TUTORIAL_PRIMES[1]]
        assert sample_uniform(stream, moduli, n).tolist() == reference_uniform(reference, moduli, n, "3.5.0")
    assert stream.take(3).tolist() == [reference.next() for _ in range(3)]


# --------------------------------------------------------------------------------------
# Crafted streams: the rejection boundaries exactly
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "q"), [("3.5.0", HARSH_350), ("3.5.5", HARSH_355)])
def test_uniform_rejection_boundary(version, q):
    maximum = U63_MAX if version == "3.5.0" else U64_MAX
    bound = maximum - maximum % q - 1
    assert bound == q - 1  # so candidates q - 1 and above are rejected, q - 2 is kept
    candidates = [q - 1, maximum, bound + 12345, q - 2, 0, 5, q - 1, 7]
    crafted = [w for r in candidates for w in words_for_r(r, version)]
    source = CraftedSource([*crafted, 0xDEADBEEF, 0x01234567])
    stream = WordStream(source)
    assert sample_uniform(stream, [q], 4, version).tolist() == [[q - 2, 0, 5, 7]]
    assert stream.take(2).tolist() == [0xDEADBEEF, 0x01234567]


def test_uniform_350_drops_the_low_bit_of_the_second_word_and_reduces():
    q = TUTORIAL_PRIMES[1]
    candidates = [q + 7, 2 * q + 1, 123]
    for low_bit in (0, 1):
        crafted = [w for r in candidates for w in words_for_r(r, "3.5.0", low_bit)]
        values = sample_uniform(WordStream(CraftedSource(crafted)), [q], 3, "3.5.0")
        assert values.tolist() == [[7, 1, 123]]


def test_ternary_mapping_and_rejection():
    crafted = [0xFFFFFFFF, 0, 0x55555554, 0x55555555, 0xAAAAAAA9, 0xAAAAAAAA, 0xFFFFFFFE, 0xFFFFFFFF, 0x12345678]
    stream = WordStream(CraftedSource([*crafted, 0xCAFEF00D]))
    assert sample_ternary(stream, 7).tolist() == [-1, -1, 0, 0, 1, 1, -1]
    assert stream.take(1).tolist() == [0xCAFEF00D]


def test_ternary_values_and_frequencies():
    values = sample_ternary(WordStream(BlakePRNG(seed_of("freq"))), 3 * N)
    assert set(np.unique(values).tolist()) == {-1, 0, 1}
    counts = np.array([(values == v).sum() for v in (-1, 0, 1)])
    sigma = np.sqrt(3 * N * (1 / 3) * (2 / 3))
    assert np.all(np.abs(counts - N) < 6 * sigma), counts
    # Successive values are independent: the 9 pairs are about equally frequent.
    pairs = np.bincount(3 * (values[:-1] + 1) + (values[1:] + 1), minlength=9)
    expected = (values.size - 1) / 9
    assert ((pairs - expected) ** 2 / expected).sum() < 45  # 8 dof, P < 1e-6


# --------------------------------------------------------------------------------------
# THE ORACLE: the real package's secret key and seeded ciphertexts
# --------------------------------------------------------------------------------------

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ei():
    """The fixture helpers of tests/data and the package's client class (skip without the package)."""
    if str(DATA_DIR) not in sys.path:
        sys.path.insert(0, str(DATA_DIR))
    fixtures = importlib.import_module("make_ei_fixtures")
    try:
        client_class, _ = fixtures.require_package()
    except ImportError as error:
        pytest.skip(f"the oracle needs the real package (pip install encrypted-inference==0.9): {error}")
    return fixtures, client_class


@pytest.fixture(scope="module")
def tut() -> heedu.CKKSContext:
    return heedu.CKKSContext(heedu.CKKSParameters.tutorial())


def _decrypt_slots(context: heedu.CKKSContext, seed: bytes, blob: bytes, sampler: str) -> np.ndarray:
    from heedu.inference.ei import seal_secret_key

    sealed = read_ciphertext(blob, context, sampler=sampler)
    level = context.level_of(sealed.parms_id)
    plain = heedu.Decryptor(context, seal_secret_key(context, seed)).decrypt(
        heedu.Ciphertext(sealed.data, level, sealed.scale)
    )
    return heedu.CKKSEncoder(context).decode(plain, complex_output=True)


KEY_LABELS = ["fixture", "zeros", "counting"]


def _secret_key(fixtures, label: str) -> str:
    if label == "fixture":
        return fixtures.fixture_secret_key()
    raw = bytes(64) if label == "zeros" else bytes(range(64))
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize("label", KEY_LABELS)
def test_oracle_heedu_secret_decrypts_the_package_input(ei, tut, label):
    fixtures, client_class = ei
    secret = _secret_key(fixtures, label)
    client = client_class(secret)
    x = np.random.default_rng(len(label)).uniform(-1.0, 1.0, 784)
    (blob,) = [base64.b64decode(s) for s in client.encrypt(x)]
    sealed = read_ciphertext(blob, tut)
    assert sealed.seed is not None and sealed.parms_id == tut.parms_id(tut.max_level)
    slots = _decrypt_slots(tut, base64.b64decode(secret), blob, "3.5.0")
    np.testing.assert_allclose(slots[:784].real, x, atol=1e-6, rtol=0)
    np.testing.assert_allclose(slots[784:], 0.0, atol=1e-6)
    np.testing.assert_allclose(slots[:784].imag, 0.0, atol=1e-6)


def test_oracle_the_3_5_5_sampler_does_not_decrypt(ei, tut):
    """The sampler trap: the same seed expanded by the 3.5.5 formula gives noise near 1e31."""
    fixtures, client_class = ei
    secret = fixtures.fixture_secret_key()
    x = np.linspace(0.0, 1.0, 784)
    (blob,) = [base64.b64decode(s) for s in client_class(secret).encrypt(x)]
    wrong = _decrypt_slots(tut, base64.b64decode(secret), blob, "3.5.5")
    assert np.all(np.isfinite(wrong))
    assert np.median(np.abs(wrong)) > 1e20
    right = _decrypt_slots(tut, base64.b64decode(secret), blob, "3.5.0")
    np.testing.assert_allclose(right[:784].real, x, atol=1e-6)


def test_oracle_a_wrong_secret_does_not_decrypt(ei, tut):
    """Control: the oracle can fail. Another seed's secret (or a 1-bit-different seed) gives noise."""
    fixtures, client_class = ei
    secret = fixtures.fixture_secret_key()
    x = np.linspace(0.0, 1.0, 784)
    (blob,) = [base64.b64decode(s) for s in client_class(secret).encrypt(x)]
    seed = bytearray(base64.b64decode(secret))
    seed[0] ^= 1
    wrong = _decrypt_slots(tut, bytes(seed), blob, "3.5.0")
    assert np.median(np.abs(wrong)) > 1e6


def test_oracle_secret_key_hash_and_key_id(ei):
    fixtures, client_class = ei
    from heedu.inference.ei import key_id_of_seed

    for label in KEY_LABELS:
        secret = _secret_key(fixtures, label)
        assert client_class(secret).secret_key_hash() == key_id_of_seed(base64.b64decode(secret))
        assert key_id_of_seed(base64.b64decode(secret)) == fixtures.secret_key_hash(secret)
