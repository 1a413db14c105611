"""Printing helpers shared by the numbered examples: each step's time, and a ciphertext's level and scale."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import heedu

T = TypeVar("T")


def step(title: str, action: Callable[[], T]) -> T:
    """Run ``action``, print how long it took, and return its result."""
    start = time.perf_counter()
    result = action()
    print(f"  {title:<56} {1000 * (time.perf_counter() - start):8.1f} ms")
    return result


def state(name: str, ct: heedu.Ciphertext) -> None:
    """Print the two things additions check: level and scale."""
    print(f"    {name:<12} level {ct.level}, log2(scale) = {math.log2(ct.scale):.10f}")


@dataclass(frozen=True)
class Toolkit:
    """Everything an example needs to encrypt, compute on and decrypt with one key pair."""

    ctx: heedu.CKKSContext
    keygen: heedu.KeyGenerator
    relin_keys: heedu.RelinKeys
    encoder: heedu.CKKSEncoder
    evaluator: heedu.Evaluator
    encryptor: heedu.Encryptor
    decryptor: heedu.Decryptor


def tutorial_toolkit() -> Toolkit:
    """Build the tutorial context (timed, as the first step) and the keys and tools on it.

    Several examples start from exactly this set-up; building it in one place keeps them
    using the same parameters and the same order of key generation.
    """
    ctx = step("build the tutorial context", lambda: heedu.CKKSContext(heedu.CKKSParameters.tutorial()))
    keygen = heedu.KeyGenerator(ctx)
    relin_keys = keygen.relin_keys()
    return Toolkit(
        ctx=ctx,
        keygen=keygen,
        relin_keys=relin_keys,
        encoder=heedu.CKKSEncoder(ctx),
        evaluator=heedu.Evaluator(ctx),
        encryptor=heedu.Encryptor(ctx, keygen.public_key()),
        decryptor=heedu.Decryptor(ctx, keygen.secret_key()),
    )
