"""The endpoint's wire: an AF_PACKET socket on one interface, speaking for one IPv4 address.

:class:`PacketLink` sends and receives whole Ethernet frames. It is the host for its
address at layer 2 and 3: it answers ARP requests for the address (RFC 826), resolves the
peers' MAC addresses with ARP requests of its own (holding frames until the answer comes),
checks IPv4 and TCP checksums, and hands up the TCP segments sent to the address.

Who owns the address. The endpoint works whether or not the kernel has the address
configured on the interface, and the recommended set-up is that it does NOT:

- not configured (the lab's choice): the kernel neither answers ARP for it nor takes its
  segments (they are not local; with forwarding off it drops them quietly), so the endpoint
  is the only TCP/IP stack for that address;
- configured: the kernel answers ARP too (with the same MAC, so no harm) and its TCP
  answers our peers' segments with RSTs, which the endpoint's nftables table
  (:class:`~.nft.RstGuard`) drops. The kernel's own connections on that address keep
  working: the endpoint only answers segments for ports it claimed.

Checksums. A segment a local kernel sends across a veth pair still has a partial
checksum (CHECKSUM_PARTIAL: the "hardware" was to finish it). The socket's
``PACKET_AUXDATA`` says so (``TP_STATUS_CSUMNOTREADY``), and such segments are accepted;
every other segment's TCP checksum is verified, and a wrong one is dropped and counted.

Bounds: ARP resolution holds at most :data:`ARP_QUEUE_MAX` frames per peer and
:data:`ARP_PENDING_MAX` peers at once (spoofed SYN sources cannot fill memory), retries
:data:`ARP_TRIES` times one second apart, then drops what it held (TCP retransmits).
"""

from __future__ import annotations

import errno
import heapq
import ipaddress
import socket
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ..errors import DecodeError, EncodeError
from ..protocol.segment import Segment, decode_tcp_header, encode_tcp_header, verify_tcp_checksum
from ..wire.constants import (
    ETH_BROADCAST,
    ETH_HEADER_LEN,
    ETHERTYPE_ARP,
    IPV4_HEADER_LEN,
    ArpOp,
    EtherType,
    IpProto,
)
from .errors import EndpointError
from .frames import (
    ArpPacket,
    decode_arp,
    decode_ethernet,
    decode_ipv4,
    encode_arp,
    encode_ethernet,
    encode_ipv4,
    format_mac,
)
from .linux import (
    ETH_P_ALL,
    PACKET_AUXDATA,
    PACKET_OUTGOING,
    SOL_PACKET,
    TP_STATUS_CSUM_VALID,
    TP_STATUS_CSUMNOTREADY,
    TPACKET_AUXDATA,
    in_netns,
    interface_mtu,
)

__all__ = [
    "ARP_CACHE_TTL",
    "ARP_PENDING_MAX",
    "ARP_QUEUE_MAX",
    "ARP_RETRY",
    "ARP_TRIES",
    "FrameScheduler",
    "LinkStats",
    "PacketLink",
]

# ARP timing (Linux's defaults are of this order: 1 s between probes, 3 unicast probes).
ARP_RETRY: Final = 1.0
ARP_TRIES: Final = 3
ARP_CACHE_TTL: Final = 60.0
# Bounds on what unresolved peers can make us hold (frames per peer, peers at once).
ARP_QUEUE_MAX: Final = 32
ARP_PENDING_MAX: Final = 256
# Frames read per wake-up before the host gets to send (keeps ACKs flowing under load).
RECEIVE_BATCH: Final = 256
# Socket buffers: a bulk transfer's window of frames in either direction (root may set
# them beyond the sysctl limits with the *FORCE options).
SOCKET_BUFFER: Final = 4 << 20
# The largest frame we read: 64 KiB of IP (a GSO super-frame from a local kernel) + Ethernet.
_FRAME_MAX: Final = 0x10000 + ETH_HEADER_LEN
# socket(7): SO_RCVBUFFORCE / SO_SNDBUFFORCE (not in Python's socket module).
_SO_SNDBUFFORCE: Final = 32
_SO_RCVBUFFORCE: Final = 33


@dataclass(slots=True)
class LinkStats:
    """Counters of one link, for reports and tests."""

    rx_frames: int = 0
    rx_tcp: int = 0
    rx_arp: int = 0
    rx_bad_checksum: int = 0
    rx_malformed: int = 0
    rx_fragments: int = 0
    tx_frames: int = 0
    tx_dropped: int = 0  # unresolved peers, full ARP queues, impairment
    arp_requests: int = 0
    arp_replies: int = 0


