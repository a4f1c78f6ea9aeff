"""The inside of :class:`~tcpinc_tools.protocol.tcp.TcpConnection`: segment arrival by
state (RFC 9293 §3.10.7), the handshake, what is due to be sent, and the timers.

:class:`TcpMachine` is the base class that holds the TCB; the public surface and its
documentation are in :mod:`tcpinc_tools.protocol.tcp`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from .events import (
    Connected,
    ConnectionAborted,
    ConnectionClosed,
    DataReceived,
    EndOfStream,
    Event,
    UrgentDataReceived,
)
from .segment import Segment, TcpFlags
from .tcp_negotiate import (
    DEFAULT_PEER_MSS,
    MAX_WINDOW_SHIFT,
    MIN_SEND_MSS,
    PeerOptions,
    SynOffer,
    build_syn_options,
    parse_peer_options,
    ts_clock,
)
from .tcp_output import Output
from .tcp_recv import Receiver
from .tcp_send import CongestionControl, Sender, SentSegment
from .tcp_seq import seq_unwrap
from .tcp_states import RECEIVING, TRANSITIONS, TcpState, Trigger
from .tcp_timers import Deadlines, RtoEstimator, TimerKind

if TYPE_CHECKING:
    from .tcp import SegmentHook, TcpConfig

__all__ = ["SYN_RETRANSMITTED_RTO", "TcpMachine"]

_S = TcpState

# RFC 6298 §5.7: RTO when data transmission starts after a retransmitted SYN.
SYN_RETRANSMITTED_RTO: Final = 3.0


class TcpMachine:
    """The TCB and the processing behind the public calls."""

    def __init__(
        self,
        *,
        local_port: int,
        remote_port: int | None,
        iss: int,
        ts_offset: int,
        config: TcpConfig,
        hook: SegmentHook | None,
    ) -> None:
        self._config = config
        self._hook = hook
        self._local_port = local_port
        self._remote_port = remote_port
        self._ts_offset = ts_offset
        self._state = TcpState.CLOSED
        self._opened = False
        rto = RtoEstimator(config.initial_rto, config.min_rto, config.max_rto)
        self._snd = Sender(iss, rto)
        self._rcv = Receiver(
            capacity=config.window, mss=config.mss, max_out_of_order=config.max_out_of_order
        )
        self._out = Output(
            local_port=local_port,
            snd=self._snd,
            rcv=self._rcv,
            options_for=self._hook_options,
            ts_offset=self._ts_offset,
        )
        if remote_port is not None:
            self._out.remote_port = remote_port
        self._syn_offer: SynOffer | None = None
        self._syn_options = b""
        self._syn_fresh = False
        self._syn_retransmitted = False
        self._peer: PeerOptions | None = None
        self._timers = Deadlines()
        self._persist_count = 0
        self._persist_interval = config.initial_rto
        self._probe_due = False
        self._dupacks_due = 0
        self._pending: list[Segment] = []
        self._events: deque[Event] = deque()

    # -- internals: bookkeeping ----------------------------------------------------------
    def _hook_options(self, flags: TcpFlags) -> bytes:
        return self._hook.options_for(flags) if self._hook is not None else b""

    def _tell_hook(self, seg: Segment, now: float) -> None:
        if self._hook is not None:
            self._hook.on_segment(seg, now)

    def _move(self, trigger: Trigger) -> None:
        target = TRANSITIONS[self._state].get(trigger)
        if target is None:
            raise RuntimeError(f"bug: no transition from {self._state.value} on {trigger.value}")
        self._state = target

    def _end(self, event: Event) -> None:
        """Enter CLOSED (by the table or, for resets and aborts, directly) and report it."""
        self._state = _S.CLOSED
        self._timers.cancel_all()
        self._snd.flight.clear()
        self._snd.resend_head = False
        self._probe_due = False
        self._dupacks_due = 0
        self._out.ack_due = False
        self._events.append(event)

    def _reset_segment(self) -> Segment:
        # RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST> (with the ACK, as stacks send it).
        return self._out.reset(self._out.remote_port, self._snd.nxt, self._rcv.nxt)

    # RFC 9293 §3.10.7.1: the reply to a segment that belongs to no connection.
    def _reply_reset(self, seg: Segment) -> None:
        if seg.is_rst:
            return
        if seg.is_ack:
            self._pending.append(self._out.reset(seg.src_port, seg.ack, None))
        else:
            self._pending.append(self._out.reset(seg.src_port, 0, seg.seq + seg.seg_len))

    def _rearm_retransmit(self, now: float) -> None:
        # RFC 6298 §5.2/§5.3: stop when all is acknowledged, else restart on new ACKs.
        if self._snd.flight:
            self._timers.set(TimerKind.RETRANSMIT, now + self._snd.rto.rto)
        else:
            self._timers.cancel(TimerKind.RETRANSMIT)

    # -- internals: handshake ------------------------------------------------------------
    def _new_syn(self, offer: SynOffer, flags: TcpFlags, now: float) -> SynOffer:
        """Build our SYN or SYN-ACK once (every retransmission repeats these bytes);
        returns the part of ``offer`` that fitted beside the hook's options."""
        hook = self._hook_options(flags)
        self._syn_options, sent = build_syn_options(offer, hook)
        self._syn_offer = sent
        snd = self._snd
        snd.flight.clear()
        snd.flight.append(
            SentSegment(snd.iss, 0, True, False, hook, self._syn_options, now, retransmitted=False)
        )
        snd.nxt = snd.iss + 1
        self._syn_fresh = True
        return sent

    def _take_syn(self, seg: Segment, now: float) -> PeerOptions:
        """The peer's SYN (or SYN-ACK) is accepted: the receive half starts."""
        self._tell_hook(seg, now)
        peer = parse_peer_options(seg.options)
        self._peer = peer
        self._rcv.start(seg.seq)
        self._out.last_ack_sent = self._rcv.nxt
        if peer.timestamps is not None:
            self._out.ts_recent = peer.timestamps[0]
        return peer

    def _negotiate(self, ours: SynOffer, peer: PeerOptions) -> None:
        """RFC 7323 §1.3/§2.2, RFC 2018 §2: an option is in use when both SYNs carried it."""
        if ours.window_scale is not None and peer.window_scale is not None:
            self._snd.wscale = min(peer.window_scale, MAX_WINDOW_SHIFT)
            self._rcv.wscale = ours.window_scale
        self._out.sack_ok = ours.sack_permitted and peer.sack_permitted
        self._out.ts_ok = ours.timestamps is not None and peer.timestamps is not None
        # RFC 9293 §3.7.1: send no more than the peer's MSS (536 without the option), nor
        # more than our own (our MTU is the same link's).
        peer_mss = peer.mss if peer.mss is not None else DEFAULT_PEER_MSS
        self._out.send_mss = max(min(peer_mss, self._config.mss), MIN_SEND_MSS)

    def _answer_offer(self, peer: PeerOptions, ours: SynOffer, now: float) -> SynOffer:
        """A SYN-ACK carries only the options the peer's SYN carried (RFC 7323 §2.2, §3.2;
        RFC 2018 §2)."""
        return SynOffer(
            mss=ours.mss,
            window_scale=ours.window_scale if peer.window_scale is not None else None,
            sack_permitted=ours.sack_permitted and peer.sack_permitted,
            timestamps=(
                (ts_clock(now, self._ts_offset), peer.timestamps[0])
                if ours.timestamps is not None and peer.timestamps is not None
                else None
            ),
        )

    def _established(self, now: float) -> None:
        self._snd.cc = CongestionControl(self._out.send_mss)
        if self._syn_retransmitted:
            self._snd.rto.reinitialize(SYN_RETRANSMITTED_RTO)
        self._rearm_retransmit(now)
        self._events.append(Connected())
        if self._snd.close_requested:
            # close() was called in SYN-RECEIVED (RFC 9293 §3.10.4: queued until now).
            self._move(Trigger.CLOSE)

    # RFC 9293 §3.10.7.2: LISTEN.
    def _on_listen(self, seg: Segment, now: float) -> None:
        if seg.is_rst:
            return
        if seg.is_ack:
            self._reply_reset(seg)
            return
        if not seg.is_syn:
            return
        self._remote_port = self._out.remote_port = seg.src_port
        peer = self._take_syn(seg, now)
        cfg = self._config
        full = SynOffer(
            mss=cfg.mss,
            window_scale=cfg.window_scale,
            sack_permitted=cfg.sack_permitted,
            timestamps=(0, 0) if cfg.timestamps else None,
        )
        sent = self._new_syn(self._answer_offer(peer, full, now), TcpFlags.SYN | TcpFlags.ACK, now)
        self._negotiate(sent, peer)
        self._snd.set_window(self._rcv.irs, self._snd.iss, seg.window, syn=True)
        self._move(Trigger.RCV_SYN)

    # RFC 9293 §3.10.7.3: SYN-SENT.
    def _on_syn_sent(self, seg: Segment, now: float) -> None:
        snd = self._snd
        ack = seq_unwrap(seg.ack, snd.iss)
        if seg.is_ack and not snd.iss < ack <= snd.nxt:
            self._reply_reset(seg)
            return
        if seg.is_rst:
            if seg.is_ack:
                self._tell_hook(seg, now)
                self._end(ConnectionAborted("connection refused (reset in SYN-SENT)"))
            return
        if not seg.is_syn:
            return
        ours = self._syn_offer
        if ours is None:  # not reachable: connect() built the SYN before SYN-SENT
            return
        peer = self._take_syn(seg, now)
        self._negotiate(ours, peer)
        irs = self._rcv.irs
        if seg.is_ack:
            snd.on_ack(ack, now)
            snd.set_window(irs, ack, seg.window, syn=True)
            self._move(Trigger.RCV_SYN_ACK)
            self._established(now)
            self._out.ack_due = True
            return
        # Simultaneous open (RFC 9293 §3.5 Figure 7): our SYN becomes a SYN-ACK. TCP's own
        # options shrink to those the peer's SYN had; the hook is asked again and must give
        # the same SYN-form ENO option (RFC 8547 §4.6).
        offer = self._answer_offer(peer, ours, now)
        hook = self._hook_options(TcpFlags.SYN | TcpFlags.ACK)
        self._syn_options, _ = build_syn_options(offer, hook)
        rec = snd.flight[0]
        rec.syn_options = self._syn_options
        rec.hook_options = hook
        rec.retransmitted = True  # Karn: an ACK may now be for either copy
        self._syn_fresh = True
        snd.set_window(irs, snd.iss, seg.window, syn=True)
        self._move(Trigger.RCV_SYN)

    # -- internals: synchronized states (RFC 9293 §3.10.7.4) -----------------------------
    def _on_synchronized(self, seg: Segment, now: float) -> None:
        rcv = self._rcv
        seq = seq_unwrap(seg.seq, rcv.nxt)
        state = self._state
        if state is _S.SYN_RECEIVED and seg.is_syn and seq == rcv.irs and not seg.is_rst:
            if seg.is_ack:
                # Figure 7, line 6: the peer's SYN-ACK crossed ours and acknowledges our SYN.
                self._tell_hook(seg, now)
                self._process_ack(seq + 1, seg, now)
            else:
                # The peer sent its SYN again: our SYN-ACK was lost. Answer at once.
                self._snd.flight[0].retransmitted = True
                self._snd.retransmissions += 1
                self._syn_fresh = True
            return
        if state is _S.TIME_WAIT and seg.is_fin and not seg.is_rst:
            # Eighth step, TIME-WAIT: a retransmitted FIN restarts the 2 MSL timeout (the
            # sequence test below acknowledges it).
            self._timers.set(TimerKind.TIME_WAIT, now + self._config.time_wait)
        payload, fin = seg.payload, seg.is_fin
        # First: the sequence number.
        if not rcv.acceptable(seq, seg.seg_len):
            if seg.is_rst:
                return
            self._out.ack_due = True
            # "If the RCV.WND is zero, no segments will be acceptable, but special
            # allowance should be made to accept valid ACKs, URGs, and RSTs."
            if not (rcv.window == 0 and seq == rcv.nxt and seg.is_ack and not seg.is_syn):
                return
            payload, fin = b"", False
        # Second: RST (RFC 5961 §3.2: exact match resets, in-window gets a challenge ACK).
        if seg.is_rst:
            if seq != rcv.nxt:
                self._out.ack_due = True
            elif state is not _S.TIME_WAIT:  # RFC 1337: no TIME-WAIT assassination
                self._tell_hook(seg, now)
                self._end(ConnectionAborted("connection reset by peer"))
            return
        # Fourth: SYN in the window (RFC 5961 §4.2: challenge ACK, drop).
        if seg.is_syn:
            self._out.ack_due = True
            return
        # Fifth: ACK.
        if not seg.is_ack:
            return
        self._tell_hook(seg, now)
        if self._out.ts_ok:
            self._out.note_timestamp(seq, parse_peer_options(seg.options).timestamps)
        if not self._process_ack(seq, seg, now):
            return
        # Sixth: URG (RFC 9293 §3.10.7.4; RCV.UP <- max(RCV.UP, SEG.UP)).
        if seg.flags & TcpFlags.URG and self._state in RECEIVING:
            up = seq + seg.urgent_pointer
            if up > rcv.up:
                rcv.up = up
                self._events.append(UrgentDataReceived(up - rcv.irs - 1))
        # Seventh and eighth: text and FIN.
        if self._state in RECEIVING and (payload or fin):
            data, fin_now, early = rcv.accept(seq, payload, fin)
            if data:
                self._events.append(DataReceived(data))
            if early:
                self._dupacks_due += 1  # RFC 5681 §4.2: an immediate duplicate ACK
            else:
                self._out.ack_due = True
            if fin_now:
                self._on_fin(now)

    def _process_ack(self, seq: int, seg: Segment, now: float) -> bool:
        """Fifth step; False when the segment is to be dropped after it."""
        snd = self._snd
        ack = seq_unwrap(seg.ack, snd.una)
        state = self._state
        if state is _S.SYN_RECEIVED:
            if not snd.una < ack <= snd.nxt:
                self._reply_reset(seg)
                return False
            snd.on_ack(ack, now)
            snd.set_window(seq, ack, seg.window, syn=seg.is_syn)
            self._move(Trigger.RCV_ACK_OF_SYN)
            self._established(now)
            return True
        # RFC 9293: an ACK of something not yet sent; RFC 5961 §5.2: one older than
        # SND.UNA - MAX.SND.WND. Both are answered with an ACK and dropped.
        if ack > snd.nxt or ack < snd.una - snd.max_wnd:
            self._out.ack_due = True
            return False
        self._persist_count = 0
        duplicate = (
            ack == snd.una
            and bool(snd.flight)
            and not seg.payload
            and not seg.is_fin
            and seg.window << snd.wscale == snd.wnd
        )
        if ack > snd.una:
            snd.on_ack(ack, now)
            self._rearm_retransmit(now)
        elif duplicate:
            snd.on_duplicate_ack()
        snd.update_window(seq, ack, seg.window, syn=False)
        if snd.wnd > 0:
            self._timers.cancel(TimerKind.PERSIST)
        if snd.fin_acked:
            if state is _S.FIN_WAIT_1:
                self._move(Trigger.RCV_ACK_OF_FIN)
            elif state is _S.CLOSING:
                self._move(Trigger.RCV_ACK_OF_FIN)
                self._enter_time_wait(now)
                return False
            elif state is _S.LAST_ACK:
                self._move(Trigger.RCV_ACK_OF_FIN)
                self._end(ConnectionClosed())
                return False
        return state not in (_S.CLOSING, _S.LAST_ACK, _S.TIME_WAIT)

    def _on_fin(self, now: float) -> None:
        self._events.append(EndOfStream())
        self._out.ack_due = True
        if self._state is _S.FIN_WAIT_2:
            self._move(Trigger.RCV_FIN)
            self._enter_time_wait(now)
        else:
            self._move(Trigger.RCV_FIN)

    def _enter_time_wait(self, now: float) -> None:
        self._timers.cancel_all()
        self._timers.set(TimerKind.TIME_WAIT, now + self._config.time_wait)

    # -- internals: output ---------------------------------------------------------------
    def _emit_syn(self, now: float, out: list[Segment]) -> None:
        snd = self._snd
        if not snd.flight:
            return
        rec = snd.flight[0]
        if snd.resend_head:
            snd.resend_head = False
            rec.retransmitted = True
            snd.retransmissions += 1
            self._syn_retransmitted = True
        elif self._syn_fresh:
            self._syn_fresh = False
        else:
            return
        rec.sent_at = now
        with_ack = self._state is _S.SYN_RECEIVED
        out.append(self._out.from_record(rec, now, with_ack=with_ack))
        self._timers.set(TimerKind.RETRANSMIT, now + snd.rto.rto)

    def _emit_retransmission(self, now: float, out: list[Segment]) -> None:
        snd = self._snd
        if not snd.resend_head:
            return
        snd.resend_head = False
        if not snd.flight:
            return
        rec = snd.flight[0]
        rec.retransmitted = True
        rec.sent_at = now
        snd.retransmissions += 1
        out.append(self._out.from_record(rec, now, with_ack=True))
        self._timers.set(TimerKind.RETRANSMIT, now + snd.rto.rto)

    def _emit_new_data(self, now: float, out: list[Segment]) -> None:
        snd = self._snd
        fresh = self._out.new_data(now)
        out += fresh
        if fresh and self._timers.get(TimerKind.RETRANSMIT) is None:
            self._timers.set(TimerKind.RETRANSMIT, now + snd.rto.rto)  # RFC 6298 §5.1
        if (
            snd.unsent
            and snd.wnd == 0
            and not snd.flight
            and self._timers.get(TimerKind.PERSIST) is None
        ):
            # RFC 9293 §3.8.6.1: a zero window must be probed.
            self._persist_interval = snd.rto.rto
            self._timers.set(TimerKind.PERSIST, now + self._persist_interval)

    # -- internals: timers ---------------------------------------------------------------
    def _on_retransmit_timer(self, now: float) -> None:
        snd = self._snd
        if not snd.flight:
            return
        handshake = self._state in (_S.SYN_SENT, _S.SYN_RECEIVED)
        cfg = self._config
        limit = cfg.max_syn_retransmissions if handshake else cfg.max_retransmissions
        if snd.timeouts >= limit:
            # RFC 9293 §3.8.3 (R2): give up on the connection.
            if not handshake or self._state is _S.SYN_RECEIVED:
                self._pending.append(self._reset_segment())
            self._end(ConnectionAborted(f"no acknowledgement after {limit} retransmissions"))
            return
        snd.on_timeout()
        self._timers.set(TimerKind.RETRANSMIT, now + snd.rto.rto)

    def _on_persist_timer(self, now: float) -> None:
        snd = self._snd
        if snd.wnd > 0 or not snd.unsent:
            return
        if self._persist_count >= self._config.max_retransmissions:
            self._pending.append(self._reset_segment())
            self._end(ConnectionAborted("zero-window probes unanswered"))
            return
        self._persist_count += 1
        self._probe_due = True
        self._timers.set(TimerKind.PERSIST, now + self._persist_interval)
        self._persist_interval = min(self._persist_interval * 2, self._config.max_rto)
