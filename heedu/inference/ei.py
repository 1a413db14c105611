r"""Drop-in replacements for ``encrypted-inference==0.9``'s client and server, speaking its wire format.

The Azure ML tutorial's package computes a linear model :math:`Wx + b` on an
encrypted input with Microsoft SEAL 3.5. :class:`EILinearRegressionClient` and
:class:`EIServer` have the same constructors, methods, arguments and return
types, and exchange the same bytes, so either side of a deployment can be heedu
or SEAL (``from heedu.inference import EIServer`` in the tutorial's ``score.py``).

**The protocol** (CKKS, :math:`N = 8192`, primes ``[60, 40, 40, 60]``, scale
:math:`2^{40}`):

1. The client's secret is a 64-byte seed; SEAL's ternary secret key is sampled
   from ``BlakePRNG(seed)``. ``get_public_keys()`` returns a key id (the first 32
   characters of the base32 BLAKE2b-256 of the seed) and a blob: GaloisKeys for
   rotations by :math:`+1, +2, \dots, +2048` followed by RelinKeys. There is no
   public key: only the client can encrypt.
2. ``encrypt(x)`` splits ``x`` into chunks of 4096 features, each a *seeded*
   symmetric ciphertext at the top level (base64 of the zlib-compressed SEAL object).
3. The server computes, for each class :math:`m`: the product with the encoded
   weights, a rescale, then the rotate-and-add ladder
   :math:`r \leftarrow r + \mathrm{rot}(r, 2^k)` for :math:`k = 0..11`, which
   leaves the full inner product in every slot, and finally adds the bias. One
   result ciphertext per class.
4. The client decrypts each and reads slot 0.

This is simple and slow (twelve key switches per class): heedu's own protocols
(:mod:`heedu.inference.coefficients`, :mod:`heedu.inference.slots`) answer all classes at once.
The point here is compatibility, so the server follows SEAL's sequential algorithm exactly.

``verbose=True`` prints progress and sizes, never the secret key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from .. import modarith
from ..ciphertext import Ciphertext
from ..encoder import CKKSEncoder
from ..encryption import Decryptor, Encryptor
from ..errors import HeeduError, SerializationError, ShapeError
from ..evaluator import Evaluator
from ..keys import GaloisKeys, KeyGenerator, KSwitchKey, RelinKeys, SecretKey, refuse_to_pickle
from ..params import CKKSContext, CKKSParameters
from ..plaintext import Plaintext
from ..ring import RNSPoly
from ..seal.blake2 import BlakePRNG
from ..seal.samplers import BlakeExpansion, WordStream, sample_ternary
from ..seal.wire import (
    COMPR_ZLIB,
    SealCiphertext,
    read_ciphertext,
    read_kswitch_keys,
    write_ciphertext,
    write_kswitch_keys,
)
from .cache import ByteBoundedCache

EI_SEED_BYTES = 64
ROTATION_LADDER = tuple(1 << k for k in range(12))  # +1, +2, ..., +2048: sums 4096 slots into every slot
MAX_REQUEST_CIPHERTEXTS = 256
MAX_CIPHERTEXT_B64_CHARS = 4 * 1024 * 1024
#: Parsed key blobs kept for returning clients (about 10 MB each).
KEY_CACHE_BYTES = 64 * 1024 * 1024


class EIProtocolError(HeeduError, ValueError):
    """A request or response does not follow the encrypted-inference protocol."""


_context_cache: dict[str, CKKSContext] = {}


def ei_context() -> CKKSContext:
    """The protocol's parameters (shared, built once)."""
    if "ctx" not in _context_cache:
        _context_cache["ctx"] = CKKSContext(CKKSParameters.tutorial())
    return _context_cache["ctx"]


def _decode_b64(text: object, what: str) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    if not isinstance(text, str):
        raise EIProtocolError(f"{what} must be a base64 string, got {type(text).__name__}")
    if len(text) > MAX_CIPHERTEXT_B64_CHARS:
        raise EIProtocolError(f"{what} is {len(text)} characters; at most {MAX_CIPHERTEXT_B64_CHARS} are accepted")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise EIProtocolError(f"{what} is not valid base64: {error}") from None


def key_id_of_seed(seed: bytes) -> str:
    """Lower-case base32 of BLAKE2b-256(seed), '=' stripped: the package's ``secret_key_hash()``."""
    digest = hashlib.blake2b(seed, digest_size=32).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def seal_secret_key(context: CKKSContext, seed: bytes) -> SecretKey:
    """SEAL 3.5's secret key from a 64-byte seed: ternary coefficients from ``BlakePRNG(seed)``."""
    coefficients = sample_ternary(WordStream(BlakePRNG(seed)), context.poly_modulus_degree)
    return SecretKey(coefficients, context.key_ring.from_signed(coefficients).to_ntt().data)


