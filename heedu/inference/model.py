r"""Linear models as plain arrays: :math:`s = W x + b`, from any scikit-learn linear estimator.

Every scikit-learn linear model (``LogisticRegression``, ``LinearSVC``,
``RidgeClassifier``, ``SGDClassifier``, ``LinearRegression``, ...) exposes
``coef_`` and ``intercept_``; its ``decision_function`` (or ``predict`` for
regressors) is :math:`X W^T + b`. :class:`LinearModel` keeps exactly that, in a
canonical shape (``weights`` is ``(n_outputs, n_features)``), and remembers
whether the estimator returns a 1-D result (binary classifiers, single-target
regressors), so heedu's decrypted scores come back shaped like scikit-learn's.

Examples
--------
>>> import numpy as np
>>> model = LinearModel(np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([0.5, 0.0]))
>>> model.decision_function(np.array([1.0, 1.0])).tolist()
[3.5, -1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError


@dataclass(frozen=True, eq=False)
class LinearModel:
    r"""Weights :math:`W` (``(n_outputs, n_features)``), bias :math:`b` (``(n_outputs,)``), output shape.

    Raises
    ------
    ShapeError
        Non-numeric, non-finite, empty or inconsistently shaped arrays.
    """

    weights: np.ndarray
    bias: np.ndarray
    one_dimensional: bool = False
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            raw_weights, raw_bias = np.asarray(self.weights), np.asarray(self.bias)
            if np.iscomplexobj(raw_weights) or np.iscomplexobj(raw_bias):
                raise TypeError("complex values are not allowed")
            weights, bias = raw_weights.astype(np.float64), raw_bias.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ShapeError(f"weights and bias must be real numeric arrays: {error}") from None
        if weights.ndim == 1:
            weights = weights[None, :]
        if weights.ndim != 2 or weights.size == 0:
            raise ShapeError(f"weights must be (n_outputs, n_features), got shape {np.shape(self.weights)}")
        bias = bias.ravel()
        if bias.size == 1:
            bias = np.full(weights.shape[0], bias[0])
        elif bias.size != weights.shape[0]:
            raise ShapeError(f"bias has {bias.size} entries for {weights.shape[0]} outputs; expected 1 or that many")
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
            raise ShapeError("weights and bias must be finite (no NaN or infinity)")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "bias", bias)

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weights.shape[0])

    @classmethod
    def from_sklearn(cls, estimator: object) -> LinearModel:
        """Wrap any fitted estimator with ``coef_`` and ``intercept_`` (classifier or regressor)."""
        coef = getattr(estimator, "coef_", None)
        if coef is None:
            raise ShapeError(
                f"{type(estimator).__name__} has no coef_: fit it first, or use a linear model "
                "(LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, LinearRegression, ...)"
            )
        intercept = getattr(estimator, "intercept_", 0.0)
        coef = np.asarray(coef, dtype=np.float64)
        # Binary classifiers store coef_ as (1, d) but return (n,) scores; a regressor fitted on a
        # (n, 1) target keeps (n, 1) outputs, and one fitted on (n,) has a 1-D coef_.
        one_dimensional = coef.ndim == 1 or (coef.shape[0] == 1 and hasattr(estimator, "classes_"))
        classes = getattr(estimator, "classes_", None)
        return cls(coef, np.atleast_1d(np.asarray(intercept, dtype=np.float64)), one_dimensional, classes)

    def check_inputs(self, x: object) -> np.ndarray:
        """``x`` as a float64 ``(n, n_features)`` batch (a single ``(n_features,)`` input becomes ``n = 1``)."""
        try:
            raw = np.asarray(x)
            complex_input = np.iscomplexobj(raw)
            array = raw.astype(np.float64) if not complex_input else raw
        except (TypeError, ValueError) as error:
            raise ShapeError(f"inputs must be a numeric vector or matrix: {error}") from None
        if complex_input:
            raise ShapeError("inputs must be real numbers, not complex")
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.n_features or array.shape[0] == 0:
            raise ShapeError(
                f"expected inputs of shape ({self.n_features},) or (n, {self.n_features}), got {np.shape(x)}"
            )
        if not np.all(np.isfinite(array)):
            raise ShapeError("inputs must be finite (no NaN or infinity)")
        return array

    def decision_function(self, x: object) -> np.ndarray:
        """The plaintext scores :math:`x W^T + b`, shaped like scikit-learn's."""
        batch = self.check_inputs(x)
        single = np.asarray(x).ndim == 1
        scores = batch @ self.weights.T + self.bias
        return self.shape_scores(scores, single)

    def shape_scores(self, scores: np.ndarray, single: bool) -> np.ndarray:
        """Reshape ``(n, n_outputs)`` scores as scikit-learn would for this model and input."""
        if self.one_dimensional:
            scores = scores[:, 0]
        return scores[0] if single else scores
