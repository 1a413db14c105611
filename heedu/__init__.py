r"""heedu: a readable, exact RNS-CKKS homomorphic encryption library in NumPy.

The layers, each importing only from those above it:

1. ``numth``: primes and roots of unity (SEAL's choices)
2. ``modarith``, ``ntt``, ``rns``: exact uint64 arithmetic, the negacyclic NTT, the RNS/CRT
3. ``sampling``: randomness (secure by default, seeded, zero-noise)
4. ``ring``: RNS polynomials in coefficient or NTT form
5. ``params``: ``CKKSParameters`` and ``CKKSContext`` (modulus chain, parms_id, security)
6. ``plaintext``, ``ciphertext``: the value types and their checks
7. ``encoder``, ``keys``, ``encryption``: encoding, key generation, encryption
8. ``keyswitch``, ``evaluator``: homomorphic operations
9. ``serialization``, ``debug``: heedu's own format; noise and precision tools

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
