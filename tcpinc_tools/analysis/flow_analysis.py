"""One connection from its first packet to its end: ENO, tcpcrypt, findings, summary.

:class:`FlowAnalysis` is fed the packets of one :class:`~tcpinc_tools.capture.flows.Flow`
with the reassembler's updates. It runs the :class:`~.eno_analysis.EnoTracker` while the
handshake window is open, starts the :class:`~.tcpcrypt_analysis.TcpcryptTracker` once ENO
enabled encryption with a tcpcrypt TEP, turns the reassembler's anomalies into findings, and
at the end checks what needs the whole connection (FIN without FINp, RST, PSH on the
segment that ends an Init message) and gives a :class:`~.model.FlowResult` and a
:class:`~.model.FlowSummary`.

Plain TCP connections cost a few attribute tests per packet once their SYNs are seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..capture.flows import Direction, Flow, FlowUpdate
from ..capture.packet import TcpPacket
from ..capture.stream import ANOMALY_OVERLAP_MISMATCH, Chunk, StreamMark
from ..errors import DecodeError
from ..keylog import KeyLog
from ..records import picklable
from ..wire.constants import TcpFlag
from ..wire.tcpcrypt import decode_resume_suboption
from .eno_analysis import TCPCRYPT_TEPS, EnoTracker
from .model import (
    EnoResult,
    FindingSink,
    FlowResult,
    FlowSummary,
    ResumeOfferSeen,
    StreamRecord,
    TcpcryptResult,
)
from .registry import Severity
from .tcpcrypt_analysis import INIT_MESSAGE_MAX, TcpcryptTracker
from .tcpcrypt_stream import INIT

__all__ = ["PENDING_LIMIT", "AnalysisContext", "FlowAnalysis"]

# Stream bytes held per flow while ENO has negotiated but not yet enabled encryption (data
# captured before the ACK that enables it): more than a few segments means it never will.
PENDING_LIMIT: Final = 1 << 16
# Payload-carrying segments remembered per flow for the PSH check on Init messages.
_EARLY_SEGMENTS: Final = 64
_SYN: Final = int(TcpFlag.SYN)
_ACK: Final = int(TcpFlag.ACK)
_PSH: Final = int(TcpFlag.PSH)
_DIGEST_LEN: Final = 16


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """What every flow of one analyzer shares."""

    keylog: KeyLog | None = None
    payload: bool = False
    payload_limit: int = 16 << 20
    frame_sink: Callable[[StreamRecord], None] | None = None
    capture: int = 0


class FlowAnalysis:
    """The analysis of one flow (see the module doc)."""

    __slots__ = (
        "_anomalies_seen",
        "_early",
        "_idle",
        "_pending",
        "_pending_bytes",
        "_pending_open",
        "_tracking",
        "ctx",
        "eno",
        "first_packet",
        "flow",
        "sink",
        "tc",
    )

    def __init__(self, flow: Flow, ctx: AnalysisContext, first_packet: int) -> None:
        self.flow = flow
        self.ctx = ctx
        self.first_packet = first_packet
        self.sink = FindingSink(flow.id)
        self.eno = EnoTracker(self.sink)
        self.tc: TcpcryptTracker | None = None
        self._tracking = True
        self._anomalies_seen = 0
        # Created when first needed: most flows never need them (fewer objects for the GC).
        self._early: list[tuple[int, int, int, bool, int]] | None = None
        self._pending: list[tuple[int, tuple[Chunk, ...], int]] | None = None
        self._pending_open = True
        self._pending_bytes = 0
        # Nothing left to analyze (plain TCP, or ENO fell back): packets other than SYNs
        # only bring the flow table's anomalies (see on_packet).
        self._idle = False

    # -- input ---------------------------------------------------------------------------

    def on_packet(self, pkt: TcpPacket, update: FlowUpdate) -> None:
        """One packet of the flow, after the flow table filed it."""
        if self._idle and not pkt.flags & _SYN:
            # Not tracking, no tcpcrypt, no pending bytes: the rest of this method would do
            # nothing but look for new anomalies.
            if len(self.flow.anomalies) != self._anomalies_seen:
                try:
                    self._anomalies()
                except Exception as exc:
                    self._failed(exc, pkt.number)
            return
        side = 0 if update.direction is Direction.CLIENT_TO_SERVER else 1
        try:
            if self._tracking:
                self._handshake(side, pkt)
            elif pkt.flags & _SYN and not pkt.flags & _ACK:
                self.eno.late_syn(side, pkt.number, pkt.options)
            tc = self.tc
            if tc is not None and pkt.payload and tc.dirs[side].phase == INIT:
                self._remember_segment(side, pkt, update)
            if update.chunks:
                self._chunks(side, update.chunks, pkt.number)
            if len(self.flow.anomalies) != self._anomalies_seen:
                self._anomalies()
        except Exception as exc:  # a bug must not end the whole capture: report it
            self._failed(exc, pkt.number)

    def on_final(self, update: FlowUpdate) -> None:
        """The flow ended: the chunks its streams still held."""
        side = 0 if update.direction is Direction.CLIENT_TO_SERVER else 1
        try:
            if update.chunks:
                self._chunks(side, update.chunks, update.packet_number)
        except Exception as exc:
            self._failed(exc, update.packet_number)

    def _handshake(self, side: int, pkt: TcpPacket) -> None:
        eno = self.eno
        eno.on_segment(side, pkt.number, pkt.flags, pkt.options, len(pkt.payload))
        if self.tc is None and eno.enabled():
            nego = eno.negotiated()
            assert nego is not None
            if nego.outcome.negotiated_tep in TCPCRYPT_TEPS[nego.dialect]:
                ctx = self.ctx
                self.tc = TcpcryptTracker(
                    nego,
                    sink=self.sink,
                    flow_id=self.flow.id,
                    keylog=ctx.keylog,
                    payload=ctx.payload,
                    payload_limit=ctx.payload_limit,
                    frame_sink=ctx.frame_sink,
                )
                pending, self._pending = self._pending or [], None
                self._pending_open = False
                for held_side, chunks, number in pending:
                    self.tc.on_chunks(held_side, chunks, number)
        if not eno.active or eno.plain():
            self._tracking = False
            if self.tc is None:
                self._pending = None
                self._pending_open = False
                self._idle = True

    def _remember_segment(self, side: int, pkt: TcpPacket, update: FlowUpdate) -> None:
        early = self._early
        if early is None:
            early = self._early = []
        elif len(early) >= _EARLY_SEGMENTS:
            return
        stream = self.flow.stream(update.direction)
        start = stream.offset_of(pkt.seq) + (1 if pkt.flags & _SYN else 0)
        if start < INIT_MESSAGE_MAX:
            psh = bool(pkt.flags & _PSH)
            early.append((side, start, start + len(pkt.payload), psh, pkt.number))

    def _chunks(self, side: int, chunks: tuple[Chunk, ...], packet: int) -> None:
        if self.tc is not None:
            self.tc.on_chunks(side, chunks, packet)
            return
        if not self._pending_open:
            return
        size = sum(len(data) for _, data in chunks)
        if self._pending_bytes + size > PENDING_LIMIT:
            self._pending = None
            self._pending_open = False
            return
        pending = self._pending
        if pending is None:
            pending = self._pending = []
        self._pending_bytes += size
        pending.append((side, chunks, packet))

    def _anomalies(self) -> None:
        anomalies = self.flow.anomalies
        for anomaly in anomalies[self._anomalies_seen :]:
            direction = anomaly.direction
            self.sink.add(
                anomaly.id,
                anomaly.message,
                packet=anomaly.packet_number,
                byte_range=anomaly.byte_range,
                direction=direction.value if direction is not None else None,
            )
            if (
                anomaly.id == ANOMALY_OVERLAP_MISMATCH
                and self.tc is not None
                and anomaly.byte_range is not None
                and direction is not None
            ):
                side = 0 if direction is Direction.CLIENT_TO_SERVER else 1
                lo, hi = anomaly.byte_range
                self.tc.on_overlap_mismatch(side, lo, hi, anomaly.packet_number)
        self._anomalies_seen = len(anomalies)

    def _failed(self, exc: Exception, packet: int) -> None:
        self.sink.add("tcpinc.analyzer_error", f"{type(exc).__name__}: {exc}", packet=packet)
        self._tracking = False
        self.tc = None
        self._pending = None
        self._pending_open = False
        self._idle = True

    # -- the end -------------------------------------------------------------------------

    def finish(self) -> tuple[FlowResult, FlowSummary]:
        """The flow's result and summary (call once, after the final updates)."""
        flow = self.flow
        eno: EnoResult | None = None
        tcpcrypt: TcpcryptResult | None = None
        try:
            self._anomalies()
            eno = self.eno.result(flow.client, flow.server)
            if self.tc is not None and eno is not None and eno.status != "fallback":
                self.tc.finish()
                tcpcrypt = self._close_checks(self.tc, eno)
                self._psh_checks(self.tc)
        except Exception as exc:
            self._failed(exc, flow.last_packet_number)
        if flow.anomalies_suppressed:
            self.sink.suppressed["capture anomalies"] = flow.anomalies_suppressed
        result = FlowResult(
            id=flow.id,
            client=flow.client,
            server=flow.server,
            first_ts=flow.first_ts,
            last_ts=flow.last_ts,
            packets=flow.packets,
            eno=eno,
            tcpcrypt=tcpcrypt,
            findings=self.sink.finished(),
            bytes_client_to_server=flow.c2s.delivered_bytes,
            bytes_server_to_client=flow.s2c.delivered_bytes,
            first_packet=self.first_packet,
        )
        return result, self._summary(eno)

    def release(self) -> None:
        """After :meth:`finish`: break the reference cycles of the flow's state (its streams
        report to the flow, tcpcrypt's streams to their tracker), so that reference counting
        frees it as soon as the caller lets go, not the cyclic collector much later."""
        self.flow.c2s.detach()
        self.flow.s2c.detach()
        if self.tc is not None:
            self.tc.release()
            self.tc = None

    def _close_checks(self, tc: TcpcryptTracker, eno: EnoResult) -> TcpcryptResult:
        """RFC 8548 §3.7: a FIN without FINp is a truncation; §8: RST is unauthenticated."""
        flow = self.flow
        fins: tuple[StreamMark | None, StreamMark | None] = (flow.c2s.fin, flow.s2c.fin)
        resets = [m for m in (flow.c2s.rst, flow.s2c.rst) if m is not None]
        rst = min(resets, key=lambda m: m.packet_number) if resets else None
        states: list[bool | None] = []
        for side, fin in enumerate(fins):
            if fin is None:
                continue
            state = tc.fin_state(side)
            states.append(state)
            if state is False and (rst is None or rst.packet_number > fin.packet_number):
                name = tc.dirs[side].name
                self.sink.add(
                    "tcpcrypt.truncation",
                    f"{name} TCP FIN at stream offset {fin.offset} with no FINp frame before it",
                    packet=fin.packet_number,
                )
        fin_authenticated: bool | None = None
        if states:
            if False in states:
                fin_authenticated = False
            elif all(states):
                fin_authenticated = True
        if rst is not None and eno.status == "encrypted":
            closed = all(f is not None and f.packet_number < rst.packet_number for f in fins)
            # A reset that follows a tcpcrypt error is the abort that error calls for.
            explained = any(
                f.severity is Severity.ERROR
                and f.id.startswith("tcpcrypt.")
                and (f.packet or 0) <= rst.packet_number
                for f in self.sink.items
            )
            if not closed and not explained:
                self.sink.add(
                    "tcpcrypt.unauthenticated_reset",
                    "the connection was reset before a FIN in each direction; an off-path "
                    "attacker can do this",
                    packet=rst.packet_number,
                )
        return tc.result(fin_authenticated=fin_authenticated)

    def _psh_checks(self, tc: TcpcryptTracker) -> None:
        early = self._early or []
        for st in tc.dirs:
            end = st.init_end
            if end is None or not st.init_len:
                continue
            covering = [e for e in early if e[0] == st.index and e[1] < end <= e[2]]
            if covering and not any(e[3] for e in covering):
                # RFC 8548 §3.3: the segment holding the last byte MUST have PSH set.
                name = "Init1" if st.a_side else "Init2"
                self.sink.add(
                    "tcpcrypt.init.missing_psh",
                    f"{name} ends at stream offset {end} in a segment without PSH",
                    packet=covering[0][4],
                )

    def _summary(self, eno: EnoResult | None) -> FlowSummary:
        flow = self.flow
        extra: dict[str, object] = {}
        if eno is not None:
            extra.update(dialect=eno.dialect, tep=eno.negotiated_tep, offer=self._offer(eno))
            tc = self.tc
            if tc is not None and eno.status != "fallback":
                init1, init2, secrets = tc.init1, tc.init2, tc.secrets
                extra.update(
                    resumed=tc.resumed,
                    n_a=init1.n_a if init1 is not None else None,
                    n_b=init2.n_b if init2 is not None else None,
                    pub_a=_digest(init1.pubkey) if init1 is not None else None,
                    pub_b=_digest(init2.pubkey) if init2 is not None else None,
                    key_id=tc.key_id(),
                    frames=tc.digests(),
                    origin=secrets.origin if secrets is not None else None,
                    origin_generation=secrets.generation if secrets is not None else None,
                )
        return FlowSummary(
            self.ctx.capture,
            flow.id,
            self.first_packet,
            flow.first_ts,
            flow.client,
            flow.server,
            **extra,  # type: ignore[arg-type]
        )

    def _offer(self, eno: EnoResult) -> ResumeOfferSeen | None:
        flow = self.flow
        for side, active in enumerate(self.eno.syn_only):
            if not active:
                continue
            found = self.eno.resume_offer(side)
            if found is None:
                continue
            sub, packet = found
            try:
                decoded = decode_resume_suboption(sub.data, dialect=eno.dialect)
            except DecodeError:
                continue
            if decoded is None:
                continue
            me, peer = (flow.client, flow.server) if side == 0 else (flow.server, flow.client)
            return ResumeOfferSeen(decoded.half, decoded.nonce, sub.tep, me[0], peer[0], packet)
        return None


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:_DIGEST_LEN]


picklable(AnalysisContext)
