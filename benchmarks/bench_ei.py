"""heedu's EI-compatible server and client, timed next to the real ``encrypted-inference==0.9`` in the same run.

The Azure ML tutorial's package (:mod:`encrypted.inference`, Microsoft SEAL 3.5
behind ctypes) and :mod:`heedu.inference.ei` speak the same protocol at the
tutorial's parameters: the client sends a key blob (Galois keys for rotations by
1, 2, ..., 2048, then relinearization keys) and one ciphertext per 4096
features; the server returns one ciphertext per class. On the workload's
10-class x 784-feature model and first image, this subject measures:

* **Server**: ``EIServer.predict`` of heedu and of the package on the *same*
  query and key blob, both made by the package's client. heedu is timed *cold*
  (the first ``predict`` of a fresh ``EIServer``: it parses and checks the 9 MB
  key blob and encodes the weights) and *warm* (the second call with the same
  blob: heedu keeps parsed keys by the blob's hash). The package keeps nothing
  between calls. Each repeat times the package, heedu cold, then heedu warm, one
  after the other, so drift on a shared machine hits all three alike. Every
  answer of both servers is compared byte for byte with the package's first.
* **Client**: construction from a secret key, ``get_public_keys()``, ``encrypt``
  of 784 values, ``decrypt`` of the 10 result ciphertexts (the package's).
* **Bytes**: key blob, query and response sizes.
* **Where the time goes**: the package's Python-side copy of the key blob (its
  ``compute_dot_product`` runs ``(ctypes.c_byte * len(blob))(*blob)`` once per
  class) and of the blob its ``get_public_keys`` returns; heedu's key-blob
  parsing; one rotation at level 1 (predict does 12 per class) in heedu and in
  native SEAL 4.4, since the package's SEAL 3.5 cannot be timed one operation at
  a time. ``--profile N`` adds cProfile's top N functions (cProfile cannot see
  inside the package's native calls: they count as ``compute_dot_product``'s own
  time).

The client's secret key is fixed, so its key id is too; the key blob and query
are not (both implementations draw fresh seeds), but both servers get the same.
The package's native library aborts the process on malformed input, so it is
only ever given its own client's objects.

Run ``python benchmarks/bench_ei.py [--repeats N] [--quick] [--data DIR]
[--markdown PATH] [--json PATH] [--profile N] [--no-package]``.
"""

from __future__ import annotations

import base64
import cProfile
import ctypes
import functools
import hashlib
import pstats
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import heedu
from heedu import Ciphertext, CKKSEncoder, Evaluator
from heedu.inference.ei import ROTATION_LADDER, ei_context
from heedu.inference.ei import EILinearRegressionClient as HeeduClient
from heedu.inference.ei import EIServer as HeeduServer
from heedu.seal.wire import read_ciphertext
from heedu.tools.crosscheck import PACKAGE, load_package

try:  # imported as part of the package: python -m benchmarks.bench_ei
    from benchmarks import harness, native_seal
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import harness  # type: ignore[no-redef]
    import native_seal  # type: ignore[no-redef]

SECRET_KEY_LABEL = b"heedu benchmarks/bench_ei.py: fixed client secret key"
#: Decrypted scores must match the plaintext model this closely (observed: about 1e-6).
TOLERANCE = 1e-3
#: Timed calls of the single rotations (milliseconds each, so more than --repeats).
ROTATION_REPEATS = 20
CLIENT_OPERATIONS: tuple[str, ...] = ("construct", "get_public_keys", "encrypt", "decrypt")


def fixed_secret_key() -> str:
    """A fixed client secret: base64 of BLAKE2b-512 of a label (any 64 bytes are a valid key for both)."""
    return base64.b64encode(hashlib.blake2b(SECRET_KEY_LABEL, digest_size=64).digest()).decode("ascii")


def package_label() -> str:
    return f"{PACKAGE} {harness.installed_version(PACKAGE)} (SEAL 3.5)"


def digest(strings: Sequence[str]) -> str:
    """SHA-256 of a list of base64 strings, joined by newlines (to name an answer in the report)."""
    return hashlib.sha256("\n".join(strings).encode("ascii")).hexdigest()


