"""Argument types shared by the tools' command lines and the ``heedu`` command: a bad value is a usage error.

>>> positive_int("3"), parse_bits("60, 40,60")
(3, (60, 40, 60))
"""

from __future__ import annotations

import argparse
import math


def parse_bits(text: str) -> tuple[int, ...]:
    """Comma-separated prime sizes such as ``60,40,40,60``."""
    try:
        bits = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 60,40,40,60, got {text!r}") from None
    if not bits:
        raise argparse.ArgumentTypeError("expected at least one bit size, like 60,40,40,60")
    return bits


def positive_int(text: str) -> int:
    """A positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """A positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value
