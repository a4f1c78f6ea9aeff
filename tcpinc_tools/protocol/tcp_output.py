"""Building outgoing segments: headers from the TCB, options, segmentation of queued data.

:class:`Output` knows nothing of the connection states; :class:`~.tcp.TcpConnection`
decides what is due and asks it for the segments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .segment import Segment, TcpFlags
from .tcp_negotiate import DEFAULT_PEER_MSS, build_segment_options, ts_clock
from .tcp_recv import Receiver
from .tcp_send import Sender, SentSegment
from .tcp_seq import seq_diff, seq_wire

__all__ = ["MAX_SACK_BLOCKS", "Output"]

# RFC 2018 §3: at most 4 SACK blocks fit in the option space (3 beside timestamps);
# build_segment_options drops the ones that do not fit.
MAX_SACK_BLOCKS: Final = 4


class Output:
    """Per-connection output state: what must be acknowledged, and the per-segment options
    (timestamps, SACK) agreed in the handshake."""

    __slots__ = (
        "ack_due",
        "last_ack_sent",
        "local_port",
        "options_for",
        "rcv",
        "remote_port",
        "sack_ok",
        "send_mss",
        "snd",
        "ts_offset",
        "ts_ok",
        "ts_recent",
    )

    def __init__(
        self,
        *,
        local_port: int,
        snd: Sender,
        rcv: Receiver,
        options_for: Callable[[TcpFlags], bytes],
        ts_offset: int,
    ) -> None:
        self.local_port = local_port
        self.remote_port = 0
        self.snd = snd
        self.rcv = rcv
        self.options_for = options_for
        self.ts_offset = ts_offset
        self.ts_ok = False
        self.sack_ok = False
        self.ts_recent = 0
        self.send_mss = DEFAULT_PEER_MSS
        self.last_ack_sent = 0
        self.ack_due = False

    def ts_pair(self, now: float) -> tuple[int, int] | None:
        """(TSval, TSecr) for a non-SYN segment when timestamps were negotiated."""
        return (ts_clock(now, self.ts_offset), self.ts_recent) if self.ts_ok else None

    # RFC 7323 §4.3: TS.Recent <- SEG.TSval when SEG.TSval >= TS.Recent and
    # SEG.SEQ =< Last.ACK.sent (so a delayed old segment cannot move it).
    def note_timestamp(self, seq: int, ts: tuple[int, int] | None) -> None:
        if not self.ts_ok or ts is None:
            return
        if seq <= self.last_ack_sent and seq_diff(ts[0], self.ts_recent) >= 0:
            self.ts_recent = ts[0]

    def segment(self, flags: TcpFlags, seq: int, payload: bytes, options: bytes) -> Segment:
        """A segment from our side: window and ACK from the receive half, URG from the
        send half."""
        snd, rcv = self.snd, self.rcv
        # RFC 7323 §2.2: the window of a SYN or SYN-ACK is never scaled.
        window = rcv.syn_window() if flags & TcpFlags.SYN else rcv.advertise()
        ack = 0
        if flags & TcpFlags.ACK:
            ack = seq_wire(rcv.nxt)
            self.ack_due = False
            self.last_ack_sent = rcv.nxt
        urgent = 0
        # RFC 9293 §3.8.5: URG on segments below the urgent point; the pointer is the offset
        # from SEG.SEQ to the byte after the urgent data (RFC 6093 §2), 0xffff at most.
        if not flags & TcpFlags.SYN and snd.up > max(seq, snd.iss + 1):
            flags |= TcpFlags.URG
            urgent = min(snd.up - seq, 0xFFFF)
        return Segment(
            src_port=self.local_port,
            dst_port=self.remote_port,
            seq=seq_wire(seq),
            ack=ack,
            flags=flags,
            window=window,
            options=options,
            payload=payload,
            urgent_pointer=urgent,
        )

    def from_record(
        self, rec: SentSegment, now: float, *, with_ack: bool, options: bytes | None = None
    ) -> Segment:
        """The segment a retransmission-queue record stands for (first copy or resend)."""
        flags = TcpFlags.ACK if with_ack else TcpFlags(0)
        if rec.syn:
            flags |= TcpFlags.SYN
            options = rec.syn_options
        elif options is None:
            options = build_segment_options(self.ts_pair(now), [], rec.hook_options)
        if rec.fin:
            flags |= TcpFlags.FIN
        payload = b""
        if rec.length:
            payload = self.snd.buffer.read(rec.data_start, rec.length)
            if self.snd.buffer.has_push(rec.data_start, rec.data_start + rec.length):
                flags |= TcpFlags.PSH
        return self.segment(flags, rec.seq, payload, options)

    def pure_ack(self, now: float, *, seq: int | None = None) -> Segment:
        """An ACK without data, with SACK blocks for held out-of-order data (RFC 2018 §4)."""
        blocks: list[tuple[int, int]] = []
        if self.sack_ok:
            blocks = [
                (seq_wire(start), seq_wire(end))
                for start, end in self.rcv.reassembly.sack_blocks(MAX_SACK_BLOCKS)
            ]
        options = build_segment_options(self.ts_pair(now), blocks, self.options_for(TcpFlags.ACK))
        return self.segment(TcpFlags.ACK, self.snd.nxt if seq is None else seq, b"", options)

    def reset(self, dst_port: int, seq: int, ack: int | None) -> Segment:
        """A RST (with ACK when ``ack`` is given); wire values, no window, no timestamps
        (RFC 7323 §3.2 does not require them on a RST)."""
        flags = TcpFlags.RST | (TcpFlags.ACK if ack is not None else TcpFlags(0))
        options = build_segment_options(None, [], self.options_for(flags))
        return Segment(
            src_port=self.local_port,
            dst_port=dst_port,
            seq=seq_wire(seq),
            ack=seq_wire(ack) if ack is not None else 0,
            flags=flags,
            window=0,
            options=options,
            payload=b"",
        )

    def new_data(self, now: float) -> list[Segment]:
        """Segments of not-yet-sent data (and the FIN once all data is out) that the send
        window, the congestion window and sender-side SWS avoidance allow."""
        snd = self.snd
        out: list[Segment] = []
        while snd.unsent or snd.fin_due:
            ts = self.ts_pair(now)
            room = self.send_mss - (len(build_segment_options(ts, [], b"")))
            length = min(snd.unsent, snd.usable(), room)
            if snd.unsent and not length:
                break
            # RFC 9293 §3.8.6.2.1 (sender SWS avoidance): a short segment only when it ends
            # the queue, nothing is in flight, or it is at least half the largest window.
            if (
                length < snd.unsent
                and length < room
                and snd.flight_size
                and length < snd.max_wnd // 2
            ):
                break
            hook = self.options_for(TcpFlags.ACK)
            options = build_segment_options(ts, [], hook)
            # RFC 6691 §2: the MSS counts options too, so they come out of the payload.
            length = min(length, self.send_mss - len(options))
            start = snd.nxt
            fin = snd.fin_due and start + length == snd.buffer.end
            rec = SentSegment(start, length, False, fin, hook, b"", now)
            snd.flight.append(rec)
            snd.nxt = rec.end
            if fin:
                snd.fin_seq = start + length
            out.append(self.from_record(rec, now, with_ack=True, options=options))
        return out
