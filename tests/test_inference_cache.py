"""heedu.inference.cache: the byte-bounded LRU cache the services keep their clients' keys in."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import heedu
from heedu.inference.cache import ByteBoundedCache, array_bytes


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 40)), min_size=1, max_size=60), st.integers(1, 100))
def test_the_cache_holds_at_most_its_bound_and_evicts_the_least_recently_used(operations, bound):
    cache: ByteBoundedCache[int, bytes] = ByteBoundedCache(bound, size_of=len)
    model: list[tuple[int, int]] = []  # (key, size), least recently used first: the reference
    for key, size in operations:
        if size % 3 == 0 and cache.get(key) is not None:  # some operations are reads: the key moves to the end
            entry = next(entry for entry in model if entry[0] == key)
            model.remove(entry)
            model.append(entry)
            continue
        cache.put(key, bytes(size))
        model = [entry for entry in model if entry[0] != key] + [(key, size)]
        while sum(s for _, s in model) > bound and len(model) > 1:
            model.pop(0)
        assert cache.keys() == [k for k, _ in model]
        assert cache.size == sum(s for _, s in model)
        assert cache.size <= bound or len(cache) == 1


def test_parsed_keys_are_measured_by_their_arrays() -> None:
    ctx = heedu.CKKSContext(heedu.CKKSParameters(poly_modulus_degree=16, coeff_modulus_bits=[30, 30, 30],
                                                 allow_insecure=True, scale=2.0**20))
    keygen = heedu.KeyGenerator(ctx)
    galois, public = keygen.galois_keys(steps=[1]), keygen.public_key()
    expected = sum(k.data.nbytes for k in galois.keys.values()) + public.data.nbytes
    assert array_bytes((public, galois, b"key id")) == expected
    assert array_bytes(np.zeros(4)) == 32 and array_bytes("text") == 0


def test_the_cache_is_safe_across_threads() -> None:
    cache: ByteBoundedCache[int, bytes] = ByteBoundedCache(1000, size_of=len)

    def work(offset: int) -> None:
        for i in range(300):
            cache.put(offset + i % 17, bytes(37))
            cache.get(offset + (i * 7) % 17)

    threads = [threading.Thread(target=work, args=(100 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert cache.size == 37 * len(cache) <= 1000


@pytest.mark.parametrize("bound", [0, -5, 2.5, True, None])
def test_a_bound_must_be_a_positive_integer(bound: object) -> None:
    with pytest.raises(heedu.ParameterError):
        ByteBoundedCache(bound)  # type: ignore[arg-type]
