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


def _positive(text: str, convert: type, kind: str) -> float:
    """``convert(text)`` if it is a finite number above zero; a usage error naming ``kind`` otherwise."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A positive integer."""
    return int(_positive(text, int, "a positive integer"))


def positive_float(text: str) -> float:
    """A positive finite number."""
    return float(_positive(text, float, "a positive finite number"))
