r"""Typed exceptions raised at heedu's boundaries.

Every error says what was expected, what was found, and what to do about it.
They all derive from :class:`HeeduError`, so ``except heedu.HeeduError`` catches
anything heedu raises on purpose; each also derives from the built-in exception
a Python user would expect (``ValueError``, ``KeyError``, ``PermissionError``), so
code that does not know heedu still behaves sensibly. Passing an object of the
wrong Python type altogether (a list where a ``Ciphertext`` belongs) raises the
built-in ``TypeError``.

=========================  ==========================================================  ==============================
error                      meaning                                                     raised in
=========================  ==========================================================  ==============================
``ParameterError``         malformed or inconsistent parameters (degree, primes,       ``numth``, ``ntt``, ``rns``,
                           scale, seeds, layout sizes)                                 ``sampling``, ``params``,
                                                                                       ``seal.blake2``,
                                                                                       ``inference.packing``,
                                                                                       ``inference.slots``,
                                                                                       ``inference.coefficients``,
                                                                                       ``inference.coefficient_layout``,
                                                                                       ``inference.cache``,
                                                                                       ``tools.attacks``
``SecurityError``          below the HE standard's 128-bit table without the local     ``params``
                           caller's ``allow_insecure=True``
``LevelError``             a level that does not exist or is not reachable (rescale    ``params``,
                                                                                       ``coefficient_encoder``,
                           at level 0, trimming a key above its level)                 ``keys``, ``keyswitch``,
                                                                                       ``evaluator``
``ScaleMismatchError``     operands that must share a scale do not                     ``evaluator``
``ScaleOutOfBoundsError``  a scale outside :math:`[1, 2^{\text{bits of } Q_\ell})`,     ``params``,
                           or a product's scale that no longer fits                    ``coefficient_encoder``,
                                                                                       ``evaluator``
``EncodingError``          values that cannot be encoded (too many, not finite, too    ``encoder``,
                           large for the modulus)                                      ``coefficient_encoder``
``ShapeError``             an array of the wrong shape, dtype or residue range         ``ntt``, ``rns``, ``ring``,
                                                                                       ``plaintext``, ``encoder``,
                                                                                       ``keys``,
                                                                                       ``inference.*``,
                                                                                       ``tools.*``
``OperandError``           an operand the operation does not take (a size-3            ``keys``, ``evaluator``
                           ciphertext where size 2 is needed, a step that is not an
                           integer)
``FormError``              coefficient form where NTT form is needed, or vice versa    ``ring``
``ContextMismatchError``   objects of two parameter sets (rings, parms_ids) combined   ``ring``, ``plaintext``,
                                                                                       ``ciphertext``, ``keys``,
                                                                                       ``encryption``,
                                                                                       ``serialization``
``MissingKeyError``        a key the operation needs was not given or generated, or    ``params``, ``keys``,
                           cannot exist (key switching without a special prime)        ``encryption``
``SerializationError``     bytes that do not hold a valid object (truncated, corrupt,  ``serialization``,
                           oversized)                                                  ``seal.wire``, ``inference.ei``,
                                                                                       ``inference.bitpacking``
``SecretKeyExposureError`` a secret key would be written, read or pickled without an   ``keys``, ``serialization``,
                           explicit opt-in                                             ``seal.wire``
=========================  ==========================================================  ==============================

The applications on top add their own, each rooted here: ``ProtocolError``
(``inference.envelope``), ``EIProtocolError`` (``inference.ei``), ``IdxFormatError``
(a ``ShapeError``, ``tools.mnist``), ``DataMissingError``, ``DataFetchError`` and ``ChecksumError``
(``tools.datasets``), ``CLIError`` (``cli``), and the Azure
adapter's request, key-exchange, service and deployment errors.
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


class OperandError(HeeduError, ValueError):
    """An operand is not one the operation takes: a ciphertext of the wrong size, a step that is not an integer."""


class FormError(HeeduError, ValueError):
    """A polynomial is in coefficient form where NTT form is required, or vice versa."""


class ContextMismatchError(HeeduError, ValueError):
    """Objects from two different parameter sets (different parms_id) were combined."""


class MissingKeyError(HeeduError, KeyError):
    """A key the operation needs was not given or not generated (a Galois key, an encryptor's key)."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it as written.
        return str(self.args[0]) if self.args else ""


class SerializationError(HeeduError, ValueError):
    """Bytes do not hold a valid heedu (or SEAL) object: truncated, corrupt or oversized."""


class SecretKeyExposureError(HeeduError, PermissionError):
    """A secret key would be written somewhere without the caller asking for it explicitly."""
