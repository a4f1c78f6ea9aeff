"""One direction's reassembly: order, retransmissions, overlaps, wrap-around, gaps, limits."""

from __future__ import annotations

import tracemalloc
from itertools import pairwise

import pytest

from tcpinc_tools.capture.stream import (
    ANOMALY_GAP,
    ANOMALY_LIMIT,
    ANOMALY_NO_SYN,
    ANOMALY_OVERLAP_MISMATCH,
    Budget,
    Direction,
    FlowAnomaly,
    FlowLimits,
    Stream,
)

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
ISN = 1000


class Harness:
    """A stream with its anomalies collected and a packet counter."""

    def __init__(self, limits: FlowLimits | None = None, budget: Budget | None = None) -> None:
        self.limits = limits or FlowLimits()
        self.budget = budget or Budget(self.limits.max_buffered_bytes)
        self.anomalies: list[FlowAnomaly] = []
        self.stream = Stream(
            Direction.CLIENT_TO_SERVER, self.limits, self.budget, self.anomalies.append
        )
        self.number = 0

    def send(self, seq: int, data: bytes = b"", flags: int = ACK) -> list[tuple[int, bytes]]:
        self.number += 1
        return self.stream.add(seq % 2**32, flags, data, self.number)

    def ids(self) -> list[str]:
        return [a.id for a in self.anomalies]


def joined(chunks: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """Contiguous chunks as one (offset, bytes); how they are split is not part of the API."""
    offset = chunks[0][0]
    for (start, data), (nxt, _) in pairwise(chunks):
        assert start + len(data) == nxt
    return offset, b"".join(data for _, data in chunks)


def syn_stream(isn: int = ISN, **kw: object) -> Harness:
    h = Harness(**kw)  # type: ignore[arg-type]
    assert h.send(isn, flags=SYN) == []
    assert h.stream.isn == isn
    return h


def test_in_order_delivery_counts_from_isn_plus_one() -> None:
    h = syn_stream()
    assert h.send(ISN + 1, b"hello") == [(0, b"hello")]
    assert h.send(ISN + 6, b" world") == [(5, b" world")]
    s = h.stream
    assert (s.next_offset, s.delivered_bytes, s.base_seq) == (11, 11, ISN + 1)
    assert h.anomalies == []


def test_syn_data_is_offset_zero() -> None:
    h = Harness()
    assert h.send(ISN, b"tfo", flags=SYN) == [(0, b"tfo")]
    # The SYN retransmitted with the same data: a retransmission, nothing new.
    assert h.send(ISN, b"tfo", flags=SYN) == []
    assert h.stream.retransmissions == 1


def test_no_syn_counts_from_the_first_sequence_number() -> None:
    h = Harness()
    assert h.send(5000, b"abc") == [(0, b"abc")]
    assert h.ids() == [ANOMALY_NO_SYN]
    assert h.anomalies[0].direction is Direction.CLIENT_TO_SERVER
    assert h.stream.isn is None and h.stream.base_seq == 5000


def test_identical_retransmission_is_dropped_and_counted() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"abcdef")
    assert h.send(ISN + 1, b"abcdef") == []
    assert h.send(ISN + 3, b"cd") == []
    assert h.stream.retransmissions == 2
    assert h.anomalies == []


def test_overlap_with_new_bytes_delivers_only_the_new_ones() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"abcdef")
    assert h.send(ISN + 4, b"defGHI") == [(6, b"GHI")]
    assert h.stream.retransmissions == 1 and h.anomalies == []


def test_overlap_mismatch_keeps_the_first_bytes() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"abcdef")
    assert h.send(ISN + 3, b"XdefGH") == [(6, b"GH")]
    assert h.ids() == [ANOMALY_OVERLAP_MISMATCH]
    assert h.anomalies[0].byte_range == (2, 6)
    assert h.anomalies[0].packet_number == 3


