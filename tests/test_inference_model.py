"""Tests of :class:`heedu.inference.LinearModel`: scikit-learn linear estimators as plain ``W``, ``b``.

The oracle is scikit-learn itself: for every supported estimator, fitted in a
few milliseconds on small synthetic data, ``LinearModel.from_sklearn(est)``
must reproduce ``est.decision_function`` (classifiers) or ``est.predict``
(regressors) in shape *and* values, for batches and for single rows. The
constructor and ``check_inputs`` are the boundary where user arrays enter
heedu, so every malformed array (NaN, infinities, wrong shapes, strings,
empty) must be refused with :class:`heedu.ShapeError`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import heedu
from heedu.errors import ShapeError
from heedu.inference import LinearModel

N_FEATURES = 6


def _features(seed: int = 0, rows: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, N_FEATURES))


def _class_labels(x: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels that depend linearly on the features, so every class is present and learnable."""
    projection = x @ np.linspace(1.0, -0.5, N_FEATURES)
    edges = np.quantile(projection, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.digitize(projection, edges)


def _targets(x: np.ndarray, n_targets: int | None) -> np.ndarray:
    """Regression targets: 1-D when ``n_targets`` is None, else ``(n, n_targets)``."""
    rng = np.random.default_rng(1)
    coefficients = rng.normal(size=(N_FEATURES, n_targets or 1))
    y = x @ coefficients + rng.normal(scale=0.1, size=(x.shape[0], n_targets or 1)) + 0.7
    return y[:, 0] if n_targets is None else y


CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=500),
    "linear_svc": lambda: LinearSVC(max_iter=5000),
    "ridge_classifier": lambda: RidgeClassifier(),
    "sgd": lambda: SGDClassifier(random_state=0, max_iter=200, tol=1e-4),
}


# --------------------------------------------------------------------------- from_sklearn


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_from_sklearn_classifier_matches_decision_function(name: str, n_classes: int) -> None:
    x = _features()
    y = _class_labels(x, n_classes)
    estimator = CLASSIFIERS[name]().fit(x, y)
    model = LinearModel.from_sklearn(estimator)

    expected = estimator.decision_function(x)
    got = model.decision_function(x)
    assert got.shape == expected.shape == ((60,) if n_classes == 2 else (60, n_classes))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)

    assert model.n_features == N_FEATURES
    assert model.n_outputs == (1 if n_classes == 2 else n_classes)
    assert model.one_dimensional == (n_classes == 2)
    np.testing.assert_array_equal(model.classes, estimator.classes_)
    assert model.weights.dtype == np.float64 and model.bias.dtype == np.float64
    assert model.weights.shape == (model.n_outputs, N_FEATURES) and model.bias.shape == (model.n_outputs,)

    # A single row comes back like scikit-learn's score for that row (a scalar for binary models).
    single = model.decision_function(x[3])
    assert single.shape == expected[3].shape
    np.testing.assert_allclose(single, expected[3], rtol=1e-12, atol=1e-12)

    # The class chosen from the scores is the estimator's prediction.
    chosen = (got > 0).astype(int) if n_classes == 2 else got.argmax(axis=1)
    np.testing.assert_array_equal(model.classes[chosen], estimator.predict(x))


