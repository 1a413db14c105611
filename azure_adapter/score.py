r"""The Azure ML entry script (``init()`` / ``run()``) of the tutorial, with heedu as a swappable backend.

Azure ML's inference server imports this file, calls :func:`init` once per
worker, then :func:`run` with the body of every ``POST /score``.

**Backends** (environment variable ``HEEDU_BACKEND``):

* ``heedu`` (default): heedu's ``EIServer``, byte-compatible with ``encrypted-inference``;
* ``seal``: the original ``encrypted.inference.eiserver.EIServer``. heedu checks every
  ciphertext and key blob first, because the original aborts the whole worker on malformed input.

heedu's own two protocols are recognized from the request body (its ``"protocol"`` field),
whatever the backend; init() builds both servers from the model:

* ``heedu-coefficients-1``: the default, coefficient encoding
  (:class:`heedu.inference.EncryptedLinearModel`); the only key the service needs is the
  client's public key bundle, of a fixed size (``plan.key_bytes``, about 56 kB at N = 4096);
* ``heedu-native-1``: the slot protocol (:class:`heedu.inference.SlotLinearModel`; Galois keys,
  about 6 MB), under the name it had before the coefficient protocol existed.

**Requests** (JSON):

* the tutorial's, unchanged: ``{"data": [...], "key_id": ..., "conn_str": ..., "container": ...}``.
  It works, but it sends the storage account key in every request;
* secure: ``{"data": [...], "key_id": ..., "key_url": "<read-only SAS URL>"}``: no account key travels;
* secure, service-side storage: ``{"data": [...], "key_id": "sha256-..."}``, resolved with the
  service's own ``HEEDU_KEY_STORE_CONNECTION_STRING`` and ``HEEDU_KEY_STORE_CONTAINER``;
* coefficients: ``{"protocol": "heedu-coefficients-1", "query": "<base64>", "keys": "<base64>"}`` with
  the key bundle inline, or ``"key_id"`` and ``"key_url"`` (or a content-addressed ``"key_id"`` alone,
  for the service's key store) instead of ``"keys"``, fetched as for the requests above.
  Answered ``{"protocol": "heedu-coefficients-1", "answer": "<base64>"}``;
* slots: ``{"protocol": "heedu-native-1", "query": "<base64>", "key_id": ..., "key_url": ...}`` (keys by
  reference only), answered the same way;
* ``{"protocol": ..., "action": "plan"}`` returns ``{"protocol": ..., "plan": "<JSON>"}``, the public plan
  a client of that protocol needs (the client decides, not the plan, whether its parameters are secure).

Public keys are cached in a cache bounded by bytes and keyed by content hash. A
content-addressed ``key_id`` (``sha256-...``) is checked against the downloaded bytes and
served from the cache without any download. Any bad request gets HTTP 400 with a JSON error
saying what was wrong, never a crashed worker. Unexpected failures get a 500 with no internals.
Inline keys are the requester's own bytes: errors about them are specific.

**Environment variables**

* ``HEEDU_BACKEND``: ``heedu`` (default) or ``seal``, see above;
* ``HEEDU_TRUSTED_STORAGE``: comma-separated ``host[:port]`` entries (``[v6]:port``, ``*.suffix``)
  of storage the service may download keys from, besides ``*.blob.core.windows.net`` (port 443/80)
  and the account of ``HEEDU_KEY_STORE_CONNECTION_STRING``, which are always trusted. A local stack
  sets it to its Azurite, e.g. ``127.0.0.1:10000``. See :mod:`azure_adapter.storage_policy`;
* ``HEEDU_KEY_STORE_CONNECTION_STRING``, ``HEEDU_KEY_STORE_CONTAINER`` (default ``heedu-keys``):
  the service's own key store, for requests that give only a content-addressed ``key_id``;
* ``HEEDU_KEY_FETCH_SECONDS``: the deadline of one key download, connection and all reads
  together (default 5). A malformed value stops ``init()``.

**What a request cannot make the service do** (the hostile-request tests pin each down):

* contact anything but trusted storage: ``key_url`` and ``conn_str`` are checked before any
  connection (user info, IPv6 literals, trailing dots, ports, non-http schemes, backslashes,
  ``EndpointSuffix`` and ``BlobEndpoint`` all resolved to the host that would be contacted);
* hold a worker: one key download has a total deadline, no retries, no redirects;
* grow a worker's memory beyond the limits: a download stops reading at
  :data:`~azure_adapter.keys.MAX_KEY_BYTES` + 1 whatever the server declares; a ciphertext inflates
  to at most the size a top-level ciphertext of the protocol can have (both backends); inline
  ``keys`` longer than the base64 of the plan's fixed-size bundle are refused before decoding, and
  a heedu query is bounded as the whole body is (:data:`MAX_REQUEST_BYTES`);
* fetch keys for a query it would refuse: a heedu query's header (kind of message, protocol, plan)
  is checked before any key download, as EI ciphertexts are;
* compute on a query with keys it was not made with: every heedu query carries its client's key id,
  and a bundle of another client is refused (the answer would decrypt to garbage);
* learn about storage or the network from errors: every fetch or key-verification failure gets
  the same message (:data:`KEYS_UNAVAILABLE`), with no byte of fetched content; details go to the
  service log. Errors about the request's own fields stay specific;
* abort the ``seal`` backend's worker: everything the original EIServer would throw on (and so
  abort on) is checked first, and it receives only ciphertexts and keys re-serialized by heedu.
"""

