r"""heedu's native encrypted-inference protocol: all scores of a batch in ONE ciphertext.

The server (:class:`EncryptedLinearModel`) is built once from a linear model: it
plans the slot layout (:mod:`heedu.inference.packing`) and encodes every
pre-rotated diagonal and the bias. The client (:class:`InferenceClient`) gets
only the public :class:`InferencePlan` (parameters and layout), makes its keys,
with only the Galois keys the plan needs, each trimmed to the level it is
used at, and encrypts inputs with its secret key (seeded, so half size).

Per group of inputs that fit in one ciphertext, the server runs:

1. hoisted baby-step rotations of the input (one key-switch decomposition);
2. products with the pre-rotated diagonals, summed per giant-step group;
3. a rescale of each group (level :math:`L \to L-1`), the giant-step rotations, the sum;
4. the folding ladder and the bias;
5. a product with a 0/1 mask of the score slots and a rescale to level 0. Without
   it the other slots would hold partial sums of :math:`W` that the client could
   decrypt: the mask makes the answer reveal the scores and nothing else about
   the model. It costs one level (no key switch); with too few levels the
   server must opt out explicitly (``allow_unmasked_answer=True``).

Messages are bytes with a small header: magic, version, the plan's fingerprint
(so a query for another model or parameter set is refused), counts, then
length-prefixed heedu objects (``heedu.serialization``). Every count and
length is bounded before anything is read.

Examples
--------
>>> import numpy as np, heedu
>>> from heedu.inference import EncryptedLinearModel, InferenceClient, LinearModel
>>> params = heedu.CKKSParameters(poly_modulus_degree=64, coeff_modulus_bits=[50, 40, 40, 50],
...                               scale=2.0**40, allow_insecure=True)
>>> server = EncryptedLinearModel(LinearModel(np.array([[1.0, 2.0], [3.0, -1.0]]), np.zeros(2)), params)
>>> client = InferenceClient(server.plan)
>>> answer = server.predict(client.encrypt(np.array([1.0, 1.0])), client.public_keys())
>>> np.round(client.decrypt(answer), 4).tolist()
[3.0, 2.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import asdict, dataclass

import numpy as np

from ..encoder import CKKSEncoder, Plaintext
from ..encryption import Ciphertext, Decryptor, Encryptor
from ..errors import HeeduError, ParameterError, SerializationError
from ..evaluator import Evaluator
from ..keys import GaloisKeys, KeyGenerator, SecretKey
from ..params import CKKSContext, CKKSParameters
from ..sampling import RandomSource
from ..serialization import dumps, loads
from .model import LinearModel
from .packing import PackingPlan

QUERY_MAGIC, ANSWER_MAGIC = b"HEIQ", b"HEIA"
PROTOCOL_VERSION = 1
_ENVELOPE = struct.Struct("<4sBBH16sIII")  # magic, version, flags, reserved, fingerprint, inputs, groups, chunks
FLAG_SINGLE_INPUT = 1
MAX_INPUTS = 100_000
MAX_OBJECT_BYTES = 64 * 1024 * 1024
KEY_CACHE_ENTRIES = 4


class ProtocolError(HeeduError, ValueError):
    """A query, answer or key bundle does not belong to this plan or is malformed."""


@dataclass(frozen=True)
class InferencePlan:
    """The public part of a served model: CKKS parameters and slot layout. Safe to publish."""

    parameters: CKKSParameters
    packing: PackingPlan
    one_dimensional: bool = False  # the model returns (n,) scores, as a binary classifier does

    @property
    def fingerprint(self) -> bytes:
        """16 bytes naming this plan; queries and answers carry it."""
        return hashlib.blake2b(self.to_json().encode(), digest_size=16).digest()

    def to_json(self) -> str:
        p = self.parameters
        return json.dumps(
            {
                "poly_modulus_degree": p.poly_modulus_degree,
                "coeff_modulus": list(p.primes),
                "scale": p.scale,
                "allow_insecure": p.allow_insecure,
                "packing": asdict(self.packing),
                "one_dimensional": self.one_dimensional,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> InferencePlan:
        try:
            data = json.loads(text)
            parameters = CKKSParameters(
                poly_modulus_degree=int(data["poly_modulus_degree"]),
                coeff_modulus=tuple(int(q) for q in data["coeff_modulus"]),
                scale=float(data["scale"]),
                allow_insecure=bool(data["allow_insecure"]),
            )
            packing = PackingPlan(**{k: int(v) for k, v in data["packing"].items()})
            one_dimensional = data["one_dimensional"]
            if not isinstance(one_dimensional, bool):
                raise TypeError("one_dimensional must be true or false")
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise ProtocolError(f"not a valid inference plan: {error}") from None
        expected = PackingPlan.for_model(packing.n_features, packing.n_outputs, packing.slot_count)
        if packing != expected or packing.slot_count != parameters.poly_modulus_degree // 2:
            raise ProtocolError("the plan's layout is inconsistent with its sizes; re-export it from the server")
        return cls(parameters, packing, one_dimensional)

    def describe(self) -> str:
        ctx_bits = [q.bit_length() for q in self.parameters.primes]
        return (
            f"CKKS N = {self.parameters.poly_modulus_degree}, primes {ctx_bits} bits, "
            f"scale 2^{math.log2(self.parameters.scale):.0f}\n" + self.packing.describe()
        )


def _pack(magic: bytes, plan: InferencePlan, flags: int, inputs: int, groups: list[list[bytes]]) -> bytes:
    chunks = len(groups[0]) if groups else 0
    parts = [_ENVELOPE.pack(magic, PROTOCOL_VERSION, flags, 0, plan.fingerprint, inputs, len(groups), chunks)]
    for group in groups:
        for blob in group:
            parts.append(struct.pack("<Q", len(blob)) + blob)
    return b"".join(parts)


def _unpack(data: object, magic: bytes, plan: InferencePlan, what: str) -> tuple[int, int, list[list[bytes]]]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"the {what} must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _ENVELOPE.size:
        raise ProtocolError(f"the {what} is {len(data)} bytes, shorter than its {_ENVELOPE.size}-byte header")
    got_magic, version, flags, _, fingerprint, inputs, groups, chunks = _ENVELOPE.unpack_from(data)
    if got_magic != magic:
        raise ProtocolError(f"not a heedu {what}: magic {got_magic!r}, expected {magic!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"{what} has protocol version {version}; this heedu speaks {PROTOCOL_VERSION}")
    if flags & ~FLAG_SINGLE_INPUT or (flags & FLAG_SINGLE_INPUT and inputs != 1):
        raise ProtocolError(f"the {what} has flags 0x{flags:02x} inconsistent with its {inputs} input(s)")
    if fingerprint != plan.fingerprint:
        raise ProtocolError(f"the {what} was made for another model or parameter set (plan fingerprint differs)")
    packing = plan.packing
    if not 0 < inputs <= MAX_INPUTS or groups != math.ceil(inputs / packing.inputs_per_ciphertext):
        raise ProtocolError(f"the {what} declares {inputs} inputs in {groups} ciphertext groups: inconsistent")
    if chunks != (packing.feature_chunks if magic == QUERY_MAGIC else 1):
        raise ProtocolError(f"the {what} has {chunks} ciphertexts per group, expected {packing.feature_chunks}")
    offset, out = _ENVELOPE.size, []
    for _ in range(groups):
        group = []
        for _ in range(chunks):
            if offset + 8 > len(data):
                raise ProtocolError(f"the {what} is truncated")
            (length,) = struct.unpack_from("<Q", data, offset)
            if length > MAX_OBJECT_BYTES or offset + 8 + length > len(data):
                raise ProtocolError(f"the {what} declares a {length}-byte ciphertext beyond its end or size limit")
            group.append(data[offset + 8 : offset + 8 + length])
            offset += 8 + length
        out.append(group)
    if offset != len(data):
        raise ProtocolError(f"{len(data) - offset} unexpected bytes after the {what}")
    return flags, inputs, out


def _check_levels(context: CKKSContext) -> None:
    if context.max_level < 1:
        raise ParameterError("the packed protocol rescales once: it needs at least two data primes, e.g. [60, 40, 60]")


class EncryptedLinearModel:
    r"""The server: a linear model, planned and encoded once, that answers encrypted queries.

    Parameters
    ----------
    model : LinearModel
    parameters : CKKSParameters, optional
        Defaults to the tutorial's N = 8192, [60, 40, 40, 60], 2^40.
    allow_unmasked_answer : bool
        With only two data primes there is no level left to mask the answer, and its
        non-score slots would reveal partial sums of the weights. Refused unless set.
    """

    def __init__(
        self, model: LinearModel, parameters: CKKSParameters | None = None, allow_unmasked_answer: bool = False
    ) -> None:
        if not isinstance(model, LinearModel):
            raise TypeError(f"expected a LinearModel (or use from_sklearn), got {type(model).__name__}")
        self.model = model
        self.context = CKKSContext(parameters if parameters is not None else CKKSParameters.tutorial())
        _check_levels(self.context)
        self.masked = self.context.max_level >= 2
        if not self.masked and not allow_unmasked_answer:
            raise ParameterError(
                "masking the answer to the score slots needs a third data prime (e.g. [60, 40, 40, 60]); "
                "without it the answer reveals partial sums of the weights. Add a prime, or pass "
                "allow_unmasked_answer=True if the model is not secret."
            )
        packing = PackingPlan.for_model(model.n_features, model.n_outputs, self.context.slot_count)
        self.plan = InferencePlan(self.context.parameters, packing, model.one_dimensional)
        self._evaluator = Evaluator(self.context)
        encoder = CKKSEncoder(self.context)
        top = self.context.max_level
        diagonals = packing.diagonal_slots(model.weights)
        self._diagonals: list[list[list[Plaintext | None]]] = [
            [
                [
                    encoder.encode(diagonals[c, a, b], level=top) if np.any(diagonals[c, a, b]) else None
                    for b in range(packing.baby_step)
                ]
                for a in range(packing.giant_steps)
            ]
            for c in range(packing.feature_chunks)
        ]
        for plain in (p for chunk in self._diagonals for group in chunk for p in group if p is not None):
            plain.shoup(self.context.ring(top).q)  # precompute once: every query multiplies by these
        rescaled = self.context.scale * self.context.scale / self.context.coeff_modulus[top]
        self._bias = encoder.encode(packing.bias_slots(model.bias), scale=rescaled, level=top - 1)
        # The mask's scale is the prime the next rescale divides by, so the answer keeps the scale `rescaled`.
        self._mask = None
        if self.masked:
            score_slots = packing.bias_slots(np.ones(model.n_outputs))
            self._mask = encoder.encode(score_slots, scale=self.context.coeff_modulus[top - 1], level=top - 1)
        self._key_cache: dict[bytes, GaloisKeys] = {}

    @classmethod
    def from_sklearn(cls, estimator: object, parameters: CKKSParameters | None = None) -> EncryptedLinearModel:
        """Plan and encode any fitted scikit-learn linear model."""
        return cls(LinearModel.from_sklearn(estimator), parameters)

    def __repr__(self) -> str:
        return f"EncryptedLinearModel({self.model.n_outputs} x {self.model.n_features}, {self.context!r})"

    def load_keys(self, keys: bytes) -> GaloisKeys:
        """Parse (and cache, by hash) a client's Galois keys; checks that every needed rotation is there."""
        if not isinstance(keys, (bytes, bytearray, memoryview)):
            raise ProtocolError(f"keys must be bytes, got {type(keys).__name__}")
        digest = hashlib.blake2b(bytes(keys), digest_size=32).digest()
        if digest in self._key_cache:
            return self._key_cache[digest]
        galois = loads(bytes(keys), self.context)
        if not isinstance(galois, GaloisKeys):
            raise ProtocolError(f"the key bundle holds a {type(galois).__name__}, expected GaloisKeys")
        for step, level in self.plan.packing.steps_by_level(self.context.max_level).items():
            galois.key_for(galois.galois_elt_of(step), f"a rotation by {step} step(s)")
            if galois.keys[galois.galois_elt_of(step)].level < level:
                raise ProtocolError(f"the key for rotation {step} is trimmed below level {level}, where it is needed")
        while len(self._key_cache) >= KEY_CACHE_ENTRIES:
            self._key_cache.pop(next(iter(self._key_cache)))
        self._key_cache[digest] = galois
        return galois

    def _answer_group(self, group: list[Ciphertext], keys: GaloisKeys) -> Ciphertext:
        ev, packing = self._evaluator, self.plan.packing
        parts: list[Ciphertext | None] = [None] * packing.giant_steps
        for chunk, ct in enumerate(group):
            babies = [ct, *ev.rotate_vector_hoisted(ct, packing.baby_rotations, keys)]
            for a in range(packing.giant_steps):
                for b, baby in enumerate(babies):
                    diagonal = self._diagonals[chunk][a][b] if b < packing.baby_step else None
                    if diagonal is None:
                        continue
                    term = ev.multiply_plain(baby, diagonal)
                    parts[a] = term if parts[a] is None else ev.add(parts[a], term)
        total = None
        for a, part in enumerate(parts):
            if part is None:
                continue
            part = ev.rescale_to_next(part)
            if a:
                part = ev.rotate_vector(part, packing.baby_step * a, keys)
            total = part if total is None else ev.add(total, part)
        if total is None:  # an all-zero model: every score is the bias
            raise ProtocolError("the model's weights are all zero; its scores do not depend on the input")
        for step in packing.fold_rotations:
            total = ev.add(total, ev.rotate_vector(total, step, keys))
        total = ev.add_plain(total, self._bias)
        if self._mask is not None:
            total = ev.rescale_to_next(ev.multiply_plain(total, self._mask))
        return ev.mod_switch_to(total, 0)

    def predict(self, query: bytes, keys: bytes) -> bytes:
        """Answer an encrypted query: one ciphertext per group of inputs that fit in the slots."""
        plan, ctx = self.plan, self.context
        flags, inputs, groups = _unpack(query, QUERY_MAGIC, plan, "query")
        galois = self.load_keys(keys)
        answers = []
        for group in groups:
            cts = []
            for blob in group:
                try:
                    ct = loads(blob, ctx)
                except SerializationError as error:
                    raise ProtocolError(f"a query ciphertext is malformed: {error}") from None
                if not isinstance(ct, Ciphertext) or ct.size != 2 or ct.level != ctx.max_level:
                    raise ProtocolError("query ciphertexts must be fresh size-2 ciphertexts at the top level")
                if not math.isclose(ct.scale, ctx.scale, rel_tol=1e-12):
                    raise ProtocolError(f"query ciphertexts must have the plan's scale 2^{math.log2(ctx.scale):.0f}")
                cts.append(ct)
            answers.append([dumps(self._answer_group(cts, galois), ctx)])
        return _pack(ANSWER_MAGIC, plan, flags, inputs, answers)


