r"""One linear model, the same inputs, every encrypted path heedu knows: do they all agree with the plaintext?

:func:`crosscheck` evaluates :math:`Wx + b` on each input through

* **coefficients**: heedu's default protocol (:class:`~heedu.inference.coefficients.EncryptedLinearModel`
  and :class:`~heedu.inference.coefficients.InferenceClient`, all inputs in one query);
* **slots**: heedu's slot protocol (:class:`~heedu.inference.slots.SlotLinearModel` and
  :class:`~heedu.inference.slots.SlotClient`, all inputs in one query);
* **heedu EI**: heedu's encrypted-inference-compatible :class:`~heedu.inference.ei.EIServer` with
  heedu's :class:`~heedu.inference.ei.EILinearRegressionClient` (one query per input);
* **package**: the real ``encrypted-inference==0.9`` (SEAL 3.5 inside), its own client and server;
  skipped, with the reason, when it cannot be imported;
* **package client -> heedu EIServer**: the package's query and key blob answered by heedu's server,
  whose result strings must be *byte-identical* to the package server's on the same query;
* **package server -> heedu client**: the package server's answers decrypted by a heedu client
  holding the package client's secret.

Each path reports the largest :math:`|\text{decrypted} - (Wx + b)|` and how often its predicted class
(argmax; the sign for a one-output model) equals the plaintext one.

The package's native library aborts the whole process on input it cannot parse, so it is only ever
given objects made by the package itself: its client's queries and keys, its server's answers, and
heedu's answers only once they are known to be byte-identical to those. (Feeding heedu's client
output to the package is covered by ``tests/test_ei_interop.py``.)

From the command line::

    python -m heedu.tools.crosscheck [--model PKL] [--data DIR] [--n 3] [--no-package]

defaults to the tutorial's model and the first ``n`` MNIST test images when they are found
(:func:`heedu.tools.mnist.find_data_dir`), otherwise a random 10 x 784 model and random
MNIST-like inputs (fixed seeds), and says which. It exits with status 1 if a path disagrees. The
package costs about 0.8 s per class and input, so the default run (10 classes, 3 inputs) takes
under a minute.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..inference.coefficients import EncryptedLinearModel, InferenceClient
from ..inference.ei import EILinearRegressionClient, EIServer
from ..inference.model import LinearModel
from .arguments import positive_int
from .evaluate import predicted_labels

PACKAGE = "encrypted-inference"
PACKAGE_VERSION = "0.9"
#: Largest score error a path may show (observed: about 3e-6 for every path).
TOLERANCE = 1e-4
RANDOM_SEED = 20200709

COEFFICIENTS = "coefficients"
SLOTS = "slots"
HEEDU_EI = "heedu EI"
PACKAGE_PATH = "package"
PACKAGE_TO_HEEDU_SERVER = "package client -> heedu EIServer"
PACKAGE_TO_HEEDU_CLIENT = "package server -> heedu client"


@dataclass
class PathResult:
    """One path's outcome. ``scores`` is ``(n_inputs, n_outputs)``; None when the path was skipped."""

    name: str
    status: str  # "ok" (within tolerance, same predictions), "MISMATCH" or "skipped"
    max_abs_error: float | None = None
    agreement: float | None = None
    seconds: float | None = None
    byte_identical: bool | None = None  # only for the path that compares heedu's bytes with the package's
    note: str = ""
    scores: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, object]:
        """Every field but the scores, for JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "scores"}


@dataclass
class CrosscheckReport:
    """Every path's result for one model and one batch of inputs."""

    n_inputs: int
    n_outputs: int
    n_features: int
    tolerance: float
    package: str  # "encrypted-inference 0.9", or why it is unavailable
    paths: list[PathResult]
    source: str = ""

    def path(self, name: str) -> PathResult:
        for result in self.paths:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def byte_identical(self) -> bool | None:
        """heedu's EIServer bytes == the package's on the package's query; None if the package was skipped."""
        return self.path(PACKAGE_TO_HEEDU_SERVER).byte_identical

    @property
    def ok(self) -> bool:
        """Every path that ran is within tolerance with identical predictions, and the bytes matched."""
        return all(p.status in ("ok", "skipped") for p in self.paths) and self.byte_identical is not False

    def to_dict(self) -> dict[str, object]:
        """The report for JSON: its fields, the verdicts, and each path's own dictionary."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "paths"}
        paths = [p.to_dict() for p in self.paths]
        return {**plain, "ok": self.ok, "byte_identical": self.byte_identical, "paths": paths}

    def table(self, with_source: bool = True) -> str:
        header = ("path", "status", "max |error|", "agreement", "bytes identical", "seconds")
        rows = [header]
        for p in self.paths:
            rows.append(
                (
                    p.name,
                    p.status,
                    "-" if p.max_abs_error is None else f"{p.max_abs_error:.2e}",
                    "-" if p.agreement is None else f"{p.agreement:.3f}",
                    "-" if p.byte_identical is None else ("yes" if p.byte_identical else "NO"),
                    "-" if p.seconds is None else f"{p.seconds:.1f}",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        shape = f"{self.n_outputs} x {self.n_features} linear model"
        intro = [f"{shape}, {self.n_inputs} input(s); tolerance {self.tolerance:g}; {self.package}"]
        if self.source and with_source:
            intro.insert(0, self.source)
        notes = [f"  {p.name}: {p.note}" for p in self.paths if p.note]
        verdict = "all paths agree" if self.ok else "MISMATCH: some path disagrees with the plaintext model"
        return "\n".join([*intro, "", *lines, *(["", "notes:", *notes] if notes else []), "", verdict])


def load_package() -> tuple[Any, Any] | str:
    """``(EILinearRegressionClient, EIServer)`` of the real package, or why it cannot be used."""
    try:
        version = importlib.metadata.version(PACKAGE)
        from encrypted.inference.eiclient import EILinearRegressionClient as PackageClient
        from encrypted.inference.eiserver import EIServer as PackageServer
    except (ImportError, importlib.metadata.PackageNotFoundError, OSError) as error:
        return (
            f"{PACKAGE} is not importable ({type(error).__name__}: {error}); pip install {PACKAGE}=={PACKAGE_VERSION}"
        )
    if version != PACKAGE_VERSION:
        return f"{PACKAGE} {version} is installed; this cross-check speaks {PACKAGE_VERSION}'s protocol"
    return PackageClient, PackageServer


def _judge(
    name: str, scores: object, plain: np.ndarray, model: LinearModel, tolerance: float, seconds: float, **extra: Any
) -> PathResult:
    scores = np.asarray(scores, dtype=np.float64).reshape(plain.shape)
    error = float(np.max(np.abs(scores - plain)))
    agreement = float(np.mean(predicted_labels(model, scores) == predicted_labels(model, plain)))
    status = "ok" if error <= tolerance and agreement == 1.0 else "MISMATCH"
    return PathResult(name, status, error, agreement, seconds, scores=scores, **extra)


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def crosscheck(
    weights: object,
    bias: object,
    x: object,
    tolerance: float = TOLERANCE,
    use_package: bool = True,
    log: Callable[[str], None] | None = None,
) -> CrosscheckReport:
    """Run :math:`Wx + b` through every path (see the module's docstring) and compare with the plaintext.

    Parameters
    ----------
    weights : array-like, (n_outputs, n_features)
    bias : array-like, (n_outputs,)
    x : array-like, (n_inputs, n_features) or (n_features,)
    tolerance : float
        Largest acceptable score error.
    use_package : bool
        False skips the real package's paths (they are slow: about 0.8 s per class and input).
    log : callable, optional
        Called with a line before each path (e.g. ``print`` to stderr).

    Raises
    ------
    ShapeError
        Inconsistent or non-finite weights, bias or inputs.
    """
    model = LinearModel(weights, bias)
    x = model.check_inputs(x)
    plain = x @ model.weights.T + model.bias
    say = log or (lambda _line: None)
    paths: list[PathResult] = []

    for encoding in (COEFFICIENTS, SLOTS):
        say(f"{encoding}: heedu's {encoding} protocol, {len(x)} input(s) in one query")

        def own_protocol(encoding: str = encoding) -> np.ndarray:
            server = EncryptedLinearModel.from_sklearn(model, encoding=encoding)
            client = InferenceClient(server.plan)
            return client.decrypt(server.predict(client.encrypt(x), client.public_keys()))

        scores, seconds = _timed(own_protocol)
        paths.append(_judge(encoding, scores, plain, model, tolerance, seconds))

    say(f"{HEEDU_EI}: heedu's EILinearRegressionClient and EIServer, one query per input")

    def heedu_ei() -> list[np.ndarray]:
        client = EILinearRegressionClient()
        _, blob = client.get_public_keys()
        server = EIServer(model.weights, model.bias)
        return [client.decrypt(server.predict(client.encrypt(row), blob)) for row in x]

    scores, seconds = _timed(heedu_ei)
    paths.append(_judge(HEEDU_EI, scores, plain, model, tolerance, seconds))

    package = load_package() if use_package else "not requested (use_package=False / --no-package)"
    if isinstance(package, str):
        for name in (PACKAGE_PATH, PACKAGE_TO_HEEDU_SERVER, PACKAGE_TO_HEEDU_CLIENT):
            paths.append(PathResult(name, "skipped", note=package))
        package_text = package
    else:
        package_text = f"{PACKAGE} {PACKAGE_VERSION}"
        paths.extend(_package_paths(package, model, x, plain, tolerance, say))
    return CrosscheckReport(len(x), model.n_outputs, model.n_features, tolerance, package_text, paths)


def _package_paths(
    package: tuple[Any, Any],
    model: LinearModel,
    x: np.ndarray,
    plain: np.ndarray,
    tolerance: float,
    say: Callable[[str], None],
) -> list[PathResult]:
    """The package alone, then the two cross combinations on the package's own objects."""
    package_client_class, package_server_class = package
    say(f"{PACKAGE_PATH}: {PACKAGE} {PACKAGE_VERSION}'s client and server (about 0.8 s per class and input)")
    started = time.perf_counter()
    client = package_client_class()
    _, blob = client.get_public_keys()
    server = package_server_class(model.weights, model.bias)
    queries = [client.encrypt(row) for row in x]
    answers = [server.predict(query, blob) for query in queries]
    scores = [client.decrypt(answer) for answer in answers]
    results = [_judge(PACKAGE_PATH, scores, plain, model, tolerance, time.perf_counter() - started)]

    say(f"{PACKAGE_TO_HEEDU_SERVER}: heedu's EIServer on the package's queries and keys")
    started = time.perf_counter()
    heedu_server = EIServer(model.weights, model.bias)
    heedu_answers = [heedu_server.predict(query, blob) for query in queries]
    seconds = time.perf_counter() - started
    identical = all(list(mine) == list(theirs) for mine, theirs in zip(heedu_answers, answers, strict=True))
    if identical:  # the same strings the package's own server produced: safe to hand to the package
        scores = [client.decrypt(answer) for answer in heedu_answers]
        note = ""
    else:  # never feed the package bytes it did not make itself: it aborts the process on anything odd
        reader = EILinearRegressionClient(client.secret_key())
        scores = [reader.decrypt(answer) for answer in heedu_answers]
        note = "heedu's bytes differ from the package's: decrypted by a heedu client with the package's secret"
    results.append(
        _judge(PACKAGE_TO_HEEDU_SERVER, scores, plain, model, tolerance, seconds, byte_identical=identical, note=note)
    )
    if not identical:
        results[-1].status = "MISMATCH"

    say(f"{PACKAGE_TO_HEEDU_CLIENT}: a heedu client with the package's secret decrypts the package's answers")
    started = time.perf_counter()
    reader = EILinearRegressionClient(client.secret_key())
    scores = [reader.decrypt(answer) for answer in answers]
    results.append(_judge(PACKAGE_TO_HEEDU_CLIENT, scores, plain, model, tolerance, time.perf_counter() - started))
    return results


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def random_model(n_outputs: int = 10, n_features: int = 784, seed: int = RANDOM_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Weights N(0, 0.05) and biases N(0, 0.5): the size and magnitude of the tutorial's model."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.05, size=(n_outputs, n_features)), rng.normal(0.0, 0.5, size=n_outputs)


def random_inputs(n: int, n_features: int = 784, seed: int = RANDOM_SEED + 1) -> np.ndarray:
    """MNIST-like inputs: pixels / 255 in [0, 1], about 80 % zeros."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, n_features)) / 255.0
    x[rng.random((n, n_features)) < 0.8] = 0.0
    return x


DESCRIPTION = (
    "Run one linear model on the same inputs through heedu's coefficient and slot protocols, heedu's EI "
    f"client and server, the real {PACKAGE} {PACKAGE_VERSION}, and the cross combinations; report each "
    "path's largest score error and argmax agreement, and whether heedu's EI answers are byte-identical "
    "to the package's. Exit status 1 if a path disagrees."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The cross-check's options (shared by ``python -m heedu.tools.crosscheck`` and ``heedu crosscheck``)."""
    from . import mnist

    parser.add_argument(
        "--model", type=Path, metavar="PKL",
        help=f"scikit-learn linear model (default: DIR/{mnist.TUTORIAL_MODEL}, else a random 10 x 784 model)",
    )
    parser.add_argument(
        "--data", type=Path, metavar="DIR",
        help=f"folder with the MNIST test set (default: ${mnist.DATA_ENV}; random MNIST-like inputs without one)",
    )
    parser.add_argument("--n", type=positive_int, default=3, help="number of inputs (default: %(default)s)")
    parser.add_argument(
        "--no-package", action="store_true", help=f"skip the real {PACKAGE} paths (about 0.8 s per class and input)"
    )
    parser.add_argument(
        "--download", action="store_true",
        help="fetch the MNIST test set and the tutorial's model into the cache if they are missing",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m heedu.tools.crosscheck``: every path on the tutorial's model (or a random one)."""
    parser = argparse.ArgumentParser(prog="python -m heedu.tools.crosscheck", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the cross-check the parsed ``args`` ask for; usage errors exit through ``parser``."""
    from . import datasets, mnist

    if args.data is not None and not args.data.is_dir():
        parser.exit(2, f"error: --data {args.data} is not a folder\n")
    try:
        data_dir: Path | None = datasets.ensure_data(args.data, args.download)
    except datasets.DataMissingError:
        data_dir = args.data if args.data is not None else mnist.find_data_dir()  # a random model and inputs follow
    except datasets.DataFetchError as error:
        parser.exit(2, f"error: {error}\n")
    model_path = args.model if args.model is not None else (data_dir / mnist.TUTORIAL_MODEL if data_dir else None)
    if args.model is not None and not args.model.is_file():
        parser.exit(2, f"error: --model {args.model} does not exist\n")

    sources = []
    if model_path is not None and model_path.is_file():
        try:
            estimator = mnist.load_tutorial_model(model_path)
        except ShapeError as error:
            parser.exit(2, f"error: {error}\n")
        linear = LinearModel.from_sklearn(estimator)
        weights, bias = linear.weights, linear.bias
        sources.append(f"model: {model_path} ({type(estimator).__name__}, {weights.shape[0]} x {weights.shape[1]})")
    else:
        weights, bias = random_model()
        where = f"no {mnist.TUTORIAL_MODEL} found" + (f" in {data_dir}" if data_dir else " (no data folder)")
        sources.append(f"model: a random 10 x 784 model, seed {RANDOM_SEED} ({where})")

    x = None
    if data_dir is not None:
        try:
            images, _ = mnist.load_mnist_test(data_dir)
            if images.shape[1] == weights.shape[1]:
                x = images[: args.n]
                sources.append(f"inputs: the first {len(x)} MNIST test image(s) from {data_dir}")
        except (FileNotFoundError, mnist.IdxFormatError) as error:
            sources.append(f"(MNIST test set not usable: {error})")
    if x is None:
        x = random_inputs(args.n, weights.shape[1])
        sources.append(f"inputs: {args.n} random MNIST-like vector(s), seed {RANDOM_SEED + 1} (no MNIST test set used)")

    def log(line: str) -> None:
        print(f"... {line}", file=sys.stderr, flush=True)

    for line in sources:
        print(line, flush=True)
    report = crosscheck(weights, bias, x, use_package=not args.no_package, log=log)
    report.source = "\n".join(sources)
    print()
    print(report.table(with_source=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
