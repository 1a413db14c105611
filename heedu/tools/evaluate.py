r"""Evaluate a linear classifier under encryption: every test image through one of heedu's protocols.

:func:`evaluate` builds the server (:class:`~heedu.inference.coefficients.EncryptedLinearModel`, or the
slot protocol's with ``encoding="slots"``) and the client
(:class:`~heedu.inference.coefficients.InferenceClient`) once, makes the client's keys once, then
for each batch of images: the client encrypts, the server predicts, the client decrypts. It compares
the decrypted scores with the plaintext ``decision_function`` and returns an
:class:`EvaluationReport`: accuracy under encryption and in the clear, how often the two predicted
labels agree, the largest score error, time per image and bytes each way.

Batches are 1,024 images by default with coefficient encoding (its planner packs a batch that large
into few ciphertexts, at about half a millisecond of server time per image); with slots, a multiple
of ``plan.packing.inputs_per_ciphertext`` (48 for the tutorial's 10 x 784 model, which packs 4 images
per ciphertext), so no ciphertext is sent half empty.

From the command line, on the MNIST test set and the Azure ML tutorial's model::

    python -m heedu.tools.evaluate [--data DIR] [--model PKL] [--limit N] [--batch-size B]
                                   [--encoding coefficients|slots] [--json OUT]

``--data`` defaults to ``$HEEDU_DATA`` (:func:`heedu.tools.mnist.find_data_dir`), ``--model`` to
``sklearn_mnist_model.pkl`` in that folder. heedu looks for data nowhere else.
A progress bar goes to stderr, the report (a small table) to stdout. All 10,000 images take about
20 seconds with coefficient encoding, and 8 to 10 minutes with slots, on one core.

Examples
--------
>>> import numpy as np, heedu
>>> from heedu.inference import LinearModel
>>> toy = heedu.CKKSParameters(poly_modulus_degree=64, coeff_modulus_bits=[60, 60], special_prime=False,
...                            allow_insecure=True)  # a toy ring, for speed; never for real data
>>> model = LinearModel(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2), classes=np.array([3, 5]))
>>> report = evaluate(model, np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([3, 3]), progress=False, parameters=toy)
>>> report.n, report.encrypted_accuracy, report.plaintext_accuracy, report.agreement
(2, 0.5, 0.5, 1.0)
>>> report.max_abs_error < 1e-4
True
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ShapeError
from ..inference.coefficients import EncryptedLinearModel, InferenceClient
from ..inference.envelope import MAX_INPUTS
from ..inference.model import LinearModel
from ..params import CKKSParameters
from .arguments import positive_int
from .progress import ProgressBar

#: Default batch of the slot protocol: the smallest multiple of its inputs per ciphertext at least this.
DEFAULT_BATCH_TARGET = 48
#: Default batch of the coefficient protocol.
DEFAULT_COEFFICIENT_BATCH = 1024


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    """What :func:`evaluate` measured. Times are wall-clock seconds, sizes bytes."""

    n: int
    encrypted_accuracy: float
    plaintext_accuracy: float
    agreement: float  # fraction of inputs whose encrypted prediction equals the plaintext one
    max_abs_error: float  # max |decrypted score - decision_function| over all inputs and outputs
    seconds_per_image: float  # (encrypt + predict + decrypt) / n, keys excluded
    bytes_up: int  # the Galois keys (sent once) plus every query
    bytes_down: int  # every answer
    key_bytes: int
    batch_size: int
    inputs_per_ciphertext: int
    setup_seconds: float  # server planning and encoding, client keys
    encrypt_seconds: float
    predict_seconds: float
    decrypt_seconds: float
    model: str
    plan: str
    disagreements: list[int] = field(default_factory=list)  # indices where the two predictions differ

    @property
    def total_seconds(self) -> float:
        return self.encrypt_seconds + self.predict_seconds + self.decrypt_seconds

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["total_seconds"] = self.total_seconds
        return data

    def rows(self) -> list[tuple[str, str]]:
        n = max(1, self.n)
        return [
            ("model", self.model),
            ("images", f"{self.n}"),
            ("batch size", f"{self.batch_size} ({self.inputs_per_ciphertext} per ciphertext)"),
            ("encrypted accuracy", f"{self.encrypted_accuracy:.4f}"),
            ("plaintext accuracy", f"{self.plaintext_accuracy:.4f}"),
            ("argmax agreement", f"{self.agreement:.4f} ({len(self.disagreements)} disagreement(s))"),
            ("max |score error|", f"{self.max_abs_error:.3e}"),
            ("time per image", f"{1e3 * self.seconds_per_image:.1f} ms"),
            (
                "  encrypt / predict / decrypt",
                f"{1e3 * self.encrypt_seconds / n:.1f} / {1e3 * self.predict_seconds / n:.1f} / "
                f"{1e3 * self.decrypt_seconds / n:.1f} ms",
            ),
            ("setup (encode model, keys)", f"{self.setup_seconds:.2f} s"),
            ("total (excluding setup)", f"{self.total_seconds:.1f} s"),
            ("bytes up", f"{self.bytes_up / 1e6:.2f} MB (keys {self.key_bytes / 1e6:.2f} MB, once)"),
            ("bytes down", f"{self.bytes_down / 1e6:.2f} MB"),
            (
                "per image up / down",
                f"{(self.bytes_up - self.key_bytes) / n / 1e3:.1f} / {self.bytes_down / n / 1e3:.1f} kB",
            ),
        ]

    def table(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        rule = "-" * (width + 2 + max(len(value) for _, value in rows))
        return "\n".join([rule, *(f"{name:<{width}}  {value}" for name, value in rows), rule])


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def default_batch_size(plan: object, target: int = DEFAULT_BATCH_TARGET) -> int:
    """:data:`DEFAULT_COEFFICIENT_BATCH` for coefficient encoding; for slots, the smallest multiple of
    ``plan.packing.inputs_per_ciphertext`` that is at least ``target``."""
    packing = getattr(plan, "packing", None)
    if packing is None:
        return DEFAULT_COEFFICIENT_BATCH
    per = packing.inputs_per_ciphertext
    return per * max(1, math.ceil(target / per))


def inputs_per_ciphertext(plan: object, batch_size: int) -> int:
    """How many inputs share a query ciphertext in batches of ``batch_size``, for either protocol."""
    packing = getattr(plan, "packing", None)
    if packing is not None:
        return int(packing.inputs_per_ciphertext)
    return int(plan.layout(batch_size).inputs_per_ciphertext)  # type: ignore[attr-defined]


def predicted_labels(model: LinearModel, scores: np.ndarray) -> np.ndarray:
    """What ``predict`` would return for these ``(n, n_outputs)`` scores: the argmax class, or for a
    binary model (one score) the positive class where the score is > 0."""
    scores = np.asarray(scores).reshape(len(scores), -1)
    if scores.shape[1] == 1:
        indices = (scores[:, 0] > 0).astype(np.int64)
    else:
        indices = np.argmax(scores, axis=1)
    classes = model.classes if model.classes is not None else np.arange(max(2, scores.shape[1]))
    return np.asarray(classes)[indices]


def evaluate(
    model: object,
    images: object,
    labels: object,
    batch_size: int | None = None,
    progress: bool = True,
    parameters: CKKSParameters | None = None,
    encoding: str = "coefficients",
) -> EvaluationReport:
    """Run one of heedu's protocols over every image, in batches, and compare with the plaintext model.

    Parameters
    ----------
    model : LinearModel or fitted scikit-learn linear classifier
    images : array-like, (n, n_features)
    labels : array-like, (n,)
        The true classes (same values as the model's ``classes_``).
    batch_size : int, optional
        Images per query; default :func:`default_batch_size` (1,024; 48 with slots for the tutorial's model).
    progress : bool
        Draw a progress bar on stderr.
    parameters : CKKSParameters, optional
        Defaults to the protocol's (coefficients: N = 4096, [54, 55], no special prime; slots: the
        tutorial's N = 8192, [60, 40, 40, 60], 2^40).
    encoding : {"coefficients", "slots"}

    Raises
    ------
    ShapeError
        Images that do not fit the model, labels of another length, a batch size below 1.
    """
    linear = model if isinstance(model, LinearModel) else LinearModel.from_sklearn(model)
    x = linear.check_inputs(images)
    truth = np.asarray(labels).ravel()
    if truth.shape[0] != x.shape[0]:
        raise ShapeError(f"{x.shape[0]} images but {truth.shape[0]} labels")
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or not 1 <= batch_size <= MAX_INPUTS
    ):
        raise ShapeError(f"batch_size must be an integer from 1 to {MAX_INPUTS}, got {batch_size!r}")
    started = time.perf_counter()
    server = EncryptedLinearModel.from_sklearn(linear, parameters, encoding=encoding)
    client = InferenceClient(server.plan)
    keys = client.public_keys()
    batch_size = default_batch_size(server.plan) if batch_size is None else int(batch_size)
    if encoding != "slots":  # encode the weights of the layouts in use before the clock runs
        for size in {min(batch_size, x.shape[0]), x.shape[0] % batch_size or batch_size}:
            server.encoded_weights(server.plan.layout(size))
    setup = time.perf_counter() - started

    n = x.shape[0]
    scores = np.empty((n, linear.n_outputs))
    bar = ProgressBar(n, label="encrypted inference") if progress else None
    timings = {"encrypt": 0.0, "predict": 0.0, "decrypt": 0.0}
    bytes_up, bytes_down = len(keys), 0
    for start in range(0, n, batch_size):
        batch = x[start : start + batch_size]
        t0 = time.perf_counter()
        query = client.encrypt(batch)
        t1 = time.perf_counter()
        answer = server.predict(query, keys)
        t2 = time.perf_counter()
        scores[start : start + len(batch)] = np.reshape(client.decrypt(answer), (len(batch), -1))
        t3 = time.perf_counter()
        timings["encrypt"] += t1 - t0
        timings["predict"] += t2 - t1
        timings["decrypt"] += t3 - t2
        bytes_up += len(query)
        bytes_down += len(answer)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()

    plain = linear.decision_function(x).reshape(n, -1)
    encrypted_labels, plain_labels = predicted_labels(linear, scores), predicted_labels(linear, plain)
    total = sum(timings.values())
    return EvaluationReport(
        n=n,
        encrypted_accuracy=float(np.mean(encrypted_labels == truth)),
        plaintext_accuracy=float(np.mean(plain_labels == truth)),
        agreement=float(np.mean(encrypted_labels == plain_labels)),
        max_abs_error=float(np.max(np.abs(scores - plain))),
        seconds_per_image=total / n,
        bytes_up=bytes_up,
        bytes_down=bytes_down,
        key_bytes=len(keys),
        batch_size=batch_size,
        inputs_per_ciphertext=inputs_per_ciphertext(server.plan, batch_size),
        setup_seconds=setup,
        encrypt_seconds=timings["encrypt"],
        predict_seconds=timings["predict"],
        decrypt_seconds=timings["decrypt"],
        model=f"{linear.n_outputs} x {linear.n_features} linear model",
        plan=server.plan.describe(),
        disagreements=[int(i) for i in np.flatnonzero(encrypted_labels != plain_labels)],
    )


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m heedu.tools.evaluate``: the tutorial's model on the MNIST test set, encrypted."""
    from . import datasets, mnist

    parser = argparse.ArgumentParser(
        prog="python -m heedu.tools.evaluate",
        description="Classify the MNIST test images under encryption (coefficient encoding, or slots) and compare "
        "with the plaintext model.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
        f"(default: ${mnist.DATA_ENV})",
    )
    parser.add_argument(
        "--model", type=Path, metavar="PKL", help=f"scikit-learn model (default: DIR/{mnist.TUTORIAL_MODEL})"
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images")
    parser.add_argument(
        "--batch-size", type=positive_int, metavar="B", help="images per query (default: 1024; 48 with slots)"
    )
    parser.add_argument("--encoding", choices=("coefficients", "slots"), default="coefficients",
                        help="the protocol (default: coefficients)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--download", action="store_true",
        help="fetch missing files from their public sources into the cache (checksums verified)",
    )
    args = parser.parse_args(argv)

    names = datasets.MNIST_TEST_FILES + (() if args.model else (datasets.MODEL_FILE,))
    try:
        data_dir = datasets.ensure_data(args.data, args.download, names=names)
    except (datasets.DataMissingError, datasets.DataFetchError) as error:
        parser.exit(2, f"error: {error}\n")
    model_path = args.model if args.model is not None else data_dir / mnist.TUTORIAL_MODEL
    try:
        images, labels = mnist.load_mnist_test(data_dir)
        estimator = mnist.load_tutorial_model(model_path)
    except (FileNotFoundError, mnist.IdxFormatError, ShapeError) as error:
        parser.exit(2, f"error: {error}\nSet {mnist.DATA_ENV}=DIR or pass --data DIR / --model PKL.\n")
    if args.limit is not None:
        images, labels = images[: args.limit], labels[: args.limit]

    print(f"data: {data_dir} ({len(labels)} images); model: {model_path}", flush=True)
    try:
        report = evaluate(
            estimator, images, labels, batch_size=args.batch_size, progress=not args.no_progress,
            encoding=args.encoding,
        )
    except ShapeError as error:  # e.g. a model for another image size
        parser.exit(2, f"error: {error}\n")
    report.model = f"{model_path.name} ({type(estimator).__name__}, {report.model})"
    print(report.table())
    if args.json is not None:
        document = {**report.to_dict(), "data_dir": str(data_dir), "model_path": str(model_path)}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
