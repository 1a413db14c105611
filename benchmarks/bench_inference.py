"""The encrypted MNIST classifier end to end: heedu's two protocols next to SEAL, TenSEAL, the package, Concrete ML.

Every system evaluates the same linear model (the workload's: the Azure ML
tutorial's 10 x 784 ``LogisticRegression``) on the same MNIST test images, one
after the other in one process, in **interleaved rounds** (:class:`harness.Rounds`):
every measurement is called once per round, so a slow spell of the shared
machine touches every system of a ratio alike.

* **heedu coefficients**, the default protocol (:mod:`heedu.inference.coefficients`):
  ``EncryptedLinearModel.from_sklearn(model)`` and ``InferenceClient(server.plan)``
  at its own default parameters (N = 4096, primes of 54 and 55 bits, no special
  prime: no evaluation keys, the public key is the only key). One image, then
  batches (``--batches``, default 48, 1,024 and 10,000; the 10,000-image batch,
  the whole MNIST test set, runs only on MNIST). A new batch size may need a new
  layout, whose weights the server encodes once: that cold cost is timed apart
  (``server.encoded_weights(plan.layout(K))``) before any round.
* **heedu slots**, the slot protocol (:mod:`heedu.inference.slots`):
  ``SlotLinearModel`` and ``SlotClient``. One image, then batches
  (``--slot-batches``, default 4, 12 and 48). The plan interleaves 4 images in
  one ciphertext; the server answers each ciphertext with one ciphertext at
  level 0 holding all their scores, re-randomized by a fresh public-key
  encryption of zero.
* **native SEAL 4.4, the same slot algorithm** (:class:`native_seal.PackedServer`,
  seal-python): the slot plan's layout, diagonals, rotation schedule, bias,
  switch to level 0 and re-randomization, computed by SEAL. The compiled
  reference for both protocols, on the same images and slot batches.
* **heedu EI-compatible** (:mod:`heedu.inference.ei`), one image.
* **encrypted-inference 0.9 as shipped** (SEAL 3.5 behind ctypes), one image,
  in ``--repeats-slow`` of the rounds (seconds a call).
* **TenSEAL 0.3.18, as its users write it**: ``ts.context(CKKS, 8192,
  coeff_mod_bit_sizes=[60, 40, 40, 60])``, ``global_scale = 2**40``,
  ``generate_galois_keys()``, ``enc_x = ts.ckks_vector(ctx, x)``, then (a)
  ``enc_x.dot(w_c) + b_c`` per class, or (b) ``enc_x.mm(W.T) + b``, the idiom of
  its tutorials (``--repeats-slow``: seconds a call). The server computes with
  the context the client serialized without its secret key.
* **Concrete ML 1.9** (Zama, TFHE), one image, when an interpreter with it is
  given (:mod:`concrete_ml`: ``--concrete-python`` or ``$HEEDU_CONCRETE_PYTHON``;
  it pins its own NumPy and scikit-learn, so it runs in a worker process of
  its own virtual environment, timed there, in the same rounds). Without one,
  the report says why it was skipped.

Every slot-based system runs at the tutorial's parameters (N = 8192, [60, 40,
40, 60], scale 2^40); each system is at 128-bit security.

Columns, per system:

* **server**: the server's work per image. heedu: ``predict(query, keys)``,
  bytes in, bytes out, keys already parsed (the servers keep them by hash; a
  fresh server's first call is reported under the table). Native SEAL: query
  bytes to answer bytes, keys as objects. The package: ``predict``, which hands
  its key blob to the native library again for every class. TenSEAL: the
  ``dot``/``mm`` and the bias on a loaded vector; loading the query and
  serializing the answers are reported under the table. Concrete ML:
  ``FHEModelServer.run(query, evaluation_keys)``, bytes to bytes.
* **keygen**: a new client and everything it sends once (heedu coefficients:
  ``InferenceClient(plan)`` + ``public_keys()``; heedu slots: ``SlotClient(plan)``
  + ``public_keys()``; native SEAL: the public key and the plan's Galois keys;
  EI: constructor + ``get_public_keys()``; TenSEAL: ``ts.context`` +
  ``generate_galois_keys()``; Concrete ML: ``FHEModelClient`` +
  ``generate_private_and_evaluation_keys`` + ``get_serialized_evaluation_keys``).
* **encrypt / decrypt**: inputs to the bytes sent, bytes received to scores.
* **up / keys / down**: binary sizes of the query, the keys and the answer (the
  EI protocol sends base64 in JSON, 4/3 of that). For batches, times and
  query/answer sizes are per image.
* **max abs err / argmax**: decrypted scores against the model's own
  ``decision_function`` (Concrete ML's 8-bit quantized scores, before its softmax).

Under the table: the cold costs, where heedu's single-image slot ``predict``
spends its time (its Evaluator and Encryptor calls are wrapped by timers for a
few extra calls), SEAL 4.4's rotation at both levels (the unit cost of the
compiled slot servers), and the key switches TenSEAL performs, counted from its
algorithms. ``benchmarks/profile_coefficients.py`` profiles the coefficient
server.

Run ``python benchmarks/bench_inference.py [--repeats N] [--repeats-slow N]
[--batches 48,1024,10000] [--slot-batches 4,12,48] [--quick] [--data DIR]
[--concrete-python PATH] [--markdown PATH] [--json PATH] [--no-package]
[--no-tenseal] [--no-concrete]``. The package's native library aborts the
process on malformed input, so it only ever gets its own client's objects.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import heedu
from heedu.inference import EILinearRegressionClient as HeeduEIClient
from heedu.inference import EIServer as HeeduEIServer
from heedu.inference import EncryptedLinearModel, InferenceClient, PackingPlan, SlotClient, SlotLinearModel
from heedu.tools.crosscheck import PACKAGE, load_package

try:  # imported as part of the package: python -m benchmarks.bench_inference
    from benchmarks import concrete_ml, harness, native_seal
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import concrete_ml  # type: ignore[no-redef]
    import harness  # type: ignore[no-redef]
    import native_seal  # type: ignore[no-redef]

PARAMETERS = harness.TUTORIAL
DEFAULT_BATCHES = (48, 1024, 10_000)
DEFAULT_SLOT_BATCHES = (4, 12, 48)
QUICK_BATCHES = (8,)
#: Batches above this many images run on the MNIST test set only, never on random stand-ins.
RANDOM_BATCH_LIMIT = 1024
#: Batches from this many images on are timed in --repeats-slow rounds only (seconds a call, the client's encrypt).
SLOW_BATCH = 5000
#: Images Concrete ML calibrates its 8-bit quantization on (the first of the workload's).
CONCRETE_CALIBRATION = 1000
TENSEAL_PIN = "tenseal==0.3.18"
#: Decrypted scores must match decision_function this closely (observed: about 1e-6).
TOLERANCE = 1e-3
#: Timed calls of native SEAL's single rotations (about a millisecond each).
ROTATION_REPEATS = 10
#: Systems that run on more than one thread (their CPU time is reported apart).
THREADED = ("tenseal_mm", "concrete_ml")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One system on one workload: times of whole calls, sizes of whole messages, accuracy.

    ``key`` names the system in the measured values the targets read
    (``heedu_coefficients.server_1``, ``package.key_bytes`` ...). The timings are
    :class:`harness.Runs` that :meth:`harness.Rounds.run` fills. ``tolerance``
    is how close the decrypted scores must be to ``decision_function`` (None:
    reported only, for a quantized system).
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
    tolerance: float | None = TOLERANCE

    def per_image(self, runs: harness.Runs | None) -> float | None:
        return None if runs is None or not runs.wall_s else runs.median_s / self.images

    def per_image_bytes(self, count: int | None) -> float | None:
        return None if count is None else count / self.images

    def check(self, scores: np.ndarray, reference: np.ndarray) -> None:
        scores = np.atleast_2d(scores)
        self.max_abs_error = float(np.max(np.abs(scores - reference)))
        self.argmax_agree = int(np.sum(np.argmax(scores, axis=1) == np.argmax(reference, axis=1)))

    @property
    def wrong(self) -> bool:
        """No scores, or scores further from ``decision_function`` than the tolerance."""
        if self.max_abs_error is None:
            return True
        return self.tolerance is not None and not self.max_abs_error < self.tolerance

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


def batch_label(name: str, count: int) -> str:
    return f"{name}, 1 image" if count == 1 else f"{name}, batch of {count:,}"


# --------------------------------------------------------------------------------------
# heedu coefficients, the default protocol
# --------------------------------------------------------------------------------------


def measure_heedu_coefficients(
    work: harness.Workload, batches: Sequence[int], rounds: harness.Rounds, extras: dict[str, Any]
) -> list[Row]:
    """One image and each batch size, with one client and one server; cold costs timed apart."""

    def new_server() -> EncryptedLinearModel:
        return EncryptedLinearModel.from_sklearn(work.model)

    extras["heedu_coefficients_build"], server = rounds.add_call(new_server)
    plan = server.plan
    extras["heedu_coefficients_plan"] = plan.describe(1)

    def new_client() -> tuple[InferenceClient, bytes]:
        client = InferenceClient(plan)
        return client, client.public_keys()

    keygen, (client, keys) = rounds.add_call(new_client)
    extras["heedu_coefficients_load_keys"], _ = rounds.add(lambda fresh: fresh.load_keys(keys), new_server)
    layouts: dict[str, dict[str, Any]] = {}  # by batch size: the layout, and the cold cost of its weights
    extras["heedu_coefficients_layouts"] = layouts
    first_with: dict[tuple[int, int], int] = {}  # the first batch size of each distinct layout
    rows = []
    for count in (1, *batches):
        x = batch_inputs(work, count)
        layout = plan.layout(count)
        block = (layout.outputs_per_block, layout.features_per_chunk)
        sample, _ = harness.time_call(lambda layout=layout: server.encoded_weights(layout))
        layouts[str(count)] = {
            "layout": layout.describe(count).splitlines()[:2],
            "encode_weights_s": sample.wall_s,
            "same_layout_as": first_with.get(block),  # encoded for an earlier batch size: cached
        }
        first_with.setdefault(block, count)
        slow = count >= SLOW_BATCH
        label = batch_label("heedu coefficients", count)
        row = Row(label, "heedu_coefficients", count, keygen=keygen, key_bytes=len(keys))
        row.encrypt, query = rounds.add_call(lambda x=x: client.encrypt(x), slow=slow)
        if count == 1:  # the first predict of a fresh server: it parses the keys and encodes the weights
            sample, _ = harness.time_call(lambda query=query: new_server().predict(query, keys))
            extras["heedu_coefficients_cold_predict_s"] = sample.wall_s
        row.server, answer = rounds.add_call(lambda query=query: server.predict(query, keys), slow=slow)
        row.decrypt, scores = rounds.add_call(lambda answer=answer: client.decrypt(answer), slow=slow)
        row.up_bytes, row.down_bytes = len(query), len(answer)
        row.check(scores, work.scores(x))
        rows.append(row)
        harness.progress(f"  {label}: first call {harness.format_seconds(row.server.first_s)}")
    return rows


# --------------------------------------------------------------------------------------
# heedu slots
# --------------------------------------------------------------------------------------


def measure_heedu_slots(
    work: harness.Workload, batches: Sequence[int], rounds: harness.Rounds, extras: dict[str, Any]
) -> tuple[list[Row], SlotLinearModel, bytes, bytes]:
    """One image and each slot batch, with one client and one server; also what the breakdown needs."""

    def new_server() -> SlotLinearModel:
        return SlotLinearModel(work.model, PARAMETERS.heedu())

    extras["heedu_slots_build"], server = rounds.add_call(new_server)
    extras["heedu_slots_plan"] = server.plan.describe()

    def new_client() -> tuple[SlotClient, bytes]:
        client = SlotClient(server.plan)
        return client, client.public_keys()

    keygen, (client, keys) = rounds.add_call(new_client)
    extras["heedu_slots_load_keys"], _ = rounds.add(lambda fresh: fresh.load_keys(keys), new_server)

    rows, single_query = [], b""
    for count in (1, *batches):
        x = batch_inputs(work, count)
        label = batch_label("heedu slots", count)
        row = Row(label, "heedu_slots", count, keygen=keygen, key_bytes=len(keys))
        row.encrypt, query = rounds.add_call(lambda x=x: client.encrypt(x))
        if count == 1:  # the first predict of a fresh server: it parses the keys
            single_query = query
            sample, _ = harness.time_call(lambda query=query: new_server().predict(query, keys))
            extras["heedu_slots_cold_predict_s"] = sample.wall_s
        row.server, answer = rounds.add_call(lambda query=query: server.predict(query, keys))
        row.decrypt, scores = rounds.add_call(lambda answer=answer: client.decrypt(answer))
        row.up_bytes, row.down_bytes = len(query), len(answer)
        row.check(scores, work.scores(x))
        rows.append(row)
        harness.progress(f"  {label}: first call {harness.format_seconds(row.server.first_s)}")
    return rows, server, single_query, keys


#: The calls a slot predict makes, timed inside it by :func:`slots_breakdown`: (class, method).
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


def slots_breakdown(server: SlotLinearModel, query: bytes, keys: bytes, repeats: int) -> dict[str, Any]:
    """Where a single-image slot ``predict`` spends its time, timed inside it (after the rounds, back to back).

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
        "slots_breakdown_predict_s": total.median_s,
        "slots_breakdown_steps": {
            name: {"calls": counts[name], "median_s": statistics.median(per_predict[name])} for name in calls
        },
        "slots_key_lookup_s": lookup.median_s,
        "slots_baby_steps": len(packing.baby_rotations),
        "slots_key_switches_per_ciphertext": packing.key_switches,
        "slots_inputs_per_ciphertext": packing.inputs_per_ciphertext,
    }


