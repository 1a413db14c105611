"""A local Azure stack on loopback: Azurite (Blob storage emulator) and the real Azure ML inference server.

**Development and test infrastructure, not a deployment.** It stands in for Azure's cloud on one
machine: the tests, ``heedu serve`` and ``heedu demo-azure`` use it; a real service runs in Azure ML
(chapter 9 of the course, :mod:`azure_adapter.deploy_v2`).

``LocalStack`` starts, on free ``127.0.0.1`` ports,

* **Azurite** 3.35.0 (Blob service only), installed on demand with npm into the repo-local, git-ignored
  folder ``.node/``; run with ``--blobHost 127.0.0.1 --skipApiVersionCheck --disableTelemetry`` (Azurite
  otherwise sends usage telemetry) and a temporary ``--location``; it answers with the well-known
  development account ``devstoreaccount1``;
* **azmlinfsrv** (``azureml-inference-server-http``, gunicorn + Flask) through
  :mod:`azure_adapter.launch_inference_server`, which binds it to ``127.0.0.1`` instead of ``0.0.0.0``,
  with a given entry script, model directory and extra environment variables. Azurite's connection
  string is handed to the scoring script as ``AZURE_STORAGE_CONNECTION_STRING`` unless ``env`` sets it,
  and Azurite's ``127.0.0.1:PORT`` is added to ``HEEDU_TRUSTED_STORAGE``: the scoring script downloads
  keys only from storage it trusts (``azure_adapter.storage_policy``), and the local Azurite is not
  trusted by default.

Each process runs in its own session (process group), writes its output to a log file in a temporary
folder and is stopped by PID: SIGTERM to its group, a wait, then SIGKILL, so gunicorn's workers go
too. When a process does not come up in time, or exits while starting, :class:`LocalStackError` says so
with the tail of its log.

Readiness: Azurite when an HTTP request to the blob endpoint gets any HTTP answer (an unsigned
request gets 403); azmlinfsrv 1.5.1 when ``GET /`` (its liveness *and* readiness route; it answers
``200 Healthy``) succeeds, which is only after a worker has run the script's ``init()``.

Command line (Ctrl-C stops both)::

    python -m azure_adapter.local_stack --entry-script azure_adapter/score.py --model-dir MODEL_DIR

Used from Python::

    with LocalStack(entry_script="score.py", model_dir="model", env={"HEEDU_X": "1"}) as stack:
        requests.post(stack.scoring_uri, json={...})
        BlobServiceClient.from_connection_string(stack.connection_string)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from heedu.errors import HeeduError

__all__ = [
    "AZURITE_VERSION",
    "DEV_ACCOUNT_KEY",
    "DEV_ACCOUNT_NAME",
    "AzuriteServer",
    "InferenceServer",
    "LocalStack",
    "LocalStackError",
    "ensure_azurite",
    "free_port",
    "missing_requirements",
    "with_trusted_storage",
]

AZURITE_VERSION = "3.35.0"
"""The Azurite release the local stack pins."""

DEV_ACCOUNT_NAME = "devstoreaccount1"
"""Azurite's (and the old storage emulator's) well-known development account."""

DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""The published key of the development account (not a secret: it is in Azurite's documentation)."""

LOOPBACK = "127.0.0.1"
TRUSTED_STORAGE_ENV = "HEEDU_TRUSTED_STORAGE"
"""Storage hosts the scoring script may download keys from (see ``azure_adapter.storage_policy``)."""
REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_PREFIX = Path(os.environ.get("HEEDU_NODE_PREFIX", REPO_ROOT / ".node"))
"""Where npm installs Azurite (``npm install --prefix``); override with ``HEEDU_NODE_PREFIX``."""

_PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the forked child (no dlopen between fork and exec)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover
    _PRCTL = None
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalStackError(HeeduError, RuntimeError):
    """A local service could not be installed, started or reached."""


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it; another process could still take it).

    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def missing_requirements(*, azurite: bool = True, inference_server: bool = True) -> list[str]:
    """Human-readable list of what is missing to run the chosen parts of the stack (empty when all is there).

    Azurite needs ``node`` (and ``npm`` when it is not installed in :data:`NODE_PREFIX` yet); the inference
    server needs the ``azureml-inference-server-http`` package in this interpreter.
    """
    missing = []
    if azurite:
        if shutil.which("node") is None:
            missing.append("node (Node.js) is not on PATH")
        elif _installed_azurite_script(NODE_PREFIX) is None and shutil.which("npm") is None:
            missing.append(f"npm is not on PATH and Azurite {AZURITE_VERSION} is not installed in {NODE_PREFIX}")
    if inference_server and find_spec("azureml_inference_server_http") is None:
        missing.append("the Python package azureml-inference-server-http is not installed")
    return missing


def _installed_azurite_script(prefix: Path, version: str = AZURITE_VERSION) -> Path | None:
    """The Azurite Blob entry point under ``prefix`` if that exact version is installed there."""
    package_dir = prefix / "node_modules" / "azurite"
    try:
        manifest = json.loads((package_dir / "package.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != version:
        return None
    script = package_dir / manifest.get("bin", {}).get("azurite-blob", "dist/src/blob/main.js")
    return script if script.is_file() else None


def ensure_azurite(prefix: str | Path = NODE_PREFIX, version: str = AZURITE_VERSION, *, install: bool = True) -> Path:
    """Path of Azurite's Blob entry point (a Node script), installing ``azurite@version`` with npm if needed.

    Runs ``npm install --prefix PREFIX azurite@VERSION --save-exact --no-audit --no-fund`` under a file
    lock, so concurrent callers install once.
    """
    prefix = Path(prefix)
    script = _installed_azurite_script(prefix, version)
    if script is not None:
        return script
    if not install:
        raise LocalStackError(f"Azurite {version} is not installed in {prefix} (and install=False)")
    npm = shutil.which("npm")
    if npm is None:
        raise LocalStackError(f"Azurite {version} is not installed in {prefix} and npm is not on PATH")
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        script = _installed_azurite_script(prefix, version)
        if script is not None:
            return script
        cmd = [npm, "install", "--prefix", str(prefix), f"azurite@{version}", "--save-exact", "--no-audit", "--no-fund"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LocalStackError(f"`{' '.join(cmd)}` did not finish in {exc.timeout:.0f} s") from exc
        if done.returncode != 0:
            raise LocalStackError(
                f"`{' '.join(cmd)}` failed with exit code {done.returncode}:\n{_tail(done.stdout + done.stderr)}"
            )
    script = _installed_azurite_script(prefix, version)
    if script is None:
        raise LocalStackError(f"npm reported success but Azurite {version} is not found in {prefix}")
    return script


def with_trusted_storage(env: Mapping[str, str], *authorities: str) -> dict[str, str]:
    """``env`` with ``authorities`` (``host:port``) added to ``HEEDU_TRUSTED_STORAGE``, keeping what it had.

    >>> with_trusted_storage({"HEEDU_TRUSTED_STORAGE": "a:1"}, "127.0.0.1:5", "a:1")
    {'HEEDU_TRUSTED_STORAGE': 'a:1,127.0.0.1:5'}
    """
    entries = [e.strip() for e in env.get(TRUSTED_STORAGE_ENV, "").split(",") if e.strip()]
    entries += [a for a in authorities if a not in entries]
    return {**env, TRUSTED_STORAGE_ENV: ",".join(entries)}


def _tail(text: str, lines: int = 40) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (empty)"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this child when the thread that started it dies (best effort)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _child_pids(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the command name, which is in parentheses and may contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def _http_status(url: str, timeout: float, method: str = "GET") -> int:
    """The HTTP status of a request to ``url`` (errors with a status count as answers); raises OSError otherwise."""
    request = urllib.request.Request(url, method=method)
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return int(exc.code)


# --------------------------------------------------------------------------------------------------
# One managed process
# --------------------------------------------------------------------------------------------------


class ManagedProcess:
    """A child process in its own session, its output in a log file, stopped by PID (group) on :meth:`stop`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> None:
        """Start the process (new session, stdin from /dev/null, stdout and stderr to the log file)."""
        if self._proc is not None:
            raise LocalStackError(f"{self.name} was already started")
        self._log = open(self.log_path, "ab")  # closed in stop()
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if _PRCTL is not None else None,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise LocalStackError(f"could not start {self.name} ({self.argv[0]}): {exc}") from exc

    @property
    def pid(self) -> int | None:
        """The PID (also the process group ID) once started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status if the process has ended, else None."""
        return self._proc.poll() if self._proc is not None else None

    def running(self) -> bool:
        """Whether the process was started and has not ended."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, indented, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "    (no log)"
        return _tail(text, lines)

    def failure(self, what: str) -> LocalStackError:
        """A :class:`LocalStackError` about this process with its state and the tail of its log."""
        state = "running" if self.running() else f"exited with status {self.returncode}"
        return LocalStackError(
            f"{self.name} {what} (pid {self.pid}, {state}).\n"
            f"  command: {' '.join(self.argv)}\n  log {self.log_path}, last lines:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL it; sweep leftovers of the group."""
        proc = self._proc
        if proc is not None:
            pgid = proc.pid  # start_new_session=True: the child leads its own group
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    proc.wait(timeout=timeout)
            # Members of the group that outlived their leader (e.g. workers of a killed master).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


# --------------------------------------------------------------------------------------------------
# Azurite
# --------------------------------------------------------------------------------------------------


_S = TypeVar("_S", bound="_Service")


class _Service:
    """Shared context-manager plumbing: a temporary working folder and start/stop."""

    def __init__(self, work_dir: str | Path | None, keep_work_dir: bool) -> None:
        self._given_work_dir = Path(work_dir) if work_dir is not None else None
        self._keep_work_dir = keep_work_dir or work_dir is not None
        self.work_dir: Path | None = None
        self.process: ManagedProcess | None = None

    @property
    def pid(self) -> int | None:
        """PID of the service's main process (Node for Azurite, the gunicorn master for azmlinfsrv)."""
        return self.process.pid if self.process is not None else None

    def _launch(self, process: ManagedProcess) -> None:
        """Start ``process`` and wait until it serves; on any failure (or Ctrl-C) stop it before re-raising,
        so that a half-started service never leaks a process or a temporary folder."""
        self.process = process
        try:
            self.process.start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _make_work_dir(self, prefix: str) -> Path:
        if self._given_work_dir is not None:
            self._given_work_dir.mkdir(parents=True, exist_ok=True)
            self.work_dir = self._given_work_dir
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix=prefix))
        return self.work_dir

    def _remove_work_dir(self) -> None:
        if self.work_dir is not None and not self._keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir = None

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process (SIGTERM to its group, wait, SIGKILL) and remove the temporary folder."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        self._remove_work_dir()

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AzuriteServer(_Service):
    """Azurite's Blob service on ``127.0.0.1``, with its data in a temporary folder.

    Args:
        port: TCP port; a free one when None.
        node_prefix: npm prefix holding (or to receive) ``azurite@AZURITE_VERSION``.
        install: install Azurite with npm when it is missing.
        startup_timeout: seconds to wait for the blob endpoint to answer.
        work_dir: folder for Azurite's data (``data/``) and log (``azurite.log``); a temporary folder,
            removed on stop, when None.
        keep_work_dir: keep the temporary folder after stop (for post-mortems).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        node_prefix: str | Path = NODE_PREFIX,
        install: bool = True,
        startup_timeout: float = 30.0,
        work_dir: str | Path | None = None,
        keep_work_dir: bool = False,
    ) -> None:
        super().__init__(work_dir, keep_work_dir)
        self._requested_port = port
        self.port: int | None = None
        self.node_prefix = Path(node_prefix)
        self.install = install
        self.startup_timeout = startup_timeout

    account_name = DEV_ACCOUNT_NAME
    account_key = DEV_ACCOUNT_KEY

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:PORT/devstoreaccount1`` (path-style URL, as Azurite serves it)."""
        if self.port is None:
            raise LocalStackError("Azurite is not started")
        return f"http://{LOOPBACK}:{self.port}/{DEV_ACCOUNT_NAME}"

    @property
    def authority(self) -> str:
        """``127.0.0.1:PORT``: the entry that makes a scoring script trust this Azurite (``HEEDU_TRUSTED_STORAGE``)."""
        if self.port is None:
            raise LocalStackError("Azurite is not started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def connection_string(self) -> str:
        """A storage connection string for the development account at this Azurite."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self) -> None:
        """Install Azurite if needed, start it and wait until the blob endpoint answers."""
        if self.process is not None:
            raise LocalStackError("Azurite is already started")
        node = shutil.which("node")
        if node is None:
            raise LocalStackError("node (Node.js) is not on PATH; Azurite needs it")
        script = ensure_azurite(self.node_prefix, install=self.install)
        work_dir = self._make_work_dir("heedu-azurite-")
        data_dir = work_dir / "data"
        data_dir.mkdir(exist_ok=True)
        self.port = self._requested_port or free_port()
        argv = [
            node, str(script),
            "--silent", "--skipApiVersionCheck", "--disableTelemetry",
            "--blobHost", LOOPBACK, "--blobPort", str(self.port),
            "--location", str(data_dir),
        ]  # fmt: skip
        self._launch(ManagedProcess("Azurite", argv, work_dir / "azurite.log", cwd=work_dir))

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.blob_endpoint}?comp=list"
        while True:
            if not self.process.running():
                raise self.process.failure("exited while starting")
            try:
                _http_status(url, timeout=2.0)  # 403 for an unsigned request: it is serving
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.process.failure(f"did not answer at {url} within {self.startup_timeout:.0f} s")
            time.sleep(0.1)


# --------------------------------------------------------------------------------------------------
# Azure ML inference server
# --------------------------------------------------------------------------------------------------


class InferenceServer(_Service):
    """The real ``azmlinfsrv`` on ``127.0.0.1`` via :mod:`azure_adapter.launch_inference_server`.

    Args:
        entry_script: scoring script with ``init()`` and ``run(raw_data)``.
        model_dir: exported to the script as ``AZUREML_MODEL_DIR`` (``--model_dir``).
        env: extra environment variables for the server (and so for the script).
        port: TCP port; a free one when None.
        worker_count: gunicorn workers.
        startup_timeout: seconds to wait for ``GET /`` to answer 200 (covers the script's ``init()``).
        cwd: working directory, which azmlinfsrv also uses as ``AML_APP_ROOT``; the repository root by default.
        python: interpreter to run the launcher with (it needs ``azureml-inference-server-http``).
        work_dir: folder for ``inference_server.log``; a temporary one, removed on stop, when None.
        keep_work_dir: keep the temporary folder after stop.
    """

    def __init__(
        self,
        entry_script: str | Path,
        model_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        worker_count: int = 1,
        startup_timeout: float = 120.0,
        cwd: str | Path | None = None,
        python: str | Path = sys.executable,
        work_dir: str | Path | None = None,
        keep_work_dir: bool = False,
    ) -> None:
        super().__init__(work_dir, keep_work_dir)
        self.entry_script = Path(entry_script).resolve()
        self.model_dir = Path(model_dir).resolve() if model_dir is not None else None
        self.env = dict(env or {})
        self._requested_port = port
        self.port: int | None = None
        self.worker_count = worker_count
        self.startup_timeout = startup_timeout
        self.cwd = Path(cwd) if cwd is not None else REPO_ROOT
        self.python = str(python)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise LocalStackError("the inference server is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        """``http://127.0.0.1:PORT/score``."""
        return f"{self.base_url}/score"

    @property
    def liveness_uri(self) -> str:
        """``http://127.0.0.1:PORT/`` (azmlinfsrv's liveness and readiness probe: ``200 Healthy``)."""
        return f"{self.base_url}/"

    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers right now (children of the master)."""
        return _child_pids(self.pid) if self.pid is not None else []

    def start(self) -> None:
        """Start the server and wait until ``GET /`` answers 200 (after a worker ran ``init()``)."""
        if self.process is not None:
            raise LocalStackError("the inference server is already started")
        if not self.entry_script.is_file():
            raise LocalStackError(f"entry script {self.entry_script} is not a file")
        if self.model_dir is not None and not self.model_dir.is_dir():
            raise LocalStackError(f"model dir {self.model_dir} is not a directory")
        if self.python == sys.executable and find_spec("azureml_inference_server_http") is None:
            raise LocalStackError("azureml-inference-server-http is not installed (pip install it)")
        work_dir = self._make_work_dir("heedu-azmlinfsrv-")
        self.port = self._requested_port or free_port()
        argv = [
            self.python, "-m", "azure_adapter.launch_inference_server",
            "--entry-script", str(self.entry_script),
            "--port", str(self.port), "--host", LOOPBACK,
            "--worker-count", str(self.worker_count),
        ]  # fmt: skip
        if self.model_dir is not None:
            argv += ["--model-dir", str(self.model_dir)]
        env = dict(os.environ)
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        # The launcher must be importable even when the package is not installed.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        # gunicorn >= 26 opens a control socket at a fixed path in $HOME; two servers would share it.
        gunicorn_args = env.get("GUNICORN_CMD_ARGS", "")
        if "control-socket" not in gunicorn_args:
            env["GUNICORN_CMD_ARGS"] = f"{gunicorn_args} --no-control-socket".strip()
        self._launch(ManagedProcess("azmlinfsrv", argv, work_dir / "inference_server.log", env=env, cwd=self.cwd))

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while True:
            if not self.process.running():
                raise self.process.failure("exited while starting (did the entry script's init() fail?)")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.process.failure(
                    f"was not ready at {self.liveness_uri} within {self.startup_timeout:.0f} s ({last})"
                )
            try:
                # The master accepts connections before a worker is up; the request waits for init().
                status = _http_status(self.liveness_uri, timeout=min(5.0, remaining))
                if status == 200:
                    return
                last = f"last answer: HTTP {status}"
            except OSError as exc:
                last = f"last error: {exc}"
            time.sleep(0.1)


# --------------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------------


class LocalStack:
    """Azurite and (when ``entry_script`` is given) azmlinfsrv on loopback, as one context manager.

    Args:
        entry_script: scoring script for the inference server; None for Azurite only.
        model_dir: the server's ``AZUREML_MODEL_DIR``.
        env: extra environment variables for the server. ``AZURE_STORAGE_CONNECTION_STRING`` is set to
            Azurite's connection string unless ``env`` gives it; Azurite is added to ``HEEDU_TRUSTED_STORAGE``.
        azurite: start Azurite (set False for the server alone).
        server_startup_timeout: seconds for the server's ``init()`` and first liveness answer.
        azurite_startup_timeout: seconds for Azurite's first answer.
        keep_logs: keep the temporary folders (logs, Azurite data) after stop.
    """

    def __init__(
        self,
        entry_script: str | Path | None = None,
        model_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        azurite: bool = True,
        server_startup_timeout: float = 120.0,
        azurite_startup_timeout: float = 30.0,
        worker_count: int = 1,
        keep_logs: bool = False,
    ) -> None:
        if entry_script is None and not azurite:
            raise ValueError("nothing to start: give an entry_script or azurite=True")
        self.azurite = (
            AzuriteServer(startup_timeout=azurite_startup_timeout, keep_work_dir=keep_logs) if azurite else None
        )
        self._server_args = (entry_script, model_dir, dict(env or {}))
        self._server_kwargs = {
            "startup_timeout": server_startup_timeout,
            "worker_count": worker_count,
            "keep_work_dir": keep_logs,
        }
        self.server: InferenceServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start Azurite, then the inference server; on any failure stop what was started and re-raise."""
        entry_script, model_dir, env = self._server_args
        if entry_script is not None and not Path(entry_script).is_file():
            raise LocalStackError(f"entry script {entry_script} is not a file")
        try:
            if self.azurite is not None:
                self.azurite.start()
            if entry_script is not None:
                if self.azurite is not None:
                    env.setdefault("AZURE_STORAGE_CONNECTION_STRING", self.azurite.connection_string)
                    env = with_trusted_storage(env, self.azurite.authority)
                self.server = InferenceServer(entry_script, model_dir, env, **self._server_kwargs)
                self.server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server, then Azurite (each by PID); safe to call more than once."""
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            if self.azurite is not None:
                self.azurite.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what clients need ------------------------------------------------------------------------

    def _need_azurite(self) -> AzuriteServer:
        if self.azurite is None or self.azurite.port is None:
            raise LocalStackError("Azurite is not running in this stack")
        return self.azurite

    def _need_server(self) -> InferenceServer:
        if self.server is None or self.server.port is None:
            raise LocalStackError("the inference server is not running in this stack")
        return self.server

    @property
    def connection_string(self) -> str:
        """Storage connection string for Azurite's development account."""
        return self._need_azurite().connection_string

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:PORT/devstoreaccount1``."""
        return self._need_azurite().blob_endpoint

    @property
    def scoring_uri(self) -> str:
        """``http://127.0.0.1:PORT/score``."""
        return self._need_server().scoring_uri

    @property
    def liveness_uri(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return self._need_server().liveness_uri

    @property
    def azurite_pid(self) -> int | None:
        """PID of Azurite's Node process, if running."""
        return self.azurite.pid if self.azurite is not None else None

    @property
    def server_pid(self) -> int | None:
        """PID of the inference server's gunicorn master, if running."""
        return self.server.pid if self.server is not None else None

    @property
    def pids(self) -> dict[str, int]:
        """``{"azurite": pid, "inference_server": pid}`` for the processes that are running."""
        found = {"azurite": self.azurite_pid, "inference_server": self.server_pid}
        return {name: pid for name, pid in found.items() if pid is not None}


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_keyboard_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the stack, print its URIs and PIDs, and stop it on Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m azure_adapter.local_stack",
        description="Azurite and the Azure ML inference server on 127.0.0.1, until Ctrl-C.",
    )
    parser.add_argument("--entry-script", type=Path, help="scoring script; omit to run Azurite only")
    parser.add_argument("--model-dir", type=Path, help="AZUREML_MODEL_DIR for the scoring script")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server variable")
    parser.add_argument("--no-azurite", action="store_true", help="start the inference server only")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds for the server's init()")
    parser.add_argument("--keep-logs", action="store_true", help="keep logs and Azurite data after stopping")
    args = parser.parse_args(argv)
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r} is not NAME=VALUE")
        env[name] = value
    if args.entry_script is None and args.no_azurite:
        parser.error("nothing to start: give --entry-script or drop --no-azurite")

    stack = LocalStack(
        args.entry_script,
        args.model_dir,
        env,
        azurite=not args.no_azurite,
        server_startup_timeout=args.startup_timeout,
        keep_logs=args.keep_logs,
    )
    with _sigterm_as_keyboard_interrupt():
        try:
            stack.start()
        except LocalStackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        try:
            if stack.azurite is not None:
                print(f"Azurite           pid {stack.azurite_pid}  log {stack.azurite.work_dir}/azurite.log")
                print(f"  blob endpoint     {stack.blob_endpoint}")
                print(f"  connection string {stack.connection_string}")
            if stack.server is not None:
                print(f"azmlinfsrv        pid {stack.server_pid}  log {stack.server.work_dir}/inference_server.log")
                print(f"  scoring uri       {stack.scoring_uri}")
                print(f"  liveness uri      {stack.liveness_uri}")
            print("Ctrl-C to stop.", flush=True)
            services = [s for s in (stack.azurite, stack.server) if s is not None and s.process is not None]
            while True:
                for service in services:
                    process = service.process
                    if process is not None and not process.running():
                        print(f"error: {process.failure('exited on its own')}", file=sys.stderr)
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
            return 0
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
