r"""Key exchange through Azure Blob Storage, without sending the storage account key anywhere.

The tutorial's client uploads its public keys to a blob container and then puts
the *storage connection string* (account key included) in every scoring
request. The service downloads the 9 MB blob for every request. This module
replaces both habits:

* keys are uploaded under a **content address**, ``sha256-<hex digest>``, so the
  name says what the bytes are and the service can verify them after download;
* the client gives the service a **read-only, expiring SAS URL** for that one
  blob, never the account key;
* downloads are **bounded** and **contained**: only storage that a
  :class:`~azure_adapter.storage_policy.StoragePolicy` trusts is contacted (checked before
  connecting), one GET with no retries and no redirects, reading stops at the size limit
  whatever the server declares, and a watchdog ends the whole exchange at a deadline.

The service caches keys by content hash (``azure_adapter.score``), so a client
that sends many requests costs one download.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import re
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING

from heedu.errors import HeeduError

if TYPE_CHECKING:
    from .storage_policy import StoragePolicy, StorageTarget

MAX_KEY_BYTES = 32 * 1024 * 1024  # the tutorial's key blob is 8.98 MB, heedu's native bundle 5.9 MB
FETCH_DEADLINE_SECONDS = 5.0  # connect and read together; a 9 MB blob takes well under a second in-region
FETCH_SAS_LIFETIME = dt.timedelta(minutes=5)  # the service's own SAS for a connection-string read
READ_CHUNK_BYTES = 256 * 1024
CONTENT_ID = re.compile(r"^sha256-[0-9a-f]{64}$")


class KeyExchangeError(HeeduError, ValueError):
    """A key blob could not be uploaded, located, read or verified."""


def content_key_id(blob: bytes) -> str:
    """The content address of a key blob: ``sha256-`` and the hex SHA-256 of its bytes."""
    return "sha256-" + hashlib.sha256(blob).hexdigest()


def is_content_key_id(key_id: str) -> bool:
    return isinstance(key_id, str) and bool(CONTENT_ID.match(key_id))


def verify_content(key_id: str, blob: bytes) -> None:
    """Raise :class:`KeyExchangeError` if a content-addressed id does not match the bytes."""
    if is_content_key_id(key_id) and content_key_id(blob) != key_id:
        raise KeyExchangeError(
            f"the key blob does not match its id {key_id[:20]}...: it was modified or the wrong blob was given"
        )


def upload_public_keys(connection_string: str, container: str, blob: bytes) -> str:
    """Upload a key blob under its content address (idempotent) and return that id."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    if not isinstance(blob, (bytes, bytearray)) or not blob:
        raise KeyExchangeError("the key blob must be non-empty bytes")
    if len(blob) > MAX_KEY_BYTES:
        raise KeyExchangeError(f"the key blob is {len(blob)} bytes; the service accepts at most {MAX_KEY_BYTES}")
    key_id = content_key_id(bytes(blob))
    service = BlobServiceClient.from_connection_string(connection_string)
    container_client = service.get_container_client(container)
    try:
        container_client.create_container()
    except ResourceExistsError:
        pass
    try:
        container_client.upload_blob(key_id, bytes(blob), overwrite=False)
    except ResourceExistsError:
        pass  # same name, so same bytes: nothing to do
    return key_id


def read_only_sas_url(
    connection_string: str, container: str, key_id: str, lifetime: dt.timedelta = dt.timedelta(hours=1)
) -> str:
    """A URL that lets its holder read this one blob until it expires, and do nothing else."""
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    service = BlobServiceClient.from_connection_string(connection_string)
    credential = service.credential
    account_key = getattr(credential, "account_key", None)
    if account_key is None:
        raise KeyExchangeError("making a SAS needs a connection string with an account key")
    expiry = dt.datetime.now(dt.timezone.utc) + lifetime
    token = generate_blob_sas(
        account_name=service.account_name,
        container_name=container,
        blob_name=key_id,
        account_key=account_key,
        permission=BlobSasPermissions(read=True),
        expiry=expiry,
    )
    return f"{service.get_blob_client(container, key_id).url}?{token}"


