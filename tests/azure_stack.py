"""Pytest fixtures for the local Azure stack (Azurite and the real Azure ML inference server on 127.0.0.1).

Load them in a test module with ``pytest_plugins = ["tests.azure_stack"]`` (the suite runs as
``python -m pytest`` from the repository root, as for ``tests.strategies``).

Fixtures (session-scoped)
-------------------------
``azurite``           a running :class:`~azure_adapter.local_stack.AzuriteServer`: ``.connection_string``,
                      ``.blob_endpoint``, ``.pid``. Skips when node (or npm, before Azurite is installed in
                      ``.node/``) or ``azure-storage-blob`` is missing.
``inference_server``  a factory ``inference_server(entry_script, model_dir=None, env=None, azurite=None,
                      **kwargs)`` that starts azmlinfsrv with that script and returns the running
                      :class:`~azure_adapter.local_stack.InferenceServer` (``.scoring_uri``, ``.pid``,
                      ``.worker_pids()``, ``.stop()``). Every server it started is stopped (by PID, with
                      its process group) at the end of the session; a test may stop one earlier.
                      Skips when ``azureml-inference-server-http`` is missing. Given ``azurite``, the
                      script gets it as a :class:`~azure_adapter.local_stack.LocalStack` would: its
                      connection string in ``AZURE_STORAGE_CONNECTION_STRING`` and its address added
                      to ``HEEDU_TRUSTED_STORAGE`` (score.py downloads keys from trusted storage only).

Helpers (import them after ``pytest.register_assert_rewrite("tests.azure_stack")``)
-------
``HostileStorage``    a storage impostor on 127.0.0.1 (a test thread) that misbehaves per path and counts
                      the connections it accepts; the session fixture ``hostile_storage`` starts them.
``post_raw``          POST raw bytes, get ``(status, JSON answer)`` whatever the status.
``rss_bytes``, ``PeakRss``  a process's resident memory now, and its peak while a block runs.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

import pytest

from azure_adapter.local_stack import AzuriteServer, InferenceServer, missing_requirements, with_trusted_storage

StartServer = Callable[..., InferenceServer]
_NO_PROXY = build_opener(ProxyHandler({}))  # loopback only, whatever *_proxy variables say


def _skip_unless(*, azurite: bool = False, inference_server: bool = False, modules: tuple[str, ...] = ()) -> None:
    """Skip the requesting test with the list of what is missing, if anything is."""
    missing = missing_requirements(azurite=azurite, inference_server=inference_server)
    missing += [f"the Python package providing {name!r} is not installed" for name in modules if not find_spec(name)]
    if missing:
        pytest.skip("local Azure stack unavailable: " + "; ".join(missing))


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteServer]:
    """Azurite's Blob service on a free loopback port, data in a temporary folder, for the whole session."""
    _skip_unless(azurite=True, modules=("azure.storage.blob",))
    server = AzuriteServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def inference_server() -> Iterator[StartServer]:
    """Factory that starts the real azmlinfsrv on 127.0.0.1; all its servers stop at session end."""
    _skip_unless(inference_server=True)
    started: list[InferenceServer] = []

    def start(
        entry_script: str | Path,
        model_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        azurite: AzuriteServer | None = None,
        **kwargs: Any,
    ) -> InferenceServer:
        if azurite is not None:
            env = with_trusted_storage(
                {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, **(env or {})}, azurite.authority
            )
        server = InferenceServer(entry_script, model_dir, env, **kwargs)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        errors = []
        for server in reversed(started):
            try:
                server.stop()
            except Exception as exc:  # stop the others all the same
                errors.append(exc)
        if errors:
            raise errors[0]


# --------------------------------------------------------------------------------------------------
# A hostile storage server
# --------------------------------------------------------------------------------------------------


