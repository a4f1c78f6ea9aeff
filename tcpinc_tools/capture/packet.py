"""Byte-level L2-L4 decoding of one captured frame into a :class:`TcpPacket`.

No dpkt objects per packet: the link-layer type field and the IP protocol byte are read
straight from the frame, so a frame that is not TCP costs a few index operations. Frames
that are not TCP, fragments, malformed and cut-short headers are counted in
:class:`CaptureStats` and skipped; they never raise.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from ..wire.constants import (
    LOOPBACK_AF_INET,
    LOOPBACK_AF_INET6,
    EtherType,
    IpProto,
    LinkType,
)

__all__ = ["CaptureStats", "FrameDecoder", "TcpPacket"]


class TcpPacket(NamedTuple):
    """One TCP segment as captured, with the frame it came in (for rewriting the capture).

    ``number`` counts every frame of the file from 1, as Wireshark does; ``options`` are the
    raw TCP option bytes; ``payload`` is trimmed to the IP length (no Ethernet padding) and
    to the captured bytes, and ``truncated`` says the capture cut it short.

    Immutable, compared by value. A named tuple rather than a frozen dataclass: one is made
    per captured segment, and a tuple is built about seven times faster (~0.2 µs, not 1.3).
    """

    number: int
    ts: float
    ip_version: int
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent_pointer: int
    options: bytes
    payload: bytes
    truncated: bool
    tcp_offset: int  # where the TCP header starts in ``frame``
    frame: bytes
    ip_offset: int = 0  # where the IP header starts in ``frame``
    linktype: int = LinkType.ETHERNET
    wire_len: int = 0  # the frame's length on the wire (0: unknown)

    @property
    def payload_offset(self) -> int:
        """Where the TCP payload starts in ``frame``."""
        return self.tcp_offset + _TCP_MIN + len(self.options)


@dataclass(slots=True)
class CaptureStats:
    """Counters of one read. ``packets`` counts every frame; each frame lands in exactly one
    of ``tcp``, ``non_tcp``, ``fragments``, ``malformed`` and ``headers_truncated``."""

    packets: int = 0
    tcp: int = 0  # TCP segments decoded and yielded
    non_tcp: int = 0  # other protocols, non-IP frames and unsupported link types
    ipv4: int = 0  # frames carrying IPv4 (TCP or not)
    ipv6: int = 0
    fragments: int = 0  # IP fragments (first or not): skipped, we do not reassemble IP
    malformed: int = 0  # IP or TCP headers that break their format: skipped
    headers_truncated: int = 0  # IP or TCP headers cut by the snap length: skipped
    truncated: int = 0  # yielded TCP segments whose payload the snap length cut
    unsupported_link: int = 0  # frames of link types we do not decode (also in non_tcp)
    link_types: dict[int, int] = field(default_factory=dict)  # link type -> frames


_TCP_MIN: Final = 20
_IPV4_MIN: Final = 20
_IPV6_LEN: Final = 40
_ETH_LEN: Final = 14
_SLL_LEN: Final = 16
_SLL2_LEN: Final = 20
_LOOPBACK_LEN: Final = 4
_IPV4_FRAGMENT: Final = 0x3FFF  # RFC 791 §3.1: MF flag and fragment offset
_ADDR_CACHE_MAX: Final = 1 << 16  # distinct addresses kept as strings; cleared when full

_VLAN_TAGS: Final = frozenset({EtherType.VLAN, EtherType.QINQ, EtherType.QINQ_OLD})
_LOOPBACK_LINKS: Final = frozenset({LinkType.NULL, LinkType.LOOP})
_RAW_LINKS: Final = frozenset({LinkType.RAW, LinkType.RAW_BSD, LinkType.RAW_OPENBSD})
_IPV6_EXTENSIONS: Final = frozenset({IpProto.HOPOPTS, IpProto.ROUTING, IpProto.DSTOPTS, IpProto.AH})
_ETHERNET: Final = int(LinkType.ETHERNET)
_ETHERTYPE_IPV4: Final = int(EtherType.IPV4).to_bytes(2, "big")
_TCP = struct.Struct("!HHIIBBHHH")
_U16 = struct.Struct("!H")

# Outcomes of the link layer: the IP version, or a reason to skip.
_NOT_IP: Final = 0
_UNSUPPORTED: Final = -1
_CUT: Final = -2
_BAD: Final = -3


class FrameDecoder:
    """Turns frames into :class:`TcpPacket` objects and counts what it skips."""

    __slots__ = ("_v4", "_v6", "stats")

    def __init__(self, stats: CaptureStats | None = None) -> None:
        self.stats = stats if stats is not None else CaptureStats()
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}

    # Link layer (below), RFC 791 / RFC 8200 (IP), RFC 9293 §3.1 (TCP header).
    def decode(
        self, frame: bytes, linktype: int, number: int, ts: float, wire_len: int = 0
    ) -> TcpPacket | None:
        """Decode one frame; None (and a counter) for anything that is not a whole TCP header."""
        stats = self.stats
        stats.packets += 1
        lt = stats.link_types
        lt[linktype] = lt.get(linktype, 0) + 1
        if linktype == _ETHERNET and frame[12:14] == _ETHERTYPE_IPV4:
            version, ip_off = 4, _ETH_LEN  # the usual case, without the general walk below
        else:
            version, ip_off = _link(frame, linktype)
        if version == 4:
            stats.ipv4 += 1
            ip = self._ipv4(frame, ip_off)
        elif version == 6:
            stats.ipv6 += 1
            ip = self._ipv6(frame, ip_off)
        else:
            if version == _CUT:
                stats.headers_truncated += 1
            elif version == _BAD:
                stats.malformed += 1
            else:
                stats.non_tcp += 1
                if version == _UNSUPPORTED:
                    stats.unsupported_link += 1
            return None
        if ip is None:
            return None
        off, ip_end, src, dst = ip
        # RFC 9293 §3.1: the TCP header; Data Offset counts 32-bit words, at least 5.
        n = len(frame)
        if off + _TCP_MIN > ip_end:
            stats.malformed += 1
            return None
        if off + _TCP_MIN > n:
            stats.headers_truncated += 1
            return None
        sport, dport, seq, ack, b12, b13, window, _csum, urgent = _TCP.unpack_from(frame, off)
        data = off + (b12 >> 4) * 4
        if data < off + _TCP_MIN or data > ip_end:
            stats.malformed += 1
            return None
        if data > n:
            stats.headers_truncated += 1
            return None
        stats.tcp += 1
        truncated = ip_end > n
        if truncated:
            stats.truncated += 1
        return TcpPacket(
            number,
            ts,
            version,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            ((b12 & 0x0F) << 8) | b13,
            window,
            urgent,
            frame[off + _TCP_MIN : data],
            frame[data : min(ip_end, n)],
            truncated,
            off,
            frame,
            ip_off,
            linktype,
            wire_len,
        )

    # RFC 791 §3.1: the IPv4 header.
    def _ipv4(self, frame: bytes, off: int) -> tuple[int, int, str, str] | None:
        """(TCP offset, end of the IP datagram, source, destination) or None (counted)."""
        stats = self.stats
        n = len(frame)
        if n < off + _IPV4_MIN:
            stats.headers_truncated += 1
            return None
        b0 = frame[off]
        ihl = (b0 & 0x0F) * 4
        total = _U16.unpack_from(frame, off + 2)[0]
        if b0 >> 4 != 4 or ihl < _IPV4_MIN or (total and total < ihl):
            stats.malformed += 1
            return None
        if _U16.unpack_from(frame, off + 6)[0] & _IPV4_FRAGMENT:
            stats.fragments += 1
            return None
        if frame[off + 9] != IpProto.TCP:
            stats.non_tcp += 1
            return None
        # A zero total length is what TCP segmentation offload leaves (Wireshark: "TSO?").
        ip_end = off + total if total else n
        saddr = frame[off + 12 : off + 16]
        daddr = frame[off + 16 : off + 20]
        cache = self._v4
        src = cache.get(saddr)
        if src is None:
            src = _remember(cache, saddr, ".".join(map(str, saddr)))
        dst = cache.get(daddr)
        if dst is None:
            dst = _remember(cache, daddr, ".".join(map(str, daddr)))
        return off + ihl, ip_end, src, dst

    # RFC 8200 §3 (header) and §4 (extension headers, in the order §4.1 lists them).
    def _ipv6(self, frame: bytes, off: int) -> tuple[int, int, str, str] | None:
        """(TCP offset, end of the IP datagram, source, destination) or None (counted)."""
        stats = self.stats
        n = len(frame)
        if n < off + _IPV6_LEN:
            stats.headers_truncated += 1
            return None
        if frame[off] >> 4 != 6:
            stats.malformed += 1
            return None
        plen = _U16.unpack_from(frame, off + 4)[0]
        # A zero payload length is a jumbogram (RFC 2675) or TSO: the frame says how long.
        ip_end = off + _IPV6_LEN + plen if plen else n
        nh = frame[off + 6]
        p = off + _IPV6_LEN
        while nh in _IPV6_EXTENSIONS:
            if p + 2 > ip_end:
                stats.malformed += 1
                return None
            if p + 2 > n:
                stats.headers_truncated += 1
                return None
            # RFC 8200 §4.3-§4.6: length in 8-octet units, not counting the first 8;
            # RFC 4302 §2.2: AH counts 4-octet units, minus 2.
            hlen = (frame[p + 1] + 2) * 4 if nh == IpProto.AH else (frame[p + 1] + 1) * 8
            nh = frame[p]
            p += hlen
        if nh == IpProto.FRAGMENT:
            stats.fragments += 1
            return None
        if nh != IpProto.TCP:
            stats.non_tcp += 1
            return None
        cache = self._v6
        saddr = frame[off + 8 : off + 24]
        daddr = frame[off + 24 : off + 40]
        src = cache.get(saddr)
        if src is None:
            src = _remember(cache, saddr, str(ipaddress.IPv6Address(saddr)))
        dst = cache.get(daddr)
        if dst is None:
            dst = _remember(cache, daddr, str(ipaddress.IPv6Address(daddr)))
        return p, ip_end, src, dst


def _remember(cache: dict[bytes, str], key: bytes, value: str) -> str:
    if len(cache) >= _ADDR_CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


# tcpdump.org LINK-LAYER HEADER TYPES: where each link type puts the network protocol.
def _link(frame: bytes, linktype: int) -> tuple[int, int]:
    """(IP version, offset of the IP header), or (reason to skip, 0)."""
    n = len(frame)
    if linktype == LinkType.ETHERNET:
        # IEEE 802.3 §3.1: destination (6) ‖ source (6) ‖ type (2).
        if n < _ETH_LEN:
            return _NOT_IP, 0
        return _ethertype(frame, _U16.unpack_from(frame, 12)[0], _ETH_LEN)
    if linktype == LinkType.LINUX_SLL:
        # tcpdump.org LINKTYPE_LINUX_SLL: packet type, ARPHRD, address length, address (8),
        # protocol (2).
        if n < _SLL_LEN:
            return _NOT_IP, 0
        return _ethertype(frame, _U16.unpack_from(frame, 14)[0], _SLL_LEN)
    if linktype == LinkType.LINUX_SLL2:
        # tcpdump.org LINKTYPE_LINUX_SLL2: protocol (2) first, then 18 bytes.
        if n < _SLL2_LEN:
            return _NOT_IP, 0
        return _ethertype(frame, _U16.unpack_from(frame, 0)[0], _SLL2_LEN)
    if linktype in _RAW_LINKS:
        if n < 1:
            return _CUT, 0
        version = frame[0] >> 4
        return (version, 0) if version in (4, 6) else (_BAD, 0)
    if linktype == LinkType.IPV4:
        return 4, 0
    if linktype == LinkType.IPV6:
        return 6, 0
    if linktype in _LOOPBACK_LINKS:
        if n < _LOOPBACK_LEN:
            return _NOT_IP, 0
        if linktype == LinkType.LOOP:
            family = int.from_bytes(frame[:4], "big")
        else:
            # LINKTYPE_NULL: host byte order of the capturing machine; families are small,
            # so a value with high bits set was written big-endian.
            family = int.from_bytes(frame[:4], "little")
            if family & 0xFFFF0000:
                family = int.from_bytes(frame[:4], "big")
        if family == LOOPBACK_AF_INET:
            return 4, _LOOPBACK_LEN
        if family in LOOPBACK_AF_INET6:
            return 6, _LOOPBACK_LEN
        return _NOT_IP, 0
    return _UNSUPPORTED, 0


# IEEE 802.1Q §9.6 / 802.1ad: each tag is TCI (2) ‖ the next type (2); tags may stack.
def _ethertype(frame: bytes, ethertype: int, off: int) -> tuple[int, int]:
    while ethertype in _VLAN_TAGS:
        if len(frame) < off + 4:
            return _NOT_IP, 0
        ethertype = _U16.unpack_from(frame, off + 2)[0]
        off += 4
    if ethertype == EtherType.IPV4:
        return 4, off
    if ethertype == EtherType.IPV6:
        return 6, off
    return _NOT_IP, 0
