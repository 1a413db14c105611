"""heedu's CKKS primitives, each timed next to native SEAL in the same run.

Every operation is timed on the same unit of work, at the same level, as
SEAL's in :func:`native_seal.measure_native`:

* ``ntt`` / ``intt``: one 8192-point negacyclic (inverse) NTT of one prime row.
  heedu is measured on a single row (``ntt``, ``intt``) and on a whole size-2
  ciphertext at 3 primes divided by its 6 rows (``*_batched_per_row``); SEAL
  only offers the whole-ciphertext figure divided by 6, and both heedu rows are
  compared with it.
* ``encode`` of 4096 reals, public-key ``encrypt``, ``multiply_plain`` (with a
  reused plaintext, and ``multiply_plain_cold`` with a new plaintext object each
  call, so cached per-plaintext precomputation is timed too), ``rotate`` by one
  slot (one key switch), ``relinearize`` of a size-3 product, ``multiply`` (ct x
  ct, no relinearization), ``decrypt`` and ``decode``: all at the top level
  (3 primes). ``rotate_level1``: the same rotation at 2 primes, where both
  inference protocols rotate. ``rescale``: a fresh ct x pt product, 3 -> 2 primes.

heedu's operations return new objects and never modify their arguments, so
instead of copies each call gets a new wrapper object around the same arrays
(nothing cached on an input object carries over from one call to the next).
Before timing, the results of encrypt, rotate, multiply_plain + rescale and
multiply + relinearize + rescale are decrypted: a benchmark of wrong answers
means nothing, so the run stops if a slot is off by more than 1e-3.

Run ``python benchmarks/bench_core.py [--repeats N] [--quick] [--markdown PATH]
[--json PATH] [--no-seal]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

import heedu
from heedu import (
    Ciphertext,
    CKKSContext,
    CKKSEncoder,
    Decryptor,
    Encryptor,
    Evaluator,
    GaloisKeys,
    KeyGenerator,
    Plaintext,
    RelinKeys,
)
from heedu.ntt import NTTTables

try:  # imported as part of the package: python -m benchmarks.bench_core
    from benchmarks import harness, native_seal
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import harness  # type: ignore[no-redef]
    import native_seal  # type: ignore[no-redef]

PARAMETERS = harness.TUTORIAL
N, SLOTS = PARAMETERS.poly_modulus_degree, PARAMETERS.slots
ROTATION_STEPS = native_seal.ROTATION_STEPS

#: heedu's variants of a SEAL row: the same work, called another way (SEAL has only the per-row NTT of a
#: whole ciphertext, and no per-plaintext cache).
HEEDU_VARIANTS: dict[str, tuple[str, ...]] = {
    "ntt": ("ntt_batched_per_row",),
    "intt": ("intt_batched_per_row",),
    "multiply_plain": ("multiply_plain_cold",),
}
#: heedu's rows, in table order: each SEAL row, followed by heedu's variants of it.
OPERATIONS: tuple[str, ...] = tuple(row for op in native_seal.OPERATIONS for row in (op, *HEEDU_VARIANTS.get(op, ())))
#: The SEAL row each heedu row is compared with.
SEAL_COUNTERPART: dict[str, str] = {
    row: op for op in native_seal.OPERATIONS for row in (op, *HEEDU_VARIANTS.get(op, ()))
}

#: Decrypted results must match the plaintext computation this closely (CKKS is approximate).
SANITY_TOLERANCE = 1e-3


@dataclass
class HeeduSetup:
    """Keys, objects and inputs for every heedu measurement (all made outside the timers)."""

    context: CKKSContext
    encoder: CKKSEncoder
    evaluator: Evaluator
    encryptor: Encryptor
    decryptor: Decryptor
    relin_keys: RelinKeys
    galois_keys: GaloisKeys
    values: np.ndarray  # the slot values, the same as native_seal's
    values2: np.ndarray  # the values of ct2
    plain: Plaintext  # encode(values) at the top level
    ct: Ciphertext  # encrypt(plain): size 2, 3 primes
    ct2: Ciphertext  # an independent encryption of values2
    ct_level1: Ciphertext  # ct switched down to 2 primes
    product_plain: Ciphertext  # ct * plain: the input of rescale
    size3: Ciphertext  # ct * ct2: the input of relinearize
    one_prime_ntt: NTTTables  # tables for q_0 alone
    coeff_row: np.ndarray  # (1, N): one prime row in coefficient form
    ntt_row: np.ndarray  # (1, N): the same row in NTT form
    coeff_ct: np.ndarray  # (2, 3, N): ct's data in coefficient form


def make_heedu_setup() -> HeeduSetup:
    """Build the context, keys and every input; check that levels and sizes match SEAL's."""
    context = CKKSContext(PARAMETERS.heedu())
    keygen = KeyGenerator(context)  # secure randomness, as in real use (SEAL's default too)
    encoder, evaluator = CKKSEncoder(context), Evaluator(context)
    encryptor = Encryptor(context, keygen.public_key())
    values, values2 = native_seal.sample_values(0), native_seal.sample_values(1)
    plain = encoder.encode(values)
    ct = encryptor.encrypt(plain)
    ct2 = encryptor.encrypt(encoder.encode(values2))
    coeff_ct = context.ring(context.max_level).ntt.inverse(ct.data)
    one_prime_ntt = context.ring(0).ntt
    coeff_row = np.ascontiguousarray(coeff_ct[0, :1])
    setup = HeeduSetup(
        context=context,
        encoder=encoder,
        evaluator=evaluator,
        encryptor=encryptor,
        decryptor=Decryptor(context, keygen.secret_key()),
        relin_keys=keygen.relin_keys(),
        galois_keys=keygen.galois_keys(steps=[ROTATION_STEPS]),
        values=values,
        values2=values2,
        plain=plain,
        ct=ct,
        ct2=ct2,
        ct_level1=evaluator.mod_switch_to(ct, context.max_level - 1),
        product_plain=evaluator.multiply_plain(ct, plain),
        size3=evaluator.multiply(ct, ct2),
        one_prime_ntt=one_prime_ntt,
        coeff_row=coeff_row,
        ntt_row=one_prime_ntt.forward(coeff_row),
        coeff_ct=coeff_ct,
    )
    expected = {
        "ct": (setup.ct, 2, 3),
        "ct_level1": (setup.ct_level1, 2, 2),
        "product_plain": (setup.product_plain, 2, 3),
        "size3": (setup.size3, 3, 3),
    }
    for name, (ciphertext, size, primes) in expected.items():
        if ciphertext.size != size or ciphertext.data.shape[1] != primes:
            raise RuntimeError(f"benchmark setup: {name} is {ciphertext!r}, expected size {size} at {primes} primes")
    return setup


