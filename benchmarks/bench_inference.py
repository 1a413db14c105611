"""The encrypted MNIST classifier end to end: heedu's packed protocol next to native SEAL, TenSEAL and the package.

Every system evaluates the same linear model (the workload's: the Azure ML
tutorial's 10 x 784 ``LogisticRegression``) on the same MNIST test images, at the
same CKKS parameters (N = 8192, [60, 40, 40, 60], scale 2^40), one after the
other in one process:

* **heedu native** (:mod:`heedu.inference.native`): ``EncryptedLinearModel`` and
  ``InferenceClient``. One image, then batches (``--batches``, default 4, 12 and
  48). The plan interleaves 4 images in one ciphertext; the server answers each
  ciphertext with one ciphertext at level 0 holding all their scores,
  re-randomized by a fresh public-key encryption of zero.
* **native SEAL 4.4, the same slot algorithm** (:class:`native_seal.PackedServer`,
  seal-python): heedu's plan, diagonals, rotation schedule, bias,
  switch to level 0 and re-randomization, computed by SEAL. The compiled
  reference for heedu native, measured in this run.
* **heedu EI-compatible** (:mod:`heedu.inference.ei`), one image.
* **encrypted-inference 0.9 as shipped** (SEAL 3.5 behind ctypes), one image,
  ``--repeats-slow`` times (about 7 s a call).
* **TenSEAL 0.3.18, as its users write it**: ``ts.context(CKKS, 8192,
  coeff_mod_bit_sizes=[60, 40, 40, 60])``, ``global_scale = 2**40``,
  ``generate_galois_keys()``, ``enc_x = ts.ckks_vector(ctx, x)``, then (a)
  ``enc_x.dot(w_c) + b_c`` per class, or (b) ``enc_x.mm(W.T) + b``, the idiom of
  its tutorials (``--repeats-slow``: seconds a call). The server computes with
  the context the client serialized without its secret key.

Columns, per system:

* **server**: the server's work per image. heedu: ``predict(query, keys)``,
  bytes in, bytes out, keys already parsed (the server keeps them by hash; a
  fresh server's first call is reported under the table). Native SEAL: query
  bytes to answer bytes, keys as objects. The package: ``predict``, which hands
  its key blob to the native library again for every class. TenSEAL: the
  ``dot``/``mm`` and the bias on a loaded vector; loading the query and
  serializing the answers are reported under the table.
* **keygen**: a new client and everything it sends once (heedu native:
  ``InferenceClient(plan)`` + ``public_keys()``; native SEAL: the public key and
  the plan's Galois keys; EI: constructor + ``get_public_keys()``; TenSEAL:
  ``ts.context`` + ``generate_galois_keys()``).
* **encrypt / decrypt**: inputs to the bytes sent, bytes received to scores.
* **up / keys / down**: binary sizes of the query, the keys and the answer (the
  EI protocol sends base64 in JSON, 4/3 of that). For batches, times and
  query/answer sizes are per image.
* **max abs err / argmax**: decrypted scores against the model's own
  ``decision_function``.

Under the table: where heedu's single-image ``predict`` spends its time (its
Evaluator and Encryptor calls are wrapped by timers for a few extra calls),
SEAL 4.4's rotation at both levels (the unit cost of the compiled servers), and
the key switches TenSEAL performs, counted from its algorithms.

Run ``python benchmarks/bench_inference.py [--repeats N] [--repeats-slow N]
[--batches 4,12,48] [--quick] [--data DIR] [--markdown PATH] [--json PATH]
[--no-package] [--no-tenseal]``. The package's native library aborts the
process on malformed input, so it only ever gets its own client's objects.
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

import heedu
from heedu.inference import EILinearRegressionClient as HeeduEIClient
from heedu.inference import EIServer as HeeduEIServer
from heedu.inference import EncryptedLinearModel, InferenceClient, PackingPlan
from heedu.tools.crosscheck import PACKAGE, load_package

try:  # imported as part of the package: python -m benchmarks.bench_inference
    from benchmarks import harness, native_seal
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import harness  # type: ignore[no-redef]
    import native_seal  # type: ignore[no-redef]

PARAMETERS = harness.TUTORIAL
DEFAULT_BATCHES = (4, 12, 48)
QUICK_BATCHES = (8,)
TENSEAL_PIN = "tenseal==0.3.18"
#: Decrypted scores must match decision_function this closely (observed: about 1e-6).
TOLERANCE = 1e-3
#: Timed calls of native SEAL's single rotations (about a millisecond each).
ROTATION_REPEATS = 10


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One system on one workload: times of whole calls, sizes of whole messages, accuracy.

    ``key`` names the system in the measured values the targets read
    (``heedu_native.server_1``, ``package.key_bytes`` ...).
    """

    system: str
    key: str
    images: int
    server: harness.Runs | None = None
    keygen: harness.Runs | None = None
    encrypt: harness.Runs | None = None
    decrypt: harness.Runs | None = None
    up_bytes: int | None = None
    key_bytes: int | None = None
    down_bytes: int | None = None
    max_abs_error: float | None = None
    argmax_agree: int | None = None

    def per_image(self, runs: harness.Runs | None) -> float | None:
        return None if runs is None else runs.median_s / self.images

    def per_image_bytes(self, count: int | None) -> float | None:
        return None if count is None else count / self.images

    def check(self, scores: np.ndarray, reference: np.ndarray) -> None:
        scores = np.atleast_2d(scores)
        self.max_abs_error = float(np.max(np.abs(scores - reference)))
        self.argmax_agree = int(np.sum(np.argmax(scores, axis=1) == np.argmax(reference, axis=1)))

    def measured(self) -> dict[str, float | None]:
        """This row's values for the targets: per image, suffixed by the number of images."""
        return {
            f"{self.key}.server_{self.images}": self.per_image(self.server),
            f"{self.key}.down_bytes_{self.images}": self.per_image_bytes(self.down_bytes),
            f"{self.key}.key_bytes": self.key_bytes,
        }

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)  # the Runs are written by the report's JSON encoder


