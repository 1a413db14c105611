"""Noise and precision tools: they measure what the theory predicts."""

from __future__ import annotations

import numpy as np
import pytest

import heedu
from heedu.debug import NoiseTracker, measure_noise, precision_stats
from tests.strategies import seeded_toy_keys


@pytest.fixture(scope="module")
def toy():
    return seeded_toy_keys(64, [50, 40, 50], 40, b"d" * 32)


def test_precision_stats_counts_bits():
    stats = precision_stats(np.array([1.0, 2.0 + 2.0**-10]), np.array([1.0, 2.0]))
    assert stats.min_bits == pytest.approx(10.0)
    assert stats.max_abs_error == pytest.approx(2.0**-10)
    assert "precision bits" in str(stats)
    with pytest.raises(ValueError, match="shape"):
        precision_stats(np.zeros(2), np.zeros(3))


def test_zero_noise_encryption_measures_zero_noise(toy):
    ctx, keygen = toy
    encoder = heedu.CKKSEncoder(ctx)
    values = np.linspace(-1, 1, ctx.slot_count)
    encryptor = heedu.Encryptor(ctx, secret_key=keygen.secret_key(), random_source=heedu.ZeroNoiseSource())
    ct = encryptor.encrypt_symmetric(encoder.encode(values))
    report = measure_noise(ctx, keygen.secret_key(), ct, values)
    assert report.noise_bits == 0.0  # log2(max(|e|, 1)): exactly no noise
    # precision is then limited by the encoding rounding alone: at most N/(2*scale) per slot
    assert report.precision.max_abs_error <= ctx.poly_modulus_degree / (2 * ctx.scale)


def test_noise_grows_with_multiplication_and_shrinks_with_rescale(toy):
    ctx, keygen = toy
    encoder, ev = heedu.CKKSEncoder(ctx), heedu.Evaluator(ctx)
    values = np.linspace(-1, 1, ctx.slot_count)
    ct = heedu.Encryptor(ctx, keygen.public_key()).encrypt(encoder.encode(values))
    tracker = NoiseTracker(ctx, keygen.secret_key())
    fresh = tracker.record("fresh", ct, values)
    product = ev.relinearize(ev.multiply(ct, ct), keygen.relin_keys())
    grown = tracker.record("product", product, values**2)
    rescaled = tracker.record("rescaled", ev.rescale_to_next(product), values**2)
    # fresh noise is a few sigma-sized terms; the product's noise is scaled by about Delta
    assert fresh.noise_bits < 12
    assert grown.noise_bits > fresh.noise_bits + 20
    assert rescaled.noise_bits < grown.noise_bits - 30
    assert rescaled.level == fresh.level - 1
    table = tracker.table()
    assert "product" in table and "rescaled" in table
    assert "hidden" in repr(tracker)