def sanity_errors(setup: HeeduSetup) -> dict[str, float]:
    """Max absolute slot errors of the benchmarked operations' results (untimed); raise if one is too large."""
    ev, gk, rk = setup.evaluator, setup.galois_keys, setup.relin_keys

    def decrypted(ciphertext: Ciphertext) -> np.ndarray:
        return setup.encoder.decode(setup.decryptor.decrypt(ciphertext))

    x, y = setup.values, setup.values2
    checks = {
        "encrypt/decrypt": (decrypted(setup.ct), x),
        "rotate by 1": (decrypted(ev.rotate_vector(setup.ct, ROTATION_STEPS, gk)), np.roll(x, -ROTATION_STEPS)),
        "multiply_plain + rescale": (decrypted(ev.rescale_to_next(setup.product_plain)), x * x),
        "multiply + relinearize + rescale": (decrypted(ev.rescale_to_next(ev.relinearize(setup.size3, rk))), x * y),
    }
    errors = {name: float(np.max(np.abs(got - want))) for name, (got, want) in checks.items()}
    bad = {name: error for name, error in errors.items() if not error < SANITY_TOLERANCE}
    if bad:
        raise RuntimeError(f"heedu returned wrong results, refusing to benchmark them: {bad}")
    return errors


def measure_heedu(setup: HeeduSetup, repeats: int) -> dict[str, harness.Timed]:
    """heedu's operations (:data:`OPERATIONS`), each with what exactly was timed."""
    s, ev = setup, setup.evaluator
    top_ntt = s.context.ring(s.context.max_level).ntt
    ntt_ct = top_ntt.forward(s.coeff_ct)
    rows = s.coeff_ct.shape[0] * s.coeff_ct.shape[1]
    results: dict[str, harness.Timed] = {}

    def record(key: str, runs: harness.Runs, note: str) -> None:
        results[key] = harness.Timed(runs, note)

    def time(operation: Any, make_input: Any) -> harness.Runs:
        return harness.time_calls(operation, make_input, repeats)[0]

    single = f"on one (1, {N}) uint64 row mod q_0, tables for that prime alone; includes the output copy"
    batched = f"on a size-2 ciphertext at 3 primes, one call on a (2, 3, {N}) array, divided by {rows}"
    record("ntt", time(s.one_prime_ntt.forward, lambda: s.coeff_row), f"NTTTables.forward {single}")
    record("ntt_batched_per_row", time(top_ntt.forward, lambda: s.coeff_ct).divided(rows), f"forward {batched}")
    record("intt", time(s.one_prime_ntt.inverse, lambda: s.ntt_row), f"NTTTables.inverse {single}")
    record("intt_batched_per_row", time(top_ntt.inverse, lambda: ntt_ct).divided(rows), f"inverse {batched}")
    record(
        "encode",
        time(s.encoder.encode, lambda: s.values),
        f"CKKSEncoder.encode of {SLOTS} float64 to the top level: validation, inverse embedding by FFT, rounding, "
        "RNS lift, 3 forward NTTs",
    )
    record(
        "encrypt",
        time(s.encryptor.encrypt, lambda: harness.fresh_plaintext(s.plain)),
        "Encryptor.encrypt (public key, secure randomness): the encryption of zero is sampled at 4 primes, then "
        "divided by the special prime; sampling, NTTs and the division all inside the timed call",
    )
    record(
        "multiply_plain",
        time(lambda ct: ev.multiply_plain(ct, s.plain), lambda: harness.fresh_ciphertext(s.ct)),
        "Evaluator.multiply_plain, size-2 ct x pt at 3 primes; the same Plaintext object every call, so its Shoup "
        "companions are computed once, in the warm-up, as for a model's fixed weights",
    )
    record(
        "multiply_plain_cold",
        time(
            lambda ct: ev.multiply_plain(ct, harness.fresh_plaintext(s.plain)),
            lambda: harness.fresh_ciphertext(s.ct),
        ),
        "Evaluator.multiply_plain with a new Plaintext object (same data) every call, so the per-plaintext "
        "precomputation is inside the timer; SEAL has no such cache",
    )
    record(
        "rescale",
        time(ev.rescale_to_next, lambda: harness.fresh_ciphertext(s.product_plain)),
        "Evaluator.rescale_to_next of a ct x pt product, 3 -> 2 primes",
    )
    for key, source, where in (("rotate", s.ct, "3 primes"), ("rotate_level1", s.ct_level1, "2 primes (level 1)")):
        record(
            key,
            time(
                lambda ct: ev.rotate_vector(ct, ROTATION_STEPS, s.galois_keys),
                lambda source=source: harness.fresh_ciphertext(source),
            ),
            f"Evaluator.rotate_vector by 1 slot with a key for that step only (one automorphism and one key "
            f"switch), size-2 ciphertext at {where}",
        )
    record(
        "relinearize",
        time(lambda ct: ev.relinearize(ct, s.relin_keys), lambda: harness.fresh_ciphertext(s.size3)),
        "Evaluator.relinearize of a size-3 ct x ct product at 3 primes (one key switch)",
    )
    record(
        "multiply",
        time(lambda ct: ev.multiply(ct, s.ct2), lambda: harness.fresh_ciphertext(s.ct)),
        "Evaluator.multiply of two size-2 ciphertexts at 3 primes, no relinearization",
    )
    record(
        "decrypt",
        time(s.decryptor.decrypt, lambda: harness.fresh_ciphertext(s.ct)),
        "Decryptor.decrypt of a size-2 ciphertext at 3 primes",
    )
    record(
        "decode",
        time(s.encoder.decode, lambda: harness.fresh_plaintext(s.plain)),
        f"CKKSEncoder.decode to {SLOTS} float64 from a top-level plaintext: 3 inverse NTTs, CRT to float, FFT",
    )
    return results


