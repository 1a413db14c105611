"""The ``heedu`` command line: a narrated encrypted-inference demo and heedu's protocols, file by file.

Subcommands::

    heedu demo [--png PATH] [--batch N] [--mnist DIR --model PKL]
    heedu params [--poly-modulus-degree N] [--coeff-modulus-bits 60,40,40,60] [--scale-bits 40] [--allow-insecure]
    heedu plan --model PKL --out plan.json
    heedu keygen --plan plan.json --out DIR
    heedu encrypt --plan plan.json --secret-key DIR/secret.key --input X.npy --out query.bin
    heedu predict --model PKL --query query.bin --keys DIR/public.keys --out answer.bin
    heedu decrypt --plan plan.json --secret-key DIR/secret.key --answer answer.bin --out scores.npy
    heedu bench [--suite benchmarks]
    heedu crosscheck [ARGS...]

and whatever installed packages contribute (the Azure adapter adds ``serve`` and ``demo-azure``).

**Layout.** The command is the top of the heedu stack: one module per group of commands
(:mod:`~heedu.cli.protocol`, :mod:`~heedu.cli.demo`, :mod:`~heedu.cli.tools`), their shared
helpers in :mod:`~heedu.cli.common`. It never imports the applications built on heedu: a package
that wants its own subcommands declares an entry point in the group ``heedu.commands`` whose
object is ``add_commands(subparsers)``, and :func:`build_parser` calls it. A plugin that cannot be
loaded (a missing optional dependency) is left out, and ``heedu --help`` says why.

Every error ends the command with a one-line message on stderr and a non-zero status (set
``HEEDU_DEBUG=1`` to see the traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from . import demo, protocol, tools
from .common import CLIError

#: The entry point group through which other packages add subcommands.
COMMAND_GROUP = "heedu.commands"

AddCommands = Callable[[argparse._SubParsersAction], None]


def plugins() -> tuple[list[tuple[str, AddCommands]], list[str]]:
    """The ``add_commands`` functions registered in :data:`COMMAND_GROUP`, and why any could not be loaded."""
    found, failed = [], []
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        try:
            found.append((point.name, point.load()))
        except Exception as error:  # a plugin's import failure must not take the whole command down
            failed.append(f"{point.name} ({point.value}): {type(error).__name__}: {error}")
    return found, failed


def build_parser() -> argparse.ArgumentParser:
    """The ``heedu`` parser: heedu's own command groups, then every plugin's."""
    import heedu

    parser = argparse.ArgumentParser(prog="heedu", description="heedu: CKKS homomorphic encryption in NumPy")
    parser.add_argument("--version", action="version", version=f"heedu {heedu.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in (demo, protocol, tools):
        group.add_commands(sub)
    found, failed = plugins()
    for _, add_commands in found:
        add_commands(sub)
    if failed:
        parser.epilog = "commands left out (their package could not be loaded): " + "; ".join(failed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with status 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away (heedu params | head) is not an error
        return status
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
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


__all__ = ["COMMAND_GROUP", "CLIError", "build_parser", "main", "plugins"]
