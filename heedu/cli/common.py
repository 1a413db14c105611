"""What every ``heedu`` subcommand shares: the error a user sees, file I/O, option types, loaders.

A plugin's commands (see :mod:`heedu.cli`) use these too, so every command reads, writes and
complains the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import HeeduError
from ..tools.arguments import parse_bits, positive_float, positive_int
from ..tools.narration import step as narrated_step

T = TypeVar("T")

SECRET_KEY_FILE = "secret.key"
PUBLIC_KEYS_FILE = "public.keys"
MAX_INPUT_BYTES = 256 * 1024 * 1024


class CLIError(HeeduError):
    """A user error: printed as one line, exit status 1."""


def missing_extra(extra: str, error: ImportError, what: str) -> CLIError:
    """The error for a command whose optional dependencies are not installed: which extra to install."""
    return CLIError(f"{what} needs the '{extra}' extra ({error.name or error}): pip install 'heedu[{extra}]'")


def step(title: str, action: Callable[[], T], size: Callable[[T], int] | None = None) -> T:
    """:func:`heedu.tools.narration.step` at the width of the command's narration."""
    return narrated_step(title, action, size, width=48)


def read_bytes(path: str, what: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"{what} {path!r} is not a file")
    if p.stat().st_size > MAX_INPUT_BYTES:
        raise CLIError(f"{what} {path!r} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return p.read_bytes()


#: What a file holds, by its first bytes: heedu's messages and objects, NumPy arrays, JSON.
KINDS = {
    b"HECQ": "a query (from heedu encrypt)",
    b"HEIQ": "a query (from heedu encrypt, slot protocol)",
    b"HECA": "an answer (from heedu predict)",
    b"HEIA": "an answer (from heedu predict, slot protocol)",
    b"HECK": "public keys (from heedu keygen)",
    b"HEIK": "public keys (from heedu keygen, slot protocol)",
    b"\x93NUM": "a NumPy array (.npy)",
}


def file_kind(data: bytes) -> str:
    """What ``data`` looks like, in words: a query, an answer, public keys, a secret key, an array, JSON."""
    head = bytes(data[:4])
    if head in KINDS:
        return KINDS[head]
    if head == b"HEDU":
        return "a secret key (from heedu keygen)" if len(data) > 5 and data[5] == 7 else "a heedu object"
    if data.lstrip()[:1] in (b"{", b"["):
        return "JSON text (a plan, from heedu plan)"
    return "not a heedu file"


def expect_kind(path: str, data: bytes, flag: str, wanted: str, hint: str = "") -> None:
    """Refuse a file that is not ``wanted`` (a phrase of :data:`KINDS`), naming what it is instead.

    Raises
    ------
    CLIError
        E.g. "a3.bin is an answer (from heedu predict), not a query".
    """
    kind = file_kind(data)
    if wanted not in kind:
        raise CLIError(f"{flag} {path} is {kind}, not {wanted}{hint}")


def write_bytes(path: str, data: bytes, mode: int = 0o644, force: bool = False) -> None:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise CLIError(f"cannot write {path!r}: folder {str(p.parent)!r} does not exist")
    if p.exists() and not force:
        raise CLIError(f"{path} exists; add --force to overwrite it")
    with contextlib.suppress(FileNotFoundError):
        p.unlink()  # so that the mode below applies to a new file
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.chmod(p, mode)


ENCODINGS = ("coefficients", "slots")


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding", choices=ENCODINGS, default="coefficients",
        help="coefficients (default: no evaluation keys, flooded answers) or slots (rotations, Galois keys)",
    )
    group = parser.add_argument_group(
        "CKKS parameters (default: N = 4096, [54, 55] and no special prime for --encoding coefficients; "
        "the tutorial's N = 8192, [60, 40, 40, 60], 2^40 for slots)"
    )
    group.add_argument("--poly-modulus-degree", type=positive_int, metavar="N", help="ring degree N (power of two)")
    group.add_argument("--coeff-modulus-bits", type=parse_bits, metavar="BITS", help="prime sizes, e.g. 54,55")
    group.add_argument("--scale-bits", type=positive_float, metavar="BITS", help="default scale 2^BITS (slots)")
    group.add_argument(
        "--input-bound", type=positive_float, metavar="X",
        help="largest |feature| clients may encrypt (coefficients: default 1, pixels / 255; slots: the largest "
        "the parameters hold)",
    )
    add_insecure_option(group)


def add_force_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument("--force", action="store_true", help="overwrite output files that exist")


def add_insecure_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--allow-insecure", action="store_true", help="accept toy rings below 128-bit security (never for real data)"
    )


