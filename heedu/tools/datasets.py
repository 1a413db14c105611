r"""The tutorial's model and the MNIST test set: found where the user says, or downloaded when asked.

heedu reads data from three places, in this order, and from nowhere else:

1. a folder the caller names: the ``data_dir`` argument (a command's ``--data DIR``), else ``$HEEDU_DATA``.
   If one is named, it is the only place looked at: a file missing there is an error, never a silent
   fall-back to the cache. Its files are used as they are (plain or gzip-compressed idx files), unchecked;
2. the cache, :func:`default_cache_dir` (``$HEEDU_CACHE``, else ``$XDG_CACHE_HOME/heedu``, else
   ``~/.cache/heedu``), which only ever holds files :func:`fetch` downloaded and verified; they are
   verified again (size and SHA-256) each time they are used;
3. the public sources in :data:`REGISTRY`, **only** when the caller passes ``download=True`` (a command's
   ``--download``): never implicitly. A download goes to the cache.

When the data is in none of these places, :class:`DataMissingError` (a ``FileNotFoundError``) says
what to do: set ``HEEDU_DATA`` / pass ``--data DIR``, or pass ``--download`` (``download=True``), or,
offline, fetch the listed URLs by hand elsewhere and copy the files into a folder.

**Downloads** (:func:`fetch`) use :mod:`urllib` (so ``https_proxy`` and ``no_proxy`` apply) and are
bounded: only ``https`` URLs are followed (and plain ``http`` to a loopback address, for tests that
serve files from ``127.0.0.1`` through ``base_url``); a redirect may not leave ``https`` (nor loopback
``http``); the whole download, connection and redirects included, is abandoned when ``timeout`` seconds
have passed; the body is streamed to a temporary file in the cache folder and refused as soon as it
exceeds the file's known size; it must be exactly that size and match a pinned SHA-256 before it is
renamed (atomically) to its final name. Any failure raises :class:`DataFetchError` (a
:class:`ChecksumError` for a wrong digest) and leaves nothing in the cache. The pinned digests are
also what makes it acceptable to unpickle a downloaded model: only the tutorial's own file passes.

**Where the URLs and digests come from.** The model's URL is the one the Azure ML tutorial links
("register the model using the provided model", ``github.com/Azure/MachineLearningNotebooks/raw/...``,
which redirects to ``raw.githubusercontent.com``, listed second). The tutorial downloads MNIST through
Azure Open Datasets (``MNIST.get_file_dataset()``), whose files are public in the
``azureopendatastorage`` blob account's ``mnist`` container; Yann LeCun's site is the original. The
digests pin the copies of the public files the project works from (its ``shared/data``): the model,
and MNIST files whose gzip headers are dated 2014; LeCun's own ``.gz`` files hold the same bytes
once decompressed but differ in their gzip header, so their digests (the ones widely pinned, e.g.
by Bazel rules and dataset loaders) are accepted too, and so is any copy of the same
size whose decompressed data has the pinned ``content_sha256`` (decompressed, the files have the
MD5 digests ``2646ac64...`` and ``27ae3e4e...`` that MNIST loaders check).

Command line: ``python -m heedu.tools.datasets`` says where each file is found; ``--download``
fills the cache; ``--check DIR`` verifies a folder's files against the pinned checksums.

Examples
--------
>>> sorted(REGISTRY)
['sklearn_mnist_model.pkl', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
>>> REGISTRY["t10k-labels-idx1-ubyte.gz"].size
4542
>>> url_problem("http://example.com/t10k-labels-idx1-ubyte.gz")
'only https URLs are fetched (plain http only from a loopback address such as 127.0.0.1)'
>>> url_problem("http://127.0.0.1:8000/t10k-labels-idx1-ubyte.gz") is None
True
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import HeeduError

DATA_ENV = "HEEDU_DATA"
CACHE_ENV = "HEEDU_CACHE"
#: The whole of one :func:`fetch` (every URL tried, redirects included), in seconds.
DEFAULT_TIMEOUT = 120.0
MAX_REDIRECTS = 5
_CHUNK = 1 << 16


class DataMissingError(HeeduError, FileNotFoundError):
    """The data is not where heedu was told to look, and downloading it was not asked for."""


class DataFetchError(HeeduError, OSError):
    """A download failed: no answer in time, an HTTP error, a refused URL or redirect, a wrong size."""


class ChecksumError(DataFetchError):
    """A downloaded (or cached) file is not the one pinned in :data:`REGISTRY`: its SHA-256 differs."""


@dataclass(frozen=True)
class DataFile:
    """One public file heedu knows: where to get it and how to recognize it.

    ``sha256`` lists the accepted digests of the file as served (mirrors that compress the same data
    differently serve different bytes); ``content_sha256``, for a gzip file, is the digest of the
    decompressed data, so a faithful mirror not listed here (``base_url``) is accepted too.
    """

    name: str
    description: str
    urls: tuple[str, ...]
    sha256: tuple[str, ...]
    size: int
    content_sha256: str | None = None


MNIST_MIRROR_AZURE = "https://azureopendatastorage.blob.core.windows.net/mnist/"
MNIST_MIRROR_LECUN = "https://yann.lecun.com/exdb/mnist/"

#: The three files, keyed by name (where the URLs and digests come from: the module docstring).
REGISTRY: dict[str, DataFile] = {
    entry.name: entry
    for entry in (
        DataFile(
            name="t10k-images-idx3-ubyte.gz",
            description="MNIST test images (10,000 x 28 x 28, idx3, gzip)",
            urls=(MNIST_MIRROR_AZURE + "t10k-images-idx3-ubyte.gz", MNIST_MIRROR_LECUN + "t10k-images-idx3-ubyte.gz"),
            sha256=(
                "9fe7630f90c0e670227960a294637bc2e78a29d724810e24204eb342c9f033a1",  # shared/data (2014 header)
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # LeCun's original
            ),
            size=1_648_877,
            content_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        DataFile(
            name="t10k-labels-idx1-ubyte.gz",
            description="MNIST test labels (10,000 digits, idx1, gzip)",
            urls=(MNIST_MIRROR_AZURE + "t10k-labels-idx1-ubyte.gz", MNIST_MIRROR_LECUN + "t10k-labels-idx1-ubyte.gz"),
            sha256=(
                "2c54c993d38068b3c3adb720a5cdee07065a066a7b36e7d1df720548d6359eba",  # shared/data (2014 header)
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # LeCun's original
            ),
            size=4_542,
            content_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        DataFile(
            name="sklearn_mnist_model.pkl",
            description="the Azure ML tutorial's scikit-learn 0.22.1 LogisticRegression (10 x 784), joblib pickle",
            urls=(
                "https://github.com/Azure/MachineLearningNotebooks/raw/master/tutorials/"
                "image-classification-mnist-data/sklearn_mnist_model.pkl",
                "https://raw.githubusercontent.com/Azure/MachineLearningNotebooks/master/tutorials/"
                "image-classification-mnist-data/sklearn_mnist_model.pkl",
            ),
            sha256=("3e9df191d26e328389445092743f9b29677e4d7319f2f11683f0afc4f787a0a1",),
            size=63_683,
        ),
    )
}
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MODEL_FILE = "sklearn_mnist_model.pkl"
ALL_FILES = (*MNIST_TEST_FILES, MODEL_FILE)


# --------------------------------------------------------------------------------------
# Where
# --------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$HEEDU_CACHE``, else ``$XDG_CACHE_HOME/heedu`` (if absolute), else ``~/.cache/heedu``. Not created here."""
    value = os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "heedu"
    return Path.home() / ".cache" / "heedu"


