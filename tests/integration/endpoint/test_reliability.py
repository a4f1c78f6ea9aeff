"""Data stays intact over an impaired link (loss 10%, duplication, reordering) with rekeying
on the way, and timed rekeying happens on an open connection."""

from __future__ import annotations

import time

from tcpinc_tools.endpoint import Host, Impairment
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.endpoint.services import echo, pattern

from .conftest import NEEDS_ROOT
from .support import HostThread

pytestmark = NEEDS_ROOT

PORT = 7


def test_echo_intact_under_loss_duplication_and_reordering(pair: NetnsPair) -> None:
    size = 96 << 10
    impaired = Impairment(loss=0.10, duplicate=0.05, reorder=0.25, seed=11)
    server = Host.open(pair.veth_b, pair.addr_b, netns=pair.b, impairment=impaired)
    server.listen(PORT, handler=echo)
    with HostThread(server):
        client = Host.open(
            pair.veth_a,
            pair.addr_a,
            netns=pair.a,
            impairment=Impairment(loss=0.10, duplicate=0.05, reorder=0.25, seed=12),
            rekey_bytes=16 << 10,
        )
        with client:
            sock = client.connect((pair.addr_b, PORT), timeout=20)
            assert sock.encrypted
            sock.send(pattern(size))
            sock.close()
            assert sock.recv_until_eof(timeout=60) == pattern(size)
            assert client.run_until(lambda: sock.finished, 20)
            assert sock.abort_reason is None and sock.generation >= 5
            assert sock.conn.tcp.retransmissions > 0
            assert client.link.stats.tx_dropped > 0
    assert server.link.stats.tx_dropped > 0


def test_rekey_interval(pair: NetnsPair) -> None:
    server = Host.open(pair.veth_b, pair.addr_b, netns=pair.b)
    server.listen(PORT, handler=echo)
    with (
        HostThread(server),
        Host.open(pair.veth_a, pair.addr_a, netns=pair.a, rekey_interval=0.05) as client,
    ):
        sock = client.connect((pair.addr_b, PORT))
        for i in range(6):
            sock.send(f"tick {i}\n".encode())
            end = time.monotonic() + 0.08
            client.run_until(lambda: time.monotonic() >= end)  # noqa: B023
        sock.close()
        received = sock.recv_until_eof(timeout=10)
        assert received == b"".join(f"tick {i}\n".encode() for i in range(6))
        assert sock.generation >= 4  # about one generation per interval with data


def test_keepalive_is_answered(pair: NetnsPair) -> None:
    server = Host.open(pair.veth_b, pair.addr_b, netns=pair.b)
    server.listen(PORT, handler=echo)
    with HostThread(server), Host.open(pair.veth_a, pair.addr_a, netns=pair.a) as client:
        sock = client.connect((pair.addr_b, PORT))
        assert sock.keepalive()
        # RFC 8548 §3.8-3.9: the peer answers the rekey frame with one of its own.
        assert client.run_until(
            lambda: sock.conn.session is not None and sock.conn.session.remote_generation == 1, 5
        )
        assert sock.keepalive()  # answered, so a second one may go
        sock.close()
        assert sock.recv_until_eof(timeout=5) == b""
