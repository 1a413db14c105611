"""heedu's EI-compatible server and client, timed next to the real ``encrypted-inference==0.9`` in the same run.

The Azure ML tutorial's package (:mod:`encrypted.inference`, Microsoft SEAL 3.5
behind ctypes) and :mod:`heedu.inference.ei` speak the same protocol: CKKS,
N = 8192, coefficient modulus bits [60, 40, 40, 60], scale 2^40; the client
sends a key blob (GaloisKeys for rotations by 1, 2, ..., 2048, then RelinKeys)
and one ciphertext per 4096 features; the server returns one ciphertext per
class. This benchmark measures both sides on a 10-class x 784-feature linear
model, all in one run:

* **Server, per image**: ``EIServer.predict`` of heedu and of the package on the
  *same* query and key blob, both made by the package's client. heedu is timed
  *cold* (the first ``predict`` of a fresh ``EIServer``: it parses and checks the
  9 MB key blob, encodes the weights) and *warm* (the second call with the same
  blob: heedu keeps parsed keys by the blob's hash). The package keeps nothing
  between calls. Every result of both servers is compared byte for byte with
  the package's first answer, and decrypted.
* **Client**: construction from a secret key, ``get_public_keys()``, ``encrypt``
  of 784 values, ``decrypt`` of the 10 result ciphertexts (the package's).
* **Bytes**: key blob, query and response sizes.
* **Where the time goes**: the package's Python-side copy of the key blob
  (its ``compute_dot_product`` runs ``(ctypes.c_byte * len(blob))(*blob)`` once
  per class), the same for the blob it returns from ``get_public_keys``, heedu's
  key-blob parsing, one heedu rotation at level 1 (one key switch; predict does
  12 per class), and the same rotation in native SEAL 4.4 (seal-python, if
  installed): the package's SEAL 3.5 cannot be timed one operation at a time.
  ``--profile N`` adds cProfile's top N functions (cProfile cannot see inside
  the package's native calls: they count as ``compute_dot_product``'s own time).

Timing method: every client and server call runs once untimed first
(process-wide caches on both sides: heedu's rings and Galois tables, SEAL's
memory pool), then ``--repeats`` timed calls with :func:`time.perf_counter` and
the garbage collector off; the median is reported. For the server, each repeat
times the package, then heedu on a fresh ``EIServer`` (cold), then heedu again
on that server (warm), so drift on a shared machine hits all three alike. The
copies of the breakdown are timed ``--repeats`` times without a warm-up; the
rotations 20 times after one.

The model is scikit-learn's tutorial model (``--model``, default
``../shared/data/sklearn_mnist_model.pkl`` next to the repository) when
scikit-learn and joblib are importable and the file loads; otherwise a random
model of the same shape and magnitude (fixed seed). The input is an MNIST-like
vector (fixed seed). The secret key is fixed, so the key id is too; the key blob
and query are not (both implementations draw fresh seeds from the OS), but both
servers get the same ones.

Run ``python benchmarks/bench_ei.py [--repeats N] [--markdown PATH] [--json PATH]
[--profile N] [--no-package]``. The package's native library aborts the process
on malformed input, so it is only ever given its own client's objects.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import ctypes
import functools
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import pstats
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import heedu
from heedu import Ciphertext, CKKSEncoder, Evaluator
from heedu.inference.ei import ROTATION_LADDER, ei_context
from heedu.inference.ei import EILinearRegressionClient as HeeduClient
from heedu.inference.ei import EIServer as HeeduServer
from heedu.seal.wire import read_ciphertext

try:  # imported as part of the package: python -m benchmarks.bench_ei
    from benchmarks import bench_core
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import bench_core  # type: ignore[no-redef]

T = TypeVar("T")

PACKAGE = "encrypted-inference"
PACKAGE_VERSION = "0.9"
PARAMS_TEXT = "N=8192, q bits [60,40,40,60], scale 2^40"
N_CLASSES = 10
N_FEATURES = 784
MODEL_SEED = 20200709
INPUT_SEED = 784
SECRET_KEY_LABEL = b"heedu benchmarks/bench_ei.py: fixed client secret key"
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "sklearn_mnist_model.pkl"

#: heedu's predict must be at least this many times faster than the package's (package/heedu).
SPEEDUP_TARGET = 5.0
#: heedu's get_public_keys may take at most this many times the package's (heedu/package).
KEYGEN_TARGET = 3.0
#: Decrypted scores must match the plaintext model this closely (observed: about 1e-6).
TOLERANCE = 1e-3
#: Timed calls of the single level-1 rotation (it takes milliseconds, so more than --repeats).
ROTATION_REPEATS = 20


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """The linear model both servers evaluate, and where it came from."""

    coef: np.ndarray  # (n_classes, n_features) float64
    intercept: np.ndarray  # (n_classes,) float64
    source: str


def random_model(why: str) -> Model:
    """Weights N(0, 0.05) and intercepts N(0, 0.5), 10 x 784, fixed seed: the size and magnitude of the tutorial's."""
    rng = np.random.default_rng(MODEL_SEED)
    coef = rng.normal(0.0, 0.05, size=(N_CLASSES, N_FEATURES))
    intercept = rng.normal(0.0, 0.5, size=N_CLASSES)
    return Model(coef, intercept, f"random {N_CLASSES} x {N_FEATURES} model, seed {MODEL_SEED} ({why})")


