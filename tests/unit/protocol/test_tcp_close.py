"""Closing: active, passive and simultaneous close, TIME-WAIT, early close() calls."""

from __future__ import annotations

import pytest

from tcpinc_tools.protocol import (
    Connected,
    ConnectionClosed,
    DataReceived,
    EndOfStream,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    TcpState,
)

from .link import PORT_A, PORT_B, Link, make_pair, open_link

F, FA, A = TcpFlags.FIN, TcpFlags.FIN | TcpFlags.ACK, TcpFlags.ACK
TW = TcpConfig(time_wait=5.0)


def deliver(src: TcpConnection, dst: TcpConnection, now: float) -> list[Segment]:
    """Move everything ``src`` has to send into ``dst``; return what was moved."""
    segs = src.segments_to_send(now)
    for seg in segs:
        dst.receive_segment(seg, now)
    return segs


def state(conn: TcpConnection) -> TcpState:
    """The state, read through a call (so the type checker does not pin it)."""
    return conn.state


def events(conn: TcpConnection) -> list[object]:
    out: list[object] = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def test_active_close_step_by_step() -> None:
    a, b = make_pair(config_a=TW, config_b=TW)
    link = open_link(a, b)
    now = link.now
    events(a), events(b)
    a.send(b"last words")
    a.close()
    assert state(a) is TcpState.FIN_WAIT_1
    (fin,) = deliver(a, b, now)
    assert fin.flags & FA == FA and fin.payload == b"last words"  # FIN rides on the data
    assert state(b) is TcpState.CLOSE_WAIT
    assert events(b) == [DataReceived(b"last words"), EndOfStream()]
    (ack,) = deliver(b, a, now)
    assert ack.flags == A and state(a) is TcpState.FIN_WAIT_2
    b.send(b"reply")  # CLOSE-WAIT may still send
    b.close()
    assert state(b) is TcpState.LAST_ACK
    (b_fin,) = deliver(b, a, now)
    assert b_fin.flags & FA == FA and a.state is TcpState.TIME_WAIT
    assert events(a) == [DataReceived(b"reply"), EndOfStream()]
    (last_ack,) = deliver(a, b, now)
    assert last_ack.flags == A
    assert state(b) is TcpState.CLOSED and events(b) == [ConnectionClosed()]
    # TIME-WAIT lasts 2*MSL, then the active closer is done too.
    assert a.get_timer() == now + 5.0
    a.handle_timer(now + 4.9)
    assert state(a) is TcpState.TIME_WAIT
    a.handle_timer(now + 5.0)
    assert state(a) is TcpState.CLOSED and events(a) == [ConnectionClosed()]
    assert a.get_timer() is None and b.get_timer() is None


def test_passive_close_server_first() -> None:
    a, b = make_pair(config_a=TW, config_b=TW)
    link = open_link(a, b)
    b.send(b"bye")
    b.close()
    link.run(lambda: b.state is TcpState.FIN_WAIT_2)
    assert state(a) is TcpState.CLOSE_WAIT
    assert link.events["a"][-2:] == [DataReceived(b"bye"), EndOfStream()]
    a.close()
    link.run(lambda: b.state is TcpState.TIME_WAIT)
    entered = link.now
    link.run()
    assert state(a) is state(b) is TcpState.CLOSED
    assert link.now == pytest.approx(entered + 5.0)
    assert link.events["a"][-1] == ConnectionClosed() and link.events["b"][-1] == ConnectionClosed()


def test_simultaneous_close_goes_through_closing() -> None:
    a, b = make_pair(config_a=TW, config_b=TW)
    link = open_link(a, b)
    now = link.now
    a.close()
    b.close()
    fin_a = a.segments_to_send(now)
    fin_b = b.segments_to_send(now)
    for seg in fin_b:
        a.receive_segment(seg, now)
    for seg in fin_a:
        b.receive_segment(seg, now)
    # Each got the other's FIN before the ACK of its own (RFC 9293 §3.6 Figure 13).
    assert state(a) is state(b) is TcpState.CLOSING
    deliver(a, b, now)
    deliver(b, a, now)
    assert state(a) is state(b) is TcpState.TIME_WAIT
    a.handle_timer(now + 5.0)
    b.handle_timer(now + 5.0)
    assert state(a) is state(b) is TcpState.CLOSED
    assert events(a)[-2:] == [EndOfStream(), ConnectionClosed()]


def test_fin_and_ack_together_skip_fin_wait_2() -> None:
    a, b = make_pair(config_a=TW, config_b=TW)
    link = open_link(a, b)
    now = link.now
    a.close()
    deliver(a, b, now)
    b.close()  # before b sent its ACK: the ACK of a's FIN rides on b's FIN
    (seg,) = deliver(b, a, now)
    assert seg.flags & FA == FA
    assert state(a) is TcpState.TIME_WAIT


def test_time_wait_acknowledges_a_repeated_fin_and_restarts() -> None:
    a, b = make_pair(config_a=TW, config_b=TW)
    link = open_link(a, b)
    now = link.now
    a.close()
    deliver(a, b, now)
    deliver(b, a, now)
    b.close()
    (b_fin,) = deliver(b, a, now)
    assert state(a) is TcpState.TIME_WAIT
    a.segments_to_send(now)  # the last ACK, lost
    a.receive_segment(b_fin, now + 3.0)  # b retransmits its FIN
    (again,) = a.segments_to_send(now + 3.0)
    assert again.flags == A and again.ack == (b_fin.seq + 1) % 2**32
    assert a.get_timer() == now + 3.0 + 5.0


def test_queued_data_goes_before_the_fin() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    a.send(bytes(100_000))
    a.close()
    link.run(lambda: b.state is TcpState.CLOSE_WAIT)
    assert link.received("b") == bytes(100_000)
    fins = [t.segment for t in link.trace if t.segment.flags & F]
    assert len(fins) == 1 and fins[0].payload  # on the segment with the last byte


def test_close_before_established() -> None:
    listener = TcpConnection(local_port=PORT_B)
    listener.listen()
    listener.close()
    assert state(listener) is TcpState.CLOSED and events(listener) == [ConnectionClosed()]
    client = TcpConnection(local_port=PORT_A, remote_port=PORT_B)
    client.connect(0.0)
    client.close()
    assert state(client) is TcpState.CLOSED and events(client) == [ConnectionClosed()]
    assert client.get_timer() is None


def test_close_in_syn_received_waits_for_established() -> None:
    a, b = make_pair()
    link = Link(a, b)
    b.listen()
    a.connect(0.0)
    b.receive_segment(a.segments_to_send(0.0)[0], 0.0)
    assert state(b) is TcpState.SYN_RECEIVED
    b.close()  # RFC 9293 §3.10.4: queued until ESTABLISHED
    assert state(b) is TcpState.SYN_RECEIVED
    link.run(lambda: b.state is TcpState.FIN_WAIT_2)
    assert state(a) is TcpState.CLOSE_WAIT
    assert link.events["b"][0] == Connected()
