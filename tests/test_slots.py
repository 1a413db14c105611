r"""Tests of heedu's slot protocol (:mod:`heedu.inference.slots`).

Everything but one ``slow`` test runs on toy rings (N = 64 to 512, scale
:math:`\Delta = 2^{40}`), where a full round trip (keys, query, answer,
decryption) takes a few tens of milliseconds. The toy modulus chains have two
or more data primes (e.g. ``[50, 40, 40, 50]``): one level for the rescale after
the diagonal products; the answer is then switched down to level 0 and
re-randomized with a fresh public-key encryption of zero. The random models'
weights are scaled by ``1 / n_features`` so that the plans' input bounds (the
largest inputs whose scores cannot wrap) comfortably exceed the test inputs.

Error bound
-----------
Decrypted scores are compared with ``model.decision_function`` within
:func:`score_error_bound`, a per-score bound derived from the server's
schedule. Work in the canonical embedding, where a ciphertext's error in a
slot is its error polynomial evaluated at that slot's root of unity divided
by the scale, products with plaintexts act slot by slot and rotations permute
slots. A polynomial with independent centred coefficients of variance
:math:`V` has a slot error of standard deviation at most :math:`\sqrt{NV}`,
so each operation contributes (standard deviations, in slot units):

* fresh symmetric encryption and encoding rounding:
  :math:`\sqrt{N(\sigma^2 + 1/12)}/\Delta` (:math:`\sigma = 3.2`);
* encoding rounding of a plaintext at scale :math:`s`: :math:`\sqrt{N/12}/s`;
* a key switch at level :math:`\ell` on a ciphertext at scale :math:`s`:
  :math:`(D_\ell\,\sigma\sqrt{N}/P + \sqrt{N(1+N)/12})/s`, where the second
  term is the mod-down rounding (:math:`u_0 + u_1 s`, Hamming weight at most
  :math:`N`) and :math:`D_\ell = \sqrt{\sum_{j \le \ell} q_j^2 (N/\pi + \sqrt{N/12})^2}`
  bounds the digits :math:`d_j \in [0, q_j)` at a slot: they are *not*
  centred, and their mean :math:`(q_j/2)\sum_k X^k` has magnitude up to
  :math:`(q_j/2) / \sin(\pi/2N) \approx q_j N/\pi` at the roots nearest 1;
* the rescale by :math:`q_L` (rounding, new scale :math:`\Delta_1 = \Delta^2/q_L`):
  :math:`\sqrt{N(1+N)/12}/\Delta_1`.
* the re-randomization at level 0, a public-key encryption of zero divided by the
  special prime: :math:`(\sigma\sqrt{N}(1 + 2\sqrt{2N/3})/P + \sqrt{N(1+N)/12})/\Delta_1`
  (the terms :math:`ue + e_0 + e_1 s` over :math:`P`, then the rounding).

The schedule sums these along its data flow. Each product
:math:`d \odot \tilde{x}` adds :math:`|d|\,e_x + |x|\,e_d + e_d e_x`; summed
over the diagonals and the folding ladder these give
:math:`\lVert W_r \rVert_1 e_x + \lVert x \rVert_1 e_d + C n' e_d e_x` per score
(:math:`e_x` the fresh-plus-baby-key-switch error, :math:`C` chunks). Every
slot error before the ladder (rescale, giant-step key switches) is summed
:math:`F = n'/m'` times by the ladder, which adds :math:`F - 1` key switches;
the bias adds its encoding rounding, then the re-randomization as above. Standard deviations are added (not
root-sum-squared), which is valid whatever the correlations, and the bound is
six times the total. With :math:`\Delta = 2^{40}` it is between
:math:`10^{-7}` and :math:`10^{-5}` for the toy rings here, and the observed
errors are 40 to 1000 times below it (measured over repeated runs with fresh
keys); a layout mistake gives errors of order one, and a bias encoded at a
scale off by a few parts per million already exceeds it for the smaller models.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import heedu
from heedu.ciphertext import Ciphertext
from heedu.errors import (
    ContextMismatchError,
    MissingKeyError,
    ParameterError,
    SecretKeyExposureError,
    SerializationError,
    ShapeError,
)
from heedu.inference import (
    InferenceClient,
    LinearModel,
    PackingPlan,
    ProtocolError,
    SlotLinearModel,
    SlotPlan,
)
from heedu.inference.envelope import MAX_INPUTS
from heedu.inference.slots import ANSWER_MAGIC, MAX_OBJECT_BYTES, PROTOCOL_VERSION, QUERY_MAGIC
from heedu.keys import GaloisKeys, galois_elt_from_step
from heedu.serialization import dumps, loads


def _toy(n: int, bits: tuple[int, ...], scale: float = 2.0**40) -> heedu.CKKSParameters:
    return heedu.CKKSParameters(poly_modulus_degree=n, coeff_modulus_bits=bits, scale=scale, allow_insecure=True)


TOY_64 = _toy(64, (50, 40, 40, 50))
TOY_256 = _toy(256, (50, 40, 40, 50))
TOY_512 = _toy(512, (60, 40, 40, 60))
TOY_256_DEEP = _toy(256, (50, 40, 40, 40, 50))  # a longer chain: the answer is mod-switched down to level 0
TOY_256_SHORT = _toy(256, (50, 40, 50))  # the shortest chain: one rescale, nothing to spare

SIGMA = 3.2


# --------------------------------------------------------------------------- the error bound


def score_error_bound(plan: SlotPlan, model: LinearModel, x: np.ndarray) -> float:
    """Six standard deviations of the error of any decrypted score (see the module docstring)."""
    parameters, packing = plan.parameters, plan.packing
    n = parameters.poly_modulus_degree
    data, special = parameters.primes[:-1], parameters.primes[-1]
    top = len(data) - 1
    delta = parameters.scale
    delta1 = delta * delta / data[top]

    def key_switch(level: int, scale: float) -> float:
        digits = math.sqrt(sum((q * (n / math.pi + math.sqrt(n / 12))) ** 2 for q in data[: level + 1]))
        return (digits * SIGMA * math.sqrt(n) / special + math.sqrt(n * (1 + n) / 12)) / scale

    def encoding(scale: float) -> float:
        return math.sqrt(n / 12) / scale

    fresh = math.sqrt(n * (SIGMA**2 + 1 / 12)) / delta
    rescale = math.sqrt(n * (1 + n) / 12) / delta1
    input_error = fresh + key_switch(top, delta)
    weights_l1 = float(np.abs(model.weights).sum(axis=1).max())
    inputs_l1 = float(np.abs(np.atleast_2d(x)).sum(axis=1).max())
    products = (
        weights_l1 * input_error
        + inputs_l1 * encoding(delta)
        + packing.feature_chunks * packing.feature_block * encoding(delta) * input_error
    )
    giant = packing.giant_steps
    ladder = packing.feature_block // packing.class_block
    after_rescale = giant * rescale + (giant - 1) * key_switch(top - 1, delta1)
    total = products + ladder * after_rescale + (ladder - 1) * key_switch(top - 1, delta1) + encoding(delta1)
    total += (SIGMA * math.sqrt(n) * (1 + 2 * math.sqrt(2 * n / 3)) / special + math.sqrt(n * (1 + n) / 12)) / delta1
    return 6 * total


# --------------------------------------------------------------------------- served models


@dataclass
class Served:
    """A server, a client for its plan, and the client's key bundle."""

    model: LinearModel
    server: SlotLinearModel
    client: InferenceClient
    keys: bytes

    @property
    def plan(self) -> SlotPlan:
        return self.server.plan

    @property
    def context(self) -> heedu.CKKSContext:
        return self.server.context

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.client.decrypt(self.server.predict(self.client.encrypt(x), self.keys))

    def assert_close(self, x: np.ndarray, scores: np.ndarray) -> None:
        expected = self.model.decision_function(x)
        assert scores.shape == expected.shape
        bound = score_error_bound(self.plan, self.model, x)
        assert bound < 2e-5, "the bound should be of order 1e-6 at scale 2^40 on toy rings"
        error = float(np.max(np.abs(scores - expected)))
        assert error <= bound, f"max error {error:.3g} exceeds the bound {bound:.3g}"


