"""Names every doctest in ``heedu/`` may use: one toy ring and its keys, built as the class examples show.

The docstrings of :class:`heedu.Evaluator`, :class:`heedu.Encryptor`, :class:`heedu.Decryptor` and
:class:`heedu.KeyGenerator` build these objects in full in their class examples; their methods'
examples then stay three lines long by reusing them (``ctx``, ``keygen``, ``encoder``,
``encryptor``, ``decryptor``, ``evaluator``, ``relin_keys``, ``galois_keys``, ``np``); and
:mod:`heedu.coefficient_encoder`'s ring without a special prime (``toy``, ``coder``).
"""

from __future__ import annotations

import numpy as np
import pytest

import heedu


@pytest.fixture(scope="session", autouse=True)
def _toy_ring_for_doctests(doctest_namespace: dict) -> None:
    ctx = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 30, 40], scale=2.0**30,
                             allow_insecure=True)
    )
    keygen = heedu.KeyGenerator(ctx)
    toy = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[40, 30], scale=2.0**20,
                             special_prime=False, allow_insecure=True)
    )
    doctest_namespace.update(
        toy=toy,
        coder=heedu.CoefficientEncoder(toy),
        np=np,
        heedu=heedu,
        ctx=ctx,
        keygen=keygen,
        encoder=heedu.CKKSEncoder(ctx),
        encryptor=heedu.Encryptor(ctx, keygen.public_key(), keygen.secret_key()),
        decryptor=heedu.Decryptor(ctx, keygen.secret_key()),
        evaluator=heedu.Evaluator(ctx),
        relin_keys=keygen.relin_keys(),
        galois_keys=keygen.galois_keys(steps=[1, -1, 2], conjugation=True),
    )
