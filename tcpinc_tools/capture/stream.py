"""Reassembly of one direction of a TCP connection into its byte stream.

Offsets count from ISN+1, the first data byte after the SYN (RFC 9293 §3.4; DIGEST.md §2.12
reads tcpcrypt frame offsets this way), or from the first sequence number seen when the
SYN is missing. Sequence numbers are mapped to offsets modulo 2^32 around the next expected
byte, so wrap-around and streams longer than 4 GiB both work.

Rules, in the order they apply to a segment's bytes:

1. bytes before the next expected offset were seen already: a retransmission. They are
   compared with the recent history (``FlowLimits.history_bytes``); a difference is a
   ``tcp.reassembly.overlap_mismatch`` anomaly and the first bytes are kept;
2. bytes that overlap data buffered out of order: the buffered (first) bytes win, the same
   comparison applies;
3. new bytes at the next expected offset are delivered at once with every buffered piece
   that becomes contiguous; new bytes beyond it wait in the out-of-order buffer;
4. a gap is given up (``tcp.reassembly.gap``, with its offset range) when the peer has
   acknowledged past it (the capture lost bytes the receiver got), when a buffer limit is
   reached (``tcp.reassembly.limit`` too), or at the end of the flow; delivery goes on
   after it, and the consumer sees the jump in the chunk offsets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, NamedTuple

from ..records import picklable
from ..wire.constants import TcpFlag

__all__ = [
    "ANOMALY_GAP",
    "ANOMALY_ISN_CHANGED",
    "ANOMALY_LIMIT",
    "ANOMALY_NO_SYN",
    "ANOMALY_OVERLAP_MISMATCH",
    "ANOMALY_PORT_REUSE",
    "DEFAULT_LIMITS",
    "HANDSHAKE_SEGMENTS_AFTER_ACK",
    "MAX_ANOMALIES_PER_FLOW",
    "MAX_BUFFERED_BYTES",
    "MAX_FLOWS",
    "MAX_HANDSHAKE_SEGMENTS",
    "MAX_OOO_BYTES",
    "MAX_OOO_SEGMENTS",
    "RETRANSMIT_HISTORY",
    "Budget",
    "Chunk",
    "Direction",
    "FlowAnomaly",
    "FlowLimits",
    "HandshakeSegment",
    "Stream",
    "StreamMark",
]

# Anomaly ids (the analysis layer's registry knows them under the same names).
ANOMALY_NO_SYN: Final = "tcp.reassembly.no_syn"
ANOMALY_OVERLAP_MISMATCH: Final = "tcp.reassembly.overlap_mismatch"
ANOMALY_GAP: Final = "tcp.reassembly.gap"
ANOMALY_LIMIT: Final = "tcp.reassembly.limit"
ANOMALY_PORT_REUSE: Final = "tcp.flow.port_reuse"
ANOMALY_ISN_CHANGED: Final = "tcp.flow.isn_changed"

# Out-of-order data a stream may hold. In-window data cannot exceed the receive window, and
# Linux's default tcp_rmem maximum (6 MiB) opens about 3 MiB of it; more than 4 MiB waiting
# means the capture lost the segment that would fill the gap.
MAX_OOO_BYTES: Final = 4 << 20
# Out-of-order pieces a stream may hold: a bisect over a few thousand entries stays cheap, and
# 4096 full-sized segments (~6 MB) exceed MAX_OOO_BYTES, so this only binds for tiny segments.
MAX_OOO_SEGMENTS: Final = 4096
# Flows tracked at once; the least recently active one is evicted beyond it. A flow costs
# about 3 KiB without buffered data, so the table stays under ~200 MiB.
MAX_FLOWS: Final = 65536
# Bytes held across all streams (out-of-order data and retransmission history): the bound
# that keeps a long capture's memory flat whatever its flows do.
MAX_BUFFERED_BYTES: Final = 256 << 20
# Delivered bytes kept per stream to compare retransmissions with: one unscaled window (RFC
# 9293 §3.1, 16-bit window), which covers the usual go-back of a retransmission timeout.
RETRANSMIT_HISTORY: Final = 64 << 10
# Handshake segments kept per direction for the ENO checks: the SYN (or SYN-ACK), the
# first ACK and a few after it, plus room for retransmitted SYNs.
MAX_HANDSHAKE_SEGMENTS: Final = 8
HANDSHAKE_SEGMENTS_AFTER_ACK: Final = 3
# Anomalies recorded per flow; later ones are only counted (a lossy capture must not grow
# a list per packet).
MAX_ANOMALIES_PER_FLOW: Final = 256

_SEQ_MOD: Final = 1 << 32
_SEQ_HALF: Final = 1 << 31
_SYN: Final = int(TcpFlag.SYN)
_FIN: Final = int(TcpFlag.FIN)
_RST: Final = int(TcpFlag.RST)
_ACK: Final = int(TcpFlag.ACK)
_SYN_FIN_RST: Final = _SYN | _FIN | _RST

# A contiguous piece of a stream: (stream offset of its first byte, the bytes).
Chunk = tuple[int, bytes]


class Direction(Enum):
    """Which way a segment goes, relative to the connection's client (the SYN sender)."""

    CLIENT_TO_SERVER = "client_to_server"
    SERVER_TO_CLIENT = "server_to_client"

    @property
    def reverse(self) -> Direction:
        if self is Direction.CLIENT_TO_SERVER:
            return Direction.SERVER_TO_CLIENT
        return Direction.CLIENT_TO_SERVER