@pytest.mark.parametrize("n_targets", [None, 2, 3])
@pytest.mark.parametrize("regressor", [LinearRegression, Ridge])
def test_from_sklearn_regressor_matches_predict(regressor: type, n_targets: int | None) -> None:
    x = _features(seed=2)
    estimator = regressor().fit(x, _targets(x, n_targets))
    model = LinearModel.from_sklearn(estimator)

    expected = estimator.predict(x)
    got = model.decision_function(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert model.n_outputs == (n_targets or 1)
    assert model.one_dimensional == (n_targets is None)
    assert model.classes is None
    single = model.decision_function(x[5])
    assert single.shape == expected[5].shape
    np.testing.assert_allclose(single, expected[5], rtol=1e-10, atol=1e-10)


def test_from_sklearn_single_column_2d_target_keeps_2d_shape() -> None:
    x = _features(seed=3)
    estimator = LinearRegression().fit(x, _targets(x, 1))  # y has shape (60, 1)
    expected = estimator.predict(x)
    assert expected.shape == (60, 1)
    assert LinearModel.from_sklearn(estimator).decision_function(x).shape == expected.shape


def test_from_sklearn_without_intercept() -> None:
    x = _features(seed=4)
    regressor = LinearRegression(fit_intercept=False).fit(x, _targets(x, None))
    assert np.ndim(regressor.intercept_) == 0  # scikit-learn stores a plain 0.0 here
    model = LinearModel.from_sklearn(regressor)
    np.testing.assert_array_equal(model.bias, [0.0])
    np.testing.assert_allclose(model.decision_function(x), regressor.predict(x), rtol=1e-12, atol=1e-12)

    classifier = LogisticRegression(fit_intercept=False, max_iter=500).fit(x, _class_labels(x, 3))
    model = LinearModel.from_sklearn(classifier)
    np.testing.assert_array_equal(model.bias, np.zeros(3))
    np.testing.assert_allclose(model.decision_function(x), classifier.decision_function(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        LinearSVC(),
        RidgeClassifier(),
        SGDClassifier(),
        LinearRegression(),
        object(),
    ],
    ids=["logistic", "linear_svc", "ridge_classifier", "sgd", "linear_regression", "object"],
)
def test_from_sklearn_refuses_unfitted_estimators(estimator: object) -> None:
    with pytest.raises(ShapeError, match="coef_"):
        LinearModel.from_sklearn(estimator)


def test_from_sklearn_refuses_non_linear_estimators() -> None:
    x = _features(seed=5)
    tree = DecisionTreeClassifier(max_depth=2).fit(x, _class_labels(x, 2))
    with pytest.raises(heedu.HeeduError):
        LinearModel.from_sklearn(tree)


# --------------------------------------------------------------------------- the constructor


def test_constructor_canonicalizes_shapes_and_dtypes() -> None:
    model = LinearModel([[1, 2, 3], [4, 5, 6]], 7)
    assert model.weights.dtype == np.float64 and model.weights.shape == (2, 3)
    np.testing.assert_array_equal(model.bias, [7.0, 7.0])  # a single bias is broadcast to every output
    assert (model.n_outputs, model.n_features) == (2, 3)

    one_row = LinearModel(np.array([1.0, -1.0]), np.array([[0.5]]))
    assert one_row.weights.shape == (1, 2)
    np.testing.assert_array_equal(one_row.bias, [0.5])

    column_bias = LinearModel(np.ones((3, 2)), np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_array_equal(column_bias.bias, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("weights", "bias"),
    [
        pytest.param([[1.0, np.nan]], 0.0, id="nan-weight"),
        pytest.param([[np.inf, 1.0]], 0.0, id="inf-weight"),
        pytest.param([[1.0, -np.inf]], 0.0, id="minus-inf-weight"),
        pytest.param([[1.0, 2.0]], np.nan, id="nan-bias"),
        pytest.param([[1.0, 2.0], [3.0, 4.0]], [0.0, np.inf], id="inf-bias"),
        pytest.param([["a", "b"]], 0.0, id="string-weights"),
        pytest.param([[1.0, 2.0]], "zero", id="string-bias"),
        pytest.param([[1.0, 2.0], [3.0]], 0.0, id="ragged-weights"),
        pytest.param({"w": 1.0}, 0.0, id="dict-weights"),
        pytest.param([], 0.0, id="empty-list"),
        pytest.param([[]], 0.0, id="empty-row"),
        pytest.param(np.zeros((0, 3)), np.zeros(0), id="no-outputs"),
        pytest.param(np.zeros((2, 0)), np.zeros(2), id="no-features"),
        pytest.param(np.ones((2, 2, 2)), 0.0, id="3-d-weights"),
        pytest.param(3.0, 0.0, id="scalar-weights"),
        pytest.param(None, 0.0, id="none-weights"),
        pytest.param(np.ones((3, 4)), np.ones(2), id="bias-too-short"),
        pytest.param(np.ones((3, 4)), np.ones(4), id="bias-too-long"),
        pytest.param(np.ones((3, 4)), np.zeros(0), id="empty-bias"),
        pytest.param(np.ones((3, 4)), np.ones((2, 2)), id="bias-2x2"),
    ],
)
def test_constructor_refuses_malformed_arrays(weights: object, bias: object) -> None:
    with pytest.raises(ShapeError):
        LinearModel(weights, bias)


# --------------------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def three_by_four() -> LinearModel:
    return LinearModel(np.arange(12.0).reshape(3, 4) - 5.0, np.array([0.5, -1.0, 2.0]))


@pytest.mark.parametrize(
    "inputs",
    [
        pytest.param(np.ones(3), id="too-few-features"),
        pytest.param(np.ones(5), id="too-many-features"),
        pytest.param(np.ones((2, 3)), id="batch-too-few-features"),
        pytest.param(np.ones((4, 4)).T[:, :3], id="batch-transposed"),
        pytest.param(np.zeros((0, 4)), id="empty-batch"),
        pytest.param(np.zeros(0), id="empty-vector"),
        pytest.param([], id="empty-list"),
        pytest.param(np.ones((2, 2, 4)), id="3-d"),
        pytest.param(1.0, id="scalar"),
        pytest.param(None, id="none"),
        pytest.param([1.0, np.nan, 0.0, 0.0], id="nan"),
        pytest.param([[1.0, 0.0, np.inf, 0.0]], id="inf"),
        pytest.param(["1", "2", "x", "4"], id="strings"),
        pytest.param([[1.0, 2.0, 3.0, 4.0], [1.0]], id="ragged"),
        pytest.param([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]], id="ragged-short-row"),
    ],
)
def test_check_inputs_refuses_malformed_inputs(three_by_four: LinearModel, inputs: object) -> None:
    with pytest.raises(ShapeError):
        three_by_four.check_inputs(inputs)
    if not _is_ragged(inputs):  # see test_decision_function_refuses_ragged_inputs
        with pytest.raises(ShapeError):
            three_by_four.decision_function(inputs)


def _is_ragged(inputs: object) -> bool:
    return isinstance(inputs, list) and len({len(row) if isinstance(row, list) else -1 for row in inputs}) > 1


def test_decision_function_refuses_ragged_inputs(three_by_four: LinearModel) -> None:
    with pytest.raises(ShapeError):
        three_by_four.decision_function([[1.0, 2.0, 3.0, 4.0], [1.0]])


def test_check_inputs_accepts_lists_and_integers(three_by_four: LinearModel) -> None:
    batch = three_by_four.check_inputs([[1, 2, 3, 4]])
    assert batch.dtype == np.float64 and batch.shape == (1, 4)
    assert three_by_four.check_inputs(np.arange(4)).shape == (1, 4)
    np.testing.assert_array_equal(three_by_four.decision_function([1, 0, 0, 0]), [-4.5, -2.0, 5.0])


finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


@given(
    n_outputs=st.integers(1, 5),
    n_features=st.integers(1, 7),
    rows=st.integers(1, 6),
    one_dimensional=st.booleans(),
    data=st.data(),
)
def test_decision_function_is_the_affine_map(
    n_outputs: int, n_features: int, rows: int, one_dimensional: bool, data: st.DataObject
) -> None:
    weights = np.array(data.draw(st.lists(finite, min_size=n_outputs * n_features, max_size=n_outputs * n_features)))
    bias = np.array(data.draw(st.lists(finite, min_size=n_outputs, max_size=n_outputs)))
    x = np.array(data.draw(st.lists(finite, min_size=rows * n_features, max_size=rows * n_features)))
    weights, x = weights.reshape(n_outputs, n_features), x.reshape(rows, n_features)
    model = LinearModel(weights, bias, one_dimensional)

    expected = np.array([[sum(w * v for w, v in zip(row, xi)) + b for row, b in zip(weights, bias)] for xi in x])
    got = model.decision_function(x)
    if one_dimensional:
        expected = expected[:, 0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)

    single = model.decision_function(x[0])
    assert single.shape == expected[0].shape
    np.testing.assert_allclose(single, expected[0], rtol=1e-9, atol=1e-9)


def test_shape_scores() -> None:
    scores = np.arange(6.0).reshape(3, 2)
    two_outputs = LinearModel(np.ones((2, 1)), 0.0)
    np.testing.assert_array_equal(two_outputs.shape_scores(scores, single=False), scores)
    np.testing.assert_array_equal(two_outputs.shape_scores(scores[:1], single=True), [0.0, 1.0])
    binary = LinearModel(np.ones((1, 1)), 0.0, one_dimensional=True)
    np.testing.assert_array_equal(binary.shape_scores(scores[:, :1], single=False), [0.0, 2.0, 4.0])
    assert binary.shape_scores(scores[:1, :1], single=True).shape == ()
