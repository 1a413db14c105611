"""heedu.tools.datasets: finding the data, and downloading it when asked, against a local HTTP server.

No test reaches the internet: every URL is overridden to a server on 127.0.0.1 started by a fixture,
and a guard fails any test that opens a connection to anything but a loopback address. The fake
files are small and have their own pinned digests (the registry is monkeypatched); one test serves
the real files from ``$HEEDU_DATA`` and checks them against the real pins.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import ipaddress
import pickle
import socket
import struct
import threading
import time
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import heedu
from heedu.tools import datasets, mnist
from heedu.tools.datasets import (
    REGISTRY,
    ChecksumError,
    DataFetchError,
    DataFile,
    DataMissingError,
    check_file,
    ensure_data,
    fetch,
)

IMAGES, LABELS, MODEL = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "sklearn_mnist_model.pkl"
REAL_REGISTRY = dict(REGISTRY)


# --------------------------------------------------------------------------------------
# No internet: only loopback connections
# --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any connection to a non-loopback address (http.client connects through socket.create_connection)."""
    original = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise AssertionError(f"a test tried to reach {address}")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No HEEDU_DATA, and a cache of the test's own (never the user's ~/.cache)."""
    monkeypatch.delenv("HEEDU_DATA", raising=False)
    monkeypatch.setenv("HEEDU_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------------------
# A local HTTP server
# --------------------------------------------------------------------------------------


class Server:
    """Serves ``files`` at ``/NAME``; ``behaviour[NAME]`` changes how; counts requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                owner.requests[name] = owner.requests[name] + 1
                body = owner.files.get(name)
                mode = owner.behaviour.get(name, "ok")
                if mode.startswith("status "):
                    self.send_error(int(mode.split()[1]))
                elif mode.startswith("redirect "):
                    self.send_response(302)
                    self.send_header("Location", mode.split(maxsplit=1)[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif body is None:
                    self.send_error(404)
                elif mode == "stall before headers":
                    owner.release.wait(10)
                elif mode == "ok":
                    self._head(len(body))
                    self.wfile.write(body)
                elif mode == "no length":
                    self._head(None)
                    self.wfile.write(body)
                    self.close_connection = True
                elif mode == "short":  # announces the full length, sends less, hangs up
                    self._head(len(body))
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "short, no length":
                    self._head(None)
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "long":
                    self._head(len(body) + 1000)
                    self.wfile.write(body + bytes(1000))
                elif mode == "long, no length":
                    self._head(None)
                    self.wfile.write(body + bytes(100_000))
                    self.close_connection = True
                elif mode == "stall after headers":
                    self._head(len(body))
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    owner.release.wait(10)
                elif mode == "drip":
                    self._head(len(body))
                    for byte in body:
                        if owner.release.wait(0.05):
                            break
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                else:  # pragma: no cover - a typo in a test
                    raise AssertionError(mode)

            def _head(self, length):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if length is None:
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def serve(self, name: str, data: bytes, mode: str = "ok") -> None:
        self.files[name] = data
        self.behaviour[name] = mode


@pytest.fixture
def server():
    running = Server()
    running.thread.start()
    yield running
    running.release.set()
    running.httpd.shutdown()
    running.httpd.server_close()
    running.thread.join(5)


# --------------------------------------------------------------------------------------
# Small fake files, pinned in a monkeypatched registry
# --------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


FAKE_IMAGES = np.random.default_rng(3).integers(0, 256, size=(6, 4, 4), dtype=np.uint8)
FAKE_LABELS = np.array([7, 2, 1, 0, 4, 9], dtype=np.uint8)
FAKE = {
    IMAGES: gzip.compress(idx_bytes(FAKE_IMAGES), mtime=0),
    LABELS: gzip.compress(idx_bytes(FAKE_LABELS), mtime=0),
    MODEL: pickle.dumps(types.SimpleNamespace(coef_=np.ones((10, 16)), intercept_=np.zeros(10))),
}


@pytest.fixture
def fake(monkeypatch, server):
    """The registry pins the fake files; their URLs are on the local server, which serves them."""
    registry = {
        name: DataFile(
            name=name,
            description=f"fake {name}",
            urls=(f"{server.url}/{name}",),
            sha256=(hashlib.sha256(data).hexdigest(),),
            size=len(data),
        )
        for name, data in FAKE.items()
    }
    monkeypatch.setattr(datasets, "REGISTRY", registry)
    for name, data in FAKE.items():
        server.serve(name, data)
    return server


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


def test_the_real_registry_pins_three_https_files():
    assert sorted(REAL_REGISTRY) == sorted([IMAGES, LABELS, MODEL])
    for name, entry in REAL_REGISTRY.items():
        assert entry.name == name and entry.size > 0 and entry.urls and entry.sha256
        assert all(url.startswith("https://") and url.endswith("/" + name) for url in entry.urls)
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in entry.sha256)
    assert any("sklearn_mnist_model.pkl" in u and "MachineLearningNotebooks" in u for u in REAL_REGISTRY[MODEL].urls)
    assert any("azureopendatastorage" in url for url in REAL_REGISTRY[IMAGES].urls)
    assert mnist.TEST_IMAGES + ".gz" == IMAGES and mnist.TEST_LABELS + ".gz" == LABELS and mnist.TUTORIAL_MODEL == MODEL


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HEEDU_CACHE", str(tmp_path / "c"))
    assert datasets.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HEEDU_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.default_cache_dir() == tmp_path / "xdg" / "heedu"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.default_cache_dir() == tmp_path / "home" / ".cache" / "heedu"
    assert not (tmp_path / "home").exists()  # not created by asking


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://example.org/x", True),
        ("http://127.0.0.1:8000/x", True),
        ("http://localhost/x", True),
        ("http://[::1]:8000/x", True),
        ("http://example.org/x", False),
        ("http://10.0.0.1/x", False),
        ("ftp://example.org/x", False),
        ("file:///etc/passwd", False),
        ("https:///no-host", False),
    ],
)
def test_url_policy(url, allowed):
    assert (datasets.url_problem(url) is None) == allowed


