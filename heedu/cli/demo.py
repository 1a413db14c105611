"""``heedu demo``: the main job, narrated. A classifier that never sees its inputs in the clear.

It trains a LogisticRegression on scikit-learn's bundled digits (or loads the tutorial's model and
MNIST with ``--mnist DIR --model PKL``), serves it with coefficient encoding (or, with
``--encoding slots``, the rotation-based slot protocol) and scores the test digits under
encryption, step by step with times and sizes, narrating the layout and where the scores land,
then checks every decrypted argmax against the plaintext model and draws the first digit with its
scores. Other packages can add a
step after the first batch (:func:`run_demo`'s ``extra_step``): the Azure adapter's ``demo-azure``
runs the same batch through the local Azure stack.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .common import CLIError, add_parameter_options, load_model, missing_extra, parameters, positive_int, step

DEMO_SEED = 0
#: A plugin's step after the first batch: (model, inputs, decrypted scores) -> True to fail the demo.
ExtraStep = Callable[[object, np.ndarray, np.ndarray], bool]


def _digits_model() -> tuple[object, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """LogisticRegression on scikit-learn's bundled digits: (model, x_test, y_test, images, image shape)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from threadpoolctl import threadpool_limits
    except ImportError as error:
        raise missing_extra("demo", error, "heedu demo (it trains a scikit-learn model)") from None

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=DEMO_SEED, stratify=digits.target
    )
    # One BLAS thread: on small problems thread oversubscription makes lbfgs ~100x slower.
    with threadpool_limits(limits=1):
        model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    return model, x_test, y_test.astype(np.int64), x_test, (8, 8)


