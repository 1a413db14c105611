"""Concrete ML (Zama, TFHE) serving the same linear model: a worker process, and its handle for the subjects.

``concrete-ml==1.9.*`` (heedu's optional extra ``concrete``) pins NumPy 1.26,
scikit-learn 1.5 and PyTorch 2.3, so it lives in a virtual environment of its
own, never in the one heedu is measured in::

    python3 -m venv ../venvs/concrete
    ../venvs/concrete/bin/pip install "concrete-ml==1.9.*"      # or: pip install ".[concrete]"
    HEEDU_CONCRETE_PYTHON=../venvs/concrete/bin/python make bench

The subject (``bench_inference.py``) starts this file as a worker under that
interpreter (``--concrete-python``, else ``$HEEDU_CONCRETE_PYTHON``, else its
own), hands it the model and the images in an ``.npz`` file, and sends it one
command per line; each timed command runs once in the worker, timed there the
way :func:`harness.time_call` times (``perf_counter`` and ``process_time``, gc
off), and the times come back as JSON. So the worker's calls take their turn in
the subject's interleaved rounds like every other system's, and no Concrete ML
package is imported into the subject's process. When the interpreter cannot
import Concrete ML, the worker says why and the subject skips it with that
message.

What the worker runs, as Concrete ML's deployment API is meant to be used
(``concrete.ml.deployment``):

* **setup** (untimed, reported): a scikit-learn ``LogisticRegression`` holding
  the model's ``W`` and ``b``; ``concrete.ml.sklearn.LogisticRegression.
  from_sklearn_model(model, calibration, n_bits=8)`` (Concrete ML's default
  8 bits, calibrated on the workload's images), ``compile``, ``FHEModelDev``
  saved to a folder, and an ``FHEModelServer`` loaded from it;
* **keygen**: a new ``FHEModelClient`` (its own key folder) and
  ``generate_private_and_evaluation_keys`` + ``get_serialized_evaluation_keys``;
* **encrypt**: ``quantize_encrypt_serialize`` of one image (the circuit is
  compiled for one input of shape ``(1, n_features)``);
* **server**: ``FHEModelServer.run(query, evaluation_keys)``;
* **decrypt**: ``deserialize_decrypt_dequantize``, what a client calls (it
  ends with the model's softmax); the scores compared with
  ``decision_function`` are read untimed from the same answer, before the
  softmax (``deserialize_decrypt`` and ``dequantize_output``).

Concrete ML computes on 8-bit quantized inputs and weights, so its scores are
close to scikit-learn's only to the quantization step: the subject reports
their error and argmax, and holds them to no 1e-3 tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

#: The release line the benchmarks were written against, as in pyproject.toml's ``concrete`` extra.
CONCRETE_PIN = "concrete-ml==1.9.*"
#: Where the subject looks for the interpreter that has Concrete ML, when --concrete-python is not given.
PYTHON_ENV = "HEEDU_CONCRETE_PYTHON"
#: Concrete ML's default quantization of built-in models.
N_BITS = 8
#: Seconds the worker may take to import Concrete ML and compile (a few seconds on the reference machine).
SETUP_TIMEOUT_S = 600


# --------------------------------------------------------------------------------------
# The subject's side: start the worker, send it commands
# --------------------------------------------------------------------------------------


def concrete_python(option: str | None) -> str:
    """The interpreter to run the worker under: ``--concrete-python``, ``$HEEDU_CONCRETE_PYTHON``, or this one."""
    return option or os.environ.get(PYTHON_ENV) or sys.executable


class ConcreteWorker:
    """A worker process serving the model with Concrete ML; :meth:`start` returns it, or why it cannot run.

    Each timed command returns ``(wall_s, cpu_s, reply)``: the worker's own
    clocks around its one call, and what it reported (sizes, scores).
    """

    def __init__(self, process: subprocess.Popen[str], folder: Path, setup: dict[str, Any]) -> None:
        self._process, self.folder, self.setup = process, folder, setup

    @classmethod
    def start(
        cls, python: str, folder: Path, weights: np.ndarray, bias: np.ndarray, calibration: np.ndarray,
        images: np.ndarray,
    ) -> ConcreteWorker | str:
        """Write the model and images to ``folder``, start the worker under ``python``, run its setup."""
        if not Path(python).exists():
            return f"the interpreter {python} does not exist; {install_hint()}"
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "workload.npz", weights=weights, bias=bias, calibration=calibration, images=images)
        log = open(folder / "worker.log", "w", encoding="utf-8")  # Concrete ML's own messages go here
        try:
            process = subprocess.Popen(
                [python, str(Path(__file__).resolve()), "--worker", str(folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        except OSError as error:
            log.close()
            return f"cannot start {python} ({error}); {install_hint()}"
        finally:
            log.close()
        worker = cls(process, folder, {})
        try:
            reply = worker._send({"op": "setup", "n_bits": N_BITS}, timeout=SETUP_TIMEOUT_S)
        except RuntimeError as error:
            worker.close()
            return str(error)
        if not reply.get("ok"):
            worker.close()
            return str(reply.get("why"))
        worker.setup = reply
        return worker

    def _send(self, command: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(command) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()  # the worker answers every command with one line
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            process.wait(timeout=timeout)
            tail = (self.folder / "worker.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the Concrete ML worker exited ({process.returncode}): {tail.strip()}")
        return json.loads(line)

    def timed(self, op: str, **arguments: Any) -> tuple[float, float, dict[str, Any]]:
        """Run one timed command; ``(wall_s, cpu_s, reply)``."""
        reply = self._send({"op": op, **arguments})
        if not reply.get("ok"):
            raise RuntimeError(f"Concrete ML {op} failed: {reply.get('why')}")
        return reply["wall_s"], reply["cpu_s"], reply

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._send({"op": "quit"}, timeout=30)
            except (RuntimeError, ValueError):
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def install_hint() -> str:
    return (
        f"install {CONCRETE_PIN} (heedu's `concrete` extra) into a virtual environment of its own (it pins "
        f"NumPy 1.26 and scikit-learn 1.5) and pass its interpreter as --concrete-python or ${PYTHON_ENV}"
    )


# --------------------------------------------------------------------------------------
# The worker: runs under the interpreter that has Concrete ML; imports nothing of heedu's
# --------------------------------------------------------------------------------------


def _timed(function: Any) -> tuple[float, float, Any]:
    """One call, timed as harness.time_call times (this process cannot import the harness)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        cpu = time.process_time()
        start = time.perf_counter()
        result = function()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        if enabled:
            gc.enable()
    return wall, cpu, result


