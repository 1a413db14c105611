"""Shared test configuration: Hypothesis profiles and session-wide contexts with their keys.

Hypothesis profiles
-------------------
``dev``  few examples, randomized: quick feedback while editing (the default on a workstation).
``ci``   derandomized (the same examples on every run, so a red build is reproducible),
         more examples and no deadline (shared CI machines have noisy timings).

Select one with ``HEEDU_HYPOTHESIS_PROFILE=dev|ci``; without it, ``ci`` is used when the ``CI``
environment variable is set (as CI services do) and ``dev`` otherwise. Tests that are expensive
per example scale their budget from the active profile (``settings.default.max_examples``), so the
ci profile still runs more of them.

Fixtures
--------
``toy``             N = 32, primes of [40, 30, 30, 40] bits, scale 2^30, secure (OS) randomness,
                    with secret, public, relinearization and Galois keys for every step plus
                    conjugation. Noise bounds in the tests are worst-case, so fresh randomness
                    on every run cannot make them flaky.
``toy_seeded``      the same context and key set, all randomness from a fixed seed (reproducible
                    keys and ciphertexts, bit for bit).
``toy_zero_noise``  the same context with a ``ZeroNoiseSource``: keys and encryptions without
                    Gaussian noise, so the algebra of keys and key switching is checked exactly.
``tutorial``        the Azure ML tutorial's parameters (N = 8192, [60, 40, 40, 60], scale 2^40)
                    with Galois keys for steps [1, 3, -1]; only for ``@pytest.mark.slow`` tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import numpy as np
import pytest
from hypothesis import settings

import heedu
from heedu import modarith

settings.register_profile("dev", max_examples=25, deadline=timedelta(seconds=5))
settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None, print_blob=True)


def _profile_name() -> str:
    chosen = os.environ.get("HEEDU_HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI") else "dev"


settings.load_profile(_profile_name())

TOY_PARAMETERS = heedu.CKKSParameters(
    poly_modulus_degree=32, coeff_modulus_bits=(40, 30, 30, 40), scale=2.0**30, allow_insecure=True
)


@dataclass
class Kit:
    """A context with a full key set and the objects that use them, plus exact-inspection helpers."""

    context: heedu.CKKSContext
    random: heedu.RandomSource
    galois_steps: list[int] | None = None
    conjugation: bool = True
    keygen: heedu.KeyGenerator = field(init=False)

    def __post_init__(self) -> None:
        self.keygen = heedu.KeyGenerator(self.context, random_source=self.random)
        self.secret_key = self.keygen.secret_key()
        self.public_key = self.keygen.public_key()
        self.relin_keys = self.keygen.relin_keys()
        self.galois_keys = self.keygen.galois_keys(steps=self.galois_steps, conjugation=self.conjugation)
        self.encoder = heedu.CKKSEncoder(self.context)
        self.evaluator = heedu.Evaluator(self.context)
        self.encryptor = heedu.Encryptor(
            self.context, self.public_key, self.secret_key, random_source=self.random
        )
        self.decryptor = heedu.Decryptor(self.context, self.secret_key)

    # ------------------------------------------------------------------ shorthands

    @property
    def n(self) -> int:
        return self.context.poly_modulus_degree

    @property
    def slots(self) -> int:
        return self.context.slot_count

    @property
    def scale(self) -> float:
        return self.context.scale

    @cached_property
    def hamming_weight(self) -> int:
        """Number of non-zero secret coefficients: the h in the rounding-noise bound (1 + h)/2."""
        return int(np.count_nonzero(self.secret_key.coefficients))

    def encrypt(self, values: object, scale: float | None = None, level: int | None = None) -> heedu.Ciphertext:
        """Public-key encryption of ``values`` encoded at ``scale`` and ``level``."""
        return self.encryptor.encrypt(self.encoder.encode(values, scale=scale, level=level))

    def slots_of(self, ciphertext: heedu.Ciphertext) -> np.ndarray:
        """Decrypt and decode to complex slots."""
        return self.encoder.decode(self.decryptor.decrypt(ciphertext), complex_output=True)

    # ------------------------------------------------------------------ exact views

    def centered(self, ntt_data: np.ndarray, level: int) -> np.ndarray:
        """Exact centered coefficients (Python ints, dtype object) of NTT-form data at ``level``."""
        ring = self.context.ring(level)
        coefficients = ring.ntt.inverse(np.ascontiguousarray(ntt_data))
        return np.array(ring.basis.compose(coefficients, centered=True), dtype=object)

    def noise(self, ciphertext: heedu.Ciphertext, plaintext: heedu.Plaintext) -> np.ndarray:
        """Exact centered coefficients of decrypt(ciphertext) - plaintext (Python ints)."""
        ring = self.context.ring(ciphertext.level)
        difference = modarith.sub_mod(self.decryptor.decrypt(ciphertext).data, plaintext.data, ring.q)
        return self.centered(difference, ciphertext.level)


@pytest.fixture(scope="session")
def toy_context() -> heedu.CKKSContext:
    return heedu.CKKSContext(TOY_PARAMETERS)


def _all_steps(context: heedu.CKKSContext) -> list[int]:
    slots = context.slot_count
    return [s for s in range(-(slots - 1), slots) if s != 0]


@pytest.fixture(scope="session")
def toy(toy_context: heedu.CKKSContext) -> Kit:
    return Kit(toy_context, heedu.SecureRandomSource(), galois_steps=_all_steps(toy_context))


@pytest.fixture(scope="session")
def toy_seeded(toy_context: heedu.CKKSContext) -> Kit:
    return Kit(toy_context, heedu.SeededRandomSource(b"heedu upper-layer tests seed 01!"), _all_steps(toy_context))


@pytest.fixture(scope="session")
def toy_zero_noise(toy_context: heedu.CKKSContext) -> Kit:
    source = heedu.ZeroNoiseSource(heedu.SeededRandomSource(b"heedu zero-noise tests seed 02!!"))
    return Kit(toy_context, source, _all_steps(toy_context))


@pytest.fixture(scope="session")
def tutorial() -> Kit:
    context = heedu.CKKSContext(heedu.CKKSParameters.tutorial())
    return Kit(context, heedu.SecureRandomSource(), galois_steps=[1, 3, -1], conjugation=False)


@pytest.fixture(autouse=True)
def _private_data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own download cache (``~/.cache/heedu``) never changes what a test sees."""
    monkeypatch.setenv("HEEDU_CACHE", str(tmp_path_factory.getbasetemp() / "heedu-cache"))
