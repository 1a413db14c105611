r"""The client side of the deployed service: keys to Blob Storage (or inline), encrypted requests, decrypted answers.

Three ways to talk to the service:

* :class:`EIServiceClient`: the tutorial's protocol, with ``encrypted-inference``-compatible
  ciphertexts (heedu's client or the original package's), but keys passed by a read-only
  expiring SAS URL instead of the storage account key;
* :class:`CoefficientServiceClient`: heedu's default protocol (``heedu-coefficients-1``: coefficient
  encoding, a 56 kB public key and no evaluation keys), keys through Blob Storage or inline in
  every request (``inline_keys=True``, no storage account needed);
* :class:`NativeServiceClient`: heedu's slot protocol (``heedu-native-1``: all scores of a batch in
  one ciphertext, Galois keys of about 6 MB, through Blob Storage).

The two heedu clients fetch the service's plan and check it here (:func:`service_plan`): whether
parameters below 128-bit security are acceptable is only ever the local caller's decision. All
POST JSON to the scoring URI with a timeout. Connection failures and 5xx answers are retried a
few times with backoff; 4xx answers are not (the request itself is wrong, and the service says
why). :func:`tutorial_flow` runs the tutorial's own calls through ``Webservice.run`` for a
deployed azureml-core service.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.error
import urllib.request
from typing import Any, ClassVar

import numpy as np

from heedu.errors import HeeduError
from heedu.inference import EILinearRegressionClient, InferenceClient, InferencePlan, SlotPlan, read_plan

from .keys import read_only_sas_url, upload_public_keys

COEFFICIENT_PROTOCOL = "heedu-coefficients-1"
NATIVE_PROTOCOL = "heedu-native-1"  # the slot protocol, under the name it had before the coefficient protocol
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


def keys_in_storage(connection_string: str, container: str, blob: bytes) -> tuple[str, str]:
    """``(key_id, key_url)``: the key blob uploaded under its content address, and a read-only SAS URL for it."""
    key_id = upload_public_keys(connection_string, container, blob)
    return key_id, read_only_sas_url(connection_string, container, key_id)


def service_plan(
    scoring_uri: str, protocol: str, api_key: str | None = None, allow_insecure: bool = False
) -> InferencePlan | SlotPlan:
    """The public plan the service serves under ``protocol``, read and checked here.

    Raises
    ------
    ServiceError
        The answer is not a heedu plan.
    SecurityError
        The plan's parameters are below 128-bit security and ``allow_insecure`` is not set.
    """
    answer = post_json(scoring_uri, {"protocol": protocol, "action": "plan"}, api_key=api_key)
    if not isinstance(answer, dict) or not isinstance(answer.get("plan"), str):
        raise ServiceError("the service did not return a heedu plan: does it run heedu's score.py?")
    # Whether a toy ring is acceptable is this caller's decision (allow_insecure), never the service's:
    # a fake service serving N = 64 would recover the secret key from the keys sent next.
    return read_plan(answer["plan"], allow_insecure=allow_insecure)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


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
        self.key_id, self.key_url = keys_in_storage(connection_string, container, blob)

    def scores(self, x: object) -> np.ndarray:
        """Encrypt one input, have the service score it, and decrypt the scores."""
        body = {"data": self.client.encrypt(x), "key_id": self.key_id, "key_url": self.key_url}
        answer = post_json(self.scoring_uri, body, api_key=self.api_key)
        if not isinstance(answer, list):
            raise ServiceError(f"unexpected answer from the service: {str(answer)[:200]}")
        return self.client.decrypt(answer)

    def predict(self, x: object) -> int:
        return int(np.argmax(self.scores(x)))


class _HeeduServiceClient:
    """What the clients of heedu's two protocols share: the plan from the service, the keys' way there,
    one request per batch. A subclass names its protocol and the plan it must be served."""

    protocol: ClassVar[str]
    plan_type: ClassVar[type]

    def __init__(
        self,
        scoring_uri: str,
        connection_string: str | None,
        container: str,
        api_key: str | None,
        allow_insecure: bool,
        inline_keys: bool,
    ) -> None:
        if not inline_keys and not connection_string:
            raise ValueError("give a storage connection_string for the keys, or inline_keys=True")
        self.scoring_uri, self.api_key = scoring_uri, api_key
        plan = service_plan(scoring_uri, self.protocol, api_key, allow_insecure)
        if not isinstance(plan, self.plan_type):
            raise ServiceError(
                f"the service answered a plan request for {self.protocol!r} with a plan of the {plan.encoding} "
                "protocol: is this heedu's score.py?"
            )
        self.client: Any = InferenceClient(plan)
        bundle = self.client.public_keys()
        self.key_id: str | None = None
        self.key_url: str | None = None
        if inline_keys:
            self._key_fields = {"keys": _b64(bundle)}
        else:
            assert connection_string is not None
            self.key_id, self.key_url = keys_in_storage(connection_string, container, bundle)
            self._key_fields = {"key_id": self.key_id, "key_url": self.key_url}

    @property
    def plan(self) -> InferencePlan | SlotPlan:
        return self.client.plan

    def request(self, x: object) -> dict:
        """The JSON body that asks the service to score ``x``: one input or a batch, encrypted here."""
        return {"protocol": self.protocol, "query": _b64(self.client.encrypt(x)), **self._key_fields}

    def decrypt(self, answer: object) -> np.ndarray:
        """The scores in the service's JSON answer to :meth:`request`."""
        encoded = answer.get("answer") if isinstance(answer, dict) else None
        try:
            raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            raise ServiceError(f"unexpected answer from the service: {str(answer)[:200]}")
        return self.client.decrypt(raw)

    def scores(self, x: object) -> np.ndarray:
        """Encrypt one input or a batch, have the service score it, decrypt: ``decision_function``'s shape."""
        return self.decrypt(post_json(self.scoring_uri, self.request(x), api_key=self.api_key))

    def predict(self, x: object) -> np.ndarray:
        """Class indices, one per input: the argmax of the scores, or ``score > 0`` for a binary model."""
        scores = self.scores(x)
        if self.plan.one_dimensional:
            return (np.atleast_1d(scores) > 0).astype(np.int64)
        return np.argmax(np.atleast_2d(scores), axis=1)


