"""Where heedu's coefficient server spends its time: cProfile of ``predict``, warm, at a few batch sizes.

Not a subject (it times nothing against anything): the list of hot spots that
``bench_inference.py``'s table cannot show. For each batch size it builds the
server and a client as the subject does (``EncryptedLinearModel.from_sklearn``,
``InferenceClient``), encodes the layout's weights and answers once untimed (so
neither the one-time weight encoding nor the key parsing is in the profile),
then profiles ``--calls`` further ``predict`` calls and prints the functions
with the most own time (``tottime``) and the stages by cumulative time.

Run ``python benchmarks/profile_coefficients.py [--images 1,1024] [--calls N]
[--top N] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys

from heedu.inference import EncryptedLinearModel, InferenceClient
from heedu.tools.arguments import positive_int

try:  # imported as part of the package: python -m benchmarks.profile_coefficients
    from benchmarks import harness
    from benchmarks.bench_inference import batch_inputs, parse_batches
except ImportError:  # run as a script: benchmarks/ itself is sys.path[0]
    import harness  # type: ignore[no-redef]
    from bench_inference import batch_inputs, parse_batches  # type: ignore[no-redef]

#: Calls profiled per batch size when --calls is not given: about a second of predict each.
DEFAULT_CALLS = {1: 50, 48: 10}


def profile_predict(work: harness.Workload, count: int, calls: int | None, top: int) -> str:
    """The profile of ``calls`` warm ``predict`` calls on ``count`` images, as text."""
    server = EncryptedLinearModel.from_sklearn(work.model)
    client = InferenceClient(server.plan)
    keys = client.public_keys()
    query = client.encrypt(batch_inputs(work, count))
    server.encoded_weights(server.plan.layout(count))
    server.predict(query, keys)  # keys parsed and cached, temporaries warmed
    calls = calls or DEFAULT_CALLS.get(count, 2)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        server.predict(query, keys)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"## predict on {count:,} image(s), {calls} call(s)\n\n")
    out.write(server.plan.layout(count).describe(count) + "\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=parse_batches_or_one, default=(1, 1024), metavar="N,N,...")
    parser.add_argument("--calls", type=positive_int, help="predict calls profiled per batch size")
    parser.add_argument("--top", type=positive_int, default=20, help="functions listed per table (default 20)")
    harness.add_data_option(parser)
    args = parser.parse_args(argv)
    work = harness.load_workload(harness.data_directory(args.data), max(args.images))
    print(harness.machine_text(harness.machine_info()))
    print(*work.sources)
    for count in args.images:
        print(profile_predict(work, count, args.calls, args.top))
    return 0


def parse_batches_or_one(text: str) -> tuple[int, ...]:
    """Image counts, 1 allowed (``parse_batches`` takes batches of 2 or more)."""
    counts = [part.strip() for part in text.split(",") if part.strip()]
    ones = tuple(1 for part in counts if part == "1")
    rest = ",".join(part for part in counts if part != "1")
    return ones + (parse_batches(rest) if rest else ())


if __name__ == "__main__":
    sys.exit(main())
