"""heedu's core benchmark: each CKKS primitive, timed next to native SEAL in the same run.

Parameters are those of :mod:`benchmarks.native_seal` (and of the Azure ML
tutorial): CKKS, N = 8192, coefficient modulus bits [60, 40, 40, 60], scale
2^40. Every operation is timed on the same unit of work, and at the same level,
as SEAL's in :func:`native_seal.measure_native`:

* ``ntt`` / ``intt``: one 8192-point negacyclic (inverse) NTT of one prime row.
  heedu is measured on a single row (``ntt``, ``intt``) and on a whole size-2
  ciphertext at 3 primes divided by its 6 rows (``*_batched_per_row``); SEAL
  only offers the whole-ciphertext figure divided by 6, and both heedu rows are
  compared with it.
* ``encode`` of 4096 reals, public-key ``encrypt``, ``multiply_plain`` (with a
  reused plaintext, and ``multiply_plain_cold`` with a new plaintext object each
  call, so cached per-plaintext precomputation is timed too),
  ``rotate`` by one slot (one key switch), ``relinearize`` of a size-3 product,
  ``multiply`` (ct x ct, no relinearization), ``decrypt`` and ``decode``: all at
  the top level (3 primes).
* ``rescale``: ``rescale_to_next`` of a fresh ct x pt product, 3 -> 2 primes.

Timing method (the same as native_seal's): one untimed warm-up call, then
``--repeats`` timed calls with :func:`time.perf_counter` and the garbage
collector disabled; the median is reported. Inputs are prepared outside the
timed region. heedu's operations return new objects and never modify their
arguments, so instead of copies each call gets a new wrapper object around the
same arrays (nothing cached on an input object carries over). The warm-up call
fills heedu's one-time caches (Shoup companions of key-switching keys, Galois
permutations, per-level rings), as SEAL's warm-up grows its memory pool.

Run ``make bench`` or ``python benchmarks/bench_core.py [--repeats N]
[--markdown PATH] [--json PATH]``. Without SEAL bindings, heedu's numbers are
still printed, with the ratio "n/a".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import heedu
from heedu import (
    Ciphertext,
    CKKSContext,
    CKKSEncoder,
    CKKSParameters,
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
    from benchmarks import native_seal
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import native_seal  # type: ignore[no-redef]

N = native_seal.POLY_MODULUS_DEGREE
SLOTS = native_seal.SLOTS
ROTATION_STEPS = native_seal.ROTATION_STEPS
PARAMS_TEXT = "N=8192, q bits [60,40,40,60], scale 2^40"

#: heedu's rows, in table order.
OPERATIONS: tuple[str, ...] = (
    "ntt",
    "ntt_batched_per_row",
    "intt",
    "intt_batched_per_row",
    "encode",
    "encrypt",
    "multiply_plain",
    "multiply_plain_cold",
    "rescale",
    "rotate",
    "relinearize",
    "multiply",
    "decrypt",
    "decode",
)

#: The SEAL row each heedu row is compared with (SEAL has only the per-row NTT of a whole ciphertext).
SEAL_COUNTERPART: dict[str, str] = {
    **{op: op for op in native_seal.OPERATIONS},
    "ntt_batched_per_row": "ntt",
    "intt_batched_per_row": "intt",
    "multiply_plain_cold": "multiply_plain",
}

#: Largest acceptable heedu/SEAL ratio, for the rows that have a target.
TARGETS: dict[str, float] = {"ntt": 10.0, "ntt_batched_per_row": 10.0, "rotate": 15.0}

#: Decrypted results must match the plaintext computation this closely (CKKS is approximate).
SANITY_TOLERANCE = 1e-3


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


def minor_page_faults() -> int | None:
    """Minor page faults of this process so far (``getrusage``), or None where unavailable."""
    try:
        import resource  # Unix only
    except ImportError:
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


@dataclass(frozen=True)
class Timing:
    """The median of the timed calls, and the minor page faults per call while they ran."""

    median_s: float
    page_faults_per_call: float | None


def time_calls(operation: Callable[[Any], object], make_input: Callable[[], Any], repeats: int) -> Timing:
    """Median wall time of ``operation(make_input())`` over ``repeats`` calls, after one warm-up.

    ``make_input`` runs before every call, outside the timer; the garbage
    collector is off while timing (as :mod:`timeit` does) and restored after.
    Page faults are counted over the whole timed loop (``make_input`` included,
    which here only returns prepared objects).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    operation(make_input())  # warm-up: fills caches, first-touch allocations
    faults_before = minor_page_faults()
    median = native_seal.median_seconds(operation, make_input, repeats, warm_up=False)
    faults_after = minor_page_faults()
    faults = None if faults_before is None or faults_after is None else (faults_after - faults_before) / repeats
    return Timing(median, faults)