def parameters(args: argparse.Namespace) -> object:
    """The CKKSParameters the options ask for (each encoding's default when none is given)."""
    from ..inference.coefficients import default_parameters
    from ..params import CKKSParameters

    slots = getattr(args, "encoding", "coefficients") == "slots"
    default = CKKSParameters.tutorial() if slots else default_parameters()
    if args.scale_bits is not None and not slots and getattr(args, "command", "params") != "params":
        raise CLIError(
            "--scale-bits is for --encoding slots: the coefficient protocol chooses its scales from the model "
            "and the modulus (heedu plan prints them)"
        )
    bits = args.coeff_modulus_bits or default.coeff_modulus_bits
    rescaling = bits[1:-1] if slots else ()
    if args.scale_bits is not None and rescaling and args.scale_bits > min(rescaling):
        raise CLIError(
            f"--scale-bits {args.scale_bits:g} is above the {min(rescaling)}-bit primes a rescale divides by: the "
            f"scale would grow at every level. Use --scale-bits {min(rescaling)} or larger middle primes"
        )
    if args.poly_modulus_degree is None and args.coeff_modulus_bits is None and args.scale_bits is None:
        if not args.allow_insecure:
            return default
    return CKKSParameters(
        poly_modulus_degree=args.poly_modulus_degree or default.poly_modulus_degree,
        coeff_modulus_bits=args.coeff_modulus_bits or default.coeff_modulus_bits,
        scale=2.0 ** (args.scale_bits if args.scale_bits is not None else math.log2(default.scale)),
        allow_insecure=args.allow_insecure,
        special_prime=slots,
    )


def load_model(path: str) -> object:
    from ..tools.mnist import load_tutorial_model

    if not Path(path).is_file():
        raise CLIError(f"model {path!r} is not a file")
    try:
        return load_tutorial_model(path)
    except ImportError as error:
        raise missing_extra("demo", error, "loading a scikit-learn model") from None
    except FileNotFoundError:
        raise
    except Exception as error:  # unpickling can fail in many ways; say which file and why
        if isinstance(error, HeeduError):
            raise
        raise CLIError(f"cannot load a model from {path!r}: {type(error).__name__}: {error}") from None


def load_plan(path: str, allow_insecure: bool = False) -> object:
    from ..errors import SecurityError
    from ..inference import read_plan

    data = read_bytes(path, "plan")
    expect_kind(path, data, "--plan", "a plan")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CLIError(f"plan {path!r} is not UTF-8 JSON") from None
    try:
        return read_plan(text, allow_insecure=allow_insecure)
    except SecurityError as error:
        reason = str(error).split(" (HE standard)")[0]
        raise CLIError(
            f"plan {path!r} uses parameters below 128-bit security ({reason}). Only you can accept a toy ring: "
            "add --allow-insecure if you are experimenting, never for real data."
        ) from None


def describe_parameters(parameters: object) -> str:
    """"N = 4096, 2 primes (109 bits)": a parameter set as a user recognizes it."""
    primes = parameters.primes  # type: ignore[attr-defined]
    bits = sum(q.bit_length() for q in primes)
    return f"N = {parameters.poly_modulus_degree}, {len(primes)} primes ({bits} bits)"  # type: ignore[attr-defined]


def load_secret_key(path: str, plan: object, plan_path: str = "the plan") -> object:
    from ..errors import ContextMismatchError
    from ..keys import SecretKey
    from ..params import CKKSContext
    from ..serialization import loads

    data = read_bytes(path, "secret key")
    public = "public.keys" if Path(path).name != "public.keys" else "the public keys"
    expect_kind(path, data, "--secret-key", "a secret key",
                f"; --secret-key takes the secret.key that heedu keygen wrote beside {public}")
    try:
        secret = loads(data, CKKSContext(plan.parameters), allow_secret_key=True)  # type: ignore[attr-defined]
    except ContextMismatchError:
        raise CLIError(
            f"--secret-key {path} was made for other parameters than --plan {plan_path} "
            f"({describe_parameters(plan.parameters)}): use the key heedu keygen made for this plan"  # type: ignore[attr-defined]
        ) from None
    if not isinstance(secret, SecretKey):
        raise CLIError(f"{path!r} holds a {type(secret).__name__}, not a secret key")
    return secret


def load_client(plan_path: str, secret_path: str, allow_insecure: bool = False) -> object:
    from ..inference import InferenceClient

    plan = load_plan(plan_path, allow_insecure)
    return InferenceClient(plan, secret_key=load_secret_key(secret_path, plan, plan_path))


def load_server(args: argparse.Namespace) -> object:
    from ..inference import EncryptedLinearModel

    model = load_model(args.model)
    if getattr(args, "plan", None):
        plan = load_plan(args.plan, args.allow_insecure)
        server = EncryptedLinearModel.from_sklearn(
            model, plan.parameters, plan.input_bound, encoding=plan.encoding  # type: ignore[attr-defined]
        )
        if server.plan != plan:
            raise CLIError(f"model {args.model!r} does not match plan {args.plan!r} (other sizes or parameters)")
        return server
    return EncryptedLinearModel.from_sklearn(model, parameters(args), args.input_bound, encoding=args.encoding)
