"""The link: stages in order, time only forward, the tap's timestamps and checksums,
impairments drawn from their own seeded generator."""

from __future__ import annotations

import random

import pytest

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.segment import TcpFlags, verify_tcp_checksum
from tcpinc_tools.sim.link import (
    EPOCH,
    Delay,
    Emitted,
    Impair,
    Link,
    Packet,
    PathName,
    Side,
    Stage,
    Tap,
    client_side_paths,
    reset_for,
    server_side_paths,
)

from .helpers import CLIENT, SERVER, ListSink, packet, segment


def run(link: Link) -> list[tuple[float, Packet]]:
    delivered: list[tuple[float, Packet]] = []
    while (when := link.next_time()) is not None:
        while link.advance(when, lambda p, t: delivered.append((t, p))):
            pass
    return delivered


def test_epoch_is_2026_01_01() -> None:
    # 56 years of 365 days plus 14 leap days (1972 ... 2024), in seconds.
    assert EPOCH == (56 * 365 + 14) * 86400
    assert Side.CLIENT.path is PathName.UP and Side.SERVER.path is PathName.DOWN


def test_delay_then_tap_records_arrival_time() -> None:
    sink = ListSink()
    tap = Tap(sink)
    link = Link([Delay(0.25), tap], [])
    link.send(PathName.UP, packet(), 1.0)
    (arrived,) = run(link)
    assert arrived[0] == 1.25
    ts, src, dst, tcp = sink.records[0]
    assert (ts, src, dst) == (EPOCH + 1.25, CLIENT, SERVER)
    # The tap writes the segment with its checksum for these addresses (RFC 9293 §3.1).
    assert verify_tcp_checksum(bytes((192, 0, 2, 1)), bytes((198, 51, 100, 1)), tcp)
    assert tap.packets == 1 and tcp[20:] == b""  # a bare header: no options, no payload


def test_queue_keeps_time_order_and_ties_in_sending_order() -> None:
    link = Link([Delay(0.1)], [Delay(0.05)])
    first, second, third = (packet(seq=n) for n in (1, 2, 3))
    link.send(PathName.UP, first, 0.0)
    link.send(PathName.UP, second, 0.0)
    link.send(PathName.DOWN, third, 0.0)
    got = [(t, p.segment.seq) for t, p in run(link)]
    assert got == [(0.05, 3), (0.1, 1), (0.1, 2)]


def test_a_stage_may_not_send_into_the_past() -> None:
    class Back(Stage):
        def process(self, packet: Packet, now: float) -> Emitted:
            return [(now - 1.0, packet)]

    link = Link([Back()], [])
    link.send(PathName.UP, packet(), 5.0)
    with pytest.raises(LocalProtocolError):
        run(link)


def test_client_and_server_side_paths() -> None:
    tap = Tap(None)
    mark = Stage()
    up, down = client_side_paths(tap, 0.01, up=[mark])
    assert up[0] is tap and up[2] is mark and down[-1] is tap
    up, down = server_side_paths(tap, 0.01, down=[mark])
    assert up[-1] is tap and down[0] is tap and down[-1] is mark


def impaired(seed: int, **kw: float) -> tuple[list[float], Impair]:
    stage = Impair(random.Random(seed), **kw)
    times: list[float] = []
    for i in range(400):
        times += [t for t, _ in stage.process(packet(seq=i), float(i))]
    return times, stage


def test_impairments_are_seeded_and_roughly_at_their_rates() -> None:
    times, stage = impaired(1, loss=0.1, duplicate=0.1, reorder=0.1, spread=0.5)
    assert impaired(1, loss=0.1, duplicate=0.1, reorder=0.1, spread=0.5)[0] == times
    assert impaired(2, loss=0.1, duplicate=0.1, reorder=0.1, spread=0.5)[0] != times
    assert 20 <= stage.lost <= 60 and 20 <= stage.duplicated <= 60
    assert 20 <= stage.reordered <= 60
    assert len(times) == 400 - stage.lost + stage.duplicated
    assert all(t >= 0 for t in times)


def test_impair_rejects_impossible_rates() -> None:
    with pytest.raises(LocalProtocolError):
        Impair(random.Random(0), loss=1.0)
    with pytest.raises(LocalProtocolError):
        Delay(-0.1)


def test_reset_for_follows_rfc9293_closed_state() -> None:
    # RFC 9293 §3.10.7.1: an ACK gets <SEQ=SEG.ACK><CTL=RST>.
    rst = reset_for(packet(TcpFlags.ACK, seq=100, ack=777, payload=b"abc"))
    assert rst is not None and (rst.src, rst.dst) == (SERVER, CLIENT)
    assert rst.segment.flags == TcpFlags.RST and rst.segment.seq == 777
    assert (rst.segment.src_port, rst.segment.dst_port) == (80, 40000)
    # Otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (a SYN counts one).
    rst = reset_for(Packet(CLIENT, SERVER, segment(TcpFlags.SYN, seq=0xFFFFFFFF)))
    assert rst is not None and rst.segment.flags == TcpFlags.RST | TcpFlags.ACK
    assert rst.segment.seq == 0 and rst.segment.ack == 0
    assert reset_for(packet(TcpFlags.RST)) is None
