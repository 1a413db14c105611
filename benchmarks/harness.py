"""What every benchmark subject shares: parameters, the timing loop, the machine, the workload, reports, targets.

The layout follows Microsoft SEAL's ``native/bench/``: this one harness, and one
file per subject that only says *what* it measures.

* ``bench_core.py``: each CKKS primitive (NTT, key switch, multiply_plain ...)
  next to native SEAL;
* ``bench_ei.py``: heedu's encrypted-inference-compatible server and client next
  to the ``encrypted-inference`` package;
* ``bench_inference.py``: heedu's two inference protocols end to end (the
  coefficient protocol, the default, and the slot protocol) next to native SEAL
  running the same slot algorithm, TenSEAL, the package and Concrete ML;
* ``native_seal.py``: the native SEAL side of those comparisons;
* ``concrete_ml.py``: the Concrete ML side, a worker run under the interpreter
  that has Concrete ML (it pins its own NumPy and scikit-learn).

Everything a subject would otherwise write again lives here, once:

* :data:`TUTORIAL`, the CKKS parameters of every comparison (taken from
  :meth:`heedu.CKKSParameters.tutorial`, so the benchmarks cannot drift from the
  library);
* :func:`time_calls` / :func:`measure`, the one timing loop: an untimed warm-up,
  then ``repeats`` calls with the garbage collector off, wall time
  (:func:`time.perf_counter`) and process CPU time (:func:`time.process_time`)
  of each, minor page faults over the loop; subjects report the median. CPU time
  sits beside wall time because the machine is shared: CPU below wall means
  another process took the core, and CPU above wall means a thread pool ran;
* :class:`Rounds`: the same timing, interleaved: a comparison adds every
  measurement (its untimed first call made at once), then runs round after
  round, each measurement once per round, so that a slow spell of the shared
  machine touches every system of a ratio alike;
* :func:`machine_info`: CPU model, cores, load average, versions, BLAS;
* :func:`load_workload`: the tutorial's model and the MNIST test set through
  :mod:`heedu.tools.mnist`, from ``--data`` or ``$HEEDU_DATA`` only, and the
  random model and inputs of :mod:`heedu.tools.crosscheck` when they are absent
  (the report says which);
* :class:`Report`: the Markdown and JSON reports, with the machine and the
  target results;
* :func:`load_targets` / :func:`check_targets`: the goals, all in one data file
  (``targets.json``), each a ratio of two quantities measured in the same run,
  or a bound on one measured quantity (a size budget).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib.metadata
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import heedu
from heedu import Ciphertext, CKKSParameters, Plaintext
from heedu.inference import LinearModel
from heedu.tools import mnist
from heedu.tools.arguments import positive_int
from heedu.tools.crosscheck import RANDOM_SEED, random_inputs, random_model

T = TypeVar("T")
A = TypeVar("A")

#: The targets of every subject (see :func:`load_targets`).
TARGETS_FILE = Path(__file__).with_name("targets.json")

#: Distributions whose versions every report states (absent ones: left out of the text, None in the JSON).
PACKAGES: tuple[str, ...] = ("seal-python", "tenseal", "encrypted-inference", "scikit-learn", "threadpoolctl")


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSet:
    """A CKKS parameter set, spelled the way every side of a comparison needs it.

    heedu takes a :class:`heedu.CKKSParameters`; SEAL, TenSEAL and the package
    take the degree and the bit sizes. Keeping both spellings here means a
    comparison cannot silently run two sides at different parameters.
    """

    poly_modulus_degree: int
    coeff_modulus_bits: tuple[int, ...]
    scale_bits: int

    @classmethod
    def from_heedu(cls, parameters: CKKSParameters) -> ParameterSet:
        bits = tuple(int(q).bit_length() for q in parameters.primes)
        return cls(parameters.poly_modulus_degree, bits, round(math.log2(parameters.scale)))

    @property
    def scale(self) -> float:
        return 2.0**self.scale_bits

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def text(self) -> str:
        bits = ",".join(map(str, self.coeff_modulus_bits))
        return f"N={self.poly_modulus_degree}, q bits [{bits}], scale 2^{self.scale_bits}"

    def heedu(self) -> CKKSParameters:
        return CKKSParameters(
            poly_modulus_degree=self.poly_modulus_degree,
            coeff_modulus_bits=self.coeff_modulus_bits,
            scale=self.scale,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_modulus_bits": list(self.coeff_modulus_bits),
            "scale": self.scale,
        }


#: The Azure ML tutorial's parameters (N = 8192, [60, 40, 40, 60], 2^40), the only set every system here runs.
TUTORIAL = ParameterSet.from_heedu(CKKSParameters.tutorial())


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One timed call: wall seconds and this process's CPU seconds (all threads)."""

    wall_s: float
    cpu_s: float


