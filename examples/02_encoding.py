"""02 encoding: slots, complex values, the canonical embedding, precision versus scale, constants.

CKKS encrypts polynomials, but we want to compute on vectors. The encoder is
the bridge: a vector of N/2 complex numbers (the *slots*) is the list of values
of a real polynomial at N/2 roots of unity, and adding or multiplying the
polynomials adds or multiplies the slots. This example opens the bridge up on
a toy ring of degree 16, where everything fits on a line, then measures what
the scale buys at the tutorial's size.

Run it with `python examples/02_encoding.py`.
"""

from __future__ import annotations

import math

import numpy as np

import heedu
from heedu.tools.narration import step


def negacyclic_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a(X) * b(X) mod X^N + 1, the schoolbook way (X^N wraps around to -1)."""
    n = a.size
    full = np.convolve(a, b)
    result = full[:n].copy()
    result[: full.size - n] -= full[n:]
    return result


def main() -> None:
    np.set_printoptions(precision=3, suppress=True, linewidth=120)
    print("02 encoding: from vectors to polynomials and back\n")

    # A toy ring: N = 16, so 8 slots. allow_insecure=True is required (and printed loudly by
    # describe()): we never encrypt anything secret with it, we only look at the encoder.
    toy_params = heedu.CKKSParameters(
        poly_modulus_degree=16, coeff_modulus_bits=[40, 30, 40], scale=2.0**30, allow_insecure=True
    )
    toy = heedu.CKKSContext(toy_params)
    encoder = heedu.CKKSEncoder(toy)
    n = toy.poly_modulus_degree
    print(f"1. Slots: N = {n} gives N/2 = {encoder.slot_count} slots (toy ring, for reading only)\n")

    # The slots of a real polynomial m are its values at zeta^(3^j), zeta = exp(i pi / N).
    # The encoder's inverse_embed finds the real polynomial with the given slots.
    z = np.array([1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 2.5])
    m = encoder.inverse_embed(z)
    print("2. The canonical embedding")
    print(f"   slots z                       : {z}")
    print(f"   polynomial m = embed^-1(z)    : {m}")
    roots = np.exp(1j * np.pi * np.array([pow(3, j, 2 * n) for j in range(encoder.slot_count)]) / n)
    direct = np.array([np.polyval(m[::-1], r) for r in roots])
    print(f"   m evaluated at zeta^(3^j)     : {direct.real}  (imaginary parts {np.max(np.abs(direct.imag)):.0e})")
    print("   The polynomial's coefficients are real; the other N/2 roots hold the complex conjugates.\n")

    # The embedding is a ring isomorphism: multiplying polynomials mod X^N + 1 multiplies slots.
    w = np.array([2.0, 0.5, -1.0, 1.0, 3.0, 2.0, 7.0, -0.5])
    product = encoder.embed(negacyclic_product(m, encoder.inverse_embed(w)))
    print("3. Polynomial product = slot-wise product")
    print(f"   z * w                         : {z * w}")
    print(f"   slots of m(X) * n(X) mod X^N+1: {np.round(product.real, 6) + 0.0}\n")

    # Slots are complex. Decoding returns real parts unless complex_output=True.
    c = np.array([1 + 2j, complex(0, -0.5), 3.0, 0.25 + 0.25j])
    decoded = encoder.decode(encoder.encode(c), complex_output=True)
    print("4. Complex values (fewer than 8 values: the rest of the slots are zero)")
    print(f"   encoded   : {c}")
    print(f"   decoded   : {np.round(decoded[:4], 6) + 0.0}  (+ {encoder.slot_count - 4} zero slots)")
    print(f"   real only : {np.round(encoder.decode(encoder.encode(c))[:4], 6) + 0.0}  (decode's default)\n")

    # Encoding multiplies by the scale and rounds to integers: the rounding error, divided by
    # the scale, is the best precision any later result can have. Encryption adds noise of a
    # few bits on top, so the scale should sit well above the precision you need.
    print("5. Precision versus scale (N = 8192, the tutorial's ring)")
    ctx = step("build the tutorial context", lambda: heedu.CKKSContext(heedu.CKKSParameters.tutorial()))
    big = heedu.CKKSEncoder(ctx)
    keygen = heedu.KeyGenerator(ctx)
    encryptor = heedu.Encryptor(ctx, keygen.public_key())
    decryptor = heedu.Decryptor(ctx, keygen.secret_key())
    x = np.random.default_rng(2).uniform(-1, 1, ctx.slot_count)
    print(f"   {'scale':>8} {'encode only':>14} {'encrypted':>12}   (max |error|, and bits of precision)")
    for bits in (20, 25, 30, 35, 40):
        plain = big.encode(x, scale=2.0**bits)
        encode_error = float(np.max(np.abs(big.decode(plain) - x)))
        encrypted_error = float(np.max(np.abs(big.decode(decryptor.decrypt(encryptor.encrypt(plain))) - x)))
        print(
            f"   {'2^' + str(bits):>8} {encode_error:>9.1e} ({-math.log2(encode_error):>2.0f})"
            f" {encrypted_error:>7.1e} ({-math.log2(encrypted_error):>2.0f})"
        )
    print("   Each extra bit of scale buys one bit of precision, until the modulus runs out (see 07).\n")

    # encode(3.0) puts 3 in slot 0 only; encode_constant(3.0) is the constant polynomial 3,
    # whose slots are all 3: exactly what multiplying every slot by a number needs.
    print("6. Encoding a constant")
    one_slot = encoder.decode(encoder.encode(3.0))
    every_slot = encoder.decode(encoder.encode_constant(3.0))
    print(f"   encode(3.0)          -> {np.round(one_slot, 6) + 0.0}")
    print(f"   encode_constant(3.0) -> {np.round(every_slot, 6)}")
    constant = encoder.encode_constant(3.0)
    nonzero = int(np.count_nonzero(toy.ring(constant.level).ntt.inverse(constant.data)[0]))
    print(f"   the constant's polynomial has {nonzero} nonzero coefficient (it is just round(3 * 2^30))")
    if not np.allclose(every_slot, 3.0, atol=1e-6):
        raise SystemExit("encode_constant did not fill every slot")
    print(f"   a plaintext remembers its level and scale: level {constant.level}, log2(scale) "
          f"{math.log2(constant.scale):.0f}")
    print("\nDone: vectors, polynomials and the scale.")


if __name__ == "__main__":
    main()