# --------------------------------------------------------------------------------------
# Native SEAL, the same slot algorithm
# --------------------------------------------------------------------------------------


def measure_seal_packed(
    seal: ModuleType, work: harness.Workload, batches: Sequence[int], rounds: harness.Rounds
) -> list[Row]:
    """heedu's slot protocol computed by native SEAL (:mod:`native_seal`), on the same images and slot batches.

    The layout is the library's own (:meth:`PackingPlan.for_model`, as ``SlotLinearModel`` plans it).
    """
    plan = PackingPlan.for_model(work.model.n_features, work.model.n_outputs, PARAMETERS.slots)
    name = f"native SEAL {harness.installed_version('seal-python')}, same slot algorithm"
    keygen, client = rounds.add_call(lambda: native_seal.PackedClient(seal, plan))
    server = native_seal.PackedServer(client, work.coef, work.intercept)
    rows = []
    for count in (1, *batches):
        x = batch_inputs(work, count)
        label = batch_label(name, count)
        row = Row(label, "seal_packed", count, keygen=keygen, key_bytes=client.key_bytes)
        row.encrypt, query = rounds.add_call(lambda x=x: client.encrypt(x))
        row.server, answer = rounds.add_call(lambda query=query: server.predict(query))
        row.decrypt, scores = rounds.add_call(lambda a=answer, n=count: client.decrypt(a, n))
        row.up_bytes = sum(len(blob) for group in query for blob in group)
        row.down_bytes = sum(len(blob) for blob in answer)
        row.check(scores, work.scores(x))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# The EI protocol: heedu's compatible side and the package