def wire_chars(strings: Sequence[str]) -> int:
    """Base64 characters of a list of ciphertexts: what travels in the JSON request or response."""
    return sum(len(s) for s in strings)


# --------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------


@dataclass
class ServerTimes:
    """predict times of both servers, and whether every answer equals the package's first."""

    package: harness.Runs = field(default_factory=harness.Runs)
    heedu_cold: harness.Runs = field(default_factory=harness.Runs)
    heedu_warm: harness.Runs = field(default_factory=harness.Runs)
    reference: list[str] = field(default_factory=list)  # the package's first answer (heedu's without the package)
    heedu_answer: list[str] = field(default_factory=list)
    calls_compared: int = 0
    mismatches: list[str] = field(default_factory=list)

    def check(self, answer: list[str], what: str) -> None:
        self.calls_compared += 1
        if answer != self.reference:
            same = sum(a == b for a, b in zip(answer, self.reference))
            self.mismatches.append(f"{what}: {same} of {len(self.reference)} ciphertexts identical")


def measure_server(
    work: harness.Workload, query: list[str], blob: bytes, package_server: Any | None, repeats: int
) -> ServerTimes:
    """Both servers' predict on the same query and key blob, interleaved; every answer compared with the first.

    The first call of each server is the process's warm-up (rings, Galois
    tables, SEAL's memory pool); it is kept as ``first_s``.
    """
    times = ServerTimes()
    if package_server is not None:
        sample, times.reference = harness.time_call(functools.partial(package_server.predict, query, blob))
        times.package.first_s = sample.wall_s
    sample, first = harness.time_call(functools.partial(HeeduServer(work.coef, work.intercept).predict, query, blob))
    times.heedu_cold.first_s = sample.wall_s
    if package_server is None:
        times.reference = first
    else:
        times.check(first, "heedu, first call of the process")
    for index in range(repeats):
        if package_server is not None:
            sample, answer = harness.time_call(functools.partial(package_server.predict, query, blob))
            times.package.add(sample)
            times.check(answer, f"package, repeat {index + 1}")
        server = HeeduServer(work.coef, work.intercept)
        for runs, what in ((times.heedu_cold, "cold"), (times.heedu_warm, "warm")):
            sample, answer = harness.time_call(functools.partial(server.predict, query, blob))
            runs.add(sample)
            times.check(answer, f"heedu {what}, repeat {index + 1}")
        times.heedu_answer = answer
        package_text = harness.format_seconds(times.package.wall_s[-1] if times.package.wall_s else None)
        harness.progress(
            f"  server repeat {index + 1}/{repeats}: package {package_text}, heedu cold "
            f"{harness.format_seconds(times.heedu_cold.wall_s[-1])}, warm "
            f"{harness.format_seconds(times.heedu_warm.wall_s[-1])}"
        )
    return times


def measure_client(
    client_class: Any, secret_key: str, x: np.ndarray, answer: list[str], repeats: int
) -> dict[str, harness.Runs]:
    """One client class's four operations."""
    client = client_class(secret_key)
    calls: dict[str, Callable[[], object]] = {
        "construct": lambda: client_class(secret_key),
        "get_public_keys": client.get_public_keys,
        "encrypt": lambda: client.encrypt(x),
        "decrypt": lambda: client.decrypt(answer),
    }
    return {name: harness.measure(call, repeats)[0] for name, call in calls.items()}


# --------------------------------------------------------------------------------------
# Where the time goes
# --------------------------------------------------------------------------------------


def level1_ciphertext(work: harness.Workload, query: list[str]) -> tuple[Ciphertext, Evaluator]:
    """What predict rotates: the query times class 0's weights, rescaled to level 1 (2 primes)."""
    ctx = ei_context()
    sealed = read_ciphertext(base64.b64decode(query[0]), ctx)
    ct = Ciphertext(sealed.data, ctx.level_of(sealed.parms_id), sealed.scale)
    plain = CKKSEncoder(ctx).encode(work.coef[0, : ctx.slot_count], scale=ctx.scale, level=ct.level)
    evaluator = Evaluator(ctx)
    return evaluator.rescale_to_next(evaluator.multiply_plain(ct, plain)), evaluator