def measure_seal(repeats: int) -> tuple[dict[str, harness.Timed] | None, str]:
    """``(SEAL's primitives, library)``, or ``(None, why)``: a failure on the SEAL side must not hide heedu's."""
    try:
        session = native_seal.load_session()
        return native_seal.measure_native(repeats, session), session.library
    except ImportError as error:
        return None, str(error)
    except Exception as error:  # a crash of the binding: report it, keep heedu's numbers
        return None, f"native SEAL measurement failed: {type(error).__name__}: {error}"


def comparison(heedu_results: dict[str, harness.Timed], seal: dict[str, harness.Timed] | None) -> str:
    """The main table: both medians and the ratio, one row per heedu operation."""
    rows = []
    for op in OPERATIONS:
        heedu_s = heedu_results[op].runs.median_s
        counterpart = SEAL_COUNTERPART[op]
        seal_s = seal[counterpart].runs.median_s if seal else None
        seal_cell = harness.format_seconds(seal_s) + (f" ({counterpart})" if seal and counterpart != op else "")
        faults = heedu_results[op].runs.page_faults_per_call
        rows.append(
            [
                op,
                harness.format_seconds(heedu_s),
                seal_cell,
                "n/a" if seal_s is None else f"{heedu_s / seal_s:.1f}x",
                "n/a" if faults is None else f"{faults:,.0f}",
            ]
        )
    header = ("op", "heedu median", "SEAL median", "heedu/SEAL", "heedu page faults / call")
    return harness.markdown_table(header, rows, "lrrrr")


