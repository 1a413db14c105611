r"""Key exchange through Azure Blob Storage, without sending the storage account key anywhere.

The tutorial's client uploads its public keys to a blob container and then puts
the *storage connection string* (account key included) in every scoring
request. The service downloads the 9 MB blob for every request. This module
replaces both habits:

* keys are uploaded under a **content address**, ``sha256-<hex digest>``, so the
  name says what the bytes are and the service can verify them after download;
* the client gives the service a **read-only, expiring SAS URL** for that one
  blob, never the account key;
* downloads are **bounded**: the size is checked from the blob's properties
  before reading, and again while reading.

The service caches keys by content hash (``azure_adapter.score``), so a client
that sends many requests costs one download.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from urllib.parse import urlparse

from heedu.errors import HeeduError

MAX_KEY_BYTES = 32 * 1024 * 1024  # the tutorial's key blob is 8.98 MB, heedu's native bundle 5.9 MB
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


def _download(blob_client: object, max_bytes: int) -> tuple[bytes, str]:
    from azure.core.exceptions import AzureError, HttpResponseError

    try:
        properties = blob_client.get_blob_properties()  # type: ignore[attr-defined]
        if properties.size > max_bytes:
            raise KeyExchangeError(f"the key blob is {properties.size} bytes; at most {max_bytes} are accepted")
        data = blob_client.download_blob(max_concurrency=1).readall()  # type: ignore[attr-defined]
    except HttpResponseError as error:
        status = getattr(error, "status_code", None)
        raise KeyExchangeError(
            f"the key blob could not be read (HTTP {status}): check that it exists and that the SAS URL is "
            "read-enabled and not expired"
        ) from None
    except AzureError as error:
        raise KeyExchangeError(f"the key blob could not be read: {type(error).__name__}") from None
    if len(data) > max_bytes:
        raise KeyExchangeError(f"the key blob grew to {len(data)} bytes while reading; at most {max_bytes}")
    return data, str(properties.etag)


def fetch_by_sas_url(url: str, max_bytes: int = MAX_KEY_BYTES) -> tuple[bytes, str]:
    """Download a key blob through a SAS URL: ``(bytes, etag)``. Refuses URLs that are not SAS URLs."""
    from azure.storage.blob import BlobClient

    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc or "sig=" not in parsed.query:
        raise KeyExchangeError("key_url must be an http(s) blob URL with a SAS token (its query holds 'sig=')")
    return _download(BlobClient.from_blob_url(url), max_bytes)


def fetch_by_connection_string(
    connection_string: str, container: str, key_id: str, max_bytes: int = MAX_KEY_BYTES
) -> tuple[bytes, str]:
    """Download a key blob with a connection string: ``(bytes, etag)`` (the tutorial's way, or the service's own)."""
    from azure.storage.blob import BlobServiceClient

    try:
        service = BlobServiceClient.from_connection_string(connection_string)
    except ValueError:
        raise KeyExchangeError("the storage connection string is malformed") from None
    return _download(service.get_blob_client(container, key_id), max_bytes)
