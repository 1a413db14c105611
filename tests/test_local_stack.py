"""The local Azure stack: Azurite and the real azmlinfsrv (Azure ML inference server), on loopback only.

Besides checking the stack itself, these tests pin down how azmlinfsrv 1.5.1 treats a scoring
script's ``run()``, which the adapter's error handling relies on:

* ``run()`` raises an ``Exception``: HTTP 500, JSON body ``{"message": "An unexpected error occurred in
  scoring script. Check the logs for more info."}``, header ``x-ms-run-function-failed: True``; the
  traceback goes to the server log only; the worker survives (same PID, ``init()`` state kept).
* ``run()`` raises a ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``):
  azmlinfsrv does not catch it, gunicorn does: HTTP 500 with gunicorn's HTML page (no JSON, no
  ``x-ms-run-function-failed``); the worker survives.
* the worker process dies (``os._exit``, a crash): the connection closes with no response; gunicorn
  starts a new worker, which runs ``init()`` again before serving.
* ``run()`` returns ``AMLResponse(body, status)`` (``azureml_inference_server_http.api.aml_response``):
  sent as is, with that status and body (``Content-Type: text/html`` for a str body unless
  ``response_headers`` sets one; ``json_str=True`` sends ``json.dumps(body)`` as ``application/json``);
  ``x-ms-run-function-failed`` is ``False`` below 500 and forced to ``True`` from 500 up.
* ``run()`` returns something ``json.dumps`` refuses (bytes, a NumPy array): HTTP 500 ``{"message":
  "An unexpected internal error occurred. ..."}`` with ``x-ms-run-function-failed: False``.
* an undecorated ``run(raw_data)`` receives the request body decoded as UTF-8, whatever the
  Content-Type (a body that is not UTF-8: 400 before ``run()`` is called).
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from azure_adapter.local_stack import AzuriteServer, InferenceServer, LocalStack, LocalStackError, with_trusted_storage

pytest_plugins = ["tests.azure_stack"]

StartServer = Callable[..., InferenceServer]  # the `inference_server` fixture (tests/azure_stack.py)

ECHO_SCRIPT = '''
"""Tiny scoring script for the local-stack tests: run(raw) echoes JSON, or misbehaves on request."""
import json
import os
import sys

from azureml_inference_server_http.api.aml_response import AMLResponse

STATE = {}


def init():
    STATE["initialized"] = True
    STATE["model_dir"] = os.environ.get("AZUREML_MODEL_DIR")
    with open(os.environ["ECHO_INIT_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")


def run(raw_data):
    request = json.loads(raw_data)
    action = request.get("action", "echo")
    if action == "raise":
        raise ValueError("scoring failed on purpose")
    if action == "system_exit":
        sys.exit(3)
    if action == "die":
        os._exit(17)
    if action == "aml_response":
        return AMLResponse(request["body"], request["status"])
    if action == "aml_response_json":
        return AMLResponse(request["body"], request["status"], json_str=True)
    if action == "bytes":
        return b"not JSON serializable"
    return {
        "echo": request,
        "initialized": STATE.get("initialized", False),
        "model_dir": STATE.get("model_dir"),
        "env": os.environ.get("ECHO_EXTRA"),
        "trusted_storage": os.environ.get("HEEDU_TRUSTED_STORAGE"),
        "pid": os.getpid(),
    }
'''

FAILING_INIT_SCRIPT = """
def init():
    raise RuntimeError("init failed on purpose")


def run(raw_data):
    return raw_data
"""


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


class Reply:
    """An HTTP answer: status, headers (case-insensitive lookup) and body."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> object:
        return json.loads(self.body)