# --------------------------------------------------------------------------------------


def b64_decoded_bytes(strings: Sequence[str]) -> int:
    """Binary size of a list of base64 ciphertexts (the EI protocol's JSON strings)."""
    return sum(len(base64.b64decode(s)) for s in strings)


def measure_ei(
    label: str, key: str, client_class: Any, server_class: Any, work: harness.Workload, rounds: harness.Rounds,
    slow: bool,
) -> tuple[Row, dict[str, int]]:
    """One image through an EI client and server of the same implementation (``slow``: its predict takes seconds)."""
    x = work.images[0]
    row = Row(label, key, 1)

    def new_client() -> tuple[Any, bytes]:
        client = client_class()
        return client, client.get_public_keys()[1]

    row.keygen, (client, blob) = rounds.add_call(new_client)
    row.encrypt, query = rounds.add_call(lambda: client.encrypt(x))
    server = server_class(work.coef, work.intercept)
    row.server, answer = rounds.add_call(lambda: server.predict(query, blob), slow=slow)
    row.decrypt, scores = rounds.add_call(lambda: client.decrypt(answer))
    row.up_bytes, row.key_bytes, row.down_bytes = b64_decoded_bytes(query), len(blob), b64_decoded_bytes(answer)
    row.check(scores, work.scores(x))
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
    ts: ModuleType, work: harness.Workload, rounds: harness.Rounds, with_mm: bool, extras: dict[str, Any]
) -> list[Row]:
    """(a) a dot product per class and, if ``with_mm``, (b) ``mm``, each with its bias, on one image."""
    x = work.images[0]
    reference = work.scores(x)
    label = f"TenSEAL {ts.__version__}"
    keygen, context = rounds.add_call(lambda: tenseal_context(ts))
    extras["tenseal_serialize_context"], public = rounds.add_call(lambda: context.serialize(save_secret_key=False))
    extras["tenseal_load_context"], server_context = rounds.add_call(lambda: ts.context_from(public))
    encrypt, query = rounds.add_call(lambda: ts.ckks_vector(context, x.tolist()).serialize())
    extras["tenseal_load_query"], enc_x = rounds.add_call(lambda: ts.ckks_vector_from(server_context, query))
    extras["tenseal_threads"] = os.cpu_count()
    # The model as TenSEAL's tutorials keep it: Python lists, made once.
    weights, biases = [row.tolist() for row in work.coef], [float(b) for b in work.intercept]

    per_class = Row(f"{label}, dot per class (a)", "tenseal_dot", 1, keygen=keygen, encrypt=encrypt)
    per_class.server, results = rounds.add_call(lambda: [enc_x.dot(w) + b for w, b in zip(weights, biases)])
    extras["tenseal_dot_serialize_answers"], answers = rounds.add_call(lambda: [r.serialize() for r in results])
    per_class.decrypt, scores = rounds.add_call(
        lambda: np.array([ts.ckks_vector_from(context, blob).decrypt()[0] for blob in answers])
    )
    per_class.up_bytes, per_class.key_bytes, per_class.down_bytes = len(query), len(public), sum(map(len, answers))
    per_class.check(scores, reference)
    extras["tenseal_dot_rotations_per_class"] = sum_vector_rotations(work.coef.shape[1])
    if not with_mm:
        return [per_class]

    weights_t, bias_list = work.coef.T.tolist(), work.intercept.tolist()
    matmul = Row(f"{label}, mm (b)", "tenseal_mm", 1, keygen=keygen, encrypt=encrypt)
    matmul.server, result = rounds.add_call(lambda: enc_x.mm(weights_t) + bias_list, slow=True)
    extras["tenseal_mm_serialize_answer"], answer = rounds.add_call(result.serialize)
    matmul.decrypt, scores = rounds.add_call(lambda: np.array(ts.ckks_vector_from(context, answer).decrypt()))
    matmul.up_bytes, matmul.key_bytes, matmul.down_bytes = len(query), len(public), len(answer)
    matmul.check(scores, reference)
    extras["tenseal_mm_diagonals"] = work.coef.shape[1]
    extras["tenseal_mm_key_switches"] = sum(len(naf(step)) for step in range(1, work.coef.shape[1]))
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
# Concrete ML
# --------------------------------------------------------------------------------------


