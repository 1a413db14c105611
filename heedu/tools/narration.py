"""Narration: each step's time (and size), and a ciphertext's level and scale.

Shared by the numbered examples (``examples/``), ``heedu demo`` and the notebooks; part of the
package so that an installed heedu runs the examples from anywhere.

>>> step("add", lambda: 1 + 1, width=8)  # doctest: +ELLIPSIS
  add      ... ms
2
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import heedu

T = TypeVar("T")


def size_text(n_bytes: int) -> str:
    """``1234567`` -> ``'1.23 MB'``: sizes as people read them."""
    for unit, factor in (("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.2f} {unit}"
    return f"{n_bytes} B"


def step(title: str, action: Callable[[], T], size: Callable[[T], int] | None = None, width: int = 56) -> T:
    """Run ``action``, print how long it took (and ``size(result)`` if given), and return its result."""
    start = time.perf_counter()
    result = action()
    extra = f"  {size_text(size(result)):>10}" if size is not None else ""
    print(f"  {title:<{width}} {1000 * (time.perf_counter() - start):8.1f} ms{extra}", flush=True)
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
