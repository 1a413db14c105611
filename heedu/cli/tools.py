"""``heedu bench`` and ``heedu crosscheck``: the measurement tools, run from the command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .common import CLIError

BENCH_SCRIPTS = ("bench_core.py", "bench_ei.py", "bench_inference.py")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark scripts of ``--suite`` (a checkout's ``benchmarks/``) one after the other."""
    suite = Path(args.suite)
    present = [suite / name for name in BENCH_SCRIPTS if (suite / name).is_file()]
    if not present:
        raise CLIError(
            f"--suite {args.suite!r} holds none of {', '.join(BENCH_SCRIPTS)}: point it at a checkout's benchmarks/"
        )
    status = 0
    for script in present:
        print(f"== {script}", flush=True)
        status = status or subprocess.call([sys.executable, str(script)], cwd=suite.parent)
    return status


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from ..tools.crosscheck import main as crosscheck_main

    return int(crosscheck_main(list(args.args)) or 0)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and ``crosscheck``."""
    p = sub.add_parser("bench", help="run the benchmarks of a source checkout")
    p.add_argument(
        "--suite", default="benchmarks", metavar="DIR", help="the checkout's benchmarks/ folder (default: ./benchmarks)"
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("crosscheck", help="heedu vs encrypted-inference==0.9 (arguments passed through)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_crosscheck)
