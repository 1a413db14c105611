r"""Tests of :class:`heedu.inference.PackingPlan`: the slot layout and rotation schedule of a linear layer.

The central property is a plain-NumPy replay of the server's schedule, with
``rot(v, k) = np.roll(v, -k)`` (a left rotation, as CKKS rotations by ``k``
slots): for each ciphertext group and feature chunk, the baby rotations of the
input, the products with :meth:`PackingPlan.diagonal_slots`, per giant-step
group; each group's partial sum rotated by its giant step; the folding ladder;
the bias. Reading the scores back must give :math:`X W^T + b`. The replay
takes its rotation amounts from the plan's own lists (``baby_rotations``,
``giant_rotations``, ``fold_rotations``), so those lists, the slot vectors and
the read-out are checked together; the invariants are then checked against
formulas written independently here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedu.errors import ParameterError
from heedu.inference import PackingPlan


def rot(vector: np.ndarray, step: int) -> np.ndarray:
    """CKKS rotation by ``step`` slots to the left: slot ``j`` receives slot ``j + step``."""
    return np.roll(vector, -step)


def replay_schedule(plan: PackingPlan, weights: np.ndarray, bias: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """The encrypted schedule on plain slot vectors: scores ``(len(batch), n_outputs)``."""
    inputs = plan.input_slots(batch)  # (groups, chunks, slots)
    diagonals = plan.diagonal_slots(weights)  # (chunks, giant steps, baby step, slots)
    giant_amounts = [0, *plan.giant_rotations]
    assert len(giant_amounts) == plan.giant_steps
    results = []
    for group in inputs:
        partials = [np.zeros(plan.slot_count) for _ in range(plan.giant_steps)]
        for chunk, ciphertext in enumerate(group):
            babies = [ciphertext] + [rot(ciphertext, step) for step in plan.baby_rotations]
            for a in range(plan.giant_steps):
                for b, baby in enumerate(babies):
                    partials[a] += diagonals[chunk, a, b] * baby
        total = sum(rot(partial, amount) for partial, amount in zip(partials, giant_amounts))
        for step in plan.fold_rotations:
            total = total + rot(total, step)
        results.append(total + plan.bias_slots(bias))
    return plan.read_scores(np.array(results), batch.shape[0])


def _pow2(value: int) -> bool:
    return value >= 1 and value & (value - 1) == 0


@st.composite
def plan_sizes(draw: st.DrawFn, max_log_slots: int = 10, max_outputs: int = 40) -> tuple[int, int, int]:
    """``(n_features, n_outputs, slot_count)`` that fit: outputs padded to at most the slot count."""
    slot_count = 2 ** draw(st.integers(0, max_log_slots))
    n_outputs = draw(st.integers(1, min(max_outputs, slot_count)))
    n_features = draw(st.one_of(st.integers(1, 40), st.integers(1, 3 * slot_count)))
    return n_features, n_outputs, slot_count


# --------------------------------------------------------------------------- the schedule


@settings(max_examples=max(100, settings.default.max_examples))
@given(sizes=plan_sizes(), batch_extra=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_replayed_schedule_computes_the_linear_layer(sizes: tuple[int, int, int], batch_extra: int, seed: int) -> None:
    n_features, n_outputs, slot_count = sizes
    plan = PackingPlan.for_model(n_features, n_outputs, slot_count)
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(n_outputs, n_features))
    bias = rng.normal(size=n_outputs)
    # Enough inputs to fill one ciphertext group and spill into the next.
    batch = rng.normal(size=(plan.inputs_per_ciphertext + batch_extra, n_features))
    scores = replay_schedule(plan, weights, bias, batch)
    assert scores.shape == (batch.shape[0], n_outputs)
    np.testing.assert_allclose(scores, batch @ weights.T + bias, rtol=1e-9, atol=1e-9 * (1 + n_features))


def test_replayed_schedule_with_several_chunks_groups_and_giant_steps() -> None:
    """A fixed case exercising every stage at once: 3 chunks, 4 giant groups, a ladder, 2 groups of inputs."""
    plan = PackingPlan.for_model(n_features=300, n_outputs=13, slot_count=128)
    assert plan.feature_chunks == 3 and plan.giant_steps == 4 and plan.fold_rotations == [16, 32, 64]
    rng = np.random.default_rng(7)
    weights, bias = rng.normal(size=(13, 300)), rng.normal(size=13)
    batch = rng.normal(size=(2, 300))
    assert plan.inputs_per_ciphertext == 1  # two ciphertext groups
    np.testing.assert_allclose(replay_schedule(plan, weights, bias, batch), batch @ weights.T + bias, atol=1e-9)


@settings(max_examples=max(100, settings.default.max_examples))
@given(sizes=plan_sizes(), seed=st.integers(0, 2**32 - 1))
def test_every_slot_of_the_answer_is_a_whole_score(sizes: tuple[int, int, int], seed: int) -> None:
    """The privacy property of the layout: no slot holds a partial sum of W, whatever the input.

    Replayed without the read-out, slot ``j * B + t`` of the result must equal score ``j mod m'`` of
    input ``t`` (zero for padded outputs), for every ``j``, so a client learns nothing it would not
    learn from the scores however it scales or shapes its input. The inputs here are deliberately
    huge and arbitrary, as a dishonest client's would be.
    """
    n_features, n_outputs, slot_count = sizes
    plan = PackingPlan.for_model(n_features, n_outputs, slot_count)
    rng = np.random.default_rng(seed)
    weights, bias = rng.normal(size=(n_outputs, n_features)), rng.normal(size=n_outputs)
    batch = rng.normal(size=(plan.inputs_per_ciphertext, n_features)) * 10.0 ** rng.integers(0, 9)
    (group,) = plan.input_slots(batch)
    diagonals = plan.diagonal_slots(weights)
    partials = [np.zeros(slot_count) for _ in range(plan.giant_steps)]
    for chunk, ciphertext in enumerate(group):
        babies = [ciphertext] + [rot(ciphertext, step) for step in plan.baby_rotations]
        for a in range(plan.giant_steps):
            for b, baby in enumerate(babies):
                partials[a] += diagonals[chunk, a, b] * baby
    total = sum(rot(partial, amount) for partial, amount in zip(partials, [0, *plan.giant_rotations]))
    for step in plan.fold_rotations:
        total = total + rot(total, step)
    total = total + plan.bias_slots(bias)
    padded_scores = np.zeros((plan.class_block, plan.inputs_per_ciphertext))
    padded_scores[:n_outputs] = (batch @ weights.T + bias).T
    expected = np.tile(padded_scores, (plan.feature_block // plan.class_block, 1))
    scale = 1 + np.abs(batch).max() * n_features
    np.testing.assert_allclose(plan.score_grid(total), expected, rtol=1e-9, atol=1e-9 * scale)


@given(sizes=plan_sizes(max_log_slots=9), rows=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_input_slots_layout(sizes: tuple[int, int, int], rows: int, seed: int) -> None:
    """Slot ``j * B + t`` of group ``g``, chunk ``c`` holds feature ``c * n' + j`` of input ``g * B + t``."""
    plan = PackingPlan.for_model(*sizes)
    n_features, block, per = plan.n_features, plan.feature_block, plan.inputs_per_ciphertext
    assert per * block == plan.slot_count
    batch = np.random.default_rng(seed).normal(size=(rows, n_features))
    slots = plan.input_slots(batch)
    assert slots.shape == (math.ceil(rows / per), plan.feature_chunks, plan.slot_count)
    for g in range(slots.shape[0]):
        for c in range(plan.feature_chunks):
            for j in range(block):
                for t in range(per):
                    row, column = g * per + t, c * block + j
                    expected = batch[row, column] if row < rows and column < n_features else 0.0
                    assert slots[g, c, j * per + t] == expected


