"""The service clients against impostors: a fake scoring service on 127.0.0.1 that serves what it likes.

A client must not let the service decide its security (the audit's fake service served the docs' own
N = 64 plan, received the client's keys and recovered its secret key by lattice reduction), nor make it
buffer an unbounded answer. Both heedu protocols' clients are held to it: the coefficient protocol's
(:class:`CoefficientServiceClient`, with keys through storage or inline) and the slot protocol's.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import heedu
from azure_adapter.client import (
    MAX_RESPONSE_BYTES,
    CoefficientServiceClient,
    NativeServiceClient,
    ServiceError,
    post_json,
)
from heedu.inference import EncryptedLinearModel, LinearModel, SlotLinearModel

TOY_SLOTS = heedu.CKKSParameters(
    poly_modulus_degree=64, coeff_modulus_bits=[50, 40, 50], scale=2.0**40, allow_insecure=True
)
TOY_COEFFICIENTS = heedu.CKKSParameters(
    poly_modulus_degree=64, coeff_modulus_bits=[50, 50], special_prime=False, allow_insecure=True
)
# Nothing listens here: the client must refuse before it would upload anything.
NO_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


class FakeService(http.server.BaseHTTPRequestHandler):
    """Answers every POST with ``self.server.body`` and counts the requests."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1  # type: ignore[attr-defined]
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_service() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    server.requests = 0  # type: ignore[attr-defined]
    server.body = b"{}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _uri(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/score"


#: Each heedu client as a test makes it against a URI (keys to storage that is never reached, or inline),
#: with a toy plan of its protocol.
CLIENTS = {
    "coefficients": (
        lambda uri: CoefficientServiceClient(uri, NO_STORAGE),
        lambda: EncryptedLinearModel(LinearModel(np.eye(2), np.zeros(2)), TOY_COEFFICIENTS).plan,
    ),
    "coefficients, inline keys": (
        lambda uri: CoefficientServiceClient(uri, inline_keys=True),
        lambda: EncryptedLinearModel(LinearModel(np.eye(2), np.zeros(2)), TOY_COEFFICIENTS).plan,
    ),
    "slots": (
        lambda uri: NativeServiceClient(uri, NO_STORAGE),
        lambda: SlotLinearModel(LinearModel(np.eye(2), np.zeros(2)), TOY_SLOTS).plan,
    ),
}


def _serve_plan(server: http.server.ThreadingHTTPServer, plan: object) -> None:
    server.body = json.dumps({"plan": plan.to_json()}).encode()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", CLIENTS)
def test_a_fake_service_cannot_opt_the_client_into_a_toy_ring(fake_service, name: str) -> None:
    make, toy_plan = CLIENTS[name]
    _serve_plan(fake_service, toy_plan())
    with pytest.raises(heedu.SecurityError, match="allow_insecure=True"):
        make(_uri(fake_service))
    assert fake_service.requests == 1  # the plan request, and nothing after it: no keys were made or sent


def test_the_local_caller_may_accept_a_toy_ring(fake_service) -> None:
    _serve_plan(fake_service, CLIENTS["coefficients"][1]())
    client = CoefficientServiceClient(_uri(fake_service), inline_keys=True, allow_insecure=True)
    assert client.plan.parameters.poly_modulus_degree == 64 and client.key_url is None
    assert fake_service.requests == 1  # inline keys: nothing uploaded, nothing sent until a query


@pytest.mark.parametrize(
    ("make", "served"),
    [
        (CLIENTS["coefficients, inline keys"][0], lambda: SlotLinearModel(LinearModel(np.eye(2), np.zeros(2))).plan),
        (CLIENTS["slots"][0], lambda: EncryptedLinearModel(LinearModel(np.eye(2), np.zeros(2))).plan),
    ],
    ids=["coefficient client, slot plan", "slot client, coefficient plan"],
)
def test_a_plan_of_the_other_protocol_is_refused(fake_service, make, served) -> None:
    _serve_plan(fake_service, served())
    with pytest.raises(ServiceError, match="plan of the"):
        make(_uri(fake_service))
    assert fake_service.requests == 1


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("body", [b"not json", b"[" * 200_000, json.dumps({"plan": 7}).encode()])
def test_answers_that_are_not_plans_get_service_errors(fake_service, body: bytes, name: str) -> None:
    fake_service.body = body
    with pytest.raises(ServiceError):
        CLIENTS[name][0](_uri(fake_service))


def test_keys_go_somewhere_or_the_client_is_not_made(fake_service) -> None:
    with pytest.raises(ValueError, match="inline_keys=True"):
        CoefficientServiceClient(_uri(fake_service))
    assert fake_service.requests == 0


def test_the_client_reads_no_more_than_its_bound(fake_service) -> None:
    fake_service.body = b" " * (MAX_RESPONSE_BYTES + 1024)
    with pytest.raises(ServiceError, match="exceeds"):
        post_json(_uri(fake_service), {"protocol": "heedu-native-1", "action": "plan"}, retries=0)
