"""``heedu bench`` and ``heedu crosscheck``: the measurement tools, run from the command line."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..tools.arguments import positive_int
from .common import CLIError

#: The subjects ``heedu bench`` runs by default, in this order (``benchmarks/bench_<subject>.py``).
BENCH_SUBJECTS = ("core", "ei", "inference")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark subjects of ``--suite`` (a checkout's ``benchmarks/``) one after the other."""
    suite = Path(args.suite)
    subjects = args.only or list(BENCH_SUBJECTS)
    scripts = [suite / f"bench_{subject}.py" for subject in subjects]
    missing = [str(script) for script in scripts if not script.is_file()]
    if missing:
        raise CLIError(
            f"--suite {args.suite!r} lacks {', '.join(missing)}: point --suite at a checkout's benchmarks/ "
            f"(subjects there: {', '.join(sorted(p.stem[6:] for p in suite.glob('bench_*.py'))) or 'none'})"
        )
    if args.out is not None:
        out = Path(args.out)
        if not out.is_dir():
            raise CLIError(f"--out {args.out!r} is not a folder")
    environment = dict(os.environ)
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise CLIError(f"--data {args.data!r} is not a folder")
        environment["HEEDU_DATA"] = str(Path(args.data).resolve())  # every subject reads its data from there
    status = 0
    for subject, script in zip(subjects, scripts):
        command = [sys.executable, str(script)]
        if args.repeats:
            command += ["--repeats", str(args.repeats)]
        if args.quick:
            command.append("--quick")
        if args.out is not None:
            report = Path(args.out) / subject
            command += ["--markdown", f"{report}.md", "--json", f"{report}.json"]
        print(f"== {script}", flush=True)
        status = status or subprocess.call(command, cwd=suite.parent, env=environment)
    return status


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from ..tools import crosscheck

    return crosscheck.run(args, args.parser)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``bench`` and ``crosscheck``."""
    p = sub.add_parser(
        "bench",
        help="run the benchmarks of a source checkout (heedu next to SEAL, TenSEAL, the package)",
        description="Run benchmark subjects from a checkout's benchmarks/ folder, one after the other; each "
        "prints its report (times, sizes, ratios against the compiled libraries measured in the same run).",
        epilog="example: heedu bench --only coefficients,inference --quick --out build/bench",
    )
    p.add_argument(
        "--suite", default="benchmarks", metavar="DIR", help="the checkout's benchmarks/ folder (default: ./benchmarks)"
    )
    p.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        metavar="LIST",
        help=f"comma-separated subjects (default: {','.join(BENCH_SUBJECTS)})",
    )
    p.add_argument("--repeats", type=positive_int, metavar="N", help="timed calls per measurement")
    p.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    p.add_argument("--data", metavar="DIR", help="the tutorial's model and MNIST (default: $HEEDU_DATA)")
    p.add_argument("--out", metavar="DIR", help="also write each subject's report there (Markdown and JSON)")
    p.set_defaults(func=cmd_bench)

    from ..tools import crosscheck

    p = sub.add_parser(
        "crosscheck",
        help="every encrypted path on the same inputs, and encrypted-inference==0.9",
        description=crosscheck.DESCRIPTION,
        epilog="example: heedu crosscheck --data ../shared/data --n 5 --no-package",
    )
    crosscheck.add_arguments(p)
    p.set_defaults(func=cmd_crosscheck, parser=p)
