"""The ``heedu`` command line, run as ``python -m heedu`` in a subprocess (as a user would)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def heedu(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heedu", *args], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert lines, "expected a message on stderr"
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, np.ndarray]:
    joblib = pytest.importorskip("joblib")
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 5))
    y = np.argmax(x[:, :3] + 0.1 * rng.normal(size=(60, 3)), axis=1)
    model = linear_model.LogisticRegression(max_iter=500).fit(x, y)
    path = tmp_path_factory.mktemp("model") / "small.pkl"
    joblib.dump(model, path)
    return path, model, rng.normal(size=(4, 5))


@pytest.mark.slow
def test_demo_writes_png_and_reports_accuracy(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    result = heedu("demo", "--png", "tmp/x.png", cwd=_workdir(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (_workdir(tmp_path) / "tmp" / "x.png").is_file()
    assert "encrypted accuracy" in result.stdout and "plaintext accuracy" in result.stdout
    assert "every image: yes" in result.stdout


def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize("encoding", ["coefficients", "slots"])
def test_file_round_trip_matches_decision_function(
    tmp_path: Path, small_model: tuple[Path, object, np.ndarray], encoding: str
) -> None:
    model_path, model, x = small_model
    np.save(tmp_path / "x.npy", x)
    plan, keys = tmp_path / "plan.json", tmp_path / "keys"
    steps = [
        ("plan", "--model", str(model_path), "--out", str(plan), "--input-bound", "4", "--encoding", encoding),
        ("keygen", "--plan", str(plan), "--out", str(keys)),
        ("encrypt", "--plan", str(plan), "--secret-key", str(keys / "secret.key"),
         "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "query.bin")),
        ("predict", "--model", str(model_path), "--query", str(tmp_path / "query.bin"),
         "--keys", str(keys / "public.keys"), "--out", str(tmp_path / "answer.bin"), "--plan", str(plan)),
        ("decrypt", "--plan", str(plan), "--secret-key", str(keys / "secret.key"),
         "--answer", str(tmp_path / "answer.bin"), "--out", str(tmp_path / "scores.out")),
    ]
    for step in steps:
        result = heedu(*step)
        assert result.returncode == 0, f"{step[0]}: {result.stdout}{result.stderr}"
    assert stat.S_IMODE((keys / "secret.key").stat().st_mode) == 0o600
    scores = np.load(tmp_path / "scores.out")
    np.testing.assert_allclose(scores, model.decision_function(x), atol=1e-4)  # type: ignore[attr-defined]

    # A query for another plan (other parameters) is refused, cleanly.
    other = heedu("predict", "--model", str(model_path), "--query", str(tmp_path / "query.bin"),
                  "--keys", str(keys / "public.keys"), "--out", str(tmp_path / "a2.bin"),
                  "--poly-modulus-degree", "4096", "--coeff-modulus-bits", "50,50", "--input-bound", "4")
    assert_clean_failure(other, "error")
    # Wrong plan for decryption: the keys directory instead of the plan.
    wrong = heedu("decrypt", "--plan", str(keys / "public.keys"), "--secret-key", str(keys / "secret.key"),
                  "--answer", str(tmp_path / "answer.bin"), "--out", str(tmp_path / "s2.npy"))
    assert_clean_failure(wrong, "plan")
    # A public key file where the secret key should be.
    swapped = heedu("encrypt", "--plan", str(plan), "--secret-key", str(keys / "public.keys"),
                    "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "q2.bin"))
    assert_clean_failure(swapped)
    # Inputs of the wrong width.
    np.save(tmp_path / "bad.npy", np.zeros((2, 7)))
    width = heedu("encrypt", "--plan", str(plan), "--secret-key", str(keys / "secret.key"),
                  "--input", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "q3.bin"))
    assert_clean_failure(width)


def test_params_prints_security_verdict() -> None:
    result = heedu("params")
    assert result.returncode == 0, result.stderr
    assert "secure (128-bit classical)" in result.stdout
    toy = heedu("params", "--poly-modulus-degree", "1024", "--coeff-modulus-bits", "40,30,40", "--allow-insecure")
    assert toy.returncode == 0, toy.stderr
    assert "INSECURE" in toy.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("params", "--coeff-modulus-bits", "60,forty"), "comma-separated"),
        (("params", "--poly-modulus-degree", "1000"), "power of two"),
        (("params", "--scale-bits", "nan"), "--scale-bits"),
        (("params", "--poly-modulus-degree", "1024", "--coeff-modulus-bits", "60,60,60,60"), "error"),
        (("keygen", "--plan", "/nonexistent/plan.json", "--out", "/tmp/heedu-none"), "not a file"),
        (("predict", "--model", "/nonexistent.pkl", "--query", "q", "--keys", "k", "--out", "o"), "not a file"),
        (("demo", "--mnist", "/nonexistent"), "not a folder"),
        (("demo", "--model", "m.pkl"), "goes with --mnist"),
        (("demo", "--png", "/nonexistent/x.png"), "does not exist"),
        (("demo", "--save-model", "/nonexistent/m.pkl"), "--save-model"),
        (("nosuchcommand",), "invalid choice"),
    ],
)
def test_bad_inputs_fail_cleanly(args: tuple[str, ...], needle: str) -> None:
    assert_clean_failure(heedu(*args), needle)


def test_malformed_plan_and_model(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"poly_modulus_degree": 8192}')
    assert_clean_failure(heedu("keygen", "--plan", str(plan), "--out", str(tmp_path / "k")), "plan")
    plan.write_bytes(b"\xff\xfe")
    assert_clean_failure(heedu("keygen", "--plan", str(plan), "--out", str(tmp_path / "k")), "plan")
    model = tmp_path / "model.pkl"
    model.write_bytes(b"not a pickle")
    assert_clean_failure(heedu("plan", "--model", str(model), "--out", str(tmp_path / "p.json")), "model")


def test_a_toy_plan_needs_the_users_own_allow_insecure(
    tmp_path: Path, small_model: tuple[Path, object, np.ndarray]
) -> None:
    """A plan file cannot opt its reader into a toy ring; only --allow-insecure on the command line can."""
    model_path, _, _ = small_model
    plan, keys = tmp_path / "toy-plan.json", tmp_path / "keys"
    toy = ("--poly-modulus-degree", "64", "--coeff-modulus-bits", "50,40,50")
    made = heedu("plan", "--model", str(model_path), "--out", str(plan), *toy, "--allow-insecure")
    assert made.returncode == 0, made.stdout + made.stderr
    refused = heedu("keygen", "--plan", str(plan), "--out", str(keys))
    assert_clean_failure(refused, "below 128-bit security", "--allow-insecure")
    assert "allow_insecure=True" not in refused.stderr  # the user's language: flags, not Python arguments
    assert not keys.exists()  # nothing was generated
    accepted = heedu("keygen", "--plan", str(plan), "--out", str(keys), "--allow-insecure")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_mixed_up_files_are_named_for_what_they_are(
    tmp_path: Path, small_model: tuple[Path, object, np.ndarray]
) -> None:
    model_path, _, x = small_model
    np.save(tmp_path / "x.npy", x)
    plan, keys = tmp_path / "plan.json", tmp_path / "keys"
    query, answer = tmp_path / "query.bin", tmp_path / "answer.bin"
    for step in (
        ("plan", "--model", str(model_path), "--out", str(plan), "--input-bound", "4"),
        ("keygen", "--plan", str(plan), "--out", str(keys)),
        ("encrypt", "--plan", str(plan), "--secret-key", str(keys / "secret.key"), "--input", str(tmp_path / "x.npy"),
         "--out", str(query)),
        ("predict", "--model", str(model_path), "--plan", str(plan), "--query", str(query),
         "--keys", str(keys / "public.keys"), "--out", str(answer)),
    ):
        result = heedu(*step)
        assert result.returncode == 0, f"{step[0]}: {result.stdout}{result.stderr}"
    predict = ("predict", "--model", str(model_path), "--plan", str(plan), "--out", str(tmp_path / "a2.bin"))
    assert_clean_failure(heedu(*predict, "--query", str(answer), "--keys", str(keys / "public.keys")),
                         "is an answer (from heedu predict), not a query")
    assert_clean_failure(heedu(*predict, "--query", str(query), "--keys", str(keys / "secret.key")),
                         "is a secret key", f"the server needs {keys / 'public.keys'}")
    decrypt = ("decrypt", "--plan", str(plan), "--out", str(tmp_path / "s.npy"))
    assert_clean_failure(heedu(*decrypt, "--secret-key", str(keys / "secret.key"), "--answer", str(query)),
                         "is a query", "not an answer")
    assert_clean_failure(heedu(*decrypt, "--secret-key", str(keys / "public.keys"), "--answer", str(answer)),
                         "is public keys (from heedu keygen), not a secret key")
    assert_clean_failure(heedu("encrypt", "--plan", str(plan), "--secret-key", str(keys / "secret.key"),
                               "--input", str(plan), "--out", str(tmp_path / "q2.bin")),
                         "is JSON text", "not a NumPy array")
    assert_clean_failure(heedu("keygen", "--plan", str(answer), "--out", str(tmp_path / "k2")), "not a plan")
    for output in (plan, query):  # nothing is overwritten without --force
        step = ("plan", "--model", str(model_path), "--out", str(output), "--input-bound", "4")
        assert_clean_failure(heedu(*step), "exists; add --force")
    assert_clean_failure(heedu("keygen", "--plan", str(plan), "--out", str(keys)), "--force")
    done = heedu(*decrypt, "--secret-key", str(keys / "secret.key"), "--answer", str(answer))
    assert done.returncode == 0 and "predicted class (index of the largest score): " in done.stdout


def test_every_command_explains_itself_and_a_closed_pipe_is_quiet() -> None:
    for name in ("params", "plan", "keygen", "encrypt", "predict", "decrypt"):
        text = heedu(name, "--help").stdout
        assert "example: heedu " + name in text and "--allow-insecure" in text
    piped = subprocess.run(
        f"{sys.executable} -m heedu params | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert piped.stdout.count("\n") == 1 and piped.stderr == ""


def test_crosscheck_and_bench_take_their_options(tmp_path: Path) -> None:
    help_text = heedu("crosscheck", "--help").stdout
    assert "--model PKL" in help_text and "--no-package" in help_text and "example:" in help_text
    assert_clean_failure(heedu("crosscheck", "--model", str(tmp_path / "none.pkl"), "--no-package"), "does not exist")
    assert_clean_failure(heedu("bench", "--suite", str(tmp_path)), "lacks", "--suite")
    assert_clean_failure(heedu("bench", "--data", str(tmp_path / "none")), "--data")
    (tmp_path / "bench_echo.py").write_text("import os, sys\nprint('ran', sys.argv[1:], os.environ['HEEDU_DATA'])\n")
    ran = heedu("bench", "--suite", str(tmp_path), "--only", "echo", "--quick", "--repeats", "2",
                "--data", str(tmp_path), "--out", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert "'--repeats', '2', '--quick', '--markdown'" in ran.stdout and str(tmp_path) in ran.stdout


def test_version_and_missing_extras_say_what_to_install(tmp_path: Path) -> None:
    import heedu as package

    assert heedu("--version").stdout.strip() == f"heedu {package.__version__}"
    # A Python where scikit-learn cannot be imported: the demo names the extra to install.
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, *args):\n"
        "        if name.split('.')[0] == 'sklearn':\n            raise ImportError('blocked', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "heedu", "demo", "--png", ""], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert_clean_failure(result, "pip install 'heedu[demo]'")


def test_another_clients_keys_and_impossible_scales_are_refused(
    tmp_path: Path, small_model: tuple[Path, object, np.ndarray]
) -> None:
    model_path, _, x = small_model
    np.save(tmp_path / "x.npy", x)
    plan = tmp_path / "plan.json"
    assert heedu("plan", "--model", str(model_path), "--out", str(plan), "--input-bound", "4").returncode == 0
    for folder in ("alice", "bob"):
        assert heedu("keygen", "--plan", str(plan), "--out", str(tmp_path / folder)).returncode == 0
    query, answer = tmp_path / "q.bin", tmp_path / "a.bin"
    assert heedu("encrypt", "--plan", str(plan), "--secret-key", str(tmp_path / "alice" / "secret.key"),
                 "--input", str(tmp_path / "x.npy"), "--out", str(query)).returncode == 0
    predict = ("predict", "--model", str(model_path), "--plan", str(plan), "--query", str(query), "--out", str(answer))
    assert_clean_failure(heedu(*predict, "--keys", str(tmp_path / "bob" / "public.keys")), "another client")
    assert heedu(*predict, "--keys", str(tmp_path / "alice" / "public.keys")).returncode == 0
    assert_clean_failure(heedu("decrypt", "--plan", str(plan), "--secret-key", str(tmp_path / "bob" / "secret.key"),
                               "--answer", str(answer), "--out", str(tmp_path / "s.npy")), "another client")
    assert_clean_failure(heedu("plan", "--model", str(model_path), "--out", str(tmp_path / "p2.json"),
                               "--encoding", "slots", "--scale-bits", "50"), "above the 40-bit primes")
    assert_clean_failure(heedu("plan", "--model", str(model_path), "--out", str(tmp_path / "p3.json"),
                               "--scale-bits", "30"), "--scale-bits is for --encoding slots")
