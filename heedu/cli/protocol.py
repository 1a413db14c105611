"""heedu's protocols (coefficients by default, or slots), file by file.

The commands: ``params``, ``plan``, ``keygen``, ``encrypt``, ``predict``, ``decrypt``.

The server side exports a public plan and answers queries; the client side makes keys from the
plan, encrypts ``.npy`` inputs and decrypts answers. The secret key is written with mode 0600 and
never leaves the client's folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import (
    PUBLIC_KEYS_FILE,
    SECRET_KEY_FILE,
    CLIError,
    add_insecure_option,
    add_parameter_options,
    load_client,
    load_plan,
    load_server,
    parameters,
    read_bytes,
    size_text,
    write_bytes,
)


def cmd_params(args: argparse.Namespace) -> int:
    from ..params import CKKSContext

    print(CKKSContext(parameters(args)).describe())
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    server = load_server(args)
    write_bytes(args.out, server.plan.to_json().encode() + b"\n")
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
    context = CKKSContext(plan.parameters)
    secret = KeyGenerator(context).secret_key()
    client = InferenceClient(plan, secret_key=secret)
    secret_blob = dumps(secret, context, allow_secret_key=True)
    public_blob = client.public_keys()
    write_bytes(str(out / SECRET_KEY_FILE), secret_blob, mode=0o600)
    write_bytes(str(out / PUBLIC_KEYS_FILE), public_blob)
    print(f"secret key:  {out / SECRET_KEY_FILE} ({size_text(len(secret_blob))}, mode 0600: keep it private)")
    print(f"public keys: {out / PUBLIC_KEYS_FILE} ({size_text(len(public_blob))}, send to the server once)")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    client = load_client(args.plan, args.secret_key, args.allow_insecure)
    if not Path(args.input).is_file():
        raise CLIError(f"input {args.input!r} is not a file")
    try:
        x = np.load(args.input, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise CLIError(f"input {args.input!r} is not a .npy array: {error}") from None
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise CLIError(f"input {args.input!r} holds {x.dtype} values; expected real numbers")
    query = client.encrypt(x.astype(np.float64))
    write_bytes(args.out, query)
    print(f"encrypted {x.shape} into {args.out} ({size_text(len(query))})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    server = load_server(args)
    query = read_bytes(args.query, "query")
    keys = read_bytes(args.keys, "keys")
    answer = server.predict(query, keys)
    write_bytes(args.out, answer)
    print(f"answered {args.query} into {args.out} ({size_text(len(answer))})")
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    client = load_client(args.plan, args.secret_key, args.allow_insecure)
    scores = client.decrypt(read_bytes(args.answer, "answer"))
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {args.out!r}: folder {str(out.parent)!r} does not exist")
    with out.open("wb") as stream:  # np.save(path) would append .npy to other names
        np.save(stream, scores)
    print(f"decrypted scores {scores.shape} into {args.out}")
    return 0




#: Each command: its help, its handler, the files it requires (flag and what goes there), and whether it
#: takes the CKKS parameter options (which include --allow-insecure) or only --allow-insecure.
COMMANDS: dict[str, tuple[str, object, tuple[tuple[str, str], ...], bool]] = {
    "params": ("describe a CKKS parameter set (security, levels, precision)", cmd_params, (), True),
    "plan": ("server: export a model's public plan", cmd_plan, (("--model", "PKL"), ("--out", "PLAN.json")), True),
    "keygen": (
        "client: secret key and public keys for a plan (a public key; also Galois keys for slots)",
        cmd_keygen,
        (("--plan", "PLAN.json"), ("--out", "DIR")),
        False,
    ),
    "encrypt": (
        "client: encrypt inputs (.npy) into a query",
        cmd_encrypt,
        (("--plan", "PLAN.json"), ("--secret-key", "FILE"), ("--input", "X.npy"), ("--out", "QUERY.bin")),
        False,
    ),
    "predict": (
        "server: answer an encrypted query",
        cmd_predict,
        (("--model", "PKL"), ("--query", "QUERY.bin"), ("--keys", "FILE"), ("--out", "ANSWER.bin")),
        True,
    ),
    "decrypt": (
        "client: decrypt an answer into scores (.npy)",
        cmd_decrypt,
        (("--plan", "PLAN.json"), ("--secret-key", "FILE"), ("--answer", "ANSWER.bin"), ("--out", "SCORES.npy")),
        False,
    ),
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the protocol's subcommands from :data:`COMMANDS`."""
    for name, (help_text, handler, files, takes_parameters) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        for flag, metavar in files:
            p.add_argument(flag, required=True, metavar=metavar)
        if name == "predict":
            p.add_argument("--plan", metavar="PLAN.json", help="take the parameters from this plan")
        (add_parameter_options if takes_parameters else add_insecure_option)(p)
        p.set_defaults(func=handler)
