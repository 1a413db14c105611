"""Parts of the scoring script that need no server: the key cache, request parsing, content ids."""

from __future__ import annotations

import pytest

pytest.importorskip("azureml_inference_server_http", reason="azure_adapter.score runs inside the inference server")

from azure_adapter.keys import KeyExchangeError, content_key_id, is_content_key_id, verify_content
from azure_adapter.score import MAX_REQUEST_BYTES, KeyCache, RequestError, _parse


def test_key_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used() -> None:
    cache = KeyCache(max_bytes=250)
    first = cache.put(b"a" * 100, "src-a", "etag-a")
    second = cache.put(b"b" * 100)
    assert cache.get(first) == b"a" * 100  # first is now the most recently used
    third = cache.put(b"c" * 100)
    assert cache.size <= 250
    assert cache.get(second) is None and cache.get(first) is not None and cache.get(third) is not None
    assert cache.alias("src-a", "etag-a") == first
    cache.put(b"d" * 200)
    assert cache.alias("src-a", "etag-a") is None  # evicted blobs lose their aliases too


def test_content_ids_are_checked_against_the_bytes() -> None:
    blob = b"public keys"
    key_id = content_key_id(blob)
    assert is_content_key_id(key_id) and not is_content_key_id("tutorial-key-id")
    verify_content(key_id, blob)
    verify_content("tutorial-key-id", b"anything")  # not content-addressed: nothing to check
    with pytest.raises(KeyExchangeError, match="does not match"):
        verify_content(key_id, b"other bytes")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (42, "JSON object"),
        ("x" * (MAX_REQUEST_BYTES + 1), "at most"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_parse_refuses_bad_bodies(raw: object, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        _parse(raw)


def test_parse_accepts_bytes_and_objects() -> None:
    assert _parse(b'{"data": [], "key_id": "k"}') == {"data": [], "key_id": "k"}
