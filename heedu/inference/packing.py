r"""How a linear layer is laid out in CKKS slots: the hybrid diagonal method with baby-step/giant-step.

**The problem.** Compute :math:`s = Wx + b` for :math:`W \in \mathbb{R}^{m \times n}`
on an encrypted :math:`x`, in as few rotations (key switches, the expensive
operation) as possible, and return *one* ciphertext.

**Diagonals** (Halevi-Shoup; the "hybrid" variant of GAZELLE for
:math:`m \le n`). Pad :math:`m` to a power of two :math:`m'` and :math:`n` to a
power of two :math:`n' \ge m'`. With :math:`\mathrm{rot}(x, i)_j = x_{j+i}`
(cyclic in :math:`n'`), the :math:`i`-th generalized diagonal
:math:`d_i[j] = W[j \bmod m',\ (j+i) \bmod n']` gives

.. math:: y = \sum_{i < m'} d_i \odot \mathrm{rot}(x, i), \qquad
          s_r = \sum_{k < n'/m'} y_{r + k m'}.

The second sum is a rotate-and-add ladder with :math:`\log_2(n'/m')` steps
(:math:`y \leftarrow y + \mathrm{rot}(y, m' 2^k)`). So :math:`m' - 1 + \log_2(n'/m')`
rotations instead of the per-class method's :math:`m \cdot \log_2(\text{slots})`.

**Baby-step/giant-step.** Write :math:`i = g a + b` with :math:`b < g`:
:math:`\sum_i d_i \odot \mathrm{rot}(x, i) = \sum_a \mathrm{rot}\big(\sum_b
\mathrm{rot}(d_{ga+b}, -ga) \odot \mathrm{rot}(x, b),\ ga\big)`. The plaintext
diagonals are pre-rotated for free, the :math:`g - 1` baby rotations of the
*same* ciphertext share one key-switch decomposition (hoisting), and only
:math:`m'/g - 1` giant rotations remain.

**Tiles.** Each input occupies a tile of :math:`n' + m' - 1` slots: its
:math:`n'` (padded) features followed by a copy of its first :math:`m' - 1`, so
that rotating the whole slot vector by :math:`i < m'` reads
:math:`x_{(j+i) \bmod n'}` inside every tile. As many inputs as fit share one
ciphertext; their scores come back in slots :math:`t \cdot \text{tile} + r`.
Inputs wider than a ciphertext are split into feature chunks whose products
are summed before the giant steps.

References: [HS14] Halevi and Shoup, *Algorithms in HElib*, eprint 2014/106;
[GAZELLE] Juvekar, Vaikuntanathan, Chandrakasan, USENIX Security 2018, section 5;
[BSGS] Halevi and Shoup, *Faster homomorphic linear transformations in HElib*, eprint 2018/244.

Examples
--------
>>> plan = PackingPlan.for_model(n_features=784, n_outputs=10, slot_count=4096)
>>> plan.feature_block, plan.class_block, plan.inputs_per_ciphertext, plan.key_switches
(1024, 16, 3, 12)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError


def _next_power_of_two(value: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, value))))


@dataclass(frozen=True)
class PackingPlan:
    r"""The slot layout and rotation schedule for one linear model (public: the client needs it too)."""

    n_features: int
    n_outputs: int
    slot_count: int
    class_block: int  # m': outputs padded to a power of two
    feature_block: int  # n': features per chunk, a power of two >= m'
    feature_chunks: int  # ciphertexts per group of inputs
    baby_step: int  # g

    @classmethod
    def for_model(cls, n_features: int, n_outputs: int, slot_count: int) -> PackingPlan:
        """Choose the layout: smallest blocks that fit, chunks if the features do not fit one ciphertext."""
        for name, value in (("n_features", n_features), ("n_outputs", n_outputs), ("slot_count", slot_count)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        class_block = _next_power_of_two(n_outputs)
        if 2 * class_block > slot_count:
            raise ParameterError(
                f"{n_outputs} outputs need {class_block} slots per block, more than half of the {slot_count} slots; "
                "use a larger poly_modulus_degree"
            )
        feature_block = max(class_block, _next_power_of_two(n_features))
        while feature_block + class_block - 1 > slot_count:
            feature_block //= 2
        feature_block = max(feature_block, class_block)
        chunks = math.ceil(n_features / feature_block)
        baby_step = 1 << math.ceil(math.log2(class_block) / 2)
        return cls(int(n_features), int(n_outputs), int(slot_count), class_block, feature_block, chunks, baby_step)

    # ----------------------------------------------------------------- derived quantities

    @property
    def tile(self) -> int:
        """Slots per input: its feature block plus a copy of the first ``class_block - 1`` features."""
        return self.feature_block + self.class_block - 1

    @property
    def inputs_per_ciphertext(self) -> int:
        return self.slot_count // self.tile

    @property
    def giant_steps(self) -> int:
        """Number of giant-step groups :math:`m'/g`."""
        return max(1, self.class_block // self.baby_step)

    @property
    def baby_rotations(self) -> list[int]:
        return list(range(1, min(self.baby_step, self.class_block)))

    @property
    def giant_rotations(self) -> list[int]:
        return [self.baby_step * a for a in range(1, self.giant_steps)]

    @property
    def fold_rotations(self) -> list[int]:
        return [self.class_block << k for k in range(int(math.log2(self.feature_block // self.class_block)))]

    @property
    def rotation_steps(self) -> list[int]:
        """Every rotation step the server needs a Galois key for."""
        return sorted(set(self.baby_rotations + self.giant_rotations + self.fold_rotations))

    @property
    def key_switches(self) -> int:
        """Key switches per ciphertext (hoisted baby steps count once each, as inner products)."""
        baby = len(self.baby_rotations) * self.feature_chunks
        return baby + len(self.giant_rotations) + len(self.fold_rotations)

    def steps_by_level(self, top_level: int) -> dict[int, int]:
        """The highest level each rotation is used at: baby steps on fresh inputs, the rest after one rescale."""
        levels = {step: top_level - 1 for step in self.giant_rotations + self.fold_rotations}
        levels.update({step: top_level for step in self.baby_rotations})
        return levels

    # ----------------------------------------------------------------- slot vectors

    def input_slots(self, inputs: np.ndarray) -> np.ndarray:
        """Slot vectors ``(n_ciphertext_groups, feature_chunks, slot_count)`` for a batch ``(n, n_features)``."""
        inputs = np.asarray(inputs, dtype=np.float64)
        groups = math.ceil(inputs.shape[0] / self.inputs_per_ciphertext)
        padded = np.zeros((groups * self.inputs_per_ciphertext, self.feature_chunks * self.feature_block))
        padded[: inputs.shape[0], : self.n_features] = inputs
        chunks = padded.reshape(groups, self.inputs_per_ciphertext, self.feature_chunks, self.feature_block)
        tiles = np.concatenate([chunks, chunks[..., : self.class_block - 1]], axis=-1)
        slots = np.zeros((groups, self.feature_chunks, self.slot_count))
        width = self.inputs_per_ciphertext * self.tile
        slots[..., :width] = tiles.transpose(0, 2, 1, 3).reshape(groups, self.feature_chunks, width)
        return slots

    def diagonal_slots(self, weights: np.ndarray) -> np.ndarray:
        r"""Pre-rotated diagonals ``(feature_chunks, giant_steps, baby_step, slot_count)``.

        Entry ``[c, a, b]`` is :math:`\mathrm{rot}(d_{ga+b}, -ga)` for chunk ``c``, with
        :math:`d_i` repeated in every tile (zero outside the tiles' first :math:`n'` slots).
        """
        m, n = self.class_block, self.feature_block
        padded = np.zeros((m, self.feature_chunks * n))
        padded[: self.n_outputs, : self.n_features] = weights
        j = np.arange(n)
        out = np.zeros((self.feature_chunks, self.giant_steps, self.baby_step, self.slot_count))
        for c in range(self.feature_chunks):
            block = padded[:, c * n : (c + 1) * n]
            for a in range(self.giant_steps):
                for b in range(self.baby_step):
                    i = self.baby_step * a + b
                    if i >= m:
                        continue
                    diagonal = np.zeros(self.tile)
                    diagonal[:n] = block[j % m, (j + i) % n]
                    vector = np.zeros(self.slot_count)
                    vector[: self.inputs_per_ciphertext * self.tile] = np.tile(diagonal, self.inputs_per_ciphertext)
                    out[c, a, b] = np.roll(vector, self.baby_step * a)  # rot(v, -ga) = np.roll(v, +ga)
        return out

    def bias_slots(self, bias: np.ndarray) -> np.ndarray:
        """The bias in slot ``t * tile + r`` for every input ``t`` and output ``r``."""
        tile = np.zeros(self.tile)
        tile[: self.n_outputs] = bias
        vector = np.zeros(self.slot_count)
        vector[: self.inputs_per_ciphertext * self.tile] = np.tile(tile, self.inputs_per_ciphertext)
        return vector

    def read_scores(self, slots: np.ndarray, count: int) -> np.ndarray:
        """Scores ``(count, n_outputs)`` from decrypted result slots ``(n_groups, slot_count)``."""
        rows = []
        for group in np.atleast_2d(slots):
            for t in range(self.inputs_per_ciphertext):
                rows.append(group[t * self.tile : t * self.tile + self.n_outputs])
        return np.array(rows[:count])

    def describe(self) -> str:
        """A readable account of the layout and the rotation schedule."""
        lines = [
            f"linear layer {self.n_outputs} x {self.n_features} on {self.slot_count} slots (hybrid diagonals, BSGS)",
            f"  outputs padded to m' = {self.class_block}; features in {self.feature_chunks} chunk(s) "
            f"of n' = {self.feature_block}",
            f"  each input takes a tile of {self.tile} slots (n' + m' - 1): {self.inputs_per_ciphertext} input(s) "
            "per ciphertext",
            f"  baby steps (hoisted, on the fresh input): {self.baby_rotations or 'none'}",
            f"  giant steps (after rescaling): {self.giant_rotations or 'none'}",
            f"  folding ladder (sum of the n'/m' blocks): {self.fold_rotations or 'none'}",
            f"  Galois keys needed: {self.rotation_steps}",
            f"  key switches per ciphertext: {self.key_switches} "
            f"(per input: {self.key_switches / self.inputs_per_ciphertext:.1f})",
            f"  scores of input t, output r in slot t * {self.tile} + r",
        ]
        return "\n".join(lines)
