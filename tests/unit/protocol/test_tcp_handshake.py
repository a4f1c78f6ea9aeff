"""Opening a connection: active/passive, simultaneous open, options, ISNs near 2**32."""

from __future__ import annotations

from tcpinc_tools.protocol import (
    Connected,
    DataReceived,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    TcpState,
)
from tcpinc_tools.wire.tcp_options import iter_tcp_options

from .link import PORT_A, PORT_B, Link, make_pair, open_link, seeded_random_bytes

H = bytes.fromhex
S, SA, A = TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK
NO_TS = TcpConfig(timestamps=False)


def test_three_way_handshake() -> None:
    a, b = make_pair(iss_a=1000, iss_b=5000, config_a=NO_TS, config_b=NO_TS)
    link = open_link(a, b)
    syn, syn_ack, ack = (t.segment for t in link.trace)
    assert len(link.trace) == 3
    assert (syn.flags, syn.seq, syn.ack, syn.src_port, syn.dst_port) == (S, 1000, 0, PORT_A, PORT_B)
    assert (syn_ack.flags, syn_ack.seq, syn_ack.ack) == (SA, 5000, 1001)
    assert (ack.flags, ack.seq, ack.ack, ack.payload) == (A, 1001, 5001, b"")
    # MSS 1460; NOP NOP SACK-permitted; NOP window scale 7 (no timestamps configured).
    assert syn.options == H("020405b4 01010402 01030307")
    assert syn_ack.options == H("020405b4 01010402 01030307")
    assert syn.window == syn_ack.window == 65535  # RFC 7323 §2.2: never scaled on a SYN
    assert ack.window == 65535 >> 7
    for conn in (a, b):
        assert conn.state is TcpState.ESTABLISHED
        assert conn.sack_permitted and not conn.timestamps
        assert conn.snd_wscale == conn.rcv_wscale == 7
        assert conn.peer_mss == 1460 and conn.send_mss == 1460
    assert link.events["a"] == [Connected()] and link.events["b"] == [Connected()]
    assert (a.iss, a.irs, a.snd_nxt, a.rcv_nxt) == (1000, 5000, 1001, 5001)
    assert (b.iss, b.irs, b.snd_nxt, b.rcv_nxt) == (5000, 1000, 5001, 1001)
    assert b.remote_port == PORT_A


def test_default_options_linux_layout() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    syn = link.trace[0].segment
    kinds = [o.kind for o in iter_tcp_options(syn.options)]
    # MSS, SACK-permitted, timestamps, NOP, window scale: 20 bytes, as Linux sends them.
    assert kinds == [2, 4, 8, 1, 3] and len(syn.options) == 20
    assert syn.options[6:8] == H("080a") and syn.options[12:16] == bytes(4)  # TSecr 0
    assert a.timestamps and b.timestamps
    # Every later segment carries NOP NOP timestamps, TSecr echoing the peer's TSval.
    syn_ack, ack = link.trace[1].segment, link.trace[2].segment
    assert syn_ack.options[12:16] == syn.options[8:12]
    assert ack.options[:4] == H("0101080a") and ack.options[8:12] == syn_ack.options[8:12]


def test_syn_ack_only_echoes_what_the_syn_offered() -> None:
    bare = TcpConfig(window_scale=None, sack_permitted=False, timestamps=False)
    a, b = make_pair(config_a=bare)
    link = open_link(a, b)
    assert link.trace[0].segment.options == H("020405b4")
    # RFC 7323 §2.2/§3.2, RFC 2018 §2: the SYN-ACK may carry them only if the SYN did.
    assert link.trace[1].segment.options == H("020405b4")
    for conn in (a, b):
        assert not conn.sack_permitted and not conn.timestamps
        assert conn.snd_wscale == conn.rcv_wscale == 0


def test_mss_negotiation_and_segmentation() -> None:
    a, b = make_pair(config_a=TcpConfig(mss=1000), config_b=TcpConfig(mss=1460))
    link = open_link(a, b)
    assert a.peer_mss == 1460 and b.peer_mss == 1000
    assert a.send_mss == b.send_mss == 1000
    a.send(bytes(5000))
    b.send(bytes(5000))
    link.run(lambda: len(link.received("a")) == len(link.received("b")) == 5000)
    data = [t.segment for t in link.trace if t.segment.payload]
    # RFC 6691: MSS bounds payload plus options; timestamps take 12 bytes of every segment.
    assert {len(s.payload) for s in data} == {988, 5000 - 5 * 988}
    assert all(len(s.payload) + len(s.options) <= 1000 for s in data)


def test_missing_mss_option_means_536() -> None:
    b = TcpConnection(local_port=PORT_B, iss=7, config=NO_TS)
    b.listen()
    b.receive_segment(Segment(PORT_A, PORT_B, 99, 0, S, 8192, b"", b""), 0.0)
    assert b.state is TcpState.SYN_RECEIVED
    assert b.peer_mss is None and b.send_mss == 536  # RFC 9293 §3.7.1
    (syn_ack,) = b.segments_to_send(0.0)
    # Only MSS: the SYN offered nothing else.
    assert (syn_ack.flags, syn_ack.ack, syn_ack.options) == (SA, 100, H("020405b4"))


