"""Native Microsoft SEAL timings, the reference side of the heedu benchmark.

heedu is a pure-NumPy CKKS implementation; to know what its numbers mean, the
same run measures the same operations in Microsoft SEAL (C++), reached from
Python through one of two wheels on PyPI:

* ``seal-python==4.4.0`` (imports as ``seal``): a pybind11 binding that exposes
  SEAL's ``Evaluator``, ``CKKSEncoder``, ``Encryptor`` ... directly. Preferred.
* ``tenseal==0.3.18``: TenSEAL bundles SEAL and exposes the same classes as
  ``tenseal.sealapi``. Used only as a fallback when seal-python is not
  installed; seal-python can do every operation measured here, so nothing is
  taken from TenSEAL when both are present.

Parameters match heedu's benchmark: CKKS, N = 8192 (4096 slots), coefficient
modulus bit sizes [60, 40, 40, 60] (the last prime is SEAL's special
key-switching prime, so fresh ciphertexts live at 3 primes), scale 2^40,
128-bit security.

Timing method: for each operation, one untimed warm-up call, then ``repeats``
timed calls with :func:`time.perf_counter`, garbage collection disabled (as
:mod:`timeit` does); the median is reported. SEAL is single-threaded, so the
numbers are one-core numbers. Operations that SEAL performs in place get a
fresh copy of their input made *outside* the timed region, so no copy cost is
timed or subtracted. Only the C++ call and its pybind11 dispatch (well under a
microsecond) are inside the timer.

Run ``python benchmarks/native_seal.py`` to print a table.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

POLY_MODULUS_DEGREE = 8192
COEFF_MODULUS_BITS = (60, 40, 40, 60)
SCALE = 2.0**40
SLOTS = POLY_MODULUS_DEGREE // 2
ROTATION_STEPS = 1

SEAL_PYTHON_PIN = "seal-python==4.4.0"
TENSEAL_PIN = "tenseal==0.3.18"

#: The keys of :func:`measure_native`'s result, in table order.
OPERATIONS: tuple[str, ...] = (
    "ntt",
    "intt",
    "encode",
    "encrypt",
    "multiply_plain",
    "rescale",
    "rotate",
    "relinearize",
    "multiply",
    "decrypt",
    "decode",
)

# SEAL maps a CKKS rotation by ``step`` slots to the Galois element
# 3**step mod 2N; for step 1 that is 3.
_STEP1_GALOIS_ELT = 3

_INSTALL_HINT = (
    "measure_native() needs Microsoft SEAL's Python bindings: "
    f"pip install {SEAL_PYTHON_PIN}  (preferred), or pip install {TENSEAL_PIN}"
)

_PARAMS_TEXT = "N=8192, q bits [60,40,40,60], scale 2^40"


def _distribution_version(dist: str) -> str | None:
    """Installed version of PyPI distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import(module: str) -> ModuleType | None:
    """Import ``module``; None if it is missing or its binary fails to load."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError):
        return None


def native_versions() -> dict[str, str | None]:
    """Versions of the native SEAL bindings that are installed *and* import.

    Returns ``{"seal-python": ..., "tenseal": ...}``; a value is None when that
    package is absent or its compiled extension cannot be loaded.
    """
    found: dict[str, str | None] = {}
    for dist, module in (("seal-python", "seal"), ("tenseal", "tenseal.sealapi")):
        version = _distribution_version(dist)
        found[dist] = version if version and _import(module) else None
    return found


@dataclass
class _Session:
    """Keys, objects and fresh test ciphertexts for one SEAL binding.

    The two bindings spell a few calls differently (how to copy a ciphertext,
    the type of the values to encode, the name of the decode call); those
    differences are settled here, so :func:`_measure_session` times exactly
    the same SEAL calls whichever binding is loaded.
    """

    library: str
    evaluator: Any
    encoder: Any
    encryptor: Any
    decryptor: Any
    relin_keys: Any
    galois_keys: Any
    values: Any  # the 4096 reals, already in the binding's input type
    plain: Any  # encode(values) at the top level, NTT form
    ct: Any  # encrypt(plain): size 2, 3 primes, NTT form
    ct2: Any  # an independent encryption of other values
    copy: Callable[[Any], Any]  # Ciphertext -> independent copy
    new_plaintext: Callable[[], Any]
    new_ciphertext: Callable[[], Any]
    decode: Callable[[Any], Any]  # bound decode method of ``encoder``
    values_note: str
    decode_note: str


@dataclass
class _Binding:
    """How one Python binding spells the calls that differ between the two."""

    library: str
    api: ModuleType  # module holding SEAL's classes
    context: Any  # SEALContext for the benchmark parameters
    galois_keys: Callable[[Any], Any]  # KeyGenerator -> GaloisKeys (step 1)
    copy: Callable[[Any, Any], Any]  # (Evaluator, Ciphertext) -> copy
    to_values: Callable[[np.ndarray], Any]
    decode_name: str
    values_note: str
    decode_note: str


def _sample_values(seed: int) -> np.ndarray:
    """4096 reals in [-1, 1): what heedu's benchmark encodes too."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, SLOTS)