from __future__ import annotations

import base64
import binascii
import glob
import json
import logging
import math
import os
import re
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

# Absolute import: the inference server loads this file by path, not as part of a package.
from azure_adapter import keys as key_exchange
from azure_adapter.storage_policy import StoragePolicy
from heedu.errors import HeeduError
from heedu.inference import EIServer as HeeduEIServer
from heedu.inference import EncryptedLinearModel, coefficients, slots
from heedu.inference.cache import ByteBoundedCache
from heedu.inference.envelope import read_envelope
from heedu.params import CKKSContext
from heedu.seal.wire import (
    HEADER,
    SealCiphertext,
    ciphertext_members,
    read_ciphertext,
    read_kswitch_keys,
    read_object,
    write_ciphertext,
    write_kswitch_keys,
)

logger = logging.getLogger("heedu.score")

MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_CIPHERTEXTS = 64
KEY_CACHE_BYTES = 96 * 1024 * 1024
SEAL_KEY_CACHE_BYTES = 48 * 1024 * 1024  # re-serialized key blobs for the seal backend (9 MB each)
COEFFICIENT_PROTOCOL = "heedu-coefficients-1"
NATIVE_PROTOCOL = "heedu-native-1"  # the slot protocol
#: heedu's protocols by request name: the server's encoding, and the magic and version its queries carry.
PROTOCOLS = {
    COEFFICIENT_PROTOCOL: ("coefficients", coefficients.QUERY_MAGIC, coefficients.PROTOCOL_VERSION),
    NATIVE_PROTOCOL: ("slots", slots.QUERY_MAGIC, slots.PROTOCOL_VERSION),
}
SPOKEN = (
    f"{COEFFICIENT_PROTOCOL!r} (coefficient encoding, the default) and {NATIVE_PROTOCOL!r} (slot encoding), "
    "or no 'protocol' field for the tutorial's EI requests"
)
BACKENDS = ("heedu", "seal")
FETCH_SECONDS_ENV = "HEEDU_KEY_FETCH_SECONDS"
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,255}$")  # a blob name without '/', '?', '%' or dots-only
CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # Azure's container naming rule
KEYS_UNAVAILABLE = (
    "the public keys could not be fetched or verified: check that key_url is an unexpired, read-only SAS "
    "URL (or conn_str and container name a blob) in storage this service trusts, and that the blob holds "
    "the client's public keys exactly as its get_public_keys()/public_keys() made them"
)
"""The one answer for every refused, failed or unverifiable key download: text that says nothing about
what was fetched, or whether an address answered, so errors cannot serve as a port scanner or a reader."""