class HostileStorage:
    """A storage impostor on ``127.0.0.1``: each path prefix misbehaves in one way a real attacker could.

    ``/silent/...``    reads the request and never answers (holds the connection until the client leaves)
    ``/trickle/...``   200 and headers, then one body byte every 0.2 s
    ``/flood/...``     HEAD says ``Content-Length: 100``; GET answers 206 with ``Content-Range: bytes 0-99/100``
                       and no length, then streams zeros until the client leaves (close-delimited body)
    ``/chunked/...``   as ``/flood/``, with ``Transfer-Encoding: chunked``
    ``/short/...``     ``Content-Length: 100``, then streams zeros all the same
    ``/redirect/...``  302 to the URL in its ``to`` query parameter
    ``/blob/NAME``     the bytes registered with :meth:`serve` (an honest 200)

    Everything is bounded so the tests' own traffic is: a stream stops after :attr:`flood_bytes`, a held
    connection after :attr:`hold_seconds`, and :meth:`stop` ends all of them. ``accepts`` counts accepted
    connections (a refused URL must cause none), ``sent`` the body bytes sent per path.
    """

    flood_bytes = 256 * 1024 * 1024
    hold_seconds = 60.0

    def __init__(self) -> None:
        self.accepts = 0
        self.sent: dict[str, int] = {}
        self.paths: list[str] = []
        self.blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                with owner._lock:
                    owner.accepts += 1
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """A SAS-looking URL (its query holds ``sig=``) for ``path`` on this server."""
        return f"http://{self.authority}{path}?sv=2021-08-06&sr=b&sp=r&sig=hostile"

    def serve(self, name: str, blob: bytes) -> str:
        self.blobs[name] = blob
        return self.url(f"/blob/{name}")

    def start(self) -> HostileStorage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- one connection ---------------------------------------------------------------------------

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                head += chunk
        method, _, rest = head.partition(b" ")
        target = rest.split(b" ", 1)[0].decode("latin-1")
        path = urlsplit(target).path
        with self._lock:
            self.paths.append(path)
        kind = path.split("/")[1] if path.count("/") >= 2 else ""
        with contextlib.suppress(OSError):
            if kind == "silent":
                self._hold(sock)
            elif kind == "trickle":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                deadline = time.monotonic() + self.hold_seconds
                while not self._stop.wait(0.2) and time.monotonic() < deadline:
                    sock.sendall(b"\0")
            elif kind in ("flood", "chunked", "short"):
                if method == b"HEAD":
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                else:
                    self._flood(sock, path, kind)
            elif kind == "redirect":
                to = parse_qs(urlsplit(target).query).get("to", ["/"])[0]
                sock.sendall(f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n".encode())
            elif kind == "blob" and path.split("/", 2)[2] in self.blobs:
                blob = self.blobs[path.split("/", 2)[2]]
                sock.sendall(b'HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: %d\r\n\r\n' % len(blob) + blob)
            else:
                sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def _hold(self, sock: socket.socket) -> None:
        """Answer nothing until the client closes, the server stops or ``hold_seconds`` pass."""
        sock.settimeout(0.2)
        deadline = time.monotonic() + self.hold_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if not sock.recv(4096):
                    return
            except TimeoutError:
                continue

    def _flood(self, sock: socket.socket, path: str, kind: str) -> None:
        headers = {
            "flood": "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\nConnection: close\r\n\r\n",
            "chunked": "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            "short": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        }
        sock.sendall(headers[kind].encode())
        block = bytes(1024 * 1024)
        if kind == "chunked":
            block = b"%x\r\n" % len(block) + block + b"\r\n"
        sent = 0
        try:
            while sent < self.flood_bytes and not self._stop.is_set():
                sock.sendall(block)
                sent += len(block)
        finally:
            with self._lock:
                self.sent[path] = self.sent.get(path, 0) + sent


@pytest.fixture(scope="session")
def hostile_storage() -> Iterator[Callable[[], HostileStorage]]:
    """Factory of started :class:`HostileStorage` servers, all stopped at session end."""
    started: list[HostileStorage] = []

    def start() -> HostileStorage:
        server = HostileStorage().start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def hostile(hostile_storage: Callable[[], HostileStorage]) -> HostileStorage:
    """A :class:`HostileStorage` server for the module's tests: the storage a policy may be told to trust."""
    return hostile_storage()


@pytest.fixture(scope="module")
def bystander(hostile_storage: Callable[[], HostileStorage]) -> HostileStorage:
    """Listening, never trusted: any connection it records is a request that should have been refused."""
    return hostile_storage()


# --------------------------------------------------------------------------------------------------
# Requests and memory
# --------------------------------------------------------------------------------------------------


def post_raw(uri: str, body: bytes, timeout: float = 300.0) -> tuple[int, Any]:
    """POST ``body`` as JSON content; ``(status, decoded answer)`` for any status (``{"raw": ...}`` if not JSON)."""
    request = Request(uri, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text or b"{}")
    except json.JSONDecodeError:
        return status, {"raw": text[:200].decode("utf-8", "replace")}


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now (``VmRSS``, Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class PeakRss:
    """``with PeakRss(pid) as peak: ...`` then ``peak.growth``: the most the process's RSS rose above its start.

    A thread samples ``/proc`` every millisecond: a buffer that lives a few milliseconds is still seen.
    """

    def __init__(self, pid: int) -> None:
        self.pid, self.start, self.peak = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.start
