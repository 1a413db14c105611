r"""heedu's default encrypted-inference protocol: features in coefficients, no evaluation keys.

The client encrypts its features as the *coefficients* of polynomials
(:mod:`heedu.coefficient_encoder`), laid out so that one ciphertext-plaintext
product computes a whole block of :math:`Wx`
(:mod:`heedu.inference.coefficient_layout`). The server multiplies and adds;
it never rotates, never relinearizes, and so needs no evaluation key: the only
key it receives is the client's public key (56 kB at :math:`N = 4096`, seeded),
and the parameters need no special prime (all 109 bits of the HE standard's
budget at :math:`N = 4096` hold data).

**What the server does to every answer** (the answer must reveal the scores
and nothing else about :math:`W`):

1. :math:`\hat y = \sum_c \hat x_c \hat w_c` in NTT form, modulo :math:`Q`;
2. **re-randomize**: add a fresh public-key encryption of zero. Without it
   :math:`c_1 = \sum_c a_c \hat w_c`, and the client knows every :math:`a_c` (it
   expanded them from its own seeds): :math:`C` queries give a :math:`C \times C`
   linear system at every NTT point whose solution is :math:`W`
   (``tests/test_coefficients.py`` runs that attack);
3. add the bias and **flood**: at each score coefficient a uniform integer in
   :math:`[-2^f, 2^f)` with :math:`2^f \ge 2^\kappa B`, where :math:`B` bounds the
   noise term :math:`\sum_c e_c \hat w_c` (the only part of the answer, besides
   the scores, that depends on :math:`W`): :math:`B = \lfloor 6\sigma \rfloor
   \sum_c \|\hat w_c\|_1`. The flooded answer is within statistical distance
   :math:`2^{-\kappa}` per coefficient of one computed from the scores alone:
   circuit privacy against a semi-honest client (:math:`\kappa = 40` by default);
4. switch to one prime :math:`q_0` (divide and round by the others), keep
   :math:`c_1` and only the **score coefficients** of :math:`c_0` (the others hold
   partial sums of :math:`W`: unsent, they cannot be decrypted), drop their low
   ``dropped_bits`` bits and pack them at their bit width.

**Parameters and scales.** :math:`\Delta_x` (inputs) and :math:`\Delta_w`
(weights) are powers of two with :math:`P = \Delta_x\Delta_w` as large as the
modulus allows: scores are bounded by
:math:`S = \max_j (\|W_j\|_1 \max|x| + |b_j|)`, and
:math:`2.2\,(S P + 2^f) \le Q` keeps them from wrapping. :math:`\Delta_w` balances
the rounding of the weights against the flooding. The plan states all of it,
and a declared input bound that honest clients enforce.

**Messages.** A plan fingerprint and a key id in every header
(:mod:`heedu.inference.envelope`), every count checked against the layout and
every length against the exact size the plan implies, before anything is read.

References: [Cheetah22] (the layout, extraction); [Gentry09] and [DS16]
Ducas-Stehlé, *Sanitization of FHE ciphertexts*, eprint 2016/164 (flooding);
[LM21] Li-Micciancio, eprint 2020/1533 (why decryption noise must not leak).

Examples
--------
>>> import numpy as np
>>> from heedu.inference import EncryptedLinearModel, InferenceClient, LinearModel
>>> server = EncryptedLinearModel(LinearModel(np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.5, 0.0])))
>>> client = InferenceClient(server.plan)
>>> answer = server.predict(client.encrypt(np.array([1.0, 1.0])), client.public_keys())
>>> np.round(client.decrypt(answer), 4).tolist()
[3.5, 2.0]
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn

import numpy as np

from .. import modarith
from ..coefficient_encoder import CoefficientEncoder, integers_to_rns
from ..encryption import Encryptor
from ..errors import ParameterError, SecurityError, SerializationError, ShapeError
from ..keys import KeyGenerator, PublicKey, SecretKey, refuse_to_pickle
from ..params import CKKSContext, CKKSParameters, parameters_from_peer
from ..plaintext import Plaintext
from ..sampling import NOISE_MAX_DEVIATION, RandomSource, SecureRandomSource, expand_seed
from .bitpacking import pack_bits, packed_size, unpack_bits
from .cache import ByteBoundedCache
from .coefficient_layout import DEFAULT_WEIGHT_MEMORY, OBJECTIVES, CoefficientLayout, plan_layout
from .envelope import (
    FLAG_SINGLE_INPUT,
    HEADER,
    KEYS_HEADER,
    MAX_INPUTS,
    Envelope,
    ProtocolError,
    check_key_header,
    derived_public_key,
    key_bundle_header,
    key_id_of,
    read_envelope,
)
from .model import LinearModel

PROTOCOL = "coefficients"
PROTOCOL_VERSION = 3
QUERY_MAGIC, ANSWER_MAGIC, KEYS_MAGIC = b"HECQ", b"HECA", b"HECK"
SEED_BYTES = 32
DEFAULT_FLOODING_BITS = 40
#: Every fresh noise coefficient is at most this (the sampler clips the Gaussian at 6 sigma).
NOISE_BOUND = math.floor(NOISE_MAX_DEVIATION)
#: Scores and flooding must stay below 1/2.2 of the modulus (the rest is room for noise).
SCORE_ROOM = 2.2
#: The answer's rounding (dropped bits) may add at most this standard deviation to a score.
DROPPED_BITS_STD = 2.0**-22
MAX_PLAN_CHARS = 64 * 1024
MAX_MODEL_SIZE = 1 << 24  # outputs x features
KEY_CACHE_BYTES = 16 * 2**20
#: Weight encodings kept per served model (one per layout in use).
LAYOUT_CACHE = 4
#: Query ciphertexts multiplied at once (bounds the temporary products' memory).
_SUM_CHUNK = 64


def default_parameters() -> CKKSParameters:
    """N = 4096 and two data primes of 54 and 55 bits: the HE standard's whole 128-bit budget, no special prime."""
    return CKKSParameters(poly_modulus_degree=4096, coeff_modulus_bits=(54, 55), scale=2.0**40, special_prime=False)


