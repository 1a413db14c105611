"""The scoring service's defences that need no inference server: trusted storage, bounded downloads, EI bounds.

The same defences are exercised end to end, on both backends, in ``tests/test_service_hostile.py``;
here each is pinned down directly and quickly: which URLs and connection strings are refused (and
that a refused one causes no connection at all), that a download stops at its byte limit and its
deadline whatever the server does, and that the ciphertext-scale bound is exactly SEAL 3.5's.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import pickle
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest

pytest.importorskip("azure.storage.blob", reason="azure-storage-blob is part of heedu's azure extra")

from azure_adapter.keys import KeyExchangeError, blob_url, fetch_blob, fetch_by_sas_url
from azure_adapter.local_stack import DEV_ACCOUNT_KEY
from azure_adapter.score import ei_ciphertext_cap, largest_input_scale, seal_accepts_scale
from azure_adapter.storage_policy import (
    AZURE_BLOB_HOSTS,
    StoragePolicy,
    TrustedHost,
    UntrustedStorageError,
)
from heedu.errors import SerializationError
from heedu.inference import EILinearRegressionClient
from heedu.inference.ei import ei_context
from heedu.seal import wire

if TYPE_CHECKING:  # the fixtures bring it; importing it here would import the plugin before pytest registers it
    from tests.azure_stack import HostileStorage

pytest_plugins = ["tests.azure_stack"]

TRUSTED = "127.0.0.1:10000"
POLICY = StoragePolicy([AZURE_BLOB_HOSTS, TRUSTED])
KEY = DEV_ACCOUNT_KEY  # any well-formed account key: nothing here connects with it


# ------------------------------------------------------------------------------------ the policy


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://acct.blob.core.windows.net/keys/sha256-1?sv=1&sig=x", "acct.blob.core.windows.net", 443),
        ("http://acct.blob.core.windows.net/keys/k?sig=x", "acct.blob.core.windows.net", 80),
        ("https://ACCT.Blob.Core.Windows.NET/keys/k?sig=x", "acct.blob.core.windows.net", 443),
        ("https://acct-secondary.blob.core.windows.net/k?sig=x", "acct-secondary.blob.core.windows.net", 443),
        ("http://127.0.0.1:10000/devstoreaccount1/keys/k?sig=x", "127.0.0.1", 10000),
    ],
)
def test_policy_admits_azure_blob_storage_and_listed_hosts(url: str, host: str, port: int) -> None:
    target = POLICY.target(url)
    assert (target.host, target.port) == (host, port)
    assert target.path.startswith("/") and target.path.endswith("sig=x")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:10001/a/b?sig=x",  # trusted host, other port
        "http://127.0.0.1/a/b?sig=x",  # trusted host, default port
        "http://127.0.0.1:10000@evil.example/a?sig=x",  # user info: the host is evil.example
        "http://evil.example@127.0.0.1:10000/a?sig=x",  # user info at all
        "http://127.0.0.1:10001\\@127.0.0.1:10000/a?sig=x",  # backslash (WHATWG parsers end the host there)
        "HTTP://EVIL.EXAMPLE/a?sig=x",
        "https://acct.blob.core.windows.net./k?sig=x",  # trailing dot
        "https://acct.blob.core.windows.net.evil.com/k?sig=x",
        "https://blob.core.windows.net/k?sig=x",  # no account label
        "https://a.b.blob.core.windows.net/k?sig=x",  # two labels
        "https://acct.blob.core.windows.net:8443/k?sig=x",  # a port the default entry does not name
        "https://acct.blob.core.windows.net%2eevil.com/k?sig=x",
        "https://acct.blob.core.windows.net\u3002evil.com/k?sig=x",  # ideographic full stop (IDNA maps it to '.')
        "http://[::1]:10000/a?sig=x",
        "http://[::ffff:127.0.0.1]:10000/a?sig=x",
        "http://[::1/a?sig=x",
        "http://2130706433:10000/a?sig=x",  # 127.0.0.1 as one number
        "http://127.1:10000/a?sig=x",
        "http://0x7f.0.0.1:10000/a?sig=x",
        "http://localhost:10000/a?sig=x",
        "http://127.0.0.1:+10000/a?sig=x",
        "http://127.0.0.1:10000:80/a?sig=x",
        "ftp://127.0.0.1:10000/a?sig=x",
        "file:///etc/passwd?sig=x",
        "gopher://127.0.0.1:10000/_GET?sig=x",
        "//127.0.0.1:10000/a?sig=x",
        "http:///a?sig=x",
        "http://127.0.0.1:10000?sig=x",  # no path
        "http://127.0.0.1:10000/a b?sig=x",
        "http://127.0.0.1:10000/a\n?sig=x",
        "http://127.0.0.1:10000/a\t?sig=x",
        "http://127.0.0.1:10000/a?sig=x#@evil.example",
        "http://127.0.0.1:10000/a?sig=x\x00",
    ],
)
def test_policy_refuses_url_tricks(url: str) -> None:
    with pytest.raises(UntrustedStorageError):
        POLICY.target(url)


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [
        ("127.0.0.1:10000", "127.0.0.1", 10000),
        (" azurite:10000 ", "azurite", 10000),
        ("[::1]:10000", "::1", 10000),
        ("Store.Example.COM", "store.example.com", None),
        ("*.blob.core.chinacloudapi.cn", "*.blob.core.chinacloudapi.cn", None),
    ],
)
def test_trusted_entries_are_host_and_optional_port(entry: str, host: str, port: int | None) -> None:
    assert TrustedHost.parse(entry) == TrustedHost(host, port)


@pytest.mark.parametrize(
    "entry", ["", "http://x", "a/b", "user@host", "[::1", "host:99999", "host:port", "*.", "*.-bad", "host."]
)
def test_malformed_trusted_entries_stop_the_service(entry: str) -> None:
    with pytest.raises(ValueError):
        TrustedHost.parse(entry)


def test_the_environment_adds_the_key_store_and_listed_hosts() -> None:
    store = f"AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:7001/devstoreaccount1;"
    policy = StoragePolicy.from_environment(
        {"HEEDU_KEY_STORE_CONNECTION_STRING": store, "HEEDU_TRUSTED_STORAGE": "127.0.0.1:7002, [::1]:7003,"}
    )
    for url in ("http://127.0.0.1:7001/x/k?sig=1", "http://127.0.0.1:7002/x?sig=1", "http://[::1]:7003/x?sig=1"):
        policy.target(url)
    policy.target("https://acct.blob.core.windows.net/k?sig=1")  # always trusted
    with pytest.raises(UntrustedStorageError):
        policy.target("http://127.0.0.1:7004/x?sig=1")
    with pytest.raises(ValueError, match="HEEDU_KEY_STORE_CONNECTION_STRING"):
        StoragePolicy.from_environment({"HEEDU_KEY_STORE_CONNECTION_STRING": "nonsense"})
    with pytest.raises(ValueError, match="not host"):
        StoragePolicy.from_environment({"HEEDU_TRUSTED_STORAGE": "http://127.0.0.1:1/"})


@pytest.mark.parametrize(
    "conn_str",
    [
        f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10001/a;",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net.evil.com",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=evil.com",
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};EndpointSuffix=127.0.0.1:10000",
        f"AccountName=acct;AccountKey={KEY};BlobEndpoint=http://169.254.169.254/metadata",
        "BlobEndpoint=http://127.0.0.1:10000@evil.example/x;SharedAccessSignature=sv=1&sig=2",
        "AccountName=;AccountKey=YWJj",  # the SDK makes https://.blob.core.windows.net/...
        "AccountName=a b;AccountKey=YWJj",
        "AccountName=a;AccountKey=YWJj;EndpointSuffix=",
        "AccountName=a\x00;AccountKey=YWJj",
        "BlobEndpoint=javascript:alert(1);AccountName=a;AccountKey=YWJj",
        "BlobEndpoint=http://127.0.0.1:99999/;AccountName=a;AccountKey=YWJj",
        "BlobEndpoint=http://[::1;AccountKey=YWJj",  # from here on the SDK itself fails
        "AccountName=a;AccountKey=!!!not base64",
        "BlobEndpoint=//127.0.0.1:10000/x;SharedAccessSignature=sig=1",
        "not a connection string",
    ],
)
def test_connection_strings_are_judged_by_the_host_the_sdk_would_contact(conn_str: str) -> None:
    """Whatever the SDK makes of a connection string is refused unless it names trusted storage."""
    with pytest.raises(KeyExchangeError):  # UntrustedStorageError, or "malformed" when the SDK gives up
        POLICY.target(blob_url(conn_str, "keys", "k"))


def test_the_development_storage_shortcut_is_trusted_only_when_listed() -> None:
    url = blob_url("UseDevelopmentStorage=true", "keys", "k")
    assert POLICY.target(url).authority == TRUSTED
    with pytest.raises(UntrustedStorageError):
        StoragePolicy([AZURE_BLOB_HOSTS]).target(url)


def test_an_azure_connection_string_gets_a_local_short_sas_and_no_account_key() -> None:
    conn_str = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
    url = blob_url(conn_str, "keys", "k")
    target = POLICY.target(url)
    assert (target.host, target.port) == ("acct.blob.core.windows.net", 443)
    assert "sig=" in target.path and "sp=r" in target.path and KEY not in url
    with pytest.raises(KeyExchangeError, match="malformed"):
        blob_url("not a connection string", "keys", "k")


# ------------------------------------------------------------------------------------ downloads


@pytest.fixture()
def trusting(hostile: HostileStorage) -> StoragePolicy:
    return StoragePolicy([hostile.authority])


@pytest.fixture()
def quiet_bystander(bystander: HostileStorage) -> Iterator[HostileStorage]:
    before = bystander.accepts
    yield bystander
    assert bystander.accepts == before, "a refused URL opened a connection"


def test_a_refused_url_opens_no_connection(trusting: StoragePolicy, quiet_bystander: HostileStorage) -> None:
    port = quiet_bystander.port
    for url in (
        quiet_bystander.url("/blob/k"),
        f"http://localhost:{port}/blob/k?sig=x",
        f"http://{trusting.trusted[0].host}:{trusting.trusted[0].port}@127.0.0.1:{port}/blob/k?sig=x",
        f"http://[::ffff:127.0.0.1]:{port}/blob/k?sig=x",
    ):
        started = time.monotonic()
        with pytest.raises(UntrustedStorageError):
            fetch_by_sas_url(url, trusting)
        assert time.monotonic() - started < 0.5


def test_an_honest_blob_is_read_whole(hostile: HostileStorage, trusting: StoragePolicy) -> None:
    blob = bytes(range(256)) * 1000
    assert fetch_blob(hostile.serve("honest", blob), trusting) == (blob, '"e"')


@pytest.mark.parametrize("path", ["/silent/k", "/trickle/k"])
def test_a_server_that_stalls_or_trickles_meets_the_total_deadline(
    path: str, hostile: HostileStorage, trusting: StoragePolicy
) -> None:
    started = time.monotonic()
    with pytest.raises(KeyExchangeError):
        fetch_blob(hostile.url(path), trusting, deadline_seconds=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0, f"{path}: {elapsed:.2f} s"


@pytest.mark.parametrize("path", ["/flood/k", "/chunked/k"])
def test_a_lying_flood_is_read_no_further_than_the_limit(
    path: str, hostile: HostileStorage, trusting: StoragePolicy
) -> None:
    limit = 4 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(KeyExchangeError, match="larger than"):
            fetch_blob(hostile.url(path), trusting, max_bytes=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * limit, f"{peak / 2**20:.1f} MiB allocated to refuse a {limit / 2**20:.0f} MiB limit"
    deadline = time.monotonic() + 10
    while path not in hostile.sent and time.monotonic() < deadline:
        time.sleep(0.05)  # the server thread records what it sent once the client has hung up
    assert hostile.sent[path] < limit + 32 * 1024 * 1024, "the download kept reading past the limit"


def test_a_short_content_length_is_all_that_is_read(hostile: HostileStorage, trusting: StoragePolicy) -> None:
    blob, _ = fetch_blob(hostile.url("/short/k"), trusting)
    assert blob == bytes(100)  # junk, which the service's key checks then refuse


def test_redirects_are_not_followed(
    hostile: HostileStorage, trusting: StoragePolicy, quiet_bystander: HostileStorage
) -> None:
    to = quiet_bystander.url("/blob/k").replace("&", "%26").replace("?", "%3F")
    with pytest.raises(KeyExchangeError, match="HTTP 302"):
        fetch_blob(hostile.url("/redirect/k") + f"&to={to}", trusting)


# ------------------------------------------------------------------------------------ EI bounds


def test_the_ciphertext_cap_is_a_top_level_ciphertext_of_the_protocol() -> None:
    ctx = ei_context()
    cap = ei_ciphertext_cap(ctx)
    assert 2 * 3 * 8192 * 8 < cap < 2 * 3 * 8192 * 8 + 1024  # two polynomials, three primes, N = 8192
    random = np.random.default_rng(1)
    moduli = np.array(ctx.ring(ctx.max_level).moduli, dtype=np.uint64)[:, None]
    data = (random.integers(0, 2**63, size=(2, 3, ctx.poly_modulus_degree), dtype=np.uint64) % moduli).astype(np.uint64)
    widest = wire.SealCiphertext(ctx.parms_id(ctx.max_level), data, 2.0**40)
    for mode in (wire.COMPR_NONE, wire.COMPR_ZLIB):
        raw = wire.write_ciphertext(widest, mode)
        assert len(raw) <= cap and len(wire.read_object(raw, max_bytes=cap)[1]) <= cap
    body = zlib.compress(bytes(64 * 1024 * 1024), 9)
    bomb = wire.HEADER.pack(wire.SEAL_MAGIC, 16, 3, 5, wire.COMPR_ZLIB, 0, 16 + len(body)) + body
    assert len(bomb) < cap  # small enough to pass the size check, so the inflation cap must stop it
    with pytest.raises(SerializationError, match="zlib bomb"):
        wire.read_object(bomb, max_bytes=cap)


@pytest.mark.parametrize(("bias", "log2_bound"), [(0.0, 100.0), (0.097, 100.0), (3.0, 96.415), (-40.0, 92.678)])
def test_the_scale_bound_follows_the_parameters_and_the_biases(bias: float, log2_bound: float) -> None:
    ctx = ei_context()
    largest = largest_input_scale([bias], ctx)
    assert math.log2(largest) == pytest.approx(log2_bound, abs=1e-3)
    assert seal_accepts_scale(largest, [bias], ctx)
    assert not seal_accepts_scale(math.nextafter(largest, 2.0**200), [bias], ctx)
    assert seal_accepts_scale(2.0**40, [bias], ctx)  # what every client sends
    assert not seal_accepts_scale(2.0**100, [bias], ctx) and not seal_accepts_scale(2.0**120, [bias], ctx)


_RUN_ORIGINAL = """
import pickle, sys
from encrypted.inference.eiserver import EIServer
for texts, keys, coef, intercept in pickle.loads(sys.stdin.buffer.read()):
    print(len(EIServer(coef, intercept).predict(texts, keys)))