class RequestError(HeeduError, ValueError):
    """The request is malformed: answered with HTTP 400 and this message."""


class KeyCache:
    """Key blobs by content hash in heedu's byte-bounded LRU cache, plus aliases to them; thread-safe.

    An alias (``source``, ``etag``) -> content id lets a blob be found by where it came from; it
    answers only while the blob it names is still cached.
    """

    def __init__(self, max_bytes: int = KEY_CACHE_BYTES) -> None:
        self._blobs: ByteBoundedCache[str, bytes] = ByteBoundedCache(max_bytes, size_of=len)
        # At most as many aliases as blobs could ever fit at the smallest (one per kilobyte), LRU too.
        self._aliases: ByteBoundedCache[tuple[str, str], str] = ByteBoundedCache(
            max(1, max_bytes // 1024), size_of=lambda _: 1
        )

    @property
    def max_bytes(self) -> int:
        return self._blobs.max_bytes

    @property
    def size(self) -> int:
        return self._blobs.size

    def get(self, content_id: str) -> bytes | None:
        return self._blobs.get(content_id)

    def alias(self, source: str, etag: str) -> str | None:
        content_id = self._aliases.get((source, etag))
        return content_id if content_id is not None and self._blobs.get(content_id) is not None else None

    def put(self, blob: bytes, source: str | None = None, etag: str | None = None) -> str:
        content_id = key_exchange.content_key_id(blob)
        self._blobs.put(content_id, blob)
        if source is not None and etag is not None:
            self._aliases.put((source, etag), content_id)
        return content_id


class _Service:
    """What init() builds once per worker. (A plain class: the server loads this file by path, under
    another module name, where dataclasses cannot resolve postponed annotations.)

    ``heedu_ei`` is heedu's EIServer for the model: the backend itself, or with ``seal`` a twin whose
    parser checks keys and ciphertexts before the original sees them. ``seal_keys`` holds the key
    blobs re-serialized for the original (content id of the client's blob -> heedu's bytes).
    ``protocols`` maps each name of :data:`PROTOCOLS` to its heedu server for the model.
    """

    def __init__(
        self,
        backend: str,
        ei_server: Any,
        heedu_ei: HeeduEIServer,
        protocols: dict[str, Any],
        policy: StoragePolicy,
        fetch_seconds: float,
        key_store: tuple[str, str] | None,
    ) -> None:
        self.backend, self.ei_server, self.heedu_ei, self.protocols = backend, ei_server, heedu_ei, protocols
        self.policy, self.fetch_seconds, self.key_store = policy, fetch_seconds, key_store
        self.cache = KeyCache()
        self.seal_keys = KeyCache(SEAL_KEY_CACHE_BYTES)
        self.ei_cap = ei_ciphertext_cap(heedu_ei.context)
        self.max_input_scale = largest_input_scale(heedu_ei.bias, heedu_ei.context)


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
    try:
        policy = StoragePolicy.from_environment()
    except ValueError as error:
        raise RuntimeError(f"cannot tell which storage to trust: {error}") from None
    fetch_seconds = _fetch_seconds(os.environ.get(FETCH_SECONDS_ENV))
    store = os.environ.get("HEEDU_KEY_STORE_CONNECTION_STRING")
    key_store = (store, os.environ.get("HEEDU_KEY_STORE_CONTAINER", "heedu-keys")) if store else None
    with warnings.catch_warnings():  # the tutorial's pickle comes from an older scikit-learn
        warnings.simplefilter("ignore")
        model = joblib.load(_find_model_file())
    heedu_ei = HeeduEIServer(model.coef_, model.intercept_)
    if backend == "seal":
        from encrypted.inference.eiserver import EIServer as SealEIServer

        ei_server: Any = SealEIServer(model.coef_, model.intercept_)
    else:
        ei_server = heedu_ei
    servers = {name: EncryptedLinearModel.from_sklearn(model, encoding=kind) for name, (kind, *_) in PROTOCOLS.items()}
    _service = _Service(backend, ei_server, heedu_ei, servers, policy, fetch_seconds, key_store)
    logger.info("heedu scoring service ready (backend %s, %r, key fetch deadline %g s)", backend, policy, fetch_seconds)


def _fetch_seconds(text: str | None) -> float:
    """The key-download deadline from ``HEEDU_KEY_FETCH_SECONDS``: a positive number of seconds, at most 60."""
    if text is None or not text.strip():
        return key_exchange.FETCH_DEADLINE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= 60:
        raise RuntimeError(f"{FETCH_SECONDS_ENV} must be a number of seconds in (0, 60], got {text!r}")
    return seconds


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


def _key_id(request: dict) -> str:
    key_id = _string(request, "key_id", limit=256)
    assert key_id is not None
    if not KEY_ID.match(key_id):
        raise RequestError("'key_id' must be a blob name of letters, digits, '.', '_', '=' and '-'")
    return key_id


def _keys_unavailable(detail: str) -> key_exchange.KeyExchangeError:
    """The generic error for the requester; the detail for the operator only (it never holds secrets)."""
    logger.warning("public keys refused: %s", detail)
    return key_exchange.KeyExchangeError(KEYS_UNAVAILABLE)


def _fetch_keys(request: dict, service: _Service) -> bytes:
    """The key blob for this request, from the cache when possible; verified when content-addressed."""
    key_id = _key_id(request)
    if key_exchange.is_content_key_id(key_id):
        cached = service.cache.get(key_id)
        if cached is not None:
            return cached
    try:
        blob, source, etag = _download_keys(request, service, key_id)
        key_exchange.verify_content(key_id, blob)
    except key_exchange.KeyExchangeError as error:
        raise _keys_unavailable(str(error)) from None
    service.cache.put(blob, source, etag)
    return blob


def _download_keys(request: dict, service: _Service, key_id: str) -> tuple[bytes, str, str]:
    """``(blob, source, etag)`` through ``key_url``, ``conn_str`` and ``container``, or the service's own store."""
    key_url = _string(request, "key_url", required=False, limit=8192)
    conn_str = _string(request, "conn_str", required=False)
    policy, deadline = service.policy, service.fetch_seconds
    if key_url is not None:
        blob, etag = key_exchange.fetch_by_sas_url(key_url, policy, deadline_seconds=deadline)
        return blob, key_url.split("?", 1)[0], etag
    if conn_str is not None:
        container = _string(request, "container", limit=63)
        if container is None or not CONTAINER.match(container):
            raise RequestError("'container' must be an Azure container name (3-63 of a-z, 0-9 and '-')")
        blob, etag = key_exchange.fetch_by_connection_string(
            conn_str, container, key_id, policy, deadline_seconds=deadline
        )
        return blob, f"{container}/{key_id}", etag
    if service.key_store is None:
        raise RequestError("give 'key_url' (a read-only SAS URL for the key blob); this service has no key store")
    store, container = service.key_store
    blob, etag = key_exchange.fetch_by_connection_string(store, container, key_id, policy, deadline_seconds=deadline)
    return blob, f"store:{container}/{key_id}", etag


def _ciphertexts(request: dict) -> list[str]:
    data = request.get("data")
    if not isinstance(data, list) or not data:
        raise RequestError("'data' must be a non-empty list of base64 ciphertexts (the client's encrypt() output)")
    if len(data) > MAX_CIPHERTEXTS:
        raise RequestError(f"'data' holds {len(data)} ciphertexts; at most {MAX_CIPHERTEXTS} are accepted")
    if not all(isinstance(item, str) and item for item in data):
        raise RequestError("every item of 'data' must be a non-empty base64 string")
    return data


# ------------------------------------------------------------------- the EI protocol's checks


def ei_ciphertext_cap(context: CKKSContext) -> int:
    """The most bytes an EI ciphertext can take, stored or inflated: size 2 at the top level, not seeded.

    Measured on heedu's own writer (no layout arithmetic repeated here), plus zlib's worst-case
    expansion of incompressible data (``compressBound``) and the object header. For the tutorial's
    parameters, N = 8192 and three data primes: 393,454 bytes. Both backends inflate no more than
    this, so a small zlib bomb costs the worker about 0.4 MB, not the 256 MiB SEAL objects may hold.
    """
    level = context.max_level
    widest = SealCiphertext(
        context.parms_id(level),
        np.zeros((2, len(context.ring(level).moduli), context.poly_modulus_degree), dtype=np.uint64),
        1.0,
    )
    members = len(ciphertext_members(widest))
    return HEADER.size + members + (members >> 12) + (members >> 14) + (members >> 25) + 13


def _int_log2(value: float) -> int:
    """``static_cast<int>(log2(value))`` as SEAL computes it (the same libm, truncation toward zero)."""
    return int(math.log2(value))


def seal_accepts_scale(scale: float, biases: Iterable[float], context: CKKSContext) -> bool:
    """Whether SEAL 3.5 runs the EI computation on an input of this scale without throwing.

    The original EIServer multiplies the input by the weights encoded at ``context.scale``
    (2^40), rescales by the last data prime, and adds each bias encoded at the result's scale.
    SEAL throws, and the worker aborts, when (1) the product's scale has ``int(log2)`` at
    least the bit count of the top level's modulus (140 bits): "scale out of bounds"; (2) the
    rescaled scale reaches the next level's (100 bits): "scale out of bounds" in the encoder;
    (3) ``int(log2(|bias| * scale)) + 2`` reaches it: "encoded value is too large". So the
    bound depends on the model's biases: about 2^100 for small biases, 2^98 / |bias| above 1/4.
    This mirrors those checks operation for operation, in doubles, so the bound is exact.
    """
    top = context.ring(context.max_level).moduli
    below = context.ring(context.max_level - 1).moduli
    top_bits, below_bits = math.prod(top).bit_length(), math.prod(below).bit_length()
    product = scale * context.scale
    if not (math.isfinite(product) and product > 0) or _int_log2(product) >= top_bits:
        return False
    rescaled = product / float(top[-1])
    if _int_log2(rescaled) >= below_bits:
        return False
    return all(_int_log2(abs(bias * rescaled)) + 2 < below_bits for bias in biases if bias != 0)


def largest_input_scale(biases: Iterable[float], context: CKKSContext) -> float:
    """The largest scale :func:`seal_accepts_scale` admits, to the last bit; 0.0 if not even 1 fits.

    The checks are monotone in the scale, and positive doubles sort as their bit patterns do,
    so a bisection over those patterns (64 steps) finds the exact bound.
    """
    biases = list(biases)

    def bits(value: float) -> int:
        return int.from_bytes(struct.pack("<d", value), "little")

    def value(pattern: int) -> float:
        return float(struct.unpack("<d", pattern.to_bytes(8, "little"))[0])

    low, high = bits(1.0), bits(math.inf)
    if not seal_accepts_scale(1.0, biases, context):
        return 0.0  # a bias near 2^97: no EI input can be computed on, so every one is refused
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if seal_accepts_scale(value(middle), biases, context) else (low, middle)
    return value(low)


def _check_ei_ciphertexts(texts: list[str], service: _Service) -> list[SealCiphertext]:
    """Parse the request's ciphertexts and refuse any that either backend could not compute on.

    The same checks for both backends: the count the model needs, the size cap before and
    while inflating, a fresh size-2 encryption at the top level, a scale that leaves room for
    the computation. The seal backend also reads SEAL 3.5 only.
    """
    ei = service.heedu_ei
    ctx = ei.context
    n_features = ei.weights.shape[1]
    expected = -(-n_features // ctx.slot_count)
    if len(texts) != expected:
        raise RequestError(
            f"the model has {n_features} features, i.e. {expected} ciphertext(s), but {len(texts)} arrived"
        )
    cap = service.ei_cap
    parsed = []
    for i, text in enumerate(texts):
        if len(text) > 4 * -(-cap // 3):
            raise RequestError(f"ciphertext {i} is {len(text)} base64 characters; a ciphertext has at most {cap} bytes")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"ciphertext {i} is not valid base64") from None
        header, _, _ = read_object(raw, max_bytes=cap)  # inflates no more than cap bytes: zlib bombs stop here
        if service.backend == "seal" and (header.major, header.minor) != (3, 5):
            raise RequestError(f"ciphertext {i} is SEAL {header.major}.{header.minor}; the seal backend reads 3.5 only")
        sealed = read_ciphertext(raw, ctx)
        if ctx.level_of(sealed.parms_id) != ctx.max_level:
            raise RequestError(f"ciphertext {i} is not a fresh encryption at the top level")
        if sealed.data.shape[0] != 2:
            raise RequestError(f"ciphertext {i} has {sealed.data.shape[0]} polynomials; a fresh encryption has 2")
        if sealed.scale > service.max_input_scale:
            raise RequestError(
                f"ciphertext {i} has scale {sealed.scale:.6g}; this model's computation leaves room for at most "
                f"{service.max_input_scale:.6g} (fresh encryptions use 2^{math.log2(ctx.scale):.0f})"
            )
        parsed.append(sealed)
    return parsed


def _seal_versions(blob: bytes, count: int) -> list[tuple[int, int]]:
    """The versions in the headers of the first ``count`` top-level SEAL objects of a blob already parsed."""
    versions, offset = [], 0
    for _ in range(count):
        _, _, major, minor, _, _, size = HEADER.unpack_from(blob, offset)
        versions.append((major, minor))
        offset += size
    return versions


def _reserialize_for_seal(blob: bytes, context: CKKSContext) -> bytes:
    """GaloisKeys and RelinKeys as heedu writes them: the original only ever parses bytes heedu made.

    heedu's reader accepts what SEAL 3.5 aborts on (nested objects of another version, for
    one); writing the parsed keys back leaves no such difference for the original to meet.
    """
    galois, offset = read_kswitch_keys(blob, 0, context, max_slots=context.poly_modulus_degree)
    relin, _ = read_kswitch_keys(blob, offset, context, max_slots=8)
    galois_slots = [galois.get(i, []) for i in range(context.poly_modulus_degree)]  # SEAL's GaloisKeys have N slots
    relin_slots = [relin.get(i, []) for i in range(max(relin) + 1)]
    return write_kswitch_keys(context.key_parms_id, galois_slots) + write_kswitch_keys(
        context.key_parms_id, relin_slots
    )


def _ei_public_keys(blob: bytes, service: _Service) -> bytes:
    """The key blob to give the EI backend, after heedu's own checks (every ladder rotation, RelinKeys).

    Fetched content: any failure gets :data:`KEYS_UNAVAILABLE`, since the reader's messages
    quote the blob (its magic bytes, sizes) and the blob may be any blob in a container.
    With ``seal``, the checked blob is re-serialized once and kept by content id: a client's
    later requests cost neither the checks nor the re-serialization.
    """
    ei = service.heedu_ei
    content_id = key_exchange.content_key_id(blob) if service.backend == "seal" else ""
    if content_id:
        canonical_id = service.seal_keys.alias(content_id, "reserialized")
        canonical = service.seal_keys.get(canonical_id) if canonical_id is not None else None
        if canonical is not None:
            return canonical
    try:
        ei.load_public_keys(blob)  # parsed and cached by hash: the heedu backend's predict() finds them there
        if not content_id:
            return blob
        if _seal_versions(blob, 2) != [(3, 5), (3, 5)]:
            raise _keys_unavailable("the key blob is not SEAL 3.5 data")
        canonical = _reserialize_for_seal(blob, ei.context)
    except key_exchange.KeyExchangeError:
        raise
    except HeeduError as error:
        raise _keys_unavailable(f"the key blob is not valid EI public keys: {error}") from None
    service.seal_keys.put(canonical, content_id, "reserialized")
    return canonical


def _shown(value: object) -> str:
    """A request's value in an error message, cut short (a field may be megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _heedu_query(request: dict, protocol: str, server: Any) -> bytes:
    """The decoded query, its header checked against the protocol and plan before any key is fetched."""
    text = _string(request, "query", limit=MAX_REQUEST_BYTES)
    try:
        query = base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("'query' is not valid base64") from None
    _, magic, version = PROTOCOLS[protocol]
    try:
        read_envelope(query, magic, version, server.plan.fingerprint, "query")
    except HeeduError as error:
        raise RequestError(f"'query' is not a query of {protocol!r} for this model: {error}") from None
    return query


def _inline_keys(request: dict, protocol: str, server: Any) -> bytes:
    """The key bundle given in the request itself: bounded by the plan's fixed size before it is decoded."""
    if protocol != COEFFICIENT_PROTOCOL:
        raise RequestError(
            f"{protocol!r} takes its key bundle (megabytes of Galois keys) by 'key_id' and 'key_url' only; "
            f"inline 'keys' are for {COEFFICIENT_PROTOCOL!r}"
        )
    if any(request.get(name) is not None for name in ("key_id", "key_url", "conn_str")):
        raise RequestError("give the key bundle inline ('keys') or by reference ('key_id' and 'key_url'), not both")
    text, size = request["keys"], server.plan.key_bytes
    chars = 4 * -(-size // 3)
    if not isinstance(text, str) or not text:
        raise RequestError("'keys' must be a base64 string: the client's public_keys()")
    if len(text) > chars:
        raise RequestError(
            f"'keys' is {len(text)} base64 characters; this model's key bundle is {size} bytes ({chars} characters): "
            "send the client's public_keys(), nothing else"
        )
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("'keys' is not valid base64") from None
    try:
        server.load_keys(blob)  # cached by hash; predict() finds them there
    except HeeduError as error:
        raise RequestError(f"'keys' is not a public key bundle for this model: {error}") from None
    return blob


def _fetched_keys(request: dict, protocol: str, server: Any, service: _Service) -> bytes:
    """The key bundle from storage (or the cache), checked before the query is computed on; generic errors."""
    blob = _fetch_keys(request, service)
    try:
        server.load_keys(blob)  # cached by hash; predict() finds them there
    except HeeduError as error:
        raise _keys_unavailable(f"the key blob is not a valid {protocol} key bundle: {error}") from None
    return blob


def _heedu_answer(request: dict, service: _Service) -> dict:
    """A request of heedu's own protocols: the plan, or the answer to a query."""
    protocol = request["protocol"]
    server = service.protocols.get(protocol) if isinstance(protocol, str) else None
    if server is None:
        raise RequestError(f"unknown protocol {_shown(protocol)}; this service speaks {SPOKEN}")
    action = request.get("action")
    if action == "plan":
        return {"protocol": protocol, "plan": server.plan.to_json()}
    if action is not None:
        raise RequestError(f"unknown action {_shown(action)}; the one action is 'plan' (omit it to send a 'query')")
    query = _heedu_query(request, protocol, server)  # before the download: a bad query costs no fetch
    if request.get("keys") is not None:
        keys = _inline_keys(request, protocol, server)
    elif request.get("key_id") is None:
        inline = "inline as 'keys' (base64 of public_keys()), or " if protocol == COEFFICIENT_PROTOCOL else ""
        raise RequestError(f"the request lacks the client's key bundle: give it {inline}by 'key_id' and 'key_url'")
    else:
        keys = _fetched_keys(request, protocol, server, service)
    answer = server.predict(query, keys)
    return {"protocol": protocol, "answer": base64.b64encode(answer).decode("ascii")}


def _answer(request: dict, service: _Service) -> object:
    if request.get("protocol") is not None:
        return _heedu_answer(request, service)
    texts = _ciphertexts(request)
    parsed = _check_ei_ciphertexts(texts, service)  # before the download: a bad request costs no fetch
    keys = _ei_public_keys(_fetch_keys(request, service), service)
    if service.backend == "seal":
        # The original gets heedu's serialization of what was checked, never the client's bytes.
        texts = [base64.b64encode(write_ciphertext(sealed)).decode("ascii") for sealed in parsed]
    return service.ei_server.predict(texts, keys)


def run(raw_data: object) -> object:
    """Answer one scoring request: the result list (EI), a heedu plan or answer, or a JSON error with HTTP 400."""
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
