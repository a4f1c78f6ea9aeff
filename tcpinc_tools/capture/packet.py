"""Byte-level L2-L4 decoding of one captured frame into a :class:`TcpPacket`.

No dpkt objects per packet: the link-layer type field and the IP protocol byte are read
straight from the frame, so a frame that is not TCP costs a few index operations. Frames
that are not TCP, fragments, malformed and cut-short headers are counted in
:class:`CaptureStats` and skipped; they never raise.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from ..records import picklable
from ..wire.constants import (
    LOOPBACK_AF_INET,
    LOOPBACK_AF_INET6,
    EtherType,
    IpProto,
    LinkType,
)

__all__ = [
    "CaptureStats",
    "FrameDecoder",
    "FrameLayout",
    "TcpPacket",
    "endpoint_share",
    "frame_share",
    "packet_share",
]


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
_PROTO_TCP: Final = int(IpProto.TCP)  # plain ints: compared per frame, in compiled code too
_PROTO_AH: Final = int(IpProto.AH)
_PROTO_FRAGMENT: Final = int(IpProto.FRAGMENT)
_ETHERTYPE_IPV4: Final = int(EtherType.IPV4).to_bytes(2, "big")
_TCP = struct.Struct("!HHIIBBHHH")
_U16 = struct.Struct("!H")

# Where a TCP frame's layers start: (IP version, IP header, TCP header, TCP payload, end of
# the IP datagram), offsets into the frame (the end may lie past it: a snap length cut).
FrameLayout = tuple[int, int, int, int, int]

# Outcomes of the link layer: the IP version, or a reason to skip.
_NOT_IP: Final = 0
_UNSUPPORTED: Final = -1
_CUT: Final = -2
_BAD: Final = -3


class FrameDecoder:
    """Turns frames into :class:`TcpPacket` objects and counts what it skips.

    :meth:`decode` is :meth:`locate` (check and count the frame) then :meth:`packet` (build
    it); a reader that wants only some connections calls them apart, with
    :func:`frame_share` between them, and builds only the packets it keeps.
    """

    __slots__ = ("_v4", "_v6", "stats")

    def __init__(self, stats: CaptureStats | None = None) -> None:
        self.stats = stats if stats is not None else CaptureStats()
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}

    def decode(
        self, frame: bytes, linktype: int, number: int, ts: float, wire_len: int = 0
    ) -> TcpPacket | None:
        """Decode one frame; None (and a counter) for anything that is not a whole TCP header."""
        where = self.locate(frame, linktype)
        if where is None:
            return None
        return self.packet(frame, where, number, ts, linktype=linktype, wire_len=wire_len)

    # Link layer (below), RFC 791 / RFC 8200 (IP), RFC 9293 §3.1 (TCP header).
    def locate(self, frame: bytes, linktype: int) -> FrameLayout | None:
        """Count the frame in :attr:`stats` as :meth:`decode` does; where its headers start
        when it holds a whole TCP header, else None."""
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
        off, ip_end = ip
        # RFC 9293 §3.1: the TCP header; Data Offset counts 32-bit words, at least 5.
        n = len(frame)
        if off + _TCP_MIN > ip_end:
            stats.malformed += 1
            return None
        if off + _TCP_MIN > n:
            stats.headers_truncated += 1
            return None
        data = off + (frame[off + 12] >> 4) * 4
        if data < off + _TCP_MIN or data > ip_end:
            stats.malformed += 1
            return None
        if data > n:
            stats.headers_truncated += 1
            return None
        stats.tcp += 1
        if ip_end > n:
            stats.truncated += 1
        return version, ip_off, off, data, ip_end

    # RFC 9293 §3.1: the TCP header's fields.
    def packet(
        self,
        frame: bytes,
        where: FrameLayout,
        number: int,
        ts: float,
        *,
        linktype: int,
        wire_len: int = 0,
    ) -> TcpPacket:
        """The segment of a frame :meth:`locate` accepted (counted already: not again)."""
        version, ip_off, off, data, ip_end = where
        if version == 4:
            cache = self._v4
            saddr = frame[ip_off + 12 : ip_off + 16]
            daddr = frame[ip_off + 16 : ip_off + 20]
        else:
            cache = self._v6
            saddr = frame[ip_off + 8 : ip_off + 24]
            daddr = frame[ip_off + 24 : ip_off + 40]
        src = cache.get(saddr)
        if src is None:
            src = _remember(cache, saddr)
        dst = cache.get(daddr)
        if dst is None:
            dst = _remember(cache, daddr)
        sport, dport, seq, ack, b12, b13, window, _csum, urgent = _TCP.unpack_from(frame, off)
        n = len(frame)
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
            ip_end > n,
            off,
            frame,
            ip_off,
            linktype,
            wire_len,
        )

    # RFC 791 §3.1: the IPv4 header.
    def _ipv4(self, frame: bytes, off: int) -> tuple[int, int] | None:
        """(TCP offset, end of the IP datagram) or None (counted)."""
        stats = self.stats
        n = len(frame)
        if n < off + _IPV4_MIN:
            stats.headers_truncated += 1
            return None
        b0 = frame[off]
        ihl = (b0 & 0x0F) * 4
        total = (frame[off + 2] << 8) | frame[off + 3]
        if b0 >> 4 != 4 or ihl < _IPV4_MIN or (total and total < ihl):
            stats.malformed += 1
            return None
        if ((frame[off + 6] << 8) | frame[off + 7]) & _IPV4_FRAGMENT:
            stats.fragments += 1
            return None
        if frame[off + 9] != _PROTO_TCP:
            stats.non_tcp += 1
            return None
        # A zero total length is what TCP segmentation offload leaves (Wireshark: "TSO?").
        return off + ihl, off + total if total else n

    # RFC 8200 §3 (header) and §4 (extension headers, in the order §4.1 lists them).
    def _ipv6(self, frame: bytes, off: int) -> tuple[int, int] | None:
        """(TCP offset, end of the IP datagram) or None (counted)."""
        stats = self.stats
        n = len(frame)
        if n < off + _IPV6_LEN:
            stats.headers_truncated += 1
            return None
        if frame[off] >> 4 != 6:
            stats.malformed += 1
            return None
        plen = (frame[off + 4] << 8) | frame[off + 5]
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
            hlen = (frame[p + 1] + 2) * 4 if nh == _PROTO_AH else (frame[p + 1] + 1) * 8
            nh = frame[p]
            p += hlen
        if nh == _PROTO_FRAGMENT:
            stats.fragments += 1
            return None
        if nh != _PROTO_TCP:
            stats.non_tcp += 1
            return None
        return p, ip_end


# RFC 791 §3.2 dotted decimal; RFC 5952 §4 text for IPv6 (what ipaddress writes).
def _remember(cache: dict[bytes, str], key: bytes) -> str:
    if len(cache) >= _ADDR_CACHE_MAX:
        cache.clear()
    value = ".".join(map(str, key)) if len(key) == 4 else str(ipaddress.IPv6Address(key))
    cache[key] = value
    return value


def endpoint_share(a: bytes, b: bytes, shares: int) -> int:
    """The share (0 .. ``shares`` - 1) of the connection between the endpoints ``a`` and
    ``b``, each its address bytes then its port (2 bytes, big-endian), as in the headers: a
    CRC-32 of the two in sorted order, so the same for both directions, in every run and
    every process."""
    return zlib.crc32(a + b if a <= b else b + a) % shares


def frame_share(frame: bytes, where: FrameLayout, shares: int) -> int:
    """:func:`endpoint_share` of a frame :meth:`FrameDecoder.locate` accepted, from its raw
    addresses and ports (no :class:`TcpPacket` needed)."""
    return _share(frame, where[0], where[1], where[2], shares)


def packet_share(pkt: TcpPacket, shares: int) -> int:
    """:func:`endpoint_share` of a decoded packet, from the frame it came in."""
    return _share(pkt.frame, pkt.ip_version, pkt.ip_offset, pkt.tcp_offset, shares)


# RFC 791 §3.1 / RFC 8200 §3: source then destination address; RFC 9293 §3.1: the ports.
def _share(frame: bytes, version: int, ip_off: int, off: int, shares: int) -> int:
    if version == 4:
        a = frame[ip_off + 12 : ip_off + 16] + frame[off : off + 2]
        b = frame[ip_off + 16 : ip_off + 20] + frame[off + 2 : off + 4]
    else:
        a = frame[ip_off + 8 : ip_off + 24] + frame[off : off + 2]
        b = frame[ip_off + 24 : ip_off + 40] + frame[off + 2 : off + 4]
    return endpoint_share(a, b, shares)


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


picklable(CaptureStats)
