"""TCP header codec and checksum (RFC 9293 §3.1, RFC 8200 §8.1, RFC 1071)."""

from __future__ import annotations

import ipaddress

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, MalformedError, TruncatedError
from tcpinc_tools.protocol.segment import (
    Segment,
    TcpFlags,
    decode_tcp_header,
    encode_tcp_header,
    tcp_checksum,
    verify_tcp_checksum,
)
from tests.support import fuzz_settings, property_settings

H = bytes.fromhex
SRC4 = bytes((192, 0, 2, 1))  # 192.0.2.1 (RFC 5737 documentation range)
DST4 = bytes((198, 51, 100, 2))  # 198.51.100.2
SRC6 = ipaddress.ip_address("2001:db8::1").packed  # RFC 3849 documentation range
DST6 = ipaddress.ip_address("2001:db8::2").packed

# Source port 12345, destination port 80, seq 1, ack 0, SYN, window 65535, no options.
FIXED = Segment(12345, 80, 1, 0, TcpFlags.SYN, 0xFFFF, b"", b"")


def ones_complement_sum(words: list[int]) -> int:
    """RFC 1071 §4.1's loop: add 16-bit words, fold the carries back in."""
    total = 0
    for word in words:
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_flag_bits_are_rfc_9293() -> None:
    # RFC 9293 §3.1: CWR ECE URG ACK PSH RST SYN FIN, from the high bit of byte 13 down.
    assert [int(f) for f in TcpFlags] == [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
    assert [f.name for f in TcpFlags] == ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]


def test_segment_properties() -> None:
    syn_fin = Segment(1, 2, 0, 0, TcpFlags.SYN | TcpFlags.FIN, 0, b"", b"abc")
    assert syn_fin.is_syn and syn_fin.is_fin and not syn_fin.is_ack and not syn_fin.is_rst
    assert syn_fin.seg_len == 5  # RFC 9293 §3.3.1: data + SYN + FIN
    ack = Segment(1, 2, 0, 0, TcpFlags.ACK | TcpFlags.RST, 0, b"", b"")
    assert ack.is_ack and ack.is_rst and ack.seg_len == 0
    assert "[R.]" in ack.describe()


def test_ipv4_checksum_by_hand() -> None:
    # Pseudo-header: 192.0.2.1, 198.51.100.2, zero+PTCL 6, TCP length 20.
    pseudo = [0xC000, 0x0201, 0xC633, 0x6402, 0x0006, 0x0014]
    # Header words with the checksum field zero: ports, seq, ack, offset 5 + SYN, window,
    # checksum, urgent pointer.
    header = [0x3039, 0x0050, 0x0000, 0x0001, 0x0000, 0x0000, 0x5002, 0xFFFF, 0x0000, 0x0000]
    # Sum = 0x36CDB, folded 0x6CDB + 0x3 = 0x6CDE, complement 0x9321.
    assert ones_complement_sum(pseudo + header) == 0x6CDE
    expected = H("3039 0050 00000001 00000000 5002 ffff 9321 0000")
    assert encode_tcp_header(FIXED, SRC4, DST4) == expected
    assert tcp_checksum(SRC4, DST4, expected[:16] + b"\x00\x00" + expected[18:]) == 0x9321
    assert verify_tcp_checksum(SRC4, DST4, expected)
    assert tcp_checksum(SRC4, DST4, expected) == 0


def test_ipv6_checksum_by_hand() -> None:
    # RFC 8200 §8.1: source, destination, upper-layer length (32 bits), 3 zeros, next header.
    pseudo = [0x2001, 0x0DB8, 0, 0, 0, 0, 0, 0x0001, 0x2001, 0x0DB8, 0, 0, 0, 0, 0, 0x0002]
    pseudo += [0x0000, 0x0014, 0x0000, 0x0006]
    header = [0x3039, 0x0050, 0x0000, 0x0001, 0x0000, 0x0000, 0x5002, 0xFFFF, 0x0000, 0x0000]
    # Sum = 0x1DC1A, folded 0xDC1B, complement 0x23E4.
    assert ones_complement_sum(pseudo + header) == 0xDC1B
    expected = H("3039 0050 00000001 00000000 5002 ffff 23e4 0000")
    assert encode_tcp_header(FIXED, SRC6, DST6) == expected
    assert verify_tcp_checksum(SRC6, DST6, expected)


def test_checksum_odd_length_and_options() -> None:
    seg = Segment(
        40000,
        443,
        0xFFFFFFF0,
        0x12345678,
        TcpFlags.ACK | TcpFlags.PSH,
        512,
        H("0101080a0000000100000002"),
        b"odd",
        urgent_pointer=0,
    )
    wire = encode_tcp_header(seg, SRC4, DST4)
    assert wire[12] == (8 << 4)  # data offset 8 = 20 + 12 option bytes
    # Independent oracle: dpkt computes the TCP checksum when it packs the IP packet.
    tcp = dpkt.tcp.TCP(
        sport=40000,
        dport=443,
        seq=0xFFFFFFF0,
        ack=0x12345678,
        flags=0x18,
        win=512,
        off=8,  # dpkt does not derive the data offset from opts
        opts=seg.options,
        data=b"odd",
    )
    ip = dpkt.ip.IP(src=SRC4, dst=DST4, p=6, data=tcp)
    bytes(ip)
    assert bytes(tcp) == wire
    assert int.from_bytes(wire[16:18], "big") == tcp.sum
    flipped = wire[:-1] + bytes([wire[-1] ^ 1])
    assert not verify_tcp_checksum(SRC4, DST4, flipped)