def where_time_goes(
    work: harness.Workload, query: list[str], blob: bytes, repeats: int, rotation_repeats: int, package: bool
) -> dict[str, Any]:
    """Median times of the pieces the discussion needs (see the module docstring)."""
    out: dict[str, Any] = {}
    if package:
        # The statement encrypted/inference/internal/einative.py's compute_dot_product runs for every class.
        out["package_blob_copy_per_class_s"] = harness.measure(
            lambda: (ctypes.c_byte * len(blob))(*blob), repeats, warm_up=False
        )[0].median_s
        # The statements its get_public_keys runs on the blob the native library returns.
        returned = (ctypes.c_byte * len(blob)).from_buffer_copy(blob)
        out["package_keygen_copy_s"] = harness.measure(
            lambda: bytes(np.array(returned[: len(blob)], dtype=ctypes.c_byte)), repeats, warm_up=False
        )[0].median_s
    out["heedu_parse_blob_s"] = harness.measure(
        lambda: HeeduServer(work.coef, work.intercept).load_public_keys(blob), repeats
    )[0].median_s
    galois_keys, _ = HeeduServer(work.coef, work.intercept).load_public_keys(blob)
    r, evaluator = level1_ciphertext(work, query)
    runs, _ = harness.time_calls(
        lambda ct: evaluator.rotate_vector(ct, 1, galois_keys), lambda: harness.fresh_ciphertext(r), rotation_repeats
    )
    out["heedu_rotation_level1_s"] = runs.median_s
    out["rotations_per_predict"] = len(ROTATION_LADDER) * work.coef.shape[0]
    try:
        session = native_seal.load_session()
        rotations = native_seal.measure_rotations(rotation_repeats, session)
        out["seal_rotation_level1_s"] = rotations["rotate_level1"].runs.median_s
        out["seal_library"] = session.library
    except ImportError as error:
        out["seal_rotation_level1_s"], out["seal_library"] = None, str(error)
    return out


def profile_top(function: Callable[[], object], top: int) -> dict[str, Any]:
    """cProfile of one call: total seconds and the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    sample, _ = harness.time_call(lambda: profiler.runcall(function))
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (primitive calls, calls, own, cumulative, callers)}
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "total_s": sample.wall_s,
        "top": [
            {"function": short_name(key), "calls": calls, "own_s": own, "cumulative_s": cumulative}
            for key, (_, calls, own, cumulative, _) in rows
        ],
    }


def short_name(key: tuple[str, int, str]) -> str:
    """``ntt.py:231(mul_shoup)``, or ``{built-in method zlib.compress}``."""
    filename, line, name = key
    return name if filename == "~" else f"{Path(filename).name}:{line}({name})"


def run_profiles(
    work: harness.Workload, query: list[str], blob: bytes, secret_key: str, package_server: Any | None, top: int
) -> dict[str, dict[str, Any]]:
    """cProfile of heedu's cold and warm predict, heedu's key generation and (opaque) the package's predict."""
    server = HeeduServer(work.coef, work.intercept)
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
    return "```\n" + "\n".join(lines) + "\n```"


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def comparison_table(measured: dict[str, float | None], n_classes: int, n_features: int) -> str:
    """One row per measurement: heedu, the package, and the ratio the discussion reads."""
    rows = []
    times = (
        ("server: predict, warm (same EIServer, same blob)", "predict_warm", "predict"),
        ("server: predict, cold (fresh EIServer, parses the blob)", "predict_cold", "predict"),
        ("client: construction from a secret key", "construct", "construct"),
        ("client: get_public_keys()", "get_public_keys", "get_public_keys"),
        (f"client: encrypt {n_features} values", "encrypt", "encrypt"),
        (f"client: decrypt {n_classes} results", "decrypt", "decrypt"),
    )
    for label, mine, theirs in times:
        heedu_s, package_s = measured[f"heedu.{mine}"], measured.get(f"package.{theirs}")
        ratio = "n/a" if not (heedu_s and package_s) else f"{heedu_s / package_s:.2f}x"
        rows.append([label, harness.format_seconds(heedu_s), harness.format_seconds(package_s), ratio])
    sizes = (
        ("bytes: key blob", "key_bytes"),
        ("bytes: query (base64 characters)", "query_chars"),
        ("bytes: response (base64 characters)", "response_chars"),
    )
    for label, name in sizes:
        heedu_n, package_n = measured[f"heedu.{name}"], measured.get(f"package.{name}")
        ratio = "n/a" if not (heedu_n and package_n) else f"{heedu_n / package_n:.4f}x"
        package_cell = "n/a" if package_n is None else f"{package_n:,.0f}"
        rows.append([label, f"{heedu_n:,.0f}", package_cell, ratio])
    return harness.markdown_table(("measurement", "heedu", PACKAGE, "heedu/package"), rows, "lrrr")