# --------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_reuses_the_cache(fake, isolated):
    path = fetch(LABELS)
    assert path == isolated / LABELS and path.read_bytes() == FAKE[LABELS]
    assert fake.requests[LABELS] == 1
    assert leftovers(isolated) == [LABELS]  # no temporary file left behind
    assert fetch(LABELS) == path
    assert fake.requests[LABELS] == 1  # the second call made no request


def test_ensure_data_downloads_only_when_asked(fake, isolated):
    with pytest.raises(DataMissingError):
        ensure_data()
    assert sum(fake.requests.values()) == 0  # never implicitly
    folder = ensure_data(download=True)
    assert folder == isolated and leftovers(isolated) == sorted(FAKE)
    assert all(fake.requests[name] == 1 for name in FAKE)
    assert ensure_data() == isolated and ensure_data(download=True) == isolated
    assert all(fake.requests[name] == 1 for name in FAKE)  # the cache is reused


def test_the_loaders_download_when_asked(fake):
    with pytest.raises(FileNotFoundError, match="--download"):
        mnist.load_mnist_test()
    x, y = mnist.load_mnist_test(download=True)
    np.testing.assert_array_equal(x, FAKE_IMAGES.reshape(6, 16) / 255.0)
    assert y.tolist() == FAKE_LABELS.tolist()
    model = mnist.load_tutorial_model(download=True)
    assert np.shape(model.coef_) == (10, 16)
    assert mnist.load_mnist_test()[1].tolist() == FAKE_LABELS.tolist()  # from the cache now
    assert sum(fake.requests.values()) == 3


def test_base_url_overrides_the_registry(fake, server, isolated, tmp_path):
    other = tmp_path / "other"
    fake.files["mirror/" + LABELS] = FAKE[LABELS]
    assert fetch(LABELS, cache_dir=other, base_url=server.url + "/mirror/").read_bytes() == FAKE[LABELS]
    assert fake.requests["mirror/" + LABELS] == 1 and fake.requests[LABELS] == 0
    assert leftovers(isolated) == []


def test_checksum_mismatch_is_refused_and_nothing_is_kept(fake, isolated):
    wrong = bytearray(FAKE[LABELS])
    wrong[-1] ^= 1
    fake.serve(LABELS, bytes(wrong))
    with pytest.raises(ChecksumError) as caught:
        fetch(LABELS)
    message = str(caught.value)
    assert hashlib.sha256(bytes(wrong)).hexdigest() in message
    assert datasets.REGISTRY[LABELS].sha256[0] in message
    assert "HEEDU_DATA" in message  # what to do instead
    assert isinstance(caught.value, DataFetchError) and isinstance(caught.value, heedu.HeeduError)
    assert leftovers(isolated) == []


