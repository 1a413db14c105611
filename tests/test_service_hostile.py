"""Hostile requests against the real local stack (Azurite + azmlinfsrv on 127.0.0.1), on both backends.

Every request an attacker could send (the audit's items and the ordinary malformed kinds) must get
a 4xx JSON error, leave the worker process alive (same PID) and not slow or grow it beyond its
bounds; valid requests, alone or mixed with hostile ones from eight concurrent clients, must still
be answered correctly. That holds for the three protocols the service recognizes from the body:
the tutorial's EI requests, heedu's coefficient protocol (``heedu-coefficients-1``, keys inline or
by reference) and its slot protocol (``heedu-native-1``). The ``seal`` backend is the original
``encrypted-inference`` EIServer, which aborts its whole worker on any C++ exception: there a
missed check shows up as a changed PID.

The model is a binary classifier on 64 pixel features (one class score), which keeps the original
package's answers to about a second each. The service trusts, besides Azurite, one hostile storage
server (``HostileStorage``) and its own port, so that the download limits are reached for real; a
second, untrusted listener (the *bystander*) must never see a connection.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import struct
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

pytest.register_assert_rewrite("tests.azure_stack")
sklearn = pytest.importorskip("sklearn")
pytest.importorskip("azure.storage.blob", reason="azure-storage-blob is part of heedu's azure extra")

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from azure_adapter.client import CoefficientServiceClient, NativeServiceClient, ServiceError, post_json  # noqa: E402
from azure_adapter.keys import MAX_KEY_BYTES, content_key_id, read_only_sas_url, upload_public_keys  # noqa: E402
from azure_adapter.local_stack import AzuriteServer, InferenceServer, free_port  # noqa: E402
from azure_adapter.score import KEYS_UNAVAILABLE, largest_input_scale  # noqa: E402
from heedu.inference import EILinearRegressionClient, EncryptedLinearModel, InferenceClient, LinearModel  # noqa: E402
from heedu.inference.ei import ROTATION_LADDER, ei_context  # noqa: E402
from heedu.seal import wire  # noqa: E402
from tests.azure_stack import HostileStorage, PeakRss, post_raw  # noqa: E402

pytest_plugins = ["tests.azure_stack"]
pytestmark = pytest.mark.slow

SCORE_PY = Path(__file__).resolve().parent.parent / "azure_adapter" / "score.py"
CONTAINER = "heedu-keys"
DEADLINE = 2.0  # HEEDU_KEY_FETCH_SECONDS for these services (the default, 5 s, is pinned in test_score_unit.py)
KEY_FLAWS = (
    "galois missing +1024",
    "galois for 64 slots",
    "relin missing",
    "relin garbage",
    "relin empty",
    "relin truncated",
    "bytes after relin",
)
KEY_VERSIONS = ("key version 3.4", "relin version 4.0")


# ------------------------------------------------------------------------------------ the stack


@dataclasses.dataclass
class Model:
    folder: Path
    estimator: LogisticRegression
    x: np.ndarray

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.ravel(self.estimator.decision_function(np.atleast_2d(rows)))


@dataclasses.dataclass
class EIIdentity:
    """One EI client whose keys are in Azurite: what a legitimate caller of the tutorial's protocol holds."""

    client: Any  # heedu's EILinearRegressionClient, or the original package's (same methods)
    key_id: str
    key_url: str

    def body(self, row: np.ndarray) -> dict:
        return {"data": self.client.encrypt(row), "key_id": self.key_id, "key_url": self.key_url}


@dataclasses.dataclass
class Service:
    backend: str
    server: InferenceServer
    workers: list[int]  # the worker PIDs right after start: every test checks they are still the same

    @property
    def uri(self) -> str:
        return self.server.scoring_uri

    def assert_workers_unchanged(self, context: str = "") -> None:
        assert sorted(self.server.worker_pids()) == self.workers, f"{self.backend}: a worker was lost {context}"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    digits = load_digits()
    binary = digits.target < 2
    x, y = digits.data[binary] / 16.0, digits.target[binary]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = LogisticRegression(max_iter=300).fit(x[:300], y[:300])
    folder = tmp_path_factory.mktemp("binary-model")
    (folder / "digits01" / "1").mkdir(parents=True)
    joblib.dump(estimator, folder / "digits01" / "1" / "model.pkl")
    return Model(folder, estimator, x[300:])


def _identity(client: Any, azurite: AzuriteServer) -> EIIdentity:
    _, blob = client.get_public_keys()
    key_id = upload_public_keys(azurite.connection_string, CONTAINER, blob)
    return EIIdentity(client, key_id, read_only_sas_url(azurite.connection_string, CONTAINER, key_id))