def time_call(function: Callable[[], T]) -> tuple[Sample, T]:
    """Time one call of ``function``, the garbage collector off during it (as :mod:`timeit` does).

    This is the only place that reads the clocks. The wall clock is read
    innermost, so the CPU clock's own cost (under a microsecond) is not in it.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        cpu = time.process_time()
        start = time.perf_counter()
        result = function()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        if gc_was_enabled:
            gc.enable()
    return Sample(wall, cpu), result


@dataclass
class Runs:
    """The timed calls of one measurement, and what the untimed warm-up call took."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    first_s: float | None = None  # the warm-up call: one-time costs (caches, memory pools) included
    page_faults_per_call: float | None = None  # minor page faults over the timed calls, per call

    def add(self, sample: Sample) -> None:
        self.wall_s.append(sample.wall_s)
        self.cpu_s.append(sample.cpu_s)

    @property
    def median_s(self) -> float:
        """The median wall time: the figure every table reports (robust to a call disturbed by another process)."""
        return statistics.median(self.wall_s)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_s)

    def divided(self, count: int) -> Runs:
        """The same runs per unit of work, when one call does ``count`` units (rows, images)."""
        return Runs(
            [t / count for t in self.wall_s],
            [t / count for t in self.cpu_s],
            None if self.first_s is None else self.first_s / count,
            None if self.page_faults_per_call is None else self.page_faults_per_call / count,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s if self.wall_s else None,
            "median_cpu_s": self.median_cpu_s if self.cpu_s else None,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "first_s": self.first_s,
            "page_faults_per_call": self.page_faults_per_call,
        }


@dataclass(frozen=True)
class Timed:
    """A measurement and exactly what it timed, for the report's notes (SEAL's and heedu's calls differ)."""

    runs: Runs
    note: str

    def as_json(self) -> dict[str, Any]:
        return {**self.runs.as_json(), "note": self.note}