class EILinearRegressionClient:
    r"""The client of the encrypted-inference protocol (same API as ``encrypted-inference`` 0.9).

    Parameters
    ----------
    secret_key : str, optional
        A ``secret_key()`` string from an earlier client (base64 of a 64-byte
        seed); a fresh one is drawn from the OS CSPRNG if omitted.
    verbose : bool
        Print progress (never the secret).

    Raises
    ------
    EIProtocolError
        ``secret_key`` is not base64 of exactly 64 bytes.
    """

    def __init__(self, secret_key: str | None = None, session_id: str | None = None, verbose: bool = False) -> None:
        self.context = ei_context()
        self.verbose = verbose
        self.session_id = session_id
        if secret_key is None:
            seed = os.urandom(EI_SEED_BYTES)
        else:
            seed = _decode_b64(secret_key, "secret_key")
            if len(seed) != EI_SEED_BYTES:
                raise EIProtocolError(f"secret_key must encode {EI_SEED_BYTES} bytes, got {len(seed)}")
        self._seed = seed
        self._secret = seal_secret_key(self.context, seed)
        # heedu's own key generation and encryption; only the seeds' expansion is SEAL 3.5's BLAKE2 PRNG.
        self._keygen = KeyGenerator(self.context, secret_key=self._secret, seed_expansion=BlakeExpansion())
        self._encryptor = Encryptor(self.context, secret_key=self._secret, seed_expansion=BlakeExpansion())
        self._encoder = CKKSEncoder(self.context)

    def __repr__(self) -> str:
        return f"EILinearRegressionClient(key_id={self.secret_key_hash()[:32]!r}, <secret key hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)  # its state holds the 64-byte seed the secret key is sampled from

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[heedu EI client] {message}")

    def secret_key(self) -> str:
        """The secret: base64 of the 64-byte seed (keep it private)."""
        return base64.b64encode(self._seed).decode("ascii")

    def secret_key_hash(self) -> str:
        """A public fingerprint of the secret: lower-case base32 BLAKE2b-256, unpadded."""
        return key_id_of_seed(self._seed)

    def _kswitch_components(self, new_key: np.ndarray) -> list[SealCiphertext]:
        """A key switch to ``new_key`` as SEAL 3.5's seeded ciphertexts, one per data prime."""
        key = self._keygen.create_kswitch_key(new_key)
        pid = self.context.key_parms_id
        return [SealCiphertext(pid, component, 1.0, seed) for component, seed in zip(key.data, key.seeds)]

    def get_public_keys(self) -> tuple[str, bytes]:
        """``(key_id, blob)``: GaloisKeys for rotations by powers of two, then RelinKeys, as SEAL 3.5 objects."""
        ctx = self.context
        ring = ctx.key_ring
        slots: list[list[SealCiphertext]] = [[] for _ in range(ctx.poly_modulus_degree)]
        secret = RNSPoly(ring, self._secret.data, is_ntt=True)
        for step in ROTATION_LADDER:
            galois_elt = pow(3, step, 2 * ctx.poly_modulus_degree)
            slots[(galois_elt - 1) // 2] = self._kswitch_components(secret.apply_galois(galois_elt).data)
        galois = write_kswitch_keys(ctx.key_parms_id, slots, COMPR_ZLIB)
        square = modarith.mul_mod(self._secret.data, self._secret.data, ring.q)
        relin = write_kswitch_keys(ctx.key_parms_id, [self._kswitch_components(square)], COMPR_ZLIB)
        self._log(f"public keys: {len(galois) / 1e6:.2f} MB Galois keys + {len(relin) / 1e6:.2f} MB relin keys")
        return self.secret_key_hash()[:32], galois + relin

    def encrypt(self, x: object) -> list[str]:
        """Encrypt a feature vector: one seeded ciphertext per 4096 features, base64 strings.

        Raises :class:`~heedu.errors.ShapeError` unless ``x`` is a non-empty 1-D vector of
        finite numbers, and :class:`~heedu.errors.EncodingError` for values too large to encode.
        """
        try:
            values = None if isinstance(x, (str, bytes)) else np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ShapeError(
                f"encrypt takes one non-empty 1-D vector of finite numbers, got {type(x).__name__} "
                f"of shape {np.shape(x) if values is not None else '?'}; encrypt a batch one row at a time"
            )
        ctx = self.context
        level = ctx.max_level
        out = []
        for start in range(0, values.size, ctx.slot_count):
            ct = self._encryptor.encrypt_symmetric(self._encoder.encode(values[start : start + ctx.slot_count]))
            sealed = SealCiphertext(ctx.parms_id(level), ct.data, ct.scale, ct.seed)
            out.append(base64.b64encode(write_ciphertext(sealed)).decode("ascii"))
        self._log(f"encrypted {values.size} values into {len(out)} ciphertext(s)")
        return out

    def decrypt(self, results: Sequence[str]) -> np.ndarray:
        """Decrypt the server's answer: slot 0 of each ciphertext, one score per class.

        Raises :class:`EIProtocolError` (not a non-empty list of base64 strings) or
        :class:`~heedu.errors.SerializationError` (not valid SEAL ciphertexts of these parameters).
        """
        if isinstance(results, (str, bytes)) or not isinstance(results, Sequence) or not results:
            raise EIProtocolError("decrypt takes a non-empty list of base64 ciphertexts (the server's answer)")
        ctx = self.context
        decryptor = Decryptor(ctx, self._secret)
        scores = []
        for i, text in enumerate(results):
            sealed = read_ciphertext(_decode_b64(text, f"result {i}"), ctx)
            level = ctx.level_of(sealed.parms_id)
            plain = decryptor.decrypt(Ciphertext(sealed.data, level, sealed.scale))
            scores.append(self._encoder.decode(plain)[0])
        return np.array(scores)


class EIServer:
    r"""The server of the encrypted-inference protocol: :math:`Wx + b` on ciphertexts, SEAL's algorithm exactly.

    Parameters
    ----------
    coeffs : array-like, shape (n_classes, n_features) or (n_features,)
        The model's weights (scikit-learn's ``coef_``).
    intercept : array-like, shape (n_classes,) or scalar
        The biases (``intercept_``).
    verbose : bool
        Print progress.
    """

    def __init__(self, coeffs: object, intercept: object, verbose: bool = False) -> None:
        weights = np.atleast_2d(np.asarray(coeffs, dtype=np.float64))
        bias = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).ravel()
        if weights.ndim != 2 or weights.size == 0:
            raise ShapeError(f"coeffs must be a (n_classes, n_features) array, got shape {np.shape(coeffs)}")
        if bias.shape != (weights.shape[0],):
            raise ShapeError(f"intercept has {bias.size} entries for {weights.shape[0]} classes")
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
            raise ShapeError("coeffs and intercept must be finite")
        self.context = ei_context()
        self.weights, self.bias = weights, bias
        self.verbose = verbose
        self._encoder = CKKSEncoder(self.context)
        self._evaluator = Evaluator(self.context)
        self._weight_plaintexts: dict[tuple[int, int, int], Plaintext] = {}
        # Parsed public keys of the most recent clients, by BLAKE2b of the blob, bounded by their bytes.
        self._key_cache: ByteBoundedCache[bytes, tuple[GaloisKeys, RelinKeys]] = ByteBoundedCache(KEY_CACHE_BYTES)

    def __repr__(self) -> str:
        return f"EIServer(classes={self.weights.shape[0]}, features={self.weights.shape[1]})"

    def _log(self, message: str) -> None:
        if self.verbose:
            print(f"[heedu EI server] {message}")

    def load_public_keys(self, blob: bytes) -> tuple[GaloisKeys, RelinKeys]:
        """Parse the client's key blob (GaloisKeys then RelinKeys) into heedu keys; checks every key.

        Raises :class:`EIProtocolError` (not bytes, rotation keys missing) or
        :class:`~heedu.errors.SerializationError` (malformed SEAL data).

        Parsed blobs are kept, keyed by their hash, up to :data:`KEY_CACHE_BYTES`, so a client
        that calls again does not pay for parsing (and seed expansion) twice.
        """
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise EIProtocolError(f"public keys must be bytes, got {type(blob).__name__}")
        blob = bytes(blob)
        digest = hashlib.blake2b(blob, digest_size=32).digest()
        keys = self._key_cache.get(digest)
        if keys is None:
            keys = self._parse_public_keys(blob)
            self._key_cache.put(digest, keys)
        return keys

    def _parse_public_keys(self, blob: bytes) -> tuple[GaloisKeys, RelinKeys]:
        ctx = self.context
        # The ladder runs after the rescale, at level L - 1: its keys' last component is never used,
        # so it is checked but its seed is not expanded (a third of the cost of reading the keys).
        top = ctx.max_level
        galois_slots, offset = read_kswitch_keys(blob, 0, ctx, max_slots=ctx.poly_modulus_degree, keep_components=top)
        relin_slots, end = read_kswitch_keys(blob, offset, ctx, max_slots=8)
        if end != len(blob):
            raise SerializationError(f"{len(blob) - end} unexpected bytes after the RelinKeys in the key blob")
        keys = {
            2 * index + 1: KSwitchKey(np.stack([c.data for c in components])).trimmed(top - 1)
            for index, components in galois_slots.items()
        }
        if 0 not in relin_slots:
            raise SerializationError("the key blob's RelinKeys are empty")
        missing = [step for step in ROTATION_LADDER if pow(3, step, 2 * ctx.poly_modulus_degree) not in keys]
        if missing:
            raise EIProtocolError(
                f"the key blob's GaloisKeys lack rotations by {missing}: it must hold GaloisKeys for "
                f"+1, +2, ..., +2048 followed by RelinKeys, as get_public_keys() makes them"
            )
        relin = RelinKeys(KSwitchKey(np.stack([c.data for c in relin_slots[0]])))
        return GaloisKeys(keys, ctx.poly_modulus_degree), relin

    def _weights_plaintext(self, cls: int, chunk: int, level: int) -> Plaintext:
        key = (cls, chunk, level)
        if key not in self._weight_plaintexts:
            slots = self.context.slot_count
            values = self.weights[cls, chunk * slots : (chunk + 1) * slots]
            self._weight_plaintexts[key] = self._encoder.encode(values, scale=self.context.scale, level=level)
        return self._weight_plaintexts[key]

    def predict(self, ciphertexts: Sequence[str], public_keys: bytes) -> list[str]:
        """One base64 result ciphertext per class, each holding that class's score in every slot.

        Raises
        ------
        EIProtocolError
            Not a list of base64 strings, the wrong number of ciphertexts for the model's
            features, inputs not at the top level, or a key blob missing rotation keys.
        SerializationError
            A ciphertext or the key blob is not valid SEAL 3.5 data for these parameters.
        """
        if isinstance(ciphertexts, (str, bytes)) or not isinstance(ciphertexts, Sequence) or not ciphertexts:
            raise EIProtocolError("predict takes a non-empty list of base64 ciphertexts")
        if len(ciphertexts) > MAX_REQUEST_CIPHERTEXTS:
            raise EIProtocolError(f"{len(ciphertexts)} ciphertexts; at most {MAX_REQUEST_CIPHERTEXTS} are accepted")
        ctx, ev = self.context, self._evaluator
        expected = -(-self.weights.shape[1] // ctx.slot_count)
        if len(ciphertexts) != expected:
            raise EIProtocolError(
                f"the model has {self.weights.shape[1]} features, i.e. {expected} ciphertext(s) of "
                f"{ctx.slot_count} slots, but {len(ciphertexts)} arrived"
            )
        galois_keys, _ = self.load_public_keys(public_keys)
        inputs = []
        for i, text in enumerate(ciphertexts):
            sealed = read_ciphertext(_decode_b64(text, f"ciphertext {i}"), ctx)
            level = ctx.level_of(sealed.parms_id)
            if sealed.data.shape[0] != 2:
                raise EIProtocolError(f"ciphertext {i} has {sealed.data.shape[0]} polynomials, expected 2")
            inputs.append(Ciphertext(sealed.data, level, sealed.scale))
        if any(c.level != ctx.max_level for c in inputs):
            raise EIProtocolError(
                f"input ciphertexts must be fresh encryptions at the top level {ctx.max_level} "
                "(a result sent back as input is at a lower level)"
            )
        results = []
        for cls in range(self.weights.shape[0]):
            level = inputs[0].level
            total = None
            for chunk, ct in enumerate(inputs):
                product = ev.multiply_plain(ct, self._weights_plaintext(cls, chunk, level))
                total = product if total is None else ev.add(total, product)
            r = ev.rescale_to_next(total)
            for step in ROTATION_LADDER:
                r = ev.add(r, ev.rotate_vector(r, step, galois_keys))
            r = ev.add_plain(r, self._encoder.encode_constant(self.bias[cls], scale=r.scale, level=r.level))
            sealed = SealCiphertext(ctx.parms_id(r.level), r.data, r.scale)
            results.append(base64.b64encode(write_ciphertext(sealed)).decode("ascii"))
            self._log(f"class {cls}: done")
        return results