@pytest.fixture(scope="module")
def ei(azurite: AzuriteServer) -> EIIdentity:
    return _identity(EILinearRegressionClient(), azurite)


@pytest.fixture(scope="module")
def original_ei(azurite: AzuriteServer) -> EIIdentity | None:
    """A client of the original encrypted-inference package, when it is installed (its bytes, SEAL's own)."""
    try:
        from encrypted.inference.eiclient import EILinearRegressionClient as OriginalClient
    except ImportError:
        return None
    return _identity(OriginalClient(), azurite)


@pytest.fixture(scope="module", params=["heedu", "seal"])
def service(request, inference_server, azurite: AzuriteServer, model: Model, hostile: HostileStorage) -> Service:
    backend = request.param
    if backend == "seal":
        pytest.importorskip("encrypted.inference.eiserver", reason="the seal backend needs encrypted-inference==0.9")
    port = free_port()
    # Its own port is trusted on purpose: the deadline must hold even for a download from itself.
    env = {
        "HEEDU_BACKEND": backend,
        "HEEDU_TRUSTED_STORAGE": f"{hostile.authority},127.0.0.1:{port}",
        "HEEDU_KEY_FETCH_SECONDS": str(DEADLINE),
    }
    server = inference_server(SCORE_PY, model.folder, env, azurite=azurite, port=port)
    return Service(backend, server, sorted(server.worker_pids()))


def _assert_valid_requests_answered(service: Service, ei: EIIdentity, azurite: AzuriteServer, model: Model) -> None:
    row = model.x[0]
    scores = ei.client.decrypt(post_json(service.uri, ei.body(row), retries=0))
    np.testing.assert_allclose(scores, model.scores(row), atol=1e-4)
    native = NativeServiceClient(service.uri, azurite.connection_string, CONTAINER)
    np.testing.assert_allclose(np.ravel(native.scores(model.x[1:4])), model.scores(model.x[1:4]), atol=1e-4)
    for coefficient in (
        CoefficientServiceClient(service.uri, azurite.connection_string, CONTAINER),
        CoefficientServiceClient(service.uri, inline_keys=True),
    ):
        np.testing.assert_allclose(coefficient.scores(model.x[1:4]), model.scores(model.x[1:4]), atol=1e-4)


# ------------------------------------------------------------------------------------ hostile inputs


@dataclasses.dataclass
class Case:
    """One hostile request and what its answer must show."""

    name: str
    body: bytes
    says: str | None = None  # a phrase the error must contain; None with generic=True: exactly KEYS_UNAVAILABLE
    generic: bool = False
    hides: str | None = None  # text that must not appear anywhere in the answer
    seconds: float = 4.0  # the answer must come within this (refusals are immediate; downloads meet the deadline)
    at_least: float = 0.0  # and not before this (a download that stalls is waited for until the deadline)
    backends: tuple[str, ...] = ("heedu", "seal")