def identity_text(server: ServerTimes, package: bool) -> str:
    reference = server.reference
    what = (
        f"{len(reference)} ciphertexts, {wire_chars(reference):,} base64 characters, "
        f"SHA-256 of the newline-joined list {digest(reference)[:16]}…"
    )
    if not package:
        return f"Byte-identical to the package: not checked (no package); heedu's answer: {what}."
    if server.mismatches:
        return "Byte-identical to the package: **NO**: " + "; ".join(server.mismatches) + "."
    return (
        f"Byte-identical: yes, all {server.calls_compared} answers after the package's first one "
        f"(heedu's first, cold and warm calls, the package's repeats) equal it: {what}."
    )


def breakdown_text(parts: dict[str, Any], server: ServerTimes, n_classes: int) -> str:
    seconds = harness.format_seconds
    lines = ["## Where the time goes", ""]
    package_predict = server.package.median_s if server.package.wall_s else None
    copy = parts.get("package_blob_copy_per_class_s")
    if package_predict is not None and copy is not None:
        per_class = package_predict / n_classes
        rest = per_class - copy
        remainder = (
            f"the remaining {seconds(rest)} per class (the native call, opaque to cProfile, and the smaller copies "
            f"of the query and the result) makes {seconds(n_classes * rest)} per image"
            if rest > 0
            else "timed apart, the copy takes as long as a whole class: what remains is within this run's noise"
        )
        lines.append(
            f"- package predict: {seconds(per_class)} per class, of which {seconds(copy)} ({copy / per_class:.0%}) "
            "is `(ctypes.c_byte * len(blob))(*blob)`, the Python-side copy of the key blob its "
            f"`compute_dot_product` makes for every class; {remainder}"
        )
    keygen_copy = parts.get("package_keygen_copy_s")
    if keygen_copy is not None:
        lines.append(
            f"- package get_public_keys: {seconds(keygen_copy)} of it is the Python-side copy of the "
            "returned blob (`np.array(buffer[:size], dtype=ctypes.c_byte)`, then `bytes`)"
        )
    cold, warm = server.heedu_cold.median_s, server.heedu_warm.median_s
    lines.append(
        f"- heedu cold − warm = {seconds(cold - warm)}; parsing the key blob on a fresh EIServer "
        f"(`load_public_keys`: zlib, seed expansion, checks) takes {seconds(parts['heedu_parse_blob_s'])}"
    )
    rotation, count = parts["heedu_rotation_level1_s"], parts["rotations_per_predict"]
    lines.append(
        f"- heedu: one rotation at level 1 (one key switch) takes {seconds(rotation)}; predict does "
        f"{count} of them in sequence: {seconds(count * rotation)}, {count * rotation / warm:.0%} of the "
        "warm predict"
    )
    seal_rotation = parts.get("seal_rotation_level1_s")
    if seal_rotation is not None:
        lines.append(
            f"- native SEAL ({parts['seal_library']}): the same rotation takes {seconds(seal_rotation)} "
            f"(heedu's takes {rotation / seal_rotation:.1f}x as long); {count} of them: "
            f"{seconds(count * seal_rotation)}"
        )
    else:
        lines.append(f"- native SEAL rotation at level 1: not measured ({parts['seal_library']})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure both implementations and report; 1 if their answers differ or decrypt wrongly."""
    parser = harness.argument_parser(
        __doc__.splitlines()[0], repeats=3, quick_means="one timed call each, without the package"
    )
    harness.add_data_option(parser)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="add cProfile's top N functions")
    parser.add_argument("--no-package", action="store_true", help=f"time heedu alone, without {PACKAGE}")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    rotation_repeats = 1 if args.quick else ROTATION_REPEATS

    loaded = "skipped (--quick or --no-package)" if args.quick or args.no_package else load_package()
    if isinstance(loaded, str):
        harness.progress(f"{PACKAGE}: {loaded}; heedu's numbers follow with ratio n/a")
        package_client_class = package_server_class = None
    else:
        package_client_class, package_server_class = loaded
    has_package = package_client_class is not None
    title = f"heedu {heedu.__version__}'s EI-compatible side vs " + (package_label() if has_package else "no package")
    report = harness.Report("ei", title, repeats)
    work = harness.load_workload(harness.data_directory(args.data), 1)
    report.sources += work.sources
    n_classes, n_features = work.coef.shape
    x = work.images[0]
    secret_key = fixed_secret_key()

    # The query and key blob both servers get: the package's client's (heedu's if there is no package).
    source_client = (package_client_class or HeeduClient)(secret_key)
    _, blob = source_client.get_public_keys()
    query = source_client.encrypt(x)
    package_server = package_server_class(work.coef, work.intercept) if has_package else None

    harness.progress("server predict ...")
    server = measure_server(work, query, blob, package_server, repeats)
    answer = server.reference
    harness.progress("clients ...")
    clients = {"heedu": measure_client(HeeduClient, secret_key, x, answer, repeats)}
    if has_package:
        clients["package"] = measure_client(package_client_class, secret_key, x, answer, repeats)

    expected = work.scores(x)[0]
    errors = {"heedu client": float(np.max(np.abs(HeeduClient(secret_key).decrypt(answer) - expected)))}
    if has_package:
        errors["package client"] = float(np.max(np.abs(source_client.decrypt(answer) - expected)))
    heedu_source = HeeduClient(secret_key)
    measured: dict[str, float | None] = {
        "heedu.predict_warm": server.heedu_warm.median_s,
        "heedu.predict_cold": server.heedu_cold.median_s,
        "heedu.key_bytes": len(heedu_source.get_public_keys()[1]),
        "heedu.query_chars": wire_chars(heedu_source.encrypt(x)),
        "heedu.response_chars": wire_chars(server.heedu_answer),
    }
    if has_package:
        measured.update(
            {
                "package.predict": server.package.median_s,
                "package.key_bytes": len(blob),
                "package.query_chars": wire_chars(query),
                "package.response_chars": wire_chars(answer),
            }
        )
    for side, runs in clients.items():
        measured.update({f"{side}.{op}": runs[op].median_s for op in CLIENT_OPERATIONS})

    harness.progress("where the time goes ...")
    parts = where_time_goes(work, query, blob, repeats, rotation_repeats, has_package)
    profiles = run_profiles(work, query, blob, secret_key, package_server, args.profile) if args.profile else {}

    report.sections += [
        comparison_table(measured, n_classes, n_features),
        "\n".join(
            [
                f"- {identity_text(server, has_package)}",
                "- max |decrypted − (W x + b)|: " + ", ".join(f"{name} {e:.1e}" for name, e in errors.items()),
                f"- first predict of the process (the untimed warm-up): heedu "
                f"{harness.format_seconds(server.heedu_cold.first_s)}, package "
                f"{harness.format_seconds(server.package.first_s)}",
            ]
        ),
        breakdown_text(parts, server, n_classes),
    ]
    if profiles:
        report.sections.append(profile_text(profiles))
    report.data.update(
        server={
            "package": server.package,
            "heedu_cold": server.heedu_cold,
            "heedu_warm": server.heedu_warm,
            "byte_identical": has_package and not server.mismatches,
            "calls_compared": server.calls_compared,
            "mismatches": server.mismatches,
            "response_sha256": digest(answer),
        },
        client=clients,
        max_abs_error=errors,
        where_time_goes=parts,
        profiles=profiles,
    )
    report.check(measured)
    report.finish()
    report.write(args.markdown, args.json)
    bad = server.mismatches or any(not error < TOLERANCE for error in errors.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
