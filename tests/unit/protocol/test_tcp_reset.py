"""Resets: abort() both ways, RST validation (RFC 5961), RSTs to strays, challenge ACKs."""

from __future__ import annotations

from tcpinc_tools.protocol import (
    ConnectionAborted,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    TcpState,
)

from .link import PORT_A, PORT_B, Link, Side, make_pair, open_link

R, RA, A, S = TcpFlags.RST, TcpFlags.RST | TcpFlags.ACK, TcpFlags.ACK, TcpFlags.SYN
NO_TS = TcpConfig(timestamps=False)


def established() -> tuple[TcpConnection, TcpConnection, Link]:
    a, b = make_pair(config_a=NO_TS, config_b=NO_TS)
    return a, b, open_link(a, b)


def from_a(a: TcpConnection, flags: TcpFlags, seq: int, ack: int = 0, data: bytes = b"") -> Segment:
    return Segment(PORT_A, PORT_B, seq % 2**32, ack % 2**32, flags, 1000, b"", data)


def test_abort_from_either_side() -> None:
    sides: tuple[Side, Side] = ("a", "b")
    for aborter in sides:
        a, b, link = established()
        victim: Side = "b" if aborter == "a" else "a"
        conn = a if aborter == "a" else b
        conn.abort()
        assert conn.state is TcpState.CLOSED
        link.run()
        assert link.events[aborter][-1] == ConnectionAborted("aborted locally")
        rst = link.trace[-1].segment
        assert rst.flags == RA and rst.seq == conn.snd_nxt
        assert link.events[victim][-1] == ConnectionAborted("connection reset by peer")
        assert a.state is b.state is TcpState.CLOSED


def test_rst_validation_rfc_5961() -> None:
    a, b, link = established()
    now = link.now
    nxt = b.rcv_nxt
    # Outside the window: dropped silently.
    b.receive_segment(from_a(a, R, nxt + 70000), now)
    assert b.state is TcpState.ESTABLISHED and b.segments_to_send(now) == []
    # In the window but not exactly RCV.NXT: a challenge ACK, no reset (RFC 5961 §3.2).
    b.receive_segment(from_a(a, R, nxt + 100), now)
    (challenge,) = b.segments_to_send(now)
    assert challenge.flags == A and challenge.ack == nxt and b.state is TcpState.ESTABLISHED
    # Exactly RCV.NXT: the connection is reset.
    b.receive_segment(from_a(a, R, nxt), now)
    assert b.state in (TcpState.CLOSED,)
    assert b.next_event() == ConnectionAborted("connection reset by peer")
    assert b.segments_to_send(now) == []


def test_challenge_ack_recovers_a_stale_abort() -> None:
    # a aborts while some of its data is still in flight: its RST misses b's RCV.NXT, b
    # answers with a challenge ACK, and a (now CLOSED) resets again at exactly that number.
    a, b, link = established()
    a.send(b"in flight")
    a.segments_to_send(link.now)  # lost on the way
    a.abort()
    link.run()
    kinds = [(t.sender, t.segment.flags) for t in link.trace[3:]]
    assert kinds == [("a", RA), ("b", A), ("a", R)]
    assert b.state is TcpState.CLOSED
    assert link.events["b"][-1] == ConnectionAborted("connection reset by peer")


def test_syn_in_window_draws_a_challenge_ack() -> None:
    a, b, link = established()
    b.receive_segment(from_a(a, S, b.rcv_nxt + 10), link.now)
    (challenge,) = b.segments_to_send(link.now)
    assert challenge.flags == A and b.state is TcpState.ESTABLISHED  # RFC 5961 §4.2


def test_ack_of_unsent_data_is_answered_and_dropped() -> None:
    a, b, link = established()
    b.receive_segment(from_a(a, A, b.rcv_nxt, b.snd_nxt + 5000, b"data"), link.now)
    (ack,) = b.segments_to_send(link.now)
    assert ack.flags == A and ack.ack == b.rcv_nxt
    assert b.next_event() is None  # no DataReceived


def test_unacceptable_segment_gets_an_ack() -> None:
    a, b, link = established()
    b.receive_segment(from_a(a, A, b.rcv_nxt - 50, b.snd_nxt, b"old"), link.now)
    (ack,) = b.segments_to_send(link.now)
    assert ack.ack == b.rcv_nxt and ack.seq == b.snd_nxt