def measure_concrete(
    worker: concrete_ml.ConcreteWorker, work: harness.Workload, rounds: harness.Rounds, extras: dict[str, Any]
) -> Row:
    """One image through Concrete ML's deployment API, each call timed in the worker process."""

    def remote(op: str) -> Callable[[Any], tuple[harness.Sample, dict[str, Any]]]:
        def call(_: Any) -> tuple[harness.Sample, dict[str, Any]]:
            wall, cpu, reply = worker.timed(op)
            return harness.Sample(wall, cpu), reply

        return call

    setup = worker.setup
    versions = setup["versions"]
    extras["concrete_setup"] = setup
    row = Row(f"Concrete ML {versions['concrete-ml']} (TFHE, {concrete_ml.N_BITS}-bit), 1 image", "concrete_ml", 1)
    row.tolerance = None  # quantized: its error is reported, not held to heedu's tolerance
    row.keygen, reply = rounds.add(remote("keygen"), external=True)
    row.key_bytes = reply["bytes"]
    row.encrypt, reply = rounds.add(remote("encrypt"), external=True)
    row.up_bytes = reply["bytes"]
    row.server, reply = rounds.add(remote("server"), external=True)
    row.down_bytes = reply["bytes"]
    row.decrypt, reply = rounds.add(remote("decrypt"), external=True)
    row.check(np.array(reply["scores"]), work.scores(work.images[0]))
    return row