def find(rows: Sequence[Row], key: str, images: int = 1) -> Row | None:
    """The row of system ``key`` on ``images`` images, if it was measured."""
    return next((row for row in rows if row.key == key and row.images == images), None)


def batch_inputs(work: harness.Workload, count: int) -> np.ndarray:
    """One image as a vector (a single-image query), or the first ``count`` images as a batch."""
    return work.images[0] if count == 1 else work.images[:count]


# --------------------------------------------------------------------------------------
# heedu native
# --------------------------------------------------------------------------------------


def measure_heedu_native(
    work: harness.Workload, batches: Sequence[int], repeats: int, extras: dict[str, Any]
) -> list[Row]:
    """One image and each batch size, with one client and one server; then the breakdown of one predict."""

    def new_server() -> EncryptedLinearModel:
        return EncryptedLinearModel(work.model, PARAMETERS.heedu())

    build, server = harness.measure(new_server, repeats)
    extras["heedu_native_build_s"] = build.median_s
    extras["heedu_native_plan"] = server.plan.describe()

    def new_client() -> tuple[InferenceClient, bytes]:
        client = InferenceClient(server.plan)
        return client, client.public_keys()

    keygen, (client, keys) = harness.measure(new_client, repeats)
    fresh_servers = [new_server() for _ in range(repeats + 1)]
    load, _ = harness.measure(lambda: fresh_servers.pop().load_keys(keys), repeats)
    extras["heedu_native_load_keys_s"] = load.median_s

    rows, single_query = [], b""
    for count in (1, *batches):
        x = batch_inputs(work, count)
        label = "heedu native, 1 image" if count == 1 else f"heedu native, batch of {count}"
        row = Row(label, "heedu_native", count, keygen=keygen, key_bytes=len(keys))
        row.encrypt, query = harness.measure(lambda x=x: client.encrypt(x), repeats)
        if count == 1:  # the first predict of a fresh server: it parses the keys
            single_query = query
            sample, _ = harness.time_call(functools.partial(new_server().predict, query, keys))
            extras["heedu_native_cold_predict_s"] = sample.wall_s
        row.server, answer = harness.measure(lambda query=query: server.predict(query, keys), repeats)
        row.decrypt, scores = harness.measure(lambda answer=answer: client.decrypt(answer), repeats)
        row.up_bytes, row.down_bytes = len(query), len(answer)
        row.check(scores, work.scores(x))
        rows.append(row)
        harness.progress(f"  {label}: {harness.format_seconds(row.per_image(row.server))} per image")
    extras.update(heedu_breakdown(server, single_query, keys, repeats))
    return rows


