"""The Azure adapter's ``heedu`` subcommands: ``heedu serve`` and ``heedu demo-azure``.

heedu's command line never imports the adapter; the adapter registers these through the entry
point group ``heedu.commands`` (``pyproject.toml``), and ``heedu`` finds them when the adapter is
installed. Everything heavy (Azurite, the inference server, azure-storage-blob) is imported only
when a command runs, so a missing Azure extra costs the other commands nothing.

* ``heedu serve --model PKL``: the local stack (Azurite and the Azure ML inference server on
  127.0.0.1, both development and test infrastructure) serving the model with ``score.py``;
* ``heedu demo-azure``: ``heedu demo``, then the same batch through that stack (under the protocol
  of the demo's ``--encoding``: ``heedu-coefficients-1`` by default, ``heedu-native-1`` for slots),
  checked against the in-process scores;
* ``heedu query --uri URI --input X.npy``: a client for a running service (``heedu serve``, or a
  deployed endpoint): fetches the plan, makes keys, sends one encrypted batch, decrypts, prints the
  predicted classes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from heedu.cli.common import CLIError, load_model, missing_extra, step
from heedu.cli.demo import add_demo_arguments, run_demo


def score_script() -> Path:
    """The Azure entry script, wherever this package is installed (checkout or wheel)."""
    return Path(__file__).resolve().parent / "score.py"


def azure_scores(model: object, x: np.ndarray, encoding: str = "coefficients") -> np.ndarray:
    """The same batch through the local Azure stack (Azurite + azmlinfsrv + score.py), under ``encoding``'s protocol.

    Raises
    ------
    CLIError
        The stack's parts are missing or it did not start.
    """
    try:
        import joblib

        from .client import CoefficientServiceClient, NativeServiceClient
        from .local_stack import LocalStack, LocalStackError, missing_requirements
    except ImportError as error:
        raise missing_extra("azure", error, "this command") from None
    missing = missing_requirements()
    if missing:
        raise CLIError("cannot start the local stack: " + "; ".join(missing))
    with tempfile.TemporaryDirectory(prefix="heedu-demo-model-") as model_root:
        version_dir = Path(model_root) / "heedu-demo" / "1"  # Azure ML's <name>/<version>/ layout
        version_dir.mkdir(parents=True)
        joblib.dump(model, version_dir / "model.pkl")
        entry = score_script()
        print(f"  starting Azurite and the inference server with {entry.name} (model in {version_dir}) ...")
        try:
            with LocalStack(entry_script=entry, model_dir=model_root) as stack:
                print(f"  scoring URI: {stack.scoring_uri}")
                client_type = NativeServiceClient if encoding == "slots" else CoefficientServiceClient
                client = step(
                    f"{client_type.protocol} plan from the service, keys uploaded to Azurite",
                    lambda: client_type(stack.scoring_uri, stack.connection_string),
                )
                return step("encrypted batch scored by the service", lambda: client.scores(x))
        except LocalStackError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CLIError(f"the local stack did not start: {first}") from None


def _through_the_stack(model: object, x: np.ndarray, scores: np.ndarray, encoding: str = "coefficients") -> bool:
    """The demo's extra step: True (fail) if the service's argmax differs from the in-process one."""
    print("\n3b. the same batch through the local Azure stack")
    azure = azure_scores(model, x, encoding)
    print(f"  max |azure - in-process| = {np.max(np.abs(azure - scores)):.2e}")
    if not np.array_equal(np.argmax(azure, axis=1), np.argmax(scores, axis=1)):
        print("  MISMATCH: the service's argmax differs from the in-process one")
        return True
    return False


def cmd_demo_azure(args: argparse.Namespace) -> int:
    encoding = getattr(args, "encoding", "coefficients")
    return run_demo(args, extra_step=lambda model, x, scores: _through_the_stack(model, x, scores, encoding))


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .local_stack import LocalStack, missing_requirements
    except ImportError as error:
        raise missing_extra("azure", error, "this command") from None
    model_path = Path(args.model)
    load_model(args.model)  # fail early, with a clear message, on a bad model file
    missing = missing_requirements()
    if missing:
        raise CLIError("cannot start the local stack: " + "; ".join(missing))
    with tempfile.TemporaryDirectory(prefix="heedu-serve-model-") as model_root:
        version_dir = Path(model_root) / model_path.stem / "1"
        version_dir.mkdir(parents=True)
        (version_dir / model_path.name).write_bytes(model_path.read_bytes())
        with LocalStack(entry_script=score_script(), model_dir=model_root) as stack:
            print(f"scoring URI:       {stack.scoring_uri}")
            print(f"liveness URI:      {stack.liveness_uri}")
            print(f"blob endpoint:     {stack.blob_endpoint}")
            print(f"connection string: {stack.connection_string}")
            print("\nsend an encrypted query from another terminal (inputs saved with numpy.save):")
            print(f"  heedu query --uri {stack.scoring_uri} --input x.npy")
            print(f"  heedu query --uri {stack.scoring_uri} --input x.npy --encoding slots "
                  f"--connection-string '{stack.connection_string}'")
            print("Ctrl-C stops both services.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("\nstopping")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from heedu.cli.common import expect_kind, read_bytes

    try:
        from .client import CoefficientServiceClient, NativeServiceClient
    except ImportError as error:
        raise missing_extra("azure", error, "this command") from None
    expect_kind(args.input, read_bytes(args.input, "input"), "--input", "a NumPy array (.npy)")
    x = np.load(args.input, allow_pickle=False).astype(np.float64)
    if args.encoding == "slots":
        if not args.connection_string:
            raise CLIError("--encoding slots sends its Galois keys through Blob Storage: add --connection-string")
        client: object = NativeServiceClient(
            args.uri, args.connection_string, api_key=args.api_key, allow_insecure=args.allow_insecure
        )
    else:
        client = CoefficientServiceClient(
            args.uri, args.connection_string, api_key=args.api_key, allow_insecure=args.allow_insecure,
            inline_keys=not args.connection_string,
        )
    scores = step("encrypt, send, decrypt", lambda: client.scores(x))  # type: ignore[attr-defined]
    if args.out:
        with Path(args.out).open("wb") as stream:
            np.save(stream, scores)
        print(f"scores {np.shape(scores)} written to {args.out}")
    rows = np.atleast_2d(scores)
    predicted = (rows[:, 0] > 0).astype(int) if rows.shape[1] == 1 else np.argmax(rows, axis=1)
    print("predicted class: " + " ".join(map(str, predicted)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``serve``, ``query`` and ``demo-azure`` (the ``heedu.commands`` entry point)."""
    p = sub.add_parser(
        "serve", help="serve a model on the local Azure stack (Ctrl-C stops)",
        description="Start Azurite and the Azure ML inference server on 127.0.0.1 with the tutorial's "
        "score.py serving the model, print how to reach them, and stop both on Ctrl-C.",
        epilog="example: heedu serve --model model.pkl",
    )
    p.add_argument("--model", required=True, metavar="PKL", help="the fitted scikit-learn linear model")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "query", help="send an encrypted query to a running service and print the predicted classes",
        description="Fetch the service's plan, make keys, encrypt the inputs, send them, decrypt the "
        "answer. Coefficient encoding sends its 56 kB public key inline unless --connection-string "
        "names storage for it; the slot protocol needs storage for its Galois keys.",
        epilog="example: heedu query --uri http://127.0.0.1:5001/score --input x.npy",
    )
    p.add_argument("--uri", required=True, help="the scoring URI (printed by heedu serve)")
    p.add_argument("--input", required=True, metavar="X.npy", help="inputs saved with numpy.save")
    p.add_argument("--encoding", choices=("coefficients", "slots"), default="coefficients",
                   help="the protocol (default: coefficients)")
    p.add_argument("--connection-string", metavar="CS", help="Blob Storage for the public keys (the stack prints it)")
    p.add_argument("--api-key", metavar="KEY", help="the endpoint's key, if it has one")
    p.add_argument("--out", metavar="SCORES.npy", help="also write the decrypted scores")
    p.add_argument("--allow-insecure", action="store_true",
                   help="accept a plan below 128-bit security (never for real data)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("demo-azure", help="heedu demo, then the same batch through the local Azure stack")
    add_demo_arguments(p)
    p.set_defaults(func=cmd_demo_azure)