def _abort(connection: http.client.HTTPConnection) -> None:
    """Shut the connection's socket down from the watchdog thread: whatever blocks on it returns at once."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _bounded_get(target: StorageTarget, max_bytes: int, deadline_seconds: float) -> tuple[bytes, str]:
    """One GET of ``target``: at most ``max_bytes`` (+1 to detect more) read, all within ``deadline_seconds``.

    Nothing the server says is trusted: not its Content-Length or Content-Range (the body is
    read in chunks and reading stops at ``max_bytes + 1``, so a lying server costs at most
    that much memory), not its pace (a socket timeout bounds one read only, so a server
    trickling a byte at a time could hold the worker for ever: a watchdog shuts the socket
    down at the deadline), not its redirects (not followed). There are no retries and no
    proxies: the request path must not multiply an attacker's waits, and only the checked
    host is contacted. ``Range`` asks an honest server for no more than we would read.
    (Resolving a trusted host name is left to the system resolver and its own timeouts.)
    """
    deadline = time.monotonic() + deadline_seconds
    if target.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=deadline_seconds, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=deadline_seconds)
    watchdog = threading.Timer(deadline_seconds, _abort, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or connection.sock is None:
            raise KeyExchangeError(f"no connection to {target.authority} within {deadline_seconds:g} s")
        connection.sock.settimeout(remaining)
        # Without x-ms-version, Azure serves a SAS request with the SAS's own version (its sv=).
        connection.request("GET", target.path, headers={"Range": f"bytes=0-{max_bytes}"})
        response = connection.getresponse()
        if response.status not in (200, 206):
            raise KeyExchangeError(f"{target.authority} answered HTTP {response.status}")
        data = bytearray()
        while len(data) <= max_bytes:
            chunk = response.read(min(READ_CHUNK_BYTES, max_bytes + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if time.monotonic() >= deadline:  # the watchdog cut the body short: not the whole blob
            raise KeyExchangeError(f"{target.authority} did not deliver the blob within {deadline_seconds:g} s")
        if len(data) > max_bytes:
            raise KeyExchangeError(f"the blob at {target.authority} is larger than {max_bytes} bytes")
        return bytes(data), response.getheader("ETag") or ""
    except (OSError, http.client.HTTPException) as error:  # ssl.SSLError and timeouts are OSErrors
        raise KeyExchangeError(f"reading from {target.authority} failed: {type(error).__name__}") from None
    finally:
        watchdog.cancel()
        connection.close()


def fetch_blob(
    url: str, policy: StoragePolicy, max_bytes: int = MAX_KEY_BYTES, deadline_seconds: float = FETCH_DEADLINE_SECONDS
) -> tuple[bytes, str]:
    """Download a blob by URL, ``(bytes, etag)``, if ``policy`` trusts its host; refused before any connection."""
    return _bounded_get(policy.target(url), max_bytes, deadline_seconds)


def fetch_by_sas_url(
    url: str, policy: StoragePolicy, max_bytes: int = MAX_KEY_BYTES, deadline_seconds: float = FETCH_DEADLINE_SECONDS
) -> tuple[bytes, str]:
    """Download a key blob through a SAS URL: ``(bytes, etag)``. Refuses URLs that are not SAS URLs."""
    target = policy.target(url)
    if "sig=" not in target.path.partition("?")[2]:
        raise KeyExchangeError("key_url must be a blob URL with a SAS token (its query holds 'sig=')")
    return _bounded_get(target, max_bytes, deadline_seconds)


def blob_url(connection_string: str, container: str, key_id: str) -> str:
    """The URL that reads one blob with a connection string's credential, derived as the Azure SDK derives it.

    The host comes from ``BlobEndpoint``, or from ``AccountName`` and ``EndpointSuffix``, exactly
    as the SDK would connect; with an account key the URL carries a short read-only SAS made
    locally (the key itself never goes on the wire), with a SAS in the string that SAS, else none.
    """
    from azure.storage.blob import BlobServiceClient

    # The SDK raises many kinds of error on strange strings (a key that is not base64, an IPv6
    # host without its bracket, ...): all mean the same to the caller.
    try:
        service = BlobServiceClient.from_connection_string(connection_string)
        if getattr(service.credential, "account_key", None) is not None:
            return read_only_sas_url(connection_string, container, key_id, lifetime=FETCH_SAS_LIFETIME)
        return str(service.get_blob_client(container, key_id).url)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise KeyExchangeError("the storage connection string is malformed") from None


def fetch_by_connection_string(
    connection_string: str,
    container: str,
    key_id: str,
    policy: StoragePolicy,
    max_bytes: int = MAX_KEY_BYTES,
    deadline_seconds: float = FETCH_DEADLINE_SECONDS,
) -> tuple[bytes, str]:
    """Download a key blob with a connection string: ``(bytes, etag)`` (the tutorial's way, or the service's own)."""
    return fetch_blob(blob_url(connection_string, container, key_id), policy, max_bytes, deadline_seconds)