def serve(model: LinearModel, parameters: heedu.CKKSParameters) -> Served:
    server = SlotLinearModel(model, parameters)
    client = InferenceClient(server.plan)
    return Served(model, server, client, client.public_keys())


def _random_model(n_outputs: int, n_features: int, seed: int) -> LinearModel:
    rng = np.random.default_rng(seed)
    return LinearModel(rng.normal(size=(n_outputs, n_features)) / n_features, rng.normal(size=n_outputs))


@pytest.fixture(scope="module")
def multi() -> Served:
    """3 outputs x 10 features on 128 slots: m' = 4, n' = 16, 8 inputs per ciphertext."""
    return serve(_random_model(3, 10, seed=1), TOY_256)


@pytest.fixture(scope="module")
def wide() -> Served:
    """4 outputs x 300 features on 128 slots: 3 feature chunks of 128."""
    return serve(_random_model(4, 300, seed=2), TOY_256)


@pytest.fixture(scope="module")
def ten() -> Served:
    """10 outputs x 50 features on 256 slots: m' = 16 (giant steps 4, 8, 12 inputs), 4 inputs per ciphertext."""
    return serve(_random_model(10, 50, seed=3), TOY_512)


@pytest.fixture(scope="module")
def deep() -> Served:
    """5 outputs x 20 features on a chain of four data primes."""
    return serve(_random_model(5, 20, seed=4), TOY_256_DEEP)


@pytest.fixture(scope="module")
def tiny() -> Served:
    """3 outputs x 20 features on 32 slots (one input per ciphertext): small messages for the fuzz tests."""
    return serve(_random_model(3, 20, seed=5), TOY_64)


@pytest.fixture(scope="module")
def binary() -> tuple[Served, LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(80, 12))
    y = (x @ rng.normal(size=12) + 0.3 > 0).astype(int)
    estimator = LogisticRegression(max_iter=500).fit(x, y)
    server = SlotLinearModel.from_sklearn(estimator, TOY_512)
    client = InferenceClient(server.plan)
    return Served(server.model, server, client, client.public_keys()), estimator, x


# --------------------------------------------------------------------------- envelopes, by the documented layout

# magic, version, flags, reserved, plan fingerprint, key id, inputs, groups, chunks
ENVELOPE = struct.Struct("<4sBBH16s16sIII")
KEYS_HEADER = struct.Struct("<4sBBH16s")  # magic, version, flags, reserved, plan fingerprint


@dataclass
class Envelope:
    magic: bytes
    version: int
    flags: int
    reserved: int
    fingerprint: bytes
    key_id: bytes
    inputs: int
    groups: int
    chunks: int
    blobs: list[bytes]

    @classmethod
    def parse(cls, message: bytes) -> Envelope:
        fields = ENVELOPE.unpack_from(message)
        offset, blobs = ENVELOPE.size, []
        while offset < len(message):
            (length,) = struct.unpack_from("<Q", message, offset)
            blobs.append(message[offset + 8 : offset + 8 + length])
            offset += 8 + length
        assert offset == len(message)
        envelope = cls(*fields, blobs=blobs)
        assert len(blobs) == envelope.groups * envelope.chunks
        return envelope

    def header(self) -> bytes:
        return ENVELOPE.pack(
            self.magic,
            self.version,
            self.flags,
            self.reserved,
            self.fingerprint,
            self.key_id,
            self.inputs,
            self.groups,
            self.chunks,
        )

    def build(self) -> bytes:
        return self.header() + b"".join(struct.pack("<Q", len(blob)) + blob for blob in self.blobs)

    def replace(self, **changes: object) -> bytes:
        fields = {**self.__dict__, **changes}
        return Envelope(**fields).build()  # type: ignore[arg-type]


def split_keys(bundle: bytes) -> tuple[bytes, bytes, bytes]:
    """A key bundle's header, public-key blob and Galois-keys blob, by the documented layout."""
    header, offset, blobs = bundle[: KEYS_HEADER.size], KEYS_HEADER.size, []
    for _ in range(2):
        (length,) = struct.unpack_from("<Q", bundle, offset)
        blobs.append(bundle[offset + 8 : offset + 8 + length])
        offset += 8 + length
    assert offset == len(bundle)
    return header, blobs[0], blobs[1]


def join_keys(header: bytes, public_key: bytes, galois_keys: bytes) -> bytes:
    return header + b"".join(struct.pack("<Q", len(blob)) + blob for blob in (public_key, galois_keys))


# --------------------------------------------------------------------------- correctness


def test_single_input_scores(multi: Served) -> None:
    x = np.random.default_rng(10).normal(size=10)
    scores = multi.scores(x)
    assert scores.shape == (3,)
    multi.assert_close(x, scores)


def test_batch_spanning_several_ciphertext_groups(multi: Served) -> None:
    assert multi.plan.packing.inputs_per_ciphertext == 8
    x = np.random.default_rng(11).normal(size=(19, 10))
    query = multi.client.encrypt(x)
    envelope = Envelope.parse(query)
    assert (envelope.inputs, envelope.groups, envelope.chunks) == (19, 3, 1)
    answer = multi.server.predict(query, multi.keys)
    assert (Envelope.parse(answer).groups, Envelope.parse(answer).chunks) == (3, 1)
    scores = multi.client.decrypt(answer)
    assert scores.shape == (19, 3)
    multi.assert_close(x, scores)


def test_inputs_wider_than_a_ciphertext_are_chunked(wide: Served) -> None:
    packing = wide.plan.packing
    assert (packing.feature_block, packing.feature_chunks, packing.inputs_per_ciphertext) == (128, 3, 1)
    x = np.random.default_rng(12).normal(size=(2, 300))
    query = wide.client.encrypt(x)
    envelope = Envelope.parse(query)
    assert (envelope.groups, envelope.chunks) == (2, 3)
    wide.assert_close(x, wide.client.decrypt(wide.server.predict(query, wide.keys)))


