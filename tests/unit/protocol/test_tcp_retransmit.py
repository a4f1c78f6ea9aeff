"""Retransmission: RFC 6298 timer and backoff, Karn's rule, fast retransmit, giving up."""

from __future__ import annotations

import pytest

from tcpinc_tools.protocol import ConnectionAborted, Segment, TcpConfig, TcpFlags, TcpState
from tcpinc_tools.protocol.tcp_send import Sender, SentSegment
from tcpinc_tools.protocol.tcp_timers import RtoEstimator

from .link import Link, Side, make_pair, open_link

S, SA, F = TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.FIN


def drop_first(side: Side, match: TcpFlags, *, exact: bool = True) -> object:
    dropped: list[Segment] = []

    def predicate(sender: Side, seg: Segment) -> bool:
        hit = seg.flags == match if exact else bool(seg.flags & match)
        if sender == side and hit and not dropped:
            dropped.append(seg)
            return True
        return False

    return predicate


def times_of(link: Link, side: Side, flags: TcpFlags) -> list[float]:
    return [t.time for t in link.trace if t.sender == side and t.segment.flags == flags]


def test_lost_syn_is_sent_again_identically() -> None:
    a, b = make_pair()
    link = open_link(a, b, drop=drop_first("a", S))
    syns = [t.segment for t in link.trace if t.segment.flags == S]
    assert [t.time for t in link.trace if t.segment.flags == S] == [0.0, 1.0]  # initial RTO
    assert syns[0] == syns[1] and syns[0].options == a.syn_options  # RFC 8547 §4.6
    assert a.state is b.state is TcpState.ESTABLISHED
    assert a.retransmissions == 1
    assert a.rto == 3.0  # RFC 6298 §5.7: no sample (Karn), restart at 3 s


def test_syn_backoff_then_give_up() -> None:
    a, b = make_pair(config_a=TcpConfig(max_syn_retransmissions=4))
    link = Link(a, b, drop=lambda side, seg: side == "a")
    b.listen()
    a.connect(0.0)
    link.run()
    # RFC 6298 §5.5: 1, 2, 4, 8 seconds between copies, then 16 more before giving up.
    assert times_of(link, "a", S) == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert len({t.segment for t in link.trace}) == 1  # five identical SYNs
    assert link.now == 31.0
    assert a.state is TcpState.CLOSED
    assert link.events["a"] == [ConnectionAborted("no acknowledgement after 4 retransmissions")]
    assert b.state is TcpState.LISTEN  # it never heard anything


def test_lost_syn_ack_is_repeated_identically() -> None:
    a, b = make_pair()
    link = open_link(a, b, drop=drop_first("b", SA))
    syn_acks = [t.segment for t in link.trace if t.segment.flags == SA]
    assert len(syn_acks) >= 2
    assert all(s == syn_acks[0] for s in syn_acks)
    assert syn_acks[0].options == b.syn_options
    assert a.state is b.state is TcpState.ESTABLISHED


def test_lost_data_goes_by_fast_retransmit() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    start = link.now
    second = a.snd_nxt + 1448

    def lose_second(side: Side, seg: Segment) -> bool:
        return side == "a" and seg.seq == second and a.retransmissions == 0

    link.drop = lose_second
    a.send(bytes(10 * 1448))
    link.run(lambda: len(link.received("b")) == 10 * 1448)
    assert link.received("b") == bytes(10 * 1448)
    assert a.retransmissions == 1
    resent = [t for t in link.trace if t.segment.seq == second and t.fate == "sent"]
    # Three duplicate ACKs arrive one round trip later, long before the 200 ms RTO.
    assert resent[0].time - start < 0.1


