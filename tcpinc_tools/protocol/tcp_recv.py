"""Receive-side reassembly: segments that arrived ahead of a hole, held until it fills.

Sequence numbers here are the connection's unbounded ones (see :mod:`.tcp_seq`), so the
blocks sort with plain ``<`` even across a 2**32 wrap.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

__all__ = ["Block", "Reassembler"]


class Block(NamedTuple):
    start: int
    data: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class Reassembler:
    """Out-of-order data (RFC 9293 §3.10.7.4, seventh step: "segments with higher beginning
    sequence numbers that are not acceptable may be held for later processing").

    Blocks are kept sorted and disjoint: an arriving segment that overlaps or touches held
    blocks is merged with them, the bytes already held winning over the new copy. At most
    ``limit`` bytes are held; a segment that would go past the limit is refused (the peer
    retransmits it later, so this only costs time).
    """

    __slots__ = ("_blocks", "_fin", "_limit", "_recent", "_size")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._blocks: list[Block] = []
        self._size = 0
        self._fin: int | None = None
        self._recent: int | None = None

    @property
    def buffered(self) -> int:
        """Bytes held out of order."""
        return self._size

    @property
    def fin(self) -> int | None:
        """Sequence number of a FIN seen ahead of a hole, or None."""
        return self._fin

    def note_fin(self, seq: int) -> None:
        self._fin = seq

    def add(self, start: int, data: bytes) -> bool:
        """Hold ``data`` (first byte at ``start``). False if it was refused for space."""
        if not data:
            return True
        end = start + len(data)
        starts = [b.start for b in self._blocks]
        # Every block that overlaps or touches [start, end).
        lo = bisect.bisect_left(starts, start)
        if lo > 0 and self._blocks[lo - 1].end >= start:
            lo -= 1
        hi = bisect.bisect_right(starts, end)
        touched = self._blocks[lo:hi]
        new_start = min([start, *(b.start for b in touched)])
        new_end = max([end, *(b.end for b in touched)])
        held = sum(len(b.data) for b in touched)
        if self._size - held + (new_end - new_start) > self._limit:
            return False
        merged = bytearray(new_end - new_start)
        merged[start - new_start : end - new_start] = data
        for b in touched:
            merged[b.start - new_start : b.end - new_start] = b.data
        self._blocks[lo:hi] = [Block(new_start, bytes(merged))]
        self._size += (new_end - new_start) - held
        self._recent = new_start
        return True

    def pop(self, rcv_nxt: int) -> bytes:
        """The held bytes that now continue the stream at ``rcv_nxt`` (maybe none)."""
        while self._blocks and self._blocks[0].end <= rcv_nxt:
            self._size -= len(self._blocks.pop(0).data)
        if not self._blocks or self._blocks[0].start > rcv_nxt:
            return b""
        first = self._blocks.pop(0)
        self._size -= len(first.data)
        return first.data[rcv_nxt - first.start :]

    def sack_blocks(self, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` (start, end) ranges held, the most recently changed one first
        (RFC 2018 §4: the first SACK block reports the most recently received segment)."""
        ranges = [(b.start, b.end) for b in self._blocks]
        ranges.sort(key=lambda r: (r[0] != self._recent, r[0]))
        return ranges[:limit]


class Receiver:
    """The receive half of a TCB (RFC 9293 §3.3.1): RCV.NXT, the advertised window, the
    reassembly queue, and the bytes handed to the application but not yet taken by it.

    The window offered to the peer is the buffer (``capacity``) minus the bytes the
    application has not taken yet; its right edge never moves left (RFC 9293 §3.8.6, "the
    window should not be shrunk"), and it moves right only by at least min(capacity/2, MSS)
    at a time (receiver-side silly window syndrome avoidance, RFC 9293 §3.8.6.2.2).
    """

    __slots__ = (
        "adv",
        "capacity",
        "fin_received",
        "irs",
        "mss",
        "nxt",
        "reassembly",
        "unread",
        "up",
        "wscale",
    )

    def __init__(self, *, capacity: int, mss: int, max_out_of_order: int) -> None:
        self.capacity = capacity
        self.mss = mss
        self.reassembly = Reassembler(min(max_out_of_order, capacity))
        self.irs = 0
        self.nxt = 0
        self.adv = 0
        self.unread = 0
        self.up = 0
        self.wscale = 0
        self.fin_received = False

    def start(self, irs: int) -> None:
        """The peer's SYN arrived: the stream starts after its ISN."""
        self.irs = irs
        self.nxt = irs + 1
        self.up = self.nxt
        # What our SYN or SYN-ACK offered (RFC 7323 §2.2: that window is never scaled).
        self.adv = self.nxt + self.syn_window()

    @property
    def delivered(self) -> int:
        """Bytes of the peer's stream delivered in order so far."""
        return self.nxt - self.irs - 1 - self.fin_received

    @property
    def window(self) -> int:
        """RCV.WND: what the peer was last told it may send beyond RCV.NXT."""
        return max(self.adv - self.nxt, 0)

    def syn_window(self) -> int:
        return min(self.capacity - self.unread, 0xFFFF)

    # RFC 9293 §3.10.7.4 (first, the table of four cases). A segment counts as acceptable
    # when any part of it lies in the window, which also admits one that straddles both
    # edges ("only the new parts are processed").
    def acceptable(self, seq: int, seg_len: int) -> bool:
        wnd = self.window
        if seg_len == 0:
            return seq == self.nxt if wnd == 0 else self.nxt <= seq < self.nxt + wnd
        if wnd == 0:
            return False
        return seq < self.nxt + wnd and seq + seg_len - 1 >= self.nxt

    def _offer(self) -> tuple[int, int]:
        """(window field, right edge it stands for) if advertised now, before SWS rules."""
        free = max(self.capacity - self.unread, 0)
        # RFC 7323 §2.3: the field carries the window shifted right by our scale, at most
        # 16 bits; the peer shifts it back, so the offer is rounded down to a unit.
        field = min(free >> self.wscale, 0xFFFF)
        return field, self.nxt + (field << self.wscale)

    def _threshold(self) -> int:
        return max(min(self.capacity // 2, self.mss), 1)

    def update_due(self) -> bool:
        """The application freed enough room that the peer should hear of it."""
        return self._offer()[1] - self.adv >= self._threshold()

    def advertise(self) -> int:
        """The window field for an outgoing non-SYN segment; records what it promises."""
        field, edge = self._offer()
        if edge - self.adv < self._threshold():
            # Keep the old right edge (RFC 9293 §3.8.6.2.2); never move it left.
            keep = max(self.adv - self.nxt, 0)
            field = min(keep >> self.wscale, 0xFFFF)
            edge = self.nxt + (field << self.wscale)
        self.adv = max(self.adv, edge)
        return field

    def accept(self, seq: int, payload: bytes, fin: bool) -> tuple[bytes, bool, bool]:
        """Take the text and FIN of an acceptable segment (RFC 9293 §3.10.7.4, seventh and
        eighth steps). Returns (bytes now in order, FIN now in order, arrived out of order).
        """
        data = payload
        if seq < self.nxt:
            data = data[self.nxt - seq :]
            seq = self.nxt
        limit = max(self.adv, self.nxt)
        if seq + len(data) > limit:
            # Past the window: keep what fits, and the FIN only came after what we drop.
            data = data[: max(limit - seq, 0)]
            fin = False
        early = seq > self.nxt
        if fin:
            self.reassembly.note_fin(seq + len(data))
        if data and early:
            self.reassembly.add(seq, data)
        out = bytearray()
        if data and not early:
            out += data
            self.nxt += len(data)
        while more := self.reassembly.pop(self.nxt):
            out += more
            self.nxt += len(more)
        self.unread += len(out)
        fin_now = False
        if not self.fin_received and self.reassembly.fin == self.nxt:
            self.nxt += 1
            self.fin_received = True
            fin_now = True
        return bytes(out), fin_now, early

    def consumed(self, n: int) -> None:
        """The application took ``n`` delivered bytes: their buffer space is free again."""
        self.unread = max(self.unread - n, 0)
