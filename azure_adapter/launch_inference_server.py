"""Run the real Azure ML inference server (``azmlinfsrv``) bound to a chosen loopback address.

``azmlinfsrv`` (package ``azureml-inference-server-http``) has no host option: it always binds
``0.0.0.0``. Its ``amlserver.run()`` reads the module global ``DEFAULT_HOST`` (brought in by
``from .constants import *``) and passes it to gunicorn as ``-b HOST:PORT``, so this launcher sets
that global and then calls ``run()`` with ``sys.argv`` set to azmlinfsrv's own arguments. Everything
else (gunicorn master and workers, Flask app, routes, ``init()``/``run()`` handling) is the real
server, unchanged.

Usage::

    python -m azure_adapter.launch_inference_server --entry-script score.py --port 5001 \\
        [--model-dir DIR] [--host 127.0.0.1] [--worker-count 1]

This process becomes the gunicorn master; its workers are forked children. Only loopback hosts are
accepted (``127.0.0.0/8``, ``::1`` or ``localhost``): this is a local development server.

Routes (azmlinfsrv 1.5.1): ``GET /`` liveness/readiness (``Healthy``), ``POST /score``,
``GET /swagger.json``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"

# Environment variables that would make azmlinfsrv open a second listener (the separate health port,
# 5000 by default) or export telemetry to Application Insights; the local server does neither.
_CLEARED_ENV = ("SEPERATE_HEALTH_ENDPOINT", "HEALTH_PORT", "AML_APP_INSIGHTS_KEY")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names a loopback address (``localhost``, ``127.0.0.0/8`` or ``::1``).

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("localhost"), is_loopback_host("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def azmlinfsrv_argv(entry_script: str | Path, port: int, model_dir: str | Path | None, worker_count: int) -> list[str]:
    """The ``azmlinfsrv`` command line (see ``azureml_inference_server_http/args.py``) for these settings."""
    argv = ["azmlinfsrv", "--entry_script", str(entry_script), "--port", str(port), "--worker_count", str(worker_count)]
    if model_dir is not None:
        argv += ["--model_dir", str(model_dir)]
    return argv


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the launcher's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m azure_adapter.launch_inference_server",
        description="Run azmlinfsrv (Azure ML inference server) bound to a loopback host.",
    )
    parser.add_argument("--entry-script", required=True, type=Path, help="the scoring script (init() and run())")
    parser.add_argument("--port", required=True, type=int, help="the serving port (scoring and liveness)")
    parser.add_argument("--model-dir", type=Path, default=None, help="exported to the script as AZUREML_MODEL_DIR")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"loopback address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--worker-count", type=int, default=1, help="gunicorn workers (default 1)")
    args = parser.parse_args(argv)
    if not is_loopback_host(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address; this launcher serves on loopback only")
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1..65535")
    if not args.entry_script.is_file():
        parser.error(f"--entry-script {args.entry_script} is not a file")
    if args.model_dir is not None and not args.model_dir.is_dir():
        parser.error(f"--model-dir {args.model_dir} is not a directory")
    if args.worker_count < 1:
        parser.error("--worker-count must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Start azmlinfsrv on ``--host``; returns only when gunicorn stops (it may also ``sys.exit``)."""
    args = parse_args(argv)
    try:
        import azureml_inference_server_http.amlserver as amlserver
    except ImportError as exc:  # pragma: no cover - depends on the environment
        sys.exit(f"azureml-inference-server-http is not installed ({exc}); pip install azureml-inference-server-http")

    for name in _CLEARED_ENV:
        os.environ.pop(name, None)
    os.environ["AML_APP_INSIGHTS_ENABLED"] = "false"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")

    host = args.host.strip("[]")
    amlserver.DEFAULT_HOST = f"[{host}]" if ":" in host else host  # gunicorn's -b wants [::1]:PORT
    model_dir = args.model_dir.resolve() if args.model_dir is not None else None
    sys.argv = azmlinfsrv_argv(args.entry_script.resolve(), args.port, model_dir, args.worker_count)
    amlserver.run()


if __name__ == "__main__":
    main()