def test_binary_classifier_gives_one_dimensional_scores(binary: tuple[Served, LogisticRegression, np.ndarray]) -> None:
    served, estimator, x = binary
    packing = served.plan.packing
    assert packing.n_outputs == 1 and packing.rotation_steps == packing.fold_rotations
    single = served.scores(x[0])
    assert single.shape == () == served.model.decision_function(x[0]).shape
    assert abs(float(single) - estimator.decision_function(x[:1])[0]) <= score_error_bound(
        served.plan, served.model, x[0]
    )
    batch = x[:20]  # several inputs per ciphertext, two groups
    assert packing.inputs_per_ciphertext == 16
    scores = served.scores(batch)
    assert scores.shape == (20,)
    served.assert_close(batch, scores)
    np.testing.assert_allclose(scores, estimator.decision_function(batch), atol=1e-5)
    confident = np.abs(estimator.decision_function(batch)) > 1e-3
    np.testing.assert_array_equal((scores > 0)[confident], estimator.predict(batch)[confident] == 1)


def test_argmax_equals_plaintext_argmax(ten: Served) -> None:
    x = np.random.default_rng(13).normal(size=(8, 50))
    scores = ten.scores(x)
    ten.assert_close(x, scores)
    expected = ten.model.decision_function(x)
    top_two = np.sort(expected, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2 * score_error_bound(ten.plan, ten.model, x)
    assert clear.sum() >= 6  # the comparison below must mean something
    np.testing.assert_array_equal(scores.argmax(axis=1)[clear], expected.argmax(axis=1)[clear])


def test_deeper_modulus_chain(deep: Served) -> None:
    assert deep.context.max_level == 3
    x = np.random.default_rng(14).normal(size=(4, 20))
    answer = deep.server.predict(deep.client.encrypt(x), deep.keys)
    for blob in Envelope.parse(answer).blobs:  # the answer is brought down to level 0, the smallest
        assert loads(blob, deep.context).level == 0
    deep.assert_close(x, deep.client.decrypt(answer))


def test_two_data_primes_suffice(multi: Served) -> None:
    served = serve(multi.model, TOY_256_SHORT)
    x = np.random.default_rng(42).normal(size=(3, 10))
    served.assert_close(x, served.scores(x))


def _decrypted_slots(served: Served, secret: heedu.SecretKey, answer: bytes) -> np.ndarray:
    """What a client can see of an answer: every slot of every answer ciphertext, decrypted."""
    ctx = served.context
    decryptor, encoder = heedu.Decryptor(ctx, secret), heedu.CKKSEncoder(ctx)
    return np.array([encoder.decode(decryptor.decrypt(loads(b, ctx))) for b in Envelope.parse(answer).blobs])


def _query_beyond_the_bound(client: InferenceClient, x: np.ndarray) -> bytes:
    """A dishonest client's query: the plan's encoding, without the client-side range check."""
    from heedu.inference.slots import _pack

    groups = [
        [dumps(client._encryptor.encrypt_symmetric(client._encoder.encode(chunk)), client.context) for chunk in slots]
        for slots in client.plan.packing.input_slots(x)
    ]
    return _pack(QUERY_MAGIC, client.plan, client.key_id, 0, x.shape[0], groups)


@pytest.mark.parametrize("inflation", [1.0, 1e4], ids=["honest", "inputs-times-10^4"])
def test_every_answer_slot_is_a_whole_score_whatever_the_client_sends(ten: Served, inflation: float) -> None:
    """The audit's attack: inputs scaled by 10^4 once exposed partial sums of W x in the non-score slots.

    Now every slot of the answer decrypts to a score of the query's own input (replicated over the
    whole ciphertext), so a client, honest or not, reads nothing but scores.
    """
    secret = heedu.KeyGenerator(ten.context).secret_key()
    client = InferenceClient(ten.plan, secret_key=secret)
    packing = ten.plan.packing
    x = np.random.default_rng(43).normal(size=(packing.inputs_per_ciphertext, 50)) * inflation
    if inflation > ten.plan.input_bound:
        with pytest.raises(ProtocolError, match="beyond the plan's bound"):
            client.encrypt(x)  # an honest client refuses; the attacker goes around it
    answer = ten.server.predict(_query_beyond_the_bound(client, x), client.public_keys())
    (slots,) = _decrypted_slots(ten, secret, answer)
    scores = np.zeros((packing.class_block, packing.inputs_per_ciphertext))
    scores[:10] = ten.model.decision_function(x).T
    expected = np.tile(scores, (packing.feature_block // packing.class_block, 1))
    bound = score_error_bound(ten.plan, ten.model, x)
    assert float(np.abs(packing.score_grid(slots) - expected).max()) <= bound


def test_answers_are_re_randomized(multi: Served) -> None:
    """Without re-randomization c1 is a deterministic function of the query, the keys and the weights."""
    query = multi.client.encrypt(np.ones(10) * 0.5)
    first, second = (Envelope.parse(multi.server.predict(query, multi.keys)).blobs[0] for _ in range(2))
    c1 = [loads(blob, multi.context).data[1] for blob in (first, second)]
    assert not np.array_equal(*c1)  # fresh randomness in every answer

    other_model = LinearModel(multi.model.weights.copy(), multi.model.bias)
    other_model.weights[0, 0] += 1e-3
    plain = SlotLinearModel(multi.model, TOY_256)
    plain_other = SlotLinearModel(other_model, TOY_256)
    for server in (plain, plain_other):
        server._rerandomize = False  # the test-only switch: what the answer would be without it
    deterministic = [
        loads(Envelope.parse(s.predict(query, multi.keys)).blobs[0], multi.context).data[1]
        for s in (plain, plain, plain_other)
    ]
    assert np.array_equal(deterministic[0], deterministic[1])  # a function of the query and the keys...
    assert not np.array_equal(deterministic[0], deterministic[2])  # ...and of the weights: W leaks through c1
    np.testing.assert_allclose(
        multi.client.decrypt(multi.server.predict(query, multi.keys)),
        multi.model.decision_function(np.ones(10) * 0.5),
        atol=1e-5,
    )


def test_the_plan_bounds_inputs_so_that_scores_cannot_wrap(multi: Served) -> None:
    from heedu.inference.slots import largest_input_bound

    bound = multi.plan.input_bound
    largest = largest_input_bound(multi.model, multi.context)
    assert bound == 2.0 ** math.floor(math.log2(largest)) and largest / 2 < bound <= largest and bound > 5
    with pytest.raises(ProtocolError, match="beyond the plan's bound"):
        multi.client.encrypt(np.full(10, bound * 1.01))
    edge = np.zeros(10)
    edge[0] = -bound
    multi.assert_close(edge, multi.scores(edge))
    narrower = SlotLinearModel(multi.model, TOY_256, input_bound=1.0)
    assert narrower.plan.input_bound == 1.0 and narrower.plan.fingerprint != multi.plan.fingerprint
    with pytest.raises(ParameterError, match="input_bound"):
        SlotLinearModel(multi.model, TOY_256, input_bound=largest * 1.01)
    with pytest.raises(ParameterError, match="do not fit"):
        SlotLinearModel(LinearModel(np.ones((2, 3)), np.array([0.0, 1e6])), TOY_256)


def test_one_output_model_decrypts_to_its_decision_function_shape() -> None:
    served = serve(_random_model(1, 8, seed=15), TOY_256)
    x = np.random.default_rng(16).normal(size=(3, 8))
    assert served.model.decision_function(x).shape == (3, 1)
    assert served.scores(x).shape == (3, 1)


def test_one_output_model_values(multi: Served) -> None:
    model = LinearModel(np.linspace(-1, 1, 8), 0.25, one_dimensional=True)
    served = serve(model, TOY_256)
    x = np.random.default_rng(17).normal(size=(5, 8))
    served.assert_close(x, served.scores(x))


def test_all_zero_weights_are_refused() -> None:
    with pytest.raises(ParameterError, match="all zero"):
        SlotLinearModel(LinearModel(np.zeros((2, 4)), np.ones(2)), TOY_64)


def test_constructors_refuse_wrong_arguments(multi: Served) -> None:
    with pytest.raises(TypeError):
        SlotLinearModel(np.ones((2, 3)), TOY_64)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        InferenceClient(multi.plan.to_json())  # type: ignore[arg-type]
    one_level = _toy(64, (50, 50))
    with pytest.raises(ParameterError, match="rescales once"):
        SlotLinearModel(_random_model(2, 4, seed=0), one_level)
    with pytest.raises(ParameterError, match="rescales once"):
        InferenceClient(SlotPlan(one_level, PackingPlan.for_model(4, 2, 32)))
    with pytest.raises(ParameterError):  # 40 outputs pad to 64 slots, more than the 32 there are
        SlotLinearModel(_random_model(40, 4, seed=0), TOY_64)


@pytest.mark.parametrize(
    "inputs",
    [np.ones(9), np.ones((2, 11)), np.zeros((0, 10)), [np.nan] * 10, np.ones((2, 2, 10)), "x" * 10],
    ids=["short", "long", "empty", "nan", "3-d", "string"],
)
def test_encrypt_refuses_malformed_inputs(multi: Served, inputs: object) -> None:
    with pytest.raises(ShapeError):
        multi.client.encrypt(inputs)


def test_encrypt_refuses_ragged_inputs(multi: Served) -> None:
    with pytest.raises(ShapeError):
        multi.client.encrypt([[0.0] * 10, [0.0] * 9])


def test_reprs_hide_the_secret(multi: Served) -> None:
    assert repr(multi.client) == "SlotClient(3 x 10, <secret key hidden>)"
    assert "3 x 10" in repr(multi.server)


def test_the_client_refuses_to_be_pickled(multi: Served) -> None:
    import pickle

    with pytest.raises(SecretKeyExposureError):
        pickle.dumps(multi.client)


# --------------------------------------------------------------------------- the plan


def test_plan_json_round_trip_and_fingerprint_stability(multi: Served) -> None:
    plan = multi.plan
    text = plan.to_json()
    again = SlotPlan.from_json(text, allow_insecure=True)  # a toy ring: only this caller can say so
    assert again == plan and again.to_json() == text
    assert again.fingerprint == plan.fingerprint
    assert plan.fingerprint == hashlib.blake2b(text.encode(), digest_size=16).digest()
    data = json.loads(text)
    assert data["coeff_modulus"] == list(TOY_256.primes) and data["poly_modulus_degree"] == 256
    assert "allow_insecure" not in data and data["protocol"] == PROTOCOL_VERSION
    # Rebuilding the server gives the same plan, so existing clients keep working.
    rebuilt = SlotLinearModel(multi.model, TOY_256)
    assert rebuilt.plan.fingerprint == plan.fingerprint
    # A client that only saw the JSON interoperates with the server.
    client = InferenceClient(again)
    x = np.random.default_rng(20).normal(size=(2, 10))
    multi.assert_close(x, client.decrypt(multi.server.predict(client.encrypt(x), client.public_keys())))


def test_fingerprint_names_sizes_and_parameters(multi: Served) -> None:
    fingerprint = multi.plan.fingerprint
    assert len(fingerprint) == 16
    same_shape = SlotLinearModel(_random_model(3, 10, seed=99), TOY_256)
    # The plan is public: it does not depend on the weights, beyond the power of two of its input bound.
    assert same_shape.plan.input_bound == multi.plan.input_bound
    assert same_shape.plan.fingerprint == fingerprint
    others = [
        SlotLinearModel(_random_model(3, 11, seed=1), TOY_256),
        SlotLinearModel(_random_model(4, 10, seed=1), TOY_256),
        SlotLinearModel(multi.model, TOY_512),
        SlotLinearModel(multi.model, _toy(256, (50, 40, 40, 50), scale=2.0**39)),
    ]
    fingerprints = {fingerprint, *(other.plan.fingerprint for other in others)}
    assert len(fingerprints) == 1 + len(others)


def _edited_plan(plan: SlotPlan, edit: object) -> str:
    data = json.loads(plan.to_json())
    edit(data)  # type: ignore[operator]
    return json.dumps(data)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param("null", id="null"),
        pytest.param("[1, 2]", id="list"),
        pytest.param('"plan"', id="string"),
        pytest.param("{}", id="no-fields"),
        pytest.param(None, id="none"),
        pytest.param(
            '{"protocol": 2, "poly_modulus_degree": 256, "coeff_modulus": [3], "scale": 1.0, "packing": {}}',
            id="bad-prime",
        ),
        pytest.param('{"protocol": 1}', id="old-protocol"),
        pytest.param(" " * (64 * 1024 + 1), id="oversized"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-nesting"),
    ],
)
def test_from_json_refuses_malformed_text(text: object) -> None:
    with pytest.raises(ProtocolError):
        SlotPlan.from_json(text, allow_insecure=True)  # type: ignore[arg-type]


def test_a_served_plan_cannot_opt_the_client_into_a_toy_ring(multi: Served) -> None:
    """The audit's attack: a fake service serves N = 256 and asks, in its JSON, for allow_insecure."""
    data = json.loads(multi.plan.to_json())
    data["allow_insecure"] = True  # ignored: not a field of the plan
    with pytest.raises(heedu.SecurityError, match="allow_insecure=True"):
        SlotPlan.from_json(json.dumps(data))
    assert SlotPlan.from_json(json.dumps(data), allow_insecure=True).fingerprint == multi.plan.fingerprint


def test_a_plan_that_would_allocate_too_much_is_refused_before_allocating(multi: Served) -> None:
    data = json.loads(multi.plan.to_json())
    data.update(poly_modulus_degree=32768, coeff_modulus=[2**40 + 1] * 38)  # the audit's 623-byte plan
    with pytest.raises(ProtocolError, match="MiB of tables"):
        SlotPlan.from_json(json.dumps(data), allow_insecure=True)
    data.update(coeff_modulus=[2**1030 + 1, 97])  # once an OverflowError
    with pytest.raises(ProtocolError, match="integers in"):
        SlotPlan.from_json(json.dumps(data), allow_insecure=True)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d["packing"].update(class_block=16), id="class-block"),
        pytest.param(lambda d: d["packing"].update(feature_block=32), id="feature-block"),
        pytest.param(lambda d: d["packing"].update(baby_step=1), id="baby-step"),
        pytest.param(lambda d: d["packing"].update(feature_chunks=2), id="chunks"),
        pytest.param(lambda d: d["packing"].update(slot_count=64, feature_block=16), id="slot-count"),
        pytest.param(lambda d: d.update(poly_modulus_degree=512), id="degree"),
        pytest.param(lambda d: d["packing"].update(extra=1), id="extra-field"),
        pytest.param(lambda d: d["packing"].pop("baby_step"), id="missing-field"),
        pytest.param(lambda d: d["packing"].update(n_outputs="three"), id="string-size"),
        pytest.param(lambda d: d.update(scale="big"), id="string-scale"),
        pytest.param(lambda d: d.update(coeff_modulus=7), id="modulus-not-a-list"),
        pytest.param(lambda d: d.pop("coeff_modulus"), id="missing-modulus"),
        pytest.param(
            lambda d: d.update(packing=[1, 2]),
            id="packing-not-an-object",
        ),
        pytest.param(
            lambda d: d.update(poly_modulus_degree=float("inf")),
            id="infinite-degree",
        ),
        pytest.param(
            lambda d: d["packing"].update(n_outputs=1e400),
            id="infinite-size",
        ),
        pytest.param(lambda d: d.update(input_bound=0), id="zero-bound"),
        pytest.param(lambda d: d.update(input_bound=-1.0), id="negative-bound"),
        pytest.param(lambda d: d.update(input_bound=1e400), id="infinite-bound"),
        pytest.param(lambda d: d.update(input_bound="1"), id="string-bound"),
        pytest.param(lambda d: d.pop("input_bound"), id="missing-bound"),
    ],
)
def test_from_json_refuses_inconsistent_or_mistyped_plans(multi: Served, edit: object) -> None:
    with pytest.raises(ProtocolError):
        SlotPlan.from_json(_edited_plan(multi.plan, edit), allow_insecure=True)


