r"""The coefficient layout of a linear layer: scores read off negacyclic products, and the layout planner.

Oracles: ``X @ W.T`` over the integers (NumPy ``int64``), an integer schoolbook negacyclic product
written here (no modulus, :math:`X^N = -1`), and the layout's formulas spelled out index by index
from the module docstring. Sizes are toys (:math:`N \le 64`) so the Python-int products stay fast.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedu.errors import ParameterError, ShapeError
from heedu.inference.coefficient_layout import (
    OBJECTIVES,
    CoefficientLayout,
    plan_layout,
    scores_by_polynomial_products,
)

DEGREES = st.sampled_from([8, 16, 32, 64])


@st.composite
def layouts(draw: st.DrawFn, max_outputs: int = 6, max_features: int = 12) -> CoefficientLayout:
    """Any valid layout: ``m`` x ``n`` model, blocks ``m_w`` x ``n_w``, ``B`` inputs with ``B m_w n_w <= N``."""
    n_poly = draw(DEGREES)
    m = draw(st.integers(1, max_outputs))
    n = draw(st.integers(1, max_features))
    mw = draw(st.integers(1, m))
    nw = draw(st.integers(1, min(n, n_poly // mw)))
    b = draw(st.integers(1, n_poly // (mw * nw)))
    return CoefficientLayout(m, n, n_poly, mw, nw, b)


def integer_matrices(rows: int, columns: int, bound: int = 9) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.integers(-bound, bound), min_size=rows * columns, max_size=rows * columns).map(
        lambda v: np.array(v, dtype=np.int64).reshape(rows, columns)
    )


@st.composite
def problems(draw: st.DrawFn) -> tuple[CoefficientLayout, np.ndarray, np.ndarray]:
    """A layout, integer weights ``(m, n)`` and an integer batch ``(K, n)`` with ``K`` up to three groups."""
    layout = draw(layouts())
    k = draw(st.integers(1, 3 * layout.inputs_per_ciphertext))
    k = min(k, 8)
    weights = draw(integer_matrices(layout.n_outputs, layout.n_features))
    batch = draw(integer_matrices(k, layout.n_features))
    return layout, weights, batch


def negacyclic(a: list[int], b: list[int]) -> list[int]:
    """:math:`ab \\bmod (X^N + 1)` over the integers, by definition."""
    n = len(a)
    out = [0] * n
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                if i + j < n:
                    out[i + j] += ai * bj
                else:
                    out[i + j - n] -= ai * bj
    return out


def as_ints(polynomial: np.ndarray) -> list[int]:
    assert np.array_equal(polynomial, np.round(polynomial))
    return [int(v) for v in polynomial]


def answers(layout: CoefficientLayout, weights: np.ndarray, batch: np.ndarray) -> list[list[list[int]]]:
    r"""``answers[g][r]`` = :math:`\sum_c \hat x_{g,c} \hat w_{r,c}`, over the integers."""
    queries, plain = layout.query_values(batch), layout.weight_values(weights)
    out = []
    for group in queries:
        row = []
        for block in plain:
            total = [0] * layout.poly_modulus_degree
            for x_poly, w_poly in zip(group, block):
                total = [t + p for t, p in zip(total, negacyclic(as_ints(x_poly), as_ints(w_poly)))]
            row.append(total)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def test_module_example_mnist_shape_for_one_input() -> None:
    layout = plan_layout(n_outputs=10, n_features=784, poly_modulus_degree=4096, inputs=1, prime_count=2)
    assert (layout.outputs_per_block, layout.features_per_chunk) == (10, 392)
    assert (layout.feature_chunks, layout.output_blocks, layout.inputs_per_ciphertext) == (2, 1, 1)
    assert layout.score_position(input_index=0, output=3) == 1176
    assert layout.score_positions(1, 0, 0).tolist() == [[392 * j for j in range(10)]]


def test_small_example_by_hand() -> None:
    # m = 2 outputs, n = 3 features, N = 8: one block of 2 x 3 (T = 6), one input per ciphertext.
    layout = CoefficientLayout(2, 3, 8, outputs_per_block=2, features_per_chunk=3, inputs_per_ciphertext=1)
    weights = np.array([[1, 2, 3], [4, 5, 6]])
    x = np.array([[1, -1, 2]])
    assert layout.query_values(x).tolist() == [[[1, -1, 2, 0, 0, 0, 0, 0]]]
    # row 0 at exponents 0, -1, -2 (= -X^7, -X^6); row 1 at 3, 2, 1
    assert layout.weight_values(weights).tolist() == [[[1, 6, 5, 4, 0, 0, -3, -2]]]
    assert layout.score_positions(1, 0, 0).tolist() == [[0, 3]]
    (answer,) = answers(layout, weights, x)[0]
    assert [answer[0], answer[3]] == (x @ weights.T)[0].tolist() == [5, 11]
    assert scores_by_polynomial_products(layout, weights, x).tolist() == [[5.0, 11.0]]


# --------------------------------------------------------------------------------------
# The layout computes W x exactly
# --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(problems())
def test_scores_by_polynomial_products_equal_the_matrix_product(
    problem: tuple[CoefficientLayout, np.ndarray, np.ndarray],
) -> None:
    layout, weights, batch = problem
    scores = scores_by_polynomial_products(layout, weights, batch)
    assert scores.shape == (batch.shape[0], layout.n_outputs)
    assert np.array_equal(scores, batch @ weights.T)


@settings(deadline=None)
@given(problems())
def test_our_own_products_read_at_the_score_positions_give_w_x(
    problem: tuple[CoefficientLayout, np.ndarray, np.ndarray],
) -> None:
    """The same claim without the library's oracle: only its encodings and its positions."""
    layout, weights, batch = problem
    k = batch.shape[0]
    expected = batch @ weights.T
    products = answers(layout, weights, batch)
    assert len(products) == layout.groups(k) and all(len(row) == layout.output_blocks for row in products)
    # Products reach exponents below B T, and those that wrap land in (N - n_w, N): nothing in between.
    used = layout.inputs_per_ciphertext * layout.block_size
    gap = range(used, layout.poly_modulus_degree - layout.features_per_chunk + 1)
    for g, row in enumerate(products):
        for r, answer in enumerate(row):
            assert all(answer[p] == 0 for p in gap)
            positions = layout.score_positions(k, g, r)
            for b, line in enumerate(positions):
                for j, p in enumerate(line):
                    assert answer[p] == expected[g * layout.inputs_per_ciphertext + b, r * layout.outputs_per_block + j]