def test_reordering_is_buffered_until_the_gap_fills() -> None:
    h = syn_stream()
    assert h.send(ISN + 6, b"world") == []
    assert h.send(ISN + 11, b"!") == []
    assert h.stream.pending_bytes == 6
    assert h.send(ISN + 1, b"hello") == [(0, b"hello"), (5, b"world!")]
    assert h.stream.pending_bytes == 0 and h.anomalies == []


def test_out_of_order_pieces_arriving_backwards_and_overlapping() -> None:
    h = syn_stream()
    assert h.send(ISN + 21, b"uvwxyz") == []
    assert h.send(ISN + 11, b"klmno") == []
    assert h.send(ISN + 14, b"nopqrstuv") == []  # overlaps both buffered pieces
    assert h.send(ISN + 11, b"klmno") == []  # a duplicate of a buffered piece
    assert h.stream.retransmissions == 2
    assert h.send(ISN + 1, b"abcdefghij") == [(0, b"abcdefghij"), (10, b"klmnopqrstuvwxyz")]
    assert h.anomalies == []


def test_overlap_mismatch_with_buffered_bytes_keeps_the_buffered_ones() -> None:
    h = syn_stream()
    h.send(ISN + 5, b"EFGH")
    h.send(ISN + 3, b"cdXYZ")  # 'XYZ' disagrees with buffered 'EFG'
    assert h.ids() == [ANOMALY_OVERLAP_MISMATCH]
    assert h.anomalies[0].byte_range == (4, 7)
    assert joined(h.send(ISN + 1, b"ab")) == (0, b"abcdEFGH")


def test_in_order_segment_overlapping_buffered_bytes_loses_to_them() -> None:
    h = syn_stream()
    h.send(ISN + 4, b"DEF")
    assert h.send(ISN + 1, b"abcxyz") == [(0, b"abc"), (3, b"DEF")]
    assert h.ids() == [ANOMALY_OVERLAP_MISMATCH]


@pytest.mark.parametrize("isn", [2**32 - 1, 2**32 - 3, 2**32 - 10])
def test_sequence_wrap_around(isn: int) -> None:
    h = syn_stream(isn)
    chunks = []
    for i in range(0, 20, 4):
        chunks += h.send(isn + 1 + i, bytes(range(i, i + 4)))
    assert chunks == [(i, bytes(range(i, i + 4))) for i in range(0, 20, 4)]
    # Out of order across the wrap as well.
    assert h.send(isn + 1 + 24, b"yz") == []
    assert h.send(isn + 1 + 20, b"uvwx") == [(20, b"uvwx"), (24, b"yz")]
    assert h.anomalies == []


def test_streams_longer_than_4_gib_keep_counting() -> None:
    h = syn_stream(2**32 - 100)
    step = 2**30
    for k in range(1, 6):
        h.send(h.stream.base_seq + k * step, b"x" * 10)  # type: ignore[operator]
        h.stream.acknowledge((h.stream.base_seq + k * step + 10) % 2**32)  # type: ignore[operator]
        assert h.send(h.stream.base_seq + k * step + 10) == [(k * step, b"x" * 10)]  # type: ignore[operator]
    assert h.stream.next_offset == 5 * step + 10
    assert h.ids() == [ANOMALY_GAP] * 5
    assert h.anomalies[-1].byte_range == (4 * step + 10, 5 * step)


def test_keepalive_byte_is_not_a_mismatch() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"abc")
    assert h.send(ISN + 3, b"\x00") == []  # seq = SND.NXT - 1, one garbage byte
    assert h.stream.keepalives == 1 and h.anomalies == []


def test_gap_given_up_when_the_peer_acknowledged_past_it() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"aaaa")
    assert h.send(ISN + 9, b"cccc") == []  # bbbb was not captured
    h.stream.acknowledge(ISN + 13)  # the receiver had all of it
    assert joined(h.send(ISN + 13, b"dd")) == (8, b"ccccdd")
    assert h.ids() == [ANOMALY_GAP]
    assert h.anomalies[0].byte_range == (4, 8)
    assert "acknowledged" in h.anomalies[0].message
    assert (h.stream.gaps, h.stream.gap_bytes) == (1, 4)