#: The calls predict makes, timed inside it by :func:`heedu_breakdown`: (class, method).
PREDICT_STEPS: tuple[tuple[type, str], ...] = (
    (heedu.Evaluator, "rotate_vector_hoisted"),
    (heedu.Evaluator, "rotate_vector"),
    (heedu.Evaluator, "rescale_to_next"),
    (heedu.Evaluator, "multiply_plain"),
    (heedu.Evaluator, "add"),
    (heedu.Evaluator, "add_plain"),
    (heedu.Evaluator, "mod_switch_to"),
    (heedu.Encryptor, "encrypt"),  # the re-randomization: a public-key encryption of zero
)


def heedu_breakdown(server: EncryptedLinearModel, query: bytes, keys: bytes, repeats: int) -> dict[str, Any]:
    """Where a single-image ``predict`` spends its time, timed inside it.

    Each of :data:`PREDICT_STEPS` is wrapped, on its class and only for these
    calls, by a timer that records its outermost calls (one ``perf_counter``
    pair each, about a microsecond). The rest of ``predict`` is the envelope,
    parsing the query, looking the keys up by hash, and serializing the answer.
    """
    originals = {(cls, name): getattr(cls, name) for cls, name in PREDICT_STEPS}
    calls: dict[str, list[float]] = {name: [] for _, name in PREDICT_STEPS}
    depth = [0]

    def timed_method(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    calls[name].append(time.perf_counter() - start)

        return wrapper

    per_predict: dict[str, list[float]] = {name: [] for name in calls}
    counts: dict[str, int] = {}
    try:
        for (cls, name), method in originals.items():
            setattr(cls, name, timed_method(name, method))

        def one_predict() -> None:
            for recorded in calls.values():
                recorded.clear()
            server.predict(query, keys)
            for name, recorded in calls.items():
                per_predict[name].append(sum(recorded))
                counts[name] = len(recorded)

        total, _ = harness.measure(one_predict, repeats)
        for recorded in per_predict.values():
            del recorded[0]  # the warm-up call
    finally:
        for (cls, name), method in originals.items():
            setattr(cls, name, method)
    lookup, _ = harness.measure(lambda: server.load_keys(keys), repeats)
    packing = server.plan.packing
    return {
        "heedu_breakdown_predict_s": total.median_s,
        "heedu_breakdown_steps": {
            name: {"calls": counts[name], "median_s": statistics.median(per_predict[name])} for name in calls
        },
        "heedu_key_lookup_s": lookup.median_s,
        "heedu_baby_steps": len(packing.baby_rotations),
        "heedu_key_switches_per_ciphertext": packing.key_switches,
        "heedu_inputs_per_ciphertext": packing.inputs_per_ciphertext,
    }


# --------------------------------------------------------------------------------------
# Native SEAL, the same slot algorithm
# --------------------------------------------------------------------------------------


def measure_seal_packed(seal: ModuleType, work: harness.Workload, batches: Sequence[int], repeats: int) -> list[Row]:
    """heedu's packed protocol computed by native SEAL (:mod:`native_seal`), on the same images and batches.

    The layout is the library's own (:meth:`PackingPlan.for_model`, as ``EncryptedLinearModel`` plans it).
    """
    plan = PackingPlan.for_model(work.model.n_features, work.model.n_outputs, PARAMETERS.slots)
    label = f"native SEAL {harness.installed_version('seal-python')}, same slot algorithm"
    keygen, client = harness.measure(lambda: native_seal.PackedClient(seal, plan), repeats)
    server = native_seal.PackedServer(client, work.coef, work.intercept)
    rows = []
    for count in (1, *batches):
        x = batch_inputs(work, count)
        name = f"{label}, 1 image" if count == 1 else f"{label}, batch of {count}"
        row = Row(name, "seal_packed", count, keygen=keygen, key_bytes=client.key_bytes)
        row.encrypt, query = harness.measure(lambda x=x: client.encrypt(x), repeats)
        row.server, answer = harness.measure(lambda query=query: server.predict(query), repeats)
        row.decrypt, scores = harness.measure(lambda a=answer, n=count: client.decrypt(a, n), repeats)
        row.up_bytes = sum(len(blob) for group in query for blob in group)
        row.down_bytes = sum(len(blob) for blob in answer)
        row.check(scores, work.scores(x))
        rows.append(row)
        harness.progress(f"  {name}: {harness.format_seconds(row.per_image(row.server))} per image")
    return rows


# --------------------------------------------------------------------------------------
# The EI protocol: heedu's compatible side and the package
# --------------------------------------------------------------------------------------


def b64_decoded_bytes(strings: Sequence[str]) -> int:
    """Binary size of a list of base64 ciphertexts (the EI protocol's JSON strings)."""
    return sum(len(base64.b64decode(s)) for s in strings)


def measure_ei(
    label: str, key: str, client_class: Any, server_class: Any, work: harness.Workload, repeats: int, slow: int
) -> tuple[Row, dict[str, int]]:
    """One image through an EI client and server of the same implementation."""
    x = work.images[0]
    row = Row(label, key, 1)

    def new_client() -> tuple[Any, bytes]:
        client = client_class()
        return client, client.get_public_keys()[1]

    row.keygen, (client, blob) = harness.measure(new_client, repeats)
    row.encrypt, query = harness.measure(lambda: client.encrypt(x), repeats)
    server = server_class(work.coef, work.intercept)
    row.server, answer = harness.measure(lambda: server.predict(query, blob), slow)
    row.decrypt, scores = harness.measure(lambda: client.decrypt(answer), repeats)
    row.up_bytes, row.key_bytes, row.down_bytes = b64_decoded_bytes(query), len(blob), b64_decoded_bytes(answer)
    row.check(scores, work.scores(x))
    harness.progress(f"  {label}: {harness.format_seconds(row.server.median_s)} per image")
    return row, {"query_b64_chars": sum(map(len, query)), "answer_b64_chars": sum(map(len, answer))}


# --------------------------------------------------------------------------------------
# TenSEAL
# --------------------------------------------------------------------------------------


def load_tenseal() -> ModuleType | str:
    """The ``tenseal`` module, or why it is unavailable."""
    try:
        import tenseal
    except (ImportError, OSError) as error:
        return f"tenseal not importable ({type(error).__name__}: {error}); pip install {TENSEAL_PIN}"
    return tenseal


def tenseal_context(ts: ModuleType) -> Any:
    """A client's context as TenSEAL's README and tutorials make it."""
    context = ts.context(
        ts.SCHEME_TYPE.CKKS, PARAMETERS.poly_modulus_degree, coeff_mod_bit_sizes=list(PARAMETERS.coeff_modulus_bits)
    )
    context.global_scale = PARAMETERS.scale
    context.generate_galois_keys()
    return context


def measure_tenseal(
    ts: ModuleType, work: harness.Workload, repeats: int, slow: int | None, extras: dict[str, Any]
) -> list[Row]:
    """(a) a dot product per class and, unless ``slow`` is None, (b) ``mm``, each with its bias, on one image."""
    x = work.images[0]
    reference = work.scores(x)
    label = f"TenSEAL {ts.__version__}"
    keygen, context = harness.measure(lambda: tenseal_context(ts), repeats)
    serialize, public = harness.measure(lambda: context.serialize(save_secret_key=False), repeats)
    load_context, server_context = harness.measure(lambda: ts.context_from(public), repeats)
    encrypt, query = harness.measure(lambda: ts.ckks_vector(context, x.tolist()).serialize(), repeats)
    load_query, enc_x = harness.measure(lambda: ts.ckks_vector_from(server_context, query), repeats)
    extras.update(
        tenseal_serialize_context_s=serialize.median_s,
        tenseal_load_context_s=load_context.median_s,
        tenseal_load_query_s=load_query.median_s,
        tenseal_threads=os.cpu_count(),
    )
    # The model as TenSEAL's tutorials keep it: Python lists, made once.
    weights, biases = [row.tolist() for row in work.coef], [float(b) for b in work.intercept]

    per_class = Row(f"{label}, dot per class (a)", "tenseal_dot", 1, keygen=keygen, encrypt=encrypt)
    per_class.server, results = harness.measure(lambda: [enc_x.dot(w) + b for w, b in zip(weights, biases)], repeats)
    serialize_answers, answers = harness.measure(lambda: [r.serialize() for r in results], repeats)
    per_class.decrypt, scores = harness.measure(
        lambda: np.array([ts.ckks_vector_from(context, blob).decrypt()[0] for blob in answers]), repeats
    )
    per_class.up_bytes, per_class.key_bytes, per_class.down_bytes = len(query), len(public), sum(map(len, answers))
    per_class.check(scores, reference)
    extras["tenseal_dot_serialize_answers_s"] = serialize_answers.median_s
    extras["tenseal_dot_rotations_per_class"] = sum_vector_rotations(work.coef.shape[1])
    harness.progress(f"  {per_class.system}: {harness.format_seconds(per_class.server.median_s)} per image")
    if slow is None:
        return [per_class]

    weights_t, bias_list = work.coef.T.tolist(), work.intercept.tolist()
    matmul = Row(f"{label}, mm (b)", "tenseal_mm", 1, keygen=keygen, encrypt=encrypt)
    matmul.server, result = harness.measure(lambda: enc_x.mm(weights_t) + bias_list, slow)
    serialize_answer, answer = harness.measure(result.serialize, repeats)
    matmul.decrypt, scores = harness.measure(lambda: np.array(ts.ckks_vector_from(context, answer).decrypt()), repeats)
    matmul.up_bytes, matmul.key_bytes, matmul.down_bytes = len(query), len(public), len(answer)
    matmul.check(scores, reference)
    extras["tenseal_mm_serialize_answer_s"] = serialize_answer.median_s
    extras["tenseal_mm_diagonals"] = work.coef.shape[1]
    extras["tenseal_mm_key_switches"] = sum(len(naf(step)) for step in range(1, work.coef.shape[1]))
    harness.progress(f"  {matmul.system}: {harness.format_seconds(matmul.server.median_s)} per image")
    return [per_class, matmul]


def sum_vector_rotations(size: int) -> int:
    """Rotations TenSEAL's ``sum_vector`` makes to sum ``size`` slots (``dot`` calls it on the product).

    It rotates by the largest power of two p <= size and recurses on the
    remaining size - p slots, then runs the ladder p/2, p/4, ..., 1.
    """
    if size <= 1:
        return 0
    power = 1 << (size.bit_length() - 1)
    rest = 0 if power == size else 1 + sum_vector_rotations(size - power)
    return rest + power.bit_length() - 1


def naf(value: int) -> list[int]:
    """The non-adjacent form of ``value`` as signed powers of two.

    SEAL rotates by a step that has no Galois key of its own as a sequence of
    rotations by these powers of two, one key switch each; TenSEAL's
    ``generate_galois_keys()`` makes keys for the powers of two only, so its
    ``mm`` (diagonal ``i`` rotated by ``i``) pays ``len(naf(i))`` key switches.
    """
    digits, power = [], 1
    while value:
        if value & 1:
            digit = 2 - (value & 3)
            digits.append(digit * power)
            value -= digit
        value >>= 1
        power <<= 1
    return digits


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def results_table(rows: Sequence[Row]) -> str:
    header = (
        "system",
        "server / image",
        "keygen",
        "encrypt / image",
        "decrypt / image",
        "up / image",
        "keys",
        "down / image",
        "max abs err",
        "argmax = sklearn",
    )
    cells = [
        [
            row.system,
            harness.format_seconds(row.per_image(row.server)),
            harness.format_seconds(None if row.keygen is None else row.keygen.median_s),
            harness.format_seconds(row.per_image(row.encrypt)),
            harness.format_seconds(row.per_image(row.decrypt)),
            harness.format_bytes(row.per_image_bytes(row.up_bytes)),
            harness.format_bytes(row.key_bytes),
            harness.format_bytes(row.per_image_bytes(row.down_bytes)),
            "n/a" if row.max_abs_error is None else f"{row.max_abs_error:.1e}",
            "n/a" if row.argmax_agree is None else f"{row.argmax_agree}/{row.images}",
        ]
        for row in rows
    ]
    return harness.markdown_table(header, cells, "lrrrrrrrrr")


def measured_values(rows: Sequence[Row]) -> dict[str, float | None]:
    """Every row's values, and heedu's worst batched time per image (the batched target reads it)."""
    measured: dict[str, float | None] = {}
    for row in rows:
        measured.update(row.measured())
    batched = [
        row.server.median_s / row.images for row in rows if row.key == "heedu_native" and row.images > 1 and row.server
    ]
    measured["heedu_native.server_per_image_worst_batch"] = max(batched) if batched else None
    return measured


def notes_text(rows: Sequence[Row], extras: dict[str, Any]) -> str:
    """What the table leaves out: cold starts, TenSEAL's serialization, base64 sizes, CPU time, correctness."""
    seconds = harness.format_seconds
    lines = [
        f"- heedu native: building the server (plan, encoding the diagonals and their companions) "
        f"{seconds(extras['heedu_native_build_s'])}; `load_keys` on a fresh server "
        f"{seconds(extras['heedu_native_load_keys_s'])}; the first `predict` of a fresh server, which parses the "
        f"keys, {seconds(extras['heedu_native_cold_predict_s'])}"
    ]
    for key in ("heedu_ei", "package"):
        row = find(rows, key)
        if row is not None and row.server is not None:
            chars = extras[f"{key}_chars"]
            lines.append(
                f"- {row.system}: first `predict` of the process {seconds(row.server.first_s)}; as base64 in JSON the "
                f"query is {chars['query_b64_chars']:,} characters and the answer {chars['answer_b64_chars']:,}"
            )
    if find(rows, "tenseal_dot") is not None:
        matmul = (
            ""
            if "tenseal_mm_serialize_answer_s" not in extras
            else (f", {seconds(extras['tenseal_mm_serialize_answer_s'])} (b)")
        )
        lines.append(
            f"- TenSEAL, left out of its server column: loading the query (`ckks_vector_from`) "
            f"{seconds(extras['tenseal_load_query_s'])}; serializing the answers "
            f"{seconds(extras['tenseal_dot_serialize_answers_s'])} (a){matmul}; and, once per client, serializing the "
            f"public context {seconds(extras['tenseal_serialize_context_s'])} and loading it on the server "
            f"{seconds(extras['tenseal_load_context_s'])}"
        )
    matmul_row = find(rows, "tenseal_mm")
    if matmul_row is not None and matmul_row.server is not None:
        lines.append(
            f"- TenSEAL `mm` runs on its thread pool ({extras['tenseal_threads']} logical CPUs here): "
            f"{seconds(matmul_row.server.median_s)} wall, {seconds(matmul_row.server.median_cpu_s)} CPU"
        )
    single = [row for row in rows if row.server is not None and row is not matmul_row]
    shares = [row.server.median_cpu_s / row.server.median_s for row in single if row.server is not None]
    lines.append(
        "- the single-threaded servers (all but TenSEAL's `mm`): CPU time / wall time "
        f"{min(shares):.2f}–{max(shares):.2f} (below 1 when other processes took the core)"
    )
    checked = [row for row in rows if row.max_abs_error is not None]
    worst = max(checked, key=lambda row: row.max_abs_error or 0.0)
    lines.append(
        f"- correctness: every path within {worst.max_abs_error:.1e} of `decision_function` (worst: {worst.system}); "
        f"argmax agrees on {sum(row.argmax_agree or 0 for row in checked)} of {sum(row.images for row in checked)} "
        "decrypted images"
    )
    return "\n".join(lines)


def breakdown_text(rows: Sequence[Row], extras: dict[str, Any]) -> str:
    """Where the server time goes: heedu's predict timed inside, SEAL's unit cost, TenSEAL's key-switch counts."""
    seconds = harness.format_seconds
    steps, total = extras["heedu_breakdown_steps"], extras["heedu_breakdown_predict_s"]
    rest = total - sum(step["median_s"] for step in steps.values())
    rotations = steps["rotate_vector"]
    small = sum(steps[name]["median_s"] for name in ("add", "add_plain", "mod_switch_to"))
    lines = [
        "## Where the server time goes",
        "",
        f"- heedu native, one ciphertext ({extras['heedu_inputs_per_ciphertext']} image slots, "
        f"{extras['heedu_key_switches_per_ciphertext']} key switches), timed inside a {seconds(total)} predict: the "
        f"{extras['heedu_baby_steps']} hoisted baby steps at the top level "
        f"{seconds(steps['rotate_vector_hoisted']['median_s'])}; {rotations['calls']} rotations at level 1 "
        f"{seconds(rotations['median_s'])} ({seconds(rotations['median_s'] / max(1, rotations['calls']))} each); "
        f"{steps['rescale_to_next']['calls']} rescales {seconds(steps['rescale_to_next']['median_s'])}; "
        f"{steps['multiply_plain']['calls']} plaintext products {seconds(steps['multiply_plain']['median_s'])}; "
        f"additions, bias and mod switch {seconds(small)}; the re-randomization (public-key encryption of zero) "
        f"{seconds(steps['encrypt']['median_s'])}; the rest (envelope, parsing the query, the key lookup by hash, "
        f"serializing the answer) {seconds(rest)}, of which the lookup takes {seconds(extras['heedu_key_lookup_s'])}",
    ]
    seal_top, seal_low = extras.get("seal_rotation_top_s"), extras.get("seal_rotation_level1_s")
    if seal_top is not None and seal_low is not None:
        lines.append(
            f"- native SEAL ({extras['seal_library']}), one rotation: {seconds(seal_top)} at the top level, "
            f"{seconds(seal_low)} at level 1"
        )
    else:
        lines.append(f"- native SEAL rotation: not measured ({extras.get('seal_library')})")
    n_classes, n_features = extras["n_classes"], extras["n_features"]
    dot = find(rows, "tenseal_dot")
    if dot is not None and dot.server is not None:
        count = n_classes * extras["tenseal_dot_rotations_per_class"]
        estimate = "" if seal_low is None else f", {seconds(count * seal_low)} at SEAL's rate"
        lines.append(
            f"- TenSEAL (a): each `dot` encodes the weights, multiplies, rescales, then `sum_vector` sums "
            f"{n_features} slots with {extras['tenseal_dot_rotations_per_class']} rotations at level 1: {count} key "
            f"switches per image{estimate}, of the {seconds(dot.server.median_s)} measured"
        )
    matmul = find(rows, "tenseal_mm")
    if matmul is not None and matmul.server is not None:
        switches = extras["tenseal_mm_key_switches"]
        estimate = "" if seal_top is None else f", {seconds(switches * seal_top)} of CPU at SEAL's rate"
        lines.append(
            f"- TenSEAL (b): `mm` walks all {n_features} diagonals of the {n_features} x {n_classes} matrix; each is "
            "encoded, multiplied, and rotated by its index at the top level. Only powers of two have keys, so SEAL "
            f"splits each rotation into its NAF: {switches} key switches{estimate}, of the "
            f"{seconds(matmul.server.median_cpu_s)} of CPU measured"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batches wants comma-separated image counts, got {text!r}") from None
    if any(size < 2 for size in sizes):
        raise argparse.ArgumentTypeError("batch sizes must be at least 2 (one image is always measured)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Measure every system and report; 1 if some decrypted scores are wrong."""
    parser = harness.argument_parser(
        __doc__.splitlines()[0],
        repeats=5,
        quick_means=f"one timed call each, batch {QUICK_BATCHES[0]}, without the EI protocol and TenSEAL's mm",
    )
    parser.add_argument(
        "--repeats-slow",
        type=int,
        default=1,
        help="timed calls of encrypted-inference's predict and TenSEAL's mm, seconds each (default 1)",
    )
    parser.add_argument(
        "--batches", type=parse_batches, default=DEFAULT_BATCHES, metavar="N,N,...", help="default 4,12,48"
    )
    harness.add_data_option(parser)
    parser.add_argument("--no-package", action="store_true", help=f"skip {PACKAGE}")
    parser.add_argument("--no-tenseal", action="store_true", help="skip TenSEAL")
    args = parser.parse_args(argv)
    if args.repeats_slow < 1:
        parser.error("--repeats-slow must be at least 1")
    repeats, slow = (1, 1) if args.quick else (args.repeats, args.repeats_slow)
    batches = QUICK_BATCHES if args.quick else args.batches

    report = harness.Report(
        "inference", "Encrypted MNIST classifier: heedu, native SEAL, TenSEAL, the package", repeats
    )
    work = harness.load_workload(harness.data_directory(args.data), max((1, *batches)))
    report.sources += work.sources
    report.sources.append(f"encrypted-inference's predict and TenSEAL's mm: median of {slow} timed call(s).")
    extras: dict[str, Any] = {"n_classes": work.coef.shape[0], "n_features": work.coef.shape[1]}
    skipped: list[str] = []

    harness.progress("heedu native ...")
    rows = measure_heedu_native(work, batches, repeats, extras)
    seal = native_seal.seal_python()
    if isinstance(seal, str):
        skipped.append(f"native SEAL's slot algorithm: {seal}")
    else:
        harness.progress("native SEAL, the same slot algorithm ...")
        rows += measure_seal_packed(seal, work, batches, repeats)
    if args.quick:
        skipped.append("the EI protocol (heedu's and the package's): --quick")
    else:
        harness.progress("heedu EI-compatible ...")
        row, extras["heedu_ei_chars"] = measure_ei(
            "heedu EI-compatible, 1 image", "heedu_ei", HeeduEIClient, HeeduEIServer, work, repeats, repeats
        )
        rows.append(row)
        loaded = "skipped (--no-package)" if args.no_package else load_package()
        if isinstance(loaded, str):
            skipped.append(f"{PACKAGE}: {loaded}")
        else:
            harness.progress(f"{PACKAGE} (about 7 s per predict) ...")
            label = f"{PACKAGE} {harness.installed_version(PACKAGE)} (SEAL 3.5), 1 image"
            row, extras["package_chars"] = measure_ei(label, "package", *loaded, work, repeats, slow)
            rows.append(row)
    tenseal = "skipped (--no-tenseal)" if args.no_tenseal else load_tenseal()
    if isinstance(tenseal, str):
        skipped.append(f"TenSEAL: {tenseal}")
    else:
        harness.progress("TenSEAL ...")
        rows += measure_tenseal(tenseal, work, repeats, None if args.quick else slow, extras)
        if args.quick:
            skipped.append("TenSEAL's mm: --quick")
    harness.progress("native SEAL rotations ...")
    try:
        session = native_seal.load_session()
        rotations = native_seal.measure_rotations(1 if args.quick else ROTATION_REPEATS, session)
        extras.update(
            seal_library=session.library,
            seal_rotation_top_s=rotations["rotate"].runs.median_s,
            seal_rotation_level1_s=rotations["rotate_level1"].runs.median_s,
        )
    except ImportError as error:
        extras["seal_library"] = str(error)

    report.sections += [results_table(rows), notes_text(rows, extras), breakdown_text(rows, extras)]
    if skipped:
        report.sections.append("Not measured in this run: " + "; ".join(skipped) + ".")
    report.data.update(batches=list(batches), rows=[row.as_json() for row in rows], extras=extras, skipped=skipped)
    report.check(measured_values(rows))
    report.finish()
    report.write(args.markdown, args.json)
    wrong = [row.system for row in rows if row.max_abs_error is None or not row.max_abs_error < TOLERANCE]
    if wrong:
        harness.progress(f"decrypted scores off by more than {TOLERANCE}: {', '.join(wrong)}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
