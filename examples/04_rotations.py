"""04 rotations: moving values between slots, and conjugating them.

Slots are independent under addition and multiplication. To combine them (a
sum over slots, a dot product, a matrix-vector product) the evaluator rotates
the slot vector, which needs a Galois key per rotation step. This example shows
the sign convention, what happens without the right key, hoisting (several
rotations of one ciphertext for little more than the price of one), and
complex conjugation.

Run it with `python examples/04_rotations.py`.
"""

from __future__ import annotations

import math
import time

import numpy as np

import heedu
from heedu.tools.narration import step


def show(values: np.ndarray) -> str:
    """A short vector, rounded to two decimals (and without negative zeros)."""
    return "[" + ", ".join(f"{v + 0.0:.2f}" for v in np.round(values, 2)) + "]"


def main() -> None:
    print("04 rotations: steps, keys, hoisting, conjugation\n")
    ctx = step("build the tutorial context", lambda: heedu.CKKSContext(heedu.CKKSParameters.tutorial()))
    keygen = heedu.KeyGenerator(ctx)
    encoder, evaluator = heedu.CKKSEncoder(ctx), heedu.Evaluator(ctx)
    encryptor = heedu.Encryptor(ctx, keygen.public_key())
    decryptor = heedu.Decryptor(ctx, keygen.secret_key())

    def decrypt(ct: heedu.Ciphertext, complex_output: bool = False) -> np.ndarray:
        return encoder.decode(decryptor.decrypt(ct), complex_output=complex_output)

    # A Galois key is a key-switching key for one automorphism X -> X^(3^k): it is as large as
    # the relinearization keys, so generate only the steps you need.
    print("1. Galois keys for steps 1, 2, 3, 4, -1 and conjugation")
    galois_keys = step("galois_keys(steps=[1, 2, 3, 4, -1], conjugation=True)",
                       lambda: keygen.galois_keys(steps=[1, 2, 3, 4, -1], conjugation=True))
    print(f"    {galois_keys!r}\n")

    x = np.arange(ctx.slot_count, dtype=np.float64)
    ct = encryptor.encrypt(encoder.encode(x))
    print(f"2. Encrypt x = 0, 1, 2, ..., {ctx.slot_count - 1} (level {ct.level}, log2(scale) "
          f"{math.log2(ct.scale):.0f})")

    # rotate_vector(ct, k) moves slot k to slot 0: the values shift LEFT by k, as in SEAL.
    # In NumPy terms it is np.roll(x, -k). A negative k shifts right.
    print("\n3. Sign convention: rotate_vector(ct, k) decrypts to np.roll(x, -k)")
    for k in (1, 3, -1):
        rotated = step(f"rotate_vector by {k}", lambda k=k: evaluator.rotate_vector(ct, k, galois_keys))
        got = decrypt(rotated)
        expected = np.roll(x, -k)
        error = float(np.max(np.abs(got - expected)))
        print(f"    slots 0..3: {show(got[:4])}   np.roll(x, {-k})[:4]: {show(expected[:4])}   "
              f"max |error| {error:.1e}")
        if error > 1e-3:
            raise SystemExit(f"rotation by {k} is wrong")
    print(f"    level {rotated.level} and scale are unchanged: a rotation costs a key switch, not a level.")

    # Step 5 was not generated. heedu says so, and lists what the key set can do.
    print("\n4. A step without a key")
    try:
        evaluator.rotate_vector(ct, 5, galois_keys)
    except heedu.MissingKeyError as error:
        print(f"    MissingKeyError: {error}")
    five = evaluator.rotate_vector(evaluator.rotate_vector(ct, 4, galois_keys), 1, galois_keys)
    print(f"    composing 4 then 1 works (two key switches, more noise): slots 0..2 {show(decrypt(five)[:3])}")

    # A key switch starts by decomposing c_1 into digits and moving them to the NTT of every
    # prime: the expensive part. Rotations of the SAME ciphertext can share it ("hoisting").
    print("\n5. Hoisted rotations: steps 1, 2, 3, 4 of one ciphertext")
    steps = [1, 2, 3, 4]
    start = time.perf_counter()
    one_by_one = [evaluator.rotate_vector(ct, k, galois_keys) for k in steps]
    separate_ms = 1000 * (time.perf_counter() - start)
    hoisted = step("rotate_vector_hoisted(ct, [1, 2, 3, 4])",
                   lambda: evaluator.rotate_vector_hoisted(ct, steps, galois_keys))
    print(f"  {'the same four, one rotate_vector each':<56} {separate_ms:8.1f} ms")
    for k, a, b in zip(steps, hoisted, one_by_one):
        error = float(np.max(np.abs(decrypt(a) - np.roll(x, -k))))
        difference = float(np.max(np.abs(decrypt(a) - decrypt(b))))
        print(f"    step {k}: max |error| {error:.1e}; vs one-by-one: equal up to noise ({difference:.1e})")
        if error > 1e-3:
            raise SystemExit(f"hoisted rotation by {k} is wrong")

    # A typical use: the sum of the first 4 slots, in slot 0, with rotations and additions.
    window = ct
    for rotated in hoisted[:3]:
        window = evaluator.add(window, rotated)
    print(f"    x + rot1 + rot2 + rot3: slot 0 holds {decrypt(window)[0]:.4f} = 0 + 1 + 2 + 3\n")

    # Conjugation is the automorphism X -> X^(2N - 1): it conjugates every slot. With it (and
    # additions) the real and imaginary parts of complex slots can be separated.
    print("6. Complex conjugation")
    z = np.array([1 + 2j, 3 - 1j, -0.5 + 0.25j, 2j])
    ct_z = encryptor.encrypt(encoder.encode(z))
    conj = step("complex_conjugate", lambda: evaluator.complex_conjugate(ct_z, galois_keys))
    got = decrypt(conj, complex_output=True)[:4]
    print(f"    z         : {z}")
    print(f"    conj(z)   : {np.round(got, 4) + 0.0}")
    real_part = decrypt(evaluator.add(ct_z, conj), complex_output=True)[:4] / 2
    print(f"    (z + conj(z)) / 2 = Re(z): {np.round(real_part.real, 4) + 0.0}")
    if np.max(np.abs(got - np.conj(z))) > 1e-4:
        raise SystemExit("conjugation is wrong")
    print("\nDone: rotated, hoisted, conjugated.")


if __name__ == "__main__":
    main()
