r"""Debug tools that use the secret key: watch noise grow and precision shrink, operation by operation.

CKKS is *approximate*: decryption returns :math:`\Delta m + e`, and every
operation changes :math:`e`. These tools measure it, because "is this
precision normal?" is the most common question people ask.

* :func:`measure_noise` decrypts, subtracts the exact encoding of the values
  the ciphertext *should* hold, and reports the noise :math:`e` in bits
  (:math:`\log_2 \max_i |e_i|`, coefficient domain), together with the
  *headroom*: how many bits remain between the largest decrypted coefficient
  and :math:`Q_\ell / 2`, where values would wrap around and decryption fail.
* :func:`precision_stats` compares decoded slots with expected ones and
  reports bits of precision, :math:`-\log_2 |\tilde z_j - z_j|`, as
  min/mean/median statistics (as Lattigo does), not just "close".
* :class:`NoiseTracker` records one row per step and prints a table.

Never ship these with a deployed service: they need the secret key, and
sharing decryption results can leak it (Li and Micciancio, eprint 2020/1533).

Examples
--------
>>> import numpy as np, heedu
>>> ctx = heedu.CKKSContext(heedu.CKKSParameters(poly_modulus_degree=32,
...     coeff_modulus_bits=[40, 30, 40], scale=2.0**30, allow_insecure=True))
>>> keygen = heedu.KeyGenerator(ctx)
>>> encoder = heedu.CKKSEncoder(ctx)
>>> ct = heedu.Encryptor(ctx, keygen.public_key()).encrypt(encoder.encode([0.5] * 16))
>>> report = measure_noise(ctx, keygen.secret_key(), ct, [0.5] * 16)
>>> report.noise_bits < 10 < report.headroom_bits
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .ciphertext import Ciphertext
from .encoder import CKKSEncoder
from .encryption import Decryptor
from .keys import SecretKey
from .params import CKKSContext


@dataclass(frozen=True)
class NoiseReport:
    """Noise of one ciphertext, measured with the secret key."""

    level: int
    log2_scale: float
    noise_bits: float  # log2 of the largest |e_i| in the coefficient domain
    headroom_bits: float  # bits left below Q_l / 2 before decryption wraps around
    precision: PrecisionStats


@dataclass(frozen=True)
class PrecisionStats:
    r"""Bits of precision :math:`-\log_2|\tilde z - z|` over the slots (higher is better)."""

    min_bits: float
    mean_bits: float
    median_bits: float
    max_abs_error: float

    def __str__(self) -> str:
        return (
            f"precision bits min {self.min_bits:.1f} / mean {self.mean_bits:.1f} / median {self.median_bits:.1f} "
            f"(max |error| {self.max_abs_error:.3g})"
        )


def precision_stats(actual: np.ndarray, expected: np.ndarray) -> PrecisionStats:
    """Compare decoded values with expected ones (errors of exactly 0 count as 53 bits, double precision)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise ValueError(f"actual has shape {actual.shape} but expected has {expected.shape}")
    error = np.abs(actual - expected)
    bits = -np.log2(np.maximum(error, 2.0**-53))
    return PrecisionStats(float(bits.min()), float(bits.mean()), float(np.median(bits)), float(error.max()))


def measure_noise(
    context: CKKSContext, secret_key: SecretKey, ciphertext: Ciphertext, expected: np.ndarray
) -> NoiseReport:
    r"""Noise :math:`e = \mathrm{Dec}(ct) - \lfloor \Delta\,\sigma^{-1}(z) \rceil` and headroom, in bits.

    ``expected`` is the slot vector the ciphertext should hold (zero-padded).
    """
    encoder = CKKSEncoder(context)
    plain = Decryptor(context, secret_key).decrypt(ciphertext)
    ring = context.ring(plain.level)
    coefficients = ring.basis.to_centered_float(ring.ntt.inverse(plain.data))
    slots = np.zeros(context.slot_count, dtype=np.complex128)
    expected = np.asarray(expected)
    slots[: expected.size] = expected
    ideal = np.rint(encoder.inverse_embed(slots) * plain.scale)
    noise = np.max(np.abs(coefficients - ideal))
    largest = np.max(np.abs(coefficients))
    decoded = encoder.embed(coefficients / plain.scale)[: expected.size]
    if not np.iscomplexobj(expected):
        decoded = decoded.real
    return NoiseReport(
        level=plain.level,
        log2_scale=math.log2(plain.scale),
        noise_bits=float(np.log2(max(noise, 1.0))),
        headroom_bits=float(math.log2(ring.basis.product / 2) - np.log2(max(largest, 1.0))),
        precision=precision_stats(decoded, expected),
    )


@dataclass
class NoiseTracker:
    """Collect a :class:`NoiseReport` per named step and print them as a table."""

    context: CKKSContext
    secret_key: SecretKey
    rows: list[tuple[str, NoiseReport]] = field(default_factory=list)

    def record(self, step: str, ciphertext: Ciphertext, expected: np.ndarray) -> NoiseReport:
        report = measure_noise(self.context, self.secret_key, ciphertext, expected)
        self.rows.append((step, report))
        return report

    def table(self) -> str:
        header = f"{'step':<28}{'level':>6}{'log2 scale':>12}{'noise bits':>12}{'headroom':>10}{'min prec':>10}"
        lines = [header, "-" * len(header)]
        for step, r in self.rows:
            lines.append(
                f"{step:<28}{r.level:>6}{r.log2_scale:>12.2f}{r.noise_bits:>12.1f}{r.headroom_bits:>10.1f}"
                f"{r.precision.min_bits:>10.1f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"NoiseTracker({len(self.rows)} rows, <secret key hidden>)"
