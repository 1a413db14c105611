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

**Every slot a score.** The folding ladder above runs over the *whole* cycle of
:math:`n'` slots, so every slot :math:`j`, not only :math:`j < m'`, ends up with
the complete sum :math:`s_{j \bmod m'}`: the rows :math:`(j + k m') \bmod m'` all
equal :math:`j \bmod m'` and the columns :math:`(j + k m' + i) \bmod n'` cover
:math:`[0, n')` exactly once. No slot of the answer holds a partial sum of
:math:`W`, whatever the client encrypted, so nothing has to be masked. (An
earlier layout left partial sums next to the scores and multiplied them by an
encoded 0/1 mask; the mask's encoding error is public, and a client that scaled
its inputs by :math:`10^4` read the "hidden" partial sums back. A 0/1 slot mask
cannot be encoded exactly: the number field has no idempotents but 0 and 1.)

**Interleaved batching.** :math:`B = (N/2) / n'` inputs share a ciphertext,
interleaved: slot :math:`jB + t` holds feature :math:`j` of input :math:`t`.
Rotating the whole slot vector by :math:`iB` rotates every input's
:math:`n'`-cycle by :math:`i` at once, exactly and cyclically, so the schedule
above runs unchanged with every rotation amount multiplied by :math:`B`, and
score :math:`r` of input :math:`t` lands in slot :math:`rB + t` (and again at
:math:`(r + k m')B + t` for every :math:`k`). Inputs wider than a ciphertext
(:math:`n > N/2`) are split into feature chunks of :math:`n' = N/2` (then
:math:`B = 1`) whose products are summed before the giant steps.

References: [HS14] Halevi and Shoup, *Algorithms in HElib*, eprint 2014/106;
[GAZELLE] Juvekar, Vaikuntanathan, Chandrakasan, USENIX Security 2018, section 5;
[BSGS] Halevi and Shoup, *Faster homomorphic linear transformations in HElib*, eprint 2018/244.

