"""Printing helpers shared by the numbered examples: each step's time, and a ciphertext's level and scale."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
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
