"""The scoring script on the real local stack: Azurite and the Azure ML inference server on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

pytest_plugins = ["tests.azure_stack"]

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("azure.storage.blob", reason="azure-storage-blob is part of heedu's azure extra")

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from azure_adapter.client import EIServiceClient, NativeServiceClient, post_json  # noqa: E402
from azure_adapter.keys import content_key_id, read_only_sas_url, upload_public_keys  # noqa: E402
from heedu.inference import EILinearRegressionClient  # noqa: E402

SCORE_PY = Path(__file__).resolve().parent.parent / "azure_adapter" / "score.py"
CONTAINER = "heedu-keys"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LogisticRegression, np.ndarray]:
    digits = load_digits()
    x = digits.data / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=300).fit(x[:1200], digits.target[:1200])
    folder = tmp_path_factory.mktemp("model")
    (folder / "digits" / "1").mkdir(parents=True)  # Azure ML's layout: AZUREML_MODEL_DIR/<name>/<version>/
    joblib.dump(model, folder / "digits" / "1" / "digits_model.pkl")
    return folder, model, x[1200:1240]


@pytest.fixture(scope="module")
def heedu_service(inference_server, azurite, model_dir):
    folder, _, _ = model_dir
    return inference_server(SCORE_PY, folder, {"HEEDU_BACKEND": "heedu"})


@pytest.fixture(scope="module")
def seal_service(inference_server, azurite, model_dir):
    pytest.importorskip("encrypted.inference.eiserver", reason="the seal backend needs encrypted-inference==0.9")
    folder, _, _ = model_dir
    return inference_server(SCORE_PY, folder, {"HEEDU_BACKEND": "seal"})


def _post_raw(uri: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(uri, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, {"raw": text[:200].decode("utf-8", "replace")}


# ------------------------------------------------------------------------------------------- flows


def test_tutorial_flow_unchanged_with_the_original_client(heedu_service, azurite, model_dir) -> None:
    eiclient = pytest.importorskip("encrypted.inference.eiclient", reason="needs encrypted-inference==0.9")
    _, model, x = model_dir
    client = eiclient.EILinearRegressionClient()
    key_id, blob = client.get_public_keys()
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client("tutorial")
    if not container.exists():
        container.create_container()
    container.upload_blob(key_id, blob, overwrite=True)
    for row in x[:2]:
        body = {"data": client.encrypt(row), "key_id": key_id}
        body.update(conn_str=azurite.connection_string, container="tutorial")
        scores = client.decrypt(post_json(heedu_service.scoring_uri, body))
        np.testing.assert_allclose(scores, model.decision_function(row[None])[0], atol=1e-4)


def test_heedu_client_against_the_seal_backend_with_sas(seal_service, azurite, model_dir) -> None:
    _, model, x = model_dir
    client = EIServiceClient(seal_service.scoring_uri, azurite.connection_string, CONTAINER)
    for row in x[:2]:
        assert client.predict(row) == int(np.argmax(model.decision_function(row[None])[0]))


def test_native_protocol_with_sas_and_no_account_key_on_the_wire(heedu_service, azurite, model_dir) -> None:
    _, model, x = model_dir
    client = NativeServiceClient(heedu_service.scoring_uri, azurite.connection_string, CONTAINER)
    scores = client.scores(x[:7])
    np.testing.assert_allclose(scores, model.decision_function(x[:7]), atol=1e-4)
    account_key = BlobServiceClient.from_connection_string(azurite.connection_string).credential.account_key
    query = base64.b64encode(client.client.encrypt(x[0])).decode()
    fields = {"protocol": "heedu-native-1", "query": query, "key_id": client.key_id, "key_url": client.key_url}
    body = json.dumps(fields)
    assert account_key not in body and "AccountKey" not in body


# ------------------------------------------------------------------------------------ bad requests


def _bad_requests(azurite, model_dir) -> dict[str, bytes]:
    _, _, x = model_dir
    client = EILinearRegressionClient()
    _, blob = client.get_public_keys()
    key_id = upload_public_keys(azurite.connection_string, CONTAINER, blob)
    key_url = read_only_sas_url(azurite.connection_string, CONTAINER, key_id)
    data = client.encrypt(x[0])
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    account_key = service.credential.account_key

    def sas(name: str, permission: BlobSasPermissions, expiry: dt.datetime) -> str:
        token = generate_blob_sas(
            service.account_name, CONTAINER, name, account_key=account_key, permission=permission, expiry=expiry
        )
        return f"{service.get_blob_client(CONTAINER, name).url}?{token}"

    now = dt.datetime.now(dt.timezone.utc)
    # Keys are public and cached by content hash, so a SAS is only used when the service must read storage:
    # the SAS cases name a fresh key blob that no request has used yet.
    _, fresh_blob = EILinearRegressionClient().get_public_keys()
    fresh_id = upload_public_keys(azurite.connection_string, CONTAINER, fresh_blob)
    impostor = content_key_id(b"other bytes")
    service.get_container_client(CONTAINER).upload_blob(impostor, blob, overwrite=True)  # name does not match bytes

    def body(**fields: object) -> bytes:
        return json.dumps(fields).encode()

    good = {"data": data, "key_id": key_id, "key_url": key_url}
    later, earlier = now + dt.timedelta(hours=1), now - dt.timedelta(hours=1)
    unknown = content_key_id(b"nobody")
    unknown_url = sas(unknown, BlobSasPermissions(read=True), later)
    impostor_url = sas(impostor, BlobSasPermissions(read=True), later)
    expired_url = sas(fresh_id, BlobSasPermissions(read=True), earlier)
    write_only_url = sas(fresh_id, BlobSasPermissions(write=True), later)
    plain_url = service.get_blob_client(CONTAINER, fresh_id).url
    junk_query = base64.b64encode(b"junk").decode()
    return {
        "not JSON": b"{this is not json",
        "a JSON list": b"[1, 2, 3]",
        "missing data": body(key_id=key_id, key_url=key_url),
        "data not a list": body(**{**good, "data": "abc"}),
        "empty data": body(**{**good, "data": []}),
        "data item not a string": body(**{**good, "data": [42]}),
        "non-base64 ciphertext": body(**{**good, "data": ["***not base64***"]}),
        "garbage ciphertext": body(**{**good, "data": [base64.b64encode(b"\x00" * 64).decode()]}),
        "truncated ciphertext": body(**{**good, "data": [data[0][: len(data[0]) // 2]]}),
        "too many ciphertexts": body(**{**good, "data": data * 3}),
        "missing key_id": body(data=data, key_url=key_url),
        "unknown key id": body(**{**good, "key_id": unknown, "key_url": unknown_url}),
        "key blob not matching its id": body(**{**good, "key_id": impostor, "key_url": impostor_url}),
        "expired SAS": body(**{**good, "key_id": fresh_id, "key_url": expired_url}),
        "write-only SAS": body(**{**good, "key_id": fresh_id, "key_url": write_only_url}),
        "key_url without SAS": body(**{**good, "key_id": fresh_id, "key_url": plain_url}),
        "malformed conn_str": body(data=data, key_id=fresh_id, conn_str="not a connection string", container=CONTAINER),
        "unknown protocol": body(protocol="heedu-native-9", query="AAAA", key_id=key_id, key_url=key_url),
        "native garbage query": body(protocol="heedu-native-1", query=junk_query, key_id=key_id, key_url=key_url),
        "oversized body": body(**{**good, "padding": "x" * (17 * 1024 * 1024)}),
    }


def test_malformed_requests_get_4xx_and_the_worker_survives(heedu_service, azurite, model_dir) -> None:
    _, model, x = model_dir
    workers_before = sorted(heedu_service.worker_pids())
    cases = _bad_requests(azurite, model_dir)
    assert len(cases) >= 15
    for name, raw in cases.items():
        status, answer = _post_raw(heedu_service.scoring_uri, raw)
        assert 400 <= status < 500, f"{name}: HTTP {status} {str(answer)[:300]}"
        message = json.dumps(answer)
        assert len(message) > 10 and "Traceback" not in message, f"{name}: unclear message {answer}"
    client = EIServiceClient(heedu_service.scoring_uri, azurite.connection_string, CONTAINER)
    assert client.predict(x[0]) == int(np.argmax(model.decision_function(x[:1])[0]))
    assert sorted(heedu_service.worker_pids()) == workers_before, "a worker was restarted"


def test_seal_backend_is_shielded_from_malformed_ciphertexts(seal_service, azurite, model_dir) -> None:
    _, model, x = model_dir
    workers_before = sorted(seal_service.worker_pids())
    cases = _bad_requests(azurite, model_dir)
    for name in ("garbage ciphertext", "truncated ciphertext", "non-base64 ciphertext", "too many ciphertexts"):
        status, answer = _post_raw(seal_service.scoring_uri, cases[name])
        assert 400 <= status < 500, f"{name}: HTTP {status} {str(answer)[:300]}"
    client = EIServiceClient(seal_service.scoring_uri, azurite.connection_string, CONTAINER)
    assert client.predict(x[1]) == int(np.argmax(model.decision_function(x[1:2])[0]))
    assert sorted(seal_service.worker_pids()) == workers_before, "the original package aborted a worker"


# ------------------------------------------------------------------------------------ concurrency


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_four_concurrent_clients(heedu_service, azurite, model_dir) -> None:
    from azure_adapter.score import KEY_CACHE_BYTES

    _, model, x = model_dir
    (worker,) = heedu_service.worker_pids()
    rss_before = _rss_bytes(worker)
    clients = [NativeServiceClient(heedu_service.scoring_uri, azurite.connection_string, CONTAINER) for _ in range(4)]
    expected = np.argmax(model.decision_function(x[:10]), axis=1)
    failures: list[str] = []

    def work(client: NativeServiceClient) -> None:
        for i in range(10):
            try:
                if int(client.predict(x[i])[0]) != expected[i]:
                    failures.append(f"wrong prediction for input {i}")
            except Exception as error:  # collected and reported below
                failures.append(repr(error))

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failures, failures[:5]
    # Four clients add four key bundles (about 6 MB each) to a cache capped at KEY_CACHE_BYTES; the
    # worker's growth must stay within that cap plus working memory for the computation itself.
    growth = _rss_bytes(worker) - rss_before
    assert growth < KEY_CACHE_BYTES + 256 * 1024 * 1024, f"worker grew by {growth / 1e6:.0f} MB"