def _make_session(binding: _Binding) -> _Session:
    """Create keys, encoder, evaluator and test ciphertexts (all untimed)."""
    api, context = binding.api, binding.context
    keygen = api.KeyGenerator(context)
    public_key = api.PublicKey()
    keygen.create_public_key(public_key)
    relin_keys = api.RelinKeys()
    keygen.create_relin_keys(relin_keys)
    galois_keys = binding.galois_keys(keygen)
    if not galois_keys.has_key(_STEP1_GALOIS_ELT):
        raise RuntimeError(f"{binding.library}: no Galois key for a 1-step rotation")
    evaluator = api.Evaluator(context)
    encoder = api.CKKSEncoder(context)
    encryptor = api.Encryptor(context, public_key)

    def encrypt_values(values: Any) -> tuple[Any, Any]:
        plain = api.Plaintext()
        encoder.encode(values, SCALE, plain)
        ct = api.Ciphertext(context)
        encryptor.encrypt(plain, ct)
        return plain, ct

    values = binding.to_values(_sample_values(0))
    plain, ct = encrypt_values(values)
    _, ct2 = encrypt_values(binding.to_values(_sample_values(1)))
    return _Session(
        library=binding.library,
        evaluator=evaluator,
        encoder=encoder,
        encryptor=encryptor,
        decryptor=api.Decryptor(context, keygen.secret_key()),
        relin_keys=relin_keys,
        galois_keys=galois_keys,
        values=values,
        plain=plain,
        ct=ct,
        ct2=ct2,
        copy=lambda ciphertext: binding.copy(evaluator, ciphertext),
        new_plaintext=api.Plaintext,
        new_ciphertext=lambda: api.Ciphertext(context),
        decode=getattr(encoder, binding.decode_name),
        values_note=binding.values_note,
        decode_note=binding.decode_note,
    )


def _seal_python_binding(seal: ModuleType) -> _Binding:
    """seal-python: every call goes straight to SEAL's C++ API."""
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(POLY_MODULUS_DEGREE)
    parms.set_coeff_modulus(
        seal.CoeffModulus.Create(POLY_MODULUS_DEGREE, list(COEFF_MODULUS_BITS))
    )
    context = seal.SEALContext(parms, True, seal.sec_level_type.tc128)

    def galois_keys(keygen: Any) -> Any:
        # seal-python's list overload takes rotation *steps*.
        keys = seal.GaloisKeys()
        keygen.create_galois_keys([ROTATION_STEPS], keys)
        return keys

    return _Binding(
        library=f"seal-python {_distribution_version('seal-python')}",
        api=seal,
        context=context,
        galois_keys=galois_keys,
        copy=lambda _evaluator, ct: seal.Ciphertext(ct),  # copy constructor
        to_values=lambda array: seal.VectorDouble(array.tolist()),
        decode_name="decode",
        values_note="values pre-converted to seal.VectorDouble outside the timer",
        decode_note="CKKSEncoder.decode -> 4096-float64 NumPy array",
    )


def _tenseal_binding(sealapi: ModuleType) -> _Binding:
    """``tenseal.sealapi``, used only when seal-python is not available."""
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(POLY_MODULUS_DEGREE)
    parms.set_coeff_modulus(
        sealapi.CoeffModulus.Create(POLY_MODULUS_DEGREE, list(COEFF_MODULUS_BITS))
    )
    context = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)

    def galois_keys(keygen: Any) -> Any:
        # tenseal.sealapi's list overload resolves to Galois *elements*, not
        # steps (create_galois_keys([1]) yields a useless identity key), so
        # ask the context's GaloisTool for the element of a 1-step rotation.
        tool = context.first_context_data().galois_tool()
        keys = sealapi.GaloisKeys()
        keygen.create_galois_keys([tool.get_elt_from_step(ROTATION_STEPS)], keys)
        return keys

    def copy(evaluator: Any, ct: Any) -> Any:
        # sealapi.Ciphertext has no copy constructor: negate twice instead
        # (exact; only ever called outside the timed region).
        out = sealapi.Ciphertext(context)
        evaluator.negate(ct, out)
        evaluator.negate_inplace(out)
        return out

    return _Binding(
        library=f"tenseal {_distribution_version('tenseal')}",
        api=sealapi,
        context=context,
        galois_keys=galois_keys,
        copy=copy,
        to_values=lambda array: array.tolist(),
        decode_name="decode_double",
        values_note="values pre-converted to a Python list outside the timer",
        decode_note="CKKSEncoder.decode_double -> Python list of 4096 floats "
        "(list building included)",
    )