def choose_model(path: Path | None) -> Model:
    """The tutorial's scikit-learn model if it can be loaded from ``path``, else :func:`random_model`."""
    if path is None:
        return random_model("--model none")
    missing = [name for name in ("sklearn", "joblib") if importlib.util.find_spec(name) is None]
    if missing:
        return random_model(f"the tutorial model needs {' and '.join(missing)}, not importable here")
    if not path.is_file():
        return random_model(f"{path} does not exist")
    try:
        import joblib

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = joblib.load(path)
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64)).ravel()
    except Exception as error:  # any failure to unpickle means: use the random model, and say why
        return random_model(f"could not load {path}: {type(error).__name__}: {error}")
    if coef.ndim != 2 or intercept.shape != (coef.shape[0],):
        return random_model(f"{path} holds coef_ {coef.shape} and intercept_ {intercept.shape}, not a linear model")
    source = (
        f"the tutorial's scikit-learn model {path.name} ({type(model).__name__}, {coef.shape[0]} x {coef.shape[1]})"
    )
    kinds = sorted({warning.category.__name__ for warning in caught})
    if kinds:
        # e.g. InconsistentVersionWarning: pickled with scikit-learn 0.22; only coef_ and intercept_ are read.
        source += f"; unpickling warned: {', '.join(kinds)} (only coef_ and intercept_ are used)"
    return Model(coef, intercept, source)


def make_input(n_features: int) -> np.ndarray:
    """An MNIST-like input in [0, 1] (pixels / 255), about 80 % zeros, fixed seed."""
    rng = np.random.default_rng(INPUT_SEED)
    x = rng.integers(0, 256, size=n_features) / 255.0
    x[rng.random(n_features) < 0.8] = 0.0
    return x


def fixed_secret_key() -> str:
    """A fixed client secret: base64 of BLAKE2b-512 of a label (any 64 bytes are a valid key for both)."""
    return base64.b64encode(hashlib.blake2b(SECRET_KEY_LABEL, digest_size=64).digest()).decode("ascii")