def notes(heedu_results: dict[str, harness.Timed], seal: dict[str, harness.Timed] | None) -> str:
    """What each row timed, on both sides."""
    lines = ["## What each row timed", ""]
    for op in OPERATIONS:
        lines.append(f"- **{op}**: heedu: {heedu_results[op].note}.")
        if seal is not None:
            lines.append(f"  SEAL ({SEAL_COUNTERPART[op]}): {seal[SEAL_COUNTERPART[op]].note}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure SEAL and heedu, report; 0 unless heedu's results are wrong (targets do not change the status)."""
    parser = harness.argument_parser(__doc__.splitlines()[0], repeats=20, quick_means="one timed call each")
    parser.add_argument("--no-seal", action="store_true", help="skip the native SEAL measurement")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats

    seal, library = (None, "skipped (--no-seal)") if args.no_seal else measure_seal(repeats)
    report = harness.Report("core", f"heedu {heedu.__version__} vs native SEAL ({library}): CKKS primitives", repeats)
    harness.progress(f"SEAL: {library}")
    setup = make_heedu_setup()
    errors = sanity_errors(setup)
    heedu_results = measure_heedu(setup, repeats)

    measured: dict[str, float | None] = {f"heedu.{op}": heedu_results[op].runs.median_s for op in OPERATIONS}
    measured.update({f"seal.{op}": result.runs.median_s for op, result in (seal or {}).items()})
    report.sources.append(
        "Sanity, max slot error of the timed operations' results: "
        + ", ".join(f"{name} {error:.1e}" for name, error in errors.items())
        + "."
    )
    report.sections += [comparison(heedu_results, seal), notes(heedu_results, seal)]
    report.data.update(sanity_max_error=errors, heedu=heedu_results, seal=seal, seal_library=library)
    report.check(measured)
    report.finish()
    report.write(args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
