"""The scoring script on the real local stack: Azurite and the Azure ML inference server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
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

from azure_adapter.client import EIServiceClient, NativeServiceClient, post_json  # noqa: E402
from tests.azure_stack import rss_bytes  # noqa: E402

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
    scores = client.scores(x[:7])
    np.testing.assert_allclose(scores, model.decision_function(x[:7]), atol=1e-4)
    account_key = BlobServiceClient.from_connection_string(azurite.connection_string).credential.account_key
    query = base64.b64encode(client.client.encrypt(x[0])).decode()
    fields = {"protocol": "heedu-native-1", "query": query, "key_id": client.key_id, "key_url": client.key_url}
    body = json.dumps(fields)
    assert account_key not in body and "AccountKey" not in body


# Malformed and hostile requests: tests/test_service_hostile.py runs them all on both backends.


# ------------------------------------------------------------------------------------ concurrency


def test_four_concurrent_clients(heedu_service, azurite, model_dir) -> None:
    from azure_adapter.score import KEY_CACHE_BYTES

    _, model, x = model_dir
    (worker,) = heedu_service.worker_pids()
    rss_before = rss_bytes(worker)
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
    growth = rss_bytes(worker) - rss_before
    assert growth < KEY_CACHE_BYTES + 256 * 1024 * 1024, f"worker grew by {growth / 1e6:.0f} MB"
