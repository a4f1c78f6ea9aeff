"""Live analysis: what a monitor shows of each connection while its packets still arrive.

:class:`LiveAnalyzer` is the :class:`~.streaming.StreamingAnalyzer` with two additions:

- :meth:`~LiveAnalyzer.snapshots` gives a :class:`FlowSnapshot` of every connection that
  saw a packet (or ended) since the last call. A connection still open gets a provisional
  :class:`~.model.FlowResult` (its ENO status so far, the tcpcrypt session so far, its
  findings so far); one that ended gets its final result. Taking a snapshot changes nothing
  in the analysis.
- each snapshot also carries what a detail view needs and a result does not: the handshake
  segments with their options, the Init messages, the rekeys seen, and the start of the
  decrypted conversation (at most :data:`CONVERSATION_LIMIT` bytes per direction).

Feed it packets as they come (``feed``), call ``snapshots()`` now and then (a monitor does
every 100 ms), and :meth:`~LiveAnalyzer.close` at the end of the source.

This module is headless like the rest of ``analysis``: no textual, no threads, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ..capture.expiry import LINGER
from ..capture.flows import FlowUpdate
from ..capture.packet import TcpPacket
from ..errors import CaptureError
from ..keylog import KeyLog
from ..records import picklable
from ..wire.constants import TcpFlag
from ..wire.tcpcrypt import Init1, Init2
from .flow_analysis import FlowAnalysis
from .follow import Piece
from .model import AnalysisResult, CaptureInfo, EnoResult, FindingSink, FlowResult, StreamRecord
from .streaming import StreamingAnalyzer

__all__ = [
    "CONVERSATION_LIMIT",
    "HANDSHAKE_LIMIT",
    "FlowSnapshot",
    "HandshakePacket",
    "LiveAnalyzer",
    "RekeySeen",
]

# Decrypted application bytes kept per connection and direction for the detail view: the
# start of the conversation, not a bulk download (a monitor keeps thousands of connections).
CONVERSATION_LIMIT: Final = 8 << 10
# Handshake segments kept per connection: SYN, SYN-ACK, the first ACKs and a few
# retransmissions of them.
HANDSHAKE_LIMIT: Final = 8
# Rekeys listed per connection (the count in the result covers them all).
REKEY_LIMIT: Final = 64

_SYN: Final = int(TcpFlag.SYN)
_CLIENT_TO_SERVER: Final = "client_to_server"


@dataclass(frozen=True, slots=True)
class HandshakePacket:
    """One segment of a connection's handshake as captured: a SYN-form segment, or the first
    non-SYN segment of a side. ``direction`` is ``client_to_server`` / ``server_to_client``;
    ``options`` the raw TCP option bytes."""

    packet: int
    ts: float
    direction: str
    flags: int
    options: bytes


@dataclass(frozen=True, slots=True)
class RekeySeen:
    """A frame with the rekey bit set (RFC 8548 §3.8): the key generation it was sealed
    under, in which capture direction, at which packet."""

    packet: int
    direction: str
    generation: int


@dataclass(frozen=True, slots=True)
class FlowSnapshot:
    """One connection as the analysis sees it now. ``active``: its packets may still come
    (the result is provisional). ``conversation`` holds decrypted application data only, in
    capture order; ``conversation_cut`` counts the bytes past :data:`CONVERSATION_LIMIT` per
    direction (client to server, server to client)."""

    result: FlowResult
    active: bool
    handshake: tuple[HandshakePacket, ...] = ()
    init1: Init1 | None = None
    init2: Init2 | None = None
    rekeys: tuple[RekeySeen, ...] = ()
    conversation: tuple[Piece, ...] = ()
    conversation_cut: tuple[int, int] = (0, 0)

    @property
    def id(self) -> int:
        return self.result.id


@dataclass(slots=True)
class _Extras:
    """What a snapshot carries beyond the result, collected as packets and frames come."""

    handshake: list[HandshakePacket] = field(default_factory=list)
    first_data: list[bool] = field(default_factory=lambda: [False, False])
    init1: Init1 | None = None
    init2: Init2 | None = None
    rekeys: list[RekeySeen] = field(default_factory=list)
    conversation: list[Piece] = field(default_factory=list)
    kept: list[int] = field(default_factory=lambda: [0, 0])
    cut: list[int] = field(default_factory=lambda: [0, 0])


class LiveAnalyzer(StreamingAnalyzer):
    """A streaming analyzer that gives snapshots of connections in progress (see the
    module doc). ``conversation_limit``: decrypted bytes kept per connection and direction.
    """

    def __init__(
        self,
        keylog: KeyLog | None = None,
        *,
        name: str = "<live>",
        linger: float = LINGER,
        conversation_limit: int = CONVERSATION_LIMIT,
    ) -> None:
        super().__init__(
            keylog, name=name, linger=linger, frame_sink=self._frame, observer=self._observe
        )
        self.conversation_limit = conversation_limit
        self._extras: dict[int, _Extras] = {}
        self._dirty: set[int] = set()

    # -- collection ----------------------------------------------------------------------

    def _observe(self, update: FlowUpdate, pkt: TcpPacket | None) -> None:
        flow_id = update.flow.id
        self._dirty.add(flow_id)
        if pkt is None:
            return
        extras = self._extras.get(flow_id)
        if extras is None:
            extras = self._extras[flow_id] = _Extras()
        side = 0 if update.direction.value == _CLIENT_TO_SERVER else 1
        syn = bool(pkt.flags & _SYN)
        if not syn:
            if extras.first_data[side]:
                return
            extras.first_data[side] = True
        if len(extras.handshake) < HANDSHAKE_LIMIT:
            extras.handshake.append(
                HandshakePacket(pkt.number, pkt.ts, update.direction.value, pkt.flags, pkt.options)
            )

    def _frame(self, record: StreamRecord) -> None:
        extras = self._extras.get(record.flow)
        if extras is None:
            return
        if record.rekey and len(extras.rekeys) < REKEY_LIMIT:
            extras.rekeys.append(RekeySeen(record.packet, record.direction, record.generation))
        body = record.plaintext
        if body is None or not body.data:
            return
        side = 0 if record.direction == _CLIENT_TO_SERVER else 1
        data = body.data
        room = self.conversation_limit - extras.kept[side]
        if len(data) > room:
            extras.cut[side] += len(data) - max(room, 0)
            if room <= 0:
                return
            data = data[:room]
        extras.kept[side] += len(data)
        extras.conversation.append(Piece(record.direction, record.packet, record.offset, data))

    def _end(self, updates: Iterable[FlowUpdate]) -> None:
        # Keep the Init messages of the flows that end: their trackers go with them.
        updates = list(updates)
        for update in updates:
            analysis = self._active.get(update.flow.id)
            extras = self._extras.get(update.flow.id)
            if analysis is not None and extras is not None and analysis.tc is not None:
                extras.init1 = analysis.tc.init1
                extras.init2 = analysis.tc.init2
        super()._end(updates)

    # -- output --------------------------------------------------------------------------

    def snapshots(self) -> list[FlowSnapshot]:
        """The connections that changed since the last call: those that ended (final
        results, by end order), then those still open (provisional results, by id)."""
        out = [self._final(flow) for flow in self.take_finished()]
        dirty, self._dirty = self._dirty, set()
        for flow_id in sorted(dirty):
            analysis = self._active.get(flow_id)
            if analysis is not None:
                out.append(self._provisional(analysis))
        return out

    def close(
        self, *, capture_info: CaptureInfo | None = None, error: CaptureError | None = None
    ) -> tuple[list[FlowSnapshot], AnalysisResult]:
        """End every connection (the source ended): the snapshots not given out yet, and
        the analysis result (key log findings, cross-connection findings, the error)."""
        pending = [self._final(flow) for flow in self.take_finished()]
        self._dirty.clear()  # every open connection ends just below
        result = self.finish(capture_info=capture_info, error=error)
        pending += [self._final(flow) for flow in result.flows]
        return pending, result

    def _final(self, flow: FlowResult) -> FlowSnapshot:
        extras = self._extras.pop(flow.id, None) or _Extras()
        self._dirty.discard(flow.id)
        return _snapshot(flow, False, extras)

    def _provisional(self, analysis: FlowAnalysis) -> FlowSnapshot:
        extras = self._extras.get(analysis.flow.id) or _Extras()
        if analysis.tc is not None:
            extras.init1 = analysis.tc.init1
            extras.init2 = analysis.tc.init2
        return _snapshot(provisional_result(analysis), True, extras)


def _snapshot(flow: FlowResult, active: bool, extras: _Extras) -> FlowSnapshot:
    return FlowSnapshot(
        result=flow,
        active=active,
        handshake=tuple(extras.handshake),
        init1=extras.init1,
        init2=extras.init2,
        rekeys=tuple(extras.rekeys),
        conversation=tuple(extras.conversation),
        conversation_cut=(extras.cut[0], extras.cut[1]),
    )


def provisional_result(analysis: FlowAnalysis) -> FlowResult:
    """The result ``analysis`` would give if its connection ended now, without ending it:
    the ENO outcome is computed on a copy of the findings list, the tcpcrypt result is
    read as it stands (RFC 8547 §4.6: a connection whose ACKs have not been seen yet is
    ``incomplete``)."""
    flow = analysis.flow
    sink = analysis.sink
    scratch = FindingSink(flow.id)
    scratch.items = list(sink.items)
    scratch.suppressed = dict(sink.suppressed)
    tracker = analysis.eno
    eno: EnoResult | None = None
    tracker.sink = scratch
    try:
        eno = tracker.result(flow.client, flow.server)
    except Exception as exc:  # a bug must not take the monitor down: report it
        scratch.add("tcpinc.analyzer_error", f"{type(exc).__name__}: {exc}")
    finally:
        tracker.sink = sink
    tcpcrypt = None
    if analysis.tc is not None and eno is not None and eno.status != "fallback":
        try:
            tcpcrypt = analysis.tc.result()
        except Exception as exc:
            scratch.add("tcpinc.analyzer_error", f"{type(exc).__name__}: {exc}")
    return FlowResult(
        id=flow.id,
        client=flow.client,
        server=flow.server,
        first_ts=flow.first_ts,
        last_ts=flow.last_ts,
        packets=flow.packets,
        eno=eno,
        tcpcrypt=tcpcrypt,
        findings=scratch.finished(),
        bytes_client_to_server=flow.c2s.delivered_bytes,
        bytes_server_to_client=flow.s2c.delivered_bytes,
        first_packet=analysis.first_packet,
    )


picklable(HandshakePacket, RekeySeen, FlowSnapshot, _Extras)
