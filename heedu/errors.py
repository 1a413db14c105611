r"""Typed exceptions raised at heedu's boundaries.

Every error says what was expected, what was found, and what to do about it.
They all derive from :class:`HeeduError`, so ``except heedu.HeeduError`` catches
anything heedu raises on purpose; each also derives from the built-in exception
a Python user would expect (``ValueError``, ``TypeError``, ``KeyError``), so code
that does not know heedu still behaves sensibly.
"""

from __future__ import annotations


class HeeduError(Exception):
    """Base class of every error heedu raises deliberately."""


class ParameterError(HeeduError, ValueError):
    """Encryption parameters are malformed or inconsistent (degree, primes, scale)."""


class SecurityError(ParameterError):
    """Parameters fall short of 128-bit security and the caller did not opt into a toy ring."""


class LevelError(HeeduError, ValueError):
    """An operation needs a level the operand does not have (e.g. rescaling at level 0)."""


class ScaleMismatchError(HeeduError, ValueError):
    """Two operands that must share a scale do not."""


class ScaleOutOfBoundsError(HeeduError, ValueError):
    """A scale is too large for the modulus it lives in, or too small to be useful."""


class EncodingError(HeeduError, ValueError):
    """Values cannot be encoded: too many, not finite, or too large for the modulus."""


class ShapeError(HeeduError, ValueError):
    """An array has the wrong shape, dtype or range for the ring it should live in."""


class FormError(HeeduError, ValueError):
    """A polynomial is in coefficient form where NTT form is required, or vice versa."""


class ContextMismatchError(HeeduError, ValueError):
    """Objects from two different parameter sets (different parms_id) were combined."""


class MissingKeyError(HeeduError, KeyError):
    """A Galois key needed for a rotation or conjugation was not generated."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it as written.
        return str(self.args[0]) if self.args else ""


class SerializationError(HeeduError, ValueError):
    """Bytes do not hold a valid heedu (or SEAL) object: truncated, corrupt or oversized."""


class SecretKeyExposureError(HeeduError, PermissionError):
    """A secret key would be written somewhere without the caller asking for it explicitly."""