def minor_page_faults() -> int | None:
    """Minor page faults of this process so far (``getrusage``), or None where unavailable.

    They show allocator churn: NumPy temporaries that glibc hands back to the
    kernel and faults in again on the next call.
    """
    try:
        import resource  # Unix only
    except ImportError:
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def time_calls(
    operation: Callable[[A], T], make_input: Callable[[], A], repeats: int, warm_up: bool = True
) -> tuple[Runs, T]:
    """The one timing loop: ``operation(make_input())``, ``repeats`` times after one untimed warm-up call.

    ``make_input`` runs before every call, outside the timer, so an operation
    that works in place (SEAL's) gets a fresh copy without its cost being timed,
    and one that caches on its input object (heedu's) gets a new object. The
    warm-up fills one-time caches (heedu's Shoup companions and rings, SEAL's
    memory pool); its time is kept as ``first_s``. Returns the runs and the last
    call's result.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    runs = Runs()
    if warm_up:
        sample, result = time_call(functools.partial(operation, make_input()))
        runs.first_s = sample.wall_s
    faults_before = minor_page_faults()
    for _ in range(repeats):
        sample, result = time_call(functools.partial(operation, make_input()))
        runs.add(sample)
    faults_after = minor_page_faults()
    if faults_before is not None and faults_after is not None:
        runs.page_faults_per_call = (faults_after - faults_before) / repeats
    return runs, result


def measure(function: Callable[[], T], repeats: int, warm_up: bool = True) -> tuple[Runs, T]:
    """:func:`time_calls` for a call that takes no input."""
    return time_calls(lambda _: function(), lambda: None, repeats, warm_up)


@dataclass
class _Scheduled:
    """One measurement of a :class:`Rounds`: what to call, on what, in which rounds, and where its times go."""

    operation: Callable[[Any], Any]
    make_input: Callable[[], Any]
    rounds: frozenset[int]
    runs: Runs
    external: bool


class Rounds:
    """Interleaved timing: round after round, every measurement of a comparison called once per round.

    :func:`time_calls` times one operation's calls back to back. On a shared
    machine a slow spell then lands on one system only and skews every ratio it
    enters. Here a subject first :meth:`add` s every measurement, which makes its
    untimed first call at once (the result is often what the next measurement
    needs: a query to answer, an answer to decrypt; its time is kept as
    ``first_s``). :meth:`run` then makes the timed calls: round 1 of every
    measurement, round 2 of every one, and so on, each call timed as
    :func:`time_call` times it (fresh input made outside the timer, gc off). A
    slow spell now touches every system of a round alike, and the median of each
    measurement is robust to it.

    Measurements added with ``slow=True`` (seconds a call) are timed in
    ``slow_rounds`` rounds only, spread evenly over the run (2 of 5: the 2nd and
    the 4th), so they too share the conditions of the rest. ``external=True`` is for an operation that
    runs in another process and times itself: it returns ``(Sample, result)``,
    and that sample is recorded instead of this process's clocks.
    """

    def __init__(self, rounds: int, slow_rounds: int = 1) -> None:
        if rounds < 1 or slow_rounds < 1:
            raise ValueError("rounds and slow_rounds must be at least 1")
        self.rounds, self.slow_rounds = rounds, min(slow_rounds, rounds)
        spacing = self.rounds / self.slow_rounds
        self._slow = frozenset(int((i + 0.5) * spacing) for i in range(self.slow_rounds))
        self._scheduled: list[_Scheduled] = []

    def add(
        self,
        operation: Callable[[Any], T],
        make_input: Callable[[], Any] | None = None,
        *,
        slow: bool = False,
        external: bool = False,
    ) -> tuple[Runs, T]:
        """Make the untimed first call now and schedule the timed ones; ``(runs, result)``.

        ``runs`` is filled by :meth:`run`; ``result`` is the first call's. Without
        ``make_input`` the operation is called with ``None`` (as :func:`measure` does).
        """
        make = make_input if make_input is not None else (lambda: None)
        sample, result = self._call(operation, make, external)
        runs = Runs(first_s=sample.wall_s)
        self._scheduled.append(
            _Scheduled(operation, make, self._slow if slow else frozenset(range(self.rounds)), runs, external)
        )
        return runs, result

    def add_call(self, function: Callable[[], T], *, slow: bool = False) -> tuple[Runs, T]:
        """:meth:`add` for a call that takes no input."""
        return self.add(lambda _: function(), slow=slow)

    @staticmethod
    def _call(operation: Callable[[Any], Any], make_input: Callable[[], Any], external: bool) -> tuple[Sample, Any]:
        if external:
            sample, result = operation(make_input())
            return sample, result
        return time_call(functools.partial(operation, make_input()))

    def run(self, report: Callable[[str], None] | None = None) -> None:
        """Every round, every measurement once in the order added; page faults per call are kept."""
        faults: dict[int, int] = {}
        for round_index in range(self.rounds):
            if report is not None:
                report(f"  round {round_index + 1} of {self.rounds}")
            for index, item in enumerate(self._scheduled):
                if round_index not in item.rounds:
                    continue
                before = minor_page_faults()
                sample, _ = self._call(item.operation, item.make_input, item.external)
                after = minor_page_faults()
                item.runs.add(sample)
                if before is not None and after is not None:
                    faults[index] = faults.get(index, 0) + after - before
        for index, item in enumerate(self._scheduled):
            if index in faults and item.runs.wall_s:
                item.runs.page_faults_per_call = faults[index] / len(item.runs.wall_s)


def fresh_ciphertext(ciphertext: Ciphertext) -> Ciphertext:
    """A new heedu Ciphertext object sharing ``ciphertext``'s data: a ``make_input`` for :func:`time_calls`.

    heedu never writes to its inputs, so no copy is needed; but each timed call
    gets its own input object, as SEAL's gets its own copy, so nothing a call
    might cache on its input object can speed up the next one.
    """
    return Ciphertext(ciphertext.data, ciphertext.level, ciphertext.scale)


def fresh_plaintext(plaintext: Plaintext) -> Plaintext:
    """A new heedu Plaintext object sharing ``plaintext``'s data, without any of its cached companions."""
    return Plaintext(plaintext.data, plaintext.level, plaintext.scale)