def start_concrete(python: str, work: harness.Workload, folder: Path) -> concrete_ml.ConcreteWorker | str:
    """The Concrete ML worker, given the model, the first image and the calibration images; or why not."""
    calibration = work.images[:CONCRETE_CALIBRATION]
    return concrete_ml.ConcreteWorker.start(python, folder, work.coef, work.intercept, calibration, work.images[:1])


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def median_s(value: harness.Runs | float | None) -> float | None:
    """A measurement's median wall time (a Runs from the rounds), or a single time as it is."""
    if isinstance(value, harness.Runs):
        return value.median_s if value.wall_s else None
    return value


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
            harness.format_seconds(median_s(row.keygen)),
            harness.format_seconds(row.per_image(row.encrypt)),
            harness.format_seconds(row.per_image(row.decrypt)),
            harness.format_bytes(row.per_image_bytes(row.up_bytes)),
            harness.format_bytes(row.key_bytes),
            harness.format_bytes(row.per_image_bytes(row.down_bytes)),
            "n/a" if row.max_abs_error is None else f"{row.max_abs_error:.1e}",
            "n/a" if row.argmax_agree is None else f"{row.argmax_agree:,}/{row.images:,}",
        ]
        for row in rows
    ]
    return harness.markdown_table(header, cells, "lrrrrrrrrr")


def ratios_table(rows: Sequence[Row]) -> str:
    """Every other system's single image next to heedu coefficients' (one image, and per image in its batches)."""
    single = find(rows, "heedu_coefficients")
    if single is None or single.server is None:
        return ""
    batched = [row for row in rows if row.key == "heedu_coefficients" and row.images > 1 and row.server]
    header = ("system, 1 image", "server", "÷ coefficients, 1 image", *(f"÷ coefficients per image, batch of "
                                                                         f"{row.images:,}" for row in batched))
    cells = []
    for row in rows:
        if row.images != 1 or row.key == "heedu_coefficients" or row.server is None:
            continue
        time_1 = row.per_image(row.server) or 0.0
        ratios = [time_1 / (other.per_image(other.server) or 1.0) for other in (single, *batched)]
        cells.append([row.system.removesuffix(", 1 image"), harness.format_seconds(time_1),
                      *(f"{ratio:,.1f}x" for ratio in ratios)])
    text = "How many times heedu coefficients' server time each system's single image takes (same run):"
    return text + "\n\n" + harness.markdown_table(header, cells, "lr" + "r" * (1 + len(batched)))


