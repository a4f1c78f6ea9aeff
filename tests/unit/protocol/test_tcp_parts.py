"""The pieces under TcpConnection: sequence arithmetic, reassembly, send buffer, receive
window, option builders and parsers, congestion window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.tcp_negotiate import (
    PeerOptions,
    SynOffer,
    build_segment_options,
    build_syn_options,
    parse_peer_options,
)
from tcpinc_tools.protocol.tcp_recv import Reassembler, Receiver
from tcpinc_tools.protocol.tcp_send import CongestionControl, SendBuffer, initial_window
from tcpinc_tools.protocol.tcp_seq import seq_diff, seq_lt, seq_unwrap, seq_wire
from tests.support import property_settings

H = bytes.fromhex


def test_sequence_arithmetic_wraps() -> None:
    assert seq_diff(0, 0xFFFFFFFF) == 1
    assert seq_diff(0xFFFFFFFF, 0) == -1
    assert seq_lt(0xFFFFFFF0, 5) and not seq_lt(5, 0xFFFFFFF0)
    assert seq_unwrap(5, 0xFFFFFFF6) == 2**32 + 5
    assert seq_unwrap(0xFFFFFFF6, 2**32 + 5) == 0xFFFFFFF6
    assert seq_wire(2**32 + 5) == 5


@property_settings
@given(ref=st.integers(0, 2**40), delta=st.integers(-(2**31) + 1, 2**31 - 1))
def test_unwrap_inverts_wire(ref: int, delta: int) -> None:
    value = ref + delta
    assert seq_unwrap(seq_wire(value), ref) == value


def test_reassembler_merges_and_releases() -> None:
    r = Reassembler(limit=100)
    assert r.add(20, b"CD") and r.add(30, b"GH") and r.add(22, b"EF")
    assert r.buffered == 6
    assert r.sack_blocks(4) == [(20, 24), (30, 32)]  # most recently changed first
    assert r.add(24, b"xxxxxx")  # fills 24..30 and touches both neighbours
    assert r.sack_blocks(4) == [(20, 32)]
    assert r.pop(10) == b""  # a hole before 20
    assert r.pop(20) == b"CDEFxxxxxxGH" and r.buffered == 0


def test_reassembler_keeps_the_first_copy_and_trims_old_bytes() -> None:
    r = Reassembler(limit=100)
    r.add(5, b"abc")
    r.add(4, b"ZYXWV")  # overlaps 5..7 held: those stay "abc"
    assert r.pop(6) == b"bcV"


def test_reassembler_limit() -> None:
    r = Reassembler(limit=10)
    assert r.add(100, bytes(8))
    assert not r.add(200, bytes(3))  # 11 > 10: refused
    assert r.add(104, bytes(6))  # overlaps: only 2 new bytes
    assert r.buffered == 10


def test_send_buffer_push_points() -> None:
    buf = SendBuffer(1000)
    buf.append(b"a" * 10, push=True)
    buf.append(b"b" * 10, push=False)
    buf.append(b"c" * 10, push=True)
    assert buf.end == 1030
    assert buf.has_push(1000, 1010) and not buf.has_push(1010, 1020)
    assert buf.has_push(1015, 1030) and not buf.has_push(1000, 1009)
    assert buf.read(1008, 4) == b"aabb"
    buf.acknowledge(1012)
    assert buf.read(1012, 3) == b"bbb" and not buf.has_push(1000, 1012)


def test_receiver_acceptability_table() -> None:
    rcv = Receiver(capacity=1000, mss=100, max_out_of_order=1000)
    rcv.start(99)
    assert (rcv.nxt, rcv.window) == (100, 1000)
    # RFC 9293 §3.10.7.4: length 0 in a window, length 0 outside, data partly inside.
    assert rcv.acceptable(100, 0) and rcv.acceptable(1099, 0) and not rcv.acceptable(1100, 0)
    assert rcv.acceptable(50, 51) and not rcv.acceptable(50, 50)
    assert rcv.acceptable(1099, 10) and not rcv.acceptable(1100, 1)
    rcv.adv = rcv.nxt  # a zero window: only SEG.SEQ = RCV.NXT with no data
    assert rcv.acceptable(100, 0) and not rcv.acceptable(101, 0) and not rcv.acceptable(100, 1)


def test_receiver_window_avoids_silly_updates() -> None:
    rcv = Receiver(capacity=1000, mss=100, max_out_of_order=1000)
    rcv.start(0)
    data, fin, early = rcv.accept(1, bytes(1000), False)
    assert (len(data), fin, early) == (1000, False, False)
    assert rcv.advertise() == 0
    rcv.consumed(50)
    assert not rcv.update_due() and rcv.advertise() == 0  # 50 < min(500, 100)
    rcv.consumed(60)
    assert rcv.update_due() and rcv.advertise() == 110


def test_receiver_fin_after_a_hole() -> None:
    rcv = Receiver(capacity=1000, mss=100, max_out_of_order=1000)
    rcv.start(0)
    assert rcv.accept(4, b"def", True) == (b"", False, True)
    assert rcv.accept(1, b"abc", False) == (b"abcdef", True, False)
    assert rcv.fin_received and rcv.nxt == 8 and rcv.delivered == 6


LINUX_SYN = H("020405b4 0402 080a 0001e240 00000000 01 030307")


def test_parse_linux_syn() -> None:
    assert parse_peer_options(LINUX_SYN) == PeerOptions(
        mss=1460, window_scale=7, sack_permitted=True, timestamps=(123456, 0)
    )


def test_parse_skips_malformed_and_repeated_options() -> None:
    # MSS with length 3 (malformed), then a good MSS, a second window scale (ignored), a
    # SACK block, and a truncated timestamps option at the end.
    opts = H("0203ff 020405dc 030302 030309 050a0000000100000009 080a0001")
    assert parse_peer_options(opts) == PeerOptions(mss=1500, window_scale=2, sack_blocks=((1, 9),))
    assert parse_peer_options(b"") == PeerOptions()


FULL = SynOffer(mss=1460, window_scale=7, sack_permitted=True, timestamps=(123456, 0))


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        (FULL, "020405b4 0402 080a0001e24000000000 01 030307"),
        (SynOffer(1460, None, False, (1, 2)), "020405b4 0101 080a0000000100000002"),
        (SynOffer(1460, 0, True, None), "020405b4 01010402 01030300"),
        (SynOffer(536, None, False, None), "02040218"),
    ],
)
def test_syn_option_layouts(offer: SynOffer, expected: str) -> None:
    options, sent = build_syn_options(offer, b"")
    assert options == H(expected) and sent == offer


def test_syn_options_make_room_for_the_hook() -> None:
    small = H("450323")
    options, sent = build_syn_options(FULL, small)
    assert options == H("020405b4 0402 080a0001e24000000000 01 030307 450323 00")
    assert sent == FULL
    hook = H("4515") + bytes(range(0x20, 0x33))  # 21 bytes
    options, sent = build_syn_options(FULL, hook)
    # 20 + 21 = 41 > 40: timestamps go; the hook follows, zero padding ends the list.
    assert options == H("020405b4 01010402 01030307") + hook + bytes(3)
    assert sent == SynOffer(1460, 7, True, None)
    with pytest.raises(LocalProtocolError):
        build_syn_options(FULL, bytes(37))


def test_segment_options_fit_sack_blocks_beside_timestamps_and_hook() -> None:
    blocks = [(1, 2), (3, 4), (5, 6), (7, 8)]
    options = build_segment_options((9, 10), blocks, H("4502"))
    # 12 (timestamps) + 2 (hook) leave 26: NOP NOP and a SACK option with 2 blocks (18).
    assert options == H(
        "0101080a000000090000000a 0101 0512 00000001 00000002 00000003 00000004 4502 0000"
    )
    assert build_segment_options(None, [], b"") == b""
    with pytest.raises(LocalProtocolError):
        build_segment_options((1, 2), [], bytes(29))


def test_congestion_window_rfc_5681() -> None:
    assert initial_window(1460) == 14600 and initial_window(536) == 5360
    assert initial_window(9000) == 18000  # RFC 6928: max(2*MSS, 14600) caps 10*MSS
    cc = CongestionControl(1000)
    cc.on_new_ack(1000)
    assert cc.cwnd == 11000  # slow start: + min(N, SMSS)
    cc.on_loss(flight=8000, snd_nxt=500, timeout=False)
    assert (cc.ssthresh, cc.cwnd, cc.recover) == (4000, 7000, 500)  # RFC 5681 eq. 4, §3.2
    cc.on_dupack_in_recovery()
    assert cc.cwnd == 8000
    cc.on_partial_ack(2000)
    assert cc.cwnd == 7000  # deflate by 2000, add back one SMSS (RFC 6582)
    cc.on_full_ack(flight=1000)
    assert cc.cwnd == 2000 and not cc.in_recovery  # min(ssthresh, max(flight, SMSS) + SMSS)
    cc.on_loss(flight=8000, snd_nxt=900, timeout=True)
    assert cc.cwnd == 1000 and cc.ssthresh == 4000
    cc.on_new_ack(1000)
    cc.on_new_ack(1000)
    cc.on_new_ack(1000)
    cc.on_new_ack(1000)
    assert cc.cwnd == 4250  # 4000 by slow start, then + 1000*1000//4000