@settings(deadline=None)
@given(layouts(), st.data())
def test_a_unit_input_answers_with_the_weight_polynomial_itself(layout: CoefficientLayout, data: st.DataObject) -> None:
    """Every other coefficient holds partial sums of W: with x = e_0 the answer *is* w_hat (it must stay secret)."""
    weights = data.draw(integer_matrices(layout.n_outputs, layout.n_features))
    unit = np.zeros((1, layout.n_features), dtype=np.int64)
    unit[0, 0] = 1
    plain = layout.weight_values(weights)
    for r, answer in enumerate(answers(layout, weights, unit)[0]):
        assert answer == as_ints(plain[r, 0])
        # ... which holds every weight of the first chunk of the block, not only the scores:
        first = r * layout.outputs_per_block
        rows = weights[first : first + layout.outputs_in_block(r), : layout.features_per_chunk]
        assert sorted(abs(v) for v in answer if v) == sorted(abs(int(v)) for v in rows.ravel() if v)


# --------------------------------------------------------------------------------------
# The encodings, index by index
# --------------------------------------------------------------------------------------


@given(layouts(), st.data())
def test_query_values_follow_the_formula(layout: CoefficientLayout, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, 3 * layout.inputs_per_ciphertext))
    batch = data.draw(integer_matrices(k, layout.n_features)).astype(np.float64)
    query = layout.query_values(batch)
    bw, nw, t = layout.inputs_per_ciphertext, layout.features_per_chunk, layout.block_size
    assert query.shape == (layout.groups(k), layout.feature_chunks, layout.poly_modulus_degree)
    expected = np.zeros_like(query)
    for g in range(layout.groups(k)):
        for c in range(layout.feature_chunks):
            for b in range(layout.inputs_in_group(k, g)):
                for i in range(nw):
                    if c * nw + i < layout.n_features:
                        expected[g, c, b * t + i] = batch[g * bw + b, c * nw + i]
    assert np.array_equal(query, expected)