"""


@pytest.mark.slow
def test_the_scale_bound_is_exactly_where_the_original_aborts() -> None:
    """Just inside the bound the original EIServer answers; one ulp outside it aborts its process (SIGABRT)."""
    pytest.importorskip("encrypted.inference.eiserver", reason="needs encrypted-inference==0.9")
    ctx = ei_context()
    client = EILinearRegressionClient()
    _, keys = client.get_public_keys()
    sealed = wire.read_ciphertext(base64.b64decode(client.encrypt(np.linspace(0, 1, 64))[0]), ctx)

    def run_original(*jobs: tuple[float, float]) -> subprocess.CompletedProcess[bytes]:
        """The original server on (bias, scale) jobs, in a process of its own: an abort ends only that."""
        requests = []
        for bias, scale in jobs:
            text = base64.b64encode(wire.write_ciphertext(dataclasses.replace(sealed, scale=scale))).decode()
            requests.append(([text], keys, np.full((1, 64), 0.5), np.array([bias])))
        command = [sys.executable, "-c", _RUN_ORIGINAL]
        return subprocess.run(command, input=pickle.dumps(requests), capture_output=True, timeout=300, check=False)

    biases = (0.097, 3.0)  # bound by the rescaled scale, then by the encoded bias
    inside = [largest_input_scale([bias], ctx) for bias in biases]
    done = run_original(*zip(biases, inside))
    assert done.returncode == 0, f"the original failed just inside the bound: {done.stderr[-300:]!r}"
    for bias, scale in zip(biases, inside):
        done = run_original((bias, math.nextafter(scale, math.inf)))
        assert done.returncode < 0, f"bias {bias}: the original did not abort one ulp above {scale!r}"
