r"""Key switching: the one primitive behind relinearization, rotation and conjugation.

**Problem.** We hold a polynomial :math:`c` (mod :math:`Q_\ell`) that must be
multiplied by a key :math:`s'` we do not have, but we hold a key-switching key
for :math:`s' \to s` (``heedu.keys``): :math:`k_j = (b_j, a_j)` with
:math:`b_j + a_j s = p\,e_j\,s' + \varepsilon_j \pmod{Q_L p}`.

**Decompose** (RNS gadget): the digits :math:`d_j = [c]_{q_j}` are the residues
of :math:`c` themselves, lifted to integers in :math:`[0, q_j)` and reduced
into every prime of :math:`\{q_0, \dots, q_\ell, p\}`. They are small (below
:math:`q_j`) and satisfy :math:`\sum_j d_j e_j \equiv c \pmod{Q_\ell}`.

**Inner product.** :math:`(u_0, u_1) = \sum_j d_j k_j`, so
:math:`u_0 + u_1 s = p\,c\,s' + \sum_j d_j \varepsilon_j \pmod{Q_\ell p}`
(the multiple of :math:`p Q_\ell` drops out).

**Mod down.** Divide by :math:`p` with rounding: :math:`(u_0, u_1)/p` decrypts
to :math:`c s' + (\sum_j d_j \varepsilon_j)/p + \text{rounding}`; since
:math:`d_j < q_j \lesssim p`, the added noise stays tiny.

**Hoisting.** Automorphisms commute with the digit decomposition up to the
sign of coefficients (:math:`\sigma_g(d_j)` is still a valid, small digit of
:math:`\sigma_g(c)` modulo a multiple of :math:`Q_\ell` that :math:`p` kills),
so for many rotations of one ciphertext we decompose *once* and only permute
the NTT-form digits per rotation: :func:`hoisted_switch`. The result is a
different (equally valid) ciphertext than the sequential one, with the same
decryption up to noise.

All data is in NTT form. The steps are SEAL's ``switch_key_inplace``.

References: [GHS12] eprint 2012/099; [HS14] Halevi and Shoup, *Algorithms in
HElib*, eprint 2014/106, section 4 (hoisting); [SEAL] ``evaluator.cpp``.
"""

from __future__ import annotations

import numpy as np

from . import modarith
from .errors import LevelError
from .keys import KSwitchKey
from .params import CKKSContext


def decompose(context: CKKSContext, level: int, c_ntt: np.ndarray) -> np.ndarray:
    r"""Digits :math:`d_j = [c]_{q_j}` in NTT form over :math:`\{q_0..q_\ell, p\}`: shape ``(l+1, l+2, N)``.

    Digit :math:`j` modulo its own prime :math:`q_j` is :math:`c \bmod q_j`, whose
    NTT form we already hold (row ``j`` of ``c_ntt``); only the other rows need
    a transform, as in SEAL.
    """
    coefficients = context.ring(level).ntt.inverse(c_ntt)
    target = context.ring_with_special(level)
    digits = np.empty((level + 1, target.k, context.poly_modulus_degree), dtype=np.uint64)
    for j in range(level + 1):
        others = [i for i in range(target.k) if i != j]
        ring = context.ring_without(level, j)
        digits[j, others] = ring.ntt.forward(modarith.reduce_mod(coefficients[j][None, :], ring.q))
        digits[j, j] = c_ntt[j]
    return digits


def inner_product(context: CKKSContext, level: int, digits: np.ndarray, key: KSwitchKey) -> np.ndarray:
    r""":math:`\sum_j d_j \cdot k_j` over :math:`\{q_0..q_\ell, p\}`: shape ``(2, l+2, N)``, NTT form."""
    if level > key.level:
        raise LevelError(
            f"this key-switching key was trimmed to level {key.level} but the ciphertext is at level {level}; "
            "generate the key for the higher level or mod_switch the ciphertext down first"
        )
    target = context.ring_with_special(level)
    rows = [*range(level + 1), key.data.shape[2] - 1]
    key_data = key.data[: level + 1][:, :, rows, :]
    key_shoup = key.shoup(context.ring_with_special(key.level).q)[: level + 1][:, :, rows, :]
    products = modarith.mul_shoup(digits[:, None, :, :], key_data, key_shoup, target.q)
    accumulator = products[0]
    for term in products[1:]:
        accumulator = modarith.add_mod(accumulator, term, target.q)
    return accumulator


def switch_key(context: CKKSContext, level: int, c_ntt: np.ndarray, key: KSwitchKey) -> np.ndarray:
    r"""``(u_0, u_1)`` at level ``level`` with :math:`u_0 + u_1 s \approx c\,s'`; shape ``(2, l+1, N)``."""
    digits = decompose(context, level, c_ntt)
    return context.ring_with_special(level).divide_and_round_by_last_ntt(inner_product(context, level, digits, key))


def hoisted_switch(
    context: CKKSContext, level: int, c_ntt: np.ndarray, keys: list[tuple[int, KSwitchKey]]
) -> list[np.ndarray]:
    r"""Key switches of :math:`\sigma_g(c)` for several ``(g, key_g)``, sharing one decomposition."""
    digits = decompose(context, level, c_ntt)
    ring = context.ring_with_special(level)
    results = []
    for galois_elt, key in keys:
        rotated = digits[..., ring.galois_permutation(galois_elt)]
        results.append(ring.divide_and_round_by_last_ntt(inner_product(context, level, rotated, key)))
    return results