# --------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (Unix): how much other work shared the machine."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return one, five, fifteen


def installed_version(distribution: str) -> str | None:
    """The installed version of a PyPI distribution, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_info() -> list[dict[str, Any]] | str:
    """The BLAS/OpenMP libraries NumPy loaded, through threadpoolctl; or why they are unknown.

    heedu's arithmetic is elementwise and does not go through BLAS, but the
    thread count of a loaded BLAS is part of what the machine was doing.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture")
    return [{key: pool.get(key) for key in keep} for pool in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """Where, when and with what the numbers were measured (the load average is read again at the end)."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_start": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "heedu": heedu.__version__,
        "packages": {name: installed_version(name) for name in PACKAGES},
        "blas": blas_info(),
    }


def machine_text(machine: Mapping[str, Any]) -> str:
    """One paragraph for a report: date, CPU, versions, BLAS, and the load before and after."""
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
    blas = machine["blas"]
    if isinstance(blas, list):
        blas = (
            "; ".join(f"{pool['internal_api']} {pool['version']} ({pool['num_threads']} threads)" for pool in blas)
            or "none loaded"
        )
    loads = []
    for when in ("start", "end"):
        value = machine.get(f"load_average_{when}")
        if value is not None:
            loads.append(f"{' / '.join(f'{x:.2f}' for x in value)} at the {when}")
    load = f" Load average (1 / 5 / 15 min): {', '.join(loads)}." if loads else ""
    return (
        f"Measured {machine['date']} on {machine['cpu']} ({machine['logical_cpus']} logical CPUs, "
        f"{machine['platform']}); Python {machine['python']}, NumPy {machine['numpy']}, heedu {machine['heedu']}, "
        f"{packages}. BLAS: {blas}.{load}"
    )


# --------------------------------------------------------------------------------------
# The workload: the tutorial's model and MNIST, or random stand-ins
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The linear model every system evaluates, the inputs, and where both came from."""

    model: LinearModel
    estimator: Any | None  # the fitted scikit-learn model, when the tutorial's could be loaded
    images: np.ndarray  # (n, n_features), pixels / 255
    model_source: str
    image_source: str
    images_from_mnist: bool = False  # the MNIST test set, not the random stand-ins

    @property
    def coef(self) -> np.ndarray:
        return self.model.weights

    @property
    def intercept(self) -> np.ndarray:
        return self.model.bias

    @property
    def sources(self) -> list[str]:
        return [f"Model: {self.model_source}.", f"Inputs: {self.image_source}."]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Plaintext scores ``(n, n_classes)``: scikit-learn's own ``decision_function`` when it is there."""
        scorer = self.estimator if self.estimator is not None else self.model
        return np.atleast_2d(np.asarray(scorer.decision_function(np.atleast_2d(x)), dtype=np.float64))


def data_directory(option: Path | None) -> Path | None:
    """``--data`` if given, else ``$HEEDU_DATA`` when it holds MNIST (:func:`heedu.tools.mnist.find_data_dir`)."""
    return option if option is not None else mnist.find_data_dir()


def load_workload(data: Path | None, count: int) -> Workload:
    """The tutorial's model and the first ``count`` MNIST test images from ``data``; random stand-ins otherwise.

    The stand-ins are :mod:`heedu.tools.crosscheck`'s: a 10 x 784 model of the
    tutorial's magnitude and MNIST-like inputs, with fixed seeds. Each source
    line says which was used and why.
    """
    estimator: Any | None = None
    why_random = f"no data folder: neither --data nor ${mnist.DATA_ENV} with the MNIST test set"
    if data is not None:
        path = data / mnist.TUTORIAL_MODEL
        try:
            estimator = mnist.load_tutorial_model(path)
            model = LinearModel.from_sklearn(estimator)
        except Exception as error:  # a missing file, no scikit-learn, or any unpickling failure: say which
            estimator, why_random = None, f"{path} unusable: {type(error).__name__}: {error}"
    if estimator is None:
        weights, bias = random_model()
        model = LinearModel(weights, bias)
        model_source = f"a random 10 x 784 model of the tutorial's magnitude, seed {RANDOM_SEED} ({why_random})"
    else:
        shape = f"{model.n_outputs} x {model.n_features}"
        model_source = f"the tutorial's {mnist.TUTORIAL_MODEL} ({type(estimator).__name__}, {shape})"

    images: np.ndarray | None = None
    why_random = f"no data folder: neither --data nor ${mnist.DATA_ENV} with the MNIST test set"
    if data is not None:
        try:
            test_images, _ = mnist.load_mnist_test(data)
        except (FileNotFoundError, mnist.IdxFormatError) as error:
            why_random = f"MNIST in {data} unusable: {error}"
        else:
            if test_images.shape[1] == model.n_features and test_images.shape[0] >= count:
                images = test_images[:count]
            else:
                why_random = f"MNIST in {data} is {test_images.shape}, not {count} x {model.n_features}"
    images_from_mnist = images is not None
    if images is None:
        images = random_inputs(count, model.n_features)
        image_source = f"{count} random MNIST-like input(s), seed {RANDOM_SEED + 1} ({why_random})"
    else:
        image_source = f"the first {count} MNIST test image(s) from {data}, pixels / 255"
    return Workload(model, estimator, images, model_source, image_source, images_from_mnist)


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------

RATIOS = ("metric/reference", "reference/metric")
#: The kind of a target that bounds one measured quantity itself (a size budget), with no reference.
ABSOLUTE = "metric"


@dataclass(frozen=True)
class Target:
    """A goal: a ratio of two quantities measured in the same run, or one quantity, and the bound it must respect.

    ``metric`` and ``reference`` name keys of the subject's measured values
    (seconds, or bytes when ``unit`` is ``"bytes"``); ``ratio`` says which way
    the ratio is taken, so a goal reads naturally ("heedu/SEAL ≤ 10", "package/heedu ≥ 30").
    ``ratio: "metric"`` bounds the measured value itself (a budget such as "keys ≤ 65,536
    bytes"); such a target has no ``reference``.
    """

    subject: str
    name: str
    metric: str
    reference: str | None
    ratio: str
    at_most: float | None
    at_least: float | None
    unit: str
    why: str

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Target:
        """Read one entry of the targets file, refusing anything ambiguous."""
        absolute = item.get("ratio") == ABSOLUTE
        required = ("subject", "name", "metric", "ratio", "unit", "why") + (() if absolute else ("reference",))
        missing = [key for key in required if not isinstance(item.get(key), str)]
        if missing:
            raise ValueError(f"target {item.get('name')!r}: missing or non-text {', '.join(missing)}")
        unknown = set(item) - {*required, "at_most", "at_least"}
        if unknown:
            raise ValueError(f"target {item['name']!r}: unknown field(s) {', '.join(sorted(unknown))}")
        if item["ratio"] not in (*RATIOS, ABSOLUTE):
            raise ValueError(
                f"target {item['name']!r}: ratio must be one of {(*RATIOS, ABSOLUTE)}, got {item['ratio']!r}"
            )
        if item["unit"] not in ("seconds", "bytes"):
            raise ValueError(f"target {item['name']!r}: unit must be seconds or bytes, got {item['unit']!r}")
        bounds = [key for key in ("at_most", "at_least") if key in item]
        if len(bounds) != 1 or not isinstance(item[bounds[0]], (int, float)) or not item[bounds[0]] > 0:
            raise ValueError(f"target {item['name']!r}: give exactly one positive bound, at_most or at_least")
        return cls(
            subject=item["subject"],
            name=item["name"],
            metric=item["metric"],
            reference=None if absolute else item["reference"],
            ratio=item["ratio"],
            at_most=float(item["at_most"]) if "at_most" in item else None,
            at_least=float(item["at_least"]) if "at_least" in item else None,
            unit=item["unit"],
            why=item["why"],
        )

    @property
    def absolute(self) -> bool:
        return self.ratio == ABSOLUTE

    @property
    def goal_text(self) -> str:
        if self.absolute:
            bound = self.at_most if self.at_most is not None else self.at_least
            value = f"{bound:,.0f} B" if self.unit == "bytes" else format_seconds(bound)
            return f"{'≤' if self.at_most is not None else '≥'} {value}"
        bound = f"≤ {self.at_most:g}" if self.at_most is not None else f"≥ {self.at_least:g}"
        return f"{self.ratio} {bound}"


def load_targets(subject: str, path: Path = TARGETS_FILE) -> list[Target]:
    """The targets of one subject, in file order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [target for target in map(Target.from_json, data["targets"]) if target.subject == subject]


@dataclass(frozen=True)
class TargetResult:
    """A target checked against one run: both values, the ratio, and met (None when a value is missing)."""

    target: Target
    metric_value: float | None
    reference_value: float | None
    ratio: float | None
    met: bool | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.target.__dict__,
            "metric_value": self.metric_value,
            "reference_value": self.reference_value,
            "ratio_value": self.ratio,
            "met": self.met,
        }


def check_targets(targets: Iterable[Target], measured: Mapping[str, float | None]) -> list[TargetResult]:
    """Each target against this run's values; a value that was not measured gives met = None, not a guess."""
    results = []
    for target in targets:
        metric = measured.get(target.metric)
        reference = None if target.reference is None else measured.get(target.reference)
        ratio: float | None = None
        met: bool | None = None
        if target.absolute and metric:
            ratio = metric  # the bound applies to the value itself
        elif metric and reference:
            ratio = metric / reference if target.ratio == RATIOS[0] else reference / metric
        if ratio is not None:
            met = ratio <= target.at_most if target.at_most is not None else ratio >= (target.at_least or 0.0)
        results.append(TargetResult(target, metric, reference, ratio, met))
    return results


def targets_table(results: Sequence[TargetResult]) -> str:
    """The target results as a Markdown table."""
    rows = []
    for result in results:
        target = result.target
        formatter = format_bytes if target.unit == "bytes" else format_seconds
        if target.absolute:
            reference, ratio = "(a budget, no reference)", "—"
        else:
            reference = f"{formatter(result.reference_value)} (`{target.reference}`)"
            ratio = "n/a" if result.ratio is None else f"{result.ratio:.2f}"
        rows.append(
            [
                target.name,
                f"{formatter(result.metric_value)} (`{target.metric}`)",
                reference,
                ratio,
                target.goal_text,
                met_text(result.met),
            ]
        )
    return markdown_table(("target", "metric", "reference", "ratio", "goal", "met?"), rows, "lrrrlc")


def met_text(met: bool | None) -> str:
    return "n/a" if met is None else ("yes" if met else "**no**")


# --------------------------------------------------------------------------------------
# Formatting and reports
# --------------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """µs below a millisecond, ms below a second, s above; "n/a" for a missing value."""
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.2f} s"