def score_bound(model: LinearModel, input_bound: float) -> float:
    r""":math:`S = \max_j (\|W_j\|_1 \max|x| + |b_j|)`: no score of an input within the bound exceeds it."""
    return float((np.abs(model.weights).sum(axis=1) * input_bound + np.abs(model.bias)).max())


def flooding_exponent(weight_norm: float, flooding_bits: int) -> int:
    r""":math:`f` with :math:`2^f \ge 2^\kappa B`, :math:`B = \lfloor 6\sigma \rfloor \cdot` ``weight_norm``."""
    return flooding_bits + max(0, math.ceil(math.log2(max(NOISE_BOUND * weight_norm, 1.0))))


def choose_scales(
    model: LinearModel, modulus: int, input_bound: float, flooding_bits: int
) -> tuple[float, float]:
    r"""``(input_scale, weight_scale)``: powers of two, :math:`P = \Delta_x\Delta_w` as large as the modulus allows.

    :math:`\Delta_w` balances the rounding of the weights (standard deviation about
    :math:`\sqrt{n/12}\max|x| / \Delta_w` per score) against the flooding (uniform, up to
    :math:`2^\kappa B / P`, with :math:`B` growing with :math:`\Delta_w`).

    Raises
    ------
    ParameterError
        The scores and the flooding cannot fit the modulus at any scale.
    """
    bound = score_bound(model, input_bound)
    total_l1 = float(np.abs(model.weights).sum())
    n = model.n_features
    # Scales are stored as plaintext scales, which must stay below the modulus.
    log_p = min(math.floor(math.log2(modulus / (SCORE_ROOM * bound))), modulus.bit_length() - 2)
    while log_p >= 2:
        product = 2.0**log_p
        rounding = math.sqrt(n / 12) * input_bound
        flood_per_weight_scale = 2.0**flooding_bits * NOISE_BOUND * total_l1 / math.sqrt(3)
        log_w = round(0.5 * math.log2(rounding * product / flood_per_weight_scale))
        log_w = min(max(log_w, 1), log_p - 1)
        norm = 2.0**log_w * total_l1 + 0.5 * model.weights.size
        if SCORE_ROOM * (bound * product + 2.0 ** flooding_exponent(norm, flooding_bits)) <= modulus:
            return 2.0 ** (log_p - log_w), 2.0**log_w
        log_p -= 1
    raise ParameterError(
        f"scores up to {bound:.3g} and 2^{flooding_bits} flooding do not fit a {modulus.bit_length()}-bit modulus: "
        "lower flooding_bits or input_bound, or choose parameters with more modulus (a larger N)"
    )


def _dropped_bits(answer_scale: float, poly_modulus_degree: int, answer_prime: int) -> int:
    r"""Low bits of the answer that can go: their rounding adds at most ``DROPPED_BITS_STD`` to a score.

    Dropping :math:`d` bits of :math:`c_0` and :math:`c_1` adds :math:`r_0 + r_1 s`, standard deviation
    about :math:`2^d/\sqrt{12} \cdot \sqrt{2N/3}` (a ternary :math:`s`), divided by the answer's scale.
    """
    spread = math.sqrt(2 * poly_modulus_degree / 3) / math.sqrt(12)
    room = math.floor(math.log2(answer_scale * DROPPED_BITS_STD / spread))
    return max(0, min(room, answer_prime.bit_length() - 16))


@lru_cache(maxsize=256)
def _layout(
    n_outputs: int, n_features: int, n: int, inputs: int, primes: int, objective: str, memory: int
) -> CoefficientLayout:
    return plan_layout(n_outputs, n_features, n, inputs, primes, objective, memory)