@dataclass(frozen=True, slots=True)
class FlowLimits:
    """Bounds on what reassembly holds; see the module constants for why each size."""

    max_ooo_bytes: int = MAX_OOO_BYTES  # per stream
    max_ooo_segments: int = MAX_OOO_SEGMENTS  # per stream
    max_flows: int = MAX_FLOWS
    max_buffered_bytes: int = MAX_BUFFERED_BYTES  # all streams together
    history_bytes: int = RETRANSMIT_HISTORY  # per stream
    handshake_segments: int = MAX_HANDSHAKE_SEGMENTS  # per direction
    max_anomalies: int = MAX_ANOMALIES_PER_FLOW  # per flow


DEFAULT_LIMITS: Final = FlowLimits()


@dataclass(frozen=True, slots=True)
class FlowAnomaly:
    """Something odd about a flow. ``byte_range`` is a [start, end) range of stream offsets."""

    id: str
    packet_number: int
    message: str
    byte_range: tuple[int, int] | None = None
    direction: Direction | None = None


class HandshakeSegment(NamedTuple):
    """A segment of the handshake as sent, for checking the ENO option on each of them.

    Immutable; a named tuple because several are kept per flow (cheaper to make)."""

    packet_number: int
    seq: int
    ack: int
    flags: int
    options: bytes


@dataclass(frozen=True, slots=True, init=False)
class StreamMark:
    """Where a FIN or RST was: its packet and the stream offset it stands at."""

    packet_number: int
    offset: int

    def __init__(self, packet_number: int, offset: int) -> None:  # by hand: see records.py
        object.__setattr__(self, "packet_number", packet_number)
        object.__setattr__(self, "offset", offset)


def _ignore(anomaly: FlowAnomaly) -> None:
    """What a detached stream does with an anomaly."""