def request(url: str, method: str = "GET", body: bytes | None = None, content_type: str | None = None) -> Reply:
    """One HTTP request over loopback with http.client (no proxies, no retries)."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, parts.path or "/", body=body, headers=headers)
        return Reply(connection.getresponse())
    finally:
        connection.close()


def score(server: InferenceServer, payload: object) -> Reply:
    return request(server.scoring_uri, "POST", json.dumps(payload).encode(), "application/json")


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the TCP sockets in LISTEN state on ``port``, from /proc/net/tcp and tcp6."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A = TCP_LISTEN
                continue
            if width == 8:  # IPv4, little-endian
                found.append(".".join(str(b) for b in reversed(bytes.fromhex(address))))
            else:
                found.append("ipv6:" + address)
    return found


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets open in process ``pid``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer exists (or is a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# --------------------------------------------------------------------------------------------------
# Azurite
# --------------------------------------------------------------------------------------------------


def test_azurite_blob_round_trip(azurite: AzuriteServer) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"heedu-{uuid.uuid4().hex[:12]}")
    payload = os.urandom(100_000) + b"heedu"
    container.upload_blob("keys/galois.bin", payload)
    assert container.download_blob("keys/galois.bin").readall() == payload
    assert [b.name for b in container.list_blobs()] == ["keys/galois.bin"]
    assert azurite.blob_endpoint == f"http://127.0.0.1:{azurite.port}/devstoreaccount1"


def test_azurite_listens_on_loopback_only(azurite: AzuriteServer) -> None:
    assert listening_addresses(azurite.port) == ["127.0.0.1"]
    assert listening_inodes(azurite.port) <= socket_inodes(azurite.pid)


# --------------------------------------------------------------------------------------------------
# The inference server
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("echo")
    (root / "score.py").write_text(ECHO_SCRIPT)
    (root / "model").mkdir()
    (root / "model" / "weights.txt").write_text("1 2 3\n")
    return root


@pytest.fixture(scope="module")
def echo_server(inference_server: StartServer, echo_dir: Path) -> Iterator[InferenceServer]:
    env = {"ECHO_EXTRA": "from-env", "ECHO_INIT_LOG": str(echo_dir / "init.log")}
    server = inference_server(echo_dir / "score.py", echo_dir / "model", env)
    yield server
    server.stop()


def test_liveness_probe_is_get_root(echo_server: InferenceServer) -> None:
    reply = request(echo_server.liveness_uri)
    assert (reply.status, reply.body) == (200, b"Healthy")
    assert echo_server.liveness_uri == f"http://127.0.0.1:{echo_server.port}/"


def test_score_echoes_after_init_with_model_dir_and_env(echo_server: InferenceServer, echo_dir: Path) -> None:
    reply = score(echo_server, {"x": [1, 2, 3]})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["x-ms-run-function-failed"] == "False"
    answer = reply.json()
    assert answer["echo"] == {"x": [1, 2, 3]}
    assert answer["initialized"] is True
    assert answer["model_dir"] == str((echo_dir / "model").resolve())
    assert answer["env"] == "from-env"
    assert answer["pid"] in echo_server.worker_pids()


def test_server_listens_on_loopback_only(echo_server: InferenceServer) -> None:
    # Only 127.0.0.1 (no 0.0.0.0, no IPv6 wildcard); the socket belongs to the gunicorn master.
    assert listening_addresses(echo_server.port) == ["127.0.0.1"]
    assert listening_inodes(echo_server.port) <= socket_inodes(echo_server.pid)


def test_run_exception_gives_500_json_and_worker_survives(echo_server: InferenceServer) -> None:
    worker = score(echo_server, {}).json()["pid"]
    reply = score(echo_server, {"action": "raise"})
    assert reply.status == 500
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["x-ms-run-function-failed"] == "True"
    assert reply.json() == {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}
    assert b"scoring failed on purpose" not in reply.body  # the traceback is in the server log only
    after = score(echo_server, {})
    assert after.status == 200
    assert after.json()["pid"] == worker
    assert after.json()["initialized"] is True


def test_run_system_exit_gives_gunicorn_500_and_worker_survives(echo_server: InferenceServer) -> None:
    worker = score(echo_server, {}).json()["pid"]
    reply = score(echo_server, {"action": "system_exit"})
    assert reply.status == 500
    assert reply.headers["Content-Type"] == "text/html"
    assert b"Internal Server Error" in reply.body
    assert "x-ms-run-function-failed" not in reply.headers
    assert score(echo_server, {}).json()["pid"] == worker


def test_aml_response_is_passed_through(echo_server: InferenceServer) -> None:
    reply = score(echo_server, {"action": "aml_response", "body": "no such key", "status": 404})
    assert (reply.status, reply.body) == (404, b"no such key")
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.headers["x-ms-run-function-failed"] == "False"

    reply = score(echo_server, {"action": "aml_response_json", "body": {"error": "bad ciphertext"}, "status": 400})
    assert (reply.status, reply.json()) == (400, {"error": "bad ciphertext"})
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["x-ms-run-function-failed"] == "False"

    reply = score(echo_server, {"action": "aml_response", "body": "overloaded", "status": 503})
    assert (reply.status, reply.body) == (503, b"overloaded")
    assert reply.headers["x-ms-run-function-failed"] == "True"


def test_unserializable_result_gives_internal_error(echo_server: InferenceServer) -> None:
    reply = score(echo_server, {"action": "bytes"})
    assert reply.status == 500
    assert reply.json() == {"message": "An unexpected internal error occurred. Check the logs for more info."}
    assert reply.headers["x-ms-run-function-failed"] == "False"


def test_body_reaches_run_as_utf8_text(echo_server: InferenceServer) -> None:
    text = json.dumps({"x": "é"}).encode()
    reply = request(echo_server.scoring_uri, "POST", text, "application/octet-stream")
    assert reply.json()["echo"] == {"x": "é"}
    reply = request(echo_server.scoring_uri, "POST", b"\xff\xfe", "application/octet-stream")
    assert reply.status == 400
    assert reply.json()["message"].startswith("Input cannot be decoded as UTF-8")


def test_worker_death_restarts_worker_and_stop_leaves_no_process(inference_server: StartServer, tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(ECHO_SCRIPT)
    init_log = tmp_path / "init.log"
    server = inference_server(tmp_path / "score.py", env={"ECHO_INIT_LOG": str(init_log)})
    master, port = server.pid, server.port
    first = score(server, {}).json()["pid"]

    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        score(server, {"action": "die"})
    second = score(server, {}).json()  # the master started a fresh worker, which ran init() again
    assert second["pid"] != first
    assert second["initialized"] is True
    assert init_log.read_text().split() == [str(first), str(second["pid"])]

    server.stop()
    assert server.pid is None
    assert wait_until(lambda: all(process_gone(p) for p in (master, first, second["pid"])))
    assert listening_addresses(port) == []


def test_failing_init_reports_log_tail(inference_server: StartServer, tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(FAILING_INIT_SCRIPT)
    with pytest.raises(LocalStackError, match="exited while starting") as caught:
        inference_server(tmp_path / "score.py", startup_timeout=60)
    assert "init failed on purpose" in str(caught.value)


# --------------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------------


def test_trusted_storage_entries_are_added_once_and_kept_in_order() -> None:
    assert with_trusted_storage({}, "127.0.0.1:1") == {"HEEDU_TRUSTED_STORAGE": "127.0.0.1:1"}
    env = {"HEEDU_TRUSTED_STORAGE": " a:1, ,b:2", "OTHER": "x"}
    assert with_trusted_storage(env, "b:2", "c:3") == {"HEEDU_TRUSTED_STORAGE": "a:1,b:2,c:3", "OTHER": "x"}
    assert env["HEEDU_TRUSTED_STORAGE"] == " a:1, ,b:2"  # the caller's mapping is left alone


def test_local_stack_makes_the_script_trust_its_own_azurite(
    azurite: AzuriteServer, inference_server: StartServer, echo_dir: Path
) -> None:
    """score.py downloads keys only from trusted storage: the stack adds its Azurite to what the caller gave.

    (The session's ``azurite`` and ``inference_server`` are requested only to skip when the stack cannot run.)
    """
    env = {"ECHO_INIT_LOG": str(echo_dir / "stack-init.log"), "HEEDU_TRUSTED_STORAGE": "store.example:443"}
    with LocalStack(echo_dir / "score.py", echo_dir / "model", env) as stack:
        assert stack.azurite is not None and stack.server is not None
        answer = score(stack.server, {}).json()
        assert answer["trusted_storage"] == f"store.example:443,{stack.azurite.authority}"
        assert stack.azurite.authority == f"127.0.0.1:{stack.azurite.port}"
    assert env["HEEDU_TRUSTED_STORAGE"] == "store.example:443"
