r"""heedu: a readable, exact RNS-CKKS homomorphic encryption library in NumPy.

The library, in tiers; each module imports only modules listed before it
(``tests/test_layering.py`` reads this list and checks every import against it):

1. ``errors``: typed exceptions, every one rooted in ``HeeduError``
2. ``numth``: primes and roots of unity (SEAL's choices)
3. ``modarith``, ``ntt``, ``rns``: exact uint64 arithmetic, the negacyclic NTT, the RNS/CRT
4. ``sampling``: randomness (the OS CSPRNG by default, seeded, zero-noise)
5. ``ring``: RNS polynomials in coefficient or NTT form
6. ``params``: ``CKKSParameters`` and ``CKKSContext`` (modulus chain, parms_id, security)
7. ``plaintext``, ``ciphertext``: the value types and their checks
8. ``coefficient_encoder``, ``encoder``, ``keys``, ``encryption``: encodings (coefficients, slots), key
   generation, encryption
9. ``keyswitch``, ``evaluator``: homomorphic operations
10. ``serialization``, ``debug``: heedu's own format (values and keys only: it imports nothing that
    computes on them); noise and precision tools

Built on the library, each importing it and the packages listed before it:

11. ``seal``: SEAL 3.5's wire format, BLAKE2Xb, SEAL's samplers
12. ``inference``: encrypted linear models (coefficient encoding, slots, the EI-compatible protocol)
13. ``tools``: MNIST files, evaluation, cross-check, progress bars
14. ``cli``: the ``heedu`` command, the top; other packages add commands through entry points

Nothing in ``heedu`` imports ``azure_adapter`` or ``benchmarks``: those are applications on top.

>>> import heedu
>>> ctx = heedu.CKKSContext(heedu.CKKSParameters(poly_modulus_degree=16,
...     coeff_modulus_bits=[40, 30, 40], scale=2.0**30, allow_insecure=True))
>>> keygen = heedu.KeyGenerator(ctx)
>>> encoder, ev = heedu.CKKSEncoder(ctx), heedu.Evaluator(ctx)
>>> ct = heedu.Encryptor(ctx, keygen.public_key()).encrypt(encoder.encode([1.0, 2.0, 3.0]))
>>> y = encoder.decode(heedu.Decryptor(ctx, keygen.secret_key()).decrypt(ev.add(ct, ct)))
>>> [round(float(v), 3) for v in y[:3]]
[2.0, 4.0, 6.0]
"""

from .ciphertext import Ciphertext
from .coefficient_encoder import CoefficientEncoder
from .encoder import CKKSEncoder
from .encryption import Decryptor, Encryptor
from .errors import (
    ContextMismatchError,
    EncodingError,
    FormError,
    HeeduError,
    LevelError,
    MissingKeyError,
    OperandError,
    ParameterError,
    ScaleMismatchError,
    ScaleOutOfBoundsError,
    SecretKeyExposureError,
    SecurityError,
    SerializationError,
    ShapeError,
)
from .evaluator import Evaluator
from .keys import GaloisKeys, KeyGenerator, KSwitchKey, PublicKey, RelinKeys, SecretKey
from .params import CKKSContext, CKKSParameters
from .plaintext import Plaintext
from .sampling import RandomSource, SecureRandomSource, SeededRandomSource, ZeroNoiseSource

__version__ = "0.1.0"

__all__ = [
    "CKKSContext",
    "CKKSEncoder",
    "CKKSParameters",
    "Ciphertext",
    "CoefficientEncoder",
    "ContextMismatchError",
    "Decryptor",
    "EncodingError",
    "Encryptor",
    "Evaluator",
    "FormError",
    "GaloisKeys",
    "HeeduError",
    "KSwitchKey",
    "KeyGenerator",
    "LevelError",
    "MissingKeyError",
    "OperandError",
    "ParameterError",
    "Plaintext",
    "PublicKey",
    "RandomSource",
    "RelinKeys",
    "ScaleMismatchError",
    "ScaleOutOfBoundsError",
    "SecretKey",
    "SecretKeyExposureError",
    "SecureRandomSource",
    "SecurityError",
    "SeededRandomSource",
    "SerializationError",
    "ShapeError",
    "ZeroNoiseSource",
]