def test_diagonal_slots_are_the_pre_rotated_generalized_diagonals() -> None:
    plan = PackingPlan.for_model(n_features=11, n_outputs=5, slot_count=64)
    m, n, g, per = plan.class_block, plan.feature_block, plan.baby_step, plan.inputs_per_ciphertext
    assert (m, n, g, per, plan.feature_chunks) == (8, 16, 4, 4, 1)
    weights = np.arange(1.0, 56.0).reshape(5, 11)
    padded = np.zeros((m, n))
    padded[:5, :11] = weights
    diagonals = plan.diagonal_slots(weights)
    assert diagonals.shape == (1, plan.giant_steps, g, 64)
    for i in range(m):
        a, b = divmod(i, g)
        unrotated = rot(diagonals[0, a, b], g * a * per)  # undo the pre-rotation rot(d, -g a B)
        for j in range(n):
            for t in range(per):
                assert unrotated[j * per + t] == padded[j % m, (j + i) % n]


def test_bias_slots_and_read_scores_agree() -> None:
    plan = PackingPlan.for_model(n_features=5, n_outputs=3, slot_count=32)
    assert (plan.class_block, plan.feature_block, plan.inputs_per_ciphertext) == (4, 8, 4)
    bias = np.array([1.5, -2.0, 4.0])
    vector = plan.bias_slots(bias)
    expected = np.zeros(32)
    for j in range(8):
        expected[j * 4 : j * 4 + 4] = [*bias, 0.0][j % 4]
    np.testing.assert_array_equal(vector, expected)
    # Two groups, the second only partly used: read_scores returns exactly `count` rows, in order.
    group = np.stack([vector * 1.0, vector * 2.0])
    scores = plan.read_scores(group, plan.inputs_per_ciphertext + 1)
    assert scores.shape == (plan.inputs_per_ciphertext + 1, 3)
    np.testing.assert_array_equal(scores[0], bias)
    np.testing.assert_array_equal(scores[-1], 2 * bias)