@given(layouts(), st.data())
def test_weight_values_follow_the_formula(layout: CoefficientLayout, data: st.DataObject) -> None:
    weights = data.draw(integer_matrices(layout.n_outputs, layout.n_features)).astype(np.float64)
    plain = layout.weight_values(weights)
    n_poly, mw, nw = layout.poly_modulus_degree, layout.outputs_per_block, layout.features_per_chunk
    assert plain.shape == (layout.output_blocks, layout.feature_chunks, n_poly)
    expected = np.zeros_like(plain)
    for r in range(layout.output_blocks):
        for c in range(layout.feature_chunks):
            for j in range(mw):
                for i in range(nw):
                    row, column = r * mw + j, c * nw + i
                    if row < layout.n_outputs and column < layout.n_features:
                        if j == 0 and i > 0:
                            expected[r, c, n_poly - i] = -weights[row, column]  # X^{-i} = -X^{N-i}
                        else:
                            expected[r, c, j * nw - i] = weights[row, column]
    assert np.array_equal(plain, expected)


def test_weight_values_wrap_row_zero_with_a_minus_sign() -> None:
    layout = CoefficientLayout(1, 4, 8, 1, 4, 2)
    assert layout.weight_values(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist() == [[[1, 0, 0, 0, 0, -4, -3, -2]]]


@pytest.mark.parametrize(
    ("method", "shape"),
    [("query_values", (3, 5)), ("query_values", (0, 4)), ("query_values", (4,)), ("weight_values", (3, 3))],
)
def test_wrong_shapes_raise_shape_error(method: str, shape: tuple[int, ...]) -> None:
    layout = CoefficientLayout(2, 4, 16, 2, 4, 2)
    with pytest.raises(ShapeError):
        getattr(layout, method)(np.zeros(shape))


# --------------------------------------------------------------------------------------
# Score positions
# --------------------------------------------------------------------------------------


@given(layouts(), st.data())
def test_score_positions_are_distinct_multiples_of_the_chunk_below_n_minus_nw(
    layout: CoefficientLayout, data: st.DataObject
) -> None:
    k = data.draw(st.integers(1, 3 * layout.inputs_per_ciphertext))
    n_poly, nw = layout.poly_modulus_degree, layout.features_per_chunk
    for g in range(layout.groups(k)):
        for r in range(layout.output_blocks):
            positions = layout.score_positions(k, g, r)
            assert positions.shape == (layout.inputs_in_group(k, g), layout.outputs_in_block(r))
            flat = positions.ravel().tolist()
            assert len(set(flat)) == len(flat)
            assert all(0 <= p < n_poly - nw + 1 and p % nw == 0 for p in flat)
            for b, line in enumerate(positions):
                for j, p in enumerate(line):
                    assert p == b * layout.block_size + j * nw
                    assert p == layout.score_position(b, r * layout.outputs_per_block + j)
    assert sum(layout.inputs_in_group(k, g) for g in range(layout.groups(k))) == k
    assert sum(layout.outputs_in_block(r) for r in range(layout.output_blocks)) == layout.n_outputs


@given(layouts())
def test_derived_counts(layout: CoefficientLayout) -> None:
    assert layout.block_size == layout.outputs_per_block * layout.features_per_chunk
    assert layout.feature_chunks == math.ceil(layout.n_features / layout.features_per_chunk)
    assert layout.output_blocks == math.ceil(layout.n_outputs / layout.outputs_per_block)
    assert layout.constant_weights == (layout.block_size == 1)
    for k in (1, layout.inputs_per_ciphertext, layout.inputs_per_ciphertext + 1):
        assert layout.groups(k) == math.ceil(k / layout.inputs_per_ciphertext)


@given(layouts(), st.integers(1, 5))
def test_describe_mentions_where_the_scores_land(layout: CoefficientLayout, inputs: int) -> None:
    text = layout.describe(inputs)
    assert f"T = {layout.block_size}" in text
    for b in range(min(inputs, 2)):
        for j in range(min(layout.n_outputs, 4)):
            assert f"{j}->a{j // layout.outputs_per_block}[{layout.score_position(b, j)}]" in text
    assert "never leaves the server" in text


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def test_blocks_that_do_not_fit_n_are_refused() -> None:
    CoefficientLayout(4, 8, 32, 2, 8, 2)  # B T = 2 * 16 = 32 = N: fits
    with pytest.raises(ParameterError):
        CoefficientLayout(4, 8, 32, 2, 8, 3)  # 48 > 32
    with pytest.raises(ParameterError):
        CoefficientLayout(4, 8, 16, 4, 8, 1)  # T = 32 > 16


@pytest.mark.parametrize("field", ["n_outputs", "n_features", "poly_modulus_degree", "outputs_per_block",
                                   "features_per_chunk", "inputs_per_ciphertext"])
@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "2", None])
def test_sizes_must_be_positive_integers(field: str, bad: object) -> None:
    sizes = {"n_outputs": 2, "n_features": 2, "poly_modulus_degree": 16, "outputs_per_block": 2,
             "features_per_chunk": 2, "inputs_per_ciphertext": 2}
    sizes[field] = bad
    with pytest.raises(ParameterError):
        CoefficientLayout(**sizes)  # type: ignore[arg-type]


