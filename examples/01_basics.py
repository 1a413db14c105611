"""01 basics: parameters, keys, encrypt, add, multiply, decrypt.

The shortest complete CKKS session, one step at a time. CKKS computes on
*approximate* real (or complex) numbers: every result comes back with a small
error, and this example prints it next to the exact answer.

Run it with `python examples/01_basics.py`.
"""

from __future__ import annotations

import math

import numpy as np

import heedu
from heedu.tools.narration import state, step


def main() -> None:
    print("01 basics: a first CKKS session\n")

    # Parameters are three choices: the ring degree N (N/2 slots), the chain of primes
    # (the first and last large, the middle ones as large as the scale) and the scale.
    print("1. Parameters: N = 8192, primes of [60, 40, 40, 60] bits, scale 2^40 (the Azure ML tutorial's)")
    params = heedu.CKKSParameters.tutorial()
    ctx = step("build the context (find primes, NTT tables)", lambda: heedu.CKKSContext(params))
    print()
    print("   " + ctx.describe().replace("\n", "\n   "))
    print("\n   The last prime is the 'special prime' used only inside key switching; the other three")
    print("   are data primes, so a fresh ciphertext starts at level 2 and can be rescaled twice.\n")

    # The secret key never leaves its owner. The public key encrypts; relinearization keys
    # let the evaluator shrink a product back to two polynomials. Both are safe to publish.
    print("2. Keys")
    keygen = step("secret key (a random ternary polynomial)", lambda: heedu.KeyGenerator(ctx))
    secret_key = keygen.secret_key()
    public_key = step("public key (an encryption of zero under the secret)", keygen.public_key)
    relin_keys = step("relinearization keys (s^2 -> s)", keygen.relin_keys)
    print(f"    {secret_key!r}, {public_key!r}, {relin_keys!r}\n")

    encoder = heedu.CKKSEncoder(ctx)
    encryptor = heedu.Encryptor(ctx, public_key)
    decryptor = heedu.Decryptor(ctx, secret_key)
    evaluator = heedu.Evaluator(ctx)

    # Encoding turns a vector of up to N/2 numbers into a plaintext polynomial, multiplied
    # by the scale and rounded; encryption hides it under noise.
    print("3. Encode and encrypt two vectors of 4096 numbers")
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, ctx.slot_count)
    y = rng.uniform(-1, 1, ctx.slot_count)
    ct_x = step("encode and encrypt x", lambda: encryptor.encrypt(encoder.encode(x)))
    ct_y = step("encode and encrypt y", lambda: encryptor.encrypt(encoder.encode(y)))
    state("x", ct_x)
    state("y", ct_y)
    print()

    def check(name: str, ct: heedu.Ciphertext, expected: np.ndarray) -> None:
        got = encoder.decode(decryptor.decrypt(ct))
        error = float(np.max(np.abs(got - expected)))
        print(f"    {name}: first values {np.round(got[:3], 6)}, expected {np.round(expected[:3], 6)}")
        print(f"    {name}: max |error| over all slots {error:.2e} (about {-math.log2(error):.0f} bits of precision)")
        if error > 1e-4:
            raise SystemExit(f"{name} decrypted to the wrong values")

    # Addition is componentwise: levels and scales must match, and they do for two fresh ciphertexts.
    print("4. Add: x + y (slot by slot, no key needed)")
    total = step("add", lambda: evaluator.add(ct_x, ct_y))
    state("x + y", total)
    check("x + y", total, x + y)
    print()

    # Multiplication multiplies slot by slot, but the result has three polynomials and the
    # scale squares (2^40 * 2^40 = 2^80). Relinearize brings it back to two polynomials;
    # rescale divides by the last data prime (~2^40), dropping one level.
    print("5. Multiply: x * y, then relinearize and rescale")
    product = step("multiply (tensor product: size 3)", lambda: evaluator.multiply(ct_x, ct_y))
    state("x * y", product)
    product = step("relinearize (key switch: size 3 -> 2)", lambda: evaluator.relinearize(product, relin_keys))
    state("x * y", product)
    product = step("rescale_to_next (divide by q_2)", lambda: evaluator.rescale_to_next(product))
    state("x * y", product)
    check("x * y", product, x * y)
    print()

    print("6. Decrypt is what `check` did above: secret key -> plaintext -> decode -> numbers.")
    plain = step("decrypt x * y", lambda: decryptor.decrypt(product))
    values = step("decode", lambda: encoder.decode(plain))
    print(f"    decoded {values.size} real numbers; the imaginary parts are noise of the same small size.")
    print("\nDone: encrypted, added, multiplied, decrypted.")


if __name__ == "__main__":
    main()
