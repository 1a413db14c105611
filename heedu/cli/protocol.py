"""heedu's protocols (coefficients by default, or slots), file by file.

The commands: ``params``, ``plan``, ``keygen``, ``encrypt``, ``predict``, ``decrypt``.

The server side exports a public plan and answers queries; the client side makes keys from the
plan, encrypts ``.npy`` inputs and decrypts answers. The secret key is written with mode 0600 and
never leaves the client's folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..tools.narration import size_text
from .common import (
    PUBLIC_KEYS_FILE,
    SECRET_KEY_FILE,
    CLIError,
    add_force_option,
    add_insecure_option,
    add_parameter_options,
    expect_kind,
    load_client,
    load_plan,
    load_server,
    parameters,
    read_bytes,
    write_bytes,
)


def cmd_params(args: argparse.Namespace) -> int:
    from ..params import CKKSContext

    print(CKKSContext(parameters(args)).describe())
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    server = load_server(args)
    write_bytes(args.out, server.plan.to_json().encode() + b"\n", force=args.force)
    print(server.plan.describe())
    print(f"plan written to {args.out}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from ..inference import InferenceClient
    from ..keys import KeyGenerator
    from ..params import CKKSContext
    from ..serialization import dumps

    plan = load_plan(args.plan, args.allow_insecure)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {args.out!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in (SECRET_KEY_FILE, PUBLIC_KEYS_FILE):
        if (out / name).exists() and not args.force:
            raise CLIError(f"{out / name} exists: a new key would orphan what it encrypted; add --force to replace it")
    context = CKKSContext(plan.parameters)
    secret = KeyGenerator(context).secret_key()
    client = InferenceClient(plan, secret_key=secret)
    secret_blob = dumps(secret, context, allow_secret_key=True)
    public_blob = client.public_keys()
    write_bytes(str(out / SECRET_KEY_FILE), secret_blob, mode=0o600, force=True)
    write_bytes(str(out / PUBLIC_KEYS_FILE), public_blob, force=True)
    print(f"secret key:  {out / SECRET_KEY_FILE} ({size_text(len(secret_blob))}, mode 0600: keep it private)")
    print(f"public keys: {out / PUBLIC_KEYS_FILE} ({size_text(len(public_blob))}, send to the server once)")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    client = load_client(args.plan, args.secret_key, args.allow_insecure)
    expect_kind(args.input, read_bytes(args.input, "input"), "--input", "a NumPy array (.npy)",
                " (write one with numpy.save)")
    try:
        x = np.load(args.input, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise CLIError(f"input {args.input!r} is not a .npy array: {error}") from None
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise CLIError(f"input {args.input!r} holds {x.dtype} values; expected real numbers")
    query = client.encrypt(x.astype(np.float64))
    write_bytes(args.out, query, force=args.force)
    print(f"encrypted {x.shape} into {args.out} ({size_text(len(query))})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    query = read_bytes(args.query, "query")
    expect_kind(args.query, query, "--query", "a query")
    keys = read_bytes(args.keys, "keys")
    folder = Path(args.keys).parent / PUBLIC_KEYS_FILE
    expect_kind(args.keys, keys, "--keys", "public keys", f"; the server needs {folder}, never the secret key")
    server = load_server(args)
    answer = server.predict(query, keys)
    write_bytes(args.out, answer, force=args.force)
    print(f"answered {args.query} into {args.out} ({size_text(len(answer))})")
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    answer = read_bytes(args.answer, "answer")
    expect_kind(args.answer, answer, "--answer", "an answer")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {args.out!r}: folder {str(out.parent)!r} does not exist")
    if out.exists() and not args.force:
        raise CLIError(f"{args.out} exists; add --force to overwrite it")
    client = load_client(args.plan, args.secret_key, args.allow_insecure)
    scores = client.decrypt(answer)
    with out.open("wb") as stream:  # np.save(path) would append .npy to other names
        np.save(stream, scores)
    print(f"decrypted scores {scores.shape} into {args.out}")
    if client.plan.one_dimensional:
        predicted, rule = (np.ravel(scores) > 0).astype(int), "1 where the score is positive"
    else:
        predicted, rule = np.argmax(np.atleast_2d(scores), axis=1), "index of the largest score"
    print(f"predicted class ({rule}): " + " ".join(map(str, predicted)))
    limit = client.plan.score_limit
    beyond = int(np.sum(np.abs(scores) > limit))
    if beyond:
        print(f"warning: {beyond} score(s) beyond +-{limit:.4g}, what the plan's parameters hold reliably: they "
              "may have wrapped around the modulus (were the inputs within the plan's bound?)", file=sys.stderr)
        return 1
    return 0




#: Each command: its one-line help, a description, its handler, the files it requires (flag, metavar, help),
#: whether it takes the CKKS parameter options (which include --allow-insecure) or only --allow-insecure,
#: and an example.
COMMANDS: dict[str, tuple[str, str, object, tuple[tuple[str, str, str], ...], bool, str]] = {
    "params": (
        "describe a CKKS parameter set (security, levels, precision)",
        "Print what a parameter set gives: the HE standard's security verdict, the modulus chain, the "
        "precision budget and sizes. Defaults to the default protocol's parameters.",
        cmd_params, (), True,
        "heedu params --encoding slots",
    ),
    "plan": (
        "server: export a model's public plan",
        "Plan how the model is served (parameters, scales, layout rule, input bound) and write the plan, "
        "which holds nothing secret: clients make their keys from it.",
        cmd_plan,
        (("--model", "PKL", "the fitted scikit-learn linear model (joblib/pickle)"),
         ("--out", "PLAN.json", "where to write the plan")),
        True,
        "heedu plan --model model.pkl --out plan.json",
    ),
    "keygen": (
        "client: secret key and public keys for a plan",
        "Make a secret key (written with mode 0600; it never leaves you) and the public keys the server "
        "needs: a public key, and for the slot protocol Galois keys.",
        cmd_keygen,
        (("--plan", "PLAN.json", "the server's plan"), ("--out", "DIR", "folder for secret.key and public.keys")),
        False,
        "heedu keygen --plan plan.json --out keys",
    ),
    "encrypt": (
        "client: encrypt inputs (.npy) into a query",
        "Encrypt one input (n_features,) or a batch (n, n_features) saved with numpy.save. Inputs beyond "
        "the plan's bound are refused: their scores could wrap around the modulus.",
        cmd_encrypt,
        (("--plan", "PLAN.json", "the server's plan"), ("--secret-key", "FILE", "your keys/secret.key"),
         ("--input", "X.npy", "the inputs, a NumPy .npy file"), ("--out", "QUERY.bin", "where to write the query")),
        False,
        "heedu encrypt --plan plan.json --secret-key keys/secret.key --input x.npy --out query.bin",
    ),
    "predict": (
        "server: answer an encrypted query",
        "Compute the model's scores on the encrypted query, never seeing the inputs. A query made with "
        "other keys than --keys is refused (queries carry their client's key id).",
        cmd_predict,
        (("--model", "PKL", "the model the plan was made from"), ("--query", "QUERY.bin", "the client's query"),
         ("--keys", "FILE", "the client's keys/public.keys"), ("--out", "ANSWER.bin", "where to write the answer")),
        True,
        "heedu predict --model model.pkl --plan plan.json --query query.bin --keys keys/public.keys --out answer.bin",
    ),
    "decrypt": (
        "client: decrypt an answer into scores (.npy) and print the predicted classes",
        "Decrypt the server's answer with your secret key, write the scores (shaped like the model's "
        "decision_function) and print each input's predicted class. Scores beyond what the plan holds "
        "reliably are flagged (exit status 1).",
        cmd_decrypt,
        (("--plan", "PLAN.json", "the server's plan"), ("--secret-key", "FILE", "your keys/secret.key"),
         ("--answer", "ANSWER.bin", "the server's answer"), ("--out", "SCORES.npy", "where to write the scores")),
        False,
        "heedu decrypt --plan plan.json --secret-key keys/secret.key --answer answer.bin --out scores.npy",
    ),
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the protocol's subcommands from :data:`COMMANDS`."""
    for name, (help_text, description, handler, files, takes_parameters, example) in COMMANDS.items():
        p = sub.add_parser(
            name, help=help_text, description=description, epilog=f"example: {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for flag, metavar, file_help in files:
            p.add_argument(flag, required=True, metavar=metavar, help=file_help)
        if name == "predict":
            p.add_argument("--plan", metavar="PLAN.json", help="take the parameters from this plan (recommended)")
        (add_parameter_options if takes_parameters else add_insecure_option)(p)
        if any(flag == "--out" for flag, _, _ in files):
            add_force_option(p)
        p.set_defaults(func=handler)
