"""heedu.tools.evaluate: encrypted accuracy on scikit-learn's digits, on MNIST (slow), the CLI, the progress bar."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from heedu.errors import ShapeError
from heedu.inference import LinearModel
from heedu.tools import mnist

# By module name: heedu.tools may one day export an ``evaluate`` function that would shadow the submodule.
evaluate = importlib.import_module("heedu.tools.evaluate")
EvaluationReport = evaluate.EvaluationReport
ProgressBar = importlib.import_module("heedu.tools.progress").ProgressBar
default_batch_size, predicted_labels = evaluate.default_batch_size, evaluate.predicted_labels

sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="these tests train scikit-learn models")
from sklearn.linear_model import LogisticRegression  # noqa: E402

N_TEST = 30


@pytest.fixture(scope="module")
def digits():
    """LogisticRegression on scikit-learn's bundled 8 x 8 digits (64 features, 10 classes), 30 held-out images."""
    data = sklearn_datasets.load_digits()
    x, y = data.data / 16.0, data.target
    model = LogisticRegression(max_iter=2000).fit(x[:-N_TEST], y[:-N_TEST])
    return model, x[-N_TEST:], y[-N_TEST:]


@pytest.fixture(scope="module")
def digits_report(digits) -> EvaluationReport:
    model, x, y = digits
    return evaluate.evaluate(model, x, y, progress=False)


def test_digits_accuracy_under_encryption(digits, digits_report):
    model, x, y = digits
    report = digits_report
    assert report.n == N_TEST
    assert report.encrypted_accuracy == report.plaintext_accuracy == pytest.approx(np.mean(model.predict(x) == y))
    assert report.plaintext_accuracy > 0.8
    assert report.agreement == 1.0 and report.disagreements == []
    assert report.max_abs_error < 1e-4
    assert report.seconds_per_image > 0 and report.setup_seconds > 0
    assert report.bytes_up > report.key_bytes > 0 and report.bytes_down > 0
    assert report.batch_size == evaluate.DEFAULT_COEFFICIENT_BATCH  # coefficient encoding by default
    assert report.inputs_per_ciphertext >= 1


def test_report_table_and_dict(digits_report):
    table = digits_report.table()
    for label in ("encrypted accuracy", "plaintext accuracy", "argmax agreement", "max |score error|",
                  "time per image", "bytes up", "bytes down"):  # fmt: skip
        assert label in table
    data = json.loads(json.dumps(digits_report.to_dict()))
    assert data["n"] == N_TEST and data["agreement"] == 1.0
    assert data["total_seconds"] == pytest.approx(digits_report.total_seconds)


def test_odd_batch_size_and_linear_model_give_the_same_predictions(digits, digits_report):
    model, x, y = digits
    report = evaluate.evaluate(LinearModel.from_sklearn(model), x, y, batch_size=7, progress=False)
    assert report.batch_size == 7 and report.n == N_TEST
    assert report.encrypted_accuracy == digits_report.encrypted_accuracy
    assert report.agreement == 1.0 and report.max_abs_error < 1e-4


def test_progress_bar_goes_to_stderr(digits, capsys):
    model, x, y = digits
    evaluate.evaluate(model, x[:5], y[:5], progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "\r" in captured.err and "5/5 images" in captured.err and "ETA" in captured.err
    assert captured.err.endswith("\n")


def test_progress_bar_line():
    stream = io.StringIO()
    bar = ProgressBar(10, label="test", min_interval=0.0, interactive=True)
    bar.update(4, stream)
    assert "[" in stream.getvalue() and "4/10 images" in stream.getvalue() and " 40.0%" in stream.getvalue()
    bar.update(100, stream)  # clamped
    bar.close(stream)
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and "10/10 images" in text and "ETA 00:00" in text
    assert text.count("\n") == 1
    quiet = io.StringIO()  # not a terminal: no redrawing, one final line
    bar = ProgressBar(10, label="test", min_interval=0.0)
    bar.update(4, quiet)
    assert quiet.getvalue() == ""
    bar.update(6, quiet)
    bar.close(quiet)
    assert quiet.getvalue().count("10/10 images") == 1 and quiet.getvalue().endswith("\n")


@pytest.mark.parametrize("per, expected", [(3, 48), (51, 51), (5, 50), (100, 100), (1, 48)])
def test_default_batch_size(per, expected):
    plan = SimpleNamespace(packing=SimpleNamespace(inputs_per_ciphertext=per))  # a slot plan
    assert default_batch_size(plan) == expected
    assert default_batch_size(SimpleNamespace()) == evaluate.DEFAULT_COEFFICIENT_BATCH  # a coefficient plan


def test_predicted_labels_uses_classes_and_signs():
    model = LinearModel(np.eye(3), np.zeros(3), classes=np.array([4, 7, 9]))
    assert predicted_labels(model, np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])).tolist() == [7, 4]
    binary = LinearModel(np.ones((1, 3)), np.zeros(1), one_dimensional=True, classes=np.array(["no", "yes"]))
    assert predicted_labels(binary, np.array([[-0.5], [0.5]])).tolist() == ["no", "yes"]


