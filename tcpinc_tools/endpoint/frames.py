"""What the endpoint puts on an Ethernet link besides TCP: Ethernet, ARP and IPv4 headers.

Strict codecs in the style of ``wire/``: every decoder returns a frozen dataclass or raises
a :class:`~tcpinc_tools.errors.DecodeError` subclass, whatever the bytes. The TCP header
itself is :mod:`tcpinc_tools.protocol.segment`'s (``encode_tcp_header`` /
``decode_tcp_header``). Only IPv4 without options on output; on input IPv4 options are
skipped and fragments are reported (the endpoint does not reassemble IP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..capture.checksum import internet_checksum
from ..errors import EncodeError, MalformedError, TruncatedError
from ..wire.buffer import Buffer
from ..wire.constants import (
    ARP_HTYPE_ETHERNET,
    ARP_PACKET_LEN,
    ETH_ADDR_LEN,
    ETH_HEADER_LEN,
    IPV4_ADDR_LEN,
    IPV4_DEFAULT_TTL,
    IPV4_DONT_FRAGMENT,
    IPV4_FRAGMENT_OFFSET,
    IPV4_HEADER_LEN,
    IPV4_MORE_FRAGMENTS,
    ArpOp,
    EtherType,
    IpProto,
)

__all__ = [
    "ArpPacket",
    "EthernetFrame",
    "Ipv4Packet",
    "decode_arp",
    "decode_ethernet",
    "decode_ipv4",
    "encode_arp",
    "encode_ethernet",
    "encode_ipv4",
    "format_mac",
]

# Expert ids of the decoders' errors.
ETH_TRUNCATED: Final = "endpoint.eth.truncated"
ARP_TRUNCATED: Final = "endpoint.arp.truncated"
ARP_UNSUPPORTED: Final = "endpoint.arp.unsupported"
ARP_BAD_OP: Final = "endpoint.arp.bad_op"
IPV4_TRUNCATED: Final = "endpoint.ipv4.truncated"
IPV4_BAD_VERSION: Final = "endpoint.ipv4.bad_version"
IPV4_BAD_HEADER_LEN: Final = "endpoint.ipv4.bad_header_len"
IPV4_BAD_TOTAL_LEN: Final = "endpoint.ipv4.bad_total_len"
IPV4_BAD_CHECKSUM: Final = "endpoint.ipv4.bad_checksum"


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _check_len(value: bytes, length: int, name: str) -> bytes:
    if len(value) != length:
        raise EncodeError(f"{name} must be {length} bytes, got {len(value)}")
    return bytes(value)


@dataclass(frozen=True, slots=True)
class EthernetFrame:
    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes


# IEEE 802.3 §3.1.1: destination MAC ‖ source MAC ‖ EtherType ‖ payload (no FCS: the NIC).
def decode_ethernet(data: bytes) -> EthernetFrame:
    data = bytes(data)
    if len(data) < ETH_HEADER_LEN:
        raise TruncatedError(
            f"Ethernet header needs {ETH_HEADER_LEN} bytes, got {len(data)}",
            offset=0,
            field="ethernet",
            expert_id=ETH_TRUNCATED,
        )
    return EthernetFrame(
        dst=data[:ETH_ADDR_LEN],
        src=data[ETH_ADDR_LEN : 2 * ETH_ADDR_LEN],
        ethertype=int.from_bytes(data[12:14], "big"),
        payload=data[ETH_HEADER_LEN:],
    )


def encode_ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    if not 0 <= ethertype <= 0xFFFF:
        raise EncodeError(f"EtherType {ethertype} does not fit in 16 bits")
    return (
        _check_len(dst, ETH_ADDR_LEN, "destination MAC")
        + _check_len(src, ETH_ADDR_LEN, "source MAC")
        + ethertype.to_bytes(2, "big")
        + bytes(payload)
    )


@dataclass(frozen=True, slots=True)
class ArpPacket:
    """An Ethernet/IPv4 ARP packet (RFC 826); addresses as raw bytes."""

    op: ArpOp
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes


# RFC 826 "Packet format": ar$hrd ‖ ar$pro ‖ ar$hln ‖ ar$pln ‖ ar$op ‖ ar$sha ‖ ar$spa ‖
# ar$tha ‖ ar$tpa. Only hardware Ethernet with protocol IPv4 is taken.
def decode_arp(data: bytes) -> ArpPacket:
    buf = Buffer(bytes(data))
    try:
        htype = buf.pull_uint16("htype")
        ptype = buf.pull_uint16("ptype")
        hlen = buf.pull_uint8("hlen")
        plen = buf.pull_uint8("plen")
        op = buf.pull_uint16("op")
    except TruncatedError as exc:
        raise TruncatedError(
            f"ARP header truncated: {exc.message}",
            offset=exc.offset,
            field=exc.field,
            expert_id=ARP_TRUNCATED,
        ) from None
    if (htype, ptype, hlen, plen) != (
        ARP_HTYPE_ETHERNET,
        EtherType.IPV4,
        ETH_ADDR_LEN,
        IPV4_ADDR_LEN,
    ):
        raise MalformedError(
            f"ARP for hardware {htype} / protocol {ptype:#06x} ({hlen}/{plen}-byte addresses)"
            " is not Ethernet/IPv4",
            offset=0,
            field="htype",
            expert_id=ARP_UNSUPPORTED,
        )
    if op not in (ArpOp.REQUEST, ArpOp.REPLY):
        raise MalformedError(
            f"ARP operation {op} is neither request nor reply",
            offset=6,
            field="op",
            expert_id=ARP_BAD_OP,
        )
    try:
        sender_mac = buf.pull_bytes(ETH_ADDR_LEN, "sender_mac")
        sender_ip = buf.pull_bytes(IPV4_ADDR_LEN, "sender_ip")
        target_mac = buf.pull_bytes(ETH_ADDR_LEN, "target_mac")
        target_ip = buf.pull_bytes(IPV4_ADDR_LEN, "target_ip")
    except TruncatedError as exc:
        raise TruncatedError(
            f"ARP addresses truncated: {exc.message}",
            offset=exc.offset,
            field=exc.field,
            expert_id=ARP_TRUNCATED,
        ) from None
    return ArpPacket(ArpOp(op), sender_mac, sender_ip, target_mac, target_ip)


def encode_arp(packet: ArpPacket) -> bytes:
    out = b"".join(
        (
            ARP_HTYPE_ETHERNET.to_bytes(2, "big"),
            int(EtherType.IPV4).to_bytes(2, "big"),
            bytes((ETH_ADDR_LEN, IPV4_ADDR_LEN)),
            int(packet.op).to_bytes(2, "big"),
            _check_len(packet.sender_mac, ETH_ADDR_LEN, "sender MAC"),
            _check_len(packet.sender_ip, IPV4_ADDR_LEN, "sender IP"),
            _check_len(packet.target_mac, ETH_ADDR_LEN, "target MAC"),
            _check_len(packet.target_ip, IPV4_ADDR_LEN, "target IP"),
        )
    )
    assert len(out) == ARP_PACKET_LEN
    return out


@dataclass(frozen=True, slots=True)
class Ipv4Packet:
    """An IPv4 datagram: ``payload`` trimmed to the total length (no Ethernet padding)."""

    src: bytes
    dst: bytes
    protocol: int
    ttl: int
    ident: int
    flags_fragment: int
    payload: bytes

    @property
    def is_fragment(self) -> bool:
        return bool(self.flags_fragment & (IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET))


# RFC 791 §3.1: version/IHL ‖ TOS ‖ total length ‖ identification ‖ flags/fragment offset ‖
# TTL ‖ protocol ‖ header checksum ‖ source ‖ destination ‖ options (IHL - 5 words).
def decode_ipv4(data: bytes, *, verify_checksum: bool = True) -> Ipv4Packet:
    data = bytes(data)
    if len(data) < IPV4_HEADER_LEN:
        raise TruncatedError(
            f"IPv4 header needs {IPV4_HEADER_LEN} bytes, got {len(data)}",
            offset=0,
            field="ipv4",
            expert_id=IPV4_TRUNCATED,
        )
    version, ihl = data[0] >> 4, (data[0] & 0x0F) * 4
    if version != 4:
        raise MalformedError(
            f"IP version {version} in an IPv4 frame",
            offset=0,
            field="version",
            expert_id=IPV4_BAD_VERSION,
        )
    if ihl < IPV4_HEADER_LEN:
        raise MalformedError(
            f"IPv4 header length {ihl} is below {IPV4_HEADER_LEN}",
            offset=0,
            field="ihl",
            expert_id=IPV4_BAD_HEADER_LEN,
        )
    total = int.from_bytes(data[2:4], "big")
    if total < ihl or total > len(data):
        raise MalformedError(
            f"IPv4 total length {total} with a {ihl}-byte header in {len(data)} bytes",
            offset=2,
            field="total_length",
            expert_id=IPV4_BAD_TOTAL_LEN,
        )
    # RFC 791 §3.1 (Header Checksum): the checksum of a correct header, field included, is 0.
    if verify_checksum and internet_checksum(data[:ihl]) != 0:
        raise MalformedError(
            "IPv4 header checksum is wrong",
            offset=10,
            field="checksum",
            expert_id=IPV4_BAD_CHECKSUM,
        )
    return Ipv4Packet(
        src=data[12:16],
        dst=data[16:20],
        protocol=data[9],
        ttl=data[8],
        ident=int.from_bytes(data[4:6], "big"),
        flags_fragment=int.from_bytes(data[6:8], "big"),
        payload=data[ihl:total],
    )


def encode_ipv4(
    src: bytes,
    dst: bytes,
    payload: bytes,
    *,
    protocol: int = IpProto.TCP,
    ident: int = 0,
    ttl: int = IPV4_DEFAULT_TTL,
) -> bytes:
    """An IPv4 header without options (DF set: TCP does its own MSS) and ``payload``."""
    total = IPV4_HEADER_LEN + len(payload)
    if total > 0xFFFF:
        raise EncodeError(f"a {len(payload)}-byte payload does not fit in an IPv4 datagram")
    if not 0 <= ident <= 0xFFFF or not 0 <= ttl <= 0xFF or not 0 <= protocol <= 0xFF:
        raise EncodeError("IPv4 ident, ttl or protocol out of range")
    header = bytearray(
        bytes((0x45, 0))
        + total.to_bytes(2, "big")
        + ident.to_bytes(2, "big")
        + IPV4_DONT_FRAGMENT.to_bytes(2, "big")
        + bytes((ttl, protocol, 0, 0))
        + _check_len(src, IPV4_ADDR_LEN, "source address")
        + _check_len(dst, IPV4_ADDR_LEN, "destination address")
    )
    header[10:12] = internet_checksum(bytes(header)).to_bytes(2, "big")
    return bytes(header) + bytes(payload)


__all__ += [
    "ARP_BAD_OP",
    "ARP_TRUNCATED",
    "ARP_UNSUPPORTED",
    "ETH_TRUNCATED",
    "IPV4_BAD_CHECKSUM",
    "IPV4_BAD_HEADER_LEN",
    "IPV4_BAD_TOTAL_LEN",
    "IPV4_BAD_VERSION",
    "IPV4_TRUNCATED",
]