# --------------------------------------------------------------------------- invariants


@settings(max_examples=max(200, settings.default.max_examples))
@given(sizes=plan_sizes(max_log_slots=15, max_outputs=2**14))
def test_plan_invariants(sizes: tuple[int, int, int]) -> None:
    n_features, n_outputs, slot_count = sizes
    plan = PackingPlan.for_model(n_features, n_outputs, slot_count)
    m, n, g = plan.class_block, plan.feature_block, plan.baby_step
    assert (plan.n_features, plan.n_outputs, plan.slot_count) == sizes

    # Blocks: powers of two, the smallest that hold the outputs, features no narrower than outputs.
    assert _pow2(m) and m >= n_outputs and m < 2 * n_outputs
    assert _pow2(n) and m <= n <= slot_count
    per = plan.inputs_per_ciphertext
    assert per * n == slot_count  # the interleaved inputs fill the slots exactly
    # Chunks cover the features, none of them empty.
    assert (plan.feature_chunks - 1) * n < n_features <= plan.feature_chunks * n
    if plan.feature_chunks == 1:
        assert n == max(m, 1 << (n_features - 1).bit_length())  # the smallest block that fits
    else:
        assert n == slot_count and per == 1  # chunks only when one input fills a ciphertext
    # Baby step: a power of two near sqrt(m'), dividing m'.
    assert _pow2(g) and m % g == 0
    assert g * g >= m and (g // 2) ** 2 < m
    assert plan.giant_steps == m // g

    # Rotations, as independent formulas.
    baby = [b * per for b in range(1, g)]
    giant = [g * a * per for a in range(1, m // g)]
    fold = [(m << k) * per for k in range(int(math.log2(n // m)))]
    assert plan.baby_rotations == baby
    assert plan.giant_rotations == giant
    assert plan.fold_rotations == fold
    assert plan.rotation_steps == sorted(set(baby) | set(giant) | set(fold))
    assert len(plan.rotation_steps) == len(baby) + len(giant) + len(fold)  # the three sets are disjoint
    assert all(0 < step < slot_count and step % per == 0 for step in plan.rotation_steps)
    assert plan.key_switches == (g - 1) * plan.feature_chunks + (m // g - 1) + int(math.log2(n // m))

    levels = plan.steps_by_level(top_level=3)
    assert sorted(levels) == plan.rotation_steps
    assert all(levels[step] == 3 for step in baby)
    assert all(levels[step] == 2 for step in giant + fold)


def test_documented_plan_for_mnist_sized_model() -> None:
    plan = PackingPlan.for_model(n_features=784, n_outputs=10, slot_count=4096)
    assert (plan.feature_block, plan.class_block, plan.inputs_per_ciphertext, plan.key_switches) == (1024, 16, 4, 12)
    assert (plan.baby_step, plan.feature_chunks) == (4, 1)
    assert plan.rotation_steps == [4, 8, 12, 16, 32, 48, 64, 128, 256, 512, 1024, 2048]


def test_single_output_plan_has_only_the_folding_ladder() -> None:
    plan = PackingPlan.for_model(n_features=20, n_outputs=1, slot_count=64)
    assert (plan.class_block, plan.baby_step, plan.giant_steps, plan.inputs_per_ciphertext) == (1, 1, 1, 2)
    assert plan.baby_rotations == [] and plan.giant_rotations == []
    assert plan.rotation_steps == plan.fold_rotations == [2, 4, 8, 16, 32]


def test_wide_inputs_are_split_into_chunks() -> None:
    plan = PackingPlan.for_model(n_features=1000, n_outputs=4, slot_count=256)
    assert (plan.feature_block, plan.feature_chunks, plan.inputs_per_ciphertext) == (256, 4, 1)
    assert plan.key_switches == 1 * 4 + 1 + 6  # baby step 1 in each of 4 chunks, giant step 2, ladder 4..128


def test_largest_output_count_for_the_slots() -> None:
    plan = PackingPlan.for_model(n_features=3, n_outputs=64, slot_count=128)
    assert (plan.class_block, plan.feature_block, plan.inputs_per_ciphertext) == (64, 64, 2)
    plan = PackingPlan.for_model(n_features=3, n_outputs=65, slot_count=128)
    assert (plan.class_block, plan.feature_block, plan.inputs_per_ciphertext, plan.fold_rotations) == (128, 128, 1, [])
    with pytest.raises(ParameterError, match="more than the 128 slots"):
        PackingPlan.for_model(n_features=3, n_outputs=129, slot_count=128)


@pytest.mark.parametrize(
    ("n_features", "n_outputs", "slot_count"),
    [
        (0, 1, 16),
        (-3, 1, 16),
        (4, 0, 16),
        (4, -1, 16),
        (4, 2, 0),
        (4, 2, -8),
        (4, 1, 12),  # slot counts are powers of two
        (4, 9, 8),  # 9 outputs pad to 16, more than 8 slots
        (True, 1, 16),
        (2.0, 1, 16),
        (4, 1.5, 16),
        (4, 1, 16.0),
        ("4", 1, 16),
        (4, None, 16),
        (4, 1, [16]),
    ],
)
def test_bad_sizes_raise_parameter_error(n_features: object, n_outputs: object, slot_count: object) -> None:
    with pytest.raises(ParameterError):
        PackingPlan.for_model(n_features, n_outputs, slot_count)


def test_sizes_accept_numpy_integers() -> None:
    plan = PackingPlan.for_model(np.int64(30), np.int32(3), np.int64(64))
    assert plan == PackingPlan.for_model(30, 3, 64)
    assert all(type(v) is int for v in (plan.n_features, plan.n_outputs, plan.slot_count))


def test_describe_mentions_the_keys_and_the_layout() -> None:
    plan = PackingPlan.for_model(n_features=784, n_outputs=10, slot_count=4096)
    text = plan.describe()
    assert "10 x 784" in text and "4096 slots" in text
    assert "m' = 16" in text and "n' = 1024" in text and "1 chunk(s)" in text
    assert "stride B = 4: 4 input(s) per ciphertext" in text and "slot j * 4 + t" in text
    assert f"Galois keys needed: {plan.rotation_steps}" in text
    assert "baby steps (hoisted, on the fresh input): [4, 8, 12]" in text
    assert "giant steps (after rescaling): [16, 32, 48]" in text
    assert "[64, 128, 256, 512, 1024, 2048]" in text
    assert "key switches per ciphertext: 12" in text
    assert "slot r * 4 + t, repeated every 64 slots" in text and "never a partial sum" in text

    binary = PackingPlan.for_model(n_features=8, n_outputs=1, slot_count=16).describe()
    assert "baby steps (hoisted, on the fresh input): none" in binary
    assert "giant steps (after rescaling): none" in binary
    assert "Galois keys needed: [2, 4, 8]" in binary