def load_package() -> tuple[Any, Any, str] | str:
    """``(EILinearRegressionClient, EIServer, "encrypted-inference 0.9")``, or why the package is unavailable."""
    try:
        version = importlib.metadata.version(PACKAGE)
        from encrypted.inference.eiclient import EILinearRegressionClient
        from encrypted.inference.eiserver import EIServer
    except (ImportError, importlib.metadata.PackageNotFoundError, OSError) as error:
        hint = f"pip install {PACKAGE}=={PACKAGE_VERSION}"
        return f"{PACKAGE} is not importable ({type(error).__name__}: {error}); {hint}"
    if version != PACKAGE_VERSION:
        return f"{PACKAGE}=={PACKAGE_VERSION} expected, {version} installed"
    return EILinearRegressionClient, EIServer, f"{PACKAGE} {version} (SEAL 3.5)"


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


def timed(function: Callable[[], T]) -> tuple[float, T]:
    """``(seconds, result)`` of one call, garbage collector off during it."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = function()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed, result


def repeat_timed(function: Callable[[], object], repeats: int, warm_up: bool = True) -> list[float]:
    """Wall times of ``repeats`` calls, after one untimed call if ``warm_up``."""
    if warm_up:
        function()
    return [timed(function)[0] for _ in range(repeats)]


def median(times: Sequence[float] | None) -> float | None:
    return None if not times else statistics.median(times)


def digest(strings: Sequence[str]) -> str:
    """SHA-256 of a list of base64 strings, joined by newlines (to name a result in the report)."""
    return hashlib.sha256("\n".join(strings).encode("ascii")).hexdigest()


def wire_chars(strings: Sequence[str]) -> int:
    """Base64 characters of a list of ciphertexts: what travels in the JSON request or response."""
    return sum(len(s) for s in strings)


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


@dataclass
class ServerTimes:
    """predict times of both servers, and what they returned."""

    package_s: list[float] = field(default_factory=list)
    heedu_cold_s: list[float] = field(default_factory=list)
    heedu_warm_s: list[float] = field(default_factory=list)
    package_first_s: float | None = None  # the untimed first call of the process
    heedu_first_s: float | None = None
    reference: list[str] = field(default_factory=list)  # the package's first answer (heedu's without the package)
    heedu_answer: list[str] = field(default_factory=list)  # heedu's last answer
    calls_compared: int = 0
    mismatches: list[str] = field(default_factory=list)


def measure_server(
    model: Model, query: list[str], blob: bytes, package_server: Any | None, repeats: int
) -> ServerTimes:
    """Time both servers' predict on the same query and key blob; compare every answer with the first."""
    times = ServerTimes()

    def check(result: list[str], what: str) -> None:
        times.calls_compared += 1
        if result != times.reference:
            same = sum(a == b for a, b in zip(result, times.reference))
            times.mismatches.append(f"{what}: {same} of {len(times.reference)} ciphertexts identical")

    if package_server is not None:
        times.package_first_s, times.reference = timed(functools.partial(package_server.predict, query, blob))
    first_server = HeeduServer(model.coef, model.intercept)
    times.heedu_first_s, first = timed(functools.partial(first_server.predict, query, blob))
    if package_server is None:
        times.reference = first
    else:
        check(first, "heedu, first call of the process")
    for index in range(repeats):
        if package_server is not None:
            elapsed, result = timed(functools.partial(package_server.predict, query, blob))
            times.package_s.append(elapsed)
            check(result, f"package, repeat {index + 1}")
        server = HeeduServer(model.coef, model.intercept)
        elapsed, result = timed(functools.partial(server.predict, query, blob))
        times.heedu_cold_s.append(elapsed)
        check(result, f"heedu cold, repeat {index + 1}")
        elapsed, result = timed(functools.partial(server.predict, query, blob))
        times.heedu_warm_s.append(elapsed)
        check(result, f"heedu warm, repeat {index + 1}")
        times.heedu_answer = result
        print(
            f"  server repeat {index + 1}/{repeats}: package "
            + (f"{times.package_s[-1]:.2f} s" if times.package_s else "n/a")
            + f", heedu cold {times.heedu_cold_s[-1]:.2f} s, warm {times.heedu_warm_s[-1]:.2f} s",
            flush=True,
        )
    return times


