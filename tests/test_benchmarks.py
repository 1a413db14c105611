"""The benchmark harness's pure parts, and every subject in its --quick smoke mode.

Nothing here asserts a speed: the machine running the tests may be shared or
slow. What is checked is that the timing loop counts and times what it says,
that the targets file is well formed and read the right way round, that the
reports are written, and that each subject runs to the end and reports its
targets.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import concrete_ml, harness
from heedu import CKKSParameters

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = {"core", "ei", "inference"}
#: Every subject run is bounded: a hang fails the test instead of blocking the suite.
SUBJECT_TIMEOUT_S = 600


# --------------------------------------------------------------------------------------
# The timing loop
# --------------------------------------------------------------------------------------


def test_time_calls_warms_up_then_times_each_call_on_a_fresh_input() -> None:
    made: list[int] = []

    def make_input() -> int:
        made.append(len(made))
        return made[-1]

    runs, result = harness.time_calls(lambda value: value * 2, make_input, repeats=5)
    assert made == [0, 1, 2, 3, 4, 5]  # one input for the warm-up, one per timed call
    assert result == 10  # the last call's result
    assert len(runs.wall_s) == len(runs.cpu_s) == 5
    assert all(t >= 0 for t in runs.wall_s + runs.cpu_s)
    assert runs.first_s is not None and runs.first_s >= 0
    assert runs.median_s == sorted(runs.wall_s)[2]


def test_measure_without_warm_up_and_bad_repeats() -> None:
    calls: list[None] = []
    runs, _ = harness.measure(lambda: calls.append(None), repeats=3, warm_up=False)
    assert len(calls) == 3 and runs.first_s is None and len(runs.wall_s) == 3
    with pytest.raises(ValueError):
        harness.measure(lambda: None, repeats=0)


def test_runs_divided_is_per_unit_and_json_survives_no_calls() -> None:
    runs = harness.Runs(wall_s=[6.0, 12.0], cpu_s=[3.0, 6.0], first_s=18.0, page_faults_per_call=60.0)
    per_row = runs.divided(6)
    assert per_row.wall_s == [1.0, 2.0] and per_row.cpu_s == [0.5, 1.0]
    assert per_row.first_s == 3.0 and per_row.page_faults_per_call == 10.0
    assert per_row.median_s == 1.5 and per_row.median_cpu_s == 0.75
    assert harness.Runs().as_json()["median_s"] is None


def test_time_call_restores_the_garbage_collector() -> None:
    import gc

    assert gc.isenabled()
    sample, value = harness.time_call(lambda: gc.isenabled())
    assert value is False and gc.isenabled() and sample.wall_s >= 0


def test_rounds_make_the_first_call_at_once_then_interleave_every_measurement() -> None:
    calls: list[str] = []

    def operation(name: str):  # type: ignore[no-untyped-def]
        def call(value: int) -> str:
            calls.append(f"{name}{value}")
            return f"{name} result"

        return call

    assert harness.Rounds(5, slow_rounds=2)._slow == {1, 3} and harness.Rounds(5, slow_rounds=1)._slow == {2}
    assert harness.Rounds(2, slow_rounds=5)._slow == {0, 1}
    rounds = harness.Rounds(3, slow_rounds=2)
    counter = iter(range(100))
    a_runs, a_result = rounds.add(operation("a"), lambda: next(counter))
    b_runs, _ = rounds.add(operation("b"), lambda: next(counter), slow=True)
    c_runs, c_result = rounds.add_call(lambda: calls.append("c") or "c result")
    assert calls == ["a0", "b1", "c"] and a_result == "a result" and c_result == "c result"  # first calls, untimed
    assert a_runs.wall_s == [] and a_runs.first_s is not None and a_runs.first_s >= 0
    rounds.run()
    # round by round, every measurement once; the slow one in two rounds spread over the three; fresh inputs
    assert calls[3:] == ["a2", "b3", "c", "a4", "c", "a5", "b6", "c"]
    assert len(a_runs.wall_s) == len(c_runs.cpu_s) == 3 and len(b_runs.wall_s) == 2
    assert a_runs.page_faults_per_call is not None


def test_rounds_record_what_an_external_operation_measured_itself() -> None:
    rounds = harness.Rounds(2)
    reported = iter([harness.Sample(5.0, 4.0), harness.Sample(1.0, 0.5), harness.Sample(2.0, 1.0)])
    runs, result = rounds.add(lambda _: (next(reported), "reply"), external=True)
    rounds.run()
    assert result == "reply" and runs.first_s == 5.0 and runs.wall_s == [1.0, 2.0] and runs.cpu_s == [0.5, 1.0]
    with pytest.raises(ValueError):
        harness.Rounds(0)


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------


def test_the_targets_file_is_well_formed() -> None:
    data = json.loads(harness.TARGETS_FILE.read_text(encoding="utf-8"))
    targets = [harness.Target.from_json(item) for item in data["targets"]]
    assert {target.subject for target in targets} == SUBJECTS
    names = [(target.subject, target.name) for target in targets]
    assert len(names) == len(set(names)), "two targets of one subject share a name"
    for target in targets:
        assert target.metric != target.reference
        assert "issue" not in (target.name + target.why).lower()
        assert (target.reference is None) == target.absolute
        for name in (target.metric, target.reference):
            if name is None:
                continue
            system, _, quantity = name.partition(".")
            assert system and quantity, f"{name!r} is not system.quantity"


def test_targets_are_checked_both_ways_round() -> None:
    def target(ratio: str, at_most: float | None = None, at_least: float | None = None) -> harness.Target:
        return harness.Target("core", "t", "mine", "theirs", ratio, at_most, at_least, "seconds", "because")

    slower = {"mine": 8.0, "theirs": 1.0}
    at_most = harness.check_targets([target("metric/reference", at_most=10.0)], slower)[0]
    assert at_most.ratio == 8.0 and at_most.met is True
    assert harness.check_targets([target("metric/reference", at_most=5.0)], slower)[0].met is False
    speedup = harness.check_targets([target("reference/metric", at_least=30.0)], {"mine": 1.0, "theirs": 40.0})[0]
    assert speedup.ratio == 40.0 and speedup.met is True
    missing = harness.check_targets([target("metric/reference", at_most=1.0)], {"mine": 1.0})[0]
    assert missing.ratio is None and missing.met is None  # not measured: no verdict, not a failure


def test_an_absolute_target_bounds_the_value_itself() -> None:
    item = {"subject": "inference", "name": "keys", "metric": "x.key_bytes", "ratio": "metric", "at_most": 65536}
    budget = harness.Target.from_json({**item, "unit": "bytes", "why": "one key"})
    assert budget.absolute and budget.reference is None and budget.goal_text == "≤ 65,536 B"
    small = harness.check_targets([budget], {"x.key_bytes": 55_864.0})[0]
    assert small.ratio == 55_864.0 and small.met is True
    large = harness.check_targets([budget], {"x.key_bytes": 70_000.0})[0]
    assert large.met is False
    assert harness.check_targets([budget], {})[0].met is None
    assert "(a budget, no reference)" in harness.targets_table([small])


@pytest.mark.parametrize(
    "change",
    [
        {"at_most": None},  # no bound at all
        {"at_least": 2},  # both bounds
        {"ratio": "metric-reference"},
        {"unit": "ms"},
        {"at_most": -1},
        {"issue": 4},  # unknown field
        {"ratio": "metric"},  # a budget has no reference
    ],
)
def test_a_malformed_target_is_refused(change: dict[str, object]) -> None:
    item: dict[str, object] = {
        "subject": "core",
        "name": "t",
        "metric": "a",
        "reference": "b",
        "ratio": "metric/reference",
        "at_most": 10,
        "unit": "seconds",
        "why": "because",
    }
    item.update(change)
    if item.get("at_most") is None:
        del item["at_most"]
    with pytest.raises(ValueError):
        harness.Target.from_json(item)


def test_load_targets_reads_one_subject(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    entry = {"name": "t", "metric": "a", "reference": "b", "ratio": "metric/reference", "at_most": 2}
    entry.update(unit="bytes", why="w")
    path.write_text(json.dumps({"targets": [{**entry, "subject": "x"}, {**entry, "subject": "y"}]}))
    assert [t.subject for t in harness.load_targets("y", path)] == ["y"]


# --------------------------------------------------------------------------------------
# Reports, formatting, workload
# --------------------------------------------------------------------------------------


def test_report_writes_markdown_and_json_with_the_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = harness.Report("core", "A title", repeats=3)
    report.sources.append("Model: none.")
    report.sections.append(harness.markdown_table(("op", "time"), [["ntt", harness.format_seconds(2e-4)]], "lr"))
    report.data["extra"] = {"runs": harness.Runs([1.0], [1.0])}
    report.check({"heedu.ntt": 8e-4, "seal.ntt": 1e-4, "heedu.rotate": 1.0})
    report.finish()
    markdown, json_path = tmp_path / "r.md", tmp_path / "r.json"
    report.write(markdown, json_path)
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("# A title") and "| ntt | 200.0 µs |" in text and "## Targets" in text
    assert "Load average" in text and harness.cpu_model() in text
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["subject"] == "core" and data["machine"]["numpy"] and data["extra"]["runs"]["median_s"] == 1.0
    met = {item["name"]: item["met"] for item in data["targets"]}
    assert met["NTT, one row"] is True and met["rotation (one key switch)"] is None  # seal.rotate not given
    assert report.all_met()  # n/a is not a miss
    assert "wrote" in capsys.readouterr().out


def test_formatting_and_tables() -> None:
    assert harness.format_seconds(None) == "n/a"
    assert harness.format_seconds(2.5e-6) == "2.5 µs"
    assert harness.format_seconds(0.0125) == "12.500 ms"
    assert harness.format_seconds(7.25) == "7.25 s"
    assert harness.format_bytes(131_088) == "131 KB" and harness.format_bytes(8_978_372) == "8.98 MB"
    assert harness.markdown_table(("a", "b"), [["1", "2"]], "lc").splitlines()[1] == "|---|:---:|"
    with pytest.raises(ValueError):
        harness.markdown_table(("a", "b"), [], "l")


def test_the_workload_falls_back_to_random_and_says_why(tmp_path: Path) -> None:
    work = harness.load_workload(tmp_path, 3)  # an empty folder: neither the model nor MNIST
    assert work.images.shape == (3, 784) and work.coef.shape == (10, 784)
    assert "random" in work.model_source and str(tmp_path) in work.model_source
    assert "random" in work.image_source
    assert work.scores(work.images).shape == (3, 10)


def test_parameters_are_the_librarys_tutorial_set() -> None:
    assert harness.TUTORIAL.heedu() == CKKSParameters.tutorial()
    assert harness.TUTORIAL.text == "N=8192, q bits [60,40,40,60], scale 2^40"


# --------------------------------------------------------------------------------------
# Every subject, in its smoke mode
# --------------------------------------------------------------------------------------


def run_subject(script: str, tmp_path: Path, *extra: str) -> dict[str, object]:
    """Run ``benchmarks/<script> --quick`` as ``make bench`` does; return its JSON report."""
    report = tmp_path / f"{script}.json"
    markdown = tmp_path / f"{script}.md"
    # The random workload, and no Concrete ML (its worker imports and compiles for seconds): fast.
    env = {key: value for key, value in os.environ.items() if key not in ("HEEDU_DATA", concrete_ml.PYTHON_ENV)}
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--quick", "--json", str(report), "--markdown", str(markdown), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBJECT_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert markdown.read_text(encoding="utf-8").startswith("# ")
    return json.loads(report.read_text(encoding="utf-8"))


def has_seal_python() -> bool:
    return importlib.util.find_spec("seal") is not None


def test_core_subject_quick(tmp_path: Path) -> None:
    data = run_subject("bench_core.py", tmp_path)
    assert data["subject"] == "core" and data["repeats"] == 1
    assert all(error < 1e-3 for error in data["sanity_max_error"].values())
    if has_seal_python():
        assert all(item["met"] is not None for item in data["targets"])  # every quantity was measured


def test_native_seal_quick(tmp_path: Path) -> None:
    if not has_seal_python():
        pytest.skip("seal-python is not installed")
    data = run_subject("native_seal.py", tmp_path)
    assert {"ntt", "rotate", "rotate_level1"} <= set(data["seal"])


@pytest.mark.slow
def test_ei_subject_quick(tmp_path: Path) -> None:
    data = run_subject("bench_ei.py", tmp_path)
    assert data["subject"] == "ei" and data["max_abs_error"]["heedu client"] < 1e-3
    assert {item["name"] for item in data["targets"]} == {t.name for t in harness.load_targets("ei")}


@pytest.mark.slow
def test_inference_subject_quick(tmp_path: Path) -> None:
    data = run_subject("bench_inference.py", tmp_path)
    keys = {(row["key"], row["images"]) for row in data["rows"]}
    assert {("heedu_coefficients", 1), ("heedu_coefficients", 8), ("heedu_slots", 1), ("heedu_slots", 8)} <= keys
    targets = {item["name"]: item for item in data["targets"]}
    assert set(targets) == {t.name for t in harness.load_targets("inference")}
    for name, item in targets.items():
        if item["metric"].startswith("heedu_coefficients.") and "1,024" not in name:
            assert item["ratio_value"] is not None, name  # measured, met or not: the quick run times no batch of 1,024
    if has_seal_python():
        assert ("seal_packed", 1) in keys
        batched = next(item for item in data["targets"] if item["reference"] == "seal_packed.server_1")
        assert batched["met"] is not None
    assert all(row["max_abs_error"] < 1e-3 for row in data["rows"] if row["tolerance"] is not None)
    assert set(data["extras"]["heedu_coefficients_layouts"]) == {"1", "8"}
    assert data["extras"]["heedu_coefficients_cold_predict_s"] > 0
    if importlib.util.find_spec("concrete") is None:  # skipped, saying why and what to install
        assert any("Concrete ML" in reason and concrete_ml.PYTHON_ENV in reason for reason in data["skipped"])


def test_concrete_worker_says_why_it_cannot_run(tmp_path: Path) -> None:
    weights, bias, images = np.ones((2, 3)), np.zeros(2), np.zeros((1, 3))
    missing = concrete_ml.ConcreteWorker.start(str(tmp_path / "no-python"), tmp_path, weights, bias, images, images)
    assert isinstance(missing, str) and "does not exist" in missing and "concrete-ml" in missing
    if importlib.util.find_spec("concrete") is not None:
        pytest.skip("this interpreter has Concrete ML")
    here = concrete_ml.ConcreteWorker.start(sys.executable, tmp_path / "w", weights, bias, images, images)
    assert isinstance(here, str) and "not importable" in here and concrete_ml.PYTHON_ENV in here


@pytest.mark.slow
def test_concrete_worker_runs_every_command_when_an_interpreter_has_it(tmp_path: Path) -> None:
    python = os.environ.get(concrete_ml.PYTHON_ENV)
    if not python or not Path(python).exists():
        pytest.skip(f"${concrete_ml.PYTHON_ENV} names no interpreter with Concrete ML")
    rng = np.random.default_rng(1)
    weights, bias, images = rng.normal(size=(3, 16)), rng.normal(size=3), rng.uniform(size=(50, 16))
    worker = concrete_ml.ConcreteWorker.start(python, tmp_path, weights, bias, images, images[:1])
    assert not isinstance(worker, str), worker
    try:
        sizes = {op: worker.timed(op)[2] for op in ("keygen", "encrypt", "server", "decrypt")}
    finally:
        worker.close()
    assert sizes["encrypt"]["bytes"] > 0 and sizes["server"]["bytes"] > 0 and len(sizes["decrypt"]["scores"]) == 3


def test_profile_coefficients_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import profile_coefficients

    monkeypatch.delenv("HEEDU_DATA", raising=False)
    assert profile_coefficients.main(["--images", "1", "--calls", "1", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "predict on 1 image(s), 1 call(s)" in out and "coefficients.py" in out
