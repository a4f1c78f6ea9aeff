"""Capturing without tcpdump or dumpcap: a Linux AF_PACKET socket, optionally opened inside
a network namespace.

:class:`AfPacketCapture` yields each frame of an interface (both directions) as a
:class:`~tcpinc_tools.capture.packet.TcpPacket`, numbered from 1 as a capture file would be,
until :meth:`~AfPacketCapture.stop`. It takes no capture filter: compiling one is
libpcap's job, and without tcpdump or dumpcap there is no libpcap to ask.

On a loopback interface the kernel hands every frame to a packet socket twice (on its way
out and on its way in); the outgoing copy is dropped, as libpcap does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final, TypeVar

from ..capture.packet import CaptureStats, FrameDecoder, TcpPacket
from ..errors import TcpincError
from ..linuxns import ETH_P_ALL, PACKET_OUTGOING
from ..linuxns import in_netns as _in_netns
from ..wire.constants import LinkType

__all__ = ["AfPacketCapture", "CaptureSetupError", "in_netns"]

# linux/if_arp.h hardware types -> the pcap link type of the frames a packet socket reads.
ARPHRD_LINKTYPES: Final = {
    1: LinkType.ETHERNET,  # ARPHRD_ETHER (veth, ethernet, bridges)
    772: LinkType.ETHERNET,  # ARPHRD_LOOPBACK: Ethernet framing with zero addresses
    65534: LinkType.RAW,  # ARPHRD_NONE (tun, wireguard): bare IP packets
}
ARPHRD_LOOPBACK: Final = 772
# Seconds a receive waits before looking whether it was asked to stop.
RECV_TIMEOUT: Final = 0.2
# Largest frame read (GRO can merge segments into frames far above the MTU).
SNAP_LEN: Final = 1 << 18
# Receive buffer asked for: bursts at tens of thousands of packets per second.
RCVBUF: Final = 32 << 20

T = TypeVar("T")


class CaptureSetupError(TcpincError):
    """The interface cannot be captured (missing, no permission, no such namespace)."""


def in_netns(name: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` run in network namespace ``name`` (None: here); a namespace that cannot be
    entered is a :class:`CaptureSetupError`. A socket keeps the namespace it was made in."""
    return _in_netns(name, fn, error=CaptureSetupError)


def _open_socket(iface: str) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise CaptureSetupError("capturing with AF_PACKET needs root (CAP_NET_RAW)") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind((iface, ETH_P_ALL))
    except OSError as exc:
        sock.close()
        raise CaptureSetupError(f"interface {iface}: {exc.strerror or exc}") from None
    sock.settimeout(RECV_TIMEOUT)
    return sock


class AfPacketCapture:
    """The frames of ``iface`` (in ``netns``), see the module doc."""

    def __init__(self, iface: str, *, netns: str | None = None) -> None:
        self.iface = iface
        self.netns = netns
        self.stats = CaptureStats()
        self._decoder = FrameDecoder(self.stats)
        self._stopped = threading.Event()
        self._sock: socket.socket | None = in_netns(netns, lambda: _open_socket(iface))

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def packets(self) -> Iterator[TcpPacket]:
        sock = self._sock
        if sock is None:
            return
        decode = self._decoder.decode
        number = 0
        try:
            while not self._stopped.is_set():
                try:
                    frame, address = sock.recvfrom(SNAP_LEN)
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self._stopped.is_set():
                        return
                    raise CaptureSetupError(f"{self.iface}: {exc.strerror or exc}") from None
                pkttype, hatype = address[2], address[3]
                if pkttype == PACKET_OUTGOING and hatype == ARPHRD_LOOPBACK:
                    continue
                linktype = ARPHRD_LINKTYPES.get(hatype, -1)
                number += 1
                pkt = decode(frame, linktype, number, time.time(), len(frame))
                if pkt is not None:
                    yield pkt
        finally:
            self.close()