def _json(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _with_version(data: bytes, offset: int, major: int, minor: int) -> bytes:
    """A SEAL header at ``offset`` relabelled with another version (nothing else changed)."""
    patched = bytearray(data)
    magic, header_size, _, _, compr_mode, reserved, size = wire.HEADER.unpack_from(data, offset)
    wire.HEADER.pack_into(patched, offset, magic, header_size, major, minor, compr_mode, reserved, size)
    return bytes(patched)


@dataclasses.dataclass
class Materials:
    """Hostile ciphertexts and key blobs, made once per module (key variants are 9 MB each)."""

    texts: dict[str, str]
    key_urls: dict[str, tuple[str, str]]  # name -> (key_id, SAS URL) of a key-blob variant in Azurite
    foreign: tuple[str, str]  # (name, SAS URL) of a blob in the container that is not keys at all


@pytest.fixture(scope="module")
def materials(ei: EIIdentity, azurite: AzuriteServer, model: Model) -> Materials:
    ctx = ei_context()
    good = ei.body(model.x[0])["data"][0]
    sealed = wire.read_ciphertext(base64.b64decode(good), ctx)
    members = wire.ciphertext_members(dataclasses.replace(sealed, seed=None))
    nested_offset = 32 + struct.calcsize("<BQQQd")  # the coefficient array follows parms_id and metadata
    inside = largest_input_scale(model.estimator.intercept_, ctx)

    def text(**changes: object) -> str:
        return _b64(wire.write_ciphertext(dataclasses.replace(sealed, **changes)))

    texts = {
        "size 3": _b64(
            wire.write_ciphertext(wire.SealCiphertext(sealed.parms_id, sealed.data[[0, 1, 1]], sealed.scale))
        ),
        "scale 2^100": text(scale=2.0**100),
        "scale 2^120": text(scale=2.0**120),
        "scale just outside": text(scale=math.nextafter(inside, math.inf)),
        "scale just inside": text(scale=inside),
        "version 4.0": _b64(_with_version(base64.b64decode(good), 0, 4, 0)),
        "nested version 3.4": _b64(wire.write_object(_with_version(members, nested_offset, 3, 4))),
        "nested version 4.0": _b64(wire.write_object(_with_version(members, nested_offset, 4, 0))),
        "zlib bomb": _b64(wire.write_object(bytes(192 * 1024 * 1024))),  # 187 KB that inflate to 192 MiB
    }

    _, blob = ei.client.get_public_keys()
    galois, relin_offset = wire.read_kswitch_keys(blob, 0, ctx, max_slots=ctx.poly_modulus_degree)
    relin_blob = blob[relin_offset:]

    def galois_keys(keep: Callable[[int], bool], width: int = ctx.poly_modulus_degree) -> bytes:
        return wire.write_kswitch_keys(ctx.key_parms_id, [galois.get(i, []) if keep(i) else [] for i in range(width)])

    missing = (pow(3, ROTATION_LADDER[10], 2 * ctx.poly_modulus_degree) - 1) // 2  # the key for +1024
    variants = {
        "galois missing +1024": galois_keys(lambda i: i != missing) + relin_blob,
        "galois for 64 slots": galois_keys(lambda i: True, 64) + relin_blob,
        "relin missing": blob[:relin_offset],
        "relin garbage": blob[:relin_offset] + bytes(64),
        "relin empty": blob[:relin_offset] + wire.write_kswitch_keys(ctx.key_parms_id, []),
        "relin truncated": blob[:-100],
        "bytes after relin": blob + b"junk",
        "key version 3.4": _with_version(blob, 0, 3, 4),
        "relin version 4.0": blob[:relin_offset] + _with_version(relin_blob, 0, 4, 0),
        "nested key version 3.4": _nested_key_version(blob, relin_offset, 3, 4),
    }
    key_urls = {}
    for name, variant in variants.items():
        key_id = upload_public_keys(azurite.connection_string, CONTAINER, variant)
        key_urls[name] = (key_id, read_only_sas_url(azurite.connection_string, CONTAINER, key_id))
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(CONTAINER)
    container.upload_blob("foreign-blob", b"\xcd\xab" + b"private bytes of some other blob" * 8, overwrite=True)
    foreign = ("foreign-blob", read_only_sas_url(azurite.connection_string, CONTAINER, "foreign-blob"))
    return Materials(texts, key_urls, foreign)


def _nested_key_version(blob: bytes, relin_offset: int, major: int, minor: int) -> bytes:
    """The key blob with the header of one nested PublicKey object (inside the zlib stream) relabelled."""
    _, members, _ = wire.read_object(blob)
    first = 32 + 8 + 8 * 2  # parms_id, dim1, the empty slot 0's dim2, slot 1's dim2: slot 1 (+1) comes first
    assert struct.unpack_from("<Q", members, 40)[0] == 0 and struct.unpack_from("<Q", members, 48)[0] == 3
    assert struct.unpack_from("<H", members, first)[0] == wire.SEAL_MAGIC
    return wire.write_object(_with_version(members, first, major, minor)) + blob[relin_offset:]


def _cases(
    service: Service,
    ei: EIIdentity,
    m: Materials,
    azurite: AzuriteServer,
    hostile: HostileStorage,
    bystander: HostileStorage,
    model: Model,
) -> list[Case]:
    good = ei.body(model.x[0])
    data = good["data"]
    blob_service = BlobServiceClient.from_connection_string(azurite.connection_string)
    account_key = blob_service.credential.account_key
    now = dt.datetime.now(dt.timezone.utc)
    _, fresh_blob = EILinearRegressionClient().get_public_keys()
    fresh_id = upload_public_keys(azurite.connection_string, CONTAINER, fresh_blob)
    impostor = content_key_id(b"other bytes")
    blob_service.get_container_client(CONTAINER).upload_blob(impostor, fresh_blob, overwrite=True)

    def sas(name: str, permission: BlobSasPermissions, expiry: dt.datetime) -> str:
        token = generate_blob_sas(
            blob_service.account_name, CONTAINER, name, account_key=account_key, permission=permission, expiry=expiry
        )
        return f"{blob_service.get_blob_client(CONTAINER, name).url}?{token}"

    def with_text(name: str) -> bytes:
        return _json(**{**good, "data": [m.texts[name]]})

    def with_keys(name: str) -> bytes:
        key_id, key_url = m.key_urls[name]
        return _json(**{**good, "key_id": key_id, "key_url": key_url})

    def fetch(url: str, key_id: str | None = None) -> bytes:
        return _json(**{**good, "key_id": key_id or content_key_id(url.encode()), "key_url": url})

    def conn(conn_str: str, container: str = CONTAINER) -> bytes:
        return _json(data=data, key_id=content_key_id(conn_str.encode()), conn_str=conn_str, container=container)

    later, earlier = now + dt.timedelta(hours=1), now - dt.timedelta(hours=1)
    unknown = content_key_id(b"nobody")
    b, a = bystander.port, azurite.port
    closed = free_port()
    own = service.server.port
    native = NativeServiceClient(service.uri, azurite.connection_string, CONTAINER)
    native_query = _b64(native.client.encrypt(model.x[0]))
    native_good = {
        "protocol": "heedu-native-1",
        "query": native_query,
        "key_id": native.key_id,
        "key_url": native.key_url,
    }
    native_keys = native.client.public_keys()
    # The coefficient protocol: a client whose keys are in Azurite; its query, with them by reference or inline.
    coefficient = CoefficientServiceClient(service.uri, azurite.connection_string, CONTAINER)
    by_reference = coefficient.request(model.x[0])
    coefficient_query, bundle = by_reference["query"], coefficient.client.public_keys()
    inline = {"protocol": "heedu-coefficients-1", "query": coefficient_query, "keys": _b64(bundle)}
    coefficient_answer = post_json(service.uri, inline, retries=0)["answer"]
    other_client = InferenceClient(coefficient.plan)
    other_model = InferenceClient(EncryptedLinearModel(LinearModel(np.ones((1, 64)), np.zeros(1))).plan)
    raw_query = base64.b64decode(coefficient_query)

    def keys_by(key_id: str, key_url: str) -> bytes:
        return _json(protocol="heedu-coefficients-1", query=coefficient_query, key_id=key_id, key_url=key_url)

    key = account_key
    deadline = {"seconds": DEADLINE + 3.0, "at_least": DEADLINE * 0.9}  # waited for the deadline, then gave up

    return [
        # -------- the request's own fields (specific messages)
        Case("not JSON", b"{this is not json", says="JSON"),
        Case("a JSON list", b"[1, 2, 3]", says="JSON object"),
        Case("oversized body", _json(**{**good, "padding": "x" * (17 * 1024 * 1024)}), says="at most"),
        Case("missing data", _json(key_id=ei.key_id, key_url=ei.key_url), says="'data'"),
        Case("data not a list", _json(**{**good, "data": "abc"}), says="'data'"),
        Case("empty data", _json(**{**good, "data": []}), says="'data'"),
        Case("data item not a string", _json(**{**good, "data": [42]}), says="base64 string"),
        Case("non-base64 ciphertext", _json(**{**good, "data": ["***not base64***"]}), says="base64"),
        Case("garbage ciphertext", _json(**{**good, "data": [_b64(bytes(64))]}), says="SEAL"),
        Case("truncated ciphertext", _json(**{**good, "data": [data[0][: len(data[0]) // 2]]})),
        Case("two ciphertexts for 64 features", _json(**{**good, "data": data * 2}), says="features"),
        Case("too many ciphertexts", _json(**{**good, "data": data * 65}), says="at most"),
        Case("oversized ciphertext", _json(**{**good, "data": ["A" * 600_000]}), says="at most"),
        Case("missing key_id", _json(data=data, key_url=ei.key_url), says="key_id"),
        Case("key_id with a path", _json(**{**good, "key_id": "../other/blob"}), says="key_id"),
        Case("bad container", conn("x", container="../C"), says="container"),
        Case("unknown protocol", _json(protocol="heedu-native-9", query="AAAA", key_id="k"), says="protocol"),
        Case("unknown protocol lists those spoken", _json(protocol="x" * 100_000), says="heedu-coefficients-1"),
        Case("protocol not a string", _json(protocol=["heedu-coefficients-1"], query="AAAA"), says="protocol"),
        Case("unknown action", _json(protocol="heedu-coefficients-1", action="keys"), says="action"),
        Case("native garbage query", _json(**{**native_good, "query": _b64(b"junk")}), says="query"),
        # -------- the coefficient protocol's own fields (specific messages: inline keys are the requester's bytes)
        Case("coefficients: query not a string", _json(**{**inline, "query": 7}), says="'query'"),
        Case("coefficients: query not base64", _json(**{**inline, "query": "***"}), says="base64"),
        Case("coefficients: garbage query", _json(**{**inline, "query": _b64(b"junk")}), says="query"),
        Case("coefficients: truncated query", _json(**{**inline, "query": _b64(raw_query[:-100])}), says="bytes"),
        Case("coefficients: header-only query", _json(**{**inline, "query": _b64(raw_query[:64])}), says="bytes"),
        Case("coefficients: an answer as the query", _json(**{**inline, "query": coefficient_answer}), says="answer"),
        Case(
            "coefficients: a slot query",
            _json(**{**inline, "query": native_query}),
            says="got a query of the slot protocol",
        ),
        Case(
            "slots: a coefficient query",
            _json(**{**native_good, "query": coefficient_query}),
            says="expected a query of the slot protocol",
        ),
        Case(
            "coefficients: a query for another model",
            _json(**{**inline, "query": _b64(other_model.encrypt(np.zeros(64)))}),
            says="another model",
        ),
        Case("coefficients: no keys", _json(protocol="heedu-coefficients-1", query=coefficient_query), says="'keys'"),
        Case("coefficients: keys not a string", _json(**{**inline, "keys": [1, 2]}), says="'keys'"),
        Case("coefficients: keys not base64", _json(**{**inline, "keys": "*" * 100}), says="base64"),
        Case("coefficients: oversized keys", _json(**{**inline, "keys": "A" * (8 << 20)}), says="base64 characters"),
        Case("coefficients: slot keys inline", _json(**{**inline, "keys": _b64(native_keys)}), says="key bundle is"),
        Case("coefficients: keys one byte too long", _json(**{**inline, "keys": _b64(bundle + b"\0")}), says="bytes"),
        Case("coefficients: truncated keys", _json(**{**inline, "keys": _b64(bundle[:-100])}), says="bytes"),
        Case("coefficients: 8 bytes of keys", _json(**{**inline, "keys": _b64(bundle[:8])}), says="key bundle"),
        Case(
            "coefficients: another client's keys",
            _json(**{**inline, "keys": _b64(other_client.public_keys())}),
            says="another client",
        ),
        Case(
            "coefficients: keys inline and by reference",
            _json(**{**inline, "key_id": coefficient.key_id, "key_url": coefficient.key_url}),
            says="not both",
        ),
        Case(
            "slots: inline keys",
            _json(protocol="heedu-native-1", query=native_query, keys=_b64(native_keys)),
            says="inline",
        ),
        # -------- item 3: what the original EIServer would throw on, so abort on
        Case("ciphertext of size 3", with_text("size 3")),  # larger than any size-2 ciphertext: the cap refuses it
        Case("scale 2^100", with_text("scale 2^100"), says="scale"),
        Case("scale 2^120", with_text("scale 2^120"), says="scale"),
        Case("scale one ulp above the bound", with_text("scale just outside"), says="scale"),
        Case("ciphertext labelled SEAL 4.0", with_text("version 4.0")),
        *(Case(f"keys: {name}", with_keys(name), generic=True) for name in KEY_FLAWS),
        # heedu reads these versions (so its backend answers them); the original reads 3.5 only.
        *(Case(f"keys: {name}", with_keys(name), generic=True, backends=("seal",)) for name in KEY_VERSIONS),
        # -------- item 10: a zlib bomb in a ciphertext
        Case("zlib bomb ciphertext", with_text("zlib bomb"), says="zlib"),
        # -------- item 11a: another blob of the container, whose first bytes must not come back
        Case("a foreign blob as keys", fetch(m.foreign[1], m.foreign[0]), generic=True, hides="abcd"),
        Case(
            "native keys that are EI keys",
            _json(**{**native_good, "key_id": ei.key_id, "key_url": ei.key_url}),
            generic=True,
        ),
        Case("coefficient keys that are EI keys", keys_by(ei.key_id, ei.key_url), generic=True),
        Case("coefficient keys that are slot keys", keys_by(native.key_id, native.key_url), generic=True),
        # -------- fetch failures (one generic message)
        Case("unknown key id", fetch(sas(unknown, BlobSasPermissions(read=True), later), unknown), generic=True),
        Case(
            "key blob not matching its id",
            fetch(sas(impostor, BlobSasPermissions(read=True), later), impostor),
            generic=True,
        ),
        Case("expired SAS", fetch(sas(fresh_id, BlobSasPermissions(read=True), earlier), fresh_id), generic=True),
        Case("write-only SAS", fetch(sas(fresh_id, BlobSasPermissions(write=True), later), fresh_id), generic=True),
        Case(
            "key_url without SAS", fetch(blob_service.get_blob_client(CONTAINER, fresh_id).url, fresh_id), generic=True
        ),
        Case("malformed conn_str", conn("not a connection string"), generic=True),
        # -------- item 5: SSRF, refused before any connection (the bystander counts none)
        Case("untrusted open port", fetch(f"http://127.0.0.1:{b}/k?sig=x"), generic=True),
        Case("untrusted closed port", fetch(f"http://127.0.0.1:{closed}/k?sig=x"), generic=True),
        Case("user info", fetch(f"http://127.0.0.1:{a}@127.0.0.1:{b}/k?sig=x"), generic=True),
        Case("backslash", fetch(f"http://127.0.0.1:{b}\\@127.0.0.1:{a}/devstoreaccount1/k?sig=x"), generic=True),
        Case("host by another name", fetch(f"http://LOCALHOST:{b}/k?sig=x"), generic=True),
        Case("trailing dot", fetch(f"http://127.0.0.1.:{b}/k?sig=x"), generic=True),
        Case("IPv6 literal", fetch(f"http://[::ffff:127.0.0.1]:{b}/k?sig=x"), generic=True),
        Case("IPv6 literal, unclosed", fetch(f"http://[::1:{b}/k?sig=x"), generic=True),
        Case("own port by another name", fetch(f"http://localhost:{own}/score?sig=x"), generic=True),
        Case("blob.core.windows.net.evil", fetch("https://acct.blob.core.windows.net.evil.com/k?sig=x"), generic=True),
        Case("azure on another port", fetch(f"https://acct.blob.core.windows.net:{b}/k?sig=x"), generic=True),
        Case("ftp scheme", fetch(f"ftp://127.0.0.1:{a}/devstoreaccount1/k?sig=x"), generic=True),
        Case("file scheme", fetch("file:///etc/passwd?sig=x"), generic=True),
        Case(
            "conn_str BlobEndpoint",
            conn(f"AccountName=x;AccountKey={key};BlobEndpoint=http://127.0.0.1:{b}/x;"),
            generic=True,
        ),
        Case(
            "conn_str EndpointSuffix",
            conn(f"AccountName=acct;AccountKey={key};EndpointSuffix=core.windows.net.evil.com"),
            generic=True,
        ),
        Case(
            "conn_str suffix to a port",
            conn(f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={key};EndpointSuffix=127.0.0.1:{b}"),
            generic=True,
        ),
        Case("conn_str development storage", conn("UseDevelopmentStorage=true"), generic=True),
        Case(
            "native with an untrusted key_url",
            _json(**{**native_good, "key_id": unknown, "key_url": f"http://127.0.0.1:{b}/k?sig=x"}),
            generic=True,
        ),
        # -------- items 4 and 6: trusted but hostile storage (deadline, byte limit, no redirects)
        Case("storage that never answers", fetch(hostile.url("/silent/table")), generic=True, **deadline),
        Case("storage that trickles", fetch(hostile.url("/trickle/table")), generic=True, **deadline),
        Case(
            "key_url at the service itself",
            fetch(f"http://127.0.0.1:{own}/score?sig=x"),
            generic=True,
            **deadline,
        ),
        Case("flood, close-delimited", fetch(hostile.url(f"/flood/table-{service.backend}")), generic=True),
        Case("flood, chunked", fetch(hostile.url(f"/chunked/table-{service.backend}")), generic=True),
        Case("Content-Length lie", fetch(hostile.url("/short/table")), generic=True),
        Case(
            "redirect to a valid blob",
            fetch(
                hostile.url("/redirect/k") + "&to=" + ei.key_url.replace("&", "%26").replace("?", "%3F"),
                ei.key_id + "x",
            ),
            generic=True,
        ),
        Case(
            "native from a flood",
            _json(**{**native_good, "key_id": unknown, "key_url": hostile.url("/flood/native")}),
            generic=True,
        ),
        Case("coefficients with an untrusted key_url", keys_by(unknown, f"http://127.0.0.1:{b}/k?sig=x"), generic=True),
        Case("coefficients from a flood", keys_by(unknown, hostile.url("/flood/coefficients")), generic=True),
        Case("coefficients from storage that never answers", keys_by(unknown, hostile.url("/silent/c")), generic=True,
             **deadline),
    ]


# ------------------------------------------------------------------------------------ the table


def test_hostile_request_table(
    service: Service,
    ei: EIIdentity,
    materials: Materials,
    azurite: AzuriteServer,
    hostile: HostileStorage,
    bystander: HostileStorage,
    model: Model,
) -> None:
    cases = [
        c for c in _cases(service, ei, materials, azurite, hostile, bystander, model) if service.backend in c.backends
    ]
    assert len(cases) >= 60
    accepts_before = bystander.accepts
    failures: list[str] = []
    for case in cases:
        started = time.monotonic()
        status, answer = post_raw(service.uri, case.body)
        elapsed = time.monotonic() - started
        error = answer.get("error") if isinstance(answer, dict) else None
        print(f"{case.name:40} HTTP {status} {elapsed:5.2f} s  {str(error)[:90]}")  # shown on failure, or with -s
        if not 400 <= status < 500 or not isinstance(error, str):
            failures.append(f"{case.name}: HTTP {status} {str(answer)[:200]}")
        elif case.generic and error != KEYS_UNAVAILABLE:
            failures.append(f"{case.name}: not the generic message: {error[:200]}")
        elif case.says is not None and case.says.lower() not in error.lower():
            failures.append(f"{case.name}: {error[:200]!r} does not mention {case.says!r}")
        elif case.hides is not None and case.hides in json.dumps(answer).lower():
            failures.append(f"{case.name}: the answer shows {case.hides!r}: {error[:200]}")
        elif "Traceback" in error or len(error) < 10:
            failures.append(f"{case.name}: unclear message {error!r}")
        if not case.at_least <= elapsed <= case.seconds:
            failures.append(f"{case.name}: answered in {elapsed:.1f} s, not in [{case.at_least:g}, {case.seconds:g}]")
        if sorted(service.server.worker_pids()) != service.workers:
            failures.append(f"{case.name}: THE WORKER WAS LOST")
            service.workers = sorted(service.server.worker_pids())
    assert not failures, "\n".join(failures)
    assert bystander.accepts == accepts_before, "a refused URL made the service connect"
    _assert_valid_requests_answered(service, ei, azurite, model)
    service.assert_workers_unchanged("after the hostile table")


def test_parser_differences_are_normalized_for_the_original(
    service: Service, ei: EIIdentity, materials: Materials, model: Model
) -> None:
    """Inputs heedu reads but SEAL 3.5 aborts on (nested objects of other versions) are answered correctly.

    The original only ever receives heedu's re-serialization, so these work on both backends; a scale
    just inside the bound runs on the original (its answer is meaningless, the worker survives), while
    heedu's own evaluator refuses it cleanly.
    """
    row = model.x[0]
    for name in ("nested version 3.4", "nested version 4.0"):
        body = {**ei.body(row), "data": [materials.texts[name]]}
        np.testing.assert_allclose(
            ei.client.decrypt(post_json(service.uri, body, retries=0)), model.scores(row), atol=1e-4
        )
    key_id, key_url = materials.key_urls["nested key version 3.4"]
    body = {**ei.body(row), "key_id": key_id, "key_url": key_url}
    np.testing.assert_allclose(ei.client.decrypt(post_json(service.uri, body, retries=0)), model.scores(row), atol=1e-4)
    status, answer = post_raw(service.uri, _json(**{**ei.body(row), "data": [materials.texts["scale just inside"]]}))
    assert status == 200 if service.backend == "seal" else status in (200, 400), answer
    service.assert_workers_unchanged("on inputs inside the bounds")


# ------------------------------------------------------------------------------------ memory


def test_a_lying_flood_grows_the_worker_by_no_more_than_the_limit(
    service: Service, hostile: HostileStorage, ei: EIIdentity, model: Model
) -> None:
    (worker,) = service.workers
    path = f"/flood/rss-{service.backend}"
    body = {**ei.body(model.x[0]), "key_id": content_key_id(path.encode()), "key_url": hostile.url(path)}
    with PeakRss(worker) as rss:
        status, answer = post_raw(service.uri, _json(**body))
    assert status == 400 and answer["error"] == KEYS_UNAVAILABLE
    assert rss.growth < MAX_KEY_BYTES + 48 * 1024 * 1024, f"the worker grew by {rss.growth / 2**20:.0f} MiB"
    give_up = time.monotonic() + 10
    while path not in hostile.sent and time.monotonic() < give_up:
        time.sleep(0.05)  # the server's thread notes what it sent once the service has hung up
    print(f"{service.backend}: worker RSS +{rss.growth / 2**20:.1f} MiB; {hostile.sent[path] / 2**20:.1f} MiB sent")
    assert MAX_KEY_BYTES < hostile.sent[path] < MAX_KEY_BYTES + 32 * 1024 * 1024 < hostile.flood_bytes
    service.assert_workers_unchanged()


def test_a_zlib_bomb_ciphertext_costs_the_worker_little(
    service: Service, ei: EIIdentity, materials: Materials, model: Model
) -> None:
    (worker,) = service.workers
    body = {**ei.body(model.x[0]), "data": [materials.texts["zlib bomb"]]}
    with PeakRss(worker) as rss:
        status, answer = post_raw(service.uri, _json(**body))
    assert status == 400 and "zlib" in answer["error"], answer
    print(f"{service.backend}: worker RSS +{rss.growth / 2**20:.1f} MiB for a zlib bomb")
    assert rss.growth < 32 * 1024 * 1024, f"the worker grew by {rss.growth / 2**20:.0f} MiB for a 187 KB ciphertext"
    service.assert_workers_unchanged()


# ------------------------------------------------------------------------------------ load


def test_eight_concurrent_clients_mixing_valid_and_hostile_requests(
    service: Service,
    ei: EIIdentity,
    original_ei: EIIdentity | None,
    azurite: AzuriteServer,
    bystander: HostileStorage,
    model: Model,
) -> None:
    """Eight threads, ten requests each, all three protocols; every valid answer right, every other one 4xx.

    Coefficient clients send their keys inline (odd clients) or by reference (even ones).

    EI requests come from heedu's client and, for half the clients, from the original package's client
    when it is installed. They are encrypted (and later decrypted) here, outside the threads: the
    clients are shared, and their methods need not be thread-safe.
    """
    rows = model.x[:8]
    natives = [NativeServiceClient(service.uri, azurite.connection_string, CONTAINER) for _ in range(8)]
    coefficients = [
        CoefficientServiceClient(service.uri, azurite.connection_string, CONTAINER, inline_keys=i % 2 == 1)
        for i in range(8)
    ]
    untrusted = f"http://127.0.0.1:{bystander.port}/k?sig=x"
    senders = [original_ei if original_ei is not None and i >= 4 else ei for i in range(8)]
    ei_bodies = [sender.body(rows[i]) for i, sender in enumerate(senders)]
    answers: dict[int, object] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def note(message: str) -> None:
        with lock:
            failures.append(message)

    def expect_4xx(body: dict, what: str) -> None:
        try:
            post_json(service.uri, body, retries=0)
            note(f"{what}: accepted")
        except ServiceError as error:
            if error.status is None or not 400 <= error.status < 500:
                note(f"{what}: {error}")

    def ask_ei(i: int) -> None:
        answers[i] = post_json(service.uri, ei_bodies[i], retries=0)

    def ask_native(native: NativeServiceClient | CoefficientServiceClient, x: np.ndarray) -> None:
        np.testing.assert_allclose(np.ravel(native.scores(x)), model.scores(x), atol=1e-4)

    def client(i: int) -> None:
        native, coefficient = natives[i], coefficients[i]
        garbage_query = {"protocol": "heedu-native-1", "query": _b64(b"junk")}
        oversized_keys = {**coefficient.request(rows[i]), "keys": "A" * (1 << 20), "key_id": None, "key_url": None}
        steps: list[Callable[[], None]] = [
            lambda: ask_native(native, rows[i]),
            lambda: expect_4xx({**ei_bodies[i], "data": [_b64(bytes(64))]}, "garbage ciphertext"),
            lambda: ask_ei(i),
            lambda: expect_4xx({**garbage_query, "key_id": native.key_id, "key_url": native.key_url}, "garbage query"),
            lambda: expect_4xx({**ei_bodies[i], "key_id": f"k{i}", "key_url": untrusted}, "untrusted key_url"),
            lambda: ask_native(native, rows[:3]),
            lambda: expect_4xx({"data": "not a list", "key_id": ei.key_id}, "data not a list"),
            lambda: ask_native(coefficient, rows[i]),
            lambda: expect_4xx(oversized_keys, "oversized inline keys"),
            lambda: ask_native(coefficient, rows),
        ]
        for number, step in enumerate(steps):
            try:
                step()
            except Exception as error:  # collected and reported below, with the client and step
                note(f"client {i} step {number}: {error!r}"[:300])

    accepts_before = bystander.accepts
    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + 600
    for thread in threads:
        thread.join(timeout=max(0.0, give_up - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client is still waiting after 10 minutes"
    assert not failures, "\n".join(failures)
    assert sorted(answers) == list(range(8))
    for i, answer in answers.items():
        np.testing.assert_allclose(senders[i].client.decrypt(answer), model.scores(rows[i]), atol=1e-4)
    assert bystander.accepts == accepts_before
    service.assert_workers_unchanged("under load")