def test_from_json_refuses_impossible_sizes(multi: Served) -> None:
    with pytest.raises(heedu.HeeduError):
        SlotPlan.from_json(_edited_plan(multi.plan, lambda d: d["packing"].update(n_outputs=0)), True)


def test_plan_describe(ten: Served) -> None:
    text = ten.plan.describe()
    assert text.startswith(
        f"CKKS N = 512, primes [60, 40, 40, 60] bits, scale 2^40, inputs |x| <= {ten.plan.input_bound:g}\n"
    )
    assert f"Galois keys needed: {ten.plan.packing.rotation_steps}" in text
    assert "10 x 50 on 256 slots" in text


def test_query_for_another_plan_is_refused(multi: Served, ten: Served) -> None:
    x_ten = np.random.default_rng(21).normal(size=50)
    with pytest.raises(ProtocolError, match="another model"):
        multi.server.predict(ten.client.encrypt(x_ten), multi.keys)
    x = np.random.default_rng(22).normal(size=10)
    with pytest.raises(ProtocolError, match="another model"):
        ten.client.decrypt(multi.server.predict(multi.client.encrypt(x), multi.keys))
    # The same model served with other parameters is another plan, too.
    elsewhere = SlotLinearModel(multi.model, TOY_512)
    with pytest.raises(ProtocolError, match="another model"):
        elsewhere.predict(multi.client.encrypt(x), multi.keys)


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("name", ["multi", "wide", "ten", "deep", "tiny"])
def test_key_bundle_holds_a_public_key_and_exactly_the_plan_steps_trimmed(
    name: str, request: pytest.FixtureRequest
) -> None:
    served: Served = request.getfixturevalue(name)
    ctx, packing = served.context, served.plan.packing
    top, n = ctx.max_level, ctx.poly_modulus_degree
    header, public_blob, galois_blob = split_keys(served.keys)
    assert KEYS_HEADER.unpack(header) == (b"HEIK", PROTOCOL_VERSION, 0, 0, served.plan.fingerprint)
    public_key = loads(public_blob, ctx)
    assert isinstance(public_key, heedu.PublicKey) and public_key.seed is not None
    galois = loads(galois_blob, ctx)
    assert isinstance(galois, GaloisKeys) and not galois.has_conjugation()
    expected = {galois_elt_from_step(step, n): step for step in packing.rotation_steps}
    assert galois.galois_elts() == sorted(expected)
    for element, step in expected.items():
        key = galois.keys[element]
        level = top if step in packing.baby_rotations else top - 1
        assert key.level == level, f"step {step}"
        assert key.data.shape == (level + 1, 2, level + 2, n)
        assert key.seeds is not None and len(key.seeds) == level + 1
    assert served.client.public_keys() is served.keys  # made once
    assert abs(len(served.keys) - served.plan.key_bytes) < 2048  # the plan's estimate, before any key exists