@dataclass(frozen=True)
class InferencePlan:
    r"""The public part of a served model: parameters, layout rule, scales, flooding, input bound. Safe to publish.

    The layout for a batch of :math:`K` inputs is :meth:`layout` (``K``): the planner of
    :mod:`heedu.inference.coefficient_layout` with this plan's objective and memory limit,
    computed the same way by client and server.
    """

    parameters: CKKSParameters
    n_outputs: int
    n_features: int
    input_bound: float
    input_scale: float
    weight_scale: float
    flooding_bits: int
    dropped_bits: int
    objective: str = "time"
    weight_memory: int = DEFAULT_WEIGHT_MEMORY
    one_dimensional: bool = False

    encoding = PROTOCOL

    def layout(self, inputs: int) -> CoefficientLayout:
        """The layout for a batch of ``inputs`` inputs."""
        p = self.parameters
        return _layout(
            self.n_outputs, self.n_features, p.poly_modulus_degree, inputs, len(p.primes),
            self.objective, self.weight_memory,
        )

    @property
    def product_scale(self) -> float:
        r""":math:`P = \Delta_x \Delta_w`, the scale of the scores before the switch to one prime."""
        return self.input_scale * self.weight_scale

    @property
    def answer_scale(self) -> float:
        r"""The scale of the scores in an answer: :math:`P / (q_1 \cdots q_L)`."""
        return self.product_scale / math.prod(float(q) for q in self.parameters.primes[1:])

    @property
    def answer_prime(self) -> int:
        """:math:`q_0`, the one prime an answer lives modulo."""
        return self.parameters.primes[0]

    @property
    def score_limit(self) -> float:
        r"""The largest :math:`|\text{score}|` an answer holds reliably: :math:`q_0 / (2 \cdot 2.2 \cdot \Delta')`.

        Scores of inputs within the bound stay below it; a decrypted score beyond it has likely
        wrapped around the modulus (inputs beyond the bound, or a wrong model).
        """
        return self.answer_prime / (2 * SCORE_ROOM * self.answer_scale)

    @property
    def value_bits(self) -> int:
        """Bits of each value an answer carries (residues mod :math:`q_0` without their dropped bits)."""
        return self.rounded(self.answer_prime - 1).bit_length()

    def rounded(self, value: int) -> int:
        """A residue without its ``dropped_bits`` low bits, rounded to nearest."""
        d = self.dropped_bits
        return (value + (1 << d >> 1)) >> d

    @property
    def fingerprint(self) -> bytes:
        """16 bytes naming this plan; queries, answers and key bundles carry it."""
        return hashlib.blake2b(self.to_json().encode(), digest_size=16).digest()

    # ------------------------------------------------------------------ sizes
    @property
    def public_key_bytes(self) -> int:
        """The packed public key: :math:`b` at each prime's bit width, and the seed of :math:`a`."""
        n = self.parameters.poly_modulus_degree
        return sum(packed_size(n, q.bit_length()) for q in self.parameters.primes) + SEED_BYTES

    @property
    def key_bytes(self) -> int:
        """Bytes of the key bundle the server receives (the only key it ever gets)."""
        return KEYS_HEADER.size + self.public_key_bytes

    @property
    def query_ciphertext_bytes(self) -> int:
        """One query ciphertext: :math:`c_0` packed, and the seed of :math:`c_1`."""
        return self.public_key_bytes

    def query_bytes(self, inputs: int) -> int:
        """Bytes of a query for ``inputs`` inputs."""
        layout = self.layout(inputs)
        return HEADER.size + layout.groups(inputs) * layout.feature_chunks * self.query_ciphertext_bytes

    def answer_part_bytes(self, layout: CoefficientLayout, inputs: int, group: int, block: int) -> int:
        """One answer: :math:`c_1` and the score coefficients of :math:`c_0`, packed."""
        scores = layout.inputs_in_group(inputs, group) * layout.outputs_in_block(block)
        n = self.parameters.poly_modulus_degree
        return packed_size(n, self.value_bits) + packed_size(scores, self.value_bits)

    def answer_bytes(self, inputs: int) -> int:
        """Bytes of the answer to ``inputs`` inputs."""
        layout = self.layout(inputs)
        return HEADER.size + sum(
            self.answer_part_bytes(layout, inputs, g, r)
            for g in range(layout.groups(inputs))
            for r in range(layout.output_blocks)
        )

    # ------------------------------------------------------------------ JSON
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
                "n_outputs": self.n_outputs,
                "n_features": self.n_features,
                "input_bound": self.input_bound,
                "input_scale": self.input_scale,
                "weight_scale": self.weight_scale,
                "flooding_bits": self.flooding_bits,
                "dropped_bits": self.dropped_bits,
                "objective": self.objective,
                "weight_memory": self.weight_memory,
                "one_dimensional": self.one_dimensional,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, allow_insecure: bool = False) -> InferencePlan:
        """Read a plan received from a server, checking every field before anything is allocated.

        Parameters
        ----------
        text : str
            The server's ``plan.to_json()``.
        allow_insecure : bool
            Accept parameters below 128-bit security. Only *you* can say so, never the plan.

        Raises
        ------
        ProtocolError
            Not a plan of this protocol, or inconsistent.
        SecurityError
            Parameters below the HE standard's 128-bit table, without ``allow_insecure=True``.
        """
        if not isinstance(text, str) or len(text) > MAX_PLAN_CHARS:
            raise ProtocolError(f"a plan must be a JSON string of at most {MAX_PLAN_CHARS} characters")
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("a plan is a JSON object")
            if data.get("encoding") != PROTOCOL or data.get("protocol") != PROTOCOL_VERSION:
                raise ValueError(
                    f"protocol {data.get('encoding')!r} version {data.get('protocol')!r}; this reader takes "
                    f"{PROTOCOL!r} version {PROTOCOL_VERSION}"
                )
            parameters = parameters_from_peer(
                data["poly_modulus_degree"], data["coeff_modulus"], data["scale"],
                allow_insecure=allow_insecure, special_prime=False,
            )
            ints = {name: data[name] for name in ("n_outputs", "n_features", "flooding_bits", "dropped_bits",
                                                  "weight_memory")}
            for name, value in ints.items():
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            if not 0 < ints["n_outputs"] * ints["n_features"] <= MAX_MODEL_SIZE or not ints["n_outputs"]:
                raise ValueError(f"the model must have between 1 and {MAX_MODEL_SIZE} weights")
            if ints["dropped_bits"] > parameters.primes[0].bit_length() - 8 or ints["flooding_bits"] > 512:
                raise ValueError("dropped_bits or flooding_bits out of range")
            if not 2**20 <= ints["weight_memory"] <= 2**40:
                raise ValueError("weight_memory must be between 1 MiB and 1 TiB")
            floats = {name: data[name] for name in ("input_bound", "input_scale", "weight_scale")}
            for name, value in floats.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                    raise ValueError(f"{name} must be a positive finite number, got {value!r}")
            modulus_bits = sum(q.bit_length() for q in parameters.primes)
            if floats["input_scale"] < 1 or floats["weight_scale"] < 1:
                raise ValueError("scales must be at least 1")
            if math.log2(floats["input_scale"]) + math.log2(floats["weight_scale"]) >= modulus_bits:
                raise ValueError("the scales' product exceeds the modulus")
            if data["objective"] not in OBJECTIVES or not isinstance(data["one_dimensional"], bool):
                raise ValueError(f"objective must be one of {OBJECTIVES} and one_dimensional true or false")
        except SecurityError:
            raise  # the one refusal a caller must see as itself: it says how to opt in locally
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as error:
            raise ProtocolError(f"not a valid inference plan: {error}") from None
        return cls(
            parameters, ints["n_outputs"], ints["n_features"], float(floats["input_bound"]),
            float(floats["input_scale"]), float(floats["weight_scale"]), ints["flooding_bits"],
            ints["dropped_bits"], data["objective"], ints["weight_memory"], data["one_dimensional"],
        )

    def describe(self, inputs: int = 1) -> str:
        """The plan in words: parameters, scales, flooding, sizes, and the layout of ``inputs`` inputs."""
        p = self.parameters
        bits = [q.bit_length() for q in p.primes]
        return "\n".join(
            [
                f"coefficient encoding, CKKS N = {p.poly_modulus_degree}, primes {bits} bits, no special prime "
                "(no evaluation keys)",
                f"inputs |x| <= {self.input_bound:g} at scale 2^{math.log2(self.input_scale):.0f}; weights at "
                f"scale 2^{math.log2(self.weight_scale):.0f}; answers at scale 2^{math.log2(self.answer_scale):.1f} "
                f"modulo q_0",
                f"flooding 2^-{self.flooding_bits} statistical distance; {self.dropped_bits} low bits dropped, "
                f"{self.value_bits} bits per answer value",
                f"keys to the server: {self.key_bytes / 1e3:.1f} kB; {inputs} input(s): query "
                f"{self.query_bytes(inputs) / 1e3:.1f} kB, answer {self.answer_bytes(inputs) / 1e3:.1f} kB",
                self.layout(inputs).describe(inputs),
            ]
        )


