r"""Key switching: decomposition, inner product and mod-down, checked against their algebra.

For a polynomial :math:`c` at level :math:`\ell` and a key for :math:`s' \to s`,
``switch_key`` returns :math:`(u_0, u_1)` with

.. math:: u_0 + u_1 s = c\,s' + \frac{1}{p}\sum_{j \le \ell} d_j \varepsilon_j + r_0 + r_1 s \pmod{Q_\ell},

where :math:`d_j \in [0, q_j)` are the digits (residues of :math:`c`), :math:`\varepsilon_j` the
key noise (:math:`|\varepsilon_{j,k}| \le 19`) and :math:`|r_i| \le 1/2` the roundings of the
division by :math:`p`. Coefficient-wise, with :math:`h` the secret's Hamming weight:

.. math:: |e_k| \le \frac{19 N}{p} \sum_{j \le \ell} (q_j - 1) + \frac{1 + h}{2},

and without key noise only :math:`(1 + h)/2` remains. Hoisting permutes the digits instead of
re-decomposing: :math:`\sigma_g(d_j)` has coefficients in :math:`(-q_j, q_j)`, so the same bound
holds for it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import heedu
from heedu import keyswitch, modarith

NOISE_BOUND = 19  # floor(6 * 3.2)

few = settings(max_examples=max(5, settings.default.max_examples // 2))
seeds = st.binary(min_size=32, max_size=32)
levels = st.integers(0, 2)


def uniform_poly(context: heedu.CKKSContext, level: int, seed: bytes) -> np.ndarray:
    """A uniform element of R_{Q_level} (NTT form; uniform in either form)."""
    ring = context.ring(level)
    return heedu.SeededRandomSource(seed).uniform(ring.moduli, ring.n)


def automorphism(coefficients: np.ndarray, galois_elt: int) -> np.ndarray:
    n = len(coefficients)
    out = np.zeros(n, dtype=np.int64)
    for k, c in enumerate(coefficients.astype(np.int64)):
        e = k * galois_elt % (2 * n)
        out[e % n] += c if e < n else -c
    return out


def secret_at(kit, level: int) -> np.ndarray:
    return kit.secret_key.at(kit.context.ring(level), kit.context.key_ring)


def target_at(kit, level: int, galois_elt: int | None) -> np.ndarray:
    """s' in NTT form at ``level``: s^2 (relinearization) or s(X^g), built from the ternary coefficients."""
    ring = kit.context.ring(level)
    if galois_elt is None:
        s = secret_at(kit, level)
        return modarith.mul_mod(s, s, ring.q)
    return ring.from_signed(automorphism(kit.secret_key.coefficients, galois_elt)).to_ntt().data


def switch_error(kit, level: int, switched: np.ndarray, c: np.ndarray, target: np.ndarray) -> list[int]:
    """Exact centered coefficients of u_0 + u_1 s - c s'."""
    q = kit.context.ring(level).q
    phase = modarith.add_mod(switched[0], modarith.mul_mod(switched[1], secret_at(kit, level), q), q)
    return list(kit.centered(modarith.sub_mod(phase, modarith.mul_mod(c, target, q), q), level))


def switch_bound(kit, level: int, noisy: bool) -> float:
    context = kit.context
    rounding = (1 + kit.hamming_weight) / 2
    if not noisy:
        return rounding
    digits = sum(q - 1 for q in context.data_primes[: level + 1])
    return NOISE_BOUND * kit.n * digits / context.special_prime + rounding


@pytest.fixture(scope="module")
def kits(toy, toy_zero_noise):
    """Both key sets by name (Hypothesis tests cannot use the function-scoped ``request``)."""
    return {"toy": toy, "toy_zero_noise": toy_zero_noise}


# ---------------------------------------------------------------------------- decomposition


