"""heedu.plaintext and heedu.ciphertext: the value types, their checks, and the Shoup cache keyed by its primes."""

from __future__ import annotations

import numpy as np
import pytest

import heedu
from heedu import modarith
from heedu.ciphertext import Ciphertext, check_ciphertext
from heedu.plaintext import Plaintext, check_plaintext, describe_scale


@pytest.fixture(scope="module")
def ctx() -> heedu.CKKSContext:
    return heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 40], scale=2.0**30,
                             allow_insecure=True)
    )


def test_shoup_companions_are_cached_per_set_of_primes(ctx: heedu.CKKSContext) -> None:
    data = np.arange(16, dtype=np.uint64).reshape(1, 16) * np.uint64(12345)
    plain = Plaintext(data, 0, ctx.scale)
    q_here, q_elsewhere = ctx.ring(0).q, ctx.ring_with_special(0).q[-1:]
    first = plain.shoup(q_here)
    assert plain.shoup(q_here) is first  # computed once
    other = plain.shoup(q_elsewhere)  # once keyed by nothing, this returned the first primes' companions
    np.testing.assert_array_equal(first, modarith.shoup_precompute(data, q_here))
    np.testing.assert_array_equal(other, modarith.shoup_precompute(data, q_elsewhere))
    assert not np.array_equal(first, other)


def test_checks_accept_what_heedu_makes(ctx: heedu.CKKSContext) -> None:
    encoder = heedu.CKKSEncoder(ctx)
    plain = encoder.encode([1.0, 2.0])
    assert check_plaintext(ctx, plain) is plain
    ciphertext = heedu.Encryptor(ctx, heedu.KeyGenerator(ctx).public_key()).encrypt(plain)
    assert check_ciphertext(ctx, ciphertext) is ciphertext


def test_reprs_survive_scales_no_check_has_seen(ctx: heedu.CKKSContext) -> None:
    zeros = np.zeros((2, 1, 16), dtype=np.uint64)
    assert "log2(scale)='big'" in repr(Ciphertext(zeros, 0, "big"))  # type: ignore[arg-type]
    assert describe_scale(2.0**30) == "30.00"
    with pytest.raises(heedu.ScaleOutOfBoundsError):
        check_ciphertext(ctx, Ciphertext(zeros, 0, "big"))  # type: ignore[arg-type]