def test_trimmed_keys_are_smaller_and_untrimmed_keys_still_work(deep: Served) -> None:
    ctx, plan = deep.context, deep.plan
    secret = heedu.KeyGenerator(ctx).secret_key()
    client = InferenceClient(plan, secret_key=secret)
    trimmed = client.public_keys()
    header, public_blob, trimmed_galois = split_keys(trimmed)
    galois = heedu.KeyGenerator(ctx, secret_key=secret).galois_keys(steps=plan.packing.rotation_steps)
    untrimmed = join_keys(header, public_blob, dumps(galois, ctx))
    assert len(trimmed) < len(untrimmed)
    # Expected sizes from the shapes: one polynomial per component and row, plus a seed per component.
    levels = plan.packing.steps_by_level(ctx.max_level)
    payload = sum(4 + 4 + (level + 1) * ((level + 2) * ctx.poly_modulus_degree * 8 + 32) for level in levels.values())
    assert len(trimmed_galois) == 48 + 4 + payload
    assert len(public_blob) == 48 + (ctx.max_level + 2) * ctx.poly_modulus_degree * 8 + 32  # seeded: b and a seed
    x = np.random.default_rng(23).normal(size=(2, 20))
    for keys in (trimmed, untrimmed):
        deep.assert_close(x, client.decrypt(deep.server.predict(client.encrypt(x), keys)))


def test_the_key_id_is_a_function_of_the_secret_key(multi: Served) -> None:
    """A client restored from its secret key (as the command line does) keeps its key id."""
    from heedu.inference.slots import key_id_of

    secret = heedu.KeyGenerator(multi.context).secret_key()
    first, again = InferenceClient(multi.plan, secret_key=secret), InferenceClient(multi.plan, secret_key=secret)
    assert first.key_id == again.key_id != multi.client.key_id
    assert first.public_keys() != again.public_keys()  # fresh Galois keys, the same public key
    assert split_keys(first.public_keys())[1] == split_keys(again.public_keys())[1]
    assert key_id_of(split_keys(first.public_keys())[1]) == first.key_id
    x = np.ones(10) * 0.25
    multi.assert_close(x, again.decrypt(multi.server.predict(first.encrypt(x), first.public_keys())))

def test_load_keys_parses_each_bundle_once(multi: Served) -> None:
    first = multi.server.load_keys(multi.keys)
    assert multi.server.load_keys(bytearray(multi.keys)) is first


def test_keys_of_another_client_are_refused_not_decrypted_to_garbage(multi: Served) -> None:
    other = InferenceClient(multi.plan)
    query = multi.client.encrypt(np.ones(10))
    with pytest.raises(ProtocolError, match="another client"):
        multi.server.predict(query, other.public_keys())
    answer = other.encrypt(np.ones(10))
    with pytest.raises(ProtocolError, match="another client"):
        multi.client.decrypt(multi.server.predict(answer, other.public_keys()))
    assert multi.client.key_id != other.key_id and len(other.key_id) == 16


