"""heedu.tools.crosscheck: every encrypted path agrees with the plaintext model, and with the real package.

The real ``encrypted-inference==0.9`` costs about 0.8 s per class and input; a 3 x 784 model with
2 inputs keeps the whole file near 15 s. Without the package its paths are reported as skipped,
with the reason, and the heedu paths are still checked.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from heedu.errors import ShapeError
from heedu.inference import LinearModel
from heedu.tools import mnist

# By module name, in case heedu.tools ever exports a ``crosscheck`` function of the same name.
cc = importlib.import_module("heedu.tools.crosscheck")

PACKAGE = cc.load_package()
PACKAGE_MISSING = PACKAGE if isinstance(PACKAGE, str) else None
HEEDU_PATHS = [cc.COEFFICIENTS, cc.SLOTS, cc.HEEDU_EI]
PACKAGE_PATHS = [cc.PACKAGE_PATH, cc.PACKAGE_TO_HEEDU_SERVER, cc.PACKAGE_TO_HEEDU_CLIENT]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small():
    weights, bias = cc.random_model(3, 784, seed=7)
    x = cc.random_inputs(2, 784, seed=8)
    return weights, bias, x


@pytest.fixture(scope="module")
def report(small):
    return cc.crosscheck(*small)


def test_every_path_agrees_with_the_plaintext(report, small):
    weights, bias, x = small
    expected = x @ weights.T + bias
    assert [p.name for p in report.paths] == HEEDU_PATHS + PACKAGE_PATHS
    assert (report.n_inputs, report.n_outputs, report.n_features) == (2, 3, 784)
    for name in HEEDU_PATHS + ([] if PACKAGE_MISSING else PACKAGE_PATHS):
        path = report.path(name)
        assert path.status == "ok", f"{name}: {path}"
        assert path.max_abs_error < 1e-4, name
        assert path.agreement == 1.0, name
        np.testing.assert_allclose(path.scores, expected, atol=1e-4, rtol=0)
        assert np.array_equal(np.argmax(path.scores, axis=1), np.argmax(expected, axis=1)), name
    assert report.ok


def test_heedu_server_bytes_are_the_package_servers(report):
    if PACKAGE_MISSING:
        pytest.skip(f"the byte-identity check needs the real package: {PACKAGE_MISSING}")
    assert report.byte_identical is True
    assert report.path(cc.PACKAGE_TO_HEEDU_SERVER).byte_identical is True
    assert report.package == "encrypted-inference 0.9"
    # Identical bytes decrypt to identical scores.
    np.testing.assert_array_equal(report.path(cc.PACKAGE_TO_HEEDU_SERVER).scores, report.path(cc.PACKAGE_PATH).scores)


def test_package_paths_are_skipped_with_the_reason_when_unavailable(small, monkeypatch):
    weights, bias, x = small
    monkeypatch.setattr(cc, "load_package", lambda: "encrypted-inference is not importable (test)")
    skipped = cc.crosscheck(weights[:1], bias[:1], x[:1])
    for name in PACKAGE_PATHS:
        assert skipped.path(name).status == "skipped"
        assert "not importable (test)" in skipped.path(name).note
        assert skipped.path(name).max_abs_error is None
    assert skipped.byte_identical is None
    assert skipped.ok  # the heedu paths ran and agree; skipped paths do not fail the check
    table = skipped.table()
    assert "skipped" in table and "not importable (test)" in table and "all paths agree" in table
    assert skipped.to_dict()["paths"][len(HEEDU_PATHS)]["status"] == "skipped"


def test_a_wrong_path_is_reported_as_a_mismatch(small):
    weights, bias, x = small
    model = LinearModel(weights, bias)
    plain = x @ weights.T + bias
    assert cc._judge("fake", plain + 1e-3, plain, model, 1e-4, 0.0).status == "MISMATCH"
    swapped = plain[:, ::-1]
    result = cc._judge("fake", swapped, plain, model, 10.0, 0.0)
    assert result.status == "MISMATCH" and result.agreement < 1.0


def test_bad_inputs_raise_shape_errors(small):
    weights, bias, x = small
    with pytest.raises(ShapeError):
        cc.crosscheck(weights, bias, x[:, :100], use_package=False)
    with pytest.raises(ShapeError):
        cc.crosscheck(weights, bias[:2], x, use_package=False)


def test_cli_single_input_without_the_package(capsys):
    """The default model and inputs (the tutorial's if present, else random), one input, heedu's paths only."""
    assert cc.main(["--n", "1", "--no-package"]) == 0
    captured = capsys.readouterr()
    assert "all paths agree" in captured.out and "heedu EI" in captured.out
    assert "coefficients" in captured.out and "slots" in captured.out
    assert "not requested" in captured.out
    data_dir = mnist.find_data_dir()
    if data_dir is not None and (data_dir / mnist.TUTORIAL_MODEL).is_file():
        assert "LogisticRegression, 10 x 784" in captured.out and "first 1 MNIST test image" in captured.out
    else:
        assert "random 10 x 784 model" in captured.out


def test_cli_random_model_when_the_data_is_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "find_data_dir", lambda: None)
    monkeypatch.delenv("HEEDU_DATA", raising=False)  # and nothing in the (test-private) cache
    assert cc.main(["--n", "1", "--no-package"]) == 0
    out = capsys.readouterr().out
    assert "random 10 x 784 model" in out and "random MNIST-like" in out
    with pytest.raises(SystemExit) as caught:
        cc.main(["--model", str(tmp_path / "absent.pkl")])
    assert caught.value.code == 2
