r"""The attack that re-randomization stops: reading a model's weights off the answers' :math:`c_1`.

In the coefficient protocol a query ciphertext is :math:`(c_0, a)` with :math:`a`
expanded from a seed that travels *in the query*. Without re-randomization the
answer's second component is

.. math:: c_1 = \sum_c a_c \, \hat w_c \pmod Q,

a linear function of the encoded weights whose coefficients anyone holding the
queries knows: the client, or anyone who recorded the traffic. No secret key is
involved. In NTT form the products are pointwise, so at every one of the
:math:`N` NTT points, :math:`C` answers give a :math:`C \times C` linear system
modulo :math:`q` whose solution is :math:`\hat w_c` at that point; an inverse NTT
and a division by :math:`\Delta_w` give :math:`W`.

:func:`recover_weights` does exactly that, for plans where the answer's
:math:`c_1` is exact (one prime, no dropped bits). With more primes the switch to
one prime and the dropped bits round :math:`c_1`; that turns the system into a
noisy one, the kind lattice reduction attacks, and rounding was never designed
as a defence. Re-randomization (adding a fresh encryption of zero, whose
:math:`c_1 = u\,a_{pk} + e_1` is uniform) removes the system altogether: against
a real server this function returns noise. The course's chapter 11 runs it both
ways, and so does ``tests/test_coefficients.py``.

Examples
--------
See :doc:`the course's chapter 11 </course/11-inner-products-without-rotations>`.
"""

from __future__ import annotations

import numpy as np

from .. import modarith
from ..errors import ParameterError
from ..inference.bitpacking import packed_size, unpack_bits
from ..inference.coefficients import SEED_BYTES, InferencePlan
from ..inference.envelope import HEADER
from ..params import CKKSContext
from ..sampling import expand_seed


def _inverse_mod(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    r""":math:`v^{q-2} \bmod q` elementwise (Fermat), by square and multiply over the exponent's bits."""
    exponent = int(q.ravel()[0]) - 2
    result = np.ones_like(values)
    power = values.copy()
    while exponent:
        if exponent & 1:
            result = modarith.mul_mod(result, power, q)
        power = modarith.mul_mod(power, power, q)
        exponent >>= 1
    return result


def solve_mod(matrix: np.ndarray, rhs: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Solve :math:`A_t w_t = y_t \pmod q` at every point :math:`t` at once: ``(N, C, C)``, ``(N, C)`` -> ``(N, C)``.

    Gauss-Jordan elimination, vectorized over the points; a point whose system is singular
    (probability about :math:`C/q`) gets zeros.
    """
    a = matrix.copy()
    y = rhs.copy()
    size = a.shape[1]
    for column in range(size):
        pivot = a[:, column, column].copy()
        inverse = _inverse_mod(pivot, q)
        a[:, column] = modarith.mul_mod(a[:, column], inverse[:, None], q)
        y[:, column] = modarith.mul_mod(y[:, column], inverse, q)
        for row in range(size):
            if row == column:
                continue
            factor = a[:, row, column].copy()  # a view would change with the row below
            a[:, row] = modarith.sub_mod(a[:, row], modarith.mul_mod(a[:, column], factor[:, None], q), q)
            y[:, row] = modarith.sub_mod(y[:, row], modarith.mul_mod(y[:, column], factor, q), q)
    return y


def recover_weights(plan: InferencePlan, queries: list[bytes], answers: list[bytes]) -> np.ndarray:
    r"""The weights :math:`W` ``(m, n)`` from single-input queries and their answers, if answers are not re-randomized.

    Uses the first :math:`C` (feature chunks) query/answer pairs; needs nothing secret.

    Raises
    ------
    ParameterError
        A plan whose answers are rounded (more than one prime, or dropped bits), or fewer
        than :math:`C` pairs.
    """
    if len(plan.parameters.primes) != 1 or plan.dropped_bits:
        raise ParameterError("the exact attack needs answers with an unrounded c_1: one prime, no dropped bits")
    layout = plan.layout(1)
    chunks, blocks = layout.feature_chunks, layout.output_blocks
    if len(queries) < chunks or len(answers) < chunks:
        raise ParameterError(f"{chunks} query/answer pairs are needed, got {min(len(queries), len(answers))}")
    context = CKKSContext(plan.parameters)
    ring = context.ring(0)
    n, q = ring.n, ring.q[0]
    # a_c of every query, in NTT form (how the server expanded them): (pairs, C, N)
    size = plan.query_ciphertext_bytes
    seeds = [[query[HEADER.size + (c + 1) * size - SEED_BYTES : HEADER.size + (c + 1) * size] for c in range(chunks)]
             for query in queries[:chunks]]
    a = np.array([[expand_seed(seed, ring.moduli, n)[0] for seed in row] for row in seeds])
    # c_1 of every answer block, in NTT form: (pairs, R, N)
    c1 = np.empty((chunks, blocks, n), dtype=np.uint64)
    for p, answer in enumerate(answers[:chunks]):
        offset = HEADER.size
        for r in range(blocks):
            c1[p, r] = ring.ntt.forward(unpack_bits(answer[offset : offset + packed_size(n, plan.value_bits)],
                                                    plan.value_bits, n)[None])[0]
            offset += plan.answer_part_bytes(layout, 1, 0, r)
    matrix = np.ascontiguousarray(a.transpose(2, 0, 1))  # (N, pairs, C): row p holds a_{p,c}
    encoded = np.empty((blocks, chunks, n))
    for r in range(blocks):
        solution = solve_mod(matrix, np.ascontiguousarray(c1[:, r].T), q)  # (N, C): w_{r,c} at each point
        coefficients = ring.ntt.inverse(np.ascontiguousarray(solution.T)[:, None, :])[:, 0]
        encoded[r] = modarith.to_centered(coefficients, q).astype(np.float64) / plan.weight_scale
    return _weights_from_encoding(layout, encoded)


def _weights_from_encoding(layout: object, encoded: np.ndarray) -> np.ndarray:
    """Undo :meth:`~heedu.inference.coefficient_layout.CoefficientLayout.weight_values`: ``(R, C, N)`` to ``(m, n)``."""
    mw, nw = layout.outputs_per_block, layout.features_per_chunk  # type: ignore[attr-defined]
    n = encoded.shape[-1]
    exponent = np.arange(mw)[:, None] * nw - np.arange(nw)[None, :]
    sign = np.where(exponent < 0, -1.0, 1.0)
    blocks = encoded[..., exponent % n] * sign  # (R, C, m_w, n_w)
    r, c = encoded.shape[:2]
    full = blocks.transpose(0, 2, 1, 3).reshape(r * mw, c * nw)
    return full[: layout.n_outputs, : layout.n_features]  # type: ignore[attr-defined]