def test_connection_refused() -> None:
    a = TcpConnection(local_port=PORT_A, remote_port=PORT_B, iss=10)
    closed = TcpConnection(local_port=PORT_B)  # never listened
    link = Link(a, closed)
    a.connect(0.0)
    link.run()
    _syn, rst = (t.segment for t in link.trace)
    # RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    assert (rst.flags, rst.seq, rst.ack) == (RA, 0, 11)
    assert a.state is TcpState.CLOSED
    assert link.events["a"] == [ConnectionAborted("connection refused (reset in SYN-SENT)")]


def test_syn_sent_ignores_rst_with_a_bad_ack() -> None:
    a = TcpConnection(local_port=PORT_A, remote_port=PORT_B, iss=10)
    a.connect(0.0)
    a.segments_to_send(0.0)
    a.receive_segment(Segment(PORT_B, PORT_A, 0, 999, RA, 0, b"", b""), 0.0)
    assert a.state is TcpState.SYN_SENT
    a.receive_segment(Segment(PORT_B, PORT_A, 0, 0, R, 0, b"", b""), 0.0)  # no ACK bit
    assert a.state is TcpState.SYN_SENT and a.segments_to_send(0.0) == []
    # An ACK that is not for our SYN gets a RST at SEQ=SEG.ACK (RFC 9293 §3.10.7.3).
    a.receive_segment(Segment(PORT_B, PORT_A, 77, 999, A, 0, b"", b""), 0.0)
    (rst,) = a.segments_to_send(0.0)
    assert (rst.flags, rst.seq) == (R, 999) and a.state is TcpState.SYN_SENT


def test_listen_answers_acks_with_rst_and_ignores_rst() -> None:
    b = TcpConnection(local_port=PORT_B)
    b.listen()
    b.receive_segment(Segment(PORT_A, PORT_B, 5, 1234, A, 0, b"", b"x"), 0.0)
    (rst,) = b.segments_to_send(0.0)
    assert (rst.flags, rst.seq, rst.dst_port) == (R, 1234, PORT_A)
    b.receive_segment(Segment(PORT_A, PORT_B, 5, 0, R, 0, b"", b""), 0.0)
    b.receive_segment(Segment(PORT_A, PORT_B, 5, 0, TcpFlags.FIN, 0, b"", b""), 0.0)
    assert b.segments_to_send(0.0) == [] and b.state is TcpState.LISTEN


def test_closed_connection_resets_strays() -> None:
    c = TcpConnection(local_port=PORT_B)
    c.receive_segment(Segment(PORT_A, PORT_B, 5, 0, S, 0, b"", b""), 0.0)
    c.receive_segment(Segment(PORT_A, PORT_B, 5, 0, R, 0, b"", b""), 0.0)
    (rst,) = c.segments_to_send(0.0)
    assert (rst.flags, rst.seq, rst.ack) == (RA, 0, 6)


def test_time_wait_ignores_rst() -> None:
    a, b, link = established()
    a.close()
    link.run(lambda: b.state is TcpState.CLOSE_WAIT)
    b.close()
    link.run(lambda: a.state is TcpState.TIME_WAIT)
    a.receive_segment(Segment(PORT_B, PORT_A, a.rcv_nxt, 0, R, 0, b"", b""), link.now)
    assert a.state is TcpState.TIME_WAIT  # RFC 1337


def test_reset_in_syn_received() -> None:
    a, b = make_pair(config_a=NO_TS, config_b=NO_TS)
    b.listen()
    a.connect(0.0)
    b.receive_segment(a.segments_to_send(0.0)[0], 0.0)
    b.receive_segment(from_a(a, R, a.iss + 1), 0.0)
    assert b.state is TcpState.CLOSED
    assert b.next_event() == ConnectionAborted("connection reset by peer")


def test_abort_where_no_rst_is_due() -> None:
    a = TcpConnection(local_port=PORT_A, remote_port=PORT_B)
    a.abort()  # CLOSED: nothing to do
    assert a.next_event() is None
    a.connect(0.0)
    a.segments_to_send(0.0)
    a.abort()  # SYN-SENT: the peer knows nothing of us (RFC 9293 §3.10.5)
    assert a.segments_to_send(0.0) == [] and a.get_timer() is None
    assert a.next_event() == ConnectionAborted("aborted locally")