CLIENT_OPERATIONS: tuple[str, ...] = ("construct", "get_public_keys", "encrypt", "decrypt")


def measure_client(
    client_class: Any, secret_key: str, x: np.ndarray, results: list[str], repeats: int
) -> dict[str, list[float]]:
    """Times of one client class's four operations (each after one untimed call)."""
    client = client_class(secret_key)
    return {
        "construct": repeat_timed(lambda: client_class(secret_key), repeats),
        "get_public_keys": repeat_timed(client.get_public_keys, repeats),
        "encrypt": repeat_timed(lambda: client.encrypt(x), repeats),
        "decrypt": repeat_timed(lambda: client.decrypt(results), repeats),
    }


def level1_ciphertext(model: Model, query: list[str]) -> tuple[Ciphertext, Evaluator]:
    """What predict rotates: the query times class 0's weights, rescaled to level 1 (2 primes)."""
    ctx = ei_context()
    sealed = read_ciphertext(base64.b64decode(query[0]), ctx)
    ct = Ciphertext(sealed.data, ctx.level_of(sealed.parms_id), sealed.scale)
    plain = CKKSEncoder(ctx).encode(model.coef[0, : ctx.slot_count], scale=ctx.scale, level=ct.level)
    evaluator = Evaluator(ctx)
    return evaluator.rescale_to_next(evaluator.multiply_plain(ct, plain)), evaluator


def where_time_goes(model: Model, query: list[str], blob: bytes, repeats: int, package: bool) -> dict[str, Any]:
    """Median times of the pieces the discussion needs (see the module docstring)."""
    out: dict[str, Any] = {}
    if package:
        # The statement encrypted/inference/internal/einative.py's compute_dot_product runs for every class.
        out["package_blob_copy_per_class_s"] = median(
            repeat_timed(lambda: (ctypes.c_byte * len(blob))(*blob), repeats, warm_up=False)
        )
        # The statements its get_public_keys runs on the blob the native library returns.
        returned = (ctypes.c_byte * len(blob)).from_buffer_copy(blob)
        out["package_keygen_copy_s"] = median(
            repeat_timed(lambda: bytes(np.array(returned[: len(blob)], dtype=ctypes.c_byte)), repeats, warm_up=False)
        )
    out["heedu_parse_blob_s"] = median(
        repeat_timed(lambda: HeeduServer(model.coef, model.intercept).load_public_keys(blob), repeats)
    )
    galois_keys, _ = HeeduServer(model.coef, model.intercept).load_public_keys(blob)
    r, evaluator = level1_ciphertext(model, query)
    timing = bench_core.time_calls(
        lambda ct: evaluator.rotate_vector(ct, 1, galois_keys),
        lambda: bench_core.fresh_ciphertext(r),
        ROTATION_REPEATS,
    )
    out["heedu_rotation_level1_s"] = timing.median_s
    out["rotations_per_predict"] = len(ROTATION_LADDER) * model.coef.shape[0]
    out["seal_rotation_level1_s"], out["seal_rotation_library"] = seal_rotation_level1()
    return out