class InferenceClient:
    r"""The client: keys for exactly the plan's rotations, encryption of inputs, decryption of answers.

    Parameters
    ----------
    plan : InferencePlan
        The server's public plan (``server.plan``, or ``InferencePlan.from_json``).
    secret_key : SecretKey, optional
        Reuse a secret key; a fresh one is generated otherwise.
    random_source : RandomSource, optional
        Defaults to a fresh CSPRNG-backed source.
    """

    def __init__(
        self, plan: InferencePlan, secret_key: SecretKey | None = None, random_source: RandomSource | None = None
    ) -> None:
        if not isinstance(plan, InferencePlan):
            raise TypeError(f"expected an InferencePlan, got {type(plan).__name__}")
        self.plan = plan
        self.context = CKKSContext(plan.parameters)
        _check_levels(self.context)
        self._keygen = KeyGenerator(self.context, secret_key=secret_key, random_source=random_source)
        self._encryptor = Encryptor(self.context, secret_key=self._keygen.secret_key(), random_source=random_source)
        self._decryptor = Decryptor(self.context, self._keygen.secret_key())
        self._encoder = CKKSEncoder(self.context)

    def __repr__(self) -> str:
        return f"InferenceClient({self.plan.packing.n_outputs} x {self.plan.packing.n_features}, <secret key hidden>)"

    def public_keys(self) -> bytes:
        """The Galois keys the plan needs, each trimmed to its level (seeded: about half size). Send once."""
        packing = self.plan.packing
        levels = packing.steps_by_level(self.context.max_level)
        galois = self._keygen.galois_keys(steps=list(levels))
        return dumps(galois.trimmed(levels), self.context)

    def encrypt(self, x: object) -> bytes:
        """Encrypt one input ``(n_features,)`` or a batch ``(n, n_features)`` into a query."""
        packing = self.plan.packing
        batch = LinearModel(np.zeros((1, packing.n_features)), np.zeros(1)).check_inputs(x)
        single = np.asarray(x).ndim == 1
        groups = []
        for slots in packing.input_slots(batch):
            groups.append(
                [dumps(self._encryptor.encrypt_symmetric(self._encoder.encode(chunk)), self.context) for chunk in slots]
            )
        return _pack(QUERY_MAGIC, self.plan, FLAG_SINGLE_INPUT if single else 0, batch.shape[0], groups)

    def decrypt(self, answer: bytes) -> np.ndarray:
        """Scores shaped like the model's ``decision_function`` on the encrypted input."""
        flags, inputs, groups = _unpack(answer, ANSWER_MAGIC, self.plan, "answer")
        ctx = self.context
        expected_scale = ctx.scale * ctx.scale / ctx.coeff_modulus[ctx.max_level]
        slots = []
        for (blob,) in groups:
            try:
                ct = loads(blob, ctx)
            except SerializationError as error:
                raise ProtocolError(f"an answer ciphertext is malformed: {error}") from None
            if not isinstance(ct, Ciphertext) or ct.size != 2 or ct.level != 0:
                raise ProtocolError("an answer must hold size-2 ciphertexts at level 0")
            if not math.isclose(ct.scale, expected_scale, rel_tol=1e-9):
                raise ProtocolError(f"an answer ciphertext has scale {ct.scale!r}, expected {expected_scale!r}")
            slots.append(self._encoder.decode(self._decryptor.decrypt(ct)))
        scores = self.plan.packing.read_scores(np.array(slots), inputs)
        if self.plan.one_dimensional:
            scores = scores[:, 0]
        return scores[0] if flags & FLAG_SINGLE_INPUT else scores
