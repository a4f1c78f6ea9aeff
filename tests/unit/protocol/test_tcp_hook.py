"""The SegmentHook: extra options on every new segment, a view of every accepted segment,
and the 40 bytes of option space shared with TCP's own options."""

from __future__ import annotations

import itertools

import pytest

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol import Segment, TcpConnection, TcpFlags, TcpState
from tcpinc_tools.wire.tcp_options import iter_tcp_options

from .link import PORT_A, PORT_B, Side, make_pair, open_link

H = bytes.fromhex
S, A, SA, R = TcpFlags.SYN, TcpFlags.ACK, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.RST
# Shaped like TCP-ENO (RFC 8547 §4.1): SYN-form with TEP 0x23, the b=1 global suboption on
# the SYN-ACK, and the 2-byte non-SYN form elsewhere.
ENO_SYN = H("450323")
ENO_SYN_ACK = H("45040123")
ENO_ACK = H("4502")


class RecordingHook:
    def __init__(self, syn: bytes = ENO_SYN, syn_ack: bytes = ENO_SYN_ACK, other: bytes = ENO_ACK):
        self.syn, self.syn_ack, self.other = syn, syn_ack, other
        self.calls: list[tuple[str, TcpFlags]] = []
        self.seen: list[Segment] = []

    def options_for(self, flags: TcpFlags) -> bytes:
        self.calls.append(("options_for", flags))
        if flags & R:
            return b""
        if flags & S:
            return self.syn_ack if flags & A else self.syn
        return self.other

    def on_segment(self, seg: Segment, now: float) -> None:
        self.calls.append(("on_segment", seg.flags))
        self.seen.append(seg)


def raws(seg: Segment) -> list[bytes]:
    return [o.raw for o in iter_tcp_options(seg.options) if o.kind != 0]


def hooked_pair(**kw: object) -> tuple[TcpConnection, TcpConnection, RecordingHook, RecordingHook]:
    ha, hb = RecordingHook(), RecordingHook()
    a, b = make_pair(hook_a=ha, hook_b=hb, **kw)  # type: ignore[arg-type]
    return a, b, ha, hb


def test_hook_options_on_every_segment() -> None:
    a, b, ha, hb = hooked_pair()
    link = open_link(a, b)
    a.send(bytes(20_000))
    b.send(bytes(5_000))
    a.close()
    b.close()
    link.run()
    for t in link.trace:
        seg = t.segment
        expected = ENO_SYN if seg.flags == S else ENO_SYN_ACK if seg.flags == SA else ENO_ACK
        assert raws(seg)[-1] == expected, seg.describe()
    # TCP's own options come first; the hook's go after them.
    assert raws(link.trace[0].segment)[0] == H("020405b4")
    # One options_for call per new segment.
    for side, hook in (("a", ha), ("b", hb)):
        asked = [flags for what, flags in hook.calls if what == "options_for"]
        assert [t.segment.flags & (S | A | R) for t in link.trace if t.sender == side] == asked


def test_on_segment_sees_every_accepted_segment_in_order() -> None:
    a, b, ha, hb = hooked_pair()
    link = open_link(a, b)
    a.send(b"hello" * 1000)
    b.send(b"world")
    a.close()
    b.close()
    link.run()
    assert hb.seen == link.sent_by("a")
    assert ha.seen == link.sent_by("b")
    # The passive side sees the SYN before it is asked for its SYN-ACK's options; the
    # active side sees the SYN-ACK before it is asked for the third segment's options.
    assert hb.calls[:2] == [("on_segment", S), ("options_for", SA)]
    assert ha.calls[:3] == [("options_for", S), ("on_segment", SA), ("options_for", A)]


def test_on_segment_skips_what_tcp_drops() -> None:
    a, b, _, hb = hooked_pair()
    link = open_link(a, b)
    now = link.now
    seen = len(hb.seen)
    old = Segment(PORT_A, PORT_B, (b.rcv_nxt - 10) % 2**32, b.snd_nxt, A, 100, b"", b"old")
    stray_rst = Segment(PORT_A, PORT_B, (b.rcv_nxt + 50) % 2**32, 0, R, 0, b"", b"")
    no_ack = Segment(PORT_A, PORT_B, b.rcv_nxt, 0, TcpFlags.PSH, 100, b"", b"x")
    for seg in (old, stray_rst, no_ack):
        b.receive_segment(seg, now)
    assert len(hb.seen) == seen
    exact_rst = Segment(PORT_A, PORT_B, b.rcv_nxt, 0, R, 0, b"", b"")
    b.receive_segment(exact_rst, now)
    assert hb.seen[-1] == exact_rst and b.state is TcpState.CLOSED