class _Serving:
    """The worker's state: the compiled model, its server, one client, the last query and answer."""

    def __init__(self, folder: Path, n_bits: int) -> None:
        import importlib.metadata

        from concrete.ml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
        from concrete.ml.sklearn import LogisticRegression
        from sklearn.linear_model import LogisticRegression as ScikitLogisticRegression

        data = np.load(folder / "workload.npz")
        self.folder, self.images, self._client_class = folder, data["images"], FHEModelClient
        plain = ScikitLogisticRegression()
        plain.coef_, plain.intercept_ = data["weights"], data["bias"]
        plain.classes_ = np.arange(data["weights"].shape[0])
        calibration = data["calibration"]
        self.convert_s, _, model = _timed(lambda: LogisticRegression.from_sklearn_model(plain, calibration, n_bits))
        self.compile_s, _, _ = _timed(lambda: model.compile(calibration))
        deployment = folder / "deployment"
        if deployment.exists():
            import shutil

            shutil.rmtree(deployment)
        FHEModelDev(str(deployment), model).save()
        self.server = FHEModelServer(str(deployment))
        self.server.load()
        self.deployment, self._keygens = deployment, 0
        self.client, self.keys = self._new_client()
        self.query: bytes | None = None
        self.answer: bytes | None = None
        names = ("concrete-ml", "concrete-python", "numpy", "scikit-learn")
        self.versions = {name: importlib.metadata.version(name) for name in names}

    def _new_client(self) -> tuple[Any, bytes]:
        self._keygens += 1
        client = self._client_class(str(self.deployment), key_dir=str(self.folder / f"keys{self._keygens % 2}"))
        client.generate_private_and_evaluation_keys(force=True)
        return client, client.get_serialized_evaluation_keys()

    def run(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "keygen":  # a throw-away client: encrypt and decrypt keep the one made at setup
            wall, cpu, (_, keys) = _timed(self._new_client)
            return {"wall_s": wall, "cpu_s": cpu, "bytes": len(keys)}
        if op == "encrypt":
            x = self.images[int(command.get("index", 0))][None, :]
            wall, cpu, self.query = _timed(lambda: self.client.quantize_encrypt_serialize(x))
            return {"wall_s": wall, "cpu_s": cpu, "bytes": len(self.query)}
        if op == "server":
            if self.query is None:
                raise ValueError("encrypt before server")
            query = self.query
            wall, cpu, self.answer = _timed(lambda: self.server.run(query, self.keys))
            return {"wall_s": wall, "cpu_s": cpu, "bytes": len(self.answer)}
        if op == "decrypt":
            if self.answer is None:
                raise ValueError("server before decrypt")
            answer = self.answer
            wall, cpu, probabilities = _timed(lambda: self.client.deserialize_decrypt_dequantize(answer))
            scores = self.client.model.dequantize_output(self.client.deserialize_decrypt(answer))
            return {
                "wall_s": wall,
                "cpu_s": cpu,
                "scores": np.asarray(scores, dtype=np.float64).reshape(-1).tolist(),
                "probabilities": np.asarray(probabilities, dtype=np.float64).reshape(-1).tolist(),
            }
        raise ValueError(f"unknown command {op!r}")


def worker_main(folder: Path) -> int:
    """Answer the subject's commands, one JSON line each, until ``quit`` or the end of input."""
    reply_stream: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever Concrete ML prints goes to the log, not into the replies
    serving: _Serving | None = None

    def reply(**fields: Any) -> None:
        reply_stream.write(json.dumps(fields) + "\n")
        reply_stream.flush()

    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            reply(ok=True)
            break
        if command["op"] == "setup":
            try:
                serving = _Serving(folder, int(command.get("n_bits", N_BITS)))
            except ImportError as error:
                reply(ok=False, why=f"Concrete ML is not importable by {sys.executable} ({error}); {install_hint()}")
                continue
            except Exception as error:  # report any failure of the package's setup, in words
                reply(ok=False, why=f"Concrete ML setup failed under {sys.executable}: {type(error).__name__}: {error}")
                continue
            reply(ok=True, convert_s=serving.convert_s, compile_s=serving.compile_s, versions=serving.versions,
                  key_bytes=len(serving.keys), python=sys.executable)
            continue
        if serving is None:
            reply(ok=False, why="setup first")
            continue
        try:
            reply(ok=True, **serving.run(command))
        except Exception as error:  # one failed command is reported, and the subject decides
            reply(ok=False, why=f"{type(error).__name__}: {error}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker_main(Path(sys.argv[2])))
    print(__doc__)
    sys.exit(2)