def test_data_rto_doubles_then_give_up() -> None:
    a, b = make_pair(config_a=TcpConfig(max_retransmissions=3))
    link = open_link(a, b)
    link.drop = lambda side, seg: side == "a" and bool(seg.payload)
    start = link.now
    a.send(b"x" * 1000)
    link.run(lambda: a.state is TcpState.CLOSED)
    sent = [t.time - start for t in link.trace if t.segment.payload]
    # RTO after the handshake is the 200 ms floor (RTT 20 ms); then 400, 800 ms.
    assert sent == pytest.approx([0.0, 0.2, 0.6, 1.4])
    assert link.now - start == pytest.approx(3.0)
    assert link.events["a"][-1] == ConnectionAborted("no acknowledgement after 3 retransmissions")
    # a's RST does not match b's RCV.NXT (b never got the data): b challenges, the CLOSED a
    # resets at exactly the acknowledged number (RFC 5961 §3).
    link.run()
    assert b.state is TcpState.CLOSED
    assert link.events["b"][-1] == ConnectionAborted("connection reset by peer")


def test_lost_fin_is_retransmitted() -> None:
    a, b = make_pair(config_a=TcpConfig(time_wait=1.0))
    link = open_link(a, b, drop=drop_first("a", F, exact=False))
    a.close()
    link.run(lambda: b.state is TcpState.CLOSE_WAIT)
    fins = [t for t in link.trace if t.sender == "a" and t.segment.flags & F]
    assert [t.fate for t in fins] == ["dropped", "sent"]
    assert fins[1].segment.seq == fins[0].segment.seq
    b.close()
    link.run()
    assert a.state is b.state is TcpState.CLOSED


def test_passive_side_gives_up_in_syn_received() -> None:
    a, b = make_pair(config_b=TcpConfig(max_syn_retransmissions=2))
    link = Link(a, b, drop=lambda side, seg: side == "b")
    b.listen()
    a.connect(0.0)
    link.run(lambda: b.state is TcpState.CLOSED, max_time=120)
    assert link.events["b"] == [ConnectionAborted("no acknowledgement after 2 retransmissions")]
    assert [t.segment.flags for t in link.trace if t.sender == "b"][-1] == TcpFlags.RST | (
        TcpFlags.ACK
    )


def test_rto_estimator_rfc_6298() -> None:
    est = RtoEstimator(initial=1.0, minimum=0.2, maximum=60.0)
    assert (est.rto, est.srtt) == (1.0, None)
    est.sample(0.5)
    # §2.2: SRTT = R = 0.5, RTTVAR = R/2 = 0.25, RTO = 0.5 + 4 * 0.25 = 1.5.
    assert (est.srtt, est.rttvar, est.rto) == (0.5, 0.25, 1.5)
    est.sample(0.3)
    # §2.3: RTTVAR = 3/4 * 0.25 + 1/4 * |0.5 - 0.3| = 0.2375; SRTT = 7/8 * 0.5 + 1/8 * 0.3
    # = 0.475; RTO = 0.475 + 4 * 0.2375 = 1.425.
    assert est.rttvar == pytest.approx(0.2375)
    assert est.srtt == pytest.approx(0.475)
    assert est.rto == pytest.approx(1.425)
    est.backoff()
    assert est.rto == pytest.approx(2.85)
    for _ in range(10):
        est.backoff()
    assert est.rto == 60.0  # §2.5 maximum
    est.sample(0.001)
    assert est.rto >= 0.2  # §2.4 floor (ours: 0.2 s)


def test_karn_no_sample_from_a_retransmitted_segment() -> None:
    sender = Sender(100, RtoEstimator(initial=1.0, minimum=0.2, maximum=60.0))
    sender.nxt = 101 + 10
    sender.flight.append(SentSegment(101, 10, False, False, b"", b"", 0.0, retransmitted=True))
    sender.una = 101
    sender.buffer.append(bytes(10), push=True)
    sender.on_ack(111, 5.0)
    assert sender.rto.srtt is None and sender.rto.rto == 1.0
    sender.flight.append(SentSegment(111, 0, False, True, b"", b"", 6.0))
    sender.nxt = 112
    sender.on_ack(112, 6.25)
    assert sender.rto.srtt == 0.25