def test_bad_arguments_raise_shape_errors(digits):
    model, x, y = digits
    with pytest.raises(ShapeError, match="labels"):
        evaluate.evaluate(model, x, y[:-1], progress=False)
    with pytest.raises(ShapeError, match="batch_size"):
        evaluate.evaluate(model, x[:2], y[:2], batch_size=0, progress=False)
    with pytest.raises(ShapeError):
        evaluate.evaluate(model, x[:, :10], y, progress=False)


# --------------------------------------------------------------------------------------
# The command line, on a tiny data folder of our own
# --------------------------------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """Digits as idx files and a pickled model, laid out like the MNIST folder (pixels 0..255)."""
    joblib = pytest.importorskip("joblib")
    data = sklearn_datasets.load_digits()
    pixels = np.round(data.images * 255 / 16).astype(np.uint8)
    folder = tmp_path_factory.mktemp("digits_data")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(pixels[-N_TEST:])))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx(data.target[-N_TEST:]))
    model = LogisticRegression(max_iter=2000).fit(pixels[:-N_TEST].reshape(-1, 64) / 255.0, data.target[:-N_TEST])
    joblib.dump(model, folder / mnist.TUTORIAL_MODEL)
    return folder


def test_cli_with_limit_and_json(digits_folder, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert evaluate.main(["--data", str(digits_folder), "--limit", "6", "--json", str(out), "--batch-size", "4"]) == 0
    captured = capsys.readouterr()
    assert "encrypted accuracy" in captured.out and "argmax agreement" in captured.out
    assert "6/6 images" in captured.err
    report = json.loads(out.read_text())
    assert report["n"] == 6 and report["batch_size"] == 4 and report["agreement"] == 1.0
    assert report["max_abs_error"] < 1e-4
    assert report["data_dir"] == str(digits_folder)


def test_cli_model_option_and_no_progress(digits_folder, capsys):
    args = ["--data", str(digits_folder), "--model", str(digits_folder / mnist.TUTORIAL_MODEL), "--limit", "2"]
    assert evaluate.main([*args, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "images                         2" in captured.out


def test_cli_without_data_exits_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HEEDU_DATA", raising=False)
    with pytest.raises(SystemExit) as caught:
        evaluate.main([])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "not found" in err and "HEEDU_DATA" in err and "--data" in err and "--download" in err
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--data", str(tmp_path)])
    assert caught.value.code == 2
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err


def test_cli_model_for_other_images_exits_cleanly(digits_folder, tmp_path, capsys):
    joblib = pytest.importorskip("joblib")
    rng = np.random.default_rng(3)
    wide = LogisticRegression().fit(rng.random((20, 784)), np.arange(20) % 2)
    joblib.dump(wide, tmp_path / "wide.pkl")
    with pytest.raises(SystemExit) as caught:
        evaluate.main(["--data", str(digits_folder), "--model", str(tmp_path / "wide.pkl"), "--no-progress"])
    assert caught.value.code == 2
    assert "784" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--limit", "0"], ["--batch-size", "x"]])
def test_cli_rejects_bad_numbers(argv):
    with pytest.raises(SystemExit) as caught:
        evaluate.main(argv)
    assert caught.value.code == 2


# --------------------------------------------------------------------------------------
# The real MNIST test set and the tutorial's model
# --------------------------------------------------------------------------------------

DATA_DIR = mnist.find_data_dir()


NEEDS_MNIST = pytest.mark.skipif(
    DATA_DIR is None or not (DATA_DIR / mnist.TUTORIAL_MODEL).is_file(),
    reason="the MNIST test set or the tutorial model is absent (set HEEDU_DATA to their folder; make test does)",
)


@pytest.mark.slow
@NEEDS_MNIST
def test_all_10000_mnist_images_through_the_default_protocol():
    """The issue's acceptance: accuracy equal to plaintext (0.9193), every argmax equal, score error <= 1e-5."""
    images, labels = mnist.load_mnist_test(DATA_DIR)
    estimator = mnist.load_tutorial_model(DATA_DIR / mnist.TUTORIAL_MODEL)
    report = evaluate.evaluate(estimator, images, labels, progress=False)
    assert report.n == 10_000
    assert report.agreement == 1.0 and report.disagreements == []
    assert report.encrypted_accuracy == report.plaintext_accuracy == pytest.approx(0.9193)
    assert report.max_abs_error <= 1e-5


@pytest.mark.slow
@NEEDS_MNIST
def test_mnist_subset_through_the_slot_protocol():
    images, labels = mnist.load_mnist_test(DATA_DIR)
    estimator = mnist.load_tutorial_model(DATA_DIR / mnist.TUTORIAL_MODEL)
    x, y = images[:60], labels[:60]
    report = evaluate.evaluate(estimator, x, y, progress=False, encoding="slots")
    assert report.n == 60 and report.batch_size == 48 and report.inputs_per_ciphertext == 4
    assert report.agreement == 1.0
    assert report.max_abs_error < 1e-4
    assert report.encrypted_accuracy == report.plaintext_accuracy == np.mean(estimator.predict(x) == y)