def test_partial_acknowledgement_only_gives_up_what_was_acknowledged() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"aaaa")
    h.send(ISN + 11, b"cc")
    h.stream.acknowledge(ISN + 7)
    assert h.send(ISN + 13, b"dd") == []
    assert h.anomalies[0].byte_range == (4, 6)
    assert h.send(ISN + 7, b"BBBB") == [(6, b"BBBB"), (10, b"ccdd")]


def test_acknowledge_before_any_data_is_ignored() -> None:
    h = Harness()
    h.stream.acknowledge(12345)
    assert h.send(100, b"x") == [(0, b"x")]


def test_flush_gives_up_the_remaining_gaps() -> None:
    h = syn_stream()
    h.send(ISN + 5, b"ef")
    h.send(ISN + 9, b"ij")
    assert h.stream.flush(99) == [(4, b"ef"), (8, b"ij")]
    assert [a.byte_range for a in h.anomalies] == [(0, 4), (6, 8)]
    assert all(a.id == ANOMALY_GAP and a.packet_number == 99 for a in h.anomalies)
    assert h.stream.buffered_bytes == 0 and h.budget.used == 0


def test_flush_reports_acknowledged_bytes_never_captured() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"ab")
    h.stream.acknowledge(ISN + 11)
    assert h.stream.flush(7) == []
    assert h.anomalies[0].byte_range == (2, 10)


def test_flush_stops_acknowledged_gap_at_the_fin() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"ab", flags=ACK | FIN)
    h.stream.acknowledge(ISN + 4)  # FIN takes one sequence number
    assert h.stream.flush(7) == []
    assert h.anomalies == []


def test_fin_and_rst_marks() -> None:
    h = syn_stream()
    h.send(ISN + 1, b"data", flags=ACK | PSH | FIN)
    h.send(ISN + 5, flags=ACK | FIN)  # retransmitted FIN: the first one stays
    assert (h.stream.fin.packet_number, h.stream.fin.offset) == (2, 4)  # type: ignore[union-attr]
    assert h.send(ISN + 6, b"diagnostic", flags=RST) == []  # RST payload is not data
    assert (h.stream.rst.packet_number, h.stream.rst.offset) == (4, 5)  # type: ignore[union-attr]
    h.send(ISN + 6, flags=RST)
    assert h.stream.rst.packet_number == 4  # type: ignore[union-attr]


def test_fin_stepping_backwards_does_not_lose_data() -> None:
    # LEGACY.md: tcpcryptd's rewritten sequence numbers can step back around the FIN.
    h = syn_stream()
    assert h.send(ISN + 1, b"frame-one") == [(0, b"frame-one")]
    h.send(ISN + 4, flags=ACK | FIN)
    assert h.stream.fin.offset == 3  # type: ignore[union-attr]
    assert h.stream.flush(9) == [] and h.stream.delivered_bytes == 9


def test_retransmission_older_than_the_history_is_unverified() -> None:
    h = syn_stream(limits=FlowLimits(history_bytes=8))
    for i in range(10):
        h.send(ISN + 1 + 4 * i, b"abcd")
    h.send(ISN + 1, b"XXXX")  # long gone from the 8..16-byte history
    assert h.stream.unverified_retransmissions == 1 and h.anomalies == []
    h.send(ISN + 37, b"abcX")  # still held: compared
    assert h.ids() == [ANOMALY_OVERLAP_MISMATCH]


def test_no_history_kept_when_disabled() -> None:
    h = syn_stream(limits=FlowLimits(history_bytes=0))
    h.send(ISN + 1, b"abcd")
    h.send(ISN + 1, b"XXXX")
    assert h.stream.buffered_bytes == 0 and h.stream.unverified_retransmissions == 1


def test_out_of_order_byte_limit_gives_up_the_gap() -> None:
    h = syn_stream(limits=FlowLimits(max_ooo_bytes=1000))
    delivered = []
    for i in range(1, 30):
        delivered += h.send(ISN + 1 + 100 * i, b"z" * 100)  # the first 100 bytes never come
        assert h.stream.pending_bytes <= 1000
    assert h.ids() == [ANOMALY_LIMIT, ANOMALY_GAP]
    assert h.anomalies[1].byte_range == (0, 100)
    assert delivered[0][0] == 100
    assert sum(len(d) for _, d in delivered) + h.stream.pending_bytes == 2900


