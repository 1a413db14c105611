r"""Which storage the scoring service may contact: decided from the URL alone, before any connection.

A scoring request names where its public keys are (``key_url``, or ``conn_str`` whose
``BlobEndpoint`` or ``EndpointSuffix`` decides the host). Without a policy that is a
server-side request forgery: the service would connect to any address an attacker
names, including its own port and internal services, and its answers would tell open
ports from closed ones. :class:`StoragePolicy` admits only:

* ``*.blob.core.windows.net`` on the scheme's default port (Azure Blob Storage);
* the account of the service's own ``HEEDU_KEY_STORE_CONNECTION_STRING``;
* the hosts listed in ``HEEDU_TRUSTED_STORAGE``: comma-separated ``host[:port]`` entries
  (``[v6]:port`` for IPv6), ``*.suffix`` for any one DNS label under ``suffix``; an entry
  without a port means the URL scheme's default port (443 for https, 80 for http).

Matching is exact, on the host and port the service will then connect to (the same parsed
values, so a URL cannot be read one way here and another way by the HTTP client). URLs
that are not plain ``http(s)://host[:port]/path?query`` are refused outright: user info
(``http://trusted@evil/``), backslashes, whitespace or any non-ASCII character, fragments,
trailing dots in the host. Host names compare in lower case; IP addresses compare as
written, so ``[::ffff:127.0.0.1]`` does not match ``127.0.0.1`` (and is refused).

>>> policy = StoragePolicy([AZURE_BLOB_HOSTS, "127.0.0.1:10000"])
>>> policy.target("https://acct.blob.core.windows.net/keys/k?sig=x").host
'acct.blob.core.windows.net'
>>> policy.target("http://127.0.0.1:10000/devstoreaccount1/keys/k?sig=x").port
10000
>>> policy.target("http://127.0.0.1:10001/devstoreaccount1/keys/k?sig=x")
Traceback (most recent call last):
...
azure_adapter.storage_policy.UntrustedStorageError: 127.0.0.1:10001 is not trusted storage
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .keys import KeyExchangeError

TRUSTED_STORAGE_ENV = "HEEDU_TRUSTED_STORAGE"
KEY_STORE_ENV = "HEEDU_KEY_STORE_CONNECTION_STRING"
AZURE_BLOB_HOSTS = "*.blob.core.windows.net"
DEFAULT_PORTS = {"http": 80, "https": 443}

# One DNS label as Azure storage account names and ordinary host names use them (lower case by now).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Printable ASCII without space and backslash: anything else is a parser-differential trick or a typo.
_PLAIN_URL = re.compile(r"^[\x21-\x5b\x5d-\x7e]+$")


class UntrustedStorageError(KeyExchangeError):
    """A URL names storage outside the trusted list, or is not a plain http(s) URL: refused before connecting."""


@dataclass(frozen=True)
class StorageTarget:
    """Where one download will go: exactly these values are checked and then connected to."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TrustedHost:
    """One trusted entry: an exact host, or ``*.suffix`` for one label under it; ``port`` None = scheme default."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> TrustedHost:
        """Parse ``host[:port]`` (``[v6]:port``, ``*.suffix``); raises ValueError for anything else."""
        text = entry.strip()
        if not text or not _PLAIN_URL.match(text) or any(c in text for c in "/?#@"):
            raise ValueError(f"trusted storage entry {entry!r} is not host[:port]")
        try:
            parts = urlsplit("//" + text)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            raise ValueError(f"trusted storage entry {entry!r} has an invalid host or port") from None
        if not host or host.endswith("."):
            raise ValueError(f"trusted storage entry {entry!r} has no valid host")
        if host.startswith("*."):
            if not all(_LABEL.match(label) for label in host[2:].split(".")):
                raise ValueError(f"trusted storage entry {entry!r}: '*.' must be followed by a DNS name")
        return cls(host, port)

    def admits(self, host: str, port: int, scheme: str) -> bool:
        if port != (self.port if self.port is not None else DEFAULT_PORTS[scheme]):
            return False
        if self.host.startswith("*."):
            label, dot, rest = host.partition(".")
            return bool(dot) and rest == self.host[2:] and bool(_LABEL.match(label))
        return host == self.host


class StoragePolicy:
    """The set of storage hosts the service may download keys from (see the module docstring)."""

    def __init__(self, entries: Iterable[str | TrustedHost]) -> None:
        self.trusted = tuple(e if isinstance(e, TrustedHost) else TrustedHost.parse(e) for e in entries)

    def __repr__(self) -> str:
        shown = ", ".join(f"{t.host}:{t.port}" if t.port is not None else t.host for t in self.trusted)
        return f"StoragePolicy({shown})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StoragePolicy:
        """Azure Blob Storage, the service's own key store and ``HEEDU_TRUSTED_STORAGE``.

        Raises ValueError on a malformed entry or key-store connection string: a service that
        cannot say which storage it trusts must not start.
        """
        environ = os.environ if environ is None else environ
        entries: list[str | TrustedHost] = [AZURE_BLOB_HOSTS]
        store = environ.get(KEY_STORE_ENV)
        if store:
            entries.append(_store_host(store))
        entries += [e for e in environ.get(TRUSTED_STORAGE_ENV, "").split(",") if e.strip()]
        return cls(entries)

    def target(self, url: object) -> StorageTarget:
        """The parsed URL if it names trusted storage; raises :class:`UntrustedStorageError` otherwise."""
        if not isinstance(url, str) or not _PLAIN_URL.match(url):
            raise UntrustedStorageError("the URL is not plain printable ASCII")
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            raise UntrustedStorageError("the URL's host or port is malformed") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise UntrustedStorageError(f"scheme {parts.scheme!r} is not http or https")
        if "@" in parts.netloc or "#" in url:
            raise UntrustedStorageError("the URL has user info or a fragment")
        port = port if port is not None else DEFAULT_PORTS[parts.scheme]
        if not host or host.endswith(".") or not parts.path.startswith("/"):
            raise UntrustedStorageError("the URL has no valid host or path")
        target = StorageTarget(parts.scheme, host, port, parts.path + (f"?{parts.query}" if parts.query else ""))
        if not any(t.admits(host, port, parts.scheme) for t in self.trusted):
            raise UntrustedStorageError(f"{target.authority} is not trusted storage")
        return target


def _store_host(connection_string: str) -> TrustedHost:
    """The blob endpoint host and port of a connection string, as the Azure SDK derives them."""
    from azure.storage.blob import BlobServiceClient

    try:
        url = BlobServiceClient.from_connection_string(connection_string).url
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ValueError(f"{KEY_STORE_ENV} is not a valid storage connection string") from None
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{KEY_STORE_ENV} names no http(s) blob endpoint")
    return TrustedHost(parts.hostname, parts.port if parts.port is not None else DEFAULT_PORTS[parts.scheme])