def measured_values(rows: Sequence[Row]) -> dict[str, float | None]:
    """Every row's values, and heedu slots' worst batched time per image (the batched slot target reads it)."""
    measured: dict[str, float | None] = {}
    for row in rows:
        measured.update(row.measured())
    batched = [
        row.server.median_s / row.images for row in rows if row.key == "heedu_slots" and row.images > 1 and row.server
    ]
    measured["heedu_slots.server_per_image_worst_batch"] = max(batched) if batched else None
    return measured


def notes_text(rows: Sequence[Row], extras: dict[str, Any]) -> str:
    """What the table leaves out: cold starts, TenSEAL's serialization, base64 sizes, CPU time, correctness."""
    seconds = harness.format_seconds
    encodings = []
    for count, item in extras["heedu_coefficients_layouts"].items():
        same = item["same_layout_as"]
        where = f" (the layout of the batch of {same:,}: cached)" if same else ""
        encodings.append(f"{int(count):,} image(s) {seconds(item['encode_weights_s'])}{where}")
    lines = [
        f"- heedu coefficients, cold costs (not in the table): building the server (plan, scales) "
        f"{seconds(median_s(extras['heedu_coefficients_build']))}; `load_keys` on a fresh server "
        f"{seconds(median_s(extras['heedu_coefficients_load_keys']))}; encoding the weights of a new batch size's "
        f"layout, once per layout (`server.encoded_weights(plan.layout(K))`): {'; '.join(encodings)}; the first "
        f"`predict` of a fresh server (keys parsed, weights encoded) "
        f"{seconds(extras['heedu_coefficients_cold_predict_s'])}",
        f"- heedu slots: building the server (plan, encoding the diagonals and their companions) "
        f"{seconds(median_s(extras['heedu_slots_build']))}; `load_keys` on a fresh server "
        f"{seconds(median_s(extras['heedu_slots_load_keys']))}; the first `predict` of a fresh server, which parses "
        f"the keys, {seconds(extras['heedu_slots_cold_predict_s'])}",
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
            if "tenseal_mm_serialize_answer" not in extras
            else (f", {seconds(median_s(extras['tenseal_mm_serialize_answer']))} (b)")
        )
        lines.append(
            f"- TenSEAL, left out of its server column: loading the query (`ckks_vector_from`) "
            f"{seconds(median_s(extras['tenseal_load_query']))}; serializing the answers "
            f"{seconds(median_s(extras['tenseal_dot_serialize_answers']))} (a){matmul}; and, once per client, "
            f"serializing the public context {seconds(median_s(extras['tenseal_serialize_context']))} and loading it "
            f"on the server {seconds(median_s(extras['tenseal_load_context']))}"
        )
    if "concrete_setup" in extras:
        setup = extras["concrete_setup"]
        versions = ", ".join(f"{name} {version}" for name, version in setup["versions"].items())
        lines.append(
            f"- Concrete ML, in its own interpreter ({setup['python']}: {versions}): converting the scikit-learn model "
            f"({concrete_ml.N_BITS} bits, calibrated on {min(CONCRETE_CALIBRATION, extras['n_images']):,} images) "
            f"{seconds(setup['convert_s'])}, compiling {seconds(setup['compile_s'])}; its scores are 8-bit quantized "
            "(the error column), so they are held to no 1e-3 tolerance"
        )
    for row in rows:
        if row.key in THREADED and row.server is not None:
            lines.append(
                f"- {row.system} ran on up to {extras['logical_cpus']} threads: {seconds(row.server.median_s)} wall, "
                f"{seconds(row.server.median_cpu_s)} CPU"
            )
    single = [row for row in rows if row.server is not None and row.server.wall_s and row.key not in THREADED]
    shares = [row.server.median_cpu_s / row.server.median_s for row in single if row.server is not None]
    if shares:
        lines.append(
            "- the single-threaded servers: CPU time / wall time "
            f"{min(shares):.2f}–{max(shares):.2f} (below 1 when other processes took the core)"
        )
    checked = [row for row in rows if row.max_abs_error is not None and row.tolerance is not None]
    if checked:
        worst = max(checked, key=lambda row: row.max_abs_error or 0.0)
        lines.append(
            f"- correctness: every unquantized path within {worst.max_abs_error:.1e} of `decision_function` (worst: "
            f"{worst.system}); argmax agrees on {sum(row.argmax_agree or 0 for row in checked):,} of "
            f"{sum(row.images for row in checked):,} decrypted images"
        )
    return "\n".join(lines)


