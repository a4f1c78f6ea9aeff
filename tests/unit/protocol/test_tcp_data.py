"""Moving data: segmentation, PSH, flow control and zero windows, reassembly, URG."""

from __future__ import annotations

import random

from tcpinc_tools.protocol import (
    DataReceived,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    UrgentDataReceived,
)
from tcpinc_tools.wire.tcp_options import decode_sack, iter_tcp_options

from .link import make_pair, open_link

NO_SCALE = TcpConfig(window_scale=None, timestamps=False)


def test_bulk_both_ways_past_mss_and_window() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    rng = random.Random(5)
    to_b, to_a = rng.randbytes(300_000), rng.randbytes(200_000)
    a.send(to_b)
    b.send(to_a)
    link.run()  # until nothing is left to happen: all data acknowledged
    assert link.received("b") == to_b and link.received("a") == to_a
    assert a.bytes_acked == 300_000 and b.bytes_acked == 200_000
    assert a.retransmissions == b.retransmissions == 0
    assert max(len(t.segment.payload) for t in link.trace) == 1448


def test_push_marks_the_last_segment_of_each_send() -> None:
    a, b = make_pair(config_a=TcpConfig(timestamps=False))
    link = open_link(a, b)
    start = len(link.trace)
    a.send(b"x" * 4000)
    a.send(b"y" * 100, push=False)
    a.send(b"z" * 100)
    link.run(lambda: len(link.received("b")) == 4200)
    data = [t.segment for t in link.trace[start:] if t.sender == "a" and t.segment.payload]
    ends = [
        (seg.seq - a.iss - 1 + len(seg.payload), bool(seg.flags & TcpFlags.PSH)) for seg in data
    ]
    # Segments of 1460: [0,1460) [1460,2920) [2920,4200): the last holds both push points.
    assert ends == [(1460, False), (2920, False), (4200, True)]


def test_push_false_sends_no_psh() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    a.send(b"quiet" * 10, push=False)
    link.run(lambda: len(link.received("b")) == 50)
    assert not any(t.segment.flags & TcpFlags.PSH for t in link.trace)


def test_window_fills_then_reopens_when_the_application_reads() -> None:
    a, b = make_pair(config_a=NO_SCALE, config_b=NO_SCALE)
    link = open_link(a, b)
    link.drain["b"] = False
    a.send(bytes(200_000))
    link.run(lambda: a.snd_wnd == 0 and b.rcv_wnd == 0, max_time=60)
    # b offered 65535 bytes and its application took none of them.
    assert a.bytes_acked == 65535 and b.bytes_received == 65535
    advertised = [t.segment.window for t in link.trace if t.sender == "b"]
    assert advertised[-1] == 0
    # Zero-window probes (RFC 9293 §3.8.6.1) keep the connection alive meanwhile.
    before = len(link.trace)
    link.run(lambda: link.now > 30, max_time=60)
    probes = [t.segment for t in link.trace[before:] if t.sender == "a"]
    assert probes and all(not p.payload and p.seq == a.snd_nxt - 1 for p in probes)
    assert a.bytes_acked == 65535
    link.drain["b"] = True
    link.drain_events("b")
    link.run(lambda: len(link.received("b")) == 200_000, max_time=60)
    assert link.received("b") == bytes(200_000)


def test_lost_window_update_is_recovered_by_probing() -> None:
    a, b = make_pair(config_a=NO_SCALE, config_b=NO_SCALE)
    link = open_link(a, b)
    link.drain["b"] = False
    a.send(bytes(100_000))
    link.run(lambda: a.snd_wnd == 0 and b.rcv_wnd == 0, max_time=60)
    lost: list[Segment] = []

    def drop_first_update(side: str, seg: Segment) -> bool:
        if side == "b" and seg.window > 0 and not lost:
            lost.append(seg)
            return True
        return False

    link.drop = drop_first_update
    link.drain["b"] = True
    link.drain_events("b")
    link.run(lambda: len(link.received("b")) == 100_000, max_time=120)
    assert lost and lost[0].window == 65535
    assert link.received("b") == bytes(100_000)