def _plan_context(parameters: CKKSParameters) -> CKKSContext:
    if parameters.special_prime:
        raise ParameterError(
            "the coefficient protocol switches no keys: give it parameters with special_prime=False, "
            "e.g. CKKSParameters(poly_modulus_degree=4096, coeff_modulus_bits=[54, 55], special_prime=False)"
        )
    return CKKSContext(parameters)


def _residue_widths(context: CKKSContext) -> list[int]:
    return [q.bit_length() for q in context.data_primes]


def _pack_residues(rows: np.ndarray, widths: list[int]) -> bytes:
    return b"".join(pack_bits(row, width) for row, width in zip(rows, widths))


def _unpack_residues(data: bytes | memoryview, context: CKKSContext, what: str) -> np.ndarray:
    """``(k, N)`` residues packed by :func:`_pack_residues`, each checked to be below its prime."""
    n, rows, offset = context.poly_modulus_degree, [], 0
    for q, width in zip(context.data_primes, _residue_widths(context)):
        size = packed_size(n, width)
        try:
            row = unpack_bits(data[offset : offset + size], width, n)
        except SerializationError as error:
            raise ProtocolError(f"the {what} is malformed: {error}") from None
        if int(row.max()) >= q:
            raise ProtocolError(f"the {what} holds a residue that is not reduced modulo its prime")
        rows.append(row)
        offset += size
    return np.stack(rows)