# --------------------------------------------------------------------------------------
# heedu side
# --------------------------------------------------------------------------------------


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
    values: np.ndarray  # 4096 reals in [-1, 1), the same as native_seal's
    values2: np.ndarray  # the values of ct2
    plain: Plaintext  # encode(values) at the top level
    ct: Ciphertext  # encrypt(plain): size 2, 3 primes
    ct2: Ciphertext  # an independent encryption of values2
    product_plain: Ciphertext  # ct * plain: the input of rescale
    size3: Ciphertext  # ct * ct2: the input of relinearize
    one_prime_ntt: NTTTables  # tables for q_0 alone
    coeff_row: np.ndarray  # (1, N): one prime row in coefficient form
    ntt_row: np.ndarray  # (1, N): the same row in NTT form
    coeff_ct: np.ndarray  # (2, 3, N): ct's data in coefficient form


def fresh_ciphertext(ciphertext: Ciphertext) -> Ciphertext:
    """A new Ciphertext object sharing ``ciphertext``'s data (no copy; heedu never writes to its inputs).

    Each timed call gets its own input object, as SEAL's gets its own copy, so
    nothing a call might cache on its input object can speed up the next one.
    """
    return Ciphertext(ciphertext.data, ciphertext.level, ciphertext.scale)


def fresh_plaintext(plaintext: Plaintext) -> Plaintext:
    """A new Plaintext object sharing ``plaintext``'s data, without any of its cached companions."""
    return Plaintext(plaintext.data, plaintext.level, plaintext.scale)


def sample_values(seed: int) -> np.ndarray:
    """4096 reals uniform in [-1, 1), drawn exactly as native_seal draws SEAL's inputs."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, SLOTS)


def make_heedu_setup() -> HeeduSetup:
    """Build the context, keys and every input; check that levels and sizes match SEAL's."""
    parameters = CKKSParameters(
        poly_modulus_degree=N,
        coeff_modulus_bits=native_seal.COEFF_MODULUS_BITS,
        scale=native_seal.SCALE,
    )
    context = CKKSContext(parameters)
    keygen = KeyGenerator(context)  # secure randomness, as in real use (SEAL's default too)
    encoder, evaluator = CKKSEncoder(context), Evaluator(context)
    encryptor = Encryptor(context, keygen.public_key())
    values, values2 = sample_values(0), sample_values(1)
    plain = encoder.encode(values)
    ct = encryptor.encrypt(plain)
    ct2 = encryptor.encrypt(encoder.encode(values2))
    top = context.ring(context.max_level)
    coeff_ct = top.ntt.inverse(ct.data)
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
        product_plain=evaluator.multiply_plain(ct, plain),
        size3=evaluator.multiply(ct, ct2),
        one_prime_ntt=one_prime_ntt,
        coeff_row=coeff_row,
        ntt_row=one_prime_ntt.forward(coeff_row),
        coeff_ct=coeff_ct,
    )
    expected = {
        "ct": (setup.ct, 2, 2),
        "ct2": (setup.ct2, 2, 2),
        "product_plain": (setup.product_plain, 2, 2),
        "size3": (setup.size3, 3, 2),
    }
    for name, (ciphertext, size, level) in expected.items():
        if ciphertext.size != size or ciphertext.level != level or ciphertext.data.shape[1] != 3:
            raise RuntimeError(f"benchmark setup: {name} is {ciphertext!r}, expected size {size} at 3 primes")
    if plain.level != context.max_level or plain.data.shape != (3, N):
        raise RuntimeError(f"benchmark setup: the plaintext is {plain!r}, expected 3 primes")
    return setup


