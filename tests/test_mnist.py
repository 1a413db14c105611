"""heedu.tools.mnist: idx files (gzip and plain), every malformed case, the real test set, the data folder."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import heedu
from heedu.tools import mnist
from heedu.tools.mnist import IdxFormatError, find_data_dir, load_idx, load_mnist_test

DATA_DIR = find_data_dir()
needs_data = pytest.mark.skipif(
    DATA_DIR is None,
    reason="the MNIST test set is absent (set HEEDU_DATA to its folder; make test does)",
)


def idx_bytes(array: np.ndarray, dtype_code: int = 0x08) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes, compressed: bool) -> Path:
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([7, 2, 1, 0, 9], dtype=np.uint8)


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_round_trip(tmp_path, images, labels, compressed):
    got_images = load_idx(write(tmp_path / "images", idx_bytes(images), compressed))
    got_labels = load_idx(write(tmp_path / "labels", idx_bytes(labels), compressed))
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 4, 3)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable
    assert idx_bytes(images)[:4] == struct.pack(">I", mnist.IMAGES_MAGIC)
    assert idx_bytes(labels)[:4] == struct.pack(">I", mnist.LABELS_MAGIC)


def test_gzip_is_detected_by_content_not_name(tmp_path, labels):
    np.testing.assert_array_equal(load_idx(write(tmp_path / "labels.plain", idx_bytes(labels), True)), labels)
    np.testing.assert_array_equal(load_idx(write(tmp_path / "labels.gz", idx_bytes(labels), False)), labels)


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_load_mnist_test_scales_and_shapes(tmp_path, images, labels, compressed):
    suffix = ".gz" if compressed else ""
    write(tmp_path / f"t10k-images-idx3-ubyte{suffix}", idx_bytes(images), compressed)
    write(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", idx_bytes(labels), compressed)
    x, y = load_mnist_test(tmp_path)
    assert x.dtype == np.float64 and x.shape == (5, 12)
    np.testing.assert_array_equal(x, images.reshape(5, 12) / 255.0)
    assert y.dtype == np.int64 and y.tolist() == [7, 2, 1, 0, 9]


# --------------------------------------------------------------------------------------
# Malformed files
# --------------------------------------------------------------------------------------


def _malformed(labels: np.ndarray, images: np.ndarray) -> dict[str, tuple[bytes, str]]:
    good = idx_bytes(labels)
    return {
        "empty file": (b"", "too short"),
        "2 bytes": (b"\x00\x00", "too short"),
        "wrong magic (text)": (b"P5\n28 28\n255\n" + bytes(784), "not an idx file"),
        "wrong magic (0x0108)": (b"\x01\x08" + good[2:], "not an idx file"),
        "float32 dtype code": (idx_bytes(labels, 0x0D), "0x0d (float32)"),
        "unknown dtype code": (idx_bytes(labels, 0x42), "0x42"),
        "two dimensions": (idx_bytes(images[0]), "2 dimension(s)"),
        "zero dimensions": (b"\x00\x00\x08\x00", "0 dimension(s)"),
        "header truncated": (good[:6], "truncated inside its header"),
        "data truncated": (good[:-1], "truncated"),
        "data missing": (good[:8], "truncated"),
        "images truncated": (idx_bytes(images)[:-7], "truncated"),
        "one extra byte": (good + b"\x00", "1 unexpected byte"),
        "many extra bytes": (good + bytes(100_000), "at least"),
        "absurd count": (b"\x00\x00\x08\x01" + struct.pack(">I", 0xFFFFFFFF) + bytes(8), "limit"),
        "absurd image sides": (b"\x00\x00\x08\x03" + struct.pack(">3I", 10_000, 60_000, 60_000), "limit"),
        "zero-sized dimension": (b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 0, 28), "size 0"),
    }


MALFORMED = [
    "empty file", "2 bytes", "wrong magic (text)", "wrong magic (0x0108)", "float32 dtype code", "unknown dtype code",
    "two dimensions", "zero dimensions", "header truncated", "data truncated", "data missing", "images truncated",
    "one extra byte", "many extra bytes", "absurd count", "absurd image sides", "zero-sized dimension",
]  # fmt: skip


def test_malformed_list_is_complete(labels, images):
    assert sorted(MALFORMED) == sorted(_malformed(labels, images))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_files_raise_typed_errors(tmp_path, labels, images, case, compressed):
    data, message = _malformed(labels, images)[case]
    path = write(tmp_path / "file", data, compressed)
    with pytest.raises(IdxFormatError) as caught:
        load_idx(path)
    assert message in str(caught.value), str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, heedu.errors.ShapeError)
    assert isinstance(caught.value, heedu.HeeduError) and isinstance(caught.value, ValueError)


def test_the_limit_is_a_parameter(tmp_path, images):
    path = write(tmp_path / "images", idx_bytes(images), False)
    assert load_idx(path, max_bytes=images.size).shape == images.shape
    with pytest.raises(IdxFormatError, match="limit"):
        load_idx(path, max_bytes=images.size - 1)


@pytest.mark.parametrize(
    "damage",
    [lambda z: z[:-5], lambda z: z[:10] + bytes(len(z) - 10), lambda z: z + b"garbage"],
    ids=["truncated gzip", "zeroed deflate stream", "trailing garbage"],
)
def test_corrupt_gzip_streams_raise_typed_errors(tmp_path, images, damage):
    path = tmp_path / "images.gz"
    path.write_bytes(damage(gzip.compress(idx_bytes(images))))
    with pytest.raises(IdxFormatError):
        load_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist_test(tmp_path)


@pytest.mark.parametrize(
    "case, message",
    [("swapped", "3-D"), ("count mismatch", "5 images but 4 labels"), ("label 10", "label 10")],
)
def test_load_mnist_test_checks_the_pair(tmp_path, images, labels, case, message):
    image_data, label_data = idx_bytes(images), idx_bytes(labels)
    if case == "swapped":
        image_data, label_data = label_data, image_data
    elif case == "count mismatch":
        label_data = idx_bytes(labels[:4])
    else:
        label_data = idx_bytes(np.array([7, 2, 1, 10, 9]))
    write(tmp_path / "t10k-images-idx3-ubyte.gz", image_data, True)
    write(tmp_path / "t10k-labels-idx1-ubyte", label_data, False)
    with pytest.raises(IdxFormatError, match=message):
        load_mnist_test(tmp_path)


# --------------------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------------------


def test_find_data_dir_reads_heedu_data(tmp_path, monkeypatch, images):
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(images), True)
    monkeypatch.setenv("HEEDU_DATA", str(tmp_path))
    assert find_data_dir() == tmp_path


def test_find_data_dir_looks_nowhere_else(tmp_path, monkeypatch):
    """Library code never looks outside what it is given: no folder next to the checkout, no home folder."""
    monkeypatch.setenv("HEEDU_DATA", str(tmp_path))  # set, but without the images
    assert find_data_dir() is None
    monkeypatch.delenv("HEEDU_DATA")
    assert find_data_dir() is None


# --------------------------------------------------------------------------------------
# The real test set and model
# --------------------------------------------------------------------------------------


@needs_data
def test_real_mnist_test_set():
    x, y = load_mnist_test(DATA_DIR)
    assert x.shape == (10_000, 784) and x.dtype == np.float64
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.shape == (10_000,) and y.dtype == np.int64
    assert sorted(set(y.tolist())) == list(range(10))
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    raw = load_idx(DATA_DIR / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10_000, 28, 28) and raw.dtype == np.uint8


@needs_data
def test_tutorial_model_loads_without_the_version_warning(recwarn):
    path = DATA_DIR / mnist.TUTORIAL_MODEL
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    pytest.importorskip("sklearn", reason="the tutorial model needs scikit-learn")
    estimator = mnist.load_tutorial_model(path)
    assert np.shape(estimator.coef_) == (10, 784)
    assert not [w for w in recwarn if "unpickle" in str(w.message)]


def test_load_tutorial_model_refuses_non_models(tmp_path):
    joblib = pytest.importorskip("joblib")
    joblib.dump({"not": "a model"}, tmp_path / "dict.pkl")
    with pytest.raises(heedu.errors.ShapeError, match="without coef_"):
        mnist.load_tutorial_model(tmp_path / "dict.pkl")
    with pytest.raises(FileNotFoundError):
        mnist.load_tutorial_model(tmp_path / "absent.pkl")
