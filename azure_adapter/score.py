r"""The Azure ML entry script (``init()`` / ``run()``) of the tutorial, with heedu as a swappable backend.

Azure ML's inference server imports this file, calls :func:`init` once per
worker, then :func:`run` with the body of every ``POST /score``.

**Backends** (environment variable ``HEEDU_BACKEND``):

* ``heedu`` (default): heedu's ``EIServer``, byte-compatible with ``encrypted-inference``;
* ``seal``: the original ``encrypted.inference.eiserver.EIServer``. heedu checks every
  ciphertext and key blob first, because the original aborts the whole worker on malformed input.

heedu's native packed protocol is recognized from the request body
(``"protocol": "heedu-native-1"``) whatever the backend.

**Requests** (JSON):

* the tutorial's, unchanged: ``{"data": [...], "key_id": ..., "conn_str": ..., "container": ...}``.
  It works, but it sends the storage account key in every request;
* secure: ``{"data": [...], "key_id": ..., "key_url": "<read-only SAS URL>"}``: no account key travels;
* secure, service-side storage: ``{"data": [...], "key_id": "sha256-..."}``, resolved with the
  service's own ``HEEDU_KEY_STORE_CONNECTION_STRING`` and ``HEEDU_KEY_STORE_CONTAINER``;
* native: ``{"protocol": "heedu-native-1", "query": "<base64>", "key_id": ..., "key_url": ...}``;
  ``{"protocol": "heedu-native-1", "action": "plan"}`` returns the public plan a client needs.

Public keys are cached in a cache bounded by bytes and keyed by content hash. A
content-addressed ``key_id`` (``sha256-...``) is checked against the downloaded bytes and
served from the cache without any download. Any bad request gets HTTP 400 with a JSON error
saying what was wrong, never a crashed worker. Unexpected failures get a 500 with no internals.
"""

from __future__ import annotations

import base64
import binascii
import glob
import json
import logging
import os
import threading
from collections import OrderedDict
from typing import Any

# Absolute import: the inference server loads this file by path, not as part of a package.
from azure_adapter import keys as key_exchange
from heedu.errors import HeeduError
from heedu.inference import EIServer as HeeduEIServer
from heedu.inference import EncryptedLinearModel

logger = logging.getLogger("heedu.score")

MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_CIPHERTEXTS = 64
KEY_CACHE_BYTES = 96 * 1024 * 1024
NATIVE_PROTOCOL = "heedu-native-1"
BACKENDS = ("heedu", "seal")


class RequestError(HeeduError, ValueError):
    """The request is malformed: answered with HTTP 400 and this message."""


class KeyCache:
    """Key blobs by content hash, evicting the least recently used beyond ``max_bytes``; thread-safe."""

    def __init__(self, max_bytes: int = KEY_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._aliases: dict[tuple[str, str], str] = {}  # (source, etag) -> content id
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._blobs.values())

    def get(self, content_id: str) -> bytes | None:
        with self._lock:
            blob = self._blobs.get(content_id)
            if blob is not None:
                self._blobs.move_to_end(content_id)
            return blob

    def alias(self, source: str, etag: str) -> str | None:
        with self._lock:
            return self._aliases.get((source, etag))

    def put(self, blob: bytes, source: str | None = None, etag: str | None = None) -> str:
        content_id = key_exchange.content_key_id(blob)
        with self._lock:
            self._blobs[content_id] = blob
            self._blobs.move_to_end(content_id)
            if source is not None and etag is not None:
                self._aliases[(source, etag)] = content_id
            while sum(len(b) for b in self._blobs.values()) > self.max_bytes and len(self._blobs) > 1:
                evicted, _ = self._blobs.popitem(last=False)
                self._aliases = {k: v for k, v in self._aliases.items() if v != evicted}
        return content_id


class _Service:
    """What init() builds once per worker. (A plain class: the server loads this file by path, under
    another module name, where dataclasses cannot resolve postponed annotations.)"""

    def __init__(self, backend: str, ei_server: Any, native: EncryptedLinearModel, cache: KeyCache) -> None:
        self.backend, self.ei_server, self.native, self.cache = backend, ei_server, native, cache