class Budget:
    """Bytes buffered by every stream of a flow table, against one limit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class Stream:
    """One direction of a connection: reassembled bytes out, anomalies to ``note``."""

    __slots__ = (
        "_acked",
        "_budget",
        "_history",
        "_limit_noted",
        "_limits",
        "_note",
        "_pending_bytes",
        "_pending_data",
        "_pending_starts",
        "acks_recorded",
        "base_seq",
        "delivered_bytes",
        "direction",
        "fin",
        "gap_bytes",
        "gaps",
        "handshake",
        "handshake_open",
        "isn",
        "keepalives",
        "next_offset",
        "retransmissions",
        "rst",
        "unverified_retransmissions",
    )

    def __init__(
        self,
        direction: Direction,
        limits: FlowLimits,
        budget: Budget,
        note: Callable[[FlowAnomaly], None],
    ) -> None:
        self.direction = direction
        self.isn: int | None = None  # from the SYN
        self.base_seq: int | None = None  # the sequence number of stream offset 0
        self.next_offset = 0  # the next offset to deliver (delivered bytes + gap bytes)
        self.delivered_bytes = 0
        self.retransmissions = 0  # segments carrying bytes seen before
        self.unverified_retransmissions = 0  # ... older than the history, not compared
        self.keepalives = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.fin: StreamMark | None = None
        self.rst: StreamMark | None = None
        self.handshake: list[HandshakeSegment] = []
        # record_handshake still keeps segments (the window and the limit allow more).
        self.handshake_open = limits.handshake_segments > 0
        self.acks_recorded = 0
        self._limits = limits
        self._budget = budget
        self._note = note
        self._acked: int | None = None  # highest offset the peer acknowledged
        self._pending_starts: list[int] = []
        self._pending_data: list[bytearray] = []
        self._pending_bytes = 0
        self._history = bytearray()
        self._limit_noted = False

    # -- queries -------------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting out of order."""
        return self._pending_bytes

    @property
    def buffered_bytes(self) -> int:
        """Everything this stream holds: out-of-order data and retransmission history."""
        return self._pending_bytes + len(self._history)

    def offset_of(self, seq: int) -> int:
        """The stream offset of sequence number ``seq`` (the nearest one, modulo 2^32)."""
        base = self.base_seq if self.base_seq is not None else seq
        delta = (seq - base - self.next_offset) % _SEQ_MOD
        if delta >= _SEQ_HALF:
            delta -= _SEQ_MOD
        return self.next_offset + delta

    # -- input ---------------------------------------------------------------------------

    def set_isn(self, isn: int) -> None:
        """The SYN's sequence number: offset 0 is ISN+1 (RFC 9293 §3.4)."""
        self.isn = isn
        self.base_seq = (isn + 1) % _SEQ_MOD

    def record_handshake(
        self, packet_number: int, seq: int, ack: int, flags: int, options: bytes
    ) -> None:
        """Keep the segment while this direction's handshake window is open: up to and
        including its first ACK, a few segments after it, and at most the limit."""
        if (
            self.acks_recorded <= HANDSHAKE_SEGMENTS_AFTER_ACK
            and len(self.handshake) < self._limits.handshake_segments
        ):
            self.handshake.append(HandshakeSegment(packet_number, seq, ack, flags, options))
            if flags & _ACK:
                self.acks_recorded += 1
            self.handshake_open = (
                self.acks_recorded <= HANDSHAKE_SEGMENTS_AFTER_ACK
                and len(self.handshake) < self._limits.handshake_segments
            )
        else:
            self.handshake_open = False

    def detach(self) -> None:
        """The flow is over: stop reporting anomalies to it. The report function is usually
        a method of the flow that holds this stream; dropping it breaks that reference
        cycle, so reference counting frees the flow at once (not the cyclic collector)."""
        self._note = _ignore

    def acknowledge(self, ack: int) -> None:
        """The peer acknowledged ``ack``: bytes before it reached the receiver."""
        if self.base_seq is None:
            return
        offset = self.offset_of(ack)
        if self._acked is None or offset > self._acked:
            self._acked = offset

    def add(self, seq: int, flags: int, payload: bytes, packet_number: int) -> list[Chunk]:
        """One segment of this direction; returns the chunks it makes contiguous."""
        if (
            not payload
            and not flags & _SYN_FIN_RST
            and self.base_seq is not None
            and not self._pending_starts
        ):
            return []  # a bare ACK of a numbered stream with nothing buffered: nothing to do
        syn = flags & _SYN
        if flags & _RST:
            # RFC 9293 §3.5.3: a reset ends the stream; its payload (RFC 1122 §4.2.2.12
            # diagnostic text) is not stream data. A reset alone (a refused SYN) does not
            # start the stream's numbering.
            if self.rst is None:
                start = 0 if self.base_seq is None else self.offset_of(seq) + (1 if syn else 0)
                self.rst = StreamMark(packet_number, start)
            return []
        if self.base_seq is None:
            if syn:
                self.set_isn(seq)
            else:
                self.base_seq = seq
                self._anomaly(
                    ANOMALY_NO_SYN,
                    packet_number,
                    f"no SYN seen: offsets count from sequence number {seq}",
                )
        start = self.offset_of(seq) + (1 if syn else 0)
        chunks = self._insert(start, payload, packet_number) if payload else []
        if flags & _FIN and self.fin is None:
            self.fin = StreamMark(packet_number, start + len(payload))
        if self._pending_starts and self._acked is not None and self._acked > self.next_offset:
            chunks += self._skip_acked_gap(packet_number)
        return chunks

    def flush(self, packet_number: int) -> list[Chunk]:
        """The flow ends: give up every gap, deliver everything buffered, free the history."""
        chunks: list[Chunk] = []
        while self._pending_starts:
            chunks += self._skip_gap(
                packet_number, self._pending_starts[0], "at the end of the flow"
            )
        acked = self._acked
        if acked is not None and self.fin is not None:
            acked = min(acked, self.fin.offset)
        if acked is not None and acked > self.next_offset:
            # The peer acknowledged bytes that never appeared in the capture.
            self._skip_gap(packet_number, acked, "acknowledged by the peer, not captured")
        self._release_history()
        return chunks

    # -- reassembly ----------------------------------------------------------------------

    def _insert(self, start: int, data: bytes, packet_number: int) -> list[Chunk]:
        end = start + len(data)
        nxt = self.next_offset
        if end <= nxt:
            # RFC 9293 §3.8.4: a keep-alive carries one old byte at SND.NXT-1; not data.
            if len(data) == 1 and end == nxt:
                self.keepalives += 1
            else:
                self._compare_old(start, data, packet_number)
            return []
        if start < nxt:
            self._compare_old(start, data[: nxt - start], packet_number)
            data = data[nxt - start :]
            start = nxt
        if start == nxt and not self._pending_starts:
            self._deliver(data)
            return [(start, data)]
        self._buffer(start, data, packet_number)
        chunks = self._drain()
        if self._over_limit():
            self._note_limit(packet_number)
            while self._pending_starts and self._over_limit():
                chunks += self._skip_gap(
                    packet_number, self._pending_starts[0], "given up at a buffer limit"
                )
        return chunks

    def _compare_old(self, start: int, data: bytes, packet_number: int) -> None:
        """Bytes before next_offset: compare what the history still holds."""
        self.retransmissions += 1
        history = self._history
        hist_start = self.next_offset - len(history)
        lo = max(start, hist_start)
        hi = start + len(data)
        if lo >= hi:
            self.unverified_retransmissions += 1
            return
        if data[lo - start : hi - start] != history[lo - hist_start : hi - hist_start]:
            self._anomaly(
                ANOMALY_OVERLAP_MISMATCH,
                packet_number,
                f"retransmitted bytes {lo}-{hi} differ from those seen first (kept)",
                (lo, hi),
            )

    def _buffer(self, start: int, data: bytes, packet_number: int) -> None:
        """Put the bytes of [start, start+len) that no buffered piece covers into the buffer;
        compare the ones it does (the buffered bytes arrived first and are kept)."""
        starts = self._pending_starts
        datas = self._pending_data
        end = start + len(data)
        j = max(bisect_right(starts, start) - 1, 0)
        cursor = start
        new: list[tuple[int, bytes]] = []
        overlapped = False
        while j < len(starts) and starts[j] < end:
            piece_start = starts[j]
            piece = datas[j]
            piece_end = piece_start + len(piece)
            j += 1
            if piece_end <= cursor:
                continue
            if piece_start > cursor:
                new.append((cursor, data[cursor - start : piece_start - start]))
                cursor = piece_start
            overlap_end = min(piece_end, end)
            overlapped = True
            seen = piece[cursor - piece_start : overlap_end - piece_start]
            if data[cursor - start : overlap_end - start] != seen:
                self._anomaly(
                    ANOMALY_OVERLAP_MISMATCH,
                    packet_number,
                    f"bytes {cursor}-{overlap_end} differ from those buffered first (kept)",
                    (cursor, overlap_end),
                )
            cursor = overlap_end
        if cursor < end:
            new.append((cursor, data[cursor - start :]))
        if overlapped:
            self.retransmissions += 1
        for new_start, new_data in new:
            self._add_piece(new_start, new_data)

    def _add_piece(self, start: int, data: bytes) -> None:
        starts = self._pending_starts
        datas = self._pending_data
        i = bisect_right(starts, start)
        self._pending_bytes += len(data)
        self._budget.used += len(data)
        # Segments usually arrive in ascending order after a loss: grow the piece before.
        if i and starts[i - 1] + len(datas[i - 1]) == start:
            datas[i - 1] += data
            if i < len(starts) and starts[i] == start + len(data):
                datas[i - 1] += datas.pop(i)
                starts.pop(i)
            return
        starts.insert(i, start)
        datas.insert(i, bytearray(data))

    def _drain(self) -> list[Chunk]:
        chunks: list[Chunk] = []
        starts = self._pending_starts
        while starts and starts[0] == self.next_offset:
            start = starts.pop(0)
            data = bytes(self._pending_data.pop(0))
            self._pending_bytes -= len(data)
            self._budget.used -= len(data)
            self._deliver(data)
            chunks.append((start, data))
        return chunks

    def _deliver(self, data: bytes) -> None:
        self.next_offset += len(data)
        self.delivered_bytes += len(data)
        keep = self._limits.history_bytes
        if not keep:
            return
        history = self._history
        budget = self._budget
        if budget.used + len(data) > budget.limit:
            # The table is full: retransmissions of this stream go unverified for a while.
            self._release_history()
            return
        history += data
        budget.used += len(data)
        # Trim in steps of ``keep`` so that the copy is amortised over many segments.
        if len(history) > 2 * keep:
            excess = len(history) - keep
            del history[:excess]
            budget.used -= excess

    def _release_history(self) -> None:
        self._budget.used -= len(self._history)
        self._history = bytearray()

    def _over_limit(self) -> bool:
        limits = self._limits
        return (
            self._pending_bytes > limits.max_ooo_bytes
            or len(self._pending_starts) > limits.max_ooo_segments
            or self._budget.used > self._budget.limit
        )

    def _skip_acked_gap(self, packet_number: int) -> list[Chunk]:
        acked = self._acked
        assert acked is not None
        target = min(acked, self._pending_starts[0])
        return self._skip_gap(packet_number, target, "acknowledged by the peer, not captured")

    def _skip_gap(self, packet_number: int, to: int, why: str) -> list[Chunk]:
        """Give up the bytes [next_offset, to); deliver what becomes contiguous."""
        start = self.next_offset
        self.gaps += 1
        self.gap_bytes += to - start
        self._anomaly(
            ANOMALY_GAP,
            packet_number,
            f"bytes {start}-{to} missing from the capture ({why})",
            (start, to),
        )
        self.next_offset = to
        self._release_history()  # no longer the bytes just before next_offset
        return self._drain()

    def _note_limit(self, packet_number: int) -> None:
        if self._limit_noted:
            return
        self._limit_noted = True
        limits = self._limits
        self._anomaly(
            ANOMALY_LIMIT,
            packet_number,
            "reassembly buffer full (out-of-order "
            f"{self._pending_bytes}/{limits.max_ooo_bytes} bytes, "
            f"{len(self._pending_starts)}/{limits.max_ooo_segments} pieces, table "
            f"{self._budget.used}/{self._budget.limit} bytes): gaps given up",
        )

    def _anomaly(
        self,
        anomaly_id: str,
        packet_number: int,
        message: str,
        byte_range: tuple[int, int] | None = None,
    ) -> None:
        self._note(FlowAnomaly(anomaly_id, packet_number, message, byte_range, self.direction))


picklable(FlowLimits, FlowAnomaly, StreamMark)