def _mnist_model(
    data_dir: str | None, model_path: str | None, download: bool
) -> tuple[object, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    from ..tools.datasets import DataFetchError, DataMissingError
    from ..tools.mnist import load_mnist_test, load_tutorial_model

    if data_dir and not Path(data_dir).is_dir():
        raise CLIError(f"--mnist {data_dir!r} is not a folder")
    try:
        x, y = load_mnist_test(data_dir or None, download=download)
        if model_path:
            model = load_model(model_path)
        else:
            model = load_tutorial_model(data_dir=data_dir or None, download=download)
    except (DataMissingError, DataFetchError) as error:
        raise CLIError(str(error).replace("download=True", "--download")) from None
    n_features = np.asarray(model.coef_).shape[-1]  # type: ignore[attr-defined]
    if n_features != x.shape[1]:
        raise CLIError(f"model {model_path!r} takes {n_features} features but the images have {x.shape[1]}")
    side = math.isqrt(x.shape[1])
    return model, x, y, x, (side, side) if side * side == x.shape[1] else (1, x.shape[1])


def _write_png(path: str, image: np.ndarray, shape: tuple[int, int], scores: np.ndarray, plain: np.ndarray,
               label: int, classes: np.ndarray) -> bool:
    try:
        import matplotlib
    except ImportError:
        print("  matplotlib is not installed: skipping the PNG (pip install 'heedu[demo]')")
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {path!r}: folder {str(out.parent)!r} does not exist")
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(image.reshape(shape), cmap="gray_r", interpolation="nearest")
    left.set_title(f"test digit (label {label})")
    left.axis("off")
    positions = np.arange(len(classes))
    colors = ["tab:orange" if i == int(np.argmax(scores)) else "tab:blue" for i in positions]
    right.bar(positions, scores, color=colors, label="decrypted (CKKS)")
    right.scatter(positions, plain, color="black", marker="_", s=200, zorder=3, label="plaintext")
    right.set_xticks(positions, [str(c) for c in classes])
    right.axhline(0, color="gray", linewidth=0.5)
    right.set_xlabel("class")
    right.set_ylabel("score (decision_function)")
    right.set_title(f"decrypted scores: predicted {classes[int(np.argmax(scores))]}")
    right.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return True


def run_demo(args: argparse.Namespace, extra_step: ExtraStep | None = None) -> int:
    """The narrated demo; ``extra_step(model, x, scores)`` runs after the first batch (a plugin's step)."""
    from ..inference import EncryptedLinearModel, InferenceClient, read_plan
    from ..tools.progress import ProgressBar

    if args.model is not None and args.mnist is None:
        raise CLIError("--model PKL goes with --mnist [DIR] (the model's MNIST test images)")
    for flag, path in (("--png", args.png), ("--save-model", args.save_model)):  # fail before the work, not after
        if path and not Path(path).resolve().parent.is_dir():
            raise CLIError(f"{flag} {path}: folder {str(Path(path).parent)!r} does not exist")
    started = time.perf_counter()
    print("heedu demo: a classifier that never sees its inputs in the clear\n")
    print("1. train (plaintext)")
    if args.mnist is not None:
        model, x_all, y_all, images, shape = step(
            "load the tutorial model and MNIST test set",
            lambda: _mnist_model(args.mnist, args.model, args.download),
        )
        source = f"MNIST test set ({args.mnist or 'HEEDU_DATA or the cache'}), model {args.model or 'the tutorial'}"
        if args.test_size is None:
            args.test_size = 200
    else:
        model, x_all, y_all, images, shape = step("LogisticRegression on scikit-learn's digits", _digits_model)
        source = "scikit-learn's bundled 8x8 digits (X / 16), 75/25 stratified split, seed 0"
    if args.save_model:
        import joblib

        joblib.dump(model, args.save_model)
        print(f"  model saved to {args.save_model}: try the file protocol on it "
              f"(heedu plan --model {args.save_model} --out plan.json)")
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    plain_all = model.decision_function(x_all)  # type: ignore[attr-defined]
    plain_accuracy = float(np.mean(classes[np.argmax(plain_all, axis=1)] == y_all))
    print(f"  data: {source}")
    print(f"  {len(classes)} classes x {x_all.shape[1]} features; plaintext test accuracy {plain_accuracy:.4f}"
          f" on {len(y_all)} images")
    batch = min(args.batch, len(y_all))
    x, y = x_all[:batch], y_all[:batch]

    print("\n2. server: plan and encode the model (public plan below)")
    params = parameters(args)
    coefficients = args.encoding == "coefficients"
    server = step(
        "plan the coefficient layout" if coefficients else "encode weights as pre-rotated diagonals",
        lambda: EncryptedLinearModel.from_sklearn(model, params, args.input_bound, encoding=args.encoding),
    )
    if coefficients:
        step(f"encode the weights for batches of {batch}", lambda: server.encoded_weights(server.plan.layout(batch)))
    for line in (server.plan.describe(batch) if coefficients else server.plan.describe()).splitlines():
        print(f"    {line}")
    if coefficients:
        print("    Each product of a query polynomial by a weight polynomial is a negacyclic convolution: the")
        print("    coefficients listed above receive whole scores; the server sends only those and c_1,")
        print("    re-randomized and flooded, so the answer reveals the scores and nothing else about W.")
    else:
        print("    Slots: the weights' diagonals times rotations of the input, summed; the Galois keys below")
        print("    let the server rotate (one key switch each). --encoding coefficients needs none.")
    plan_json = server.plan.to_json()
    print(f"    plan JSON: {len(plan_json)} bytes, fingerprint {server.plan.fingerprint.hex()}")

    print("\n3. client: keys, then encrypt the batch")
    client = step(
        "secret key (stays here)",
        lambda: InferenceClient(read_plan(plan_json, allow_insecure=args.allow_insecure)),
    )
    keys = step(
        "public key, the only key the server gets (sent once)" if coefficients
        else "public key and Galois keys for the plan's rotations (sent once)",
        client.public_keys, len,
    )

    query = step(f"encrypt {batch} digit(s) into one query", lambda: client.encrypt(x), len)
    answer = step("server: predict on ciphertexts only", lambda: server.predict(query, keys), len)
    scores = step("client: decrypt and decode the answer", lambda: client.decrypt(answer))

    total = min(len(y_all), args.test_size if args.test_size is not None else len(y_all))
    print(f"\n4. the same round trip for {total} test image(s), {batch} per query")
    pass_start = time.perf_counter()
    bar = ProgressBar(total, label="  encrypted", unit="images", width=24)
    parts = []
    for start in range(0, total, batch):
        chunk = x_all[start : min(total, start + batch)]
        parts.append(client.decrypt(server.predict(client.encrypt(chunk), keys)))
        bar.update(len(chunk), sys.stdout)
    bar.close(sys.stdout)
    all_scores = np.concatenate(parts)
    print(f"  {total} image(s) in {time.perf_counter() - pass_start:.1f} s")

    if extra_step is not None and extra_step(model, x, scores):
        return 1

    print("\n5. results")
    plain = plain_all[:batch]
    shown = min(3, batch)
    for i in range(shown):
        print(f"  digit {i} (label {y[i]}):")
        print("    class      " + " ".join(f"{c:>7}" for c in classes))
        print("    decrypted  " + " ".join(f"{v:7.3f}" for v in scores[i]))
        print("    plaintext  " + " ".join(f"{v:7.3f}" for v in plain[i]))
    print("  first batch, predicted (encrypted): " + " ".join(str(v) for v in classes[np.argmax(scores, axis=1)]))
    print("  first batch, predicted (plaintext): " + " ".join(str(v) for v in classes[np.argmax(plain, axis=1)]))
    print("  first batch, labels:                " + " ".join(str(v) for v in y))
    encrypted_pred = classes[np.argmax(all_scores, axis=1)]
    plain_pred = classes[np.argmax(plain_all[:total], axis=1)]
    labels = y_all[:total]
    enc_acc, pt_acc = float(np.mean(encrypted_pred == labels)), float(np.mean(plain_pred == labels))
    error = float(max(np.max(np.abs(all_scores - plain_all[:total])), np.max(np.abs(scores - plain))))
    print(f"  encrypted accuracy: {enc_acc:.4f} ({int(np.sum(encrypted_pred == labels))}/{total})")
    print(f"  plaintext accuracy: {pt_acc:.4f} ({int(np.sum(plain_pred == labels))}/{total})")
    print(f"  max |decrypted - plaintext| score error: {error:.2e}")
    agree = bool(np.array_equal(encrypted_pred, plain_pred)) and bool(
        np.array_equal(np.argmax(scores, axis=1), np.argmax(plain, axis=1))
    )
    differ = int(np.sum(encrypted_pred != plain_pred))
    print(f"  encrypted argmax == plaintext argmax for every image: {'yes' if agree else f'NO ({differ} differ)'}")

    if args.png:
        if _write_png(args.png, images[0], shape, scores[0], plain[0], int(y[0]), classes):
            print(f"  figure: {args.png} (digit 0 and its decrypted scores)")
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    if not agree:
        print("FAILED: some encrypted predictions differ from the plaintext ones", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args)


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's options, for ``heedu demo`` and for plugins that extend it."""
    p.add_argument("--png", default="heedu-demo.png", metavar="PATH", help="figure path ('' to skip)")
    p.add_argument("--batch", type=positive_int, default=12, metavar="N", help="test digits to encrypt (12)")
    p.add_argument("--test-size", type=positive_int, metavar="N",
                   help="test images for the accuracy pass (default: all 450 digits, 200 MNIST images)")
    p.add_argument(
        "--mnist", nargs="?", const="", metavar="DIR",
        help="the tutorial's model and MNIST test set instead of the digits (from DIR, else $HEEDU_DATA, else the "
        "cache; see --download)",
    )
    p.add_argument(
        "--download", action="store_true",
        help="with --mnist: fetch missing files from their public sources (checksums verified) into the cache",
    )
    p.add_argument("--save-model", metavar="PKL", help="also write the trained model, for heedu plan/predict")
    p.add_argument("--model", metavar="PKL", help="another model for the MNIST images (with --mnist)")
    add_parameter_options(p)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``heedu demo``."""
    p = sub.add_parser(
        "demo", help="narrated encrypted inference on handwritten digits",
        description="Train a classifier on scikit-learn's digits (or load the tutorial's model and MNIST), "
        "serve it under encryption and narrate every step with its time and size.",
        epilog="example: heedu demo --encoding slots --png digits.png",
    )
    add_demo_arguments(p)
    p.set_defaults(func=cmd_demo)