@pytest.mark.parametrize(
    "mode, message",
    [
        ("short", "truncated"),
        ("short, no length", "truncated"),
        ("long", "announces"),
        ("long, no length", "more than"),
        ("status 404", "HTTP 404"),
        ("status 500", "HTTP 500"),
    ],
)
def test_bad_answers_give_clear_errors_and_leave_nothing(fake, isolated, mode, message):
    fake.behaviour[LABELS] = mode
    with pytest.raises(DataFetchError, match=message) as caught:
        fetch(LABELS)
    assert f"{fake.url}/{LABELS}" in str(caught.value)
    assert not isinstance(caught.value, ChecksumError)
    assert leftovers(isolated) == []


def test_a_complete_file_without_content_length_is_fine(fake):
    fake.behaviour[LABELS] = "no length"
    assert fetch(LABELS).read_bytes() == FAKE[LABELS]


def test_the_next_source_is_tried(fake, monkeypatch, server):
    entry = datasets.REGISTRY[LABELS]
    urls = (f"{server.url}/gone/{LABELS}", f"{server.url}/{LABELS}")
    monkeypatch.setitem(datasets.REGISTRY, LABELS, DataFile(**{**entry.__dict__, "urls": urls}))
    assert fetch(LABELS).read_bytes() == FAKE[LABELS]
    assert fake.requests["gone/" + LABELS] == 1


def test_every_source_failing_lists_each(fake, monkeypatch, server):
    entry = datasets.REGISTRY[LABELS]
    urls = (f"{server.url}/gone/{LABELS}", "http://example.org/" + LABELS, f"{server.url}/{LABELS}")
    monkeypatch.setitem(datasets.REGISTRY, LABELS, DataFile(**{**entry.__dict__, "urls": urls}))
    fake.behaviour[LABELS] = "status 500"
    with pytest.raises(DataFetchError) as caught:
        fetch(LABELS)
    message = str(caught.value)
    assert "every source failed" in message and "HTTP 404" in message and "HTTP 500" in message
    assert "http://example.org/" in message and "only https" in message


@pytest.mark.parametrize("mode", ["stall before headers", "stall after headers", "drip"])
def test_the_deadline_is_total(fake, isolated, mode):
    fake.behaviour[IMAGES] = mode
    start = time.monotonic()
    with pytest.raises(DataFetchError, match=r"within 0\.6 s"):
        fetch(IMAGES, timeout=0.6)
    assert time.monotonic() - start < 1.6
    assert leftovers(isolated) == []


def test_redirects_stay_on_https_or_loopback(fake, server, tmp_path):
    fake.serve("moved/" + LABELS, b"", f"redirect {server.url}/{LABELS}")
    assert fetch(LABELS, base_url=server.url + "/moved").read_bytes() == FAKE[LABELS]
    assert fake.requests["moved/" + LABELS] == 1 and fake.requests[LABELS] == 1
    fake.serve("away/" + LABELS, b"", f"redirect http://example.org/{LABELS}")
    with pytest.raises(DataFetchError, match=r"redirects to http://example\.org/.* refused"):
        fetch(LABELS, cache_dir=tmp_path / "other", base_url=server.url + "/away")
    fake.serve("loop/" + LABELS, b"", f"redirect {server.url}/loop/{LABELS}")
    with pytest.raises(DataFetchError, match="HTTP 302"):
        fetch(LABELS, cache_dir=tmp_path / "other", base_url=server.url + "/loop")
    assert fake.requests["loop/" + LABELS] <= datasets.MAX_REDIRECTS + 1
    assert leftovers(tmp_path / "other") == []


def test_urls_that_are_not_https_are_refused_without_a_connection(fake, tmp_path):
    with pytest.raises(DataFetchError, match="only https"):
        fetch(LABELS, base_url="http://example.org/mnist")
    with pytest.raises(DataFetchError, match="only https"):
        fetch(LABELS, base_url="file:///tmp")


def test_a_server_that_is_not_there(fake, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataFetchError, match=r"cannot connect.*offline"):
        fetch(LABELS, base_url=f"http://127.0.0.1:{port}")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown data file"):
        fetch("train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="timeout"):
        fetch(LABELS, timeout=0)
    with pytest.raises(ValueError, match="unknown data file"):
        ensure_data(names=["nope"])


# --------------------------------------------------------------------------------------
# Finding: the named folder wins, the cache is checked, the offline message
# --------------------------------------------------------------------------------------


def test_offline_message_says_what_to_do(isolated):
    with pytest.raises(DataMissingError) as caught:
        ensure_data()
    message = str(caught.value)
    for needle in ("HEEDU_DATA", "--data DIR", "--download", "download=True", str(isolated), "by hand"):
        assert needle in message, needle
    for entry in REAL_REGISTRY.values():
        assert entry.name in message and str(entry.size) in message
        assert all(url in message for url in entry.urls) and all(d in message for d in entry.sha256)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, heedu.HeeduError)