def _uniform_residues(count: int, bits: int, moduli: tuple[int, ...], random: RandomSource) -> np.ndarray:
    r"""``(k, count)`` residues of integers uniform in :math:`[-2^{bits}, 2^{bits})`, exactly (any ``bits``)."""
    words = -(-(bits + 1) // 64)
    raw = np.frombuffer(random.random_bytes(8 * words * count), dtype="<u8").astype(np.uint64).reshape(words, count)
    top = (bits + 1) - 64 * (words - 1)
    if top < 64:
        raw[-1] &= np.uint64((1 << top) - 1)
    q = modarith.as_moduli(moduli)
    total = np.zeros((len(moduli), count), dtype=np.uint64)
    for t in range(words):
        weight = np.array([[pow(2, 64 * t, qi)] for qi in moduli], dtype=np.uint64)
        total = modarith.add_mod(total, modarith.mul_mod(modarith.reduce_mod(raw[t][None, :], q), weight, q), q)
    offset = np.array([[pow(2, bits, qi)] for qi in moduli], dtype=np.uint64)
    return modarith.sub_mod(total, offset, q)


class EncryptedLinearModel:
    r"""The server: a linear model whose encrypted inputs it multiplies by encoded weights, and nothing else.

    Parameters
    ----------
    model : LinearModel
    parameters : CKKSParameters, optional
        Without a special prime; defaults to :func:`default_parameters` (N = 4096, 54 + 55 bits).
    input_bound : float, optional
        The largest :math:`|x_i|` clients may encrypt (default 1: pixels divided by 255, as
        the tutorial's model was trained). Published in the plan; honest clients refuse more.
    flooding_bits : int
        :math:`\kappa`: answers are within :math:`2^{-\kappa}` of simulatable from the scores.
    objective : {"time", "bytes"}
        What the layout planner minimizes: server time (default) or bytes on the wire.
    weight_memory : int
        Bytes of encoded weights the server may keep per layout.
    random_source : RandomSource, optional
        Re-randomization and flooding; the OS CSPRNG by default.

    Raises
    ------
    ParameterError
        Parameters with a special prime, all-zero weights, a bad ``input_bound``, or scores and
        flooding that cannot fit the modulus.
    SecurityError
        Parameters below 128-bit security without ``allow_insecure=True`` on them.
    """

    def __init__(
        self,
        model: LinearModel,
        parameters: CKKSParameters | None = None,
        input_bound: float | None = None,
        *,
        flooding_bits: int = DEFAULT_FLOODING_BITS,
        objective: str = "time",
        weight_memory: int = DEFAULT_WEIGHT_MEMORY,
        dropped_bits: int | None = None,
        random_source: RandomSource | None = None,
    ) -> None:
        if not isinstance(model, LinearModel):
            raise TypeError(f"expected a LinearModel, got {type(model).__name__}")
        self.model = model
        self.context = _plan_context(parameters if parameters is not None else default_parameters())
        if not np.any(model.weights):
            raise ParameterError("the model's weights are all zero; its scores do not depend on the input")
        input_bound = 1.0 if input_bound is None else input_bound
        if isinstance(input_bound, bool) or not isinstance(input_bound, (int, float)) or not 0 < input_bound < math.inf:
            raise ParameterError(f"input_bound must be a positive finite number, got {input_bound!r}")
        if isinstance(flooding_bits, bool) or not isinstance(flooding_bits, int) or not 0 <= flooding_bits <= 128:
            raise ParameterError(f"flooding_bits must be an integer in [0, 128], got {flooding_bits!r}")
        if objective not in OBJECTIVES:
            raise ParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        primes = self.context.data_primes
        input_scale, weight_scale = choose_scales(model, math.prod(primes), float(input_bound), flooding_bits)
        answer_scale = input_scale * weight_scale / math.prod(float(q) for q in primes[1:])
        if dropped_bits is None:
            dropped_bits = _dropped_bits(answer_scale, self.context.poly_modulus_degree, primes[0])
        self.plan = InferencePlan(
            self.context.parameters, model.n_outputs, model.n_features, float(input_bound), input_scale,
            weight_scale, flooding_bits, dropped_bits, objective, weight_memory, model.one_dimensional,
        )
        self.plan.layout(1)  # refuse at once a model no layout fits
        self._random = random_source if random_source is not None else SecureRandomSource()
        self._bias = np.rint(model.bias * self.plan.product_scale)
        self._weights: ByteBoundedCache[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] = ByteBoundedCache(
            LAYOUT_CACHE * weight_memory
        )
        # Parsed bundles, with the public key's Shoup companions (every answer multiplies by the key).
        self._keys: ByteBoundedCache[bytes, tuple[PublicKey, bytes, np.ndarray]] = ByteBoundedCache(
            KEY_CACHE_BYTES, size_of=lambda item: 2 * int(item[0].data.nbytes)
        )
        # Tests switch this off to show what re-randomization protects; a real server never does.
        self._rerandomize = True

    @classmethod
    def from_sklearn(
        cls,
        estimator: object,
        parameters: CKKSParameters | None = None,
        input_bound: float | None = None,
        *,
        encoding: str = PROTOCOL,
        **options: Any,
    ) -> Any:
        """Serve any fitted scikit-learn linear model: coefficient encoding, or ``encoding="slots"``.

        ``encoding="slots"`` returns the slot protocol's server
        (:class:`~heedu.inference.slots.SlotLinearModel`: rotations, Galois keys); the client
        side is the same (``InferenceClient(server.plan)``).

        Raises
        ------
        ParameterError
            An unknown ``encoding``; otherwise as the constructor of the chosen protocol.
        """
        model = estimator if isinstance(estimator, LinearModel) else LinearModel.from_sklearn(estimator)
        if encoding == "slots":
            from .slots import SlotLinearModel

            return SlotLinearModel(model, parameters, input_bound, **options)
        if encoding != PROTOCOL:
            raise ParameterError(f"encoding must be {PROTOCOL!r} (the default) or 'slots', got {encoding!r}")
        return cls(model, parameters, input_bound, **options)

    def __repr__(self) -> str:
        return f"EncryptedLinearModel({self.model.n_outputs} x {self.model.n_features}, coefficients, {self.context!r})"

    # ------------------------------------------------------------------ keys
    def load_keys(self, keys: bytes) -> tuple[PublicKey, bytes]:
        """Parse (and cache, by hash) a client's key bundle: ``(public key, key id)``.

        Raises
        ------
        ProtocolError
            Not a key bundle of this plan, or malformed.
        """
        public_key, key_id, _ = self._parsed_keys(keys)
        return public_key, key_id

    def _parsed_keys(self, keys: bytes) -> tuple[PublicKey, bytes, np.ndarray]:
        """:meth:`load_keys`, and the Shoup companions of the public key's residues."""
        if not isinstance(keys, (bytes, bytearray, memoryview)):
            raise ProtocolError(f"keys must be bytes, got {type(keys).__name__}")
        keys = bytes(keys)
        digest = hashlib.blake2b(keys, digest_size=32).digest()
        cached = self._keys.get(digest)
        if cached is not None:
            return cached
        check_key_header(keys, KEYS_MAGIC, PROTOCOL_VERSION, self.plan.fingerprint)
        if len(keys) != self.plan.key_bytes:
            raise ProtocolError(f"a key bundle of this plan is {self.plan.key_bytes} bytes, got {len(keys)}")
        body = keys[KEYS_HEADER.size :]
        b = _unpack_residues(body[:-SEED_BYTES], self.context, "public key")
        seed = body[-SEED_BYTES:]
        a = expand_seed(seed, self.context.data_primes, self.context.poly_modulus_degree)
        data = np.stack([b, a])
        q = self.context.ring(self.context.max_level).q
        parsed = (PublicKey(data, seed), key_id_of(body), modarith.shoup_precompute(data, q))
        self._keys.put(digest, parsed)
        return parsed

    # ------------------------------------------------------------------ weights
    def encoded_weights(self, layout: CoefficientLayout) -> tuple[np.ndarray, np.ndarray, int]:
        r"""``(w, w_shoup, f)`` for ``layout``: :math:`\hat w_{r,c}` in NTT form ``(R, C, k, N or 1)``,
        their Shoup companions, and the flooding exponent :math:`f` of its answers. Cached per layout."""
        key = (layout.outputs_per_block, layout.features_per_chunk)
        cached = self._weights.get(key)
        if cached is not None:
            return cached
        ring = self.context.ring(self.context.max_level)
        integers = np.rint(layout.weight_values(self.model.weights) * self.plan.weight_scale)
        norm = float(np.abs(integers).sum(axis=(1, 2)).max())  # the largest sum_c ||w_rc||_1 over blocks r
        flood = flooding_exponent(norm, self.plan.flooding_bits)
        if layout.constant_weights:  # a constant polynomial is the same constant at every NTT point
            w = integers_to_rns(integers[..., :1], ring)
        else:
            w = ring.ntt.forward(integers_to_rns(integers, ring))
        encoded = (w, modarith.shoup_precompute(w, ring.q), flood)
        self._weights.put(key, encoded)
        return encoded

    # ------------------------------------------------------------------ serving
    def _read_query_group(self, query: bytes, offset: int, chunks: int) -> np.ndarray:
        """``(C, 2, k, N)`` NTT-form ciphertexts of one group, from ``query[offset:]``."""
        ctx, size = self.context, self.plan.query_ciphertext_bytes
        n = ctx.poly_modulus_degree
        cts = np.empty((chunks, 2, len(ctx.data_primes), n), dtype=np.uint64)
        view = memoryview(query)
        for c in range(chunks):
            blob = view[offset + c * size : offset + (c + 1) * size]
            cts[c, 0] = _unpack_residues(blob[:-SEED_BYTES], ctx, "query ciphertext")
            cts[c, 1] = expand_seed(bytes(blob[-SEED_BYTES:]), ctx.data_primes, n)
        return cts

    def _inner_products(self, cts: np.ndarray, w: np.ndarray, w_shoup: np.ndarray, block: int) -> np.ndarray:
        r""":math:`\sum_c \hat x_c \hat w_{r,c}` for both components: ``(2, k, N)`` in NTT form."""
        q = self.context.ring(self.context.max_level).q
        total = np.zeros(cts.shape[1:], dtype=np.uint64)
        for start in range(0, cts.shape[0], _SUM_CHUNK):
            part = cts[start : start + _SUM_CHUNK]
            weight = w[block, start : start + _SUM_CHUNK, None]
            shoup = w_shoup[block, start : start + _SUM_CHUNK, None]
            total = modarith.add_mod(total, _sum_mod(modarith.mul_shoup(part, weight, shoup, q), q), q)
        return total

    def _rerandomized(self, acc: np.ndarray, public_key: PublicKey, shoup: np.ndarray, sent: np.ndarray) -> np.ndarray:
        r"""``acc`` plus a fresh public-key encryption of zero, :math:`(u b + e_0, u a + e_1)`, in coefficient form.

        The same encryption as :meth:`heedu.encryption.Encryptor.encrypt` without a special
        prime; its noise is added after the inverse NTT the answer needs anyway (four forward
        NTTs fewer than encrypting a zero plaintext in NTT form), and :math:`e_0` only at the
        coefficients ``sent``: the others never leave the server.
        """
        ring = self.context.ring(self.context.max_level)
        n = ring.n
        u = ring.from_signed(self._random.ternary(n)).to_ntt().data
        acc = modarith.add_mod(acc, modarith.mul_shoup(u[None], public_key.data, shoup, ring.q), ring.q)
        coefficients = ring.ntt.inverse(acc)
        coefficients[1] = modarith.add_mod(coefficients[1], ring.from_signed(self._random.gaussian(n)).data, ring.q)
        e0 = modarith.from_signed(self._random.gaussian(sent.size)[None, :], ring.q)
        coefficients[0][:, sent] = modarith.add_mod(coefficients[0][:, sent], e0, ring.q)
        return coefficients

    def _answer(self, acc: np.ndarray, layout: CoefficientLayout, inputs: int, group: int, block: int,
                flood_bits: int, keys: tuple[PublicKey, bytes, np.ndarray]) -> bytes:
        """Re-randomize, add bias and flooding at the scores, switch to one prime, extract, drop bits, pack."""
        ctx, plan = self.context, self.plan
        ring = ctx.ring(ctx.max_level)
        positions = layout.score_positions(inputs, group, block)
        if self._rerandomize:
            coefficients = self._rerandomized(acc, keys[0], keys[2], positions.ravel())
        else:
            coefficients = ring.ntt.inverse(acc)
        first = block * layout.outputs_per_block
        bias = np.broadcast_to(self._bias[first : first + positions.shape[1]], positions.shape).ravel()
        added = modarith.add_mod(
            integers_to_rns(bias, ring),
            _uniform_residues(bias.size, flood_bits, ctx.data_primes, self._random),
            ring.q,
        )
        flat = positions.ravel()
        coefficients[0][:, flat] = modarith.add_mod(coefficients[0][:, flat], added, ring.q)
        for level in range(ctx.max_level, 0, -1):
            coefficients = ctx.ring(level).basis.divide_and_round_by_last(coefficients)
        c0, c1 = coefficients[0, 0], coefficients[1, 0]
        d = plan.dropped_bits
        half = np.uint64((1 << d) >> 1)
        return pack_bits((c1 + half) >> np.uint64(d), plan.value_bits) + pack_bits(
            (c0[flat] + half) >> np.uint64(d), plan.value_bits
        )

    def predict(self, query: bytes, keys: bytes) -> bytes:
        """Answer an encrypted query: per group of inputs, one answer per block of outputs.

        Raises
        ------
        ProtocolError
            The query or the keys are malformed, belong to another plan, or the query was
            encrypted under other keys than ``keys`` (its key id differs).
        """
        plan = self.plan
        envelope = read_envelope(query, QUERY_MAGIC, PROTOCOL_VERSION, plan.fingerprint, "query")
        parsed = self._parsed_keys(keys)
        key_id = parsed[1]
        if envelope.key_id != key_id:
            raise ProtocolError(
                "the query was encrypted by another client than the one whose keys came with it (key id differs): "
                "send the public key of the client that made the query"
            )
        inputs = envelope.inputs
        layout = plan.layout(inputs)
        groups, chunks = layout.groups(inputs), layout.feature_chunks
        if (envelope.groups, envelope.per_group) != (groups, chunks):
            raise ProtocolError(
                f"the query declares {envelope.groups} group(s) of {envelope.per_group} ciphertext(s); {inputs} "
                f"input(s) take {groups} group(s) of {chunks} in this plan's layout"
            )
        if len(query) != plan.query_bytes(inputs):
            raise ProtocolError(f"a query of {inputs} input(s) is {plan.query_bytes(inputs)} bytes, got {len(query)}")
        w, w_shoup, flood_bits = self.encoded_weights(layout)
        header = Envelope(ANSWER_MAGIC, PROTOCOL_VERSION, envelope.flags, plan.fingerprint, key_id, inputs, groups,
                          layout.output_blocks)
        parts = [header.to_bytes()]
        for g in range(groups):
            cts = self._read_query_group(bytes(query), HEADER.size + g * chunks * plan.query_ciphertext_bytes, chunks)
            for r in range(layout.output_blocks):
                acc = self._inner_products(cts, w, w_shoup, r)
                parts.append(self._answer(acc, layout, inputs, g, r, flood_bits, parsed))
        return b"".join(parts)


def _sum_mod(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:math:`\\sum_i v_i \\bmod q` over the first axis of reduced residues, without overflowing 64 bits."""
    bits = int(q.max()).bit_length()
    step = max(1, 2 ** (64 - bits) - 1)  # that many residues below 2^bits sum below 2^64
    total = np.zeros(values.shape[1:], dtype=np.uint64)
    for start in range(0, values.shape[0], step):
        total = modarith.add_mod(total, values[start : start + step].sum(axis=0, dtype=np.uint64) % q, q)
    return total


class InferenceClient:
    r"""The client: a secret key, a public key for the server, encryption of inputs, decryption of answers.

    ``InferenceClient(plan)`` takes either protocol's plan: given a
    :class:`~heedu.inference.slots.SlotPlan` it returns a
    :class:`~heedu.inference.slots.SlotClient`.

    Parameters
    ----------
    plan : InferencePlan or SlotPlan
        The server's public plan (``server.plan``, or :func:`read_plan`).
    secret_key : SecretKey, optional
        Reuse a secret key; a fresh one is generated otherwise.
    random_source : RandomSource, optional
        Defaults to the OS CSPRNG.

    Raises
    ------
    SecurityError
        The plan's parameters are below 128-bit security and nobody opted in locally.
    """

    def __new__(cls, plan: object, *args: Any, **kwargs: Any) -> Any:
        from .slots import SlotClient, SlotPlan

        if isinstance(plan, SlotPlan):
            return SlotClient(plan, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self, plan: InferencePlan, secret_key: SecretKey | None = None, random_source: RandomSource | None = None
    ) -> None:
        if not isinstance(plan, InferencePlan):
            raise TypeError(f"expected an InferencePlan, got {type(plan).__name__}")
        self.plan, self.context = plan, _plan_context(plan.parameters)
        keygen = KeyGenerator(self.context, secret_key=secret_key, random_source=random_source)
        self._secret_key = keygen.secret_key()
        self._encryptor = Encryptor(self.context, secret_key=self._secret_key, random_source=random_source)
        self._encoder = CoefficientEncoder(self.context)
        public_key = derived_public_key(self.context, self._secret_key, b"heedu coefficient protocol: public key")
        self._public_key = _pack_residues(public_key.data[0], _residue_widths(self.context)) + public_key.seed
        ring0 = self.context.ring(0)
        self._s0 = self._secret_key.at(ring0, self.context.key_ring)

    def __repr__(self) -> str:
        return f"InferenceClient({self.plan.n_outputs} x {self.plan.n_features}, coefficients, <secret key hidden>)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        refuse_to_pickle(self)

    def public_keys(self) -> bytes:
        """The key bundle for the server: the seeded public key, packed (about 56 kB at N = 4096). Send it once."""
        header = key_bundle_header(KEYS_MAGIC, PROTOCOL_VERSION, self.plan.fingerprint)
        return header + self._public_key

    @property
    def key_id(self) -> bytes:
        """The 16-byte id of this client's public key; its queries and answers carry it."""
        return key_id_of(self._public_key)

    def encrypt(self, x: object) -> bytes:
        """Encrypt one input ``(n_features,)`` or a batch ``(n, n_features)`` into a query.

        Raises
        ------
        ShapeError
            Not a finite real vector or matrix with the plan's number of features, or more than
            ``MAX_INPUTS`` inputs.
        ProtocolError
            An input beyond the plan's ``input_bound`` (its scores could wrap around the modulus).
        """
        plan, ctx = self.plan, self.context
        batch = LinearModel(np.zeros((1, plan.n_features)), np.zeros(1)).check_inputs(x)
        if batch.shape[0] > MAX_INPUTS:
            raise ShapeError(f"at most {MAX_INPUTS} inputs per query; split the batch")
        largest = float(np.abs(batch).max())
        if largest > plan.input_bound:
            raise ProtocolError(
                f"an input has |x| = {largest:.4g}, beyond the plan's bound {plan.input_bound:.4g}: its "
                "scores could wrap around the modulus. Scale your inputs as the model was trained."
            )
        layout = plan.layout(batch.shape[0])
        ring, widths, top = ctx.ring(ctx.max_level), _residue_widths(ctx), ctx.max_level
        parts = []
        for group in layout.query_values(batch):
            residues = ring.ntt.forward(self._encoder.residues(group, plan.input_scale, top))
            for polynomial in residues:
                ct = self._encryptor.encrypt_symmetric(Plaintext(polynomial, top, plan.input_scale))
                parts.append(_pack_residues(ct.data[0], widths) + ct.seed)  # type: ignore[operator]
        flags = FLAG_SINGLE_INPUT if np.asarray(x).ndim == 1 else 0
        header = Envelope(QUERY_MAGIC, PROTOCOL_VERSION, flags, plan.fingerprint, self.key_id, batch.shape[0],
                          layout.groups(batch.shape[0]), layout.feature_chunks)
        return header.to_bytes() + b"".join(parts)

    def decrypt(self, answer: bytes) -> np.ndarray:
        """Scores shaped like the model's ``decision_function`` on the encrypted input.

        Raises
        ------
        ProtocolError
            Not an answer of this plan, malformed, or an answer for another client's keys.
        """
        plan = self.plan
        envelope = read_envelope(answer, ANSWER_MAGIC, PROTOCOL_VERSION, plan.fingerprint, "answer")
        if envelope.key_id != self.key_id:
            raise ProtocolError(
                "this answer was computed for another client's keys (key id differs): decrypt it with the "
                "client that made the query"
            )
        inputs = envelope.inputs
        layout = plan.layout(inputs)
        if (envelope.groups, envelope.per_group) != (layout.groups(inputs), layout.output_blocks):
            raise ProtocolError(f"the answer's counts do not match the layout of {inputs} input(s)")
        if len(answer) != plan.answer_bytes(inputs):
            expected = plan.answer_bytes(inputs)
            raise ProtocolError(f"an answer to {inputs} input(s) is {expected} bytes, got {len(answer)}")
        ring0 = self.context.ring(0)
        q0, n, width = np.uint64(plan.answer_prime), self.context.poly_modulus_degree, plan.value_bits
        shift = np.uint64(plan.dropped_bits)
        offset, values = HEADER.size, []
        for g in range(layout.groups(inputs)):
            row = []
            for r in range(layout.output_blocks):
                positions = layout.score_positions(inputs, g, r)
                c1_size, c0_size = packed_size(n, width), packed_size(positions.size, width)
                try:
                    c1 = unpack_bits(answer[offset : offset + c1_size], width, n)
                    c0 = unpack_bits(answer[offset + c1_size : offset + c1_size + c0_size], width, positions.size)
                except SerializationError as error:
                    raise ProtocolError(f"the answer is malformed: {error}") from None
                offset += c1_size + c0_size
                c1 = modarith.reduce_mod(c1 << shift, q0)
                c1s = ring0.ntt.inverse(modarith.mul_mod(ring0.ntt.forward(c1[None]), self._s0, ring0.q))[0]
                m = modarith.add_mod(modarith.reduce_mod(c0 << shift, q0), c1s[positions.ravel()], q0)
                scores = modarith.to_centered(m[None], ring0.q)[0].astype(np.float64) / plan.answer_scale
                row.append(scores.reshape(positions.shape))
            values.append(row)
        scores = layout.read_scores(values, inputs)
        if plan.one_dimensional:
            scores = scores[:, 0]
        return scores[0] if envelope.flags & FLAG_SINGLE_INPUT else scores


def read_plan(text: str, allow_insecure: bool = False) -> Any:
    """A plan from its JSON, whichever protocol it belongs to (coefficients or slots).

    Raises
    ------
    ProtocolError
        Not a plan of either protocol, or inconsistent.
    SecurityError
        Parameters below 128-bit security without ``allow_insecure=True``.
    """
    from .slots import SlotPlan

    if isinstance(text, str) and len(text) <= MAX_PLAN_CHARS:
        try:
            encoding = json.loads(text).get("encoding", "slots")
        except (ValueError, AttributeError, RecursionError):
            encoding = None
        if encoding == "slots":
            return SlotPlan.from_json(text, allow_insecure=allow_insecure)
    return InferencePlan.from_json(text, allow_insecure=allow_insecure)