def breakdown_text(rows: Sequence[Row], extras: dict[str, Any]) -> str:
    """Where the server time goes: heedu slots' predict timed inside, SEAL's unit cost, TenSEAL's key-switch counts."""
    seconds = harness.format_seconds
    lines = ["## Where the slot servers' time goes", ""]
    if "slots_breakdown_steps" in extras:
        steps, total = extras["slots_breakdown_steps"], extras["slots_breakdown_predict_s"]
        rest = total - sum(step["median_s"] for step in steps.values())
        rotations = steps["rotate_vector"]
        small = sum(steps[name]["median_s"] for name in ("add", "add_plain", "mod_switch_to"))
        lines.append(
            f"- heedu slots, one ciphertext ({extras['slots_inputs_per_ciphertext']} image slots, "
            f"{extras['slots_key_switches_per_ciphertext']} key switches), timed inside a {seconds(total)} predict: "
            f"the {extras['slots_baby_steps']} hoisted baby steps at the top level "
            f"{seconds(steps['rotate_vector_hoisted']['median_s'])}; {rotations['calls']} rotations at level 1 "
            f"{seconds(rotations['median_s'])} ({seconds(rotations['median_s'] / max(1, rotations['calls']))} each); "
            f"{steps['rescale_to_next']['calls']} rescales {seconds(steps['rescale_to_next']['median_s'])}; "
            f"{steps['multiply_plain']['calls']} plaintext products {seconds(steps['multiply_plain']['median_s'])}; "
            f"additions, bias and mod switch {seconds(small)}; the re-randomization (public-key encryption of zero) "
            f"{seconds(steps['encrypt']['median_s'])}; the rest (envelope, parsing the query, the key lookup by "
            f"hash, serializing the answer) {seconds(rest)}, of which the lookup takes "
            f"{seconds(extras['slots_key_lookup_s'])}"
        )
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


