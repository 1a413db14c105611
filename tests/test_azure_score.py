"""The scoring script on the real local stack: Azurite and the Azure ML inference server on 127.0.0.1.

The tutorial's EI protocol on both backends, and heedu's two protocols recognized from the body:
``heedu-coefficients-1`` (the default; keys through Blob Storage or inline) and ``heedu-native-1``
(the slot protocol; keys through Blob Storage).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

pytest.register_assert_rewrite("tests.azure_stack")
pytest_plugins = ["tests.azure_stack"]

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("azure.storage.blob", reason="azure-storage-blob is part of heedu's azure extra")

from azure.storage.blob import BlobServiceClient  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from azure_adapter.client import (  # noqa: E402
    CoefficientServiceClient,
    EIServiceClient,
    NativeServiceClient,
    ServiceError,
    post_json,
)
from heedu.inference import read_plan  # noqa: E402
from tests.azure_stack import post_raw, rss_bytes  # noqa: E402

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
    return inference_server(SCORE_PY, folder, {"HEEDU_BACKEND": "heedu"}, azurite=azurite)


@pytest.fixture(scope="module")
def seal_service(inference_server, azurite, model_dir):
    pytest.importorskip("encrypted.inference.eiserver", reason="the seal backend needs encrypted-inference==0.9")
    folder, _, _ = model_dir
    return inference_server(SCORE_PY, folder, {"HEEDU_BACKEND": "seal"}, azurite=azurite)


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
    # One row: the original package takes seconds per class (ten here); hostile and concurrent
    # requests against the seal backend are in tests/test_service_hostile.py.
    np.testing.assert_allclose(client.scores(x[0]), model.decision_function(x[:1])[0], atol=1e-4)


def test_native_protocol_with_sas_and_no_account_key_on_the_wire(heedu_service, azurite, model_dir) -> None:
    _, model, x = model_dir
    client = NativeServiceClient(heedu_service.scoring_uri, azurite.connection_string, CONTAINER)
    assert client.plan.encoding == "slots"
    scores = client.scores(x[:7])
    np.testing.assert_allclose(scores, model.decision_function(x[:7]), atol=1e-4)
    account_key = BlobServiceClient.from_connection_string(azurite.connection_string).credential.account_key
    query = base64.b64encode(client.client.encrypt(x[0])).decode()
    fields = {"protocol": "heedu-native-1", "query": query, "key_id": client.key_id, "key_url": client.key_url}
    body = json.dumps(fields)
    assert account_key not in body and "AccountKey" not in body


def test_each_protocol_name_serves_its_plan(heedu_service) -> None:
    for protocol, encoding in (("heedu-coefficients-1", "coefficients"), ("heedu-native-1", "slots")):
        answer = post_json(heedu_service.scoring_uri, {"protocol": protocol, "action": "plan"})
        assert answer["protocol"] == protocol and read_plan(answer["plan"]).encoding == encoding


@pytest.mark.parametrize("inline_keys", [False, True], ids=["keys through blob storage", "inline keys"])
def test_coefficient_protocol(heedu_service, azurite, model_dir, inline_keys: bool) -> None:
    _, model, x = model_dir
    client = CoefficientServiceClient(
        heedu_service.scoring_uri, azurite.connection_string, CONTAINER, inline_keys=inline_keys
    )
    assert client.plan.encoding == "coefficients"
    np.testing.assert_allclose(client.scores(x[:7]), model.decision_function(x[:7]), atol=1e-4)
    np.testing.assert_allclose(client.scores(x[7]), model.decision_function(x[7:8])[0], atol=1e-4)
    body = json.dumps(client.request(x[0]))
    account_key = BlobServiceClient.from_connection_string(azurite.connection_string).credential.account_key
    assert account_key not in body and "AccountKey" not in body
    if inline_keys:
        assert client.key_url is None and len(body) < 4 * client.plan.query_bytes(1) + 4 * client.plan.key_bytes
    else:
        assert client.key_url is not None and '"keys"' not in body


def test_another_clients_keys_are_refused_and_the_worker_lives(heedu_service, azurite, model_dir) -> None:
    """A query sent with another client's key bundle (inline or by reference) gets a 400 that says so."""
    _, model, x = model_dir
    (worker,) = heedu_service.worker_pids()
    mine = CoefficientServiceClient(heedu_service.scoring_uri, inline_keys=True)
    theirs = CoefficientServiceClient(heedu_service.scoring_uri, azurite.connection_string, CONTAINER)
    mine_body = mine.request(x[0])
    inline = {**mine_body, "keys": base64.b64encode(theirs.client.public_keys()).decode()}
    by_reference = {key: mine_body[key] for key in ("protocol", "query")}
    by_reference.update(key_id=theirs.key_id, key_url=theirs.key_url)
    for body in (inline, by_reference):
        status, answer = post_raw(heedu_service.scoring_uri, json.dumps(body).encode())
        assert status == 400 and "another client" in answer["error"], answer
    with pytest.raises(ServiceError, match="HTTP 400"):
        mine.decrypt(post_json(heedu_service.scoring_uri, inline, retries=0))
    assert heedu_service.worker_pids() == [worker]
    np.testing.assert_allclose(mine.scores(x[0]), model.decision_function(x[:1])[0], atol=1e-4)