def median_seconds(
    operation: Callable[[Any], object],
    make_input: Callable[[], Any],
    repeats: int,
    warm_up: bool = True,
) -> float:
    """Median wall time of ``operation(make_input())``, input made untimed.

    One warm-up call comes first unless ``warm_up`` is false (it also lets
    SEAL's memory pool grow to its working size); then ``repeats`` timed calls
    with the garbage collector off. ``make_input`` runs before each call and is
    never timed. heedu's benchmarks time with this same function.
    """
    if warm_up:
        operation(make_input())
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            argument = make_input()
            start = time.perf_counter()
            operation(argument)
            times.append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(times)


def _median_ntt_pair(session: _Session, repeats: int) -> tuple[float, float]:
    """Median (forward, inverse) time of a whole-ciphertext NTT transform.

    SEAL keeps CKKS ciphertexts in NTT form, so the loop alternates
    ``transform_from_ntt_inplace`` (inverse NTT of every row) and
    ``transform_to_ntt_inplace`` (forward NTT of every row) on one working
    copy: each call's input is exactly the other call's output, so neither
    needs a copy and both directions are timed in the same loop.

    Neither binding offers a better-isolated single-row NTT: TenSEAL's
    ``sealapi.util.ntt_negacyclic_harvey`` transforms one row, but takes and
    returns a Python list of 8192 ints, and that conversion costs more than
    the NTT itself.
    """
    evaluator = session.evaluator
    work = session.copy(session.ct)
    evaluator.transform_from_ntt_inplace(work)  # warm-up, both directions
    evaluator.transform_to_ntt_inplace(work)
    forward: list[float] = []
    inverse: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            evaluator.transform_from_ntt_inplace(work)
            middle = time.perf_counter()
            evaluator.transform_to_ntt_inplace(work)
            end = time.perf_counter()
            inverse.append(middle - start)
            forward.append(end - middle)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(forward), statistics.median(inverse)


