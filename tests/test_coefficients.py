r"""Tests of heedu's default protocol, coefficient encoding (:mod:`heedu.inference.coefficients`).

What is pinned here:

* round trips equal the plaintext scores within the error budget the plan implies, for every
  layout class (one input, wide inputs, many outputs, binary, large batches), as a property;
* the answer holds :math:`c_1` and the score coefficients of :math:`c_0`, nothing else;
* the W-recovery attack (:mod:`heedu.tools.attacks`) succeeds against a server with
  re-randomization switched off and fails against the real one;
* flooding spreads the decrypted scores as much as the plan says;
* inputs beyond the plan's bound, other clients' keys and answers, and malformed bytes are
  refused with typed errors (the parsers are fuzzed);
* the default parameters meet the issue's size targets for one MNIST-sized image.
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression

import heedu
from heedu.errors import HeeduError, ParameterError, SecretKeyExposureError, SecurityError, ShapeError
from heedu.inference import (
    EncryptedLinearModel,
    InferenceClient,
    InferencePlan,
    LinearModel,
    ProtocolError,
    SlotClient,
    SlotLinearModel,
    read_plan,
)
from heedu.inference.bitpacking import packed_size, unpack_bits
from heedu.inference.coefficients import (
    NOISE_BOUND,
    SCORE_ROOM,
    _uniform_residues,
    choose_scales,
    default_parameters,
    score_bound,
)
from heedu.inference.envelope import HEADER
from heedu.sampling import SeededRandomSource
from heedu.tools.attacks import recover_weights

TOY = heedu.CKKSParameters(
    poly_modulus_degree=64, coeff_modulus_bits=[60, 60], special_prime=False, allow_insecure=True
)
ONE_PRIME = heedu.CKKSParameters(
    poly_modulus_degree=64, coeff_modulus_bits=[60], special_prime=False, allow_insecure=True
)


def _model(m: int, n: int, seed: int) -> LinearModel:
    rng = np.random.default_rng(seed)
    return LinearModel(rng.normal(size=(m, n)), rng.normal(size=m))


def error_budget(server: EncryptedLinearModel, x: np.ndarray) -> np.ndarray:
    r"""Per-score bound on :math:`|\text{decrypted} - (Wx + b)|`, from the plan's scales.

    Rounding the weights (:math:`\|x\|_1 / 2\Delta_w`) and the inputs (:math:`\|W_j\|_1 / 2\Delta_x`),
    flooding (:math:`2^f / P`), the encryption noise times the weights, and the answer's rounding
    (dropped bits and the switch to one prime; a generous :math:`2^{-14}` of a score unit here).
    """
    plan, model = server.plan, server.model
    layout = plan.layout(x.shape[0])
    _, _, flood = server.encoded_weights(layout)
    weights = np.abs(model.weights).sum()
    rounding = np.abs(x).sum(axis=1)[:, None] / (2 * plan.weight_scale)
    inputs = np.abs(model.weights).sum(axis=1)[None, :] / (2 * plan.input_scale)
    noise = (2.0**flood + 4 * NOISE_BOUND * weights * plan.weight_scale) / plan.product_scale
    return rounding + inputs + noise + 2.0**-14


def round_trip(server: EncryptedLinearModel, x: np.ndarray) -> np.ndarray:
    client = InferenceClient(server.plan)
    return client.decrypt(server.predict(client.encrypt(x), client.public_keys()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(1, 12),
    n=st.integers(1, 150),
    k=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    objective=st.sampled_from(["time", "bytes"]),
)
def test_round_trips_equal_the_plaintext_scores_for_any_shape(m, n, k, seed, objective):
    server = EncryptedLinearModel(_model(m, n, seed), TOY, objective=objective)
    x = np.random.default_rng(seed + 1).uniform(-1, 1, (k, n))
    scores = round_trip(server, x)
    plain = x @ server.model.weights.T + server.model.bias
    assert scores.shape == (k, m)
    assert np.all(np.abs(scores - plain) <= error_budget(server, x))


@pytest.mark.parametrize(
    ("case", "m", "n", "k"),
    [
        ("one input", 3, 20, 1),
        ("wide inputs (n > N)", 2, 200, 3),
        ("many outputs (several answers)", 40, 30, 2),
        ("large batch (feature-major)", 2, 3, 300),
    ],
)
def test_every_layout_class(case, m, n, k):
    server = EncryptedLinearModel(_model(m, n, 7), TOY)
    layout = server.plan.layout(k)
    x = np.random.default_rng(8).uniform(-1, 1, (k, n))
    scores = round_trip(server, x)
    assert np.all(np.abs(scores - (x @ server.model.weights.T + server.model.bias)) <= error_budget(server, x))
    if case.startswith("wide"):
        assert layout.feature_chunks > 1
    if case.startswith("many"):
        assert layout.output_blocks > 1
    if case.startswith("large"):
        assert layout.inputs_per_ciphertext > 1 and layout.groups(k) > 1


def test_binary_classifiers_and_regressors_come_back_shaped_like_scikit_learn():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (40, 6))
    y = (x[:, 0] > x[:, 1]).astype(int)
    for estimator in (LogisticRegression().fit(x, y), LinearRegression().fit(x, x @ np.arange(6.0))):
        server = EncryptedLinearModel.from_sklearn(estimator, TOY, input_bound=1.0)
        batch, single = round_trip(server, x[:5]), round_trip(server, x[0])
        expected = getattr(estimator, "decision_function", estimator.predict)(x[:5])
        assert batch.shape == (5,) and np.ndim(single) == 0
        np.testing.assert_allclose(batch, expected, atol=1e-4)


def test_the_default_parameters_meet_the_size_targets_for_one_mnist_sized_image():
    server = EncryptedLinearModel(_model(10, 784, 1))
    plan, client = server.plan, InferenceClient(server.plan)
    assert plan.parameters == default_parameters() and plan.parameters.is_secure
    x = np.random.default_rng(2).uniform(0, 1, 784)
    query, keys = client.encrypt(x), client.public_keys()
    answer = server.predict(query, keys)
    assert len(keys) == plan.key_bytes <= 64 * 1024
    assert len(answer) == plan.answer_bytes(1) <= 20_000
    assert len(query) == plan.query_bytes(1)
    layout = plan.layout(1)
    assert layout.feature_chunks * layout.output_blocks == 2  # the lower bound: 784 * 10 / 4096 -> 2 products
    np.testing.assert_allclose(client.decrypt(answer), server.model.decision_function(x), atol=1e-5)
    assert "no special prime" in plan.describe() and "never leaves the server" in plan.describe()


def test_answer_holds_only_c1_and_score_coefficients():
    server = EncryptedLinearModel(_model(3, 20, 4), TOY)
    client = InferenceClient(server.plan)
    plan, keys = server.plan, client.public_keys()
    x = np.eye(20)[:1]  # e_0: a full answer polynomial would be the encoded weights themselves
    answer = server.predict(client.encrypt(x), keys)
    layout, n = plan.layout(1), plan.parameters.poly_modulus_degree
    positions = layout.score_positions(1, 0, 0)
    assert positions.size == 3  # one value per score, not N
    assert len(answer) == HEADER.size + packed_size(n, plan.value_bits) + packed_size(positions.size, plan.value_bits)
    c0 = unpack_bits(answer[HEADER.size + packed_size(n, plan.value_bits) :], plan.value_bits, positions.size)
    assert c0.shape == (3,)
    np.testing.assert_allclose(client.decrypt(answer)[0], server.model.weights[:, 0] + server.model.bias, atol=1e-5)


def test_weights_are_recovered_without_rerandomization_and_not_with_it():
    model = _model(3, 40, 5)
    server = EncryptedLinearModel(model, ONE_PRIME, flooding_bits=4, dropped_bits=0)
    client = InferenceClient(server.plan)
    keys = client.public_keys()
    chunks = server.plan.layout(1).feature_chunks
    assert chunks >= 2
    queries = [client.encrypt(x) for x in np.random.default_rng(6).uniform(-1, 1, (chunks, 40))]
    server._rerandomize = False  # the test-only switch: what an answer would be without it
    recovered = recover_weights(server.plan, queries, [server.predict(q, keys) for q in queries])
    assert np.max(np.abs(recovered - model.weights)) < 1e-5
    server._rerandomize = True
    noise = recover_weights(server.plan, queries, [server.predict(q, keys) for q in queries])
    assert np.max(np.abs(noise - model.weights)) > 1e3
    with pytest.raises(ParameterError, match="unrounded"):
        recover_weights(EncryptedLinearModel(model, TOY).plan, queries, [])


@pytest.mark.parametrize("flooding_bits", [30, 40])
def test_flooding_spreads_the_scores_as_the_plan_says(flooding_bits):
    server = EncryptedLinearModel(_model(2, 10, 9), TOY, flooding_bits=flooding_bits, dropped_bits=0)
    client = InferenceClient(server.plan)
    keys, query = client.public_keys(), client.encrypt(np.full(10, 0.5))
    samples = np.array([client.decrypt(server.predict(query, keys)) for _ in range(40)])
    _, _, flood = server.encoded_weights(server.plan.layout(1))
    uniform_std = 2.0**flood / math.sqrt(3) / server.plan.product_scale  # uniform on [-2^f, 2^f)
    spread = samples.std(axis=0)
    assert np.all(spread > 0.5 * uniform_std) and np.all(spread < 1.6 * uniform_std)
    assert flood >= flooding_bits + math.log2(NOISE_BOUND)


def test_uniform_residues_are_exact_integers_in_range():
    moduli = TOY.primes
    residues = _uniform_residues(500, 70, moduli, SeededRandomSource(bytes(range(32))))
    ring = heedu.CKKSContext(TOY).ring(1)
    values = ring.basis.compose(residues, centered=True)
    assert all(-(2**70) <= v < 2**70 for v in values)
    assert max(values) > 2**68 and min(values) < -(2**68)  # the whole range is used


def test_scales_fit_the_modulus_with_the_flooding():
    model = _model(10, 784, 1)
    modulus = math.prod(default_parameters().primes)
    input_scale, weight_scale = choose_scales(model, modulus, 1.0, 40)
    assert math.log2(input_scale).is_integer() and math.log2(weight_scale).is_integer()
    assert SCORE_ROOM * score_bound(model, 1.0) * input_scale * weight_scale < modulus
    with pytest.raises(ParameterError, match="flooding_bits"):
        choose_scales(model, modulus, 1.0, 200)


def test_inputs_beyond_the_bound_and_malformed_inputs_are_refused():
    server = EncryptedLinearModel(_model(2, 4, 0), TOY, input_bound=2.0)
    client = InferenceClient(server.plan)
    client.encrypt(np.full(4, 2.0))
    with pytest.raises(ProtocolError, match="beyond the plan's bound"):
        client.encrypt(np.array([0.0, 2.5, 0.0, 0.0]))
    for bad in (np.ones(5), np.ones((2, 3)), np.array([np.nan, 0, 0, 0]), np.ones(4) * 1j, "text"):
        with pytest.raises(ShapeError):
            client.encrypt(bad)


def test_other_clients_keys_and_answers_are_refused_not_decrypted():
    server = EncryptedLinearModel(_model(2, 4, 0), TOY)
    alice, bob = InferenceClient(server.plan), InferenceClient(server.plan)
    query = alice.encrypt(np.ones(4) / 2)
    with pytest.raises(ProtocolError, match="another client"):
        server.predict(query, bob.public_keys())
    answer = server.predict(query, alice.public_keys())
    with pytest.raises(ProtocolError, match="another client's keys"):
        bob.decrypt(answer)
    other = EncryptedLinearModel(_model(2, 4, 1), TOY)
    with pytest.raises(ProtocolError, match="another model"):
        other.predict(query, alice.public_keys())
    with pytest.raises(ProtocolError, match="expected a query, got an answer"):
        server.predict(answer, alice.public_keys())
    with pytest.raises(ProtocolError, match=r"expected a public key bundle \(version 3\), got a query"):
        server.predict(query, query)


def test_a_client_restored_from_its_secret_key_keeps_its_key_id():
    server = EncryptedLinearModel(_model(2, 4, 0), TOY)
    first = InferenceClient(server.plan)
    again = InferenceClient(server.plan, secret_key=first._secret_key)
    assert again.public_keys() == first.public_keys() and again.key_id == first.key_id
    answer = server.predict(first.encrypt(np.ones(4) / 4), first.public_keys())
    np.testing.assert_allclose(again.decrypt(answer), first.decrypt(answer))


def test_the_client_is_never_pickled_and_hides_its_key():
    client = InferenceClient(EncryptedLinearModel(_model(2, 4, 0), TOY).plan)
    with pytest.raises(SecretKeyExposureError):
        pickle.dumps(client)
    assert "hidden" in repr(client)


def test_plans_round_trip_through_json_and_bad_plans_are_refused():
    plan = EncryptedLinearModel(_model(3, 5, 0), TOY).plan
    again = InferencePlan.from_json(plan.to_json(), allow_insecure=True)
    assert again == plan and again.fingerprint == plan.fingerprint
    assert read_plan(plan.to_json(), allow_insecure=True) == plan
    with pytest.raises(SecurityError):
        InferencePlan.from_json(plan.to_json())  # the toy ring is the reader's decision, never the plan's
    data = json.loads(plan.to_json())
    for field, value in [
        ("encoding", "slots-ish"), ("n_outputs", 0), ("n_features", -1), ("input_scale", 0.5),
        ("weight_scale", float("inf")), ("flooding_bits", 10_000), ("dropped_bits", 59), ("objective", "speed"),
        ("one_dimensional", "no"), ("weight_memory", 10), ("coeff_modulus", [4]), ("poly_modulus_degree", 65536),
    ]:
        with pytest.raises(ProtocolError):
            InferencePlan.from_json(json.dumps({**data, field: value}), allow_insecure=True)
    for text in ("", "[]", "{", "x" * 70_000, None):
        with pytest.raises(ProtocolError):
            read_plan(text, allow_insecure=True)  # type: ignore[arg-type]


def test_from_sklearn_chooses_the_protocol():
    model = _model(2, 4, 0)
    slots = heedu.CKKSParameters(poly_modulus_degree=64, coeff_modulus_bits=[50, 40, 40, 50], allow_insecure=True)
    slot_server = EncryptedLinearModel.from_sklearn(model, slots, encoding="slots")
    assert isinstance(slot_server, SlotLinearModel)
    client = InferenceClient(read_plan(slot_server.plan.to_json(), allow_insecure=True))
    assert isinstance(client, SlotClient)
    assert isinstance(EncryptedLinearModel.from_sklearn(model, TOY), EncryptedLinearModel)
    with pytest.raises(ParameterError, match="encoding"):
        EncryptedLinearModel.from_sklearn(model, TOY, encoding="rotations")
    with pytest.raises(ParameterError, match="special_prime=False"):
        EncryptedLinearModel(model, slots)
    with pytest.raises(ParameterError, match="all zero"):
        EncryptedLinearModel(LinearModel(np.zeros((2, 3)), np.ones(2)), TOY)
    for bound in (0, -1.0, float("nan"), True):
        with pytest.raises(ParameterError):
            EncryptedLinearModel(model, TOY, input_bound=bound)
    with pytest.raises(ParameterError, match="flooding_bits"):
        EncryptedLinearModel(model, TOY, flooding_bits=-1)


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Truncations, extensions and byte flips of ``data``."""
    size = len(data)
    flip = st.tuples(st.integers(0, size - 1), st.integers(1, 255)).map(
        lambda f: data[: f[0]] + bytes([data[f[0]] ^ f[1]]) + data[f[0] + 1 :]
    )
    return st.one_of(
        st.integers(0, size - 1).map(lambda cut: data[:cut]),
        st.binary(min_size=1, max_size=64).map(lambda tail: data + tail),
        flip,
    )