def test_blocks_larger_than_the_model_are_refused() -> None:
    with pytest.raises(ParameterError):
        CoefficientLayout(2, 3, 64, 3, 3, 1)
    with pytest.raises(ParameterError):
        CoefficientLayout(2, 3, 64, 2, 4, 1)


# --------------------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------------------


def feasible_layouts(m: int, n: int, n_poly: int, inputs: int) -> list[CoefficientLayout]:
    """Every block shape (not only the planner's ceil-fractions), each with as many inputs as fit."""
    return [
        CoefficientLayout(m, n, n_poly, mw, nw, min(n_poly // (mw * nw), inputs))
        for mw in range(1, m + 1)
        for nw in range(1, n + 1)
        if mw * nw <= n_poly
    ]


@settings(deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 40),
    DEGREES,
    st.integers(1, 200),
    st.integers(1, 3),
    st.sampled_from(OBJECTIVES),
    st.one_of(st.none(), st.integers(16, 2**16)),
)
def test_the_plan_is_deterministic_cheapest_and_within_the_memory_limit(
    m: int, n: int, n_poly: int, inputs: int, primes: int, objective: str, memory: int | None
) -> None:
    kwargs = {} if memory is None else {"weight_memory": memory}
    candidates = [
        layout
        for layout in feasible_layouts(m, n, n_poly, inputs)
        if memory is None or layout.weight_bytes(primes) <= memory
    ]
    if not candidates:
        with pytest.raises(ParameterError, match="no coefficient layout"):
            plan_layout(m, n, n_poly, inputs, primes, objective, **kwargs)
        return
    layout = plan_layout(m, n, n_poly, inputs, primes, objective, **kwargs)
    assert layout == plan_layout(m, n, n_poly, inputs, primes, objective, **kwargs)
    assert (layout.n_outputs, layout.n_features, layout.poly_modulus_degree) == (m, n, n_poly)
    assert layout.inputs_per_ciphertext * layout.block_size <= n_poly
    assert layout.inputs_per_ciphertext <= inputs
    if memory is not None:
        assert layout.weight_bytes(primes) <= memory
    assert layout.cost(inputs, primes, objective) == min(c.cost(inputs, primes, objective) for c in candidates)


def test_nothing_within_the_memory_limit_is_a_parameter_error() -> None:
    # The smallest layout (feature-major, constant weights) needs R C k 16 = 10 * 784 * 2 * 16 bytes.
    smallest = CoefficientLayout(10, 784, 4096, 1, 1, 1).weight_bytes(2)
    assert smallest == 10 * 784 * 2 * 16
    layout = plan_layout(10, 784, 4096, 4096, 2, weight_memory=smallest)
    assert layout.weight_bytes(2) <= smallest
    with pytest.raises(ParameterError, match="MiB"):
        plan_layout(10, 784, 4096, 4096, 2, weight_memory=smallest - 1)
    with pytest.raises(ParameterError):
        plan_layout(10, 784, 4096, 1, 2, weight_memory=0)


def test_default_memory_limit_is_respected_for_mnist() -> None:
    for inputs in (1, 2, 10, 100, 4096):
        for objective in OBJECTIVES:
            layout = plan_layout(10, 784, 4096, inputs, 2, objective)
            assert layout.weight_bytes(2) <= 256 * 2**20


def test_a_large_batch_gets_one_output_per_block_and_many_inputs_per_ciphertext() -> None:
    for objective in OBJECTIVES:
        layout = plan_layout(10, 784, 4096, inputs=4096, prime_count=2, objective=objective)
        assert layout.outputs_per_block == 1
        assert layout.inputs_per_ciphertext >= 256
        assert layout.inputs_per_ciphertext * layout.block_size <= 4096
        # Cheaper than the one-input layout, per input, by either measure.
        single = plan_layout(10, 784, 4096, inputs=1, prime_count=2)
        assert layout.cost(4096, 2, objective) < 4096 * single.cost(1, 2, objective)


def test_one_input_gets_every_output_in_one_block() -> None:
    layout = plan_layout(10, 784, 4096, inputs=1, prime_count=2)  # objective "time", the default
    assert (layout.outputs_per_block, layout.features_per_chunk, layout.inputs_per_ciphertext) == (10, 392, 1)
    # Counting bytes instead, one query ciphertext (n_w = 784) and two answers (m_w = 5) is smaller.
    smallest = plan_layout(10, 784, 4096, inputs=1, prime_count=2, objective="bytes")
    assert (smallest.outputs_per_block, smallest.features_per_chunk) == (5, 784)
    assert smallest.cost(1, 2, "bytes") < layout.cost(1, 2, "bytes")
    assert smallest.cost(1, 2, "time") > layout.cost(1, 2, "time")


def test_the_cost_models_are_positive_and_count_what_they_say() -> None:
    layout = plan_layout(10, 784, 4096, inputs=1, prime_count=2)
    g, c, r = layout.groups(1), layout.feature_chunks, layout.output_blocks
    assert layout.cost(1, 2, "bytes") == g * c * 4096 * 8 * 2 + g * r * 4096 * 8 + 1 * 10 * 8
    assert layout.cost(1, 2, "time") > g * c * r > 0


@pytest.mark.parametrize("objective", ["speed", "", None, "TIME"])
def test_unknown_objectives_are_refused(objective: object) -> None:
    with pytest.raises(ParameterError, match="objective"):
        plan_layout(10, 784, 4096, 1, 2, objective)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("m", "n", "inputs"), [(0, 784, 1), (10, 0, 1), (10, 784, 0), (-1, 784, 1), (True, 784, 1), (10, 784.0, 1)]
)
def test_bad_sizes_are_refused_by_the_planner(m: object, n: object, inputs: object) -> None:
    with pytest.raises(ParameterError):
        plan_layout(m, n, 4096, inputs, 2)  # type: ignore[arg-type]