def test_decode_fixed_segment() -> None:
    seg = decode_tcp_header(H("3039 0050 00000001 00000000 5002 ffff 9321 0000"))
    assert seg == FIXED


def test_decode_keeps_options_and_payload_apart() -> None:
    data = H("9c40 01bb 00000064 000000c8 7018 0200 0000 0005 020405b4 01030307 68656c6c6f")
    seg = decode_tcp_header(data)
    assert seg.options == H("020405b4 01030307")
    assert seg.payload == b"hello"
    assert seg.flags == TcpFlags.ACK | TcpFlags.PSH
    assert seg.urgent_pointer == 5
    assert (seg.seq, seg.ack, seg.window) == (100, 200, 512)


def test_decode_ignores_reserved_bits() -> None:
    # RFC 9293 §3.1: the four reserved bits after the data offset are ignored on receipt.
    seg = decode_tcp_header(H("0001 0002 00000000 00000000 5f10 0000 0000 0000"))
    assert seg.flags == TcpFlags.ACK


@pytest.mark.parametrize("length", [0, 1, 12, 19])
def test_decode_truncated_header(length: int) -> None:
    data = H("3039 0050 00000001 00000000 5002 ffff 9321 0000")[:length]
    with pytest.raises(TruncatedError) as info:
        decode_tcp_header(data)
    assert info.value.expert_id == "tcp.header.truncated"
    assert info.value.offset is not None and info.value.offset <= length


@pytest.mark.parametrize("offset_nibble", [0, 1, 4])
def test_decode_data_offset_below_five(offset_nibble: int) -> None:
    data = bytearray(H("3039 0050 00000001 00000000 5002 ffff 9321 0000"))
    data[12] = offset_nibble << 4
    with pytest.raises(MalformedError) as info:
        decode_tcp_header(bytes(data))
    assert info.value.expert_id == "tcp.header.bad_data_offset"
    assert (info.value.offset, info.value.field) == (12, "data_offset")


def test_decode_data_offset_past_end() -> None:
    data = H("3039 0050 00000001 00000000 6002 ffff 0000 0000 0204")  # says 24, has 22
    with pytest.raises(TruncatedError) as info:
        decode_tcp_header(data)
    assert info.value.expert_id == "tcp.header.bad_data_offset"


@pytest.mark.parametrize(
    ("seg", "src", "dst"),
    [
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 0, b"\x01\x01\x01", b""), SRC4, DST4),
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 0, bytes(44), b""), SRC4, DST4),
        (Segment(70000, 2, 0, 0, TcpFlags.ACK, 0, b"", b""), SRC4, DST4),
        (Segment(1, 2, 1 << 32, 0, TcpFlags.ACK, 0, b"", b""), SRC4, DST4),
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 1 << 16, b"", b""), SRC4, DST4),
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 0, b"", b"", urgent_pointer=-1), SRC4, DST4),
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 0, b"", b""), SRC4, DST6),
        (Segment(1, 2, 0, 0, TcpFlags.ACK, 0, b"", b""), b"\x00" * 5, b"\x00" * 5),
    ],
)
def test_encode_rejects_what_does_not_fit(seg: Segment, src: bytes, dst: bytes) -> None:
    with pytest.raises(EncodeError):
        encode_tcp_header(seg, src, dst)


segments = st.builds(
    Segment,
    src_port=st.integers(0, 0xFFFF),
    dst_port=st.integers(0, 0xFFFF),
    seq=st.integers(0, 0xFFFFFFFF),
    ack=st.integers(0, 0xFFFFFFFF),
    flags=st.integers(0, 0xFF).map(TcpFlags),
    window=st.integers(0, 0xFFFF),
    options=st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    payload=st.binary(max_size=200),
    urgent_pointer=st.integers(0, 0xFFFF),
)


@property_settings
@given(seg=segments, v6=st.booleans())
def test_round_trip(seg: Segment, v6: bool) -> None:
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    wire = encode_tcp_header(seg, src, dst)
    assert decode_tcp_header(wire) == seg
    assert verify_tcp_checksum(src, dst, wire)
    assert len(wire) == 20 + len(seg.options) + len(seg.payload)


@fuzz_settings
@given(data=st.binary(max_size=80))
def test_decoder_contract(data: bytes) -> None:
    try:
        seg = decode_tcp_header(data)
    except DecodeError:
        return
    assert 20 + len(seg.options) + len(seg.payload) == len(data)
    assert len(seg.options) % 4 == 0
