"""03 levels and rescaling: the classic mistake, and two ways to fix it.

Every ciphertext carries two pieces of metadata: its *level* (how many data
primes its modulus still has) and its *scale* (the factor its values are
multiplied by). Adding needs both to match. A product followed by a rescale
changes both, so adding a fresh ciphertext to it fails: this example walks
straight into that, prints heedu's errors, and fixes it twice.

We compute x * y + z, with x, y, z encrypted, on the tutorial's parameters.

Run it with `python examples/03_levels_and_rescaling.py`.
"""

from __future__ import annotations

import math

import numpy as np

import heedu
from heedu.debug import NoiseTracker
from heedu.tools.narration import state, step, tutorial_toolkit


def main() -> None:
    print("03 levels and rescaling: computing x * y + z\n")
    kit = tutorial_toolkit()
    ctx, keygen, relin_keys = kit.ctx, kit.keygen, kit.relin_keys
    encoder, evaluator, encryptor, decryptor = kit.encoder, kit.evaluator, kit.encryptor, kit.decryptor
    tracker = NoiseTracker(ctx, keygen.secret_key())

    # The modulus chain: the data primes q_0 q_1 q_2. Level l means the ciphertext lives
    # modulo q_0 * ... * q_l. Rescaling divides by q_l and moves to level l - 1.
    for level in range(ctx.max_level, -1, -1):
        q = ctx.data_primes[level]
        print(f"    level {level}: last prime q_{level} = {q} (2^{math.log2(q):.10f})")
    print()

    rng = np.random.default_rng(3)
    x, y, z = (rng.uniform(-1, 1, ctx.slot_count) for _ in range(3))
    print("1. Encrypt x, y, z (all at the top level, scale 2^40)")
    ct_x = step("encode and encrypt x", lambda: encryptor.encrypt(encoder.encode(x)))
    ct_y = step("encode and encrypt y", lambda: encryptor.encrypt(encoder.encode(y)))
    ct_z = step("encode and encrypt z", lambda: encryptor.encrypt(encoder.encode(z)))
    state("z", ct_z)
    print()

    # The product's scale is 2^40 * 2^40 = 2^80. Rescaling divides the data AND the scale by
    # q_2, a prime close to, but not equal to, 2^40: the new scale is 2^80 / q_2.
    print("2. Multiply, relinearize, rescale")
    product = step("multiply + relinearize", lambda: evaluator.relinearize(evaluator.multiply(ct_x, ct_y), relin_keys))
    state("x * y", product)
    product = step("rescale_to_next", lambda: evaluator.rescale_to_next(product))
    state("x * y", product)
    tracker.record("x * y, rescaled", product, x * y)
    print()

    # The mistake: z is still at level 2 with scale 2^40.
    print("3. The classic mistake: add z to the product")
    try:
        evaluator.add(product, ct_z)
    except heedu.LevelError as error:
        print(f"    LevelError: {error}\n")

    # Follow the advice: bring z down to level 1. mod_switch_to drops primes without dividing,
    # so z keeps its scale 2^40, which is still not 2^80 / q_2.
    z_down = step("mod_switch_to(z, 1) (drop q_2, keep the scale)", lambda: evaluator.mod_switch_to(ct_z, 1))
    state("z", z_down)
    state("x * y", product)
    try:
        evaluator.add(product, z_down)
    except heedu.ScaleMismatchError as error:
        print(f"    ScaleMismatchError: {error}\n")
    print("   The scales differ by a factor 2^40 / q_2 = "
          f"{2.0**40 / ctx.data_primes[2]:.10f}. Two honest ways out:\n")

    # Fix 1: declare the product's scale to be 2^40. The data is untouched, so every value is
    # off by the factor above: a relative error of about 1.3e-7 (2^-23), which costs a few of our
    # ~26 bits of precision; the table below shows it. set_scale refuses relabellings larger
    # than 2^-10 (those would be different numbers, not a relabelling).
    print("4. Fix 1: mod_switch_to + set_scale (relabel 2^80/q_2 as 2^40)")
    relabelled = step("set_scale(product, 2^40)", lambda: evaluator.set_scale(product, 2.0**40))
    fix1 = step("add", lambda: evaluator.add(relabelled, z_down))
    state("x * y + z", fix1)
    tracker.record("fix 1: set_scale + add", fix1, x * y + z)
    print()

    # Fix 2: give z the same history as the product. Multiplying z by an encoded 1 (scale 2^40)
    # makes its scale 2^80; rescaling by the same q_2 gives exactly 2^80 / q_2 at level 1.
    # No relabelling, no approximation; the price is one plaintext product and one rescale.
    print("5. Fix 2: multiply z by an encoded 1, then rescale it too")
    one = step("encode_constant(1.0) at level 2, scale 2^40", lambda: encoder.encode_constant(1.0))
    z_aligned = step("multiply_plain(z, 1) + rescale_to_next",
                     lambda: evaluator.rescale_to_next(evaluator.multiply_plain(ct_z, one)))
    state("z * 1", z_aligned)
    fix2 = step("add", lambda: evaluator.add(product, z_aligned))
    state("x * y + z", fix2)
    tracker.record("fix 2: z * 1, rescaled + add", fix2, x * y + z)
    print()

    print("6. Both results decrypt correctly (noise and precision measured with the secret key)\n")
    print(tracker.table())
    print()
    for name, ct in (("fix 1", fix1), ("fix 2", fix2)):
        error = float(np.max(np.abs(encoder.decode(decryptor.decrypt(ct)) - (x * y + z))))
        print(f"    {name}: max |error| {error:.2e}")
        if error > 1e-5:
            raise SystemExit(f"{name} gave the wrong answer")
    print("\n   Fix 1 is free but trades ~3 bits of precision for the relabelling (relative error 2^40/q_2 - 1);")
    print("   fix 2 costs a plaintext product and keeps the bookkeeping exact, which matters when scales")
    print("   drift further apart over many levels. Both end at level 1: one rescale left.")
    print("\nDone: levels and scales lined up.")


if __name__ == "__main__":
    main()
