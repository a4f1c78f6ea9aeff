"""A small but real TCP (RFC 9293), sans-IO: segments in, segments out, time as ``now``.

The state machine (RFC 9293 §3.3.2, Figure 5) is the data ``TRANSITIONS[state][trigger]``
(defined in :mod:`.tcp_states`, re-exported here); every state change of
:class:`TcpConnection` goes through it. Its rows:

    CLOSED        connect()              -> SYN_SENT      send SYN
    CLOSED        listen()               -> LISTEN
    LISTEN        SYN received           -> SYN_RECEIVED  send SYN-ACK
    LISTEN        close()                -> CLOSED
    SYN_SENT      SYN-ACK received       -> ESTABLISHED   send ACK
    SYN_SENT      SYN received           -> SYN_RECEIVED  send SYN-ACK (simultaneous open,
                                                          RFC 9293 §3.5 Figure 7)
    SYN_SENT      close()                -> CLOSED
    SYN_RECEIVED  ACK of our SYN         -> ESTABLISHED   (a crossing SYN-ACK counts too)
    ESTABLISHED   close()                -> FIN_WAIT_1    FIN after the queued data
    ESTABLISHED   FIN received           -> CLOSE_WAIT
    FIN_WAIT_1    ACK of our FIN         -> FIN_WAIT_2
    FIN_WAIT_1    FIN received           -> CLOSING       (simultaneous close)
    FIN_WAIT_2    FIN received           -> TIME_WAIT
    CLOSE_WAIT    close()                -> LAST_ACK      FIN after the queued data
    CLOSING       ACK of our FIN         -> TIME_WAIT
    LAST_ACK      ACK of our FIN         -> CLOSED        ConnectionClosed
    TIME_WAIT     2*MSL timer            -> CLOSED        ConnectionClosed

Outside the table, any state goes to CLOSED on a valid RST (ConnectionAborted; ignored in
TIME_WAIT, RFC 1337), on abort() (RST from a synchronized state) and after too many
retransmissions (ConnectionAborted). close() in SYN_RECEIVED is held until ESTABLISHED
(RFC 9293 §3.10.4 allows queueing it). A connection that came from LISTEN and is reset in
SYN_RECEIVED goes to CLOSED rather than back to LISTEN: one object is one connection.

Decisions where the RFCs leave room:
- Data on a SYN or SYN-ACK is not accepted (only the ISN is acknowledged; the peer sends
  it again). RFC 8547 §4.7 requires exactly this for SYN data of a TEP that defines none.
- Every data segment is acknowledged at once (no delayed ACK); out-of-order segments get
  an immediate duplicate ACK with SACK blocks when SACK was negotiated (RFC 5681 §4.2).
- Received SACK blocks are not used; loss recovery is NewReno (RFC 6582).
- RTT is measured per segment with Karn's rule, not with timestamps; PAWS is not done.
- A zero window is probed Linux-style with an ACK one below SND.NXT, which the peer must
  answer with its current window (RFC 9293 §3.8.6.1 leaves the probe's form open).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ..errors import LocalProtocolError
from .events import ConnectionAborted, ConnectionClosed, DataReceived, Event
from .segment import Segment, TcpFlags
from .tcp_machine import TcpMachine
from .tcp_negotiate import MAX_WINDOW_SHIFT, MIN_SEND_MSS, PeerOptions, SynOffer, ts_clock
from .tcp_seq import SEQ_MOD, seq_wire
from .tcp_states import RECEIVING, SENDING, SYNCHRONIZED, TRANSITIONS, TcpState, Trigger
from .tcp_timers import TimerKind

__all__ = [
    "DEFAULT_TCP_CONFIG",
    "TRANSITIONS",
    "SegmentHook",
    "TcpConfig",
    "TcpConnection",
    "TcpState",
    "Trigger",
]

_S = TcpState
# States in which send() is allowed (before close(); RFC 9293 §3.10.2 queues it before
# ESTABLISHED).
_APPLICATION_SENDS: Final = frozenset({_S.SYN_SENT, _S.SYN_RECEIVED, _S.ESTABLISHED, _S.CLOSE_WAIT})


@dataclass(frozen=True, slots=True)
class TcpConfig:
    """Per-connection settings. Times are in seconds."""

    mss: int = 1460
    # Receive buffer in bytes: the most we ever offer the peer.
    window: int = 65535
    # Our window scale shift (RFC 7323 §2), or None to not send the option.
    window_scale: int | None = 7
    sack_permitted: bool = True
    timestamps: bool = True
    initial_rto: float = 1.0  # RFC 6298 §2.1
    min_rto: float = 0.2  # RFC 6298 §2.4 says 1 s; 0.2 s is what Linux uses
    max_rto: float = 60.0  # RFC 6298 §2.5
    # Retransmissions of one segment before the connection is aborted (RFC 9293 §3.8.3
    # R2: at least 3 minutes for a SYN, 100 s for data; 8 and 12 backed-off RTOs exceed both).
    max_syn_retransmissions: int = 8
    max_retransmissions: int = 12
    # 2*MSL. RFC 9293 §3.4.2 takes MSL as 2 minutes; the short default suits simulation
    # and tests, a live endpoint should raise it.
    time_wait: float = 2.0
    # Bytes held ahead of a hole. They sit inside the offered window anyway; this bounds
    # the memory a peer can pin with a large (window-scaled) window and a hole it never
    # fills. Past the cap segments are dropped and arrive again by retransmission.
    max_out_of_order: int = 256 * 1024

    def __post_init__(self) -> None:
        if not MIN_SEND_MSS <= self.mss <= 0xFFFF:
            raise LocalProtocolError(f"mss {self.mss} outside {MIN_SEND_MSS}..65535")
        if self.window_scale is not None and not 0 <= self.window_scale <= MAX_WINDOW_SHIFT:
            raise LocalProtocolError(f"window_scale {self.window_scale} outside 0..14")
        shift = self.window_scale or 0
        # RFC 7323 §2.3: the shift suits the buffer. Below one unit (2**shift bytes) no
        # window could ever be offered; above 65535 units it could not all be offered.
        if not 1 << shift <= self.window <= 0xFFFF << shift:
            raise LocalProtocolError(f"window {self.window} does not fit with shift {shift}")
        if not 0 < self.min_rto <= self.initial_rto <= self.max_rto:
            raise LocalProtocolError("need 0 < min_rto <= initial_rto <= max_rto")
        if self.max_syn_retransmissions < 0 or self.max_retransmissions < 0:
            raise LocalProtocolError("retransmission limits must be >= 0")
        if self.time_wait < 0 or self.max_out_of_order < 0:
            raise LocalProtocolError("time_wait and max_out_of_order must be >= 0")


DEFAULT_TCP_CONFIG: Final = TcpConfig()


class SegmentHook(Protocol):
    """How a layer above (TCP-ENO, tcpcrypt) takes part in TCP's segments.

    ``options_for`` is called once for each NEW segment, before it is built, with the
    segment's SYN, ACK and RST bits (PSH, FIN and URG are settled afterwards, since they
    depend on how much payload fits beside the options). Its bytes (whole options, no
    padding needed) go after TCP's own options; a retransmission reuses the bytes stored
    for the original, and a retransmitted SYN or SYN-ACK repeats its whole option area.

    ``on_segment`` sees every received segment that TCP accepts, before TCP acts on it:
    the SYN taken in LISTEN, the SYN or SYN-ACK taken in SYN-SENT, the peer's SYN-ACK
    crossing ours in a simultaneous open, a valid RST, and in the other states every
    segment that passes the sequence-number test and carries ACK. Segments TCP drops
    (out of window, a challenged RST or SYN, no ACK bit) are not shown.
    """

    def options_for(self, flags: TcpFlags) -> bytes: ...

    def on_segment(self, seg: Segment, now: float) -> None: ...


class TcpConnection(TcpMachine):
    """One TCP connection, from open to close, as a sans-IO state machine.

    Feed it received segments (``receive_segment``) and timer expiries (``handle_timer``
    at ``get_timer()``); send what ``segments_to_send`` returns; read ``next_event`` until
    it returns None. The application calls ``connect``/``listen``, ``send``, ``close``
    and ``abort``; using them wrongly raises :class:`LocalProtocolError`, whereas nothing
    the peer sends ever raises.
    """

    def __init__(
        self,
        *,
        local_port: int,
        remote_port: int | None = None,
        iss: int | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        config: TcpConfig = DEFAULT_TCP_CONFIG,
        hook: SegmentHook | None = None,
    ) -> None:
        for name, port in (("local_port", local_port), ("remote_port", remote_port)):
            if port is not None and not 0 <= port <= 0xFFFF:
                raise LocalProtocolError(f"{name} {port} outside 0..65535")
        if iss is None:
            # RFC 9293 §3.4.1 asks for an unpredictable ISN; the caller supplies randomness.
            iss = int.from_bytes(random_bytes(4), "big")
        if not 0 <= iss < SEQ_MOD:
            raise LocalProtocolError(f"iss {iss} outside 0..2**32-1")
        super().__init__(
            local_port=local_port,
            remote_port=remote_port,
            iss=iss,
            # RFC 7323 §7.1: a random offset keeps TSval from revealing the host's uptime.
            ts_offset=int.from_bytes(random_bytes(4), "big") if config.timestamps else 0,
            config=config,
            hook=hook,
        )

    # -- read-only view ------------------------------------------------------------------
    @property
    def state(self) -> TcpState:
        return self._state

    @property
    def config(self) -> TcpConfig:
        return self._config

    @property
    def local_port(self) -> int:
        return self._local_port

    @property
    def remote_port(self) -> int | None:
        return self._remote_port

    @property
    def iss(self) -> int:
        return self._snd.iss

    @property
    def irs(self) -> int | None:
        """The peer's ISN, once its SYN has been taken."""
        return self._rcv.irs if self._peer is not None else None

    @property
    def snd_una(self) -> int:
        return seq_wire(self._snd.una)

    @property
    def snd_nxt(self) -> int:
        return seq_wire(self._snd.nxt)

    @property
    def snd_wnd(self) -> int:
        return self._snd.wnd

    @property
    def rcv_nxt(self) -> int:
        return seq_wire(self._rcv.nxt)

    @property
    def rcv_wnd(self) -> int:
        return self._rcv.window

    @property
    def bytes_acked(self) -> int:
        """How many bytes of our stream the peer has acknowledged."""
        return self._snd.bytes_acked

    @property
    def bytes_received(self) -> int:
        """How many bytes of the peer's stream were delivered in order."""
        return self._rcv.delivered if self._peer is not None else 0

    @property
    def peer_options(self) -> PeerOptions | None:
        """What the peer's SYN (or SYN-ACK) carried."""
        return self._peer

    @property
    def peer_mss(self) -> int | None:
        """The MSS option of the peer's SYN, or None (not received or not present)."""
        return self._peer.mss if self._peer is not None else None

    @property
    def send_mss(self) -> int:
        """Largest segment (payload plus per-segment options) we send to the peer."""
        return self._out.send_mss

    @property
    def snd_wscale(self) -> int:
        return self._snd.wscale

    @property
    def rcv_wscale(self) -> int:
        return self._rcv.wscale

    @property
    def sack_permitted(self) -> bool:
        """SACK was negotiated (both SYNs carried SACK-permitted)."""
        return self._out.sack_ok

    @property
    def timestamps(self) -> bool:
        """Timestamps were negotiated (both SYNs carried them)."""
        return self._out.ts_ok

    @property
    def syn_options(self) -> bytes:
        """The option bytes of our SYN or SYN-ACK, as sent and as every retransmission."""
        return self._syn_options

    @property
    def rto(self) -> float:
        return self._snd.rto.rto

    @property
    def cwnd(self) -> int | None:
        return self._snd.cc.cwnd if self._snd.cc is not None else None

    @property
    def retransmissions(self) -> int:
        """Segments sent again so far (timeouts, fast retransmits, answers to a repeated SYN)."""
        return self._snd.retransmissions

    # -- application calls ---------------------------------------------------------------
    def connect(self, now: float) -> None:
        """Active open: send a SYN (RFC 9293 §3.10.1)."""
        if self._opened:
            raise LocalProtocolError("connect(): this connection was already opened")
        if self._remote_port is None:
            raise LocalProtocolError("connect() needs remote_port")
        cfg = self._config
        offer = SynOffer(
            mss=cfg.mss,
            window_scale=cfg.window_scale,
            sack_permitted=cfg.sack_permitted,
            timestamps=(ts_clock(now, self._ts_offset), 0) if cfg.timestamps else None,
        )
        self._new_syn(offer, TcpFlags.SYN, now)
        self._opened = True
        self._move(Trigger.ACTIVE_OPEN)

    def listen(self) -> None:
        """Passive open: wait for a SYN, which this connection then takes (RFC 9293 §3.10.1)."""
        if self._opened:
            raise LocalProtocolError("listen(): this connection was already opened")
        self._opened = True
        self._move(Trigger.PASSIVE_OPEN)

    def send(self, data: bytes, *, push: bool = True) -> None:
        """Queue bytes (RFC 9293 §3.10.2). With ``push`` the segment carrying the last of
        them has PSH set."""
        if self._state not in _APPLICATION_SENDS or self._snd.close_requested:
            closing = " after close()" if self._snd.close_requested else ""
            raise LocalProtocolError(f"send() in state {self._state.value}{closing}")
        self._snd.buffer.append(bytes(data), push=push)

    def send_urgent(self, data: bytes) -> None:
        """Queue urgent bytes: segments up to their end carry URG (RFC 9293 §3.8.5), the
        urgent pointer pointing just past them (RFC 6093 §2)."""
        self.send(data, push=True)
        self._snd.up = self._snd.buffer.end

    def close(self) -> None:
        """No more data from us: FIN after what is queued (RFC 9293 §3.10.4)."""
        state = self._state
        if state is _S.CLOSED:
            raise LocalProtocolError("close() on a closed connection")
        if state in (_S.LISTEN, _S.SYN_SENT):
            self._move(Trigger.CLOSE)
            self._end(ConnectionClosed())
            return
        if self._snd.close_requested:
            raise LocalProtocolError(f"close() called twice (state {state.value})")
        self._snd.close_requested = True
        if state is not _S.SYN_RECEIVED:
            self._move(Trigger.CLOSE)

    def abort(self) -> None:
        """Drop the connection; RST the peer if it knows us (RFC 9293 §3.10.5). A no-op on
        a closed connection."""
        state = self._state
        if state is _S.CLOSED:
            return
        if state in (_S.SYN_RECEIVED, _S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2, _S.CLOSE_WAIT):
            self._pending.append(self._reset_segment())
        self._end(ConnectionAborted("aborted locally"))

    # -- sans-IO surface -----------------------------------------------------------------
    def next_event(self) -> Event | None:
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, DataReceived):
            self._rcv.consumed(len(event.data))
        return event

    def get_timer(self) -> float | None:
        return self._timers.earliest()

    def handle_timer(self, now: float) -> None:
        for kind in self._timers.expired(now):
            when = self._timers.get(kind)
            if when is None or when > now:
                continue
            self._timers.cancel(kind)
            if kind is TimerKind.RETRANSMIT:
                self._on_retransmit_timer(now)
            elif kind is TimerKind.PERSIST:
                self._on_persist_timer(now)
            else:
                self._move(Trigger.TIMEOUT_2MSL)
                self._end(ConnectionClosed())

    def receive_segment(self, seg: Segment, now: float) -> None:
        """Process one arriving segment (RFC 9293 §3.10.7). Never raises for its content."""
        if seg.dst_port != self._local_port:
            return
        if self._remote_port is not None and seg.src_port != self._remote_port:
            return
        if self._state is _S.CLOSED:
            self._reply_reset(seg)
        elif self._state is _S.LISTEN:
            self._on_listen(seg, now)
        elif self._state is _S.SYN_SENT:
            self._on_syn_sent(seg, now)
        else:
            self._on_synchronized(seg, now)

    def segments_to_send(self, now: float) -> list[Segment]:
        out, self._pending = self._pending, []
        state = self._state
        if state in (_S.SYN_SENT, _S.SYN_RECEIVED):
            self._emit_syn(now, out)
        elif state in SYNCHRONIZED:
            for _ in range(min(self._dupacks_due, 3)):
                out.append(self._out.pure_ack(now))
            self._dupacks_due = 0
            self._emit_retransmission(now, out)
            if state in SENDING:
                self._emit_new_data(now, out)
            if self._probe_due:
                self._probe_due = False
                out.append(self._out.pure_ack(now, seq=self._snd.nxt - 1))
        if state not in (_S.CLOSED, _S.LISTEN, _S.SYN_SENT) and (
            self._out.ack_due
            or (state in RECEIVING and not self._rcv.fin_received and self._rcv.update_due())
        ):
            out.append(self._out.pure_ack(now))
        return out
