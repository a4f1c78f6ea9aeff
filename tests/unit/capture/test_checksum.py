"""The RFC 1071 checksum against the RFC's example, a known IPv4 header and the textbook loop."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.capture.checksum import internet_checksum, tcp_checksum
from tests.support import property_settings
from tests.unit.capture import handmade as hm


def test_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_ipv4_header() -> None:
    # 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73: the header checksum is 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    with_sum = header[:10] + bytes.fromhex("b861") + header[12:]
    assert internet_checksum(with_sum) == 0  # a correct header sums to all ones


def test_edge_values() -> None:
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(b"\x00\x00") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0x0000
    assert internet_checksum(b"\x01") == 0xFEFF  # odd length: padded with a zero byte


@property_settings
@given(st.binary(max_size=200))
def test_matches_the_textbook_loop(data: bytes) -> None:
    assert internet_checksum(data) == hm.ones_sum_checksum(data)


def test_tcp_checksum_ipv4_and_ipv6() -> None:
    for src, dst in (("192.0.2.1", "198.51.100.2"), ("2001:db8::1", "2001:db8::2")):
        segment = hm.tcp_segment(src, dst, 1, 2, 3, 4, 0x18, b"odd", bytes.fromhex("01010101"))
        stored = int.from_bytes(segment[16:18], "big")
        # The field in the input is ignored, whatever it holds.
        assert tcp_checksum(hm.packed(src), hm.packed(dst), segment) == stored
        zeroed = segment[:16] + b"\x00\x00" + segment[18:]
        assert tcp_checksum(hm.packed(src), hm.packed(dst), zeroed) == stored
    assert tcp_checksum(bytes(4), bytes(4), b"\x01") == hm.ones_sum_checksum(
        bytes(9) + b"\x06\x00\x01\x01"
    )
