"""A SYN flood on a listener: memory stays bounded by the named caps (half-open connections,
ARP resolutions), and a real client still gets an encrypted connection."""

from __future__ import annotations

import gc
import ipaddress
import random
import socket
import tracemalloc

from tcpinc_tools.endpoint import MAX_HALF_OPEN, Host
from tcpinc_tools.endpoint.frames import encode_ethernet, encode_ipv4
from tcpinc_tools.endpoint.link import ARP_PENDING_MAX, ARP_QUEUE_MAX
from tcpinc_tools.endpoint.linux import ETH_P_ALL, in_netns
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.endpoint.services import echo
from tcpinc_tools.protocol.segment import Segment, TcpFlags, encode_tcp_header
from tcpinc_tools.wire.constants import EtherType

from .conftest import NEEDS_ROOT
from .support import HostThread

pytestmark = NEEDS_ROOT

PORT = 7
ACCEPT_PORT = 8  # a listener whose connections wait for accept()
FLOOD = 3000
# Spoofed sources nobody answers ARP for: more than ARP_PENDING_MAX of them.
SOURCES = [str(ipaddress.IPv4Address("10.201.4.0") + i) for i in range(ARP_PENDING_MAX + 100)]
# A SYN as our clients send it: MSS, SACK-permitted, window scale, ENO offering X25519.
SYN_OPTIONS = bytes.fromhex("020405b40402010303 0745032300")


def _syn(src: str, dst: str, sport: int, seq: int) -> bytes:
    port = PORT if sport % 2 else ACCEPT_PORT
    seg = Segment(sport, port, seq, 0, TcpFlags.SYN, 65535, SYN_OPTIONS.ljust(16, b"\0"), b"")
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    return encode_ipv4(s, d, encode_tcp_header(seg, s, d))


def test_syn_flood_is_bounded(pair: NetnsPair) -> None:
    rng = random.Random(7)
    tracemalloc.start()
    try:
        server = Host.open(pair.veth_b, pair.addr_b, netns=pair.b)
        server.listen(PORT, handler=echo)
        accepting = server.listen(ACCEPT_PORT)
        dst_mac = server.link.mac
        with HostThread(server):
            raw = in_netns(
                pair.a,
                lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
            )
            with raw:
                raw.bind((pair.veth_a, ETH_P_ALL))
                src_mac = bytes(raw.getsockname()[4])
                gc.collect()
                baseline = tracemalloc.get_traced_memory()[0]
                for i in range(FLOOD):
                    packet = _syn(
                        SOURCES[i % len(SOURCES)], pair.addr_b, 1024 + i, rng.getrandbits(32)
                    )
                    raw.send(encode_ethernet(dst_mac, src_mac, EtherType.IPV4, packet))
                # During the flood, a real client connects and talks.
                with Host.open(pair.veth_a, pair.addr_a, netns=pair.a) as client:
                    sock = client.connect((pair.addr_b, PORT), timeout=10)
                    assert sock.encrypted
                    sock.send(b"through the flood")
                    sock.close()
                    assert sock.recv_until_eof(timeout=10) == b"through the flood"
                    client.run_until(lambda: sock.finished, 10)
                gc.collect()  # the evicted connections' reference cycles
                grown = tracemalloc.get_traced_memory()[0] - baseline
        stats = server.stats
        assert stats.connections >= FLOOD  # every SYN was taken...
        assert stats.half_open_peak == MAX_HALF_OPEN  # ...but never more than the cap at once
        assert stats.evicted_half_open >= FLOOD - MAX_HALF_OPEN
        assert len(server.connections) <= MAX_HALF_OPEN + 1
        # Evicted connections leave the accept queue's waiting list too.
        assert len(accepting.waiting) <= MAX_HALF_OPEN and not accepting.backlog
        link = server.link
        assert len(link._pending) <= ARP_PENDING_MAX
        assert all(len(p.frames) <= ARP_QUEUE_MAX for p in link._pending.values())
        assert link.stats.tx_dropped > 0  # SYN-ACKs to unresolvable sources were let go
        # Bounded: the cap's worth of half-open connections (about 8 KB each) and the ARP
        # queues, not one connection per SYN of the flood (3000 x 8 KB = 24 MB).
        assert grown < 6 << 20, f"{grown} bytes held after {FLOOD} SYNs"
    finally:
        tracemalloc.stop()