def seal_rotation_level1() -> tuple[float | None, str]:
    """Native SEAL's rotation by 1 at level 1 (seal-python 4.4, same parameters): a compiled server's unit cost.

    ``(median seconds, library)``, or ``(None, why)`` without seal-python. The
    package's SEAL 3.5 is not reachable one operation at a time, so this is the
    closest same-run figure for what its 120 rotations cost.
    """
    try:
        import seal
    except (ImportError, OSError) as error:
        return None, f"seal-python not importable ({error})"
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(bench_core.N)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(bench_core.N, list(bench_core.native_seal.COEFF_MODULUS_BITS)))
    context = seal.SEALContext(parms, True, seal.sec_level_type.tc128)
    keygen = seal.KeyGenerator(context)
    public_key, galois_keys = seal.PublicKey(), seal.GaloisKeys()
    keygen.create_public_key(public_key)
    keygen.create_galois_keys([1], galois_keys)
    plain, ct = seal.Plaintext(), seal.Ciphertext(context)
    seal.CKKSEncoder(context).encode(seal.VectorDouble(make_input(bench_core.SLOTS).tolist()), 2.0**40, plain)
    seal.Encryptor(context, public_key).encrypt(plain, ct)
    evaluator = seal.Evaluator(context)
    evaluator.mod_switch_to_next_inplace(ct)  # 3 -> 2 primes, where predict's rotations run
    if ct.coeff_modulus_size() != 2:
        return None, f"seal-python: the ciphertext has {ct.coeff_modulus_size()} primes after one mod switch, not 2"
    timing = bench_core.time_calls(
        lambda work: evaluator.rotate_vector_inplace(work, 1, galois_keys),
        lambda: seal.Ciphertext(ct),
        ROTATION_REPEATS,
    )
    return timing.median_s, f"seal-python {importlib.metadata.version('seal-python')}"


# --------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------


def profile_top(function: Callable[[], object], top: int) -> dict[str, Any]:
    """cProfile of one call: total seconds and the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    function()
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (primitive calls, calls, own, cumulative, callers)}
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "total_s": total,
        "top": [
            {"function": short_name(key), "calls": calls, "own_s": own, "cumulative_s": cumulative}
            for key, (_, calls, own, cumulative, _) in rows
        ],
    }


def short_name(key: tuple[str, int, str]) -> str:
    """``ntt.py:231(mul_shoup)``, or ``{built-in method zlib.compress}``."""
    filename, line, name = key
    if filename == "~":
        return name
    return f"{Path(filename).name}:{line}({name})"


def run_profiles(
    model: Model, query: list[str], blob: bytes, secret_key: str, package_server: Any | None, top: int
) -> dict[str, dict[str, Any]]:
    """cProfile of heedu's cold and warm predict, heedu's key generation and (opaque) the package's predict."""
    server = HeeduServer(model.coef, model.intercept)
    profiles = {
        "heedu predict, cold": profile_top(lambda: server.predict(query, blob), top),
        "heedu predict, warm": profile_top(lambda: server.predict(query, blob), top),
        "heedu get_public_keys": profile_top(HeeduClient(secret_key).get_public_keys, top),
    }
    if package_server is not None:
        profiles["package predict"] = profile_top(lambda: package_server.predict(query, blob), top)
    return profiles