class CountingHook(RecordingHook):
    """Different option bytes on every call, to show which ones a resend carries."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()

    def options_for(self, flags: TcpFlags) -> bytes:
        super().options_for(flags)
        return bytes((253, 4, 0, next(self.counter)))


def test_retransmissions_reuse_the_stored_hook_bytes() -> None:
    hook = CountingHook()
    a, b = make_pair(hook_a=hook)
    dropped: list[Segment] = []

    def drop_first_syn_and_data(side: Side, seg: Segment) -> bool:
        first = side == "a" and (seg.flags == S or bool(seg.payload))
        if first and all(seg.seq != d.seq for d in dropped):
            dropped.append(seg)
            return True
        return False

    link = open_link(a, b, drop=drop_first_syn_and_data)
    a.send(b"payload")
    link.run(lambda: link.received("b") == b"payload")
    syns = [t.segment for t in link.trace if t.segment.flags == S]
    assert syns[0] == syns[1] and raws(syns[0])[-1] == H("fd040000")
    data = [t.segment for t in link.trace if t.segment.payload]
    assert len(data) == 2 and raws(data[0])[-1] == raws(data[1])[-1]
    assert a.retransmissions == 2


@pytest.mark.parametrize(
    ("hook_len", "kinds"),
    [
        (20, [2, 4, 8, 1, 3]),  # 20 + 20 = 40: everything fits
        (21, [2, 1, 1, 4, 1, 3]),  # timestamps go first
        (29, [2, 1, 3]),  # then SACK-permitted
        (33, [2]),  # then window scale; MSS always stays
    ],
)
def test_syn_option_space_shared_with_a_large_hook(hook_len: int, kinds: list[int]) -> None:
    big = bytes((69, hook_len)) + bytes(range(0x20, 0x20 + hook_len - 2))
    hook = RecordingHook(syn=big)
    a, b = make_pair(hook_a=hook)
    link = open_link(a, b)
    syn = link.trace[0].segment
    assert [o.kind for o in iter_tcp_options(syn.options)][: len(kinds) + 1] == [*kinds, 69]
    assert big in syn.options and len(syn.options) <= 40
    # What was dropped from the SYN is not used by either side.
    assert a.timestamps == b.timestamps == (8 in kinds)
    assert a.sack_permitted == b.sack_permitted == (4 in kinds)
    assert a.snd_wscale == b.rcv_wscale == (7 if 3 in kinds else 0)


def test_hook_option_that_cannot_fit_a_syn() -> None:
    hook = RecordingHook(syn=bytes((69, 37)) + bytes(35))
    a, _ = make_pair(hook_a=hook)
    with pytest.raises(LocalProtocolError):
        a.connect(0.0)
    assert a.state is TcpState.CLOSED


def test_hook_options_come_out_of_the_payload() -> None:
    hook = RecordingHook(other=H("fd08 0000 00000000"))
    a, b = make_pair(hook_a=hook)
    link = open_link(a, b)
    a.send(bytes(10_000))
    link.run(lambda: len(link.received("b")) == 10_000)
    sizes = {len(t.segment.payload) for t in link.trace if t.sender == "a" and t.segment.payload}
    # MSS 1460 - 12 (NOP NOP timestamps) - 8 (hook) = 1440 bytes per full segment.
    assert max(sizes) == 1440
    assert all(len(t.segment.options) == 20 for t in link.trace[2:] if t.sender == "a")


def test_hook_option_too_large_for_data_segments() -> None:
    # NOP NOP timestamps (12 bytes) and 30 bytes of hook options exceed 40: the hook's fault.
    hook = RecordingHook(other=bytes((253, 30)) + bytes(28))
    a, b = make_pair(hook_a=hook)
    b.listen()
    a.connect(0.0)
    (syn,) = a.segments_to_send(0.0)
    b.receive_segment(syn, 0.0)
    (syn_ack,) = b.segments_to_send(0.0)
    a.receive_segment(syn_ack, 0.01)
    with pytest.raises(LocalProtocolError):
        a.segments_to_send(0.01)
