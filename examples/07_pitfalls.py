"""07 pitfalls: the mistakes everyone makes once, and what heedu says when you make them.

1. running out of levels;
2. scales and values too large for the modulus;
3. more values than slots;
4. toy rings: insecure parameters must be asked for, and are shown loudly;
5. decrypting someone else's result, and why sharing decryptions is dangerous.

Every error here is deliberate, caught, and printed.

Run it with `python examples/07_pitfalls.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import heedu
from heedu.tools.narration import state, tutorial_toolkit


def expect_error(what: str, action: Callable[[], object]) -> None:
    """Run ``action``, which must raise a HeeduError, and print the error."""
    try:
        action()
    except heedu.HeeduError as error:
        print(f"    {what}\n      -> {type(error).__name__}: {error}")
        return
    raise SystemExit(f"{what}: expected an error, got none")



def main() -> None:
    print("07 pitfalls\n")
    kit = tutorial_toolkit()
    ctx, relin_keys = kit.ctx, kit.relin_keys
    encoder, evaluator, encryptor, decryptor = kit.encoder, kit.evaluator, kit.encryptor, kit.decryptor

    # Each rescale consumes a data prime. The tutorial's chain [60, 40, 40, 60] has two 40-bit
    # primes to spend: x^2 and x^4 fit, x^8 does not.
    print("\n1. Running out of levels: x -> x^2 -> x^4 -> x^8 on [60, 40, 40, 60]")
    x = np.full(ctx.slot_count, 1.1)
    ct = encryptor.encrypt(encoder.encode(x))
    state("x", ct)
    for power in (2, 4):
        ct = evaluator.rescale_to_next(evaluator.relinearize(evaluator.square(ct), relin_keys))
        state(f"x^{power}", ct)
    value = encoder.decode(decryptor.decrypt(ct))[0]
    print(f"    x^4 decrypts to {value:.6f} (1.1^4 = {1.1**4:.6f}); no rescale is left")
    expect_error("x^4 * x^4 at level 0 (scale 2^80 in a 60-bit modulus)", lambda: evaluator.square(ct))
    expect_error("rescale_to_next at level 0", lambda: evaluator.rescale_to_next(ct))
    print("    Fix: more data primes (a longer chain), within the security budget of N (see 4).")

    # At level 0 only q_0 (60 bits) is left: values times the scale must stay below 2^59.
    print("\n2. Scale and values out of bounds")
    expect_error("encode(x, scale=2^70) at level 0", lambda: encoder.encode(x, scale=2.0**70, level=0))
    millions = np.full(ctx.slot_count, 1e6)
    expect_error("encode 1e6 in every slot, scale 2^40, level 0 (2^59.9)", lambda: encoder.encode(millions, level=0))
    expect_error("set_scale: relabel 2^40 as 2^41 (a factor 2, not a relabelling)",
                 lambda: evaluator.set_scale(ct, 2.0**41))
    print("    Fix: keep |value| * scale well below q_0 / 2; describe() prints the budget "
          f"(|value| < 2^{60 - 1 - 40} here).")

    # N = 8192 gives 4096 slots. heedu never silently drops or wraps values.
    print("\n3. Too many values for the slots")
    expect_error("encode 4097 values with N = 8192", lambda: encoder.encode(np.ones(ctx.slot_count + 1)))
    print("    Fix: split the vector over several ciphertexts, or use N = 16384.")

    # Security comes from N and the total modulus size together: for N = 1024 the HE standard
    # allows 27 bits of modulus for 128-bit security. heedu refuses more, unless asked.
    print("\n4. Toy rings are opt-in, and loud")
    toy = heedu.CKKSParameters(poly_modulus_degree=1024, coeff_modulus_bits=[60, 40, 40, 60])
    expect_error("N = 1024 with [60, 40, 40, 60] (200 bits)", lambda: heedu.CKKSContext(toy))
    insecure = heedu.CKKSContext(
        heedu.CKKSParameters(poly_modulus_degree=1024, coeff_modulus_bits=[60, 40, 40, 60], allow_insecure=True)
    )
    print("    with allow_insecure=True the context is built, and says what it is:")
    print("      " + insecure.describe().replace("\n", "\n      "))
    print(f"      repr: {insecure!r}")
    print("    Use toy rings for tests and for reading the maths; never for data anyone cares about.")

    # Decryption needs the secret key: a stranger's key gives noise, not an error (CKKS cannot tell).
    print("\n5. Decrypting someone else's result")
    other = heedu.Decryptor(ctx, heedu.KeyGenerator(ctx).secret_key())
    secret = np.random.default_rng(7).uniform(-1, 1, ctx.slot_count)
    ct_secret = encryptor.encrypt(encoder.encode(secret))
    wrong = encoder.decode(other.decrypt(ct_secret))
    right = encoder.decode(decryptor.decrypt(ct_secret))
    print(f"    with the right key : {np.round(right[:3], 6)}  (max |error| {np.max(np.abs(right - secret)):.1e})")
    print(f"    with another key   : {np.array2string(wrong[:3], precision=2)}  (garbage of size ~Q/scale, "
          "no error raised)")
    # The right key's result is not exactly `secret`: it is secret + e, where e is the
    # encryption and computation noise. That noise is a function of the secret key.
    noise = right - secret
    print(f"    the right decryption is off by noise e, here of size {np.max(np.abs(noise)):.1e}:")
    print("    in CKKS that noise depends on the secret key. Li and Micciancio (eprint 2020/1533) showed")
    print("    that anyone who sees decrypted results together with the ciphertexts they came from can")
    print("    set up linear equations in the key and recover it: CKKS is not IND-CPA-D secure.")
    print("    So: never publish raw decryptions, never decrypt ciphertexts for others on request (a")
    print("    decryption oracle), and if a result must be shared, first round it well above the noise or")
    print("    add fresh noise of your own (noise flooding), so the key-dependent bits are gone. The debug")
    print("    tools that measure noise are for your desk, not for a service.")
    print("\nDone: every pitfall caught, with a message that says what to do.")


if __name__ == "__main__":
    main()
