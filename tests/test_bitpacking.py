"""Bit packing of residues: the vectorized pair against the one-big-integer oracles, round trips, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from heedu.errors import SerializationError
from heedu.inference.bitpacking import (
    pack_bits,
    pack_bits_reference,
    packed_size,
    unpack_bits,
    unpack_bits_reference,
)

WIDTHS = st.one_of(st.sampled_from([1, 7, 8, 9, 31, 32, 33, 55, 63, 64]), st.integers(1, 64))


@st.composite
def packable(draw: st.DrawFn, max_count: int = 300) -> tuple[int, list[int]]:
    """``(width, values)``: up to ``max_count`` values below ``2^width``, the extremes emphasised."""
    width = draw(WIDTHS)
    top = (1 << width) - 1
    value = st.one_of(st.sampled_from([0, 1, top, top >> 1]), st.integers(0, top))
    return width, draw(st.lists(value, min_size=0, max_size=max_count))


@st.composite
def packed_bytes(draw: st.DrawFn, max_count: int = 300) -> tuple[int, int, bytes]:
    """``(width, count, data)``: any bytes of the right length whose padding bits are zero."""
    width = draw(WIDTHS)
    count = draw(st.integers(0, max_count))
    total = draw(st.integers(0, (1 << (count * width)) - 1))
    return width, count, total.to_bytes(packed_size(count, width), "little")


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


def test_module_example() -> None:
    data = pack_bits(np.array([5, 3, 7], dtype=np.uint64), width=3)
    assert data.hex() == "dd01"  # 101 110 111 -> 0b1_1101_1101, least significant bit first
    assert unpack_bits(data, width=3, count=3).tolist() == [5, 3, 7]


def test_full_width_words_are_little_endian_bytes() -> None:
    values = np.array([0x0123456789ABCDEF, 2**64 - 1], dtype=np.uint64)
    assert pack_bits(values, 64) == values.astype("<u8").tobytes()


@pytest.mark.parametrize(
    ("count", "width", "size"),
    [(0, 1, 0), (0, 64, 0), (1, 1, 1), (8, 1, 1), (9, 1, 2), (3, 3, 2), (1, 64, 8), (4096, 55, 28160),
     (4096, 35, 17920)],
)
def test_packed_size(count: int, width: int, size: int) -> None:
    assert packed_size(count, width) == size


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_packed_size_is_the_ceiling_of_the_bits(count: int, width: int) -> None:
    size = packed_size(count, width)
    assert count * width <= 8 * size < count * width + 8


# --------------------------------------------------------------------------------------
# Fast equals oracle, and round trips
# --------------------------------------------------------------------------------------


@given(packable())
def test_pack_bits_equals_the_reference(case: tuple[int, list[int]]) -> None:
    width, values = case
    data = pack_bits(np.array(values, dtype=np.uint64), width)
    assert isinstance(data, bytes)
    assert data == pack_bits_reference(values, width)
    assert len(data) == packed_size(len(values), width)


@given(packed_bytes())
def test_unpack_bits_equals_the_reference(case: tuple[int, int, bytes]) -> None:
    width, count, data = case
    values = unpack_bits(data, width, count)
    assert values.dtype == np.uint64 and values.shape == (count,)
    assert values.tolist() == unpack_bits_reference(data, width, count)


@given(packable())
def test_round_trip(case: tuple[int, list[int]]) -> None:
    width, values = case
    array = np.array(values, dtype=np.uint64)
    data = pack_bits(array, width)
    assert unpack_bits(data, width, len(values)).tolist() == values
    assert unpack_bits(memoryview(data), width, len(values)).tolist() == values
    assert unpack_bits(bytearray(data), width, len(values)).tolist() == values
    assert unpack_bits_reference(data, width, len(values)) == values


@given(packed_bytes())
def test_unpack_then_pack_gives_the_same_bytes(case: tuple[int, int, bytes]) -> None:
    width, count, data = case
    assert pack_bits(unpack_bits(data, width, count), width) == data


@given(packable(max_count=60), st.sampled_from([(2, -1), (3, -1), (-1, 2)]))
def test_any_array_shape_packs_in_c_order(case: tuple[int, list[int]], shape: tuple[int, int]) -> None:
    width, values = case
    values = values[: len(values) // 6 * 6]
    array = np.array(values, dtype=np.uint64).reshape(shape)
    assert pack_bits(array, width) == pack_bits(array.reshape(-1), width)


# --------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------


@given(st.data())
def test_values_wider_than_the_width_are_refused(data: st.DataObject) -> None:
    width = data.draw(st.integers(1, 63))
    values = data.draw(st.lists(st.integers(0, (1 << width) - 1), max_size=20))
    too_wide = data.draw(st.one_of(st.sampled_from([1 << width, 2**64 - 1]), st.integers(1 << width, 2**64 - 1)))
    values.insert(data.draw(st.integers(0, len(values))), too_wide)
    with pytest.raises(ValueError, match=f"{width} bits"):
        pack_bits(np.array(values, dtype=np.uint64), width)


@pytest.mark.parametrize("width", [0, -1, 65, 128])
def test_widths_outside_1_to_64_are_refused(width: int) -> None:
    with pytest.raises(ValueError, match="width"):
        pack_bits(np.array([0], dtype=np.uint64), width)


@given(packable(max_count=100), st.integers(1, 9), st.booleans())
def test_wrong_lengths_are_refused(case: tuple[int, list[int]], change: int, longer: bool) -> None:
    width, values = case
    data = pack_bits(np.array(values, dtype=np.uint64), width)
    assume(longer or len(data) > 0)
    wrong = data + bytes(change) if longer else data[: max(0, len(data) - change)]
    with pytest.raises(SerializationError, match="bytes"):
        unpack_bits(wrong, width, len(values))


@given(packable(max_count=100).filter(lambda c: len(c[1]) * c[0] % 8), st.data())
def test_non_zero_padding_is_refused(case: tuple[int, list[int]], data: st.DataObject) -> None:
    width, values = case
    packed = bytearray(pack_bits(np.array(values, dtype=np.uint64), width))
    used = len(values) * width % 8  # bits of the last byte that hold values
    packed[-1] |= 1 << data.draw(st.integers(used, 7))
    with pytest.raises(SerializationError, match="padding"):
        unpack_bits(bytes(packed), width, len(values))


def test_unpack_refuses_one_stray_bit_after_three_values() -> None:
    assert unpack_bits(b"\xdd\x01", 3, 3).tolist() == [5, 3, 7]
    with pytest.raises(SerializationError):
        unpack_bits(b"\xdd\x03", 3, 3)