def test_heedu_data_wins_over_the_cache_and_downloads(fake, monkeypatch, tmp_path, isolated):
    ensure_data(download=True)
    local = tmp_path / "local"
    local.mkdir()
    (local / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(FAKE_IMAGES[:2]))  # plain: fine in a local folder
    (local / LABELS).write_bytes(gzip.compress(idx_bytes(FAKE_LABELS[:2])))  # not the pinned file: still used
    monkeypatch.setenv("HEEDU_DATA", str(local))
    requests = sum(fake.requests.values())
    assert ensure_data(names=datasets.MNIST_TEST_FILES, download=True) == local
    assert mnist.load_mnist_test(download=True)[1].tolist() == [7, 2]
    assert sum(fake.requests.values()) == requests  # no request: the local folder won
    with pytest.raises(DataMissingError, match=f"{MODEL} not found in HEEDU_DATA="):  # no fall-back to the cache
        mnist.load_tutorial_model(download=True)
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    with pytest.raises(DataMissingError, match="not found in the data folder"):
        ensure_data(explicit)  # an argument wins over HEEDU_DATA
    with pytest.raises(DataMissingError, match="not a folder"):
        ensure_data(tmp_path / "absent")
    assert sum(fake.requests.values()) == requests


def test_a_damaged_cache_is_reported_then_replaced(fake, isolated):
    ensure_data(download=True)
    (isolated / LABELS).write_bytes(b"damaged")
    with pytest.raises(DataMissingError, match="cached copy is unusable"):
        ensure_data()
    assert ensure_data(download=True) == isolated
    assert (isolated / LABELS).read_bytes() == FAKE[LABELS] and fake.requests[LABELS] == 2


def test_a_copy_with_another_gzip_header_is_accepted_by_its_content(fake, monkeypatch, isolated, tmp_path):
    """Mirrors of MNIST differ in the gzip header's time stamp: the same data, the same size, other bytes."""
    raw = idx_bytes(FAKE_LABELS)
    entry = datasets.REGISTRY[LABELS]
    pinned = DataFile(**{**entry.__dict__, "content_sha256": hashlib.sha256(raw).hexdigest()})
    monkeypatch.setitem(datasets.REGISTRY, LABELS, pinned)
    restamped = gzip.compress(raw, mtime=12345)
    assert len(restamped) == entry.size and restamped != FAKE[LABELS]
    (tmp_path / LABELS).write_bytes(restamped)
    assert check_file(tmp_path / LABELS) is None
    (tmp_path / LABELS).write_bytes(gzip.compress(idx_bytes(FAKE_LABELS[::-1]), mtime=0))  # same size, other data
    assert "SHA-256" in check_file(tmp_path / LABELS)
    fake.serve(LABELS, restamped)
    assert fetch(LABELS).read_bytes() == restamped


def test_check_file(tmp_path):
    path = tmp_path / LABELS
    assert check_file(path) == f"{path} does not exist"
    path.write_bytes(b"x" * REAL_REGISTRY[LABELS].size)
    assert "SHA-256" in check_file(path)


def test_main(fake, isolated, capsys, tmp_path):
    assert datasets.main([]) == 2
    assert "--download" in capsys.readouterr().err
    assert datasets.main(["--download"]) == 0
    assert str(isolated / MODEL) in capsys.readouterr().out
    assert datasets.main(["--check", str(isolated)]) == 0
    (tmp_path / "bad").mkdir()
    assert datasets.main(["--check", str(tmp_path / "bad")]) == 1
    assert "BAD" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# The real files (from HEEDU_DATA), served locally and checked against the real pins
# --------------------------------------------------------------------------------------

REAL_DATA = mnist.find_data_dir()


@pytest.mark.skipif(REAL_DATA is None, reason="the real files are absent (set HEEDU_DATA to their folder)")
def test_the_real_files_match_the_pins(server, isolated):
    assert REAL_DATA is not None
    for name in REAL_REGISTRY:
        if not (REAL_DATA / name).is_file():
            pytest.skip(f"{REAL_DATA / name} is absent")
        server.serve(name, (REAL_DATA / name).read_bytes())
        assert check_file(REAL_DATA / name) is None
    assert ensure_data(download=True, base_url=server.url) == isolated
    x, y = mnist.load_mnist_test()
    assert x.shape == (10_000, 784) and y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    pytest.importorskip("sklearn", reason="the tutorial model needs scikit-learn")
    assert np.shape(mnist.load_tutorial_model().coef_) == (10, 784)
    assert sum(server.requests.values()) == 3