def _keys_without(served: Served, step: int) -> bytes:
    header, public_blob, galois_blob = split_keys(served.keys)
    galois = loads(galois_blob, served.context)
    element = galois_elt_from_step(step, served.context.poly_modulus_degree)
    keys = {g: k for g, k in galois.keys.items() if g != element}
    assert len(keys) == len(galois.keys) - 1
    return join_keys(header, public_blob, dumps(GaloisKeys(keys, galois.poly_modulus_degree), served.context))


def _keys_trimmed(served: Served, step: int, level: int) -> bytes:
    header, public_blob, galois_blob = split_keys(served.keys)
    galois = loads(galois_blob, served.context)
    element = galois_elt_from_step(step, served.context.poly_modulus_degree)
    keys = dict(galois.keys)
    keys[element] = keys[element].trimmed(level)
    return join_keys(header, public_blob, dumps(GaloisKeys(keys, galois.poly_modulus_degree), served.context))


@pytest.mark.parametrize("which", ["baby", "giant", "fold"])
def test_keys_missing_a_step_are_refused(deep: Served, which: str) -> None:
    packing = deep.plan.packing
    step = {"baby": packing.baby_rotations, "giant": packing.giant_rotations, "fold": packing.fold_rotations}[which][-1]
    with pytest.raises(MissingKeyError, match=f"rotation by {step} step"):
        deep.server.predict(deep.client.encrypt(np.ones(20)), _keys_without(deep, step))


@pytest.mark.parametrize(("which", "below"), [("baby", 1), ("baby", 3), ("giant", 1), ("fold", 2)])
def test_keys_trimmed_below_their_level_are_refused(deep: Served, which: str, below: int) -> None:
    packing = deep.plan.packing
    level = (deep.context.max_level if which == "baby" else deep.context.max_level - 1) - below
    assert level >= 0
    step = {"baby": packing.baby_rotations, "giant": packing.giant_rotations, "fold": packing.fold_rotations}[which][0]
    with pytest.raises(ProtocolError, match="trimmed below"):
        deep.server.predict(deep.client.encrypt(np.ones(20)), _keys_trimmed(deep, step, level))


def _key_material(served: Served, kind: str) -> bytes:
    """Serialized heedu objects that are not this plan's key bundle, all made in ``served``'s context."""
    ctx = served.context
    keygen = heedu.KeyGenerator(ctx)
    return {
        "public-key": lambda: dumps(keygen.public_key(), ctx),
        "relin-keys": lambda: dumps(keygen.relin_keys(), ctx),
        "galois-keys": lambda: split_keys(served.keys)[2],
        "parameters": lambda: dumps(ctx.parameters),
        "ciphertext": lambda: Envelope.parse(served.client.encrypt(np.ones(served.plan.packing.n_features))).blobs[0],
        "secret-key": lambda: dumps(keygen.secret_key(), ctx, allow_secret_key=True),
    }[kind]()


def _bundle_with(served: Served, public: bytes | None = None, galois: bytes | None = None) -> bytes:
    header, public_blob, galois_blob = split_keys(served.keys)
    return join_keys(
        header, public if public is not None else public_blob, galois if galois is not None else galois_blob
    )


KEY_CASES = [
    ("string", lambda multi, ten: "keys", ProtocolError),
    ("none", lambda multi, ten: None, ProtocolError),
    ("list", lambda multi, ten: list(multi.keys[:10]), ProtocolError),
    ("empty", lambda multi, ten: b"", ProtocolError),
    ("truncated", lambda multi, ten: multi.keys[:-1], ProtocolError),
    ("trailing-byte", lambda multi, ten: multi.keys + b"\0", ProtocolError),
    ("random-bytes", lambda multi, ten: np.random.default_rng(24).bytes(5000), ProtocolError),
    ("other-plan", lambda multi, ten: ten.keys, ProtocolError),
    ("old-version", lambda multi, ten: multi.keys[:4] + b"\x01" + multi.keys[5:], ProtocolError),
    ("other-fingerprint", lambda multi, ten: multi.keys[:8] + bytes(16) + multi.keys[24:], ProtocolError),
    ("query-as-keys", lambda multi, ten: multi.client.encrypt(np.ones(10)), ProtocolError),
    ("bare-galois-keys", lambda multi, ten: _key_material(multi, "galois-keys"), ProtocolError),
    ("bare-public-key", lambda multi, ten: _key_material(multi, "public-key"), ProtocolError),
    (
        "relin-keys-as-galois",
        lambda multi, ten: _bundle_with(multi, galois=_key_material(multi, "relin-keys")),
        ProtocolError,
    ),
    (
        "galois-as-public",
        lambda multi, ten: _bundle_with(multi, public=_key_material(multi, "galois-keys")),
        ProtocolError,
    ),
    ("parameters", lambda multi, ten: _bundle_with(multi, public=_key_material(multi, "parameters")), ProtocolError),
    ("ciphertext", lambda multi, ten: _bundle_with(multi, galois=_key_material(multi, "ciphertext")), ProtocolError),
    ("other-context", lambda multi, ten: _bundle_with(multi, galois=split_keys(ten.keys)[2]), ContextMismatchError),
    (
        "secret-key",
        lambda multi, ten: _bundle_with(multi, public=_key_material(multi, "secret-key")),
        SecretKeyExposureError,
    ),
    ("corrupt-public-key", lambda multi, ten: _bundle_with(multi, public=b"\xff" * 100), ProtocolError),
]