def test_out_of_order_piece_limit() -> None:
    h = syn_stream(limits=FlowLimits(max_ooo_segments=4))
    for i in range(1, 8):
        h.send(ISN + 1 + 10 * i, b"q")  # tiny, never adjacent
        assert len(h.stream._pending_starts) <= 4
    assert ANOMALY_LIMIT in h.ids()
    assert h.ids().count(ANOMALY_LIMIT) == 1  # reported once per stream


def test_shared_budget_bounds_all_streams() -> None:
    limits = FlowLimits(max_buffered_bytes=300, history_bytes=0)
    budget = Budget(300)
    first = syn_stream(limits=limits, budget=budget)
    second = syn_stream(limits=limits, budget=budget)
    first.send(ISN + 101, b"a" * 250)
    assert budget.used == 250
    second.send(ISN + 101, b"b" * 100)  # over the shared limit: second gives up its gap
    assert budget.used <= 300
    assert second.ids() == [ANOMALY_LIMIT, ANOMALY_GAP]
    assert second.stream.next_offset == 200


def test_history_is_dropped_when_the_budget_is_full() -> None:
    budget = Budget(100)
    h = syn_stream(limits=FlowLimits(max_buffered_bytes=100), budget=budget)
    h.send(ISN + 1, b"a" * 80)
    assert budget.used == 80
    h.send(ISN + 81, b"b" * 80)
    assert budget.used <= 100
    h.send(ISN + 1, b"a" * 10)  # its history is gone: unverified, not a mismatch
    assert h.stream.unverified_retransmissions == 1


def test_history_is_trimmed_in_steps() -> None:
    h = syn_stream(limits=FlowLimits(history_bytes=100))
    for i in range(50):
        h.send(ISN + 1 + 10 * i, b"0123456789")
        assert h.stream.buffered_bytes <= 200
    assert h.budget.used == h.stream.buffered_bytes >= 100


def test_memory_stays_flat_on_a_huge_gap_stream() -> None:
    """50 MB after a lost segment, 1 MiB of out-of-order buffer: bounded and delivered."""
    limits = FlowLimits(max_ooo_bytes=1 << 20)
    h = syn_stream(limits=limits)
    payload = bytes(range(256)) * 256  # 64 KiB
    delivered = 0
    tracemalloc.start()
    try:
        for i in range(1, 800):
            for _, data in h.send(ISN + 1 + i * len(payload), payload):
                delivered += len(data)
            assert h.stream.pending_bytes <= limits.max_ooo_bytes + len(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20, peak
    assert delivered + h.stream.pending_bytes == 799 * len(payload)
    assert h.stream.gaps == 1 and h.stream.gap_bytes == len(payload)
    assert h.budget.used == h.stream.buffered_bytes <= (1 << 20) + 3 * len(payload)


def test_handshake_segments_are_kept_up_to_a_few_after_the_first_ack() -> None:
    h = Harness()
    s = h.stream
    s.record_handshake(1, ISN, 0, SYN, b"\x02\x04\x05\xb4")
    s.record_handshake(2, ISN, 0, SYN, b"")
    for n in range(3, 12):
        s.record_handshake(n, ISN + 1, 7, ACK, b"")
    assert [seg.packet_number for seg in s.handshake] == [1, 2, 3, 4, 5, 6]
    assert s.handshake[0].options == b"\x02\x04\x05\xb4"
    capped = Harness(FlowLimits(handshake_segments=3)).stream
    for n in range(10):
        capped.record_handshake(n, ISN, 0, SYN, b"")
    assert len(capped.handshake) == 3


def test_direction_reverse() -> None:
    assert Direction.CLIENT_TO_SERVER.reverse is Direction.SERVER_TO_CLIENT
    assert Direction.SERVER_TO_CLIENT.reverse is Direction.CLIENT_TO_SERVER