def test_window_advertises_free_buffer() -> None:
    a, b = make_pair(config_a=NO_SCALE, config_b=NO_SCALE)
    link = open_link(a, b)
    link.drain["b"] = False
    a.send(bytes(10_000))
    link.run(lambda: b.bytes_received == 10_000)
    last = [t.segment for t in link.trace if t.sender == "b"][-1]
    assert last.window == 65535 - 10_000 and b.rcv_wnd == 65535 - 10_000
    link.drain_events("b")
    # Freed space worth at least min(buffer/2, MSS) is announced at once (RFC 9293 §3.8.6.2.2).
    update = b.segments_to_send(link.now)
    assert [s.window for s in update] == [65535]


def established(**kw: TcpConfig) -> tuple[TcpConnection, TcpConnection, float]:
    a, b = make_pair(**kw)  # type: ignore[arg-type]
    link = open_link(a, b)
    return a, b, link.now


def test_out_of_order_and_duplicate_segments() -> None:
    a, b, now = established()
    data = bytes(random.Random(1).randbytes(6 * 1448))
    a.send(data)
    segs = a.segments_to_send(now)
    assert len(segs) == 6
    collected: list[bytes] = []
    acks: list[Segment] = []
    for index in (2, 4, 3, 5, 2):
        b.receive_segment(segs[index], now)
        acks += b.segments_to_send(now)
    assert b.next_event() is None  # nothing in order yet
    # Each early segment draws an immediate duplicate ACK with SACK blocks (RFC 2018),
    # the most recent block first.
    assert {ack.ack for ack in acks} == {a.iss + 1}
    sacks = [decode_sack(o) for ack in acks for o in iter_tcp_options(ack.options) if o.kind == 5]
    base = a.iss + 1
    assert sacks[0] == ((base + 2 * 1448, base + 3 * 1448),)
    assert sacks[1] == ((base + 4 * 1448, base + 5 * 1448), (base + 2 * 1448, base + 3 * 1448))
    assert sacks[3] == ((base + 2 * 1448, base + 6 * 1448),)
    for index in (1, 0, 0):
        b.receive_segment(segs[index], now)
        acks += b.segments_to_send(now)
    while (event := b.next_event()) is not None:
        assert isinstance(event, DataReceived)
        collected.append(event.data)
    assert b"".join(collected) == data
    assert acks[-1].ack == (a.iss + 1 + len(data)) % 2**32
    assert b.bytes_received == len(data)


def test_overlapping_retransmission_is_trimmed() -> None:
    a, b, now = established()
    a.send(b"abcdefgh")
    (seg,) = a.segments_to_send(now)
    first = Segment(
        seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags, seg.window, seg.options,
        b"abcd",
    )  # fmt: skip
    b.receive_segment(first, now)
    b.receive_segment(seg, now)  # bytes 0..3 again, then 4..7
    events = [b.next_event(), b.next_event(), b.next_event()]
    assert events == [DataReceived(b"abcd"), DataReceived(b"efgh"), None]


def test_segment_past_the_window_is_cut() -> None:
    a, b, now = established(
        config_a=TcpConfig(window_scale=None, timestamps=False),
        config_b=TcpConfig(window=3000, window_scale=None, timestamps=False),
    )
    start = (a.iss + 1) % 2**32
    big = Segment(
        a.local_port, b.local_port, start, b.iss + 1, TcpFlags.ACK, 65535, b"", bytes(5000)
    )
    b.receive_segment(big, now)
    (ack,) = b.segments_to_send(now)
    assert ack.ack == (start + 3000) % 2**32 and ack.window == 0
    assert b.next_event() == DataReceived(bytes(3000))
    # Once the application took the bytes, the whole buffer is offered again.
    (update,) = b.segments_to_send(now)
    assert update.ack == ack.ack and update.window == 3000


def test_urgent_data() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    a.send(b"normal ")
    a.send_urgent(b"!!")
    a.send(b" tail")
    link.run(lambda: len(link.received("b")) == 14)
    urgent = [t.segment for t in link.trace if t.segment.flags & TcpFlags.URG]
    assert urgent and urgent[0].urgent_pointer == 9  # just past the urgent bytes (RFC 6093)
    assert UrgentDataReceived(9) in link.events["b"]
    assert link.received("b") == b"normal !! tail"  # delivered in line
