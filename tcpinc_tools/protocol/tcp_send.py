"""Send-side bookkeeping: the unacknowledged stream, the retransmission queue, the
congestion window.

Sequence numbers are the connection's unbounded ones (see :mod:`.tcp_seq`).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

from .tcp_timers import RtoEstimator

__all__ = ["CongestionControl", "SendBuffer", "Sender", "SentSegment", "initial_window"]


class SendBuffer:
    """Bytes given to ``send()`` from SND.UNA on: sent-but-unacknowledged, then unsent.

    ``base`` is the sequence number of the first byte held. Push points are the sequence
    numbers just after the last byte of each ``send(..., push=True)`` call.
    """

    __slots__ = ("_base", "_data", "_push")

    def __init__(self, base: int) -> None:
        self._base = base
        self._data = bytearray()
        self._push: deque[int] = deque()

    @property
    def end(self) -> int:
        """Sequence number just after the last byte queued."""
        return self._base + len(self._data)

    def append(self, data: bytes, *, push: bool) -> None:
        self._data += data
        if push and data:
            self._push.append(self.end)

    def read(self, start: int, length: int) -> bytes:
        offset = start - self._base
        return bytes(self._data[offset : offset + length])

    def has_push(self, start: int, end: int) -> bool:
        """Whether a push point falls in (start, end]: PSH goes on that segment."""
        i = bisect.bisect_right(self._push, start)
        return i < len(self._push) and self._push[i] <= end

    def acknowledge(self, upto: int) -> None:
        """Drop the bytes before ``upto`` (the peer has them)."""
        drop = min(max(upto - self._base, 0), len(self._data))
        del self._data[:drop]
        self._base += drop
        while self._push and self._push[0] <= self._base:
            self._push.popleft()


@dataclass(slots=True)
class SentSegment:
    """One transmitted segment awaiting acknowledgement (the retransmission queue).

    A retransmission rebuilds the segment from this record: the same sequence range and
    controls, and for a SYN or SYN-ACK the very same option bytes (``syn_options``; RFC 8547
    §4.6 forbids SYN-form ENO options to change), for other segments the same hook option
    bytes (``hook_options``) with fresh TCP options (timestamps) around them.
    """

    seq: int
    length: int
    syn: bool
    fin: bool
    hook_options: bytes
    syn_options: bytes
    sent_at: float
    retransmitted: bool = False

    @property
    def data_start(self) -> int:
        return self.seq + self.syn

    @property
    def end(self) -> int:
        """Sequence number just after everything this segment occupies."""
        return self.seq + self.syn + self.length + self.fin

    def trim_front(self, upto: int) -> None:
        """Forget the part before ``upto`` (acknowledged); the controls stay as they were."""
        if upto <= self.seq:
            return
        if self.syn:
            self.syn = False
            self.syn_options = b""
        cut = min(upto - self.seq, self.length)
        self.seq += cut
        self.length -= cut


# RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
def initial_window(mss: int) -> int:
    return min(10 * mss, max(2 * mss, 14600))


class CongestionControl:
    """RFC 5681 slow start and congestion avoidance with RFC 6582 (NewReno) recovery.

    The connection decides when a loss happened (three duplicate ACKs or a timeout) and
    which segment to resend; this class only keeps cwnd, ssthresh and the recovery point.
    """

    __slots__ = ("after_timeout", "cwnd", "dupacks", "mss", "recover", "ssthresh")

    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.cwnd = initial_window(mss)
        # RFC 5681 §3.1: the initial ssthresh SHOULD be arbitrarily high.
        self.ssthresh = 1 << 62
        self.recover: int | None = None
        self.after_timeout = False
        self.dupacks = 0

    @property
    def in_recovery(self) -> bool:
        return self.recover is not None

    def on_new_ack(self, acked: int) -> None:
        """New data acknowledged outside recovery (RFC 5681 §3.1)."""
        if self.cwnd < self.ssthresh:
            # Slow start (RFC 5681 eq. 2): cwnd += min(N, SMSS).
            self.cwnd += min(acked, self.mss)
        else:
            # Congestion avoidance (RFC 5681 eq. 3): cwnd += SMSS*SMSS/cwnd.
            self.cwnd += max(1, self.mss * self.mss // self.cwnd)

    def on_loss(self, flight: int, snd_nxt: int, *, timeout: bool) -> None:
        """A loss: RFC 5681 eq. 4 for ssthresh, then §3.2 step 3 (fast retransmit:
        cwnd = ssthresh + 3*SMSS) or §3.1 (timeout: cwnd = 1 SMSS). Recovery lasts until
        everything sent so far (``snd_nxt``) is acknowledged (RFC 6582 §3.2 step 2)."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss if timeout else self.ssthresh + 3 * self.mss
        self.recover = snd_nxt
        self.after_timeout = timeout
        self.dupacks = 0

    def on_dupack_in_recovery(self) -> None:
        """RFC 6582 §3.2 step 4: inflate by one SMSS per further duplicate ACK."""
        self.cwnd += self.mss

    def on_partial_ack(self, acked: int) -> None:
        """A partial ACK. After a timeout the window grows by slow start (RFC 5681 §3.1);
        in fast recovery, RFC 6582 §3.2 step 5: deflate by the amount acknowledged, then
        add back one SMSS if at least that much was acknowledged."""
        if self.after_timeout:
            self.on_new_ack(acked)
            return
        self.cwnd = max(self.cwnd - acked, self.mss)
        if acked >= self.mss:
            self.cwnd += self.mss

    def on_full_ack(self, flight: int) -> None:
        """Recovery is over. After fast recovery, RFC 6582 §3.2 step 5 (full ACK):
        cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS); after a timeout slow start
        simply continues."""
        if not self.after_timeout:
            self.cwnd = min(self.ssthresh, max(flight, self.mss) + self.mss)
        self.recover = None
        self.after_timeout = False