def sanity_errors(setup: HeeduSetup) -> dict[str, float]:
    """Max absolute slot errors of the benchmarked operations' results (untimed).

    A benchmark of wrong answers means nothing, so the run stops if one of
    these exceeds :data:`SANITY_TOLERANCE`.
    """
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


def measure_heedu(setup: HeeduSetup, repeats: int) -> dict[str, dict[str, Any]]:
    """Median times of heedu's operations, in seconds: ``{op: {"library", "median_s", "note"}}``."""
    s, ev = setup, setup.evaluator
    top_ntt = s.context.ring(s.context.max_level).ntt
    ntt_ct = top_ntt.forward(s.coeff_ct)
    rows = s.coeff_ct.shape[0] * s.coeff_ct.shape[1]
    library = f"heedu {heedu.__version__}"
    results: dict[str, dict[str, Any]] = {}

    def record(key: str, timing: Timing, note: str, divide_by: int = 1) -> None:
        results[key] = {
            "library": library,
            "median_s": timing.median_s / divide_by,
            "page_faults_per_call": timing.page_faults_per_call,
            "note": f"{note} ({PARAMS_TEXT})",
        }

    single = f"on one (1, {N}) uint64 row mod q_0 (60 bits), tables for that prime alone; includes the output copy"
    batched = (
        f"on a size-2 ciphertext at 3 primes, one call on a (2, 3, {N}) array, divided by {rows} "
        f"= one {N}-point negacyclic {{}}NTT of one prime"
    )
    record("ntt", time_calls(s.one_prime_ntt.forward, lambda: s.coeff_row, repeats), f"NTTTables.forward {single}")
    record(
        "ntt_batched_per_row",
        time_calls(top_ntt.forward, lambda: s.coeff_ct, repeats),
        f"NTTTables.forward {batched.format('')}",
        divide_by=rows,
    )
    record("intt", time_calls(s.one_prime_ntt.inverse, lambda: s.ntt_row, repeats), f"NTTTables.inverse {single}")
    record(
        "intt_batched_per_row",
        time_calls(top_ntt.inverse, lambda: ntt_ct, repeats),
        f"NTTTables.inverse {batched.format('inverse ')}",
        divide_by=rows,
    )
    record(
        "encode",
        time_calls(s.encoder.encode, lambda: s.values, repeats),
        f"CKKSEncoder.encode of a float64 array of {SLOTS} reals at scale 2^40 to the top level "
        "(3 primes, NTT form): validation, inverse embedding by FFT, rounding, RNS lift, 3 forward NTTs",
    )
    record(
        "encrypt",
        time_calls(s.encryptor.encrypt, lambda: fresh_plaintext(s.plain), repeats),
        "Encryptor.encrypt (public key, SecureRandomSource) of an encoded plaintext; result size 2 at 3 "
        "primes. The encryption of zero is sampled at 4 primes (with the special prime), then divided by "
        "it; sampling, NTTs and the division are all inside the timed call",
    )
    record(
        "multiply_plain",
        time_calls(lambda ct: ev.multiply_plain(ct, s.plain), lambda: fresh_ciphertext(s.ct), repeats),
        "Evaluator.multiply_plain, size-2 ciphertext x plaintext at the top level (3 primes), new output; "
        "the same Plaintext object in every call, so per-plaintext precomputation (Shoup companions, if "
        "heedu caches them) is paid once in the warm-up, as for a model's fixed weights",
    )
    record(
        "multiply_plain_cold",
        time_calls(lambda ct: ev.multiply_plain(ct, fresh_plaintext(s.plain)), lambda: fresh_ciphertext(s.ct), repeats),
        "Evaluator.multiply_plain as above, but with a new Plaintext object (same data) in every call, so "
        "any per-plaintext precomputation is inside the timer; SEAL has no such cache",
    )
    record(
        "rescale",
        time_calls(ev.rescale_to_next, lambda: fresh_ciphertext(s.product_plain), repeats),
        "Evaluator.rescale_to_next of a fresh ct x pt product (size 2, 3 -> 2 primes, scale 2^80 -> ~2^40)",
    )
    record(
        "rotate",
        time_calls(
            lambda ct: ev.rotate_vector(ct, ROTATION_STEPS, s.galois_keys), lambda: fresh_ciphertext(s.ct), repeats
        ),
        "Evaluator.rotate_vector by 1 slot with a Galois key for step 1 only: one automorphism (a gather "
        "in NTT form) + one key switch, size-2 ciphertext at 3 primes",
    )
    record(
        "relinearize",
        time_calls(lambda ct: ev.relinearize(ct, s.relin_keys), lambda: fresh_ciphertext(s.size3), repeats),
        "Evaluator.relinearize of a size-3 ct x ct product at 3 primes (one key switch)",
    )
    record(
        "multiply",
        time_calls(lambda ct: ev.multiply(ct, s.ct2), lambda: fresh_ciphertext(s.ct), repeats),
        "Evaluator.multiply of two distinct size-2 ciphertexts at 3 primes -> size 3, no relinearization",
    )
    record(
        "decrypt",
        time_calls(s.decryptor.decrypt, lambda: fresh_ciphertext(s.ct), repeats),
        "Decryptor.decrypt of a fresh size-2 ciphertext at 3 primes (c0 + c1 s, NTT form)",
    )
    record(
        "decode",
        time_calls(s.encoder.decode, lambda: fresh_plaintext(s.plain), repeats),
        f"CKKSEncoder.decode -> {SLOTS}-float64 NumPy array, from a top-level plaintext (3 primes): "
        "3 inverse NTTs, CRT composition to float, FFT",
    )
    return results