def plans_text(extras: dict[str, Any]) -> str:
    """The two heedu plans in words, and each coefficient batch's layout."""
    lines = ["## The plans", "", "heedu coefficients (the default protocol), as `plan.describe(1)` puts it:", "",
             "```text", extras["heedu_coefficients_plan"], "```", ""]
    for count, item in extras["heedu_coefficients_layouts"].items():
        if int(count) > 1:
            lines.append(f"- {int(count):,} images: " + "; ".join(part.strip() for part in item["layout"]))
    lines += ["", "heedu slots (`SlotPlan.describe()`), and native SEAL on the same layout:", "", "```text",
              extras["heedu_slots_plan"], "```"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace("_", "").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants comma-separated image counts, got {text!r}") from None
    if any(size < 2 for size in sizes):
        raise argparse.ArgumentTypeError("batch sizes must be at least 2 (one image is always measured)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Measure every system in interleaved rounds and report; 1 if some decrypted scores are wrong."""
    parser = harness.argument_parser(
        __doc__.splitlines()[0],
        repeats=5,
        quick_means=f"one round, batches of {QUICK_BATCHES[0]}, without the EI protocol and TenSEAL's mm",
    )
    parser.add_argument(
        "--repeats-slow",
        type=int,
        default=2,
        help="rounds that time the calls of seconds each: the package's predict, TenSEAL's mm, heedu's batch of "
        f"{SLOW_BATCH:,} images or more (default 2)",
    )
    parser.add_argument(
        "--batches",
        type=parse_batches,
        default=DEFAULT_BATCHES,
        metavar="N,N,...",
        help="heedu coefficients' batches (default 48,1024,10000; above 1024 on MNIST only)",
    )
    parser.add_argument(
        "--slot-batches",
        type=parse_batches,
        default=DEFAULT_SLOT_BATCHES,
        metavar="N,N,...",
        help="heedu slots' and native SEAL's batches (default 4,12,48)",
    )
    harness.add_data_option(parser)
    parser.add_argument(
        "--concrete-python",
        metavar="PATH",
        help=f"an interpreter with {concrete_ml.CONCRETE_PIN} (default ${concrete_ml.PYTHON_ENV}, else this one)",
    )
    parser.add_argument("--no-package", action="store_true", help=f"skip {PACKAGE}")
    parser.add_argument("--no-tenseal", action="store_true", help="skip TenSEAL")
    parser.add_argument("--no-concrete", action="store_true", help="skip Concrete ML")
    args = parser.parse_args(argv)
    if args.repeats_slow < 1:
        parser.error("--repeats-slow must be at least 1")
    repeats, slow = (1, 1) if args.quick else (args.repeats, args.repeats_slow)
    batches = QUICK_BATCHES if args.quick else args.batches
    slot_batches = QUICK_BATCHES if args.quick else args.slot_batches

    report = harness.Report(
        "inference",
        "Encrypted MNIST classifier: heedu coefficients and slots, native SEAL, TenSEAL, the package, Concrete ML",
        repeats,
    )
    skipped: list[str] = []
    work = harness.load_workload(harness.data_directory(args.data), max((1, *batches, *slot_batches)))
    if not work.images_from_mnist:
        large = [count for count in batches if count > RANDOM_BATCH_LIMIT]
        if large:
            batches = tuple(count for count in batches if count <= RANDOM_BATCH_LIMIT)
            skipped.append(
                f"heedu coefficients on {', '.join(f'{count:,}' for count in large)} images: batches above "
                f"{RANDOM_BATCH_LIMIT:,} run on the MNIST test set only, and it was not found ({work.image_source})"
            )
    report.sources += work.sources
    extras: dict[str, Any] = {
        "n_classes": work.coef.shape[0],
        "n_features": work.coef.shape[1],
        "n_images": work.images.shape[0],
        "logical_cpus": os.cpu_count(),
    }
    rounds = harness.Rounds(repeats, slow)

    harness.progress("heedu coefficients (first calls; cold costs) ...")
    rows = measure_heedu_coefficients(work, batches, rounds, extras)
    report.sources.append(
        f"heedu coefficients at its default parameters ({extras['heedu_coefficients_plan'].splitlines()[0]}); "
        f"every other system at the tutorial's. {repeats} interleaved round(s); the package's predict, TenSEAL's mm "
        f"and batches of {SLOW_BATCH:,} images or more are timed in {slow} of them, spread over the run."
    )
    harness.progress("heedu slots ...")
    slot_rows, slot_server, slot_query, slot_keys = measure_heedu_slots(work, slot_batches, rounds, extras)
    rows += slot_rows
    seal = native_seal.seal_python()
    if isinstance(seal, str):
        skipped.append(f"native SEAL's slot algorithm: {seal}")
    else:
        harness.progress("native SEAL, the same slot algorithm ...")
        rows += measure_seal_packed(seal, work, slot_batches, rounds)
    if args.quick:
        skipped.append("the EI protocol (heedu's and the package's): --quick")
    else:
        harness.progress("heedu EI-compatible ...")
        row, extras["heedu_ei_chars"] = measure_ei(
            "heedu EI-compatible, 1 image", "heedu_ei", HeeduEIClient, HeeduEIServer, work, rounds, slow=False
        )
        rows.append(row)
        loaded = "skipped (--no-package)" if args.no_package else load_package()
        if isinstance(loaded, str):
            skipped.append(f"{PACKAGE}: {loaded}")
        else:
            harness.progress(f"{PACKAGE} (seconds per predict) ...")
            label = f"{PACKAGE} {harness.installed_version(PACKAGE)} (SEAL 3.5), 1 image"
            row, extras["package_chars"] = measure_ei(label, "package", *loaded, work, rounds, slow=True)
            rows.append(row)
    tenseal = "skipped (--no-tenseal)" if args.no_tenseal else load_tenseal()
    if isinstance(tenseal, str):
        skipped.append(f"TenSEAL: {tenseal}")
    else:
        harness.progress("TenSEAL ...")
        rows += measure_tenseal(tenseal, work, rounds, not args.quick, extras)
        if args.quick:
            skipped.append("TenSEAL's mm: --quick")
    with tempfile.TemporaryDirectory(prefix="heedu-bench-concrete-") as folder:
        worker: concrete_ml.ConcreteWorker | str = "skipped (--no-concrete)"
        if not args.no_concrete:
            harness.progress("Concrete ML (import and compile in its worker) ...")
            worker = start_concrete(concrete_ml.concrete_python(args.concrete_python), work, Path(folder))
        try:
            if isinstance(worker, str):
                skipped.append(f"Concrete ML: {worker}")
            else:
                rows.append(measure_concrete(worker, work, rounds, extras))
            harness.progress(f"{rounds.rounds} interleaved rounds ...")
            rounds.run(harness.progress)
        finally:
            if not isinstance(worker, str):
                worker.close()

    harness.progress("inside heedu slots' predict, and native SEAL's rotations (back to back) ...")
    extras.update(slots_breakdown(slot_server, slot_query, slot_keys, repeats))
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

    report.sections += [results_table(rows), ratios_table(rows), notes_text(rows, extras), plans_text(extras),
                        breakdown_text(rows, extras)]
    if skipped:
        report.sections.append("Not measured in this run: " + "; ".join(skipped) + ".")
    report.data.update(
        batches=list(batches), slot_batches=list(slot_batches), rows=[row.as_json() for row in rows], extras=extras,
        skipped=skipped,
    )
    report.check(measured_values(rows))
    report.finish()
    report.write(args.markdown, args.json)
    wrong = [row.system for row in rows if row.wrong]
    if wrong:
        harness.progress(f"decrypted scores off by more than {TOLERANCE}: {', '.join(wrong)}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
