"""Native Microsoft SEAL, the reference side of the benchmarks: the same operations, timed in the same run.

heedu is pure NumPy; to know what its numbers mean, each subject measures the
same work in Microsoft SEAL (C++), reached from Python through one of two wheels:

* ``seal-python==4.4.0`` (imports as ``seal``): a pybind11 binding of SEAL's
  ``Evaluator``, ``CKKSEncoder``, ``Encryptor`` ... Preferred, and the only one
  :class:`PackedClient` / :class:`PackedServer` use.
* ``tenseal==0.3.18``: TenSEAL bundles SEAL and exposes the same classes as
  ``tenseal.sealapi``; used for the primitives only when seal-python is missing.

What this module measures, all at the benchmarks' parameters
(:data:`harness.TUTORIAL`: N = 8192, [60, 40, 40, 60], scale 2^40):

* :func:`measure_native`: each primitive of ``bench_core`` (NTT, encode,
  encrypt, multiply_plain, rescale, rotate, relinearize, multiply, decrypt,
  decode) and a rotation at level 1, where both inference protocols rotate;
* :class:`PackedServer`: heedu's slot protocol's server computation
  (:class:`heedu.inference.slots.SlotLinearModel`) done by SEAL: the same
  :class:`heedu.inference.packing.PackingPlan` (interleaved
  layout, pre-rotated diagonals, baby and giant steps, folding ladder), the same
  bias, the switch to level 0 and the re-randomization by a fresh public-key
  encryption of zero. SEAL 4.4 has no public hoisting, so its baby steps are
  separate rotations; everything else is the same sequence of operations. It is
  the same-run reference for heedu's slot server (and for its coefficient server).

Timing is :func:`harness.time_calls` (or the subject's :class:`harness.Rounds`): in-place SEAL calls get a fresh copy of
their input made outside the timer, so only the C++ call and its pybind11
dispatch (well under a microsecond) are timed. SEAL is single-threaded.

Run ``python benchmarks/native_seal.py`` to print SEAL's primitives alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from heedu.inference.packing import PackingPlan

try:  # imported as part of the package: python -m benchmarks.native_seal
    from benchmarks import harness
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import harness  # type: ignore[no-redef]

PARAMETERS = harness.TUTORIAL
SEAL_PYTHON_PIN = "seal-python==4.4.0"
TENSEAL_PIN = "tenseal==0.3.18"
ROTATION_STEPS = 1

#: The keys of :func:`measure_native`'s result, in table order.
OPERATIONS: tuple[str, ...] = (
    "ntt",
    "intt",
    "encode",
    "encrypt",
    "multiply_plain",
    "rescale",
    "rotate",
    "rotate_level1",
    "relinearize",
    "multiply",
    "decrypt",
    "decode",
)

_INSTALL_HINT = f"native SEAL needs its Python bindings: pip install {SEAL_PYTHON_PIN} (or {TENSEAL_PIN})"


def sample_values(seed: int, count: int = PARAMETERS.slots) -> np.ndarray:
    """Reals uniform in [-1, 1), the inputs of the primitives (heedu's side draws the same ones)."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, count)


def _import(module: str) -> ModuleType | None:
    """Import ``module``; None if it is missing or its compiled extension fails to load."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError):
        return None


def seal_python() -> ModuleType | str:
    """The ``seal`` module of seal-python, or why it is unavailable."""
    seal = _import("seal")
    if seal is None or not hasattr(seal, "Evaluator"):
        return f"seal-python is not importable; pip install {SEAL_PYTHON_PIN}"
    return seal


# --------------------------------------------------------------------------------------
# The two bindings
# --------------------------------------------------------------------------------------


@dataclass
class _Binding:
    """How one Python binding spells the few calls that differ between the two."""

    library: str
    api: ModuleType  # the module holding SEAL's classes
    context: Any  # SEALContext at the benchmark parameters
    galois_keys: Callable[[Any], Any]  # KeyGenerator -> GaloisKeys for ROTATION_STEPS
    copy: Callable[[Any, Any], Any]  # (Evaluator, Ciphertext) -> an independent copy
    to_values: Callable[[np.ndarray], Any]
    decode_name: str
    values_note: str


def _seal_context(api: ModuleType, scheme: Any, security: Any) -> Any:
    """A SEALContext at the benchmark parameters; the two bindings spell the enums differently."""
    parms = api.EncryptionParameters(scheme)
    parms.set_poly_modulus_degree(PARAMETERS.poly_modulus_degree)
    parms.set_coeff_modulus(
        api.CoeffModulus.Create(PARAMETERS.poly_modulus_degree, list(PARAMETERS.coeff_modulus_bits))
    )
    return api.SEALContext(parms, True, security)


def seal_python_context(seal: ModuleType) -> Any:
    """seal-python's SEALContext at the benchmark parameters, 128-bit security checked by SEAL."""
    return _seal_context(seal, seal.scheme_type.ckks, seal.sec_level_type.tc128)


def _seal_python_binding(seal: ModuleType) -> _Binding:
    """seal-python: every call goes straight to SEAL's C++ API."""
    context = seal_python_context(seal)

    def galois_keys(keygen: Any) -> Any:
        keys = seal.GaloisKeys()
        keygen.create_galois_keys([ROTATION_STEPS], keys)  # seal-python's list overload takes steps
        return keys

    return _Binding(
        library=f"seal-python {harness.installed_version('seal-python')}",
        api=seal,
        context=context,
        galois_keys=galois_keys,
        copy=lambda _evaluator, ct: seal.Ciphertext(ct),  # copy constructor
        to_values=lambda array: seal.VectorDouble(array.tolist()),
        decode_name="decode",
        values_note="values pre-converted to seal.VectorDouble outside the timer",
    )


def _tenseal_binding(sealapi: ModuleType) -> _Binding:
    """``tenseal.sealapi``, used only when seal-python is not available."""
    context = _seal_context(sealapi, sealapi.SCHEME_TYPE.CKKS, sealapi.SEC_LEVEL_TYPE.TC128)

    def galois_keys(keygen: Any) -> Any:
        # This binding's list overload takes Galois *elements* (create_galois_keys([1]) makes a useless
        # identity key), so ask the context's GaloisTool for the element of the rotation.
        tool = context.first_context_data().galois_tool()
        keys = sealapi.GaloisKeys()
        keygen.create_galois_keys([tool.get_elt_from_step(ROTATION_STEPS)], keys)
        return keys

    def copy(evaluator: Any, ct: Any) -> Any:
        # sealapi.Ciphertext has no copy constructor: negate twice (exact; only ever outside the timer).
        out = sealapi.Ciphertext(context)
        evaluator.negate(ct, out)
        evaluator.negate_inplace(out)
        return out

    return _Binding(
        library=f"tenseal {harness.installed_version('tenseal')} (sealapi)",
        api=sealapi,
        context=context,
        galois_keys=galois_keys,
        copy=copy,
        to_values=lambda array: array.tolist(),
        decode_name="decode_double",
        values_note="values pre-converted to a Python list outside the timer",
    )


@dataclass
class Session:
    """Keys, objects and test ciphertexts for one binding, all made outside any timer.

    The bindings' differences are settled here, so :func:`measure_native` times
    exactly the same SEAL calls whichever binding is loaded.
    """

    binding: _Binding
    evaluator: Any
    encoder: Any
    encryptor: Any
    decryptor: Any
    relin_keys: Any
    galois_keys: Any
    values: Any  # the slot values, in the binding's input type
    plain: Any  # encode(values) at the top level, NTT form
    ct: Any  # encrypt(plain): size 2, 3 primes, NTT form
    ct2: Any  # an independent encryption of other values

    @property
    def library(self) -> str:
        return self.binding.library

    def copy(self, ciphertext: Any) -> Any:
        return self.binding.copy(self.evaluator, ciphertext)


def load_session() -> Session:
    """A session on seal-python if it imports, else on tenseal.sealapi; ImportError naming the pins otherwise."""
    seal = seal_python()
    if not isinstance(seal, str):
        binding = _seal_python_binding(seal)
    else:
        sealapi = _import("tenseal.sealapi")
        if sealapi is None:
            raise ImportError(_INSTALL_HINT)
        binding = _tenseal_binding(sealapi)
    api, context = binding.api, binding.context
    keygen = api.KeyGenerator(context)
    public_key, relin_keys = api.PublicKey(), api.RelinKeys()
    keygen.create_public_key(public_key)
    keygen.create_relin_keys(relin_keys)
    evaluator, encoder = api.Evaluator(context), api.CKKSEncoder(context)
    encryptor = api.Encryptor(context, public_key)

    def encrypt(values: Any) -> tuple[Any, Any]:
        plain, ct = api.Plaintext(), api.Ciphertext(context)
        encoder.encode(values, PARAMETERS.scale, plain)
        encryptor.encrypt(plain, ct)
        return plain, ct

    values = binding.to_values(sample_values(0))
    plain, ct = encrypt(values)
    _, ct2 = encrypt(binding.to_values(sample_values(1)))
    return Session(
        binding=binding,
        evaluator=evaluator,
        encoder=encoder,
        encryptor=encryptor,
        decryptor=api.Decryptor(context, keygen.secret_key()),
        relin_keys=relin_keys,
        galois_keys=binding.galois_keys(keygen),
        values=values,
        plain=plain,
        ct=ct,
        ct2=ct2,
    )


# --------------------------------------------------------------------------------------
# The primitives
# --------------------------------------------------------------------------------------


def measure_native(repeats: int, session: Session | None = None) -> dict[str, harness.Timed]:
    """Median times of SEAL's CKKS primitives (:data:`OPERATIONS`), one core, each with what exactly was timed.

    ``ntt`` and ``intt`` are divided by the number of prime rows: SEAL
    transforms whole ciphertexts only, so its per-row figure is the 6-row
    transform divided by 6. Neither binding offers a better-isolated
    single-row NTT on native memory (TenSEAL's ``ntt_negacyclic_harvey`` takes
    a Python list, whose conversion costs more than the NTT).
    """
    s = session or load_session()
    ev, ct, ct2, plain, copy = s.evaluator, s.ct, s.ct2, s.plain, s.copy
    api = s.binding.api
    results: dict[str, harness.Timed] = {}

    def record(key: str, runs: harness.Runs, note: str) -> None:
        results[key] = harness.Timed(runs, note)

    rows = ct.size() * ct.coeff_modulus_size()
    coefficients = copy(ct)
    ev.transform_from_ntt_inplace(coefficients)
    whole = f"on a size-{ct.size()} ciphertext at {ct.coeff_modulus_size()} primes, divided by {rows}"
    runs, _ = harness.time_calls(ev.transform_to_ntt_inplace, lambda: copy(coefficients), repeats)
    record("ntt", runs.divided(rows), f"Evaluator.transform_to_ntt_inplace {whole}")
    runs, _ = harness.time_calls(ev.transform_from_ntt_inplace, lambda: copy(ct), repeats)
    record("intt", runs.divided(rows), f"Evaluator.transform_from_ntt_inplace {whole}")

    destination = api.Plaintext()
    runs, _ = harness.measure(lambda: s.encoder.encode(s.values, PARAMETERS.scale, destination), repeats)
    record(
        "encode",
        runs,
        f"CKKSEncoder.encode of {PARAMETERS.slots} reals into a reused Plaintext at the top level (inverse FFT, "
        f"rounding, 3 forward NTTs); {s.binding.values_note}",
    )
    out_ct = api.Ciphertext(s.binding.context)
    runs, _ = harness.measure(lambda: s.encryptor.encrypt(plain, out_ct), repeats)
    record(
        "encrypt",
        runs,
        "Encryptor.encrypt (public key) into a reused Ciphertext: the encryption of zero is sampled at 4 primes "
        "(with the special prime), which is then dropped",
    )
    runs, _ = harness.time_calls(lambda work: ev.multiply_plain_inplace(work, plain), lambda: copy(ct), repeats)
    record("multiply_plain", runs, "Evaluator.multiply_plain_inplace, size-2 ct x pt at 3 primes; input copied untimed")

    product = copy(ct)
    ev.multiply_plain_inplace(product, plain)
    runs, _ = harness.time_calls(ev.rescale_to_next_inplace, lambda: copy(product), repeats)
    record("rescale", runs, "Evaluator.rescale_to_next_inplace of a ct x pt product, 3 -> 2 primes")

    results.update(measure_rotations(repeats, s))
    size3 = copy(ct)
    ev.multiply_inplace(size3, ct2)
    runs, _ = harness.time_calls(lambda work: ev.relinearize_inplace(work, s.relin_keys), lambda: copy(size3), repeats)
    record("relinearize", runs, "Evaluator.relinearize_inplace of a size-3 ct x ct product at 3 primes, one key switch")
    runs, _ = harness.time_calls(lambda work: ev.multiply_inplace(work, ct2), lambda: copy(ct), repeats)
    record("multiply", runs, "Evaluator.multiply_inplace of two size-2 ciphertexts at 3 primes, no relinearization")

    out_plain = api.Plaintext()
    runs, _ = harness.measure(lambda: s.decryptor.decrypt(ct, out_plain), repeats)
    record("decrypt", runs, "Decryptor.decrypt of a size-2 ciphertext at 3 primes into a reused Plaintext")
    decode = getattr(s.encoder, s.binding.decode_name)
    runs, _ = harness.measure(lambda: decode(plain), repeats)
    record("decode", runs, f"CKKSEncoder.{s.binding.decode_name} of a top-level plaintext (3 inverse NTTs, CRT, FFT)")
    return results


def measure_rotations(repeats: int, session: Session | None = None) -> dict[str, harness.Timed]:
    """A rotation by one slot at the top level (``rotate``) and at level 1 (``rotate_level1``).

    One key switch each: the unit cost of every inference server here, which
    the subjects multiply by the number of key switches a server performs.
    """
    s = session or load_session()
    level1 = s.copy(s.ct)
    s.evaluator.mod_switch_to_next_inplace(level1)
    results = {}
    for key, source, where in (("rotate", s.ct, "3 primes"), ("rotate_level1", level1, "2 primes (level 1)")):
        runs, _ = harness.time_calls(
            lambda work: s.evaluator.rotate_vector_inplace(work, ROTATION_STEPS, s.galois_keys),
            lambda source=source: s.copy(source),
            repeats,
        )
        results[key] = harness.Timed(
            runs,
            f"Evaluator.rotate_vector_inplace by 1 slot with a key for that step only (one automorphism and one "
            f"key switch), size-2 ciphertext at {where}; input copied untimed",
        )
    return results


# --------------------------------------------------------------------------------------
# heedu's slot protocol, computed by SEAL
# --------------------------------------------------------------------------------------


class PackedClient:
    """The client of :class:`PackedServer`: SEAL keys for the plan's rotations, encryption, decryption.

    As heedu's client, it encrypts with the secret key and sends the public key
    (for re-randomization) and the Galois keys of the plan's steps. Unlike
    heedu's, its Galois keys are all at the top level (seal-python exposes no
    trimming), and the keys stay Python objects: the server gets them parsed, as
    heedu's server keeps parsed keys by hash.
    """

    def __init__(self, seal: ModuleType, plan: PackingPlan) -> None:
        self.seal, self.plan = seal, plan
        self.context = seal_python_context(seal)
        keygen = seal.KeyGenerator(self.context)
        self.public_key = keygen.create_public_key()
        self.galois_keys = seal.GaloisKeys()
        keygen.create_galois_keys(plan.rotation_steps, self.galois_keys)
        self.encoder = seal.CKKSEncoder(self.context)
        self._encryptor = seal.Encryptor(self.context, keygen.secret_key())
        self._decryptor = seal.Decryptor(self.context, keygen.secret_key())

    @property
    def key_bytes(self) -> int:
        """The public key and the Galois keys as seal-python serializes them (its default compression)."""
        return len(self.public_key.to_string()) + len(self.galois_keys.to_string())

    def encrypt(self, x: np.ndarray) -> list[list[bytes]]:
        """One list of chunk ciphertexts per group of inputs, laid out by the plan (as heedu's client does)."""
        groups = []
        for group in self.plan.input_slots(np.atleast_2d(x)):
            plains = [self.encoder.encode(chunk, PARAMETERS.scale) for chunk in group]
            groups.append([self._encryptor.encrypt_symmetric(plain).to_string() for plain in plains])
        return groups

    def decrypt(self, answers: Sequence[bytes], count: int) -> np.ndarray:
        """Scores ``(count, n_outputs)``, read from the slots as heedu's client reads them."""
        slots = []
        for blob in answers:
            ct = self.seal.Ciphertext()
            ct.load_bytes(self.context, blob)
            slots.append(np.asarray(self.encoder.decode(self._decryptor.decrypt(ct))))
        return self.plan.read_scores(np.array(slots), count)


class PackedServer:
    """heedu's slot server computation (:meth:`heedu.inference.slots.SlotLinearModel._answer_group`), by SEAL.

    The diagonals and the bias come from the same :class:`PackingPlan`, encoded
    once at construction; :meth:`predict` takes query bytes and returns answer
    bytes, as heedu's does, so parsing and serialization are inside both times.
    """

    def __init__(self, client: PackedClient, weights: np.ndarray, bias: np.ndarray) -> None:
        seal, plan = client.seal, client.plan
        self.seal, self.plan, self.context = seal, plan, client.context
        self.galois_keys = client.galois_keys
        self.evaluator = seal.Evaluator(self.context)
        self._encryptor = seal.Encryptor(self.context, client.public_key)
        encoder = seal.CKKSEncoder(self.context)
        diagonals = plan.diagonal_slots(weights)
        self._diagonals = [
            [
                [
                    encoder.encode(diagonals[c, a, b], PARAMETERS.scale) if np.any(diagonals[c, a, b]) else None
                    for b in range(plan.baby_step)
                ]
                for a in range(plan.giant_steps)
            ]
            for c in range(plan.feature_chunks)
        ]
        top = self.context.first_context_data()
        level1, self._level0 = top.next_context_data().parms_id(), self.context.last_parms_id()
        answer_scale = PARAMETERS.scale**2 / top.parms().coeff_modulus()[-1].value()  # after the one rescale
        self._bias = encoder.encode(plan.bias_slots(bias), answer_scale)
        self.evaluator.mod_switch_to_inplace(self._bias, level1)
        self._zero = encoder.encode(np.zeros(plan.slot_count), answer_scale)
        self.evaluator.mod_switch_to_inplace(self._zero, self._level0)

    def _answer_group(self, group: list[Any]) -> Any:
        ev, plan, keys = self.evaluator, self.plan, self.galois_keys
        parts: list[Any] = [None] * plan.giant_steps
        for chunk, ct in enumerate(group):
            babies = [ct, *(ev.rotate_vector(ct, step, keys) for step in plan.baby_rotations)]
            for a in range(plan.giant_steps):
                for b, baby in enumerate(babies):
                    diagonal = self._diagonals[chunk][a][b] if b < plan.baby_step else None
                    if diagonal is None:
                        continue
                    term = ev.multiply_plain(baby, diagonal)
                    parts[a] = term if parts[a] is None else ev.add(parts[a], term)
        total = None
        for a, part in enumerate(parts):
            if part is None:
                continue
            ev.rescale_to_next_inplace(part)
            if a:
                ev.rotate_vector_inplace(part, plan.giant_rotations[a - 1], keys)
            total = part if total is None else ev.add(total, part)
        for step in plan.fold_rotations:
            ev.add_inplace(total, ev.rotate_vector(total, step, keys))
        ev.add_plain_inplace(total, self._bias)
        ev.mod_switch_to_inplace(total, self._level0)
        ev.add_inplace(total, self._encryptor.encrypt(self._zero))  # re-randomization, as heedu's server
        return total

    def predict(self, query: Sequence[Sequence[bytes]]) -> list[bytes]:
        """One answer ciphertext (bytes) per group of query ciphertexts (bytes)."""
        answers = []
        for group in query:
            cts = []
            for blob in group:
                ct = self.seal.Ciphertext()
                ct.load_bytes(self.context, blob)
                cts.append(ct)
            answers.append(self._answer_group(cts).to_string())
        return answers


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Print SEAL's primitives as a table."""
    parser = harness.argument_parser(__doc__.splitlines()[0], repeats=20, quick_means="one timed call each")
    args = parser.parse_args(argv)
    try:
        session = load_session()
    except ImportError as error:
        print(error, file=sys.stderr)
        return 1
    repeats = 1 if args.quick else args.repeats
    report = harness.Report("native_seal", f"Native SEAL primitives ({session.library})", repeats)
    results = measure_native(repeats, session)
    rows = [[key, harness.format_seconds(results[key].runs.median_s), results[key].note] for key in OPERATIONS]
    report.sections.append(harness.markdown_table(("operation", "median", "what was timed"), rows, "lrl"))
    report.data["seal"] = results
    report.finish()
    report.write(args.markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