_FUZZ_SERVER = EncryptedLinearModel(_model(2, 4, 0), TOY)
_FUZZ_CLIENT = InferenceClient(_FUZZ_SERVER.plan)
_FUZZ_KEYS = _FUZZ_CLIENT.public_keys()
_FUZZ_QUERY = _FUZZ_CLIENT.encrypt(np.array([[0.5, 0.25, -0.5, 1.0]] * 3))
_FUZZ_ANSWER = _FUZZ_SERVER.predict(_FUZZ_QUERY, _FUZZ_KEYS)


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_the_parsers_raise_only_typed_errors(data):
    which = data.draw(st.sampled_from(["query", "keys", "answer", "plan"]))
    try:
        if which == "query":
            _FUZZ_SERVER.predict(data.draw(_mutations(_FUZZ_QUERY)), _FUZZ_KEYS)
        elif which == "keys":
            _FUZZ_SERVER.predict(_FUZZ_QUERY, data.draw(_mutations(_FUZZ_KEYS)))
        elif which == "answer":
            _FUZZ_CLIENT.decrypt(data.draw(_mutations(_FUZZ_ANSWER)))
        else:
            text = _FUZZ_SERVER.plan.to_json().encode()
            read_plan(data.draw(_mutations(text)).decode("utf-8", "replace"), allow_insecure=True)
    except HeeduError:
        pass  # a typed refusal; anything else fails the test