# A frame scheduler (impairment): given a frame and now, the (time, frame) pairs to put on the
# wire; an empty list drops it. See impair.py.
FrameScheduler = Callable[[bytes, float], list[tuple[float, bytes]]]


@dataclass(slots=True)
class _Pending:
    frames: deque[bytes] = field(default_factory=deque)
    tries: int = 0
    next_try: float = 0.0


class PacketLink:
    """One interface, one IPv4 address, TCP segments in and out."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        iface: str,
        addr: str,
        mac: bytes,
        mtu: int,
        netns: str | None = None,
    ) -> None:
        self.sock = sock
        self.iface = iface
        self.addr = addr
        self._addr = ipaddress.IPv4Address(addr).packed
        self.mac = mac
        self.mtu = mtu
        self.netns = netns
        self.stats = LinkStats()
        self.scheduler: FrameScheduler | None = None
        self._arp: dict[bytes, tuple[bytes, float]] = {}
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()
        self._delayed: list[tuple[float, int, bytes]] = []
        self._seq = 0
        self._ident = 0
        self.closed = False

    @classmethod
    def open(cls, iface: str, addr: str, *, netns: str | None = None) -> PacketLink:
        """A packet socket on ``iface`` (in network namespace ``netns``) for ``addr``."""
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise EndpointError(f"not an IP address: {addr!r}") from None
        if ip.version != 4:
            raise EndpointError(f"{addr}: the endpoint speaks IPv4 only (ARP, no NDP)")

        def make() -> tuple[socket.socket, bytes, int]:
            try:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            except PermissionError:
                raise EndpointError("a packet socket needs root (CAP_NET_RAW)") from None
            try:
                sock.bind((iface, ETH_P_ALL))
            except OSError as exc:
                sock.close()
                raise EndpointError(f"interface {iface!r}: {exc.strerror or exc}") from None
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            for option, fallback in (
                (_SO_RCVBUFFORCE, socket.SO_RCVBUF),
                (_SO_SNDBUFFORCE, socket.SO_SNDBUF),
            ):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, fallback, SOCKET_BUFFER)
            # getsockname() of a bound packet socket: (ifname, proto, pkttype, hatype, addr).
            mac = bytes(sock.getsockname()[4])
            return sock, mac, interface_mtu(sock, iface)

        sock, mac, mtu = in_netns(netns, make)
        if len(mac) != 6:
            sock.close()
            raise EndpointError(f"interface {iface!r} is not Ethernet (address {mac.hex()})")
        return cls(sock, iface=iface, addr=str(ip), mac=mac, mtu=mtu, netns=netns)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def mss(self) -> int:
        """The TCP MSS for this interface: its MTU less the IPv4 and TCP headers."""
        return self.mtu - IPV4_HEADER_LEN - 20

    def describe(self) -> str:
        return f"{self.addr} on {self.iface} ({format_mac(self.mac)}, MTU {self.mtu})"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    # -- receiving -----------------------------------------------------------------------
    def receive(self, now: float) -> list[tuple[str, Segment]]:
        """The TCP segments for our address that are waiting (at most a batch)."""
        out: list[tuple[str, Segment]] = []
        for _ in range(RECEIVE_BATCH):
            try:
                data, ancdata, _flags, address = self.sock.recvmsg(
                    _FRAME_MAX, socket.CMSG_SPACE(TPACKET_AUXDATA.size), socket.MSG_DONTWAIT
                )
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                    raise EndpointError(f"interface {self.iface}: {exc.strerror}") from None
                raise
            if address[2] == PACKET_OUTGOING:
                continue  # a frame this host sent (the kernel's, or tcpdump's view of ours)
            self.stats.rx_frames += 1
            status = 0
            for level, kind, value in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status = TPACKET_AUXDATA.unpack_from(value.ljust(TPACKET_AUXDATA.size))[0]
            item = self._take(data, status, now)
            if item is not None:
                out.append(item)
        return out

    def _take(self, data: bytes, status: int, now: float) -> tuple[str, Segment] | None:
        try:
            eth = decode_ethernet(data)
            if eth.dst not in (self.mac, ETH_BROADCAST):
                return None
            if eth.ethertype == ETHERTYPE_ARP:
                self.stats.rx_arp += 1
                self._on_arp(decode_arp(eth.payload), now)
                return None
            if eth.ethertype != EtherType.IPV4:
                return None
            ip = decode_ipv4(eth.payload)
            if ip.dst != self._addr or ip.protocol != IpProto.TCP:
                return None
            if ip.is_fragment:
                self.stats.rx_fragments += 1
                return None
            trusted = status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)
            if not trusted and not verify_tcp_checksum(ip.src, ip.dst, ip.payload):
                self.stats.rx_bad_checksum += 1
                return None
            seg = decode_tcp_header(ip.payload)
        except DecodeError:
            self.stats.rx_malformed += 1
            return None
        self.stats.rx_tcp += 1
        return str(ipaddress.IPv4Address(ip.src)), seg

    # RFC 826 "Packet Reception": merge the sender into the table, answer requests for us.
    def _on_arp(self, arp: ArpPacket, now: float) -> None:
        if arp.sender_ip in self._arp or arp.target_ip == self._addr:
            self._learn(arp.sender_ip, arp.sender_mac, now)
        if arp.op is ArpOp.REQUEST and arp.target_ip == self._addr:
            reply = ArpPacket(ArpOp.REPLY, self.mac, self._addr, arp.sender_mac, arp.sender_ip)
            self.stats.arp_replies += 1
            self._put(encode_ethernet(arp.sender_mac, self.mac, ETHERTYPE_ARP, encode_arp(reply)))

    def _learn(self, ip: bytes, mac: bytes, now: float) -> None:
        if mac == ETH_BROADCAST or not any(mac):
            return
        self._arp[ip] = (mac, now + ARP_CACHE_TTL)
        pending = self._pending.pop(ip, None)
        if pending is not None:
            for packet in pending.frames:
                self._emit(encode_ethernet(mac, self.mac, EtherType.IPV4, packet), now)

    # -- sending -------------------------------------------------------------------------
    def send(self, dst: str, seg: Segment, now: float) -> None:
        """Put ``seg`` on the wire to ``dst`` (resolving its MAC address first if need be)."""
        try:
            dst_ip = ipaddress.IPv4Address(dst).packed
            tcp = encode_tcp_header(seg, self._addr, dst_ip)
            self._ident = (self._ident + 1) & 0xFFFF
            packet = encode_ipv4(self._addr, dst_ip, tcp, ident=self._ident)
        except (ValueError, EncodeError) as exc:
            raise EndpointError(f"cannot send to {dst}: {exc}") from None
        entry = self._arp.get(dst_ip)
        if entry is not None and entry[1] > now:
            self._emit(encode_ethernet(entry[0], self.mac, EtherType.IPV4, packet), now)
            return
        pending = self._pending.get(dst_ip)
        if pending is None:
            if len(self._pending) >= ARP_PENDING_MAX:
                _, oldest = self._pending.popitem(last=False)
                self.stats.tx_dropped += len(oldest.frames)
            pending = self._pending[dst_ip] = _Pending()
            self._request(dst_ip, pending, now)
        if len(pending.frames) >= ARP_QUEUE_MAX:
            pending.frames.popleft()
            self.stats.tx_dropped += 1
        pending.frames.append(packet)

    def _request(self, dst_ip: bytes, pending: _Pending, now: float) -> None:
        pending.tries += 1
        pending.next_try = now + ARP_RETRY
        request = ArpPacket(ArpOp.REQUEST, self.mac, self._addr, bytes(6), dst_ip)
        self.stats.arp_requests += 1
        self._put(encode_ethernet(ETH_BROADCAST, self.mac, ETHERTYPE_ARP, encode_arp(request)))

    def _emit(self, frame: bytes, now: float) -> None:
        """A TCP/IP frame out, through the impairment scheduler if there is one."""
        if self.scheduler is None:
            self._put(frame)
            return
        plan = self.scheduler(frame, now)
        if not plan:
            self.stats.tx_dropped += 1
        for when, copy in plan:
            if when <= now:
                self._put(copy)
            else:
                self._seq += 1
                heapq.heappush(self._delayed, (when, self._seq, copy))

    def _put(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except OSError as exc:
            if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                self.stats.tx_dropped += 1  # a full queue is a loss; TCP recovers
                return
            raise EndpointError(f"interface {self.iface}: {exc.strerror or exc}") from None
        self.stats.tx_frames += 1

    # -- timers --------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        times = [p.next_try for p in self._pending.values()]
        if self._delayed:
            times.append(self._delayed[0][0])
        return min(times, default=None)

    def handle_timer(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            self._put(heapq.heappop(self._delayed)[2])
        for ip, pending in list(self._pending.items()):
            if pending.next_try > now:
                continue
            if pending.tries >= ARP_TRIES:
                del self._pending[ip]
                self.stats.tx_dropped += len(pending.frames)
            else:
                self._request(ip, pending, now)

    def resolved(self, ip: str) -> bytes | None:
        """The MAC address known for ``ip``, if any (for tests and reports)."""
        entry = self._arp.get(ipaddress.IPv4Address(ip).packed)
        return entry[0] if entry is not None else None
