r"""heedu's slot protocol: features in CKKS slots, summed with rotations; all scores of a batch in one ciphertext.

The default protocol is :mod:`heedu.inference.coefficients` (no evaluation keys, 30-100x faster for a
linear layer); this one is kept because its answer is a CKKS ciphertext in slots, which a following
encrypted layer could compute on, and because it teaches rotations. Choose it with
``EncryptedLinearModel.from_sklearn(model, encoding="slots")``.

The server (:class:`SlotLinearModel`) is built once from a linear model: it
plans the slot layout (:mod:`heedu.inference.packing`) and encodes every
pre-rotated diagonal and the bias. The client (:class:`SlotClient`) gets
only the public :class:`SlotPlan` (parameters, layout, input bound), makes
its keys (a public key and only the Galois keys the plan needs, each trimmed to
the level it is used at) and encrypts inputs with its secret key (seeded, so
half size).

Per group of inputs that fit in one ciphertext, the server runs:

1. hoisted baby-step rotations of the input (one key-switch decomposition);
2. products with the pre-rotated diagonals, summed per giant-step group;
3. a rescale of each group (level :math:`L \to L-1`), the giant-step rotations, the sum;
4. the folding ladder over each input's whole cycle, and the bias: now *every*
   slot holds a whole score, never a partial sum of :math:`W`;
5. a switch to level 0 and **re-randomization**: the sum with a fresh encryption
   of zero under the client's public key. Without it the answer's :math:`c_1` is a
   deterministic function of the client's own :math:`c_1`, its keys and the
   model's diagonals, which the client could solve for; with it :math:`c_1` is a
   fresh RLWE sample.

What the client learns is the scores, and the rounding noise of the computation
(at about :math:`2^{-30}` of a score, not flooded: these parameters leave no room
for statistical flooding; see the course's security chapter).

Messages are bytes with a small header: magic, version, the plan's fingerprint
(so a query for another model or parameter set is refused), the key id (so a
query or answer used with another client's keys is refused instead of decrypting
to garbage), counts, then length-prefixed heedu objects (``heedu.serialization``).
Every count and length is bounded before anything is read.

Examples
--------
>>> import numpy as np, heedu
>>> from heedu.inference import EncryptedLinearModel, InferenceClient, LinearModel
>>> params = heedu.CKKSParameters(poly_modulus_degree=64, coeff_modulus_bits=[50, 40, 40, 50],
...                               scale=2.0**40, allow_insecure=True)
>>> model = LinearModel(np.array([[1.0, 2.0], [3.0, -1.0]]), np.zeros(2))
>>> server = EncryptedLinearModel.from_sklearn(model, params, encoding="slots")
>>> client = InferenceClient(server.plan)  # a SlotClient, for the slot plan
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
from typing import NoReturn

import numpy as np

from ..ciphertext import Ciphertext
from ..encoder import CKKSEncoder
from ..encryption import Decryptor, Encryptor
from ..errors import ParameterError, SecurityError, SerializationError
from ..evaluator import Evaluator
from ..keys import GaloisKeys, KeyGenerator, PublicKey, SecretKey, refuse_to_pickle
from ..params import CKKSContext, CKKSParameters, parameters_from_peer
from ..plaintext import Plaintext
from ..sampling import RandomSource
from ..serialization import dumps, loads
from .cache import ByteBoundedCache
from .envelope import (
    FLAG_SINGLE_INPUT,
    HEADER,
    KEYS_HEADER,
    Envelope,
    ProtocolError,
    check_key_header,
    derived_public_key,
    key_bundle_header,
    key_id_of,
    read_envelope,
)
from .model import LinearModel
from .packing import PackingPlan

PROTOCOL = "slots"
QUERY_MAGIC, ANSWER_MAGIC, KEYS_MAGIC = b"HEIQ", b"HEIA", b"HEIK"
PROTOCOL_VERSION = 2
MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_PLAN_CHARS = 64 * 1024
#: Parsed key bundles kept for returning clients (about 6 MB each at the tutorial's parameters).
KEY_CACHE_BYTES = 64 * 1024 * 1024
#: Scores must stay below this fraction of what the answer's modulus can hold (headroom for noise).
SCORE_HEADROOM = 1 / 8


@dataclass(frozen=True)
class SlotPlan:
    """The public part of a served model: CKKS parameters, slot layout and input bound. Safe to publish.

    ``input_bound`` is the largest :math:`|x_i|` the server's parameters hold without any score
    wrapping around the modulus; clients refuse larger inputs.
    """

    parameters: CKKSParameters
    packing: PackingPlan
    one_dimensional: bool = False  # the model returns (n,) scores, as a binary classifier does
    input_bound: float = 1.0

    encoding = PROTOCOL

    @property
    def fingerprint(self) -> bytes:
        """16 bytes naming this plan; queries, answers and key bundles carry it."""
        return hashlib.blake2b(self.to_json().encode(), digest_size=16).digest()

    def to_json(self) -> str:
        """The plan as JSON. The local ``allow_insecure`` opt-in is not part of it: it is never a peer's to give."""
        p = self.parameters
        return json.dumps(
            {
                "protocol": PROTOCOL_VERSION,
                "encoding": PROTOCOL,
                "poly_modulus_degree": p.poly_modulus_degree,
                "coeff_modulus": list(p.primes),
                "scale": p.scale,
                "packing": asdict(self.packing),
                "one_dimensional": self.one_dimensional,
                "input_bound": self.input_bound,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, allow_insecure: bool = False) -> SlotPlan:
        """Read a plan received from a server, checking it before anything is allocated.

        Parameters
        ----------
        text : str
            The server's ``plan.to_json()``.
        allow_insecure : bool
            Accept parameters below 128-bit security. Only *you* can say so: a field of the
            plan cannot (a fake service serving a toy ring would recover your secret key
            from the keys you upload).

        Raises
        ------
        ProtocolError
            Not a plan of this protocol version, or inconsistent.
        SecurityError
            Parameters below the HE standard's 128-bit table, without ``allow_insecure=True``.
        """
        if not isinstance(text, str) or len(text) > MAX_PLAN_CHARS:
            raise ProtocolError(f"a plan must be a JSON string of at most {MAX_PLAN_CHARS} characters")
        try:
            data = json.loads(text)
            if data.get("encoding", PROTOCOL) != PROTOCOL or data["protocol"] != PROTOCOL_VERSION:
                raise ValueError(f"protocol version {data['protocol']!r}, this heedu speaks {PROTOCOL_VERSION}")
            parameters = parameters_from_peer(
                data["poly_modulus_degree"], data["coeff_modulus"], data["scale"], allow_insecure=allow_insecure
            )
            fields = data["packing"]
            if not isinstance(fields, dict) or not all(isinstance(v, int) for v in fields.values()):
                raise TypeError("the packing must map names to integers")
            packing = PackingPlan(**fields)
            one_dimensional, input_bound = data["one_dimensional"], data["input_bound"]
            if not isinstance(one_dimensional, bool):
                raise TypeError("one_dimensional must be true or false")
            if not isinstance(input_bound, (int, float)) or not (0 < input_bound < math.inf):
                raise ValueError(f"input_bound must be a positive finite number, got {input_bound!r}")
        except SecurityError:
            raise  # the one refusal a caller must see as itself: it says how to opt in locally
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as error:
            raise ProtocolError(f"not a valid inference plan: {error}") from None
        expected = PackingPlan.for_model(packing.n_features, packing.n_outputs, packing.slot_count)
        if packing != expected or packing.slot_count != parameters.poly_modulus_degree // 2:
            raise ProtocolError("the plan's layout is inconsistent with its sizes; re-export it from the server")
        plan = cls(parameters, packing, one_dimensional, float(input_bound))
        if plan.key_bytes > MAX_OBJECT_BYTES:
            raise ProtocolError(
                f"the plan asks for about {plan.key_bytes / 2**20:.0f} MiB of keys; at most "
                f"{MAX_OBJECT_BYTES / 2**20:.0f} MiB are exchanged"
            )
        return plan

    @property
    def score_limit(self) -> float:
        """The largest |score| an answer holds reliably (``SCORE_HEADROOM`` of what its modulus can hold)."""
        primes = self.parameters.data_primes
        answer_scale = self.parameters.scale**2 / primes[-1]
        return primes[0] / (2 * answer_scale) * SCORE_HEADROOM

    @property
    def key_bytes(self) -> int:
        """About how many bytes the client's key bundle takes (seeded public key and trimmed Galois keys)."""
        n, data_primes = self.parameters.poly_modulus_degree, len(self.parameters.primes) - 1
        total = 8 * n * (data_primes + 1) + 32  # the public key's b, over every prime, and a seed
        for level in self.packing.steps_by_level(data_primes - 1).values():
            total += (level + 1) * (8 * n * (level + 2) + 32)  # one component per data prime up to the level
        return total

    def describe(self) -> str:
        ctx_bits = [q.bit_length() for q in self.parameters.primes]
        return (
            f"CKKS N = {self.parameters.poly_modulus_degree}, primes {ctx_bits} bits, "
            f"scale 2^{math.log2(self.parameters.scale):.0f}, inputs |x| <= {self.input_bound:g}\n"
            + self.packing.describe()
        )


def _pack(
    magic: bytes, plan: SlotPlan, key_id: bytes, flags: int, inputs: int, groups: list[list[bytes]]
) -> bytes:
    chunks = len(groups[0]) if groups else 0
    header = Envelope(magic, PROTOCOL_VERSION, flags, plan.fingerprint, key_id, inputs, len(groups), chunks)
    parts = [header.to_bytes()]
    for group in groups:
        for blob in group:
            parts.append(struct.pack("<Q", len(blob)) + blob)
    return b"".join(parts)


def _length_prefixed(data: bytes, offset: int, what: str) -> tuple[bytes, int]:
    """The blob at ``offset`` (a u64 length, then that many bytes) and the offset after it."""
    if offset + 8 > len(data):
        raise ProtocolError(f"the {what} is truncated")
    (length,) = struct.unpack_from("<Q", data, offset)
    if length > MAX_OBJECT_BYTES or offset + 8 + length > len(data):
        raise ProtocolError(f"the {what} declares a {length}-byte object beyond its end or size limit")
    return data[offset + 8 : offset + 8 + length], offset + 8 + length


def _unpack(data: object, magic: bytes, plan: SlotPlan, what: str) -> tuple[int, bytes, int, list[list[bytes]]]:
    """``(flags, key id, inputs, groups of blobs)`` of a query or answer, every field checked."""
    envelope = read_envelope(data, magic, PROTOCOL_VERSION, plan.fingerprint, what)
    data = bytes(data)  # type: ignore[arg-type]
    flags, key_id, inputs, groups, chunks = (
        envelope.flags, envelope.key_id, envelope.inputs, envelope.groups, envelope.per_group
    )
    packing = plan.packing
    if groups != math.ceil(inputs / packing.inputs_per_ciphertext):
        raise ProtocolError(f"the {what} declares {inputs} inputs in {groups} ciphertext groups: inconsistent")
    if chunks != (packing.feature_chunks if magic == QUERY_MAGIC else 1):
        raise ProtocolError(f"the {what} has {chunks} ciphertexts per group, expected {packing.feature_chunks}")
    offset, out = HEADER.size, []
    for _ in range(groups):
        group = []
        for _ in range(chunks):
            blob, offset = _length_prefixed(data, offset, what)
            group.append(blob)
        out.append(group)
    if offset != len(data):
        raise ProtocolError(f"{len(data) - offset} unexpected bytes after the {what}")
    return flags, key_id, inputs, out


def _packed_context(parameters: CKKSParameters) -> CKKSContext:
    """The context of ``parameters``, which the slot protocol can run on: it rescales once."""
    context = CKKSContext(parameters)
    if context.max_level < 1:
        raise ParameterError("the slot protocol rescales once: it needs at least two data primes, e.g. [60, 40, 60]")
    return context


def _answer_scale(context: CKKSContext) -> float:
    """The scale of an answer: :math:`\\Delta^2 / q_L` after the one rescale."""
    return context.scale * context.scale / context.data_primes[context.max_level]


def largest_input_bound(model: LinearModel, context: CKKSContext) -> float:
    r"""The largest :math:`\max|x_i|` for which no score can wrap around the answer's modulus.

    A score is at most :math:`\|W_j\|_1 \max|x_i| + |b_j|`; at level 0 and the answer's scale
    :math:`\Delta'` it must stay within :math:`q_0 / (2\Delta')`, with ``SCORE_HEADROOM`` of it
    kept free for the noise.
    """
    capacity = context.data_primes[0] / (2 * _answer_scale(context)) * SCORE_HEADROOM
    row_norm = float(np.abs(model.weights).sum(axis=1).max())
    room = capacity - float(np.abs(model.bias).max())
    if room <= 0 or row_norm == 0:
        raise ParameterError(
            f"the model's scores do not fit the answer's modulus (at most {capacity:.3g} at this scale); "
            "choose a larger first prime or a smaller scale"
        )
    return room / row_norm


class SlotLinearModel:
    r"""The server: a linear model, planned and encoded once, that answers encrypted queries.

    Parameters
    ----------
    model : LinearModel
    parameters : CKKSParameters, optional
        Defaults to the tutorial's N = 8192, [60, 40, 40, 60], 2^40.
    input_bound : float, optional
        The largest :math:`|x_i|` clients may encrypt (published in the plan; honest clients
        refuse larger inputs). Defaults to the largest power of two within what the parameters
        hold (:func:`largest_input_bound`): a power of two, so that the public plan reveals only
        the order of magnitude of the weights' row norms.

    Raises
    ------
    ParameterError
        Fewer than two data primes, a model whose scores cannot fit, or an ``input_bound``
        beyond what the parameters hold.
    SecurityError
        Parameters below 128-bit security without ``allow_insecure=True``.
    """

    def __init__(
        self, model: LinearModel, parameters: CKKSParameters | None = None, input_bound: float | None = None
    ) -> None:
        if not isinstance(model, LinearModel):
            raise TypeError(f"expected a LinearModel (or use from_sklearn), got {type(model).__name__}")
        self.model = model
        self.context = _packed_context(parameters if parameters is not None else CKKSParameters.tutorial())
        if not np.any(model.weights):
            raise ParameterError("the model's weights are all zero; its scores do not depend on the input")
        largest = largest_input_bound(model, self.context)
        if input_bound is None:
            input_bound = 2.0 ** math.floor(math.log2(largest))
        elif not isinstance(input_bound, (int, float)) or not 0 < input_bound <= largest:
            raise ParameterError(
                f"input_bound must be a number in (0, {largest:.4g}]: beyond it scores could wrap around the "
                f"modulus; got {input_bound!r}"
            )
        packing = PackingPlan.for_model(model.n_features, model.n_outputs, self.context.slot_count)
        self.plan = SlotPlan(self.context.parameters, packing, model.one_dimensional, float(input_bound))
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
        self._bias = encoder.encode(packing.bias_slots(model.bias), scale=_answer_scale(self.context), level=top - 1)
        zeros = np.zeros((1, self.context.poly_modulus_degree), dtype=np.uint64)
        self._zero = Plaintext(zeros, 0, _answer_scale(self.context))
        self._key_cache: ByteBoundedCache[bytes, tuple[PublicKey, GaloisKeys, bytes]] = ByteBoundedCache(
            KEY_CACHE_BYTES
        )
        # Tests switch this off to show what re-randomization protects; a real server never does.
        self._rerandomize = True

    @classmethod
    def from_sklearn(
        cls, estimator: object, parameters: CKKSParameters | None = None, input_bound: float | None = None
    ) -> SlotLinearModel:
        """Plan and encode any fitted scikit-learn linear model."""
        return cls(LinearModel.from_sklearn(estimator), parameters, input_bound)

    def __repr__(self) -> str:
        return f"SlotLinearModel({self.model.n_outputs} x {self.model.n_features}, {self.context!r})"

    def load_keys(self, keys: bytes) -> tuple[PublicKey, GaloisKeys, bytes]:
        """Parse (and cache, by hash) a client's key bundle: ``(public key, Galois keys, key id)``.

        Checks that every rotation the plan needs is there, at its level.

        Raises
        ------
        ProtocolError
            Not a key bundle of this plan, malformed, or missing a rotation the plan needs.
        MissingKeyError
            A Galois key the plan needs is absent.
        """
        if not isinstance(keys, (bytes, bytearray, memoryview)):
            raise ProtocolError(f"keys must be bytes, got {type(keys).__name__}")
        keys = bytes(keys)
        digest = hashlib.blake2b(keys, digest_size=32).digest()
        cached = self._key_cache.get(digest)
        if cached is not None:
            return cached
        check_key_header(keys, KEYS_MAGIC, PROTOCOL_VERSION, self.plan.fingerprint)
        public_blob, offset = _length_prefixed(keys, KEYS_HEADER.size, "key bundle")
        galois_blob, offset = _length_prefixed(keys, offset, "key bundle")
        if offset != len(keys):
            raise ProtocolError(f"{len(keys) - offset} unexpected bytes after the key bundle")
        try:
            public_key, galois = loads(public_blob, self.context), loads(galois_blob, self.context)
        except (SerializationError, SecurityError) as error:
            raise ProtocolError(f"the key bundle is malformed: {error}") from None
        if not isinstance(public_key, PublicKey) or not isinstance(galois, GaloisKeys):
            raise ProtocolError("a key bundle holds a public key and then Galois keys")
        for step, level in self.plan.packing.steps_by_level(self.context.max_level).items():
            galois.key_for(galois.galois_elt_of(step), f"a rotation by {step} step(s)")
            if galois.keys[galois.galois_elt_of(step)].level < level:
                raise ProtocolError(f"the key for rotation {step} is trimmed below level {level}, where it is needed")
        parsed = (public_key, galois, key_id_of(public_blob))
        self._key_cache.put(digest, parsed)
        return parsed

    def _answer_group(self, group: list[Ciphertext], keys: GaloisKeys, public_key: PublicKey) -> Ciphertext:
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
                part = ev.rotate_vector(part, packing.giant_rotations[a - 1], keys)
            total = part if total is None else ev.add(total, part)
        assert total is not None  # the constructor refuses all-zero weights
        for step in packing.fold_rotations:
            total = ev.add(total, ev.rotate_vector(total, step, keys))
        total = ev.mod_switch_to(ev.add_plain(total, self._bias), 0)
        if self._rerandomize:
            total = ev.add(total, Encryptor(self.context, public_key).encrypt(self._zero))
        return total

    def predict(self, query: bytes, keys: bytes) -> bytes:
        """Answer an encrypted query: one ciphertext per group of inputs that fit in the slots.

        Raises
        ------
        ProtocolError
            The query or the keys are malformed, belong to another plan, or the query was
            encrypted under other keys than ``keys`` (its key id differs).
        """
        plan, ctx = self.plan, self.context
        flags, key_id, inputs, groups = _unpack(query, QUERY_MAGIC, plan, "query")
        public_key, galois, bundle_id = self.load_keys(keys)
        if key_id != bundle_id:
            raise ProtocolError(
                "the query was encrypted by another client than the one whose keys came with it (key id differs): "
                "send the public keys of the client that made the query"
            )
        answers = []
        for group in groups:
            cts = []
            for blob in group:
                try:
                    ct = loads(blob, ctx)
                except (SerializationError, SecurityError) as error:  # e.g. parameters where a ciphertext belongs
                    raise ProtocolError(f"a query ciphertext is malformed: {error}") from None
                if not isinstance(ct, Ciphertext) or ct.size != 2 or ct.level != ctx.max_level:
                    raise ProtocolError("query ciphertexts must be fresh size-2 ciphertexts at the top level")
                if not math.isclose(ct.scale, ctx.scale, rel_tol=1e-12):
                    raise ProtocolError(f"query ciphertexts must have the plan's scale 2^{math.log2(ctx.scale):.0f}")
                cts.append(ct)
            answers.append([dumps(self._answer_group(cts, galois, public_key), ctx)])
        return _pack(ANSWER_MAGIC, plan, key_id, flags, inputs, answers)


class SlotClient:
    r"""The client: keys for exactly the plan's rotations, encryption of inputs, decryption of answers.

    Parameters
    ----------
    plan : SlotPlan
        The server's public plan (``server.plan``, or ``SlotPlan.from_json``).
    secret_key : SecretKey, optional
        Reuse a secret key; a fresh one is generated otherwise.
    random_source : RandomSource, optional
        Defaults to the OS CSPRNG.

    Raises
    ------
    SecurityError
        The plan's parameters are below 128-bit security and nobody opted in locally
        (``SlotPlan.from_json(text, allow_insecure=True)``).
    """

    def __init__(
        self, plan: SlotPlan, secret_key: SecretKey | None = None, random_source: RandomSource | None = None
    ) -> None:
        if not isinstance(plan, SlotPlan):
            raise TypeError(f"expected an SlotPlan, got {type(plan).__name__}")
        self.plan, self.context = plan, _packed_context(plan.parameters)
        self._keygen = KeyGenerator(self.context, secret_key=secret_key, random_source=random_source)
        self._encryptor = Encryptor(self.context, secret_key=self._keygen.secret_key(), random_source=random_source)
        self._decryptor = Decryptor(self.context, self._keygen.secret_key())
        self._encoder = CKKSEncoder(self.context)
        # A function of the secret key, so a client restored from its key file keeps its key id.
        label = b"heedu native protocol: public key from the secret key"
        self._public_key = dumps(derived_public_key(self.context, self._keygen.secret_key(), label), self.context)
        self._keys: bytes | None = None

    def __repr__(self) -> str:
        return f"SlotClient({self.plan.packing.n_outputs} x {self.plan.packing.n_features}, <secret key hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)

    def public_keys(self) -> bytes:
        """The key bundle for the server, made once: the public key (the server re-randomizes answers
        with it) and the Galois keys the plan needs, each trimmed to its level. Send it once."""
        if self._keys is None:
            packing = self.plan.packing
            levels = packing.steps_by_level(self.context.max_level)
            galois = self._keygen.galois_keys(steps=list(levels)).trimmed(levels)
            header = key_bundle_header(KEYS_MAGIC, PROTOCOL_VERSION, self.plan.fingerprint)
            blobs = [self._public_key, dumps(galois, self.context)]
            self._keys = header + b"".join(struct.pack("<Q", len(blob)) + blob for blob in blobs)
        return self._keys

    @property
    def key_id(self) -> bytes:
        """The 16-byte id of this client's public key; its queries and answers carry it."""
        return key_id_of(self._public_key)

    def encrypt(self, x: object) -> bytes:
        """Encrypt one input ``(n_features,)`` or a batch ``(n, n_features)`` into a query.

        Raises
        ------
        ShapeError
            Not a finite real vector or matrix with the plan's number of features.
        ProtocolError
            An input beyond the plan's ``input_bound`` (its scores could wrap around the modulus).
        """
        packing = self.plan.packing
        batch = LinearModel(np.zeros((1, packing.n_features)), np.zeros(1)).check_inputs(x)
        largest = float(np.abs(batch).max())
        if largest > self.plan.input_bound:
            raise ProtocolError(
                f"an input has |x| = {largest:.4g}, beyond the plan's bound {self.plan.input_bound:.4g}: its "
                "scores could wrap around the modulus. Scale your inputs as the model was trained."
            )
        single = np.asarray(x).ndim == 1
        groups = []
        for slots in packing.input_slots(batch):
            groups.append(
                [dumps(self._encryptor.encrypt_symmetric(self._encoder.encode(chunk)), self.context) for chunk in slots]
            )
        flags = FLAG_SINGLE_INPUT if single else 0
        return _pack(QUERY_MAGIC, self.plan, self.key_id, flags, batch.shape[0], groups)

    def decrypt(self, answer: bytes) -> np.ndarray:
        """Scores shaped like the model's ``decision_function`` on the encrypted input.

        Raises
        ------
        ProtocolError
            Not an answer of this plan, or an answer for another client's keys.
        """
        flags, key_id, inputs, groups = _unpack(answer, ANSWER_MAGIC, self.plan, "answer")
        if key_id != self.key_id:
            raise ProtocolError(
                "this answer was computed for another client's keys (key id differs): decrypt it with the "
                "client that made the query"
            )
        ctx = self.context
        expected_scale = _answer_scale(ctx)
        slots = []
        for (blob,) in groups:
            try:
                ct = loads(blob, ctx)
            except (SerializationError, SecurityError) as error:
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
