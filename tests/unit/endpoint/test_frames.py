"""The endpoint's Ethernet, ARP and IPv4 codecs: spelled-out vectors and the strict-decoder
contract (any bytes: a value or a DecodeError)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.endpoint.frames import (
    ARP_BAD_OP,
    ARP_UNSUPPORTED,
    IPV4_BAD_CHECKSUM,
    IPV4_BAD_HEADER_LEN,
    IPV4_BAD_TOTAL_LEN,
    IPV4_BAD_VERSION,
    ArpPacket,
    decode_arp,
    decode_ethernet,
    decode_ipv4,
    encode_arp,
    encode_ethernet,
    encode_ipv4,
    format_mac,
)
from tcpinc_tools.errors import DecodeError, EncodeError, MalformedError, TruncatedError
from tcpinc_tools.wire.constants import ArpOp
from tests.support import fuzz_settings

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
IP_A = bytes((10, 201, 0, 1))
IP_B = bytes((10, 201, 0, 2))

# RFC 826: hrd 1 (Ethernet), pro 0x0800, hln 6, pln 4, op 1 (request), sha, spa, tha (zero
# in a request), tpa.
ARP_REQUEST = bytes.fromhex(
    "0001 0800 06 04 0001 020000000001 0ac90001 000000000000 0ac90002".replace(" ", "")
)
# The classic RFC 791 header example (UDP, 115 bytes, DF, TTL 64, 192.168.0.1 ->
# 192.168.0.199) with its checksum 0xb861 computed by hand (RFC 1071).
IPV4_HEADER = bytes.fromhex("450000730000400040 11b861c0a80001c0a800c7".replace(" ", ""))


def test_ethernet_round_trip() -> None:
    frame = encode_ethernet(MAC_B, MAC_A, 0x0806, ARP_REQUEST)
    assert frame[:14].hex() == "0200000000020200000000010806"
    eth = decode_ethernet(frame)
    assert (eth.dst, eth.src, eth.ethertype, eth.payload) == (MAC_B, MAC_A, 0x0806, ARP_REQUEST)
    assert format_mac(MAC_A) == "02:00:00:00:00:01"


def test_ethernet_truncated() -> None:
    with pytest.raises(TruncatedError):
        decode_ethernet(bytes(13))
    with pytest.raises(EncodeError):
        encode_ethernet(MAC_B[:5], MAC_A, 0x0800, b"")


def test_arp_request_vector() -> None:
    arp = decode_arp(ARP_REQUEST)
    assert arp == ArpPacket(ArpOp.REQUEST, MAC_A, IP_A, bytes(6), IP_B)
    assert encode_arp(arp) == ARP_REQUEST
    reply = ArpPacket(ArpOp.REPLY, MAC_B, IP_B, MAC_A, IP_A)
    assert encode_arp(reply).hex() == ("00010800060400020200000000020ac900020200000000010ac90001")


def test_arp_rejects_what_is_not_ethernet_ipv4() -> None:
    ipv6_over_ethernet = ARP_REQUEST[:2] + b"\x86\xdd" + ARP_REQUEST[4:]
    with pytest.raises(MalformedError) as info:
        decode_arp(ipv6_over_ethernet)
    assert info.value.expert_id == ARP_UNSUPPORTED
    rarp = ARP_REQUEST[:6] + b"\x00\x03" + ARP_REQUEST[8:]
    with pytest.raises(MalformedError) as info:
        decode_arp(rarp)
    assert info.value.expert_id == ARP_BAD_OP
    with pytest.raises(TruncatedError):
        decode_arp(ARP_REQUEST[:20])


def test_ipv4_header_vector() -> None:
    src, dst = bytes((192, 168, 0, 1)), bytes((192, 168, 0, 199))
    packet = encode_ipv4(src, dst, bytes(95), protocol=17, ident=0, ttl=64)
    assert packet[:20] == IPV4_HEADER
    ip = decode_ipv4(packet + b"\0" * 6)  # Ethernet padding after the datagram
    assert (ip.src, ip.dst, ip.protocol, ip.ttl, ip.ident) == (src, dst, 17, 64, 0)
    assert ip.payload == bytes(95)
    assert not ip.is_fragment


def test_ipv4_options_are_skipped() -> None:
    # IHL 6: one word of options (4 NOPs); the checksum recomputed by hand for it.
    header = bytearray(bytes.fromhex("4600001800004000400600000a0a0a010a0a0a0201010101"))
    words = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, 24, 2))
    while words >> 16:
        words = (words & 0xFFFF) + (words >> 16)
    header[10:12] = (~words & 0xFFFF).to_bytes(2, "big")
    assert decode_ipv4(bytes(header)).payload == b""


@pytest.mark.parametrize(
    ("mutate", "expert_id"),
    [
        (lambda h: bytes([0x65]) + h[1:], IPV4_BAD_VERSION),
        (lambda h: bytes([0x44]) + h[1:], IPV4_BAD_HEADER_LEN),
        (lambda h: h[:2] + b"\x00\x13" + h[4:], IPV4_BAD_TOTAL_LEN),
        (lambda h: h[:2] + b"\xff\xff" + h[4:], IPV4_BAD_TOTAL_LEN),
        (lambda h: h[:10] + b"\x00\x00" + h[12:], IPV4_BAD_CHECKSUM),
    ],
)
def test_ipv4_malformed(mutate: object, expert_id: str) -> None:
    packet = encode_ipv4(IP_A, IP_B, b"x" * 20)
    assert callable(mutate)
    with pytest.raises(MalformedError) as info:
        decode_ipv4(mutate(packet))
    assert info.value.expert_id == expert_id


def test_ipv4_fragment_flag() -> None:
    packet = bytearray(encode_ipv4(IP_A, IP_B, b"x"))
    packet[6:8] = b"\x20\x00"  # MF
    assert decode_ipv4(bytes(packet), verify_checksum=False).is_fragment


def test_ipv4_encode_limits() -> None:
    with pytest.raises(EncodeError):
        encode_ipv4(IP_A, IP_B, bytes(0x10000))
    with pytest.raises(EncodeError):
        encode_ipv4(IP_A, IP_B, b"", ttl=256)
    with pytest.raises(EncodeError):
        encode_ipv4(IP_A[:3], IP_B, b"")


@fuzz_settings
@given(st.binary(max_size=80))
def test_decoders_are_strict(data: bytes) -> None:
    for decode in (decode_ethernet, decode_arp, decode_ipv4):
        with contextlib.suppress(DecodeError):
            decode(data)
    with contextlib.suppress(DecodeError):
        decode_ipv4(data, verify_checksum=False)
