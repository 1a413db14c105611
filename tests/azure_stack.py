"""Pytest fixtures for the local Azure stack (Azurite and the real Azure ML inference server on 127.0.0.1).

Load them in a test module with ``pytest_plugins = ["tests.azure_stack"]`` (the suite runs as
``python -m pytest`` from the repository root, as for ``tests.strategies``).

Fixtures (session-scoped)
-------------------------
``azurite``           a running :class:`~azure_adapter.local_stack.AzuriteServer`: ``.connection_string``,
                      ``.blob_endpoint``, ``.pid``. Skips when node (or npm, before Azurite is installed in
                      ``.node/``) or ``azure-storage-blob`` is missing.
``inference_server``  a factory ``inference_server(entry_script, model_dir=None, env=None, **kwargs)``
                      that starts azmlinfsrv with that script and returns the running
                      :class:`~azure_adapter.local_stack.InferenceServer` (``.scoring_uri``, ``.pid``,
                      ``.worker_pids()``, ``.stop()``). Every server it started is stopped (by PID, with
                      its process group) at the end of the session; a test may stop one earlier.
                      Skips when ``azureml-inference-server-http`` is missing. To give a script the
                      emulator, pass ``env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from azure_adapter.local_stack import AzuriteServer, InferenceServer, missing_requirements

StartServer = Callable[..., InferenceServer]


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
        **kwargs: Any,
    ) -> InferenceServer:
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