def profile_text(profiles: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, profile in profiles.items():
        lines.append(f"cProfile, {name} ({profile['total_s']:.2f} s under the profiler), top by own time:")
        for row in profile["top"]:
            share = row["own_s"] / profile["total_s"] if profile["total_s"] else 0.0
            lines.append(
                f"  {row['own_s']:7.3f} s {share:6.1%}  cum {row['cumulative_s']:7.3f} s  "
                f"{row['calls']:>7} calls  {row['function']}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """Seconds above one second, else bench_core's µs / ms."""
    if seconds is not None and seconds >= 1.0:
        return f"{seconds:.2f} s"
    return bench_core.format_seconds(seconds)


def format_bytes(count: int | None) -> str:
    if count is None:
        return "n/a"
    return f"{count:,} ({count / 1e6:.2f} MB)" if count >= 1_000_000 else f"{count:,}"


def comparison_rows(
    server: ServerTimes,
    heedu_client: dict[str, list[float]],
    package_client: dict[str, list[float]] | None,
    sizes: dict[str, dict[str, int | None]],
    n_classes: int,
    n_features: int,
) -> list[dict[str, Any]]:
    """The table: one row per measurement, with its ratio, its direction, and its target if any."""
    rows: list[dict[str, Any]] = []

    def add(name: str, kind: str, heedu_value: float | None, package_value: float | None, target: float | None):
        if heedu_value is None or package_value is None:
            ratio = None
        elif kind == "server":
            ratio = package_value / heedu_value
        else:
            ratio = heedu_value / package_value
        met = None
        if target is not None and ratio is not None:
            met = ratio >= target if kind == "server" else ratio <= target
        rows.append(
            {
                "measurement": name,
                "kind": kind,
                "heedu": heedu_value,
                "package": package_value,
                "ratio": ratio,
                "ratio_is": "package/heedu" if kind == "server" else "heedu/package",
                "target": target,
                "met": met,
            }
        )

    package_predict = median(server.package_s)
    warm, cold = median(server.heedu_warm_s), median(server.heedu_cold_s)
    add("server: predict, warm (same EIServer, same blob)", "server", warm, package_predict, SPEEDUP_TARGET)
    add("server: predict, cold (fresh EIServer, parses the blob)", "server", cold, package_predict, SPEEDUP_TARGET)
    labels = {
        "construct": "client: construction from a secret key",
        "get_public_keys": "client: get_public_keys()",
        "encrypt": f"client: encrypt {n_features} values",
        "decrypt": f"client: decrypt {n_classes} results",
    }
    for op in CLIENT_OPERATIONS:
        package_value = median(package_client[op]) if package_client else None
        target = KEYGEN_TARGET if op == "get_public_keys" else None
        add(labels[op], "client", median(heedu_client[op]), package_value, target)
    for name, label in (
        ("key_blob", "bytes: key blob"),
        ("query", "bytes: query (base64 characters)"),
        ("response", "bytes: response (base64 characters)"),
    ):
        add(label, "bytes", sizes[name]["heedu"], sizes[name]["package"], None)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| measurement | heedu | encrypted-inference 0.9 | ratio | target | met? |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for row in rows:
        if row["kind"] == "bytes":
            heedu_cell, package_cell = format_bytes(row["heedu"]), format_bytes(row["package"])
            ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.4f}x ({row['ratio_is']})"
        else:
            heedu_cell, package_cell = format_seconds(row["heedu"]), format_seconds(row["package"])
            ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x ({row['ratio_is']})"
        if row["target"] is None:
            target, met = "—", "—"
        else:
            target = (
                f"heedu ≥ {row['target']:g}x faster" if row["kind"] == "server" else f"heedu within {row['target']:g}x"
            )
            met = "n/a" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['measurement']} | {heedu_cell} | {package_cell} | {ratio} | {target} | {met} |")
    return "\n".join(lines)


def identity_text(server: ServerTimes, package: bool) -> str:
    reference = server.reference
    what = (
        f"{len(reference)} ciphertexts, {wire_chars(reference):,} base64 characters, "
        f"SHA-256 of the newline-joined list {digest(reference)[:16]}…"
    )
    if not package:
        return f"byte-identical to the package: not checked (no package); heedu's answer: {what}"
    if server.mismatches:
        return "byte-identical to the package: **NO**: " + "; ".join(server.mismatches)
    return (
        f"byte-identical: yes, all {server.calls_compared} answers after the package's first one "
        f"(heedu's first, cold and warm calls, the package's repeats) equal it: {what}"
    )