@pytest.mark.parametrize(("make", "error"), [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_malformed_key_bundles_are_refused(multi: Served, ten: Served, make, error: type[Exception]) -> None:
    with pytest.raises(error):
        multi.server.predict(multi.client.encrypt(np.ones(10)), make(multi, ten))


# --------------------------------------------------------------------------- queries and answers


def test_queries_are_seeded_about_half_size(multi: Served) -> None:
    ctx = multi.context
    query = multi.client.encrypt(np.random.default_rng(25).normal(size=(11, 10)))
    envelope = Envelope.parse(query)
    assert envelope.magic == QUERY_MAGIC and envelope.version == PROTOCOL_VERSION
    assert envelope.fingerprint == multi.plan.fingerprint and envelope.flags == 0 and envelope.reserved == 0
    assert envelope.key_id == multi.client.key_id
    for blob in envelope.blobs:
        ciphertext = loads(blob, ctx)
        assert isinstance(ciphertext, Ciphertext)
        assert ciphertext.seed is not None and ciphertext.size == 2
        assert ciphertext.level == ctx.max_level and ciphertext.scale == ctx.scale
        unseeded = dumps(Ciphertext(ciphertext.data, ciphertext.level, ciphertext.scale), ctx)
        assert 0.45 < len(blob) / len(unseeded) < 0.55
    assert Envelope.parse(multi.client.encrypt(np.ones(10))).flags == 1  # a single input is flagged


def test_answers_hold_one_level_zero_ciphertext_per_group(multi: Served) -> None:
    ctx = multi.context
    query = multi.client.encrypt(np.random.default_rng(26).normal(size=(11, 10)))
    answer = Envelope.parse(multi.server.predict(query, multi.keys))
    assert answer.magic == ANSWER_MAGIC and answer.fingerprint == multi.plan.fingerprint
    assert answer.key_id == multi.client.key_id
    assert (answer.inputs, answer.groups, answer.chunks) == (11, 2, 1)
    for blob in answer.blobs:
        ciphertext = loads(blob, ctx)
        assert isinstance(ciphertext, Ciphertext) and ciphertext.level == 0 and ciphertext.size == 2
        assert math.isclose(ciphertext.scale, ctx.scale**2 / ctx.data_primes[-1], rel_tol=1e-12)
        assert len(blob) < len(Envelope.parse(query).blobs[0])


def _first_length(envelope: Envelope, message: bytes, length: int) -> bytes:
    """``message`` with the length prefix of its first object replaced."""
    return envelope.header() + struct.pack("<Q", length) + message[ENVELOPE.size + 8 :]


def _envelope_cases(magic: bytes, other_magic: bytes) -> list:
    """``(id, function(envelope, message) -> bytes)``: each makes a malformed message from a valid one."""
    return [
        ("empty", lambda e, m: b""),
        ("header-only-part", lambda e, m: m[:20]),
        ("header-only", lambda e, m: m[: ENVELOPE.size]),
        ("mid-length", lambda e, m: m[: ENVELOPE.size + 4]),
        ("mid-blob", lambda e, m: m[: ENVELOPE.size + 8 + len(e.blobs[0]) // 2]),
        ("last-byte-missing", lambda e, m: m[:-1]),
        ("trailing-byte", lambda e, m: m + b"\0"),
        ("extra-blob", lambda e, m: m + struct.pack("<Q", 3) + b"abc"),
        ("wrong-magic", lambda e, m: e.replace(magic=b"XXXX")),
        ("other-magic", lambda e, m: e.replace(magic=other_magic)),
        ("version-0", lambda e, m: e.replace(version=0)),
        ("version-2", lambda e, m: e.replace(version=PROTOCOL_VERSION + 1)),
        ("fingerprint", lambda e, m: e.replace(fingerprint=bytes(16))),
        ("fingerprint-bit", lambda e, m: e.replace(fingerprint=bytes([e.fingerprint[0] ^ 1]) + e.fingerprint[1:])),
        ("zero-inputs", lambda e, m: e.replace(inputs=0)),
        ("too-many-inputs", lambda e, m: e.replace(inputs=MAX_INPUTS + 1)),
        ("max-inputs", lambda e, m: e.replace(inputs=2**32 - 1)),
        ("inputs-need-more-groups", lambda e, m: e.replace(inputs=e.inputs + 100)),
        ("key-id", lambda e, m: e.replace(key_id=bytes(16))),
        ("one-group-more", lambda e, m: e.replace(groups=e.groups + 1)),
        ("one-group-less", lambda e, m: e.replace(groups=e.groups - 1, blobs=e.blobs[1:])),
        ("zero-groups", lambda e, m: e.replace(groups=0, blobs=[])),
        ("huge-groups", lambda e, m: e.replace(groups=2**32 - 1)),
        ("zero-chunks", lambda e, m: e.replace(chunks=0, blobs=[])),
        ("two-chunks", lambda e, m: e.replace(chunks=2, blobs=e.blobs * 2)),
        ("huge-chunks", lambda e, m: e.replace(chunks=2**32 - 1)),
        ("length-over-limit", lambda e, m: _first_length(e, m, MAX_OBJECT_BYTES + 1)),
        ("length-2^64-1", lambda e, m: _first_length(e, m, 2**64 - 1)),
        ("length-past-end", lambda e, m: _first_length(e, m, len(m))),
        ("length-short", lambda e, m: _first_length(e, m, len(e.blobs[0]) - 1)),
        ("random-bytes", lambda e, m: np.random.default_rng(27).bytes(len(m))),
        ("random-with-header", lambda e, m: e.header() + np.random.default_rng(28).bytes(len(m) - ENVELOPE.size)),
        ("blob-garbage", lambda e, m: e.replace(blobs=[b"\xff" * len(b) for b in e.blobs])),
        ("blob-empty", lambda e, m: e.replace(blobs=[b"" for _ in e.blobs])),
        ("blob-truncated", lambda e, m: e.replace(blobs=[b[:-8] for b in e.blobs])),
        ("blob-wrong-heedu-magic", lambda e, m: e.replace(blobs=[b"XEDU" + b[4:] for b in e.blobs])),
        ("blob-wrong-heedu-version", lambda e, m: e.replace(blobs=[b[:4] + b"\x02" + b[5:] for b in e.blobs])),
        ("blob-unreduced", lambda e, m: e.replace(blobs=[b[:64] + b"\xff" * 8 + b[72:] for b in e.blobs])),
        ("blob-level-field", lambda e, m: e.replace(blobs=[b[:48] + struct.pack("<I", 7) + b[52:] for b in e.blobs])),
    ]


QUERY_CASES = _envelope_cases(QUERY_MAGIC, ANSWER_MAGIC)
ANSWER_CASES = _envelope_cases(ANSWER_MAGIC, QUERY_MAGIC)


@pytest.fixture(scope="module")
def batch_messages(multi: Served) -> tuple[bytes, bytes]:
    """A valid query of 11 inputs (2 groups) and its answer."""
    query = multi.client.encrypt(np.random.default_rng(29).normal(size=(11, 10)))
    return query, multi.server.predict(query, multi.keys)


@pytest.mark.parametrize("mutate", [case[1] for case in QUERY_CASES], ids=[case[0] for case in QUERY_CASES])
def test_malformed_queries_raise_protocol_error(multi: Served, batch_messages: tuple[bytes, bytes], mutate) -> None:
    query = batch_messages[0]
    bad = mutate(Envelope.parse(query), query)
    assert bad != query
    with pytest.raises(ProtocolError):
        multi.server.predict(bad, multi.keys)


@pytest.mark.parametrize("mutate", [case[1] for case in ANSWER_CASES], ids=[case[0] for case in ANSWER_CASES])
def test_malformed_answers_raise_heedu_errors(multi: Served, batch_messages: tuple[bytes, bytes], mutate) -> None:
    answer = batch_messages[1]
    bad = mutate(Envelope.parse(answer), answer)
    assert bad != answer
    # Envelope faults are ProtocolErrors; a corrupt ciphertext inside is heedu's SerializationError.
    with pytest.raises((ProtocolError, SerializationError)):
        multi.client.decrypt(bad)


@pytest.mark.parametrize("message", ["query", None, 17, [b"HEIQ"], np.zeros(64, dtype=np.uint8)], ids=repr)
def test_messages_must_be_bytes(multi: Served, batch_messages: tuple[bytes, bytes], message: object) -> None:
    with pytest.raises(ProtocolError, match="must be bytes"):
        multi.server.predict(message, multi.keys)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="must be bytes"):
        multi.server.predict(batch_messages[0], message)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="must be bytes"):
        multi.client.decrypt(message)  # type: ignore[arg-type]


def test_messages_may_be_bytearray_or_memoryview(multi: Served, batch_messages: tuple[bytes, bytes]) -> None:
    query, answer = batch_messages
    again = multi.server.predict(memoryview(query), bytearray(multi.keys))
    np.testing.assert_allclose(multi.client.decrypt(bytearray(again)), multi.client.decrypt(answer), atol=1e-5)


def _query_with(served: Served, ciphertexts: list[bytes], inputs: int = 1) -> bytes:
    envelope = Envelope.parse(served.client.encrypt(np.ones((inputs, served.plan.packing.n_features))))
    return envelope.replace(blobs=ciphertexts)


def test_query_ciphertexts_must_be_fresh_top_level(multi: Served, ten: Served) -> None:
    ctx = multi.context
    keygen = heedu.KeyGenerator(ctx)
    encoder = heedu.CKKSEncoder(ctx)
    encryptor = heedu.Encryptor(ctx, keygen.public_key(), keygen.secret_key())
    evaluator = heedu.Evaluator(ctx)
    values = np.ones(ctx.slot_count)
    fresh = encryptor.encrypt_symmetric(encoder.encode(values))
    cases = {
        "lower-level": dumps(encryptor.encrypt_symmetric(encoder.encode(values, level=0)), ctx),
        "mod-switched": dumps(evaluator.mod_switch_to_next(fresh), ctx),
        "wrong-scale": dumps(encryptor.encrypt_symmetric(encoder.encode(values, scale=2.0**30)), ctx),
        "size-3": dumps(evaluator.multiply(fresh, fresh), ctx),
        "plaintext": dumps(encoder.encode(values), ctx),
        "keys": multi.keys,
        "parameters": dumps(ctx.parameters),
    }
    for name, blob in cases.items():
        with pytest.raises(ProtocolError):
            multi.server.predict(_query_with(multi, [blob]), multi.keys)
            pytest.fail(f"{name} accepted")
    other = Envelope.parse(ten.client.encrypt(np.ones(50))).blobs[0]  # a ciphertext of another context
    with pytest.raises(ContextMismatchError):
        multi.server.predict(_query_with(multi, [other]), multi.keys)
    with pytest.raises(SecretKeyExposureError):
        multi.server.predict(_query_with(multi, [dumps(keygen.secret_key(), ctx, allow_secret_key=True)]), multi.keys)
    # An ordinary public-key encryption at the top level is a valid query ciphertext.
    public = dumps(encryptor.encrypt(encoder.encode(values)), ctx)
    assert multi.server.predict(_query_with(multi, [public]), multi.keys)


def _answer_with(served: Served, blob: bytes, flags: int = 0) -> bytes:
    fingerprint, key_id = served.plan.fingerprint, served.client.key_id
    return Envelope(ANSWER_MAGIC, PROTOCOL_VERSION, flags, 0, fingerprint, key_id, 1, 1, 1, [blob]).build()


def test_answer_ciphertext_at_the_wrong_level_is_refused(multi: Served) -> None:
    echoed = Envelope.parse(multi.client.encrypt(np.ones(10))).blobs[0]
    assert loads(echoed, multi.context).level == multi.context.max_level
    with pytest.raises(ProtocolError):
        multi.client.decrypt(_answer_with(multi, echoed, flags=1))


@pytest.mark.parametrize("scale", [1e-300, 2.0**30, 2.0**1000], ids=["tiny", "plausible", "huge"])
def test_answer_ciphertext_with_the_wrong_scale_is_refused(multi: Served, scale: float) -> None:
    answer = multi.server.predict(multi.client.encrypt(np.ones(10)), multi.keys)
    forged = bytearray(Envelope.parse(answer).blobs[0])
    struct.pack_into("<d", forged, 48 + 8, scale)  # the ciphertext's scale field, after its level and size
    with pytest.raises(ProtocolError, match="scale"):
        multi.client.decrypt(_answer_with(multi, bytes(forged), flags=1))


def test_single_input_flag_with_several_inputs_is_refused(multi: Served, batch_messages: tuple[bytes, bytes]) -> None:
    answer = batch_messages[1]
    envelope = Envelope.parse(answer)
    assert envelope.inputs == 11
    with pytest.raises(ProtocolError):
        multi.client.decrypt(envelope.replace(flags=1))


# --------------------------------------------------------------------------- fuzzing


WORDS = [0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]


@st.composite
def mutated(draw: st.DrawFn, message: bytes) -> bytes:
    """``message`` after one to three random edits, biased towards the headers (envelope and first object)."""
    data = bytearray(message)
    for _ in range(draw(st.integers(1, 3))):
        size = max(1, len(data))
        where = draw(st.one_of(st.integers(0, 160), st.integers(0, size - 1))) % size
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "word"]))
        if kind == "flip":
            if data:
                data[where] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[where:]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 64))]
        else:
            width = draw(st.sampled_from([4, 8]))
            word = draw(st.sampled_from(WORDS)) % (1 << (8 * width))
            data[where : where + width] = word.to_bytes(width, "little")
    return bytes(data)


