r"""The MNIST test set and the Azure ML tutorial's model, read from files heedu never copies.

* :func:`load_idx` reads one idx file (LeCun's format, gzip-compressed or plain) and checks it
  thoroughly before trusting any size it declares;
* :func:`load_mnist_test` reads ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``
  and scales the pixels to :math:`[0, 1]` (``images / 255.0``, as the tutorial does);
* :func:`find_data_dir` finds the data where the caller says: ``$HEEDU_DATA`` (a command takes ``--data``),
  and looks nowhere else;
* :func:`load_tutorial_model` unpickles the tutorial's scikit-learn model.

Both loaders take the folder the caller names, else ``$HEEDU_DATA``, else heedu's cache (and
nothing else outside the repository); with
``download=True`` (a command's ``--download``), and only then, they fetch what is missing from the
public sources into the cache, checked against pinned SHA-256 digests: see
:mod:`heedu.tools.datasets` (:func:`~heedu.tools.datasets.ensure_data`). Without the data and without
``download=True``, they raise :class:`~heedu.tools.datasets.DataMissingError` (a ``FileNotFoundError``)
saying what to do, offline too.

**The idx format.** A big-endian header, then the data in C order:

* bytes 0-1: zero;
* byte 2: the element type; only ``0x08`` (unsigned byte) is accepted here;
* byte 3: the number of dimensions, 3 for images and 1 for labels;
* then 4 bytes per dimension: its size, unsigned 32-bit big-endian;
* then exactly :math:`\prod \text{sizes}` bytes of data, no more, no less.

So the first four bytes are ``0x00000803`` for images and ``0x00000801`` for labels. Every
malformed file raises :class:`IdxFormatError` (a :class:`heedu.errors.ShapeError`, hence a
:class:`heedu.errors.HeeduError` and a ``ValueError``) saying what was expected and what was found;
no size is used before it is checked against :data:`MAX_IDX_BYTES`, so a corrupt header cannot make
heedu allocate gigabytes, and a gzip file is decompressed only as far as its header says it should go
(plus one byte, to notice trailing data).

Examples
--------
>>> import gzip, io, struct, tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> labels = bytes([7, 2, 1])
>>> _ = (folder / "labels.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, 3) + labels))
>>> load_idx(folder / "labels.gz").tolist()
[7, 2, 1]
>>> _ = (folder / "bad").write_bytes(struct.pack(">II", 0x801, 4) + labels)
>>> load_idx(folder / "bad")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
heedu.tools.mnist.IdxFormatError: .../bad is truncated: its header declares 4 data bytes (shape (4,)), ...
>>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import ShapeError
from .datasets import MNIST_TEST_FILES, MODEL_FILE, ensure_data

#: The first four bytes of an images file (3 dimensions of unsigned bytes) and of a labels file (1 dimension).
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
UNSIGNED_BYTE = 0x08
#: The largest data section accepted (1 GiB; MNIST's training images are 47 MB): a bound on what a header can ask for.
MAX_IDX_BYTES = 1 << 30

TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
TUTORIAL_MODEL = "sklearn_mnist_model.pkl"
DATA_ENV = "HEEDU_DATA"

_GZIP_MAGIC = b"\x1f\x8b"
_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
               0x0E: "float64"}  # fmt: skip


class IdxFormatError(ShapeError):
    """A file is not a well-formed idx file of unsigned bytes (images or labels), or holds the wrong data."""


def _read_up_to(stream: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes: fewer only at the end of the stream (``read`` may return short chunks)."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    while filled < count:
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    del view
    return bytes(buffer[:filled]) if filled < count else bytes(buffer)


def _parse(stream: BinaryIO, name: str, max_bytes: int) -> np.ndarray:
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise IdxFormatError(f"{name} is {len(magic)} bytes long: too short for the 4-byte idx magic number")
    if magic[:2] != b"\x00\x00":
        raise IdxFormatError(
            f"{name} is not an idx file: it starts with 0x{magic.hex()}, expected 0x00000803 (images) "
            "or 0x00000801 (labels)"
        )
    dtype_code, ndim = magic[2], magic[3]
    if dtype_code != UNSIGNED_BYTE:
        kind = _TYPE_NAMES.get(dtype_code, "an unknown type")
        raise IdxFormatError(
            f"{name} has element type code 0x{dtype_code:02x} ({kind}); only 0x08 (unsigned byte) is supported"
        )
    if ndim not in (1, 3):
        raise IdxFormatError(
            f"{name} declares {ndim} dimension(s) (magic 0x{magic.hex()}); expected 3 (images, 0x00000803) "
            "or 1 (labels, 0x00000801)"
        )
    header = _read_up_to(stream, 4 * ndim)
    if len(header) < 4 * ndim:
        raise IdxFormatError(f"{name} is truncated inside its header: {ndim} dimension sizes expected")
    shape = struct.unpack(f">{ndim}I", header)
    if 0 in shape:
        raise IdxFormatError(f"{name} declares shape {shape}: a dimension of size 0 holds no data")
    count = math.prod(shape)
    if count > max_bytes:
        raise IdxFormatError(
            f"{name} declares shape {shape}, {count} bytes of data: more than the {max_bytes}-byte limit "
            "(a corrupt header?)"
        )
    data = _read_up_to(stream, count)
    if len(data) < count:
        raise IdxFormatError(
            f"{name} is truncated: its header declares {count} data bytes (shape {shape}), the file holds {len(data)}"
        )
    extra = len(_read_up_to(stream, 1 << 16))
    if extra:
        more = "at least " if extra == 1 << 16 else ""
        raise IdxFormatError(
            f"{name} has {more}{extra} unexpected byte(s) after the {count} data bytes its header declares "
            f"(shape {shape})"
        )
    return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(shape)


def load_idx(path: str | os.PathLike[str], max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an idx file of unsigned bytes, gzip-compressed (detected by content) or plain.

    Parameters
    ----------
    path : path-like
    max_bytes : int
        Refuse headers that declare more data than this (default :data:`MAX_IDX_BYTES`).

    Returns
    -------
    numpy.ndarray
        ``uint8``, writable, of the shape the header declares: ``(n, rows, cols)`` or ``(n,)``.

    Raises
    ------
    IdxFormatError
        Wrong magic, element type or number of dimensions; a zero or absurd dimension;
        truncated data or header; bytes after the data; a corrupt gzip stream.
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    name = str(path)
    with path.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, name, max_bytes)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, name, max_bytes)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise IdxFormatError(f"{name} is not a valid gzip stream: {type(error).__name__}: {error}") from None


def _existing(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{stem}.gz (or {stem}) not found in {data_dir}")


def load_mnist_test(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set: ``(images, labels)``, from ``data_dir``, else ``$HEEDU_DATA``, else the cache.

    ``images`` is float64 in :math:`[0, 1]` (``pixels / 255.0``, as the tutorial scales them), one
    flattened image per row: ``(n, rows * cols)``, i.e. ``(10000, 784)`` for MNIST. ``labels`` is an
    int64 ``(n,)`` array of digits 0..9. The files may be gzip-compressed (``.gz``) or plain.
    With ``download=True``, files missing from the cache (when no folder is named) are downloaded
    into it first (:func:`heedu.tools.datasets.ensure_data`).

    Raises
    ------
    FileNotFoundError
        A file is missing (a :class:`heedu.tools.datasets.DataMissingError`, saying what to do).
    heedu.tools.datasets.DataFetchError
        ``download=True`` and the download failed.
    IdxFormatError
        A file is malformed, images are not 3-D or labels not 1-D, the counts differ, or a label exceeds 9.
    """
    data_dir = ensure_data(data_dir, download, names=MNIST_TEST_FILES, cache_dir=cache_dir)
    images_path, labels_path = _existing(data_dir, TEST_IMAGES), _existing(data_dir, TEST_LABELS)
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3:
        raise IdxFormatError(f"{images_path} holds a {images.ndim}-D array (magic 0x801?); images are 3-D (0x803)")
    if labels.ndim != 1:
        raise IdxFormatError(f"{labels_path} holds a {labels.ndim}-D array (magic 0x803?); labels are 1-D (0x801)")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(f"{images.shape[0]} images but {labels.shape[0]} labels in {data_dir}")
    if labels.max() > 9:
        raise IdxFormatError(f"{labels_path} holds label {int(labels.max())}; MNIST labels are digits 0..9")
    return images.reshape(images.shape[0], -1) / 255.0, labels.astype(np.int64)