def breakdown_text(parts: dict[str, Any], server: ServerTimes, n_classes: int) -> str:
    lines = []
    package_predict = median(server.package_s)
    copy = parts.get("package_blob_copy_per_class_s")
    if package_predict is not None and copy is not None:
        per_class = package_predict / n_classes
        lines.append(
            f"- package predict: {format_seconds(per_class)} per class, of which "
            f"{format_seconds(copy)} ({copy / per_class:.0%}) is `(ctypes.c_byte * len(blob))(*blob)`, the "
            f"Python-side copy of the key blob its `compute_dot_product` makes for every class; the remaining "
            f"{format_seconds(per_class - copy)} per class (the native call, opaque to cProfile, and the smaller "
            "copies of the query and the result) makes "
            f"{format_seconds(n_classes * (per_class - copy))} per image"
        )
    keygen_copy = parts.get("package_keygen_copy_s")
    if keygen_copy is not None:
        lines.append(
            f"- package get_public_keys: {format_seconds(keygen_copy)} of it is the Python-side copy of the "
            "returned blob (`np.array(buffer[:size], dtype=ctypes.c_byte)`, then `bytes`)"
        )
    parse = parts["heedu_parse_blob_s"]
    cold, warm = median(server.heedu_cold_s), median(server.heedu_warm_s)
    lines.append(
        f"- heedu cold − warm = {format_seconds(None if cold is None or warm is None else cold - warm)}; "
        f"parsing the key blob on a fresh EIServer (`load_public_keys`: zlib, seed expansion, checks) "
        f"takes {format_seconds(parse)}"
    )
    rotation, count = parts["heedu_rotation_level1_s"], parts["rotations_per_predict"]
    share = "" if warm is None else f", {count * rotation / warm:.0%} of the warm predict"
    lines.append(
        f"- heedu: one rotation at level 1 (one key switch, 2 primes + the special one) takes "
        f"{format_seconds(rotation)}; predict does {count} of them in sequence: "
        f"{format_seconds(count * rotation)}{share}"
    )
    seal_rotation = parts.get("seal_rotation_level1_s")
    if seal_rotation is not None:
        lines.append(
            f"- native SEAL ({parts['seal_rotation_library']}, same parameters): one rotation at level 1 takes "
            f"{format_seconds(seal_rotation)} (heedu's takes {rotation / seal_rotation:.1f}x as long); "
            f"{count} of them: {format_seconds(count * seal_rotation)}"
        )
    else:
        lines.append(f"- native SEAL rotation at level 1: not measured ({parts.get('seal_rotation_library')})")
    return "\n".join(lines)