class CoefficientServiceClient(_HeeduServiceClient):
    """heedu's default protocol against the deployed service: one request per batch, no evaluation keys.

    Parameters
    ----------
    scoring_uri : str
    connection_string : str, optional
        Storage for the public key (uploaded once under its content address; requests carry a
        read-only SAS URL). Not needed with ``inline_keys=True``.
    container : str
    api_key : str, optional
        The endpoint's key, sent as a bearer token.
    allow_insecure : bool
        Accept a plan below 128-bit security. Only this caller can say so, never the service.
    inline_keys : bool
        Send the public key bundle (about 56 kB at N = 4096) in every request instead.

    Raises
    ------
    SecurityError
        The service's plan is below 128-bit security and ``allow_insecure`` is not set here.
    ServiceError
        The service did not serve a plan of this protocol.
    """

    protocol = COEFFICIENT_PROTOCOL
    plan_type = InferencePlan

    def __init__(
        self,
        scoring_uri: str,
        connection_string: str | None = None,
        container: str = "heedu-keys",
        api_key: str | None = None,
        allow_insecure: bool = False,
        inline_keys: bool = False,
    ) -> None:
        super().__init__(scoring_uri, connection_string, container, api_key, allow_insecure, inline_keys)


class NativeServiceClient(_HeeduServiceClient):
    """heedu's slot protocol against the deployed service: one request per batch, keys through Blob Storage.

    Raises
    ------
    SecurityError
        The service's plan is below 128-bit security and ``allow_insecure`` is not set here.
    ServiceError
        The service did not serve a plan of this protocol.
    """

    protocol = NATIVE_PROTOCOL
    plan_type = SlotPlan

    def __init__(
        self,
        scoring_uri: str,
        connection_string: str,
        container: str = "heedu-keys",
        api_key: str | None = None,
        allow_insecure: bool = False,
    ) -> None:
        super().__init__(scoring_uri, connection_string, container, api_key, allow_insecure, inline_keys=False)


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