def find_data_dir() -> Path | None:
    """``$HEEDU_DATA`` if it is set and holds the MNIST test images (``.gz`` or plain), else None."""
    value = os.environ.get(DATA_ENV)
    if not value:
        return None
    candidate = Path(value).expanduser()
    if any((candidate / name).is_file() for name in (f"{TEST_IMAGES}.gz", TEST_IMAGES)):
        return candidate
    return None


def load_tutorial_model(
    path: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> object:
    """Unpickle the tutorial's scikit-learn model (``sklearn_mnist_model.pkl``, a 10 x 784 LogisticRegression).

    ``path`` is the file; without it, ``sklearn_mnist_model.pkl`` in ``data_dir``, else in
    ``$HEEDU_DATA``, else in the cache, downloaded there first if ``download=True``
    (:func:`heedu.tools.datasets.ensure_data`; a downloaded file must match the pinned SHA-256).

    The file was pickled with scikit-learn 0.22.1; newer versions warn (``InconsistentVersionWarning``,
    a ``UserWarning``: "Trying to unpickle estimator ... from version 0.22.1"). A linear model's
    ``coef_``, ``intercept_`` and ``classes_`` survive the version change, so that one warning is
    silenced here, inside :func:`warnings.catch_warnings` so the caller's filters are untouched; any
    other warning still shows.

    Unpickling runs code from the file: load only files you trust.

    Raises
    ------
    ImportError
        joblib (installed with scikit-learn) is missing.
    FileNotFoundError
        The file does not exist (without ``path``: a :class:`heedu.tools.datasets.DataMissingError`).
    heedu.tools.datasets.DataFetchError
        ``download=True`` and the download failed.
    ShapeError
        The object has no ``coef_`` (not a fitted linear model).
    """
    try:
        import joblib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "loading the tutorial model needs joblib and scikit-learn: pip install scikit-learn"
        ) from error
    if path is None:
        path = ensure_data(data_dir, download, names=(MODEL_FILE,), cache_dir=cache_dir) / MODEL_FILE
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Trying to unpickle estimator", category=UserWarning)
        estimator = joblib.load(path)
    if getattr(estimator, "coef_", None) is None:
        raise ShapeError(f"{path} holds a {type(estimator).__name__} without coef_: not a fitted linear model")
    return estimator


__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MAX_IDX_BYTES",
    "IdxFormatError",
    "find_data_dir",
    "load_idx",
    "load_mnist_test",
    "load_tutorial_model",
]
