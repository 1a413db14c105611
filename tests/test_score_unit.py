"""Parts of the scoring script that need no server: the key cache, request parsing, content ids."""

from __future__ import annotations

import pytest

pytest.importorskip("azureml_inference_server_http", reason="azure_adapter.score runs inside the inference server")

from azure_adapter.keys import KeyExchangeError, content_key_id, is_content_key_id, verify_content
from azure_adapter.score import (
    CONTAINER,
    KEY_ID,
    KEYS_UNAVAILABLE,
    MAX_REQUEST_BYTES,
    KeyCache,
    RequestError,
    _fetch_seconds,
    _keys_unavailable,
    _parse,
)


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


def test_the_key_fetch_deadline_is_a_few_seconds_unless_configured() -> None:
    assert _fetch_seconds(None) == _fetch_seconds("") == 5.0
    assert _fetch_seconds("2.5") == 2.5
    for bad in ("0", "-1", "61", "nan", "inf", "five"):
        with pytest.raises(RuntimeError, match="HEEDU_KEY_FETCH_SECONDS"):
            _fetch_seconds(bad)


def test_every_key_failure_gets_the_same_message_and_the_detail_goes_to_the_log(caplog) -> None:
    with caplog.at_level("WARNING", logger="heedu.score"):
        error = _keys_unavailable("not a SEAL object: magic 0xABCD at offset 0")
    assert isinstance(error, KeyExchangeError) and str(error) == KEYS_UNAVAILABLE
    assert "0xABCD" not in KEYS_UNAVAILABLE and "0xABCD" in caplog.text


@pytest.mark.parametrize("key_id", ["sha256-" + "0" * 64, "k3x7tutorialkeyid2345", "my.keys_v2=", "A"])
def test_key_ids_are_plain_blob_names(key_id: str) -> None:
    assert KEY_ID.match(key_id)


@pytest.mark.parametrize("key_id", ["../x", "a/b", "a?sig=1", "%2e%2e", ".hidden", "", "x" * 257, "a b"])
def test_key_ids_with_paths_or_queries_are_refused(key_id: str) -> None:
    assert not KEY_ID.match(key_id)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("heedu-keys", True),
        ("abc", True),
        ("ab", False),
        ("a--b", False),
        ("-abc", False),
        ("Keys", False),
        ("../c", False),
        ("a" * 64, False),
    ],
)
def test_container_names_follow_azure_rules(name: str, valid: bool) -> None:
    assert bool(CONTAINER.match(name)) == valid