def report_text(
    machine: dict[str, Any],
    model: Model,
    repeats: int,
    rows: list[dict[str, Any]],
    server: ServerTimes,
    errors: dict[str, float],
    parts: dict[str, Any],
    package: bool,
) -> str:
    n_classes = model.coef.shape[0]
    lines = [
        f"Measured {machine['date']} on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, "
        f"{machine['platform']}); Python {machine['python']}, NumPy {machine['numpy']}, heedu {machine['heedu']}, "
        f"{machine['seal'] or 'no encrypted-inference package'}.",
        f"CKKS {PARAMS_TEXT}; {model.source}; median of {repeats} timed calls after one untimed call, gc off.",
        "",
        markdown_table(rows),
        "",
        f"- {identity_text(server, package)}",
        "- max |decrypted − (W x + b)|: " + ", ".join(f"{name} {error:.1e}" for name, error in errors.items()),
        f"- first predict of the process (untimed warm-up): heedu {format_seconds(server.heedu_first_s)}, "
        f"package {format_seconds(server.package_first_s)}",
        breakdown_text(parts, server, n_classes),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure both implementations, print the table, write the optional reports; 1 if results disagree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (default 3)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the table and machine info here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw numbers here")
    parser.add_argument(
        "--model",
        default=str(DEFAULT_MODEL),
        metavar="PATH",
        help="the tutorial's scikit-learn model (joblib); 'none' for the random model (default: %(default)s)",
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument("--no-package", action="store_true", help="time heedu alone")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    started = time.perf_counter()

    loaded = "skipped (--no-package)" if args.no_package else load_package()
    if isinstance(loaded, str):
        print(f"encrypted-inference: {loaded}; heedu's numbers follow with ratio n/a", file=sys.stderr)
        package_client_class = package_server_class = package_label = None
    else:
        package_client_class, package_server_class, package_label = loaded
    has_package = package_client_class is not None

    model = choose_model(None if args.model.lower() == "none" else Path(args.model))
    n_classes, n_features = model.coef.shape
    x = make_input(n_features)
    secret_key = fixed_secret_key()
    machine = bench_core.machine_info(package_label)
    print(
        f"heedu {heedu.__version__} vs {package_label or 'no package'}; {machine['cpu']}, Python {machine['python']}, "
        f"NumPy {machine['numpy']}; {PARAMS_TEXT}; median of {args.repeats}\nmodel: {model.source}",
        flush=True,
    )

    # The query and key blob both servers get: the package's client's (heedu's if there is no package).
    source_client = (package_client_class or HeeduClient)(secret_key)
    _, blob = source_client.get_public_keys()
    query = source_client.encrypt(x)
    package_server = package_server_class(model.coef, model.intercept) if has_package else None

    print("server predict ...", flush=True)
    server = measure_server(model, query, blob, package_server, args.repeats)
    results = server.reference

    print("clients ...", flush=True)
    heedu_client = measure_client(HeeduClient, secret_key, x, results, args.repeats)
    package_client = measure_client(package_client_class, secret_key, x, results, args.repeats) if has_package else None

    expected = model.coef @ x + model.intercept
    errors = {"heedu client": float(np.max(np.abs(HeeduClient(secret_key).decrypt(results) - expected)))}
    if has_package:
        errors["package client"] = float(np.max(np.abs(source_client.decrypt(results) - expected)))
    heedu_source = HeeduClient(secret_key)
    heedu_blob = heedu_source.get_public_keys()[1]
    heedu_query = heedu_source.encrypt(x)
    sizes: dict[str, dict[str, int | None]] = {
        "key_blob": {"heedu": len(heedu_blob), "package": len(blob) if has_package else None},
        "query": {"heedu": wire_chars(heedu_query), "package": wire_chars(query) if has_package else None},
        "response": {"heedu": wire_chars(server.heedu_answer), "package": wire_chars(results) if has_package else None},
    }

    print("where the time goes ...", flush=True)
    parts = where_time_goes(model, query, blob, args.repeats, has_package)
    profiles = run_profiles(model, query, blob, secret_key, package_server, args.profile) if args.profile else {}

    rows = comparison_rows(server, heedu_client, package_client, sizes, n_classes, n_features)
    report = report_text(machine, model, args.repeats, rows, server, errors, parts, has_package)
    print()
    print(report)
    if profiles:
        print()
        print(profile_text(profiles))
    elapsed = time.perf_counter() - started
    print(f"\n(benchmark ran in {elapsed:.1f} s)")

    if args.markdown:
        text = "# heedu's EI-compatible side vs encrypted-inference 0.9\n\n" + report + "\n"
        if profiles:
            text += "\n```\n" + profile_text(profiles) + "\n```\n"
        args.markdown.write_text(text, encoding="utf-8")
        print(f"wrote {args.markdown}")
    if args.json:
        data = {
            "parameters": {"poly_modulus_degree": 8192, "coeff_modulus_bits": [60, 40, 40, 60], "scale": 2.0**40},
            "model": model.source,
            "n_classes": n_classes,
            "n_features": n_features,
            "repeats": args.repeats,
            "machine": machine,
            "elapsed_s": elapsed,
            "server": {
                "package_s": server.package_s,
                "heedu_cold_s": server.heedu_cold_s,
                "heedu_warm_s": server.heedu_warm_s,
                "package_first_s": server.package_first_s,
                "heedu_first_s": server.heedu_first_s,
                "byte_identical": has_package and not server.mismatches,
                "calls_compared": server.calls_compared,
                "mismatches": server.mismatches,
                "response_sha256": digest(results),
            },
            "client": {"heedu": heedu_client, "package": package_client},
            "bytes": sizes,
            "max_abs_error": errors,
            "where_time_goes": parts,
            "profiles": profiles,
            "comparison": rows,
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    bad = server.mismatches or any(not error < TOLERANCE for error in errors.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