# Malformed and hostile requests: tests/test_service_hostile.py runs them all on both backends.


# ------------------------------------------------------------------------------------ concurrency


def test_four_concurrent_clients(heedu_service, azurite, model_dir) -> None:
    """Two clients of each heedu protocol at once (keys through storage, and one coefficient client inline)."""
    from azure_adapter.score import KEY_CACHE_BYTES

    _, model, x = model_dir
    (worker,) = heedu_service.worker_pids()
    rss_before = rss_bytes(worker)
    uri, conn_str = heedu_service.scoring_uri, azurite.connection_string
    clients = [
        NativeServiceClient(uri, conn_str, CONTAINER),
        NativeServiceClient(uri, conn_str, CONTAINER),
        CoefficientServiceClient(uri, conn_str, CONTAINER),
        CoefficientServiceClient(uri, inline_keys=True),
    ]
    expected = np.argmax(model.decision_function(x[:10]), axis=1)
    failures: list[str] = []

    def work(client: NativeServiceClient | CoefficientServiceClient) -> None:
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
    # Four clients add key bundles (about 6 MB for the slot protocol, 56 kB for the coefficient one) to
    # caches capped at KEY_CACHE_BYTES; the worker's growth must stay within that cap plus working
    # memory for the computation itself.
    growth = rss_bytes(worker) - rss_before
    assert growth < KEY_CACHE_BYTES + 256 * 1024 * 1024, f"worker grew by {growth / 1e6:.0f} MB"


def test_heedu_query_command_against_the_service(heedu_service, azurite, model_dir, tmp_path) -> None:
    """``heedu query`` (the CLI client ``heedu serve`` points to), both protocols, on the real service."""
    _, model, x = model_dir
    np.save(tmp_path / "x.npy", x[:5])
    expected = " ".join(map(str, np.argmax(model.decision_function(x[:5]), axis=1)))
    uri = heedu_service.scoring_uri
    base = [sys.executable, "-m", "heedu", "query", "--uri", uri, "--input", str(tmp_path / "x.npy")]
    for extra in ([], ["--encoding", "slots", "--connection-string", azurite.connection_string]):
        result = subprocess.run([*base, *extra, "--out", str(tmp_path / "s.npy")], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        assert f"predicted class: {expected}" in result.stdout
        np.testing.assert_allclose(np.load(tmp_path / "s.npy"), model.decision_function(x[:5]), atol=1e-4)
    refused = subprocess.run([*base, "--encoding", "slots"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "--connection-string" in refused.stderr