Examples
--------
>>> plan = PackingPlan.for_model(n_features=784, n_outputs=10, slot_count=4096)
>>> plan.feature_block, plan.class_block, plan.inputs_per_ciphertext, plan.key_switches
(1024, 16, 4, 12)
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
        """Choose the layout: smallest blocks that fit, chunks if the features do not fit one ciphertext.

        Raises
        ------
        ParameterError
            A size is not a positive integer, the slot count is not a power of two, or the
            outputs (padded to a power of two) need more slots than there are.
        """
        for name, value in (("n_features", n_features), ("n_outputs", n_outputs), ("slot_count", slot_count)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if slot_count & (slot_count - 1):
            raise ParameterError(f"slot_count must be a power of two, got {slot_count}")
        class_block = _next_power_of_two(n_outputs)
        if class_block > slot_count:
            raise ParameterError(
                f"{n_outputs} outputs need {class_block} slots per block, more than the {slot_count} slots; "
                "use a larger poly_modulus_degree"
            )
        feature_block = min(int(slot_count), max(class_block, _next_power_of_two(n_features)))
        chunks = math.ceil(n_features / feature_block)
        baby_step = 1 << math.ceil(math.log2(class_block) / 2)
        return cls(int(n_features), int(n_outputs), int(slot_count), class_block, feature_block, chunks, baby_step)

    # ----------------------------------------------------------------- derived quantities

    @property
    def inputs_per_ciphertext(self) -> int:
        """:math:`B = (N/2) / n'`, the interleaving stride: slot ``j * B + t`` holds feature ``j`` of input ``t``."""
        return self.slot_count // self.feature_block

    @property
    def giant_steps(self) -> int:
        """Number of giant-step groups :math:`m'/g`."""
        return max(1, self.class_block // self.baby_step)

    @property
    def baby_rotations(self) -> list[int]:
        """Slot amounts :math:`bB` for :math:`0 < b < g`: rotations of every input by ``b`` features."""
        return [b * self.inputs_per_ciphertext for b in range(1, min(self.baby_step, self.class_block))]

    @property
    def giant_rotations(self) -> list[int]:
        """Slot amounts :math:`gaB` for :math:`0 < a < m'/g`."""
        return [self.baby_step * a * self.inputs_per_ciphertext for a in range(1, self.giant_steps)]

    @property
    def fold_rotations(self) -> list[int]:
        """Slot amounts :math:`m' 2^k B`: the ladder over each input's whole :math:`n'`-cycle."""
        folds = int(math.log2(self.feature_block // self.class_block))
        return [(self.class_block << k) * self.inputs_per_ciphertext for k in range(folds)]

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

    def _interleave(self, features: np.ndarray) -> np.ndarray:
        """``(..., B, n')`` per-input vectors -> ``(..., B * n')`` slots, slot ``j * B + t`` from input ``t``."""
        return np.swapaxes(features, -1, -2).reshape(*features.shape[:-2], self.slot_count)

    def input_slots(self, inputs: np.ndarray) -> np.ndarray:
        """Slot vectors ``(n_ciphertext_groups, feature_chunks, slot_count)`` for a batch ``(n, n_features)``."""
        inputs = np.asarray(inputs, dtype=np.float64)
        per = self.inputs_per_ciphertext
        groups = math.ceil(inputs.shape[0] / per)
        padded = np.zeros((groups * per, self.feature_chunks * self.feature_block))
        padded[: inputs.shape[0], : self.n_features] = inputs
        chunks = padded.reshape(groups, per, self.feature_chunks, self.feature_block).transpose(0, 2, 1, 3)
        return self._interleave(chunks)

    def diagonal_slots(self, weights: np.ndarray) -> np.ndarray:
        r"""Pre-rotated diagonals ``(feature_chunks, giant_steps, baby_step, slot_count)``.

        Entry ``[c, a, b]`` is :math:`\mathrm{rot}(d_{ga+b}, -gaB)` for chunk ``c``, where
        :math:`d_i[jB + t] = W[j \bmod m', (j+i) \bmod n']` for every input ``t``.
        """
        m, n, per = self.class_block, self.feature_block, self.inputs_per_ciphertext
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
                    diagonal = np.repeat(block[j % m, (j + i) % n], per)  # the same for every input t
                    out[c, a, b] = np.roll(diagonal, self.baby_step * a * per)  # rot(v, -gaB) = np.roll(v, +gaB)
        return out

    def bias_slots(self, bias: np.ndarray) -> np.ndarray:
        """The bias where its score lands: slot ``j * B + t`` gets ``bias[j mod m']`` (zero for padded outputs)."""
        padded = np.zeros(self.class_block)
        padded[: self.n_outputs] = bias
        return np.repeat(np.tile(padded, self.feature_block // self.class_block), self.inputs_per_ciphertext)

    def score_grid(self, slots: np.ndarray) -> np.ndarray:
        """One result ciphertext's slots as ``(n', B)``: row ``j`` holds score ``j mod m'`` of every input."""
        return np.asarray(slots).reshape(self.feature_block, self.inputs_per_ciphertext)

    def read_scores(self, slots: np.ndarray, count: int) -> np.ndarray:
        """Scores ``(count, n_outputs)`` from decrypted result slots ``(n_groups, slot_count)``."""
        rows = [self.score_grid(group)[: self.n_outputs].T for group in np.atleast_2d(slots)]
        return np.concatenate(rows)[:count]

    def describe(self) -> str:
        """A readable account of the layout and the rotation schedule."""
        per = self.inputs_per_ciphertext
        lines = [
            f"linear layer {self.n_outputs} x {self.n_features} on {self.slot_count} slots (hybrid diagonals, BSGS)",
            f"  outputs padded to m' = {self.class_block}; features in {self.feature_chunks} chunk(s) "
            f"of n' = {self.feature_block}",
            f"  inputs interleaved with stride B = {per}: {per} input(s) per ciphertext, "
            f"feature j of input t in slot j * {per} + t",
            f"  baby steps (hoisted, on the fresh input): {self.baby_rotations or 'none'}",
            f"  giant steps (after rescaling): {self.giant_rotations or 'none'}",
            f"  folding ladder (over the whole n'-cycle): {self.fold_rotations or 'none'}",
            f"  Galois keys needed: {self.rotation_steps}",
            f"  key switches per ciphertext: {self.key_switches} (per input: {self.key_switches / per:.1f})",
            f"  score r of input t in slot r * {per} + t, repeated every {self.class_block * per} slots: "
            "every slot of the answer holds a whole score, never a partial sum",
        ]
        return "\n".join(lines)