def test_syn_data_is_not_acknowledged() -> None:
    b = TcpConnection(local_port=PORT_B, iss=7, config=NO_TS)
    b.listen()
    b.receive_segment(Segment(PORT_A, PORT_B, 99, 0, S, 8192, H("020405b4"), b"early"), 0.0)
    (syn_ack,) = b.segments_to_send(0.0)
    assert syn_ack.ack == 100  # only the ISN (RFC 8547 §4.7)
    assert b.next_event() is None


def test_listener_bound_to_a_remote_port_ignores_others() -> None:
    b = TcpConnection(local_port=PORT_B, remote_port=PORT_A, iss=7)
    b.listen()
    b.receive_segment(Segment(PORT_A + 1, PORT_B, 99, 0, S, 8192, b"", b""), 0.0)
    b.receive_segment(Segment(PORT_A, PORT_B + 1, 99, 0, S, 8192, b"", b""), 0.0)
    assert b.state is TcpState.LISTEN and b.segments_to_send(0.0) == []


def simultaneous_pair(
    iss_a: int = 100, iss_b: int = 300, config: TcpConfig = NO_TS
) -> tuple[TcpConnection, TcpConnection]:
    a = TcpConnection(
        local_port=PORT_A, remote_port=PORT_B, iss=iss_a, config=config,
        random_bytes=seeded_random_bytes(1),
    )  # fmt: skip
    b = TcpConnection(
        local_port=PORT_B, remote_port=PORT_A, iss=iss_b, config=config,
        random_bytes=seeded_random_bytes(2),
    )  # fmt: skip
    return a, b


def test_simultaneous_open_figure_7() -> None:
    a, b = simultaneous_pair()
    link = Link(a, b)
    a.connect(0.0)
    b.connect(0.0)
    link.run(lambda: link.has("a", Connected) and link.has("b", Connected))
    # RFC 9293 §3.5 Figure 7: SYNs cross, SYN-ACKs cross, nothing else is needed.
    summary = [(t.sender, t.segment.flags, t.segment.seq, t.segment.ack) for t in link.trace]
    assert sorted(summary) == [
        ("a", S, 100, 0),
        ("a", SA, 100, 301),
        ("b", S, 300, 0),
        ("b", SA, 300, 101),
    ]
    assert a.state is b.state is TcpState.ESTABLISHED
    # The SYN-ACK repeats the SYN's options (both SYNs offered the same).
    a_syn, a_syn_ack = link.sent_by("a")
    assert a_syn.options == a_syn_ack.options == a.syn_options
    a.send(b"ping" * 1000)
    b.send(b"pong" * 1000)
    link.run(lambda: len(link.received("a")) == len(link.received("b")) == 4000)
    assert link.received("b") == b"ping" * 1000 and link.received("a") == b"pong" * 1000


def test_simultaneous_open_with_timestamps_and_mismatched_options() -> None:
    a, b = simultaneous_pair(config=TcpConfig())
    b = TcpConnection(
        local_port=PORT_B, remote_port=PORT_A, iss=300,
        config=TcpConfig(sack_permitted=False, window_scale=None),
        random_bytes=seeded_random_bytes(2),
    )  # fmt: skip
    link = Link(a, b)
    a.connect(0.0)
    b.connect(0.0)
    link.run(lambda: link.has("a", Connected) and link.has("b", Connected))
    a_syn_ack = link.sent_by("a")[1]
    kinds = [o.kind for o in iter_tcp_options(a_syn_ack.options)]
    assert a_syn_ack.flags == SA and 4 not in kinds and 3 not in kinds and 8 in kinds
    for conn in (a, b):
        assert conn.timestamps and not conn.sack_permitted and conn.snd_wscale == 0


def test_simultaneous_open_when_one_syn_ack_is_lost() -> None:
    a, b = simultaneous_pair()
    link = Link(a, b, drop=lambda side, seg: side == "a" and seg.flags == SA and seg.seq == 100)
    a.connect(0.0)
    b.connect(0.0)
    link.run(lambda: link.has("a", Connected) and link.has("b", Connected))
    assert a.state is b.state is TcpState.ESTABLISHED
    # b's SYN-ACK made a ESTABLISHED; b got there when a answered its retransmitted
    # SYN-ACK (an old SYN in a synchronized state) with an ACK.
    assert link.trace[-1].segment.flags == A and link.trace[-1].sender == "a"


def test_isn_near_wrap() -> None:
    a, b = make_pair(iss_a=0xFFFFFFFF, iss_b=0xFFFFFFFE)
    link = open_link(a, b)
    assert link.trace[1].segment.ack == 0  # 0xFFFFFFFF + 1 wraps to 0
    assert a.snd_nxt == 0 and b.snd_nxt == 0xFFFFFFFF and a.rcv_nxt == 0xFFFFFFFF
    payload_a = bytes(range(256)) * 400  # 102400 bytes, past the window
    payload_b = bytes(range(255, -1, -1)) * 300
    a.send(payload_a)
    b.send(payload_b)
    a.close()
    b.close()
    link.run()
    assert link.received("b") == payload_a and link.received("a") == payload_b
    assert a.state is b.state is TcpState.CLOSED
    assert a.snd_nxt == (0xFFFFFFFF + 1 + len(payload_a) + 1) % 2**32
    assert a.bytes_acked == len(payload_a) and b.bytes_received == len(payload_a)


def test_connected_event_comes_once_and_first() -> None:
    a, b = make_pair()
    link = open_link(a, b)
    a.send(b"hello")
    link.run(lambda: link.received("b") == b"hello")
    assert link.events["b"][:2] == [Connected(), DataReceived(b"hello")]
