"""Files that are missing, not captures, truncated or corrupt: packets first, then one
CaptureError with the byte offset; never another exception."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.capture.reader import CaptureReader, open_error, read_packets
from tcpinc_tools.errors import CaptureError
from tests.support import fuzz_settings
from tests.unit.capture import handmade as hm

A, B = "192.0.2.1", "198.51.100.2"


def frame(seq: int) -> bytes:
    return hm.ethernet(hm.ipv4(A, B, hm.tcp_segment(A, B, 1000, 80, seq, payload=b"abc")), 0x0800)


def read_until_error(data: bytes, name: str = "capture.pcap") -> tuple[list[int], CaptureError]:
    stream = io.BytesIO(data)
    stream.name = name
    seqs: list[int] = []
    with pytest.raises(CaptureError) as info:
        for pkt in read_packets(stream):
            seqs.append(pkt.seq)
    return seqs, info.value


# -- cannot open ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError) as info:
        list(read_packets(path))
    assert str(info.value) == f"{path}: no such file"
    assert info.value.offset is None


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="is a directory"):
        list(read_packets(str(tmp_path)))


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (OSError(5, "Input/output error"), "cannot open: Input/output error"),
    ],
)
def test_open_error_lines(exc: OSError, text: str) -> None:
    assert open_error("x.pcap", exc) == f"x.pcap: {text}"


def test_an_open_error_the_system_gives(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    path = tmp_path / "file" / "x.pcap"  # a file where a directory should be: ENOTDIR
    with pytest.raises(CaptureError) as info:
        list(read_packets(str(path)))
    assert str(info.value) == f"{path}: cannot open: Not a directory"


def test_read_error_mid_file() -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls == 1:
                return hm.pcap_file([(1.0, frame(7))])
            raise OSError(5, "Input/output error")

    stream = Failing()
    seqs: list[int] = []
    with pytest.raises(CaptureError) as info:
        seqs.extend(p.seq for p in read_packets(stream))  # type: ignore[arg-type]
    assert seqs == [7]
    size = len(hm.pcap_file([(1.0, frame(7))]))
    assert info.value.offset == size
    assert str(info.value) == f"<capture>: read error at byte {size}: Input/output error"


# -- not a capture --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "capture.pcap: empty file, not a pcap or pcapng capture at byte 0"),
        (
            b"\xd4\xc3",
            "capture.pcap: not a pcap or pcapng file (too short for a magic number) at byte 0",
        ),
        (
            b"GET / HTTP/1.1\r\n",
            "capture.pcap: not a pcap or pcapng file (magic number 0x47455420) at byte 0",
        ),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "capture.pcap: truncated pcap file header at byte 0"),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 3, 0, 0, 0, 65535, 1),
            "capture.pcap: unsupported pcap version 3.0 at byte 4",
        ),
    ],
)
def test_not_a_capture(data: bytes, message: str) -> None:
    seqs, err = read_until_error(data)
    assert seqs == []
    assert str(err) == message


def test_pcap_header_only_is_an_empty_capture() -> None:
    reader = CaptureReader(io.BytesIO(hm.pcap_file([])))
    assert list(reader) == []
    assert reader.stats.packets == 0


# -- truncated ------------------------------------------------------------------------------


def _pcapng(frames: list[bytes]) -> tuple[bytes, int]:
    head = hm.pcapng_shb() + hm.pcapng_idb(1)
    blocks = [hm.pcapng_epb(0, i * 1000, f) for i, f in enumerate(frames)]
    last = len(head) + sum(len(b) for b in blocks[:-1])
    return head + b"".join(blocks), last


def _pcap(frames: list[bytes]) -> tuple[bytes, int]:
    data = hm.pcap_file([(float(i), f) for i, f in enumerate(frames)])
    return data, len(data) - 16 - len(frames[-1])


@pytest.mark.parametrize("build", [_pcap, _pcapng])
def test_cut_anywhere_in_the_last_record(build: object) -> None:
    data, last = build([frame(1), frame(2), frame(3)])  # type: ignore[operator]
    for cut in range(last + 1, len(data)):
        seqs, err = read_until_error(data[:cut])
        assert seqs == [1, 2], cut
        assert err.offset == last, cut
        assert str(err).startswith("capture.pcap: truncated "), cut
        assert str(err).endswith(f" at byte {last}"), cut
    # Cut exactly between records: a complete, shorter capture.
    assert [p.seq for p in read_packets(io.BytesIO(data[:last]))] == [1, 2]


def test_truncated_message_names_the_record() -> None:
    data, last = _pcap([frame(1), frame(2)])
    _, err = read_until_error(data[: last + 20])
    assert str(err) == f"capture.pcap: truncated packet record at byte {last}"
    _, err = read_until_error(data[: last + 5])
    assert str(err) == f"capture.pcap: truncated packet record header at byte {last}"


# -- corrupt --------------------------------------------------------------------------------


def test_pcap_absurd_captured_length() -> None:
    good = hm.pcap_file([(1.0, frame(1))])
    data = good + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"\x00" * 64
    seqs, err = read_until_error(data)
    assert seqs == [1]
    assert err.offset == len(good)
    assert "captured length 2147483647 is too large" in str(err)


SHB = hm.pcapng_shb()
IDB = hm.pcapng_idb(1)
EPB = hm.pcapng_epb(0, 5, frame(1))


def _block_header(btype: int, length: int) -> bytes:
    return struct.pack("<II", btype, length)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (_block_header(6, 8) + b"\x00" * 8, "invalid block length 8"),
        (_block_header(6, 14) + b"\x00" * 8, "invalid block length 14"),
        (_block_header(6, 0x7FFFFFFC) + b"\x00" * 8, "invalid block length 2147483644"),
        (EPB[:-4] + struct.pack("<I", len(EPB) + 4), "trailing length does not match"),
        (hm.pcapng_epb(3, 5, frame(1)), "no interface 3"),
        (hm.pcapng_block(6, b"\x00" * 16), "packet block (too short)"),
        (
            hm.pcapng_block(6, struct.pack("<IIIII", 0, 0, 0, 500, 500) + b"\x00" * 8),
            "captured length overruns block",
        ),
        (hm.pcapng_block(1, b"\x01\x00"), "interface description (too short)"),
        (
            hm.pcapng_block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 40) + b"\x06"),
            "option overruns block",
        ),
        (
            hm.pcapng_block(0x0A0D0D0A, b"\x4d\x3c\x2b\x1a" + b"\x00" * 4),
            "section header (too short)",
        ),
        (hm.pcapng_block(0x0A0D0D0A, b"\x11\x22\x33\x44" + b"\x00" * 12), "bad byte-order magic"),
        (
            hm.pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)),
            "unsupported pcapng version 2.0",
        ),
    ],
)
def test_pcapng_corruption(tail: bytes, message: str) -> None:
    head = SHB + IDB + EPB
    seqs, err = read_until_error(head + tail)
    assert seqs == [1]
    assert err.offset == len(head)
    assert message in str(err)
    assert str(err).endswith(f"at byte {len(head)}")


def test_pcapng_simple_packet_block_before_any_interface() -> None:
    data = SHB + hm.pcapng_block(3, struct.pack("<I", 4) + b"abcd")
    seqs, err = read_until_error(data)
    assert seqs == [] and err.offset == len(SHB)
    assert "simple packet block" in str(err)


def test_pcapng_truncated_block_header() -> None:
    seqs, err = read_until_error(SHB + IDB + EPB + b"\x06\x00\x00\x00\x20")
    assert seqs == [1]
    assert str(err) == f"capture.pcap: truncated pcapng block header at byte {len(SHB + IDB + EPB)}"


def test_new_section_forgets_the_interfaces() -> None:
    seqs, err = read_until_error(SHB + IDB + EPB + SHB + EPB)
    assert seqs == [1]
    assert "no interface 0" in str(err)


# -- the decoder contract -------------------------------------------------------------------

_VALID = [
    hm.pcap_file([(1.0, frame(1)), (2.0, frame(2))]),
    hm.pcap_file(
        [(1.0, hm.ipv6("::1", "::2", hm.tcp_segment("::1", "::2", 1, 2, 3)))], linktype=101
    ),
    hm.pcap_file([(1.0, frame(1))], endian=">", nano=True),
    SHB
    + IDB
    + hm.pcapng_idb(113, tsresol=0x85, tsoffset=-5)
    + EPB
    + hm.pcapng_epb(1, 9, hm.sll(b"\x45", 0x0800)),
]


@st.composite
def capture_like(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=300))
    base = bytearray(draw(st.sampled_from(_VALID)))
    if kind == 1:
        # Keep a valid file header, then anything.
        return bytes(base[: draw(st.integers(0, 40))]) + draw(st.binary(max_size=200))
    for _ in range(draw(st.integers(1, 6))):
        base[draw(st.integers(0, len(base) - 1))] = draw(st.integers(0, 255))
    return bytes(base[: draw(st.integers(0, len(base)))])


@fuzz_settings
@given(capture_like())
def test_decoder_contract_any_bytes(data: bytes) -> None:
    reader = CaptureReader(io.BytesIO(data))
    try:
        for pkt in reader:
            assert pkt.tcp_offset + 20 + len(pkt.options) <= len(pkt.frame)
            assert 0 <= pkt.number - 1 < reader.stats.packets
    except CaptureError as err:
        assert err.offset is not None and 0 <= err.offset <= len(data)
    stats = reader.stats
    skipped = stats.non_tcp + stats.fragments + stats.malformed + stats.headers_truncated
    assert stats.tcp + skipped == stats.packets


def test_capture_error_family() -> None:
    from tcpinc_tools.errors import DecodeError, TcpincError

    assert issubclass(CaptureError, TcpincError) and not issubclass(CaptureError, DecodeError)
    err = CaptureError("f.pcap: truncated packet record at byte 40", offset=40)
    assert (err.offset, err.message, str(err)) == (40, err.message, err.message)
