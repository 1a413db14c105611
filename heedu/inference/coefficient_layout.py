r"""How a linear layer is laid out in polynomial *coefficients*: inner products without rotations.

**Why a product of polynomials computes inner products.** In
:math:`\mathbb{Z}[X]/(X^N+1)` the product of :math:`\hat x = \sum_i x_i X^i`
and :math:`\hat w = \sum_i w_i X^{-i}` has, as its constant coefficient,
:math:`\sum_i x_i w_i`: the exponents cancel exactly where the indices match.
(:math:`X^{-i} = -X^{N-i}`, because :math:`X^N = -1`.) Shifting a second weight
row up by :math:`n_w` puts a second inner product at coefficient :math:`n_w`,
and so on: one ciphertext-plaintext product yields a whole block of a
matrix-vector product, with no rotation and no key switching.

**The layout** (Cheetah's HomFC; exact over the integers). Blocks of
:math:`m_w` outputs by :math:`n_w` features, :math:`T = m_w n_w`, and
:math:`B` inputs per ciphertext with :math:`B\,T \le N`.
:math:`C = \lceil n/n_w \rceil` feature chunks, :math:`R = \lceil m/m_w \rceil`
output blocks, :math:`G = \lceil K/B \rceil` groups for :math:`K` inputs.

* query, group :math:`g`, chunk :math:`c`:
  :math:`\hat x_{g,c} = \sum_{b<B} \sum_{i<n_w} x_{gB+b}[c n_w + i]\, X^{bT + i}`;
* weights, block :math:`r`, chunk :math:`c`:
  :math:`\hat w_{r,c} = \sum_{j<m_w} \sum_{i<n_w} W[r m_w + j,\ c n_w + i]\, X^{j n_w - i}`;
* answer :math:`\hat y_{g,r} = \sum_c \hat x_{g,c}\,\hat w_{r,c}`: its coefficient
  :math:`bT + j n_w` is :math:`(W x_{gB+b})_{r m_w + j}`.

Nothing else lands on a score coefficient: output positions are multiples of
:math:`n_w`, and :math:`|i - i'| < n_w` forces :math:`i = i'`; the terms that wrap
(row :math:`j = 0`, :math:`i < i'`, input 0) land in :math:`(N - n_w, N)`, and the
largest score position is :math:`BT - n_w \le N - n_w`. **Every other coefficient
is a partial sum of a row of W times x**: with :math:`x = e_0` the answer *is*
:math:`\hat w`. They must never leave the server
(:mod:`heedu.inference.coefficients` sends only the score coefficients).

**The lower bound.** One product yields at most :math:`N/n_w` scores and
consumes :math:`n_w` features of each, so :math:`K` inputs need at least
:math:`Kmn/N` products (1.91 products at :math:`N = 4096` per MNIST image).
Layouts trade products, answers (each answer carries a whole :math:`c_1`) and
query ciphertexts against each other: one input wants :math:`m_w = m`,
:math:`n_w = \lfloor N/m \rfloor`; a large batch wants :math:`m_w = 1`, small
:math:`n_w` and large :math:`B` (at :math:`m_w = n_w = 1` the *feature-major*
layout, where ciphertext :math:`c` holds feature :math:`c` of :math:`N` inputs
and the weights are constants). :func:`plan_layout` enumerates
:math:`m_w \in \{\lceil m/R \rceil\}`, :math:`n_w \in \{\lceil n/C \rceil\}` and
picks the cheapest by a cost model, within a memory limit for the encoded
weights (:math:`R\,C` polynomials: small blocks replicate the storage of
:math:`W` up to :math:`N/T` times).

References: [Cheetah22] Huang, Lu, Hong, Ding, *Cheetah: Lean and Fast Secure
Two-Party Deep Neural Network Inference*, USENIX Security 2022, section 3.2;
OpenCheetah ``hom_fc_ss.cc``.

Examples
--------
>>> layout = plan_layout(n_outputs=10, n_features=784, poly_modulus_degree=4096, inputs=1, prime_count=2)
>>> layout.outputs_per_block, layout.features_per_chunk, layout.feature_chunks, layout.output_blocks
(10, 392, 2, 1)
>>> layout.score_position(input_index=0, output=3)  # the answer's coefficient that holds score 3
1176
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, ShapeError

#: Relative server costs, in units of one ciphertext-plaintext product (2 x k x N Shoup products and
#: a sum), measured at N = 4096 with two primes on the 2-core reference machine: parsing one query
#: ciphertext (unpacking, expanding its seed), and finishing one answer (re-randomization, flooding,
#: inverse NTT, switch to one prime, extraction, packing).
COST_OF_QUERY_CIPHERTEXT = 4.0
COST_OF_ANSWER = 30.0
#: Bytes of encoded weights a server keeps per layout, by default (each is R x C polynomials).
DEFAULT_WEIGHT_MEMORY = 128 * 2**20
OBJECTIVES = ("time", "bytes")


@dataclass(frozen=True)
class CoefficientLayout:
    r"""One layout: :math:`m_w` outputs by :math:`n_w` features per block, up to :math:`B` inputs per ciphertext.

    Raises
    ------
    ParameterError
        Sizes that are not positive integers, or blocks that do not fit: :math:`B\,m_w n_w > N`.
    """

    n_outputs: int
    n_features: int
    poly_modulus_degree: int
    outputs_per_block: int
    features_per_chunk: int
    inputs_per_ciphertext: int

    def __post_init__(self) -> None:
        for name in ("n_outputs", "n_features", "poly_modulus_degree", "outputs_per_block",
                     "features_per_chunk", "inputs_per_ciphertext"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if self.inputs_per_ciphertext * self.block_size > self.poly_modulus_degree:
            raise ParameterError(
                f"{self.inputs_per_ciphertext} inputs of {self.outputs_per_block} x {self.features_per_chunk} "
                f"blocks need {self.inputs_per_ciphertext * self.block_size} coefficients; "
                f"N = {self.poly_modulus_degree}"
            )
        if self.outputs_per_block > self.n_outputs or self.features_per_chunk > self.n_features:
            raise ParameterError("a block is larger than the model")

    @property
    def block_size(self) -> int:
        """:math:`T = m_w n_w`, the coefficients one input occupies in an answer."""
        return self.outputs_per_block * self.features_per_chunk

    @property
    def feature_chunks(self) -> int:
        """:math:`C = \\lceil n / n_w \\rceil`: query ciphertexts per group, weight polynomials per block."""
        return -(-self.n_features // self.features_per_chunk)

    @property
    def output_blocks(self) -> int:
        """:math:`R = \\lceil m / m_w \\rceil`: answers per group."""
        return -(-self.n_outputs // self.outputs_per_block)

    @property
    def constant_weights(self) -> bool:
        """True for :math:`m_w = n_w = 1` (feature-major): every weight polynomial is a constant."""
        return self.block_size == 1

    def groups(self, inputs: int) -> int:
        """:math:`G = \\lceil K / B \\rceil` ciphertext groups for ``inputs`` inputs."""
        return -(-inputs // self.inputs_per_ciphertext)

    def inputs_in_group(self, inputs: int, group: int) -> int:
        """How many of ``inputs`` are in ``group`` (the last group may be partial)."""
        return min(self.inputs_per_ciphertext, inputs - group * self.inputs_per_ciphertext)

    def outputs_in_block(self, block: int) -> int:
        """How many outputs block ``block`` holds (the last block may be partial)."""
        return min(self.outputs_per_block, self.n_outputs - block * self.outputs_per_block)

    def score_position(self, input_index: int, output: int) -> int:
        """The coefficient of answer ``output // m_w`` holding score ``output`` of input ``input_index`` of a group."""
        return input_index * self.block_size + (output % self.outputs_per_block) * self.features_per_chunk

    def score_positions(self, inputs: int, group: int, block: int) -> np.ndarray:
        """``(inputs in the group, outputs in the block)`` coefficient indices of answer ``(group, block)``."""
        b = np.arange(self.inputs_in_group(inputs, group))[:, None]
        j = np.arange(self.outputs_in_block(block))[None, :]
        return b * self.block_size + j * self.features_per_chunk

    def query_values(self, batch: np.ndarray) -> np.ndarray:
        r"""``(G, C, N)`` coefficients :math:`\hat x_{g,c}` of a ``(K, n)`` batch (unscaled)."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.n_features or batch.shape[0] == 0:
            raise ShapeError(f"expected a (K, {self.n_features}) batch, got shape {batch.shape}")
        g, c = self.groups(batch.shape[0]), self.feature_chunks
        b, nw = self.inputs_per_ciphertext, self.features_per_chunk
        padded = np.zeros((g * b, c * nw))
        padded[: batch.shape[0], : self.n_features] = batch
        blocks = np.zeros((g, c, b, self.block_size))
        blocks[..., :nw] = padded.reshape(g, b, c, nw).transpose(0, 2, 1, 3)
        out = np.zeros((g, c, self.poly_modulus_degree))
        out[..., : b * self.block_size] = blocks.reshape(g, c, b * self.block_size)
        return out

    def weight_values(self, weights: np.ndarray) -> np.ndarray:
        r"""``(R, C, N)`` coefficients :math:`\hat w_{r,c}` of an ``(m, n)`` matrix, with :math:`X^{-i} = -X^{N-i}`."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.n_outputs, self.n_features):
            raise ShapeError(f"expected ({self.n_outputs}, {self.n_features}) weights, got shape {weights.shape}")
        r, c, mw, nw = self.output_blocks, self.feature_chunks, self.outputs_per_block, self.features_per_chunk
        padded = np.zeros((r * mw, c * nw))
        padded[: self.n_outputs, : self.n_features] = weights
        blocks = padded.reshape(r, mw, c, nw).transpose(0, 2, 1, 3)  # (R, C, m_w, n_w)
        exponent = np.arange(mw)[:, None] * nw - np.arange(nw)[None, :]
        sign = np.where(exponent < 0, -1.0, 1.0)
        out = np.zeros((r, c, self.poly_modulus_degree))
        out[..., exponent % self.poly_modulus_degree] = blocks * sign
        return out

    def read_scores(self, answers: list[list[np.ndarray]], inputs: int) -> np.ndarray:
        """``(K, m)`` scores from ``answers[g][r]``, the values at :meth:`score_positions` (in that shape)."""
        scores = np.empty((inputs, self.n_outputs))
        b = self.inputs_per_ciphertext
        for g, row in enumerate(answers):
            for r, values in enumerate(row):
                first = r * self.outputs_per_block
                scores[g * b : g * b + values.shape[0], first : first + values.shape[1]] = values
        return scores

    def cost(self, inputs: int, prime_count: int, objective: str = "time") -> float:
        """The cost model :func:`plan_layout` minimizes: server work in products, or bytes on the wire."""
        g, c, r = self.groups(inputs), self.feature_chunks, self.output_blocks
        if objective == "bytes":
            query = g * c * self.poly_modulus_degree * 8 * prime_count
            answers = g * r * self.poly_modulus_degree * 8 + inputs * self.n_outputs * 8
            return float(query + answers)
        return g * c * r + g * c * COST_OF_QUERY_CIPHERTEXT + g * r * COST_OF_ANSWER

    def weight_bytes(self, prime_count: int) -> int:
        """Memory of the encoded weights: ``R * C`` polynomials (constants when feature-major) and Shoup companions."""
        width = 1 if self.constant_weights else self.poly_modulus_degree
        return self.output_blocks * self.feature_chunks * prime_count * width * 16

    def describe(self, inputs: int = 1) -> str:
        """The layout in words, and where the scores of ``inputs`` inputs land."""
        g = self.groups(inputs)
        lines = [
            f"coefficient layout: blocks of {self.outputs_per_block} outputs x {self.features_per_chunk} features "
            f"(T = {self.block_size}), up to {self.inputs_per_ciphertext} input(s) per ciphertext",
            f"{inputs} input(s): {g} group(s) x {self.feature_chunks} query ciphertext(s); "
            f"{g * self.feature_chunks * self.output_blocks} ciphertext-plaintext product(s); "
            f"{g * self.output_blocks} answer(s)",
        ]
        shown = min(inputs, 2)
        for b in range(shown):
            places = ", ".join(
                f"{j}->a{j // self.outputs_per_block}[{self.score_position(b, j)}]"
                for j in range(min(self.n_outputs, 4))
            )
            more = ", ..." if self.n_outputs > 4 else ""
            lines.append(f"  input {b}: score -> answer[coefficient]: {places}{more}")
        lines.append("  every other coefficient holds partial sums of W and never leaves the server")
        return "\n".join(lines)