_service: _Service | None = None


def _find_model_file() -> str:
    model_dir = os.environ.get("AZUREML_MODEL_DIR", ".")
    explicit = os.environ.get("HEEDU_MODEL_FILE")
    if explicit:
        return explicit if os.path.isabs(explicit) else os.path.join(model_dir, explicit)
    candidates = sorted(glob.glob(os.path.join(model_dir, "**", "*.pkl"), recursive=True))
    if len(candidates) != 1:
        raise RuntimeError(
            f"expected exactly one .pkl model under AZUREML_MODEL_DIR={model_dir!r}, found {len(candidates)}; "
            "set HEEDU_MODEL_FILE"
        )
    return candidates[0]


def init() -> None:
    """Load the model (as the tutorial does, from ``AZUREML_MODEL_DIR``) and build the chosen backend."""
    global _service
    import warnings

    import joblib

    backend = os.environ.get("HEEDU_BACKEND", "heedu").strip().lower()
    if backend not in BACKENDS:
        raise RuntimeError(f"HEEDU_BACKEND must be one of {BACKENDS}, got {backend!r}")
    with warnings.catch_warnings():  # the tutorial's pickle comes from an older scikit-learn
        warnings.simplefilter("ignore")
        model = joblib.load(_find_model_file())
    if backend == "seal":
        from encrypted.inference.eiserver import EIServer as SealEIServer

        ei_server = SealEIServer(model.coef_, model.intercept_)
    else:
        ei_server = HeeduEIServer(model.coef_, model.intercept_)
    _service = _Service(backend, ei_server, EncryptedLinearModel.from_sklearn(model), KeyCache())
    logger.info("heedu scoring service ready (backend %s)", backend)


# ------------------------------------------------------------------------------------ requests


def _parse(raw_data: object) -> dict:
    if isinstance(raw_data, (bytes, bytearray)):
        raw_data = bytes(raw_data).decode("utf-8", errors="replace")
    if not isinstance(raw_data, str):
        raise RequestError("the request body must be a JSON object")
    if len(raw_data) > MAX_REQUEST_BYTES:
        raise RequestError(f"the request is {len(raw_data)} bytes; at most {MAX_REQUEST_BYTES} are accepted")
    try:
        request = json.loads(raw_data)
    except (json.JSONDecodeError, RecursionError):
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(request, dict):
        raise RequestError("the request body must be a JSON object with 'data' (or 'query') and 'key_id'")
    return request


def _string(request: dict, name: str, required: bool = True, limit: int = 4096) -> str | None:
    value = request.get(name)
    if value is None:
        if required:
            raise RequestError(f"the request lacks the field {name!r}")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RequestError(f"{name!r} must be a non-empty string of at most {limit} characters")
    return value


def _fetch_keys(request: dict, service: _Service) -> bytes:
    """The key blob for this request, from the cache when possible; verified when content-addressed."""
    key_id = _string(request, "key_id", limit=256)
    assert key_id is not None
    if key_exchange.is_content_key_id(key_id):
        cached = service.cache.get(key_id)
        if cached is not None:
            return cached
    key_url = _string(request, "key_url", required=False, limit=8192)
    conn_str = _string(request, "conn_str", required=False)
    if key_url is not None:
        blob, etag = key_exchange.fetch_by_sas_url(key_url)
        source = key_url.split("?", 1)[0]
    elif conn_str is not None:
        container = _string(request, "container", limit=63)
        assert container is not None
        blob, etag = key_exchange.fetch_by_connection_string(conn_str, container, key_id)
        source = f"{container}/{key_id}"
    else:
        store = os.environ.get("HEEDU_KEY_STORE_CONNECTION_STRING")
        container = os.environ.get("HEEDU_KEY_STORE_CONTAINER", "heedu-keys")
        if not store:
            raise RequestError("give 'key_url' (a read-only SAS URL for the key blob); this service has no key store")
        blob, etag = key_exchange.fetch_by_connection_string(store, container, key_id)
        source = f"store:{container}/{key_id}"
    key_exchange.verify_content(key_id, blob)
    service.cache.put(blob, source, etag)
    return blob


