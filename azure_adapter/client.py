r"""The client side of the deployed service: keys to Blob Storage, encrypted requests, decrypted answers.

Two ways to talk to the service:

* :class:`EIServiceClient`: the tutorial's protocol, with ``encrypted-inference``-compatible
  ciphertexts (heedu's client or the original package's), but keys passed by a read-only
  expiring SAS URL instead of the storage account key;
* :class:`NativeServiceClient`: heedu's packed protocol (one answer ciphertext for a batch).

Both POST JSON to the scoring URI with a timeout. Connection failures and 5xx answers are
retried a few times with backoff; 4xx answers are not (the request itself is wrong, and the
service says why). :func:`tutorial_flow` runs the tutorial's own calls through
``Webservice.run`` for a deployed azureml-core service.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import numpy as np

from heedu.errors import HeeduError
from heedu.inference import EILinearRegressionClient, InferenceClient, InferencePlan

from .keys import read_only_sas_url, upload_public_keys

NATIVE_PROTOCOL = "heedu-native-1"
#: The largest answer a client reads: a service (or an impostor) cannot make it buffer more.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ServiceError(HeeduError, RuntimeError):
    """The scoring service refused a request (4xx, with its message) or kept failing (5xx, network)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def post_json(
    scoring_uri: str, body: dict, timeout: float = 120.0, retries: int = 2, api_key: str | None = None
) -> object:
    """POST ``body`` as JSON; return the decoded JSON answer. No retry on 4xx.

    Raises
    ------
    ServiceError
        A 4xx answer (with the service's message), repeated failures, an answer larger than
        ``MAX_RESPONSE_BYTES`` or one that is not JSON.
    """
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    delay = 1.0
    for attempt in range(retries + 1):
        request = urllib.request.Request(scoring_uri, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
            if len(raw) > MAX_RESPONSE_BYTES:
                raise ServiceError(f"the service's answer exceeds {MAX_RESPONSE_BYTES} bytes; refusing to read it")
            try:
                return json.loads(raw)
            except (ValueError, RecursionError):
                raise ServiceError("the service's answer is not JSON: is this heedu's scoring service?") from None
        except urllib.error.HTTPError as error:
            detail = error.read()[:2000].decode("utf-8", errors="replace")
            if 400 <= error.code < 500 or attempt == retries:
                raise ServiceError(f"the service answered HTTP {error.code}: {detail}", error.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == retries:
                raise ServiceError(f"the service could not be reached: {error}") from None
        time.sleep(delay)
        delay *= 2
    raise ServiceError("unreachable")  # pragma: no cover - the loop always returns or raises


class EIServiceClient:
    """The tutorial's client protocol with keys passed by SAS URL (no account key in requests)."""

    def __init__(
        self,
        scoring_uri: str,
        connection_string: str,
        container: str = "heedu-keys",
        client: EILinearRegressionClient | None = None,
        api_key: str | None = None,
    ) -> None:
        self.scoring_uri, self.api_key = scoring_uri, api_key
        self.client = client if client is not None else EILinearRegressionClient()
        _, blob = self.client.get_public_keys()
        self.key_id = upload_public_keys(connection_string, container, blob)
        self.key_url = read_only_sas_url(connection_string, container, self.key_id)

    def scores(self, x: object) -> np.ndarray:
        """Encrypt one input, have the service score it, and decrypt the scores."""
        body = {"data": self.client.encrypt(x), "key_id": self.key_id, "key_url": self.key_url}
        answer = post_json(self.scoring_uri, body, api_key=self.api_key)
        if not isinstance(answer, list):
            raise ServiceError(f"unexpected answer from the service: {str(answer)[:200]}")
        return self.client.decrypt(answer)

    def predict(self, x: object) -> int:
        return int(np.argmax(self.scores(x)))


class NativeServiceClient:
    """heedu's packed protocol against the deployed service: one request per batch.

    Raises
    ------
    SecurityError
        The service's plan is below 128-bit security and ``allow_insecure`` is not set here.
    """

    def __init__(
        self,
        scoring_uri: str,
        connection_string: str,
        container: str = "heedu-keys",
        api_key: str | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self.scoring_uri, self.api_key = scoring_uri, api_key
        answer = post_json(scoring_uri, {"protocol": NATIVE_PROTOCOL, "action": "plan"}, api_key=api_key)
        if not isinstance(answer, dict) or not isinstance(answer.get("plan"), str):
            raise ServiceError("the service did not return a heedu plan: does it run heedu's score.py?")
        # Whether a toy ring is acceptable is this caller's decision (allow_insecure), never the service's:
        # a fake service serving N = 64 would recover the secret key from the keys uploaded next.
        self.client = InferenceClient(InferencePlan.from_json(answer["plan"], allow_insecure=allow_insecure))
        self.key_id = upload_public_keys(connection_string, container, self.client.public_keys())
        self.key_url = read_only_sas_url(connection_string, container, self.key_id)

    def scores(self, x: object) -> np.ndarray:
        query = base64.b64encode(self.client.encrypt(x)).decode("ascii")
        body = {"protocol": NATIVE_PROTOCOL, "query": query, "key_id": self.key_id, "key_url": self.key_url}
        answer = post_json(self.scoring_uri, body, api_key=self.api_key)
        if not isinstance(answer, dict) or "answer" not in answer:
            raise ServiceError(f"unexpected answer from the service: {str(answer)[:200]}")
        return self.client.decrypt(base64.b64decode(answer["answer"]))

    def predict(self, x: object) -> np.ndarray:
        return np.argmax(np.atleast_2d(self.scores(x)), axis=1)


def tutorial_flow(service: object, client: EILinearRegressionClient, x: object, conn_str: str, container: str) -> int:
    """The tutorial's own calls on a deployed azureml-core ``Webservice``: ``service.run(json)``, decrypt, argmax.

    This is the original, insecure request (the storage connection string travels in the body),
    kept because the tutorial's users run exactly this. Prefer :class:`EIServiceClient`.
    """
    from azure.storage.blob import BlobServiceClient

    key_id, blob = client.get_public_keys()
    container_client = BlobServiceClient.from_connection_string(conn_str).get_container_client(container)
    if not container_client.exists():
        container_client.create_container()
    container_client.upload_blob(key_id, blob, overwrite=True)  # the tutorial names the blob by the key id
    body = json.dumps({"data": client.encrypt(x), "key_id": key_id, "conn_str": conn_str, "container": container})
    return int(np.argmax(client.decrypt(service.run(input_data=body))))  # type: ignore[attr-defined]