def _ceil_fractions(total: int) -> list[int]:
    """Every distinct :math:`\\lceil total / k \\rceil`, largest first (about :math:`2\\sqrt{total}` values)."""
    return sorted({-(-total // k) for k in range(1, total + 1)}, reverse=True)


def plan_layout(
    n_outputs: int,
    n_features: int,
    poly_modulus_degree: int,
    inputs: int,
    prime_count: int,
    objective: str = "time",
    weight_memory: int = DEFAULT_WEIGHT_MEMORY,
) -> CoefficientLayout:
    r"""The cheapest layout for ``inputs`` inputs, by :meth:`CoefficientLayout.cost`, within ``weight_memory``.

    Deterministic: client and server compute the same layout from the plan and the batch size.

    Raises
    ------
    ParameterError
        An unknown objective, non-positive sizes, or no layout within the memory limit.
    """
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    for name, value in (("n_outputs", n_outputs), ("n_features", n_features), ("inputs", inputs)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    best: tuple[float, int, CoefficientLayout] | None = None
    n = poly_modulus_degree
    for mw in _ceil_fractions(n_outputs):
        for nw in _ceil_fractions(n_features):
            if mw * nw > n:
                continue
            b = min(n // (mw * nw), inputs)
            layout = CoefficientLayout(n_outputs, n_features, n, mw, nw, b)
            if layout.weight_bytes(prime_count) > weight_memory:
                continue
            candidate = (layout.cost(inputs, prime_count, objective), layout.weight_bytes(prime_count), layout)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    if best is None:
        raise ParameterError(
            f"no coefficient layout of a {n_outputs} x {n_features} model fits N = {n} within "
            f"{weight_memory / 2**20:.0f} MiB of encoded weights; allow more memory or choose a larger N"
        )
    return best[2]


def scores_by_polynomial_products(layout: CoefficientLayout, weights: np.ndarray, batch: np.ndarray) -> np.ndarray:
    r"""The oracle: :math:`Wx` read off exact negacyclic products in Python integers (slow; integer inputs).

    Multiplies every :math:`\hat x_{g,c}` by every :math:`\hat w_{r,c}` by the schoolbook rule,
    sums over :math:`c`, and reads the score coefficients: what the encrypted computation does,
    without encryption, rounding or NTT.
    """
    n = layout.poly_modulus_degree
    queries = [[[int(v) for v in poly] for poly in group] for group in layout.query_values(batch)]
    plain = [[[int(v) for v in poly] for poly in block] for block in layout.weight_values(weights)]
    answers = []
    for g, group in enumerate(queries):
        row = []
        for r, block in enumerate(plain):
            product = [0] * n
            for x_poly, w_poly in zip(group, block):
                for i, xi in enumerate(x_poly):
                    if xi:
                        for j, wj in enumerate(w_poly):
                            if wj:
                                k = i + j
                                product[k % n] += xi * wj if k < n else -xi * wj
            positions = layout.score_positions(batch.shape[0], g, r)
            row.append(np.array([[product[p] for p in line] for line in positions], dtype=np.float64))
        answers.append(row)
    return layout.read_scores(answers, batch.shape[0])