def _ciphertexts(request: dict) -> list[str]:
    data = request.get("data")
    if not isinstance(data, list) or not data:
        raise RequestError("'data' must be a non-empty list of base64 ciphertexts (the client's encrypt() output)")
    if len(data) > MAX_CIPHERTEXTS:
        raise RequestError(f"'data' holds {len(data)} ciphertexts; at most {MAX_CIPHERTEXTS} are accepted")
    if not all(isinstance(item, str) and item for item in data):
        raise RequestError("every item of 'data' must be a non-empty base64 string")
    return data


def _check_for_seal(ciphertexts: list[str], key_blob: bytes, n_features: int) -> None:
    """Refuse anything the original package would abort or fail on: SEAL 3.5 exactly, the right count."""
    from heedu.inference.ei import ei_context
    from heedu.seal.wire import read_ciphertext, read_kswitch_keys, read_object

    ctx = ei_context()
    expected = -(-n_features // ctx.slot_count)
    if len(ciphertexts) != expected:
        raise RequestError(
            f"the model has {n_features} features, i.e. {expected} ciphertext(s), but {len(ciphertexts)} arrived"
        )
    for i, text in enumerate(ciphertexts):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"ciphertext {i} is not valid base64") from None
        header, _, _ = read_object(raw)
        if (header.major, header.minor) != (3, 5):
            raise RequestError(f"ciphertext {i} is SEAL {header.major}.{header.minor}; the seal backend reads 3.5 only")
        if ctx.level_of(read_ciphertext(raw, ctx).parms_id) != ctx.max_level:
            raise RequestError(f"ciphertext {i} is not a fresh encryption at the top level")
    galois_header, _, _ = read_object(key_blob)
    if (galois_header.major, galois_header.minor) != (3, 5):
        raise RequestError("the key blob is not SEAL 3.5 data")
    read_kswitch_keys(key_blob, 0, ctx, max_slots=ctx.n)


def _answer(request: dict, service: _Service) -> object:
    if request.get("protocol") is not None:
        if request.get("protocol") != NATIVE_PROTOCOL:
            raise RequestError(f"unknown protocol {request.get('protocol')!r}; this service speaks {NATIVE_PROTOCOL!r}")
        if request.get("action") == "plan":
            return {"protocol": NATIVE_PROTOCOL, "plan": service.native.plan.to_json()}
        text = _string(request, "query", limit=MAX_REQUEST_BYTES)
        try:
            query = base64.b64decode(text or "", validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("'query' is not valid base64") from None
        answer = service.native.predict(query, _fetch_keys(request, service))
        return {"protocol": NATIVE_PROTOCOL, "answer": base64.b64encode(answer).decode("ascii")}
    ciphertexts = _ciphertexts(request)
    key_blob = _fetch_keys(request, service)
    if service.backend == "seal":
        _check_for_seal(ciphertexts, key_blob, service.native.model.n_features)
    return service.ei_server.predict(ciphertexts, key_blob)


def run(raw_data: object) -> object:
    """Answer one scoring request: the result list (EI), the native answer, or a JSON error with HTTP 400."""
    from azureml_inference_server_http.api.aml_response import AMLResponse

    if _service is None:
        return AMLResponse({"error": "the service is not initialized"}, 503, json_str=True)
    try:
        return _answer(_parse(raw_data), _service)
    except (HeeduError, ValueError) as error:
        message = str(error) or type(error).__name__
        return AMLResponse({"error": message, "kind": type(error).__name__}, 400, json_str=True)
    except Exception:  # keep the worker alive; never leak internals
        logger.exception("unexpected failure while scoring")
        return AMLResponse({"error": "internal error while scoring; see the service logs"}, 500, json_str=True)
