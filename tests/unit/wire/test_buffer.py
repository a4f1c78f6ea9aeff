"""Buffer: pulls, pushes, and the rule that a failed pull leaves the position unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, TruncatedError
from tcpinc_tools.wire.buffer import Buffer
from tests.support import fuzz_settings


def test_pull_big_endian_integers() -> None:
    buf = Buffer(bytes.fromhex("01 0203 04050607 08090a0b0c0d0e0f ff"))
    assert buf.pull_uint8() == 0x01
    assert buf.pull_uint16() == 0x0203
    assert buf.pull_uint32() == 0x04050607
    assert buf.pull_uint64() == 0x08090A0B0C0D0E0F
    assert buf.tell() == 15
    assert buf.remaining == 1
    assert not buf.eof()
    assert buf.pull_rest() == b"\xff"
    assert buf.eof()


@pytest.mark.parametrize(
    ("method", "width"),
    [("pull_uint8", 1), ("pull_uint16", 2), ("pull_uint32", 4), ("pull_uint64", 8)],
)
def test_failed_pull_leaves_position_and_reports_offset(method: str, width: int) -> None:
    buf = Buffer(b"\xaa" * (width + 1))
    buf.pull_bytes(2)
    start = buf.tell()
    with pytest.raises(TruncatedError) as info:
        getattr(buf, method)("the_field")
    assert buf.tell() == start
    assert info.value.offset == start
    assert info.value.field == "the_field"
    assert isinstance(info.value, DecodeError)
    assert "the_field" in str(info.value) and f"offset {start}" in str(info.value)


def test_pull_bytes_negative_and_too_long() -> None:
    buf = Buffer(b"abc")
    with pytest.raises(DecodeError):
        buf.pull_bytes(-1)
    with pytest.raises(TruncatedError):
        buf.pull_bytes(4)
    assert buf.tell() == 0
    assert buf.pull_bytes(3) == b"abc"


def test_seek_and_bounds() -> None:
    buf = Buffer(b"abcd")
    buf.seek(2)
    assert buf.pull_bytes(2) == b"cd"
    buf.seek(0)
    assert buf.pull_uint8() == ord("a")
    with pytest.raises(DecodeError):
        buf.seek(5)
    with pytest.raises(DecodeError):
        buf.seek(-1)
    assert buf.tell() == 1


def test_push_then_read_back() -> None:
    out = Buffer()
    out.push_uint8(0x15)
    out.push_uint16(0x101A)
    out.push_uint32(0x0E000000)
    out.push_uint64(1)
    out.push_bytes(b"\x00\xff")
    assert out.data == bytes.fromhex("15 101a 0e000000 0000000000000001 00ff")
    assert len(out) == 17
    assert out.tell() == 17
    back = Buffer(out.data)
    assert back.pull_uint8() == 0x15
    assert back.pull_uint16() == 0x101A


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("push_uint8", 256),
        ("push_uint16", 1 << 16),
        ("push_uint32", 1 << 32),
        ("push_uint64", 1 << 64),
        ("push_uint8", -1),
    ],
)
def test_push_out_of_range(method: str, value: int) -> None:
    with pytest.raises(EncodeError):
        getattr(Buffer(), method)(value)


@fuzz_settings
@given(st.binary(max_size=32), st.lists(st.sampled_from([1, 2, 4, 8, 3, 0]), max_size=12))
def test_pull_contract(data: bytes, widths: list[int]) -> None:
    """Any sequence of pulls on any bytes gives values or TruncatedError, position intact."""
    buf = Buffer(data)
    pulls = {1: buf.pull_uint8, 2: buf.pull_uint16, 4: buf.pull_uint32, 8: buf.pull_uint64}
    for w in widths:
        before = buf.tell()
        try:
            if w in pulls:
                pulls[w]()
            else:
                buf.pull_bytes(w)
        except TruncatedError:
            assert buf.tell() == before
            assert before + w > len(data)
        else:
            assert buf.tell() == before + w