# --------------------------------------------------------------------------------------
# SEAL side and comparison
# --------------------------------------------------------------------------------------


def measure_seal(repeats: int) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    """``(native_seal.measure_native(repeats), None)``, or ``(None, why)`` when SEAL cannot run."""
    versions = native_seal.native_versions()
    if versions.get("seal-python") is None:
        print(
            "NOTE: seal-python is not importable in this interpreter "
            f"(pip install {native_seal.SEAL_PYTHON_PIN}); "
            + (
                "falling back to TenSEAL's sealapi."
                if versions.get("tenseal")
                else "no SEAL binding at all: heedu's numbers follow with ratio n/a."
            ),
            file=sys.stderr,
        )
    try:
        return native_seal.measure_native(repeats), None
    except ImportError as error:
        return None, str(error)
    except Exception as error:  # a crash on the SEAL side must not hide heedu's numbers
        return None, f"native SEAL measurement failed: {type(error).__name__}: {error}"


def compare(heedu_results: dict[str, dict[str, Any]], seal_results: dict[str, dict[str, Any]] | None) -> list[dict]:
    """One row per heedu operation: both medians, the ratio, the target and whether it is met."""
    rows = []
    for op in OPERATIONS:
        counterpart = SEAL_COUNTERPART[op]
        heedu_s = heedu_results[op]["median_s"]
        seal_s = seal_results[counterpart]["median_s"] if seal_results else None
        ratio = heedu_s / seal_s if seal_s else None
        target = TARGETS.get(op)
        met = None if target is None or ratio is None else ratio <= target
        rows.append(
            {
                "op": op,
                "heedu_s": heedu_s,
                "seal_op": counterpart,
                "seal_s": seal_s,
                "ratio": ratio,
                "target": target,
                "met": met,
            }
        )
    return rows