def format_bytes(count: float | None) -> str:
    """Decimal KB and MB (as on the wire), bytes below 10 KB; "n/a" for a missing value."""
    if count is None:
        return "n/a"
    if count >= 1e6:
        return f"{count / 1e6:.2f} MB"
    return f"{count / 1e3:.0f} KB" if count >= 1e4 else f"{count:,.0f} B"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> str:
    """A Markdown table; ``align`` has one letter per column: l, r or c."""
    if len(align) != len(header):
        raise ValueError(f"{len(header)} columns but alignment {align!r}")
    rule = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    """One subject's run: the machine, the parameters, the sections, the targets, the raw data.

    Construct it first (it records the machine and the start time), add
    sections and data while measuring, then :meth:`finish` (load average at the
    end, elapsed time) and :meth:`write`.
    """

    subject: str
    title: str
    repeats: int
    parameters: ParameterSet = TUTORIAL
    machine: dict[str, Any] = field(default_factory=machine_info)
    sources: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    targets: list[TargetResult] = field(default_factory=list)
    elapsed_s: float | None = None
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def check(self, measured: Mapping[str, float | None], path: Path = TARGETS_FILE) -> list[TargetResult]:
        """Check this subject's targets against ``measured`` and keep the values in the JSON report."""
        self.data["measured"] = dict(measured)
        self.targets = check_targets(load_targets(self.subject, path), measured)
        return self.targets

    def finish(self) -> None:
        self.machine["load_average_end"] = load_average()
        self.elapsed_s = time.perf_counter() - self._started

    def markdown(self) -> str:
        lines = [
            f"# {self.title}",
            "",
            machine_text(self.machine),
            f"CKKS {self.parameters.text}; median of {self.repeats} timed calls after one untimed call, gc off.",
            *self.sources,
        ]
        if self.elapsed_s is not None:
            lines.append(f"The run took {self.elapsed_s:.0f} s.")
        for section in self.sections:
            lines += ["", section]
        if self.targets:
            lines += ["", "## Targets", "", targets_table(self.targets), ""]
            lines += [f"- {result.target.name}: {result.target.why}" for result in self.targets]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "title": self.title,
            "machine": self.machine,
            "parameters": self.parameters.as_json(),
            "repeats": self.repeats,
            "sources": self.sources,
            "elapsed_s": self.elapsed_s,
            "targets": [result.as_json() for result in self.targets],
            **self.data,
        }

    def write(self, markdown: Path | None, json_path: Path | None) -> None:
        """Print the Markdown report, and write it and the JSON where asked."""
        text = self.markdown()
        print(text)
        if markdown is not None:
            markdown.write_text(text, encoding="utf-8")
            print(f"wrote {markdown}")
        if json_path is not None:
            json_path.write_text(json.dumps(self.as_json(), indent=2, default=_json_default) + "\n", encoding="utf-8")
            print(f"wrote {json_path}")

    def all_met(self) -> bool:
        """No target missed (unmeasured ones do not count as missed)."""
        return not any(result.met is False for result in self.targets)


def _json_default(value: object) -> object:
    """NumPy scalars and arrays, and Runs, in the JSON report."""
    if isinstance(value, (Runs, Timed)):
        return value.as_json()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def argument_parser(description: str, repeats: int, quick_means: str) -> argparse.ArgumentParser:
    """The options every subject takes: ``--repeats``, ``--quick``, ``--markdown``, ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--repeats", type=positive_int, default=repeats, help=f"timed calls per measurement (default {repeats})"
    )
    parser.add_argument("--quick", action="store_true", help=f"a smoke run in seconds: {quick_means}")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown report here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw numbers here (JSON)")
    return parser


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """``--data DIR``: where the tutorial's model and MNIST are (default ``$HEEDU_DATA``)."""
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"folder with {mnist.TUTORIAL_MODEL} and the MNIST test set (default ${mnist.DATA_ENV}); "
        "without them, a random model and random inputs",
    )


def progress(message: str) -> None:
    """A line on stderr while a long run goes on (the report itself goes to stdout)."""
    print(message, file=sys.stderr, flush=True)
