"""00 session: a narrated end-to-end CKKS session at the Azure ML tutorial's parameters.

Run it with `python examples/00_demo.py`. Every step prints what happened, how long it took, how
big the objects are, and how much noise and precision the ciphertext carries: the engine under
`make demo` (`heedu demo`, the encrypted classifier), one operation at a time.
"""

from __future__ import annotations

import numpy as np

import heedu
from heedu.debug import NoiseTracker
from heedu.serialization import dumps
from heedu.tools.narration import step


def main() -> None:
    print("heedu: CKKS homomorphic encryption in NumPy\n")
    params = heedu.CKKSParameters.tutorial()
    ctx = step("build the context (primes, NTT tables, parms_id)", lambda: heedu.CKKSContext(params))
    print("\n" + ctx.describe() + "\n")

    print("1. Keys (the client keeps the secret key; everything else is public)")
    keygen = step("secret key (ternary)", lambda: heedu.KeyGenerator(ctx))
    secret_key = keygen.secret_key()
    public_key = step("public key", keygen.public_key)
    relin_keys = step("relinearization keys", keygen.relin_keys)
    galois_keys = step("Galois keys for rotations by 1 and 3", lambda: keygen.galois_keys(steps=[1, 3]))
    print(f"  sizes: public key {len(dumps(public_key, ctx)) / 1e3:.0f} kB, relin keys "
          f"{len(dumps(relin_keys, ctx)) / 1e3:.0f} kB, Galois keys {len(dumps(galois_keys, ctx)) / 1e3:.0f} kB"
          " (seeded: half the polynomials are a 32-byte seed)\n")

    print("2. Encode and encrypt 4096 real numbers")
    encoder, evaluator = heedu.CKKSEncoder(ctx), heedu.Evaluator(ctx)
    x = np.sin(np.linspace(0, 2 * np.pi, ctx.slot_count))
    plain = step("encode (canonical embedding, scale 2^40)", lambda: encoder.encode(x))
    ct = step("encrypt with the public key", lambda: heedu.Encryptor(ctx, public_key).encrypt(plain))
    print(f"  ciphertext: {len(dumps(ct, ctx)) / 1e3:.0f} kB, {ct}\n")

    print("3. Compute on ciphertexts: y = rotate(x * x, 3) + x (rotated 3 too, to align)")
    tracker = NoiseTracker(ctx, secret_key)
    tracker.record("fresh encryption", ct, x)
    squared = step("multiply (size-3 result)", lambda: evaluator.multiply(ct, ct))
    squared = step("relinearize (key switch s^2 -> s)", lambda: evaluator.relinearize(squared, relin_keys))
    tracker.record("x*x, relinearized", squared, x * x)
    squared = step("rescale_to_next (divide by q_2)", lambda: evaluator.rescale_to_next(squared))
    tracker.record("x*x, rescaled", squared, x * x)
    rotated = step("rotate_vector by 3 (key switch)", lambda: evaluator.rotate_vector(squared, 3, galois_keys))
    tracker.record("rotated by 3", rotated, np.roll(x * x, -3))
    try:
        evaluator.add(rotated, ct)
    except heedu.HeeduError as error:
        print(f"\n  adding the fresh x now fails, as it should:\n    {type(error).__name__}: {error}\n")
    aligned = evaluator.rotate_vector(evaluator.mod_switch_to(ct, rotated.level), 3, galois_keys)
    try:
        evaluator.add(rotated, aligned)
    except heedu.HeeduError as error:
        print("  at the same level the scales still differ (2^80/q_2 is not 2^40):")
        print(f"    {type(error).__name__}: {error}\n")
    # 2^80 / q_2 = 2^40 * (1 - 6e-7): declaring it 2^40 costs a relative error of 6e-7, far below our precision.
    rotated = evaluator.set_scale(rotated, ctx.scale)
    result = step("add (same level, scale relabelled to 2^40)", lambda: evaluator.add(rotated, aligned))
    expected = np.roll(x * x + x, -3)
    tracker.record("rotated x*x + x", result, expected)
    print("\n4. Noise and precision, step by step (measured with the secret key)\n")
    print(tracker.table())

    print("\n5. Decrypt and decode")
    decrypted = step("decrypt", lambda: heedu.Decryptor(ctx, secret_key).decrypt(result))
    y = step("decode", lambda: encoder.decode(decrypted))
    print(f"\n  first values  : {np.round(y[:5], 6)}")
    print(f"  expected      : {np.round(expected[:5], 6)}")
    error = np.max(np.abs(y - expected))
    print(f"  max |error|   : {error:.2e}")
    if error > 1e-4:
        raise SystemExit("the demo's result is wrong")
    print("\nDone: computed on encrypted data, decrypted the right answer.")


if __name__ == "__main__":
    main()