@pytest.fixture(scope="module")
def tiny_messages(tiny: Served) -> tuple[bytes, bytes]:
    query = tiny.client.encrypt(np.random.default_rng(30).normal(size=(2, 20)))
    return query, tiny.server.predict(query, tiny.keys)


FUZZ_EXAMPLES = max(100, settings.default.max_examples)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(data=st.data())
def test_fuzz_predict_raises_only_heedu_errors(
    tiny: Served, tiny_messages: tuple[bytes, bytes], data: st.DataObject
) -> None:
    query = tiny_messages[0]
    target = data.draw(st.sampled_from(["query", "keys"]))
    if target == "query":
        bad_query, bad_keys = data.draw(mutated(query)), tiny.keys
    else:
        bad_query, bad_keys = query, data.draw(mutated(tiny.keys))
    try:
        answer = tiny.server.predict(bad_query, bad_keys)
    except heedu.HeeduError:
        return
    Envelope.parse(answer)  # whatever got through was answered with a well-formed message


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(data=st.data())
def test_fuzz_decrypt_raises_only_heedu_errors(
    tiny: Served, tiny_messages: tuple[bytes, bytes], data: st.DataObject
) -> None:
    answer = tiny_messages[1]
    bad = data.draw(mutated(answer))
    # The client checks the answer's level, size and scale, so even a mutated scale must end in a HeeduError.
    try:
        scores = tiny.client.decrypt(bad)
    except heedu.HeeduError:
        return
    assert scores.shape[-1] == 3


# --------------------------------------------------------------------------- the tutorial's parameters


@pytest.mark.slow
def test_tutorial_parameters_mnist_sized_model() -> None:
    model = _random_model(10, 784, seed=31)
    server = SlotLinearModel(model)  # the default: N = 8192, [60, 40, 40, 60], scale 2^40
    assert server.plan.parameters == heedu.CKKSParameters.tutorial()
    packing = server.plan.packing
    assert (packing.feature_block, packing.class_block, packing.inputs_per_ciphertext) == (1024, 16, 4)
    client = InferenceClient(SlotPlan.from_json(server.plan.to_json()))  # secure: no opt-in needed
    x = np.random.default_rng(32).normal(size=(4, 784))
    scores = client.decrypt(server.predict(client.encrypt(x), client.public_keys()))
    expected = model.decision_function(x)
    assert scores.shape == (4, 10)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(scores.argmax(axis=1), expected.argmax(axis=1))
