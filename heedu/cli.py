"""The ``heedu`` command line: a narrated encrypted-inference demo and the packed protocol, file by file.

Subcommands::

    heedu demo [--png PATH] [--batch N] [--mnist DIR --model PKL] [--azure]
    heedu params [--poly-modulus-degree N] [--coeff-modulus-bits 60,40,40,60] [--scale-bits 40] [--allow-insecure]
    heedu plan --model PKL --out plan.json
    heedu keygen --plan plan.json --out DIR
    heedu encrypt --plan plan.json --secret-key DIR/secret.key --input X.npy --out query.bin
    heedu predict --model PKL --query query.bin --keys DIR/public.keys --out answer.bin
    heedu decrypt --plan plan.json --secret-key DIR/secret.key --answer answer.bin --out scores.npy
    heedu serve --model PKL
    heedu bench
    heedu crosscheck [ARGS...]

Every error ends the command with a one-line message on stderr and a non-zero status (set
``HEEDU_DEBUG=1`` to see the traceback instead).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from .errors import HeeduError

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY_FILE = "secret.key"
PUBLIC_KEYS_FILE = "public.keys"
MAX_INPUT_BYTES = 256 * 1024 * 1024
DEMO_SEED = 0


class CLIError(HeeduError):
    """A user error: printed as one line, exit status 1."""


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _size(n_bytes: int) -> str:
    for unit, factor in (("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.2f} {unit}"
    return f"{n_bytes} B"


def _step(title: str, action: Callable[[], T], size: Callable[[T], int] | None = None) -> T:
    start = time.perf_counter()
    result = action()
    elapsed = 1000 * (time.perf_counter() - start)
    extra = f"  {_size(size(result)):>10}" if size is not None else ""
    print(f"  {title:<48} {elapsed:9.1f} ms{extra}", flush=True)
    return result


def _read_bytes(path: str, what: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{what} {path!r} is not a file")
    if p.stat().st_size > MAX_INPUT_BYTES:
        raise CLIError(f"{what} {path!r} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return p.read_bytes()


def _write_bytes(path: str, data: bytes, mode: int = 0o644) -> None:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise CLIError(f"cannot write {path!r}: folder {str(p.parent)!r} does not exist")
    with contextlib.suppress(FileNotFoundError):
        p.unlink()  # so that the mode below applies to a new file
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.chmod(p, mode)


def _parse_bits(text: str) -> tuple[int, ...]:
    try:
        bits = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 60,40,40,60, got {text!r}") from None
    if not bits:
        raise argparse.ArgumentTypeError("expected at least one bit size, like 60,40,40,60")
    return bits


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _add_parameter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CKKS parameters (default: the tutorial's N = 8192, [60, 40, 40, 60], 2^40)")
    group.add_argument("--poly-modulus-degree", type=_positive_int, metavar="N", help="ring degree N (power of two)")
    group.add_argument("--coeff-modulus-bits", type=_parse_bits, metavar="BITS", help="prime sizes, e.g. 60,40,40,60")
    group.add_argument("--scale-bits", type=_positive_float, metavar="BITS", help="default scale 2^BITS")
    _add_insecure_option(group)


def _add_insecure_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--allow-insecure", action="store_true", help="accept toy rings below 128-bit security (never for real data)"
    )


def _parameters(args: argparse.Namespace) -> object:
    """The CKKSParameters the options ask for (the tutorial's when none is given)."""
    from .params import CKKSParameters

    if args.poly_modulus_degree is None and args.coeff_modulus_bits is None and args.scale_bits is None:
        tutorial = CKKSParameters.tutorial()
        if not args.allow_insecure:
            return tutorial
    return CKKSParameters(
        poly_modulus_degree=args.poly_modulus_degree or 8192,
        coeff_modulus_bits=args.coeff_modulus_bits or (60, 40, 40, 60),
        scale=2.0 ** (args.scale_bits if args.scale_bits is not None else 40),
        allow_insecure=args.allow_insecure,
    )


def _load_model(path: str) -> object:
    from .inference.mnist import load_tutorial_model

    if not Path(path).is_file():
        raise CLIError(f"model {path!r} is not a file")
    try:
        return load_tutorial_model(path)
    except (ImportError, FileNotFoundError):
        raise
    except Exception as error:  # unpickling can fail in many ways; say which file and why
        from .errors import HeeduError

        if isinstance(error, HeeduError):
            raise
        raise CLIError(f"cannot load a model from {path!r}: {type(error).__name__}: {error}") from None


def _load_plan(path: str, allow_insecure: bool = False) -> object:
    from .errors import SecurityError
    from .inference import InferencePlan

    data = _read_bytes(path, "plan")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CLIError(f"plan {path!r} is not UTF-8 JSON") from None
    try:
        return InferencePlan.from_json(text, allow_insecure=allow_insecure)
    except SecurityError as error:
        reason = str(error).split(" (HE standard)")[0]
        raise CLIError(
            f"plan {path!r} uses parameters below 128-bit security ({reason}). Only you can accept a toy ring: "
            "add --allow-insecure if you are experimenting, never for real data."
        ) from None


def _load_secret_key(path: str, plan: object) -> object:
    from .keys import SecretKey
    from .params import CKKSContext
    from .serialization import loads

    data = _read_bytes(path, "secret key")
    secret = loads(data, CKKSContext(plan.parameters), allow_secret_key=True)  # type: ignore[attr-defined]
    if not isinstance(secret, SecretKey):
        raise CLIError(f"{path!r} holds a {type(secret).__name__}, not a secret key")
    return secret


def _client(plan_path: str, secret_path: str, allow_insecure: bool = False) -> object:
    from .inference import InferenceClient

    plan = _load_plan(plan_path, allow_insecure)
    return InferenceClient(plan, secret_key=_load_secret_key(secret_path, plan))


def _server(args: argparse.Namespace) -> object:
    from .inference import EncryptedLinearModel

    model = _load_model(args.model)
    if getattr(args, "plan", None):
        plan = _load_plan(args.plan, args.allow_insecure)
        server = EncryptedLinearModel.from_sklearn(model, plan.parameters)
        if server.plan != plan:
            raise CLIError(f"model {args.model!r} does not match plan {args.plan!r} (other sizes or parameters)")
        return server
    return EncryptedLinearModel.from_sklearn(model, _parameters(args))


# --------------------------------------------------------------------------------------------------
# params, plan, keygen, encrypt, predict, decrypt
# --------------------------------------------------------------------------------------------------


def cmd_params(args: argparse.Namespace) -> int:
    from .params import CKKSContext

    print(CKKSContext(_parameters(args)).describe())
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    server = _server(args)
    _write_bytes(args.out, server.plan.to_json().encode() + b"\n")
    print(server.plan.describe())
    print(f"plan written to {args.out}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from .inference import InferenceClient
    from .keys import KeyGenerator
    from .params import CKKSContext
    from .serialization import dumps

    plan = _load_plan(args.plan, args.allow_insecure)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {args.out!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    context = CKKSContext(plan.parameters)
    secret = KeyGenerator(context).secret_key()
    client = InferenceClient(plan, secret_key=secret)
    secret_blob = dumps(secret, context, allow_secret_key=True)
    public_blob = client.public_keys()
    _write_bytes(str(out / SECRET_KEY_FILE), secret_blob, mode=0o600)
    _write_bytes(str(out / PUBLIC_KEYS_FILE), public_blob)
    print(f"secret key:  {out / SECRET_KEY_FILE} ({_size(len(secret_blob))}, mode 0600: keep it private)")
    print(f"public keys: {out / PUBLIC_KEYS_FILE} ({_size(len(public_blob))}, send to the server once)")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    client = _client(args.plan, args.secret_key, args.allow_insecure)
    if not Path(args.input).is_file():
        raise CLIError(f"input {args.input!r} is not a file")
    try:
        x = np.load(args.input, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise CLIError(f"input {args.input!r} is not a .npy array: {error}") from None
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise CLIError(f"input {args.input!r} holds {x.dtype} values; expected real numbers")
    query = client.encrypt(x.astype(np.float64))
    _write_bytes(args.out, query)
    print(f"encrypted {x.shape} into {args.out} ({_size(len(query))})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    server = _server(args)
    query = _read_bytes(args.query, "query")
    keys = _read_bytes(args.keys, "keys")
    answer = server.predict(query, keys)
    _write_bytes(args.out, answer)
    print(f"answered {args.query} into {args.out} ({_size(len(answer))})")
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    client = _client(args.plan, args.secret_key, args.allow_insecure)
    scores = client.decrypt(_read_bytes(args.answer, "answer"))
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {args.out!r}: folder {str(out.parent)!r} does not exist")
    with out.open("wb") as stream:  # np.save(path) would append .npy to other names
        np.save(stream, scores)
    print(f"decrypted scores {scores.shape} into {args.out}")
    return 0


# --------------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------------


def _digits_model() -> tuple[object, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """LogisticRegression on scikit-learn's bundled digits: (model, x_test, y_test, images, image shape)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=DEMO_SEED, stratify=digits.target
    )
    # One BLAS thread: on small problems thread oversubscription makes lbfgs ~100x slower.
    with threadpool_limits(limits=1):
        model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    return model, x_test, y_test.astype(np.int64), x_test, (8, 8)


def _mnist_model(data_dir: str, model_path: str) -> tuple[object, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    from .inference.mnist import load_mnist_test

    if not Path(data_dir).is_dir():
        raise CLIError(f"--mnist {data_dir!r} is not a folder")
    model = _load_model(model_path)
    x, y = load_mnist_test(data_dir)
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
        print("  matplotlib is not installed: skipping the PNG (pip install matplotlib)")
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


def _score_script() -> Path:
    """The Azure entry script, wherever the azure_adapter package is installed (checkout or wheel)."""
    import azure_adapter

    return Path(azure_adapter.__file__).resolve().parent / "score.py"


def _azure_scores(model: object, x: np.ndarray) -> np.ndarray | None:
    """The same batch through the local Azure stack (Azurite + azmlinfsrv + score.py); None when unavailable."""
    try:
        from azure_adapter.local_stack import LocalStack, LocalStackError, missing_requirements
    except ImportError as error:
        print(f"  --azure skipped: the azure adapter cannot be imported ({error})")
        return None
    missing = missing_requirements()
    if missing:
        print("  --azure skipped: " + "; ".join(missing))
        return None
    try:
        from azure_adapter.client import NativeServiceClient
    except ImportError as error:
        print(f"  --azure skipped: the Azure packages are missing ({error}); pip install -e '.[azure]'")
        return None
    import joblib

    with tempfile.TemporaryDirectory(prefix="heedu-demo-model-") as model_root:
        version_dir = Path(model_root) / "heedu-demo" / "1"  # Azure ML's <name>/<version>/ layout
        version_dir.mkdir(parents=True)
        joblib.dump(model, version_dir / "model.pkl")
        entry = _score_script()
        print(f"  starting Azurite and the inference server with {entry.name} (model in {version_dir}) ...")
        try:
            with LocalStack(entry_script=entry, model_dir=model_root) as stack:
                print(f"  scoring URI: {stack.scoring_uri}")
                client = _step(
                    "plan from the service, keys uploaded to Azurite",
                    lambda: NativeServiceClient(stack.scoring_uri, stack.connection_string),
                )
                return _step("encrypted batch scored by the service", lambda: client.scores(x))
        except LocalStackError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"  --azure skipped: the local stack did not start: {first}")
            return None


def cmd_demo(args: argparse.Namespace) -> int:
    from .inference import EncryptedLinearModel, InferenceClient
    from .inference.evaluate import ProgressBar

    if (args.mnist is None) != (args.model is None):
        raise CLIError("--mnist DIR and --model PKL go together")
    started = time.perf_counter()
    print("heedu demo: a classifier that never sees its inputs in the clear\n")
    print("1. train (plaintext)")
    if args.mnist is not None:
        model, x_all, y_all, images, shape = _step(
            "load the tutorial model and MNIST test set", lambda: _mnist_model(args.mnist, args.model)
        )
        source = f"MNIST test set in {args.mnist}, model {args.model}"
        if args.test_size is None:
            args.test_size = 200
    else:
        model, x_all, y_all, images, shape = _step("LogisticRegression on scikit-learn's digits", _digits_model)
        source = "scikit-learn's bundled 8x8 digits (X / 16), 75/25 stratified split, seed 0"
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    plain_all = model.decision_function(x_all)  # type: ignore[attr-defined]
    plain_accuracy = float(np.mean(classes[np.argmax(plain_all, axis=1)] == y_all))
    print(f"  data: {source}")
    print(f"  {len(classes)} classes x {x_all.shape[1]} features; plaintext test accuracy {plain_accuracy:.4f}"
          f" on {len(y_all)} images")
    batch = min(args.batch, len(y_all))
    x, y = x_all[:batch], y_all[:batch]

    print("\n2. server: plan and encode the model (public plan below)")
    params = _parameters(args)
    server = _step("encode weights as pre-rotated diagonals", lambda: EncryptedLinearModel.from_sklearn(model, params))
    for line in server.plan.describe().splitlines():
        print(f"    {line}")
    plan_json = server.plan.to_json()
    print(f"    plan JSON: {len(plan_json)} bytes, fingerprint {server.plan.fingerprint.hex()}")

    print("\n3. client: keys, then encrypt the batch")
    client = _step(
        "secret key (stays here)",
        lambda: InferenceClient(type(server.plan).from_json(plan_json, allow_insecure=args.allow_insecure)),
    )
    keys = _step("public key and Galois keys for the plan's rotations (sent once)", client.public_keys, len)

    query = _step(f"encrypt {batch} digit(s) into one packed query", lambda: client.encrypt(x), len)
    answer = _step("server: predict on ciphertexts only", lambda: server.predict(query, keys), len)
    scores = _step("client: decrypt and decode the answer", lambda: client.decrypt(answer))

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

    if args.azure:
        print("\n3b. the same batch through the local Azure stack")
        azure = _azure_scores(model, x)
        if azure is not None:
            print(f"  max |azure - in-process| = {np.max(np.abs(azure - scores)):.2e}")
            if not np.array_equal(np.argmax(azure, axis=1), np.argmax(scores, axis=1)):
                print("  MISMATCH: the service's argmax differs from the in-process one")
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


# --------------------------------------------------------------------------------------------------
# serve, bench, crosscheck
# --------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from azure_adapter.local_stack import LocalStack, missing_requirements

    model_path = Path(args.model)
    _load_model(args.model)  # fail early, with a clear message, on a bad model file
    missing = missing_requirements()
    if missing:
        raise CLIError("cannot start the local stack: " + "; ".join(missing))
    entry = _score_script()
    with tempfile.TemporaryDirectory(prefix="heedu-serve-model-") as model_root:
        version_dir = Path(model_root) / model_path.stem / "1"
        version_dir.mkdir(parents=True)
        (version_dir / model_path.name).write_bytes(model_path.read_bytes())
        with LocalStack(entry_script=entry, model_dir=model_root) as stack:
            print(f"scoring URI:       {stack.scoring_uri}")
            print(f"liveness URI:      {stack.liveness_uri}")
            print(f"blob endpoint:     {stack.blob_endpoint}")
            print(f"connection string: {stack.connection_string}")
            print("Ctrl-C stops both services.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("\nstopping")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    scripts = [REPO_ROOT / "benchmarks" / name for name in ("bench_core.py", "bench_inference.py")]
    present = [s for s in scripts if s.is_file()]
    if not present:
        raise CLIError(f"no benchmark scripts in {REPO_ROOT / 'benchmarks'} (this is not a source checkout?)")
    status = 0
    for script in present:
        print(f"== {script.relative_to(REPO_ROOT)}", flush=True)
        status = status or subprocess.call([sys.executable, str(script)], cwd=REPO_ROOT)
    return status


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from .inference.crosscheck import main as crosscheck_main

    return int(crosscheck_main(list(args.args)) or 0)


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heedu", description="heedu: CKKS homomorphic encryption in NumPy")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="narrated encrypted inference on handwritten digits")
    p.add_argument("--png", default="heedu-demo.png", metavar="PATH", help="figure path ('' to skip)")
    p.add_argument("--batch", type=_positive_int, default=12, metavar="N", help="test digits to encrypt (12)")
    p.add_argument("--test-size", type=_positive_int, metavar="N",
                   help="test images for the accuracy pass (default: all 450 digits, 200 MNIST images)")
    p.add_argument("--mnist", metavar="DIR", help="the tutorial's MNIST test files instead of the digits")
    p.add_argument("--model", metavar="PKL", help="the tutorial's model (with --mnist)")
    p.add_argument("--azure", action="store_true", help="also run the batch through the local Azure stack")
    _add_parameter_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("params", help="describe a CKKS parameter set (security, levels, precision)")
    _add_parameter_options(p)
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("plan", help="server: export a model's public plan")
    p.add_argument("--model", required=True, metavar="PKL")
    p.add_argument("--out", required=True, metavar="PLAN.json")
    _add_parameter_options(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("keygen", help="client: secret key and public keys (public key, Galois keys) for a plan")
    p.add_argument("--plan", required=True, metavar="PLAN.json")
    p.add_argument("--out", required=True, metavar="DIR")
    _add_insecure_option(p)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("encrypt", help="client: encrypt inputs (.npy) into a query")
    p.add_argument("--plan", required=True, metavar="PLAN.json")
    p.add_argument("--secret-key", required=True, metavar="FILE")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--out", required=True, metavar="QUERY.bin")
    _add_insecure_option(p)
    p.set_defaults(func=cmd_encrypt)

    p = sub.add_parser("predict", help="server: answer an encrypted query")
    p.add_argument("--model", required=True, metavar="PKL")
    p.add_argument("--query", required=True, metavar="QUERY.bin")
    p.add_argument("--keys", required=True, metavar="FILE")
    p.add_argument("--out", required=True, metavar="ANSWER.bin")
    p.add_argument("--plan", metavar="PLAN.json", help="take the parameters from this plan")
    _add_parameter_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("decrypt", help="client: decrypt an answer into scores (.npy)")
    p.add_argument("--plan", required=True, metavar="PLAN.json")
    p.add_argument("--secret-key", required=True, metavar="FILE")
    p.add_argument("--answer", required=True, metavar="ANSWER.bin")
    p.add_argument("--out", required=True, metavar="SCORES.npy")
    _add_insecure_option(p)
    p.set_defaults(func=cmd_decrypt)

    p = sub.add_parser("serve", help="serve a model on the local Azure stack (Ctrl-C stops)")
    p.add_argument("--model", required=True, metavar="PKL")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="run the benchmarks (source checkout)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("crosscheck", help="heedu vs encrypted-inference==0.9 (arguments passed through)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_crosscheck)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with status 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"heedu {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("HEEDU_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if not isinstance(error, CLIError):
            message = f"{type(error).__name__}: {message}" if message else type(error).__name__
        print(f"heedu {args.command}: error: {message}", file=sys.stderr)
        return 1


__all__ = ["CLIError", "build_parser", "main"]