@given(seeds, levels)
def test_digits_are_the_residues_lifted_to_every_prime(toy_context, seed, level):
    context = toy_context
    c = uniform_poly(context, level, seed)
    digits = keyswitch.decompose(context, level, c)
    target = context.ring_with_special(level)
    assert digits.shape == (level + 1, level + 2, context.poly_modulus_degree)
    c_coefficients = context.ring(level).ntt.inverse(c)
    recombined = 0
    big_q = context.ring(level).basis.product
    for j, qj in enumerate(context.data_primes[: level + 1]):
        values = target.basis.compose(target.ntt.inverse(digits[j]))  # in [0, Q_l p)
        assert values == [int(v) for v in c_coefficients[j]]  # d_j = [c]_{q_j}, lifted in [0, q_j)
        assert all(0 <= v < qj for v in values)
        punctured = big_q // qj
        recombined = recombined + np.array(values, dtype=object) * (punctured * pow(punctured, -1, qj))
    # sum_j d_j * e_j = c modulo Q_l (e_j the CRT idempotents)
    assert [int(v) % big_q for v in recombined] == context.ring(level).basis.compose(c_coefficients)


# ---------------------------------------------------------------------------- switch_key


@pytest.mark.parametrize("kit_name", ["toy_zero_noise", "toy"])
@few
@given(seeds, levels)
def test_relinearization_switch_decrypts_to_c_times_s_squared(kits, kit_name, seed, level):
    kit = kits[kit_name]
    c = uniform_poly(kit.context, level, seed)
    switched = keyswitch.switch_key(kit.context, level, c, kit.relin_keys.key)
    assert switched.shape == (2, level + 1, kit.n)
    error = switch_error(kit, level, switched, c, target_at(kit, level, None))
    assert max(abs(v) for v in error) <= switch_bound(kit, level, noisy=kit_name == "toy")


@pytest.mark.parametrize("kit_name", ["toy_zero_noise", "toy"])
@few
@given(seeds, levels, st.data())
def test_galois_switch_decrypts_to_c_times_the_automorphism_of_s(kits, kit_name, seed, level, data):
    kit = kits[kit_name]
    g = data.draw(st.sampled_from(kit.galois_keys.galois_elts()))
    c = uniform_poly(kit.context, level, seed)
    switched = keyswitch.switch_key(kit.context, level, c, kit.galois_keys.keys[g])
    error = switch_error(kit, level, switched, c, target_at(kit, level, g))
    assert max(abs(v) for v in error) <= switch_bound(kit, level, noisy=kit_name == "toy")


def test_switching_with_the_wrong_key_is_far_off(toy_zero_noise):
    """The checks above can fail: a relinearization key does not switch from s(X^3)."""
    kit, level = toy_zero_noise, 2
    c = uniform_poly(kit.context, level, b"w" * 32)
    switched = keyswitch.switch_key(kit.context, level, c, kit.relin_keys.key)
    error = switch_error(kit, level, switched, c, target_at(kit, level, 3))
    assert max(abs(v) for v in error) > 2**40


def test_a_zero_polynomial_switches_to_zero(toy):
    zero = np.zeros((3, toy.n), dtype=np.uint64)
    assert not keyswitch.switch_key(toy.context, 2, zero, toy.relin_keys.key).any()


# ---------------------------------------------------------------------------- hoisting


@pytest.mark.parametrize("kit_name", ["toy_zero_noise", "toy"])
@few
@given(seeds, levels, st.data())
def test_hoisted_switches_equal_sequential_ones_up_to_noise(kits, kit_name, seed, level, data):
    kit = kits[kit_name]
    elements = data.draw(st.lists(st.sampled_from(kit.galois_keys.galois_elts()), min_size=1, max_size=4))
    c = uniform_poly(kit.context, level, seed)
    ring = kit.context.ring(level)
    pairs = [(g, kit.galois_keys.keys[g]) for g in elements]
    hoisted = keyswitch.hoisted_switch(kit.context, level, c, pairs)
    assert len(hoisted) == len(elements)
    bound = switch_bound(kit, level, noisy=kit_name == "toy")
    for g, result in zip(elements, hoisted):
        rotated = c[..., ring.galois_permutation(g)]  # sigma_g(c) in NTT form
        target = target_at(kit, level, g)
        assert max(abs(v) for v in switch_error(kit, level, result, rotated, target)) <= bound
        sequential = keyswitch.switch_key(kit.context, level, rotated, kit.galois_keys.keys[g])
        assert max(abs(v) for v in switch_error(kit, level, sequential, rotated, target)) <= bound


def test_hoisting_needs_no_keys_for_no_rotations(toy):
    assert keyswitch.hoisted_switch(toy.context, 1, uniform_poly(toy.context, 1, b"z" * 32), []) == []