class Sender:
    """The send half of a TCB (RFC 9293 §3.3.1): SND.UNA, SND.NXT, SND.WND, SND.WL1/WL2,
    the retransmission queue, RTO and congestion state.

    Nothing is ever "un-sent": SND.NXT only grows, and a loss is repaired by resending the
    oldest record of the retransmission queue (``resend_head``), as RFC 6298 §5.4 and RFC
    6582 ask, not by going back.
    """

    __slots__ = (
        "buffer",
        "cc",
        "close_requested",
        "fin_seq",
        "flight",
        "iss",
        "max_wnd",
        "nxt",
        "resend_head",
        "retransmissions",
        "rto",
        "timeouts",
        "una",
        "up",
        "wl1",
        "wl2",
        "wnd",
        "wscale",
    )

    def __init__(self, iss: int, rto: RtoEstimator) -> None:
        self.iss = iss
        self.una = iss
        self.nxt = iss
        self.wnd = 0
        self.wl1 = 0
        self.wl2 = 0
        self.max_wnd = 0
        self.wscale = 0
        self.buffer = SendBuffer(iss + 1)
        self.flight: deque[SentSegment] = deque()
        self.fin_seq: int | None = None
        self.close_requested = False
        self.up = iss + 1
        self.cc: CongestionControl | None = None
        self.rto = rto
        self.resend_head = False
        self.timeouts = 0
        self.retransmissions = 0

    @property
    def flight_size(self) -> int:
        return self.nxt - self.una

    @property
    def unsent(self) -> int:
        """Queued bytes not yet sent once."""
        return max(self.buffer.end - max(self.nxt, self.iss + 1), 0)

    @property
    def fin_due(self) -> bool:
        """close() was called and the FIN has not gone out yet."""
        return self.close_requested and self.fin_seq is None

    @property
    def fin_acked(self) -> bool:
        return self.fin_seq is not None and self.una > self.fin_seq

    @property
    def bytes_acked(self) -> int:
        """Bytes of our stream the peer has acknowledged (SYN and FIN not counted)."""
        return max(min(self.una, self.buffer.end) - (self.iss + 1), 0)

    def usable(self) -> int:
        """Bytes that may be sent beyond SND.NXT: min(SND.WND, cwnd) minus what is in flight
        (RFC 9293 §3.8.6.2.1 and RFC 5681 §2)."""
        cwnd = self.cc.cwnd if self.cc is not None else self.wnd
        return max(self.una + min(self.wnd, cwnd) - self.nxt, 0)

    # RFC 9293 §3.10.7.4 (fifth, ESTABLISHED): SND.UNA < SEG.ACK =< SND.NXT acknowledges
    # new data; records fully covered leave the retransmission queue.
    def on_ack(self, ack: int, now: float) -> None:
        acked = ack - self.una
        newest: SentSegment | None = None
        ambiguous = False
        while self.flight and self.flight[0].end <= ack:
            newest = self.flight.popleft()
            ambiguous |= newest.retransmitted
        if self.flight:
            self.flight[0].trim_front(ack)
        # RFC 6298 §3 (Karn): never time a segment that was retransmitted; and not during
        # recovery, where an ACK can be late because it waited for a hole to fill.
        in_recovery = self.cc is not None and self.cc.in_recovery
        if newest is not None and not ambiguous and not in_recovery:
            self.rto.sample(now - newest.sent_at)
        self.buffer.acknowledge(ack)
        self.una = ack
        self.timeouts = 0
        if self.cc is None:
            return
        if self.cc.recover is None:
            self.cc.on_new_ack(acked)
        elif ack >= self.cc.recover:
            self.cc.on_full_ack(self.flight_size)
        else:
            # RFC 6582 §3.2 step 5: a partial ACK; resend the first unacknowledged segment.
            self.cc.on_partial_ack(acked)
            self.resend_head = True
        self.cc.dupacks = 0

    # RFC 5681 §3.2: the third duplicate ACK triggers a fast retransmit; later ones
    # inflate the window (RFC 6582 §3.2 step 4).
    def on_duplicate_ack(self) -> None:
        if self.cc is None:
            return
        self.cc.dupacks += 1
        if self.cc.in_recovery:
            if not self.cc.after_timeout:
                self.cc.on_dupack_in_recovery()
        elif self.cc.dupacks == 3:
            self.cc.on_loss(self.flight_size, self.nxt, timeout=False)
            self.resend_head = True

    def on_timeout(self) -> None:
        """RFC 6298 §5.4 to §5.5 and RFC 5681 §3.1: resend the oldest segment, back off."""
        self.timeouts += 1
        self.rto.backoff()
        if self.cc is not None:
            self.cc.on_loss(self.flight_size, self.nxt, timeout=True)
        self.resend_head = True

    # RFC 9293 §3.10.7.4 (fifth): update the window if SND.WL1 < SEG.SEQ, or
    # SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK. RFC 7323 §2.3: scaled unless a SYN.
    def update_window(self, seq: int, ack: int, window: int, *, syn: bool) -> None:
        if self.wl1 < seq or (self.wl1 == seq and self.wl2 <= ack):
            self.wnd = window if syn else window << self.wscale
            self.wl1 = seq
            self.wl2 = ack
            self.max_wnd = max(self.max_wnd, self.wnd)

    def set_window(self, seq: int, ack: int, window: int, *, syn: bool) -> None:
        """Take the window unconditionally (RFC 9293: on entering ESTABLISHED)."""
        self.wl1 = seq - 1
        self.update_window(seq, ack, window, syn=syn)