def _measure_session(session: _Session, repeats: int) -> dict[str, dict]:
    """Time every operation in :data:`OPERATIONS` on one binding."""
    ev = session.evaluator
    ct, ct2, plain = session.ct, session.ct2, session.plain
    copy = session.copy
    results: dict[str, dict] = {}

    def record(key: str, seconds: float, note: str) -> None:
        results[key] = {
            "library": session.library,
            "median_s": float(seconds),
            "note": f"{note} ({_PARAMS_TEXT})",
        }

    rows = ct.size() * ct.coeff_modulus_size()
    forward, inverse = _median_ntt_pair(session, repeats)
    whole = (
        f"on a size-{ct.size()} ciphertext at {ct.coeff_modulus_size()} primes "
        "(neither binding exposes a single-row NTT on native memory), "
        f"divided by {rows} = one "
        f"{POLY_MODULUS_DEGREE}-point negacyclic NTT of one prime"
    )
    record("ntt", forward / rows, f"Evaluator.transform_to_ntt_inplace {whole}")
    record("intt", inverse / rows, f"Evaluator.transform_from_ntt_inplace {whole}")

    destination = session.new_plaintext()
    record(
        "encode",
        median_seconds(
            lambda dest: session.encoder.encode(session.values, SCALE, dest),
            lambda: destination,
            repeats,
        ),
        f"CKKSEncoder.encode of {SLOTS} reals at scale 2^40 into a reused "
        "Plaintext at the top level (3 primes, NTT form), i.e. SEAL's inverse "
        f"FFT, rounding and 3 forward NTTs; {session.values_note}",
    )

    out_ct = session.new_ciphertext()
    record(
        "encrypt",
        median_seconds(
            lambda dest: session.encryptor.encrypt(plain, dest),
            lambda: out_ct,
            repeats,
        ),
        "Encryptor.encrypt (public key) of an encoded plaintext into a reused "
        "Ciphertext; result size 2 at 3 primes. SEAL samples the encryption of "
        "zero at the key level (4 primes, with the special prime) and then "
        "drops the special prime; both are inside the timed call",
    )

    record(
        "multiply_plain",
        median_seconds(
            lambda work: ev.multiply_plain_inplace(work, plain),
            lambda: copy(ct),
            repeats,
        ),
        "Evaluator.multiply_plain_inplace, size-2 ciphertext x plaintext at "
        "the top level (3 primes); input copied outside the timer",
    )

    product = copy(ct)  # setup, untimed; both bindings have the in-place form
    ev.multiply_plain_inplace(product, plain)
    record(
        "rescale",
        median_seconds(ev.rescale_to_next_inplace, lambda: copy(product), repeats),
        "Evaluator.rescale_to_next_inplace of a fresh ct x pt product "
        "(size 2, 3 -> 2 primes, scale 2^80 -> ~2^40); input copied outside "
        "the timer",
    )

    record(
        "rotate",
        median_seconds(
            lambda work: ev.rotate_vector_inplace(
                work, ROTATION_STEPS, session.galois_keys
            ),
            lambda: copy(ct),
            repeats,
        ),
        "Evaluator.rotate_vector_inplace by 1 slot with a Galois key for step "
        "1 only: one automorphism + one key switch, size-2 ciphertext at 3 "
        "primes; input copied outside the timer",
    )

    size3 = copy(ct)  # setup, untimed
    ev.multiply_inplace(size3, ct2)
    record(
        "relinearize",
        median_seconds(
            lambda work: ev.relinearize_inplace(work, session.relin_keys),
            lambda: copy(size3),
            repeats,
        ),
        "Evaluator.relinearize_inplace of a size-3 ct x ct product at 3 "
        "primes (one key switch); input copied outside the timer",
    )

    record(
        "multiply",
        median_seconds(
            lambda work: ev.multiply_inplace(work, ct2),
            lambda: copy(ct),
            repeats,
        ),
        "Evaluator.multiply_inplace of two distinct size-2 ciphertexts at 3 "
        "primes -> size 3, no relinearization; input copied outside the timer",
    )

    out_plain = session.new_plaintext()
    record(
        "decrypt",
        median_seconds(
            lambda dest: session.decryptor.decrypt(ct, dest),
            lambda: out_plain,
            repeats,
        ),
        "Decryptor.decrypt of a fresh size-2 ciphertext at 3 primes into a "
        "reused Plaintext",
    )

    record(
        "decode",
        median_seconds(session.decode, lambda: plain, repeats),
        f"{session.decode_note}, from a top-level plaintext (3 primes), i.e. "
        "SEAL's 3 inverse NTTs, CRT composition and FFT",
    )
    return results


def _load_session() -> _Session:
    """seal-python if it imports, else tenseal.sealapi, else ImportError."""
    seal = _import("seal")
    if seal is not None and hasattr(seal, "Evaluator"):
        return _make_session(_seal_python_binding(seal))
    sealapi = _import("tenseal.sealapi")
    if sealapi is not None:
        return _make_session(_tenseal_binding(sealapi))
    raise ImportError(_INSTALL_HINT)


def measure_native(repeats: int = 20) -> dict[str, dict]:
    """Median times of SEAL's CKKS operations, one core, in seconds.

    Returns ``{operation: {"library", "median_s", "note"}}`` for every key of
    :data:`OPERATIONS`; ``note`` says exactly which SEAL call was timed, on
    what input, and any division applied (only ``ntt`` and ``intt`` are
    divided: SEAL transforms whole ciphertexts, so the time is divided by the
    number of prime rows to give one 8192-point NTT of one prime).

    Uses seal-python when it imports, else TenSEAL's ``sealapi``; raises
    :class:`ImportError` naming the pip pins when neither is available.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    session = _load_session()
    return _measure_session(session, repeats)


def _format_seconds(seconds: float) -> str:
    """Human units: µs below a millisecond, else ms."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    return f"{seconds * 1e3:8.3f} ms"


def main(argv: list[str] | None = None) -> int:
    """Print the native SEAL timings as a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print("native bindings:", native_versions())
    try:
        results = measure_native(args.repeats)
    except ImportError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{'operation':<15} {'median':>11}  {'library':<18} note")
    for key in OPERATIONS:
        row = results[key]
        print(
            f"{key:<15} {_format_seconds(row['median_s']):>11}  "
            f"{row['library']:<18} {row['note']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