def _cache(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown data file {name!r}; heedu knows {', '.join(sorted(REGISTRY))}") from None


def local_file(folder: str | os.PathLike[str], name: str) -> Path | None:
    """``folder/name``, or for a ``.gz`` name its decompressed twin ``folder/name-without-.gz``; None if neither."""
    folder = Path(folder)
    candidates = [folder / name] + ([folder / name[: -len(".gz")]] if name.endswith(".gz") else [])
    return next((path for path in candidates if path.is_file()), None)


# --------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_sha256(path: Path, limit: int) -> str | None:
    """The SHA-256 of a gzip file's decompressed data (at most ``limit`` bytes read), None if it is not gzip."""
    digest, total = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    return None
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def check_file(path: str | os.PathLike[str], name: str | None = None) -> str | None:
    """Why ``path`` is not the pinned file ``name`` (default: its file name), or None if it is.

    A file passes when it has exactly the pinned size and one of the pinned digests, or (a gzip entry
    whose header differs, e.g. in its time stamp) the pinned digest of the decompressed data.

    Raises
    ------
    ValueError
        ``name`` is not in :data:`REGISTRY` (a mistake in the calling code, hence a plain ``ValueError``).
    """
    path = Path(path)
    entry = _entry(name or path.name)
    if not path.is_file():
        return f"{path} does not exist"
    size = path.stat().st_size
    digest = _sha256_of(path)
    if size == entry.size and digest in entry.sha256:
        return None
    if size == entry.size and entry.content_sha256 is not None:
        if _content_sha256(path, 64 * entry.size) == entry.content_sha256:
            return None
    return (
        f"{path} is {size} bytes with SHA-256 {digest}; {entry.name} is {entry.size} bytes with SHA-256 "
        + " or ".join(entry.sha256)
    )


# --------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, allow_loopback_http: bool = True) -> str | None:
    """Why heedu will not fetch ``url`` (None if it will): only https, or http to a loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(parts.hostname):
        return None
    return "only https URLs are fetched (plain http only from a loopback address such as 127.0.0.1)"


class _Watchdog:
    """Shuts down every socket of one download when its deadline passes, waking any blocked read."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self.fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: works under TLS too

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                self._shut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._shut(sock)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _watched(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> type[http.client.HTTPConnection]:
    class Watched(base):  # type: ignore[misc,valid-type]
        def connect(self) -> None:
            super().connect()
            watchdog.add(self.sock)

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self._watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__(context=ssl.create_default_context())
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPSConnection, self._watchdog), req, context=self._context)


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, allow_loopback_http: bool) -> None:
        super().__init__()
        self._allow = allow_loopback_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        newurl = urllib.parse.urljoin(req.full_url, newurl)
        problem = url_problem(newurl, self._allow)
        if problem is not None:
            fp.close()
            raise DataFetchError(f"{req.full_url} redirects to {newurl}, which is refused: {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, entry: DataFile, target: Path, watchdog: _Watchdog, timeout: float) -> None:
    """Stream ``url`` into ``target`` (an open temporary file's path), checking size and digest."""
    loopback = _is_loopback(urllib.parse.urlsplit(url).hostname)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({} if loopback else None),  # never send loopback requests to a proxy
        _Redirects(allow_loopback_http=loopback),
        _HTTPHandler(watchdog),
        _HTTPSHandler(watchdog),
    )
    request = urllib.request.Request(url, headers={"User-Agent": "heedu", "Accept-Encoding": "identity"})
    too_late = f"{url}: no complete answer within {timeout:g} s (a slow or stalled connection)"
    digest, total = hashlib.sha256(), 0
    try:
        remaining = watchdog.remaining()
        if remaining <= 0:
            raise DataFetchError(too_late)
        with opener.open(request, timeout=remaining) as response, target.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.strip().isdigit() and int(declared) != entry.size:
                raise DataFetchError(
                    f"{url}: the server announces {int(declared)} bytes; {entry.name} is {entry.size} bytes"
                )
            while True:
                if watchdog.remaining() <= 0:
                    raise DataFetchError(too_late)
                chunk = response.read1(min(_CHUNK, entry.size + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > entry.size:
                    raise DataFetchError(f"{url}: more than the {entry.size} bytes {entry.name} has; refused")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except DataFetchError:
        if watchdog.fired:
            raise DataFetchError(too_late) from None
        raise
    except urllib.error.HTTPError as error:
        error.close()
        raise DataFetchError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, DataFetchError):
            raise error.reason from None
        if watchdog.fired or isinstance(error.reason, TimeoutError):
            raise DataFetchError(too_late) from None
        raise DataFetchError(f"{url}: cannot connect ({error.reason}); are you offline?") from None
    except http.client.IncompleteRead as error:
        if watchdog.fired:
            raise DataFetchError(too_late) from None
        raise DataFetchError(
            f"{url}: truncated: the connection closed after {total + len(error.partial)} of {entry.size} bytes"
        ) from None
    except (OSError, http.client.HTTPException) as error:
        if watchdog.fired or isinstance(error, TimeoutError):
            raise DataFetchError(too_late) from None
        raise DataFetchError(f"{url}: {type(error).__name__}: {error}") from None
    if watchdog.fired:
        raise DataFetchError(too_late)
    if total < entry.size:
        raise DataFetchError(f"{url}: truncated: {total} of the {entry.size} bytes of {entry.name} arrived")
    if digest.hexdigest() not in entry.sha256 and check_file(target, entry.name) is not None:
        raise ChecksumError(
            f"{url}: the {total} bytes received have SHA-256 {digest.hexdigest()}, not the pinned "
            f"{' or '.join(entry.sha256)} of {entry.name}: a different or corrupted file; nothing was kept"
        )


def fetch(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download the public file ``name`` into the cache (once), verified; return its path there.

    A cached copy that passes :func:`check_file` is returned without any request. Otherwise the
    file's URLs (:data:`REGISTRY`) are tried in order (or ``base_url + name`` alone), until one
    yields exactly the pinned bytes.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    cache_dir : path-like, optional
        Where the file goes (default :func:`default_cache_dir`); created if needed.
    base_url : str, optional
        A mirror holding the files under their names: ``https://...``, or ``http://127.0.0.1:PORT/``.
    timeout : float
        Seconds for the whole call, every URL tried included; the download is abandoned then.

    Returns
    -------
    pathlib.Path
        ``cache_dir / name``.

    Raises
    ------
    ChecksumError
        Every source served a file of the right size with another digest.
    DataFetchError
        Every source failed (the message lists each one's reason and what to do offline): a refused
        URL or redirect, no answer within ``timeout``, an HTTP error, a file too short or too long;
        the cache folder cannot be created.
    ValueError
        ``name`` is unknown, or ``timeout`` is not positive (mistakes in the calling code).
    """
    entry = _entry(name)
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    cache = _cache(cache_dir)
    final = cache / entry.name
    if final.is_file() and check_file(final, entry.name) is None:
        return final
    urls = (base_url.rstrip("/") + "/" + entry.name,) if base_url else entry.urls
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataFetchError(
            f"cannot create the cache folder {cache} ({error}); set {CACHE_ENV} to a writable folder"
        ) from None
    failures: list[DataFetchError] = []
    with _Watchdog(time.monotonic() + timeout) as watchdog:
        for url in urls:
            problem = url_problem(url)
            if problem is not None:
                failures.append(DataFetchError(f"{url}: refused: {problem}"))
                continue
            handle, temporary = tempfile.mkstemp(dir=cache, prefix=f".{entry.name}.", suffix=".part")
            os.close(handle)
            part = Path(temporary)
            try:
                _download(url, entry, part, watchdog, timeout)
                os.replace(part, final)
                return final
            except DataFetchError as error:
                failures.append(error)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
            if watchdog.fired:
                break
    if len(failures) == 1:
        error_type = type(failures[0])
        reasons = str(failures[0])
    else:
        error_type = ChecksumError if all(isinstance(f, ChecksumError) for f in failures) else DataFetchError
        reasons = "every source failed:\n" + "\n".join(f"  - {failure}" for failure in failures)
    raise error_type(f"could not download {entry.name}: {reasons}\n{_by_hand([entry], cache)}")


# --------------------------------------------------------------------------------------
# Finding (and, when asked, downloading)
# --------------------------------------------------------------------------------------


def _by_hand(entries: Iterable[DataFile], cache: Path) -> str:
    lines = [
        "Offline, or behind a firewall? Fetch the files by hand where you can (any URL below), put them in a "
        f"folder DIR and set HEEDU_DATA=DIR or pass --data DIR, or copy them into the cache ({cache}); "
        "`python -m heedu.tools.datasets --check DIR` checks them against these SHA-256 digests:"
    ]
    for entry in entries:
        lines.append(f"  {entry.name} ({entry.description}, {entry.size} bytes)")
        lines += [f"      {url}" for url in entry.urls]
        lines += [f"      sha256 {digest}" for digest in entry.sha256]
    return "\n".join(lines)


def _missing_message(names: tuple[str, ...], cache: Path, corrupt: dict[str, str]) -> str:
    entries = [REGISTRY[name] for name in names]
    what = ", ".join(names)
    lines = [
        f"{what} not found: no data folder was named ({DATA_ENV} is unset and no --data DIR was given) "
        f"and the cache {cache} does not hold {'it' if len(names) == 1 else 'them'}."
    ]
    lines += [f"The cached copy is unusable: {reason}; delete it or download again." for reason in corrupt.values()]
    lines += [
        "Either:",
        f"  * set {DATA_ENV}=DIR or pass --data DIR, a folder holding {what}; or",
        "  * pass --download (download=True in Python) to fetch them from their public sources into the "
        "cache (once; checked against pinned SHA-256 digests).",
        _by_hand(entries, cache),
    ]
    return "\n".join(lines)


def ensure_data(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    *,
    names: Iterable[str] = ALL_FILES,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """The folder that holds the files ``names``: the named folder, else the cache, else (if asked) a download.

    1. ``data_dir``, else ``$HEEDU_DATA``: when either is given, it must hold every file (a ``.gz``
       file may also be there decompressed, without ``.gz``); it is returned, its files unchecked.
    2. The cache (``cache_dir``, default :func:`default_cache_dir`), if it holds every file and each
       passes :func:`check_file`.
    3. With ``download=True`` only: the missing files are fetched into the cache (:func:`fetch`).

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    DataMissingError
        The named folder lacks a file, or (``download=False``) the cache does: the message says how
        to point heedu at the data, how to download it, and lists the URLs and digests for fetching by hand.
    DataFetchError
        ``download=True`` and a download failed (:func:`fetch`).
    ValueError
        A name is not in :data:`REGISTRY`.
    """
    names = tuple(names)
    for name in names:
        _entry(name)
    folder, source = None, None
    if data_dir is not None:
        folder, source = Path(data_dir).expanduser(), f"the data folder {data_dir}"
    elif os.environ.get(DATA_ENV):
        folder, source = Path(os.environ[DATA_ENV]).expanduser(), f"{DATA_ENV}={os.environ[DATA_ENV]}"
    if folder is not None:
        if not folder.is_dir():
            raise DataMissingError(f"{source} is not a folder")
        missing = [name for name in names if local_file(folder, name) is None]
        if missing:
            raise DataMissingError(
                f"{', '.join(missing)} not found in {source}. Put "
                f"{'it' if len(missing) == 1 else 'them'} there, or name another folder; or unset {DATA_ENV} "
                "and pass --download (download=True) to use heedu's cache.\n"
                + _by_hand([REGISTRY[name] for name in missing], _cache(cache_dir))
            )
        return folder
    cache = _cache(cache_dir)
    corrupt = {}
    for name in names:
        if (cache / name).exists():
            reason = check_file(cache / name, name)
            if reason is not None:
                corrupt[name] = reason
    missing = [name for name in names if name in corrupt or not (cache / name).is_file()]
    if not missing:
        return cache
    if not download:
        raise DataMissingError(_missing_message(tuple(missing), cache, corrupt))
    for name in missing:
        fetch(name, cache_dir=cache, base_url=base_url, timeout=timeout)
    return cache


# --------------------------------------------------------------------------------------
# python -m heedu.tools.datasets
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m heedu.tools.datasets``: where the data is; ``--download`` fills the cache; ``--check DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m heedu.tools.datasets",
        description="Find, download (when asked) or verify the MNIST test set and the Azure ML tutorial's model.",
    )
    parser.add_argument("--data", type=Path, metavar="DIR", help=f"a folder holding the files (default: ${DATA_ENV})")
    parser.add_argument(
        "--cache", type=Path, metavar="DIR", help=f"the cache (default: ${CACHE_ENV} or ~/.cache/heedu)"
    )
    parser.add_argument("--download", action="store_true", help="download what is missing into the cache")
    parser.add_argument("--check", type=Path, metavar="DIR", help="verify DIR's files against the pinned SHA-256")
    parser.add_argument("--base-url", metavar="URL", help="a mirror holding the files under their names")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per file (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.check is not None:
        status = 0
        for name in ALL_FILES:
            path = args.check / name
            problem = check_file(path, name) if path.is_file() else f"{path} does not exist"
            print(f"{'ok  ' if problem is None else 'BAD '} {name}" + ("" if problem is None else f": {problem}"))
            status |= problem is not None
        return status
    try:
        folder = ensure_data(
            args.data, args.download, cache_dir=args.cache, base_url=args.base_url, timeout=args.timeout
        )
    except (DataMissingError, DataFetchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name in ALL_FILES:
        print(f"{name}: {local_file(folder, name)}")
    return 0


__all__ = [
    "ALL_FILES",
    "CACHE_ENV",
    "DATA_ENV",
    "DEFAULT_TIMEOUT",
    "MNIST_TEST_FILES",
    "MODEL_FILE",
    "REGISTRY",
    "ChecksumError",
    "DataFetchError",
    "DataFile",
    "DataMissingError",
    "check_file",
    "default_cache_dir",
    "ensure_data",
    "fetch",
    "local_file",
    "url_problem",
]

if __name__ == "__main__":
    sys.exit(main())