def format_seconds(seconds: float | None) -> str:
    """µs below a millisecond, ms above; "n/a" for a missing value."""
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.3f} ms"


def markdown_table(rows: list[dict]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "| op | heedu median | SEAL median | heedu/SEAL ratio | target | met? |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        seal_cell = format_seconds(row["seal_s"])
        if row["seal_s"] is not None and row["seal_op"] != row["op"]:
            seal_cell += f" ({row['seal_op']})"
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        target = "—" if row["target"] is None else f"≤ {row['target']:g}x"
        if row["target"] is None:
            met = "—"
        elif row["met"] is None:
            met = "n/a"
        else:
            met = "yes" if row["met"] else "**no**"
        lines.append(f"| {row['op']} | {format_seconds(row['heedu_s'])} | {seal_cell} | {ratio} | {target} | {met} |")
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(seal_library: str | None) -> dict[str, Any]:
    """Where and when the numbers were measured."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "heedu": heedu.__version__,
        "seal": seal_library,
    }


def markdown_report(
    rows: list[dict], machine: dict[str, Any], repeats: int, heedu_results: dict, seal: dict | None
) -> str:
    """The table plus machine information and what each row measured, for ``--markdown``."""
    lines = [
        "# heedu core benchmark",
        "",
        f"Measured {machine['date']} on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, "
        f"{machine['platform']}); Python {machine['python']}, NumPy {machine['numpy']}, "
        f"heedu {machine['heedu']}, {machine['seal'] or 'no SEAL binding'}.",
        f"CKKS {PARAMS_TEXT}; median of {repeats} timed calls after one warm-up, gc disabled, one core.",
        "",
        markdown_table(rows),
        "",
        "## What each row measured",
        "",
    ]
    for op in OPERATIONS:
        lines.append(f"- **{op}**: heedu: {heedu_results[op]['note']}.")
        if seal is not None:
            counterpart = SEAL_COUNTERPART[op]
            lines.append(f"  SEAL ({counterpart}): {seal[counterpart]['note']}.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure SEAL and heedu, print the table, and write the optional reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per operation (default 20)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the table and machine info here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw numbers here")
    parser.add_argument("--no-seal", action="store_true", help="skip the native SEAL measurement")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    started = time.perf_counter()

    if args.no_seal:
        seal_results, seal_error = None, "skipped (--no-seal)"
    else:
        seal_results, seal_error = measure_seal(args.repeats)
    if seal_error:
        print(f"SEAL: {seal_error}", file=sys.stderr)
    seal_library = seal_results["ntt"]["library"] if seal_results else None

    setup = make_heedu_setup()
    errors = sanity_errors(setup)
    heedu_results = measure_heedu(setup, args.repeats)
    rows = compare(heedu_results, seal_results)
    machine = machine_info(seal_library)

    print(
        f"heedu {heedu.__version__} vs {seal_library or 'no SEAL'}; {machine['cpu']}, Python {machine['python']}, "
        f"NumPy {machine['numpy']}; {PARAMS_TEXT}; median of {args.repeats}"
    )
    print("sanity (max slot error): " + ", ".join(f"{name} {error:.1e}" for name, error in errors.items()))
    print()
    print(markdown_table(rows))
    elapsed = time.perf_counter() - started
    print(f"\n(benchmark ran in {elapsed:.1f} s)")

    if args.markdown:
        args.markdown.write_text(
            markdown_report(rows, machine, args.repeats, heedu_results, seal_results), encoding="utf-8"
        )
        print(f"wrote {args.markdown}")
    if args.json:
        report = {
            "parameters": {
                "poly_modulus_degree": N,
                "coeff_modulus_bits": list(native_seal.COEFF_MODULUS_BITS),
                "scale": native_seal.SCALE,
            },
            "repeats": args.repeats,
            "machine": machine,
            "elapsed_s": elapsed,
            "sanity_max_error": errors,
            "heedu": heedu_results,
            "seal": seal_results,
            "seal_error": seal_error,
            "comparison": rows,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
