"""Bidirectional TCP flows with per-direction reassembly (see :mod:`.stream` for the rules).

>>> table = FlowTable()                                  # doctest: +SKIP
>>> for pkt in read_packets("capture.pcap"):             # doctest: +SKIP
...     update = table.add(pkt)
...     for ended in update.ended:      # flows that ended to make room (final chunks)
...         consume(ended)
...     consume(update)                 # this packet's flow, direction and new chunks
>>> for update in table.flush():         # end of capture: what was still buffered
...     consume(update)

A flow is keyed by its unordered address/port pair. Its client is the sender of the SYN (the
receiver of a SYN-ACK when the SYN was not captured; otherwise the first packet's sender).
A pure SYN with a new ISN on a known pair starts a new flow ("tcp.flow.port_reuse"), whether
the old flow was closed or abandoned; a SYN-ACK that contradicts a known ISN is ignored
("tcp.flow.isn_changed"). A payload cut by the snap length gives its captured bytes; the
missing rest becomes a gap once the peer acknowledges past it.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum
from typing import Final, NamedTuple

from ..wire.constants import TcpFlag
from .packet import TcpPacket
from .stream import (
    ANOMALY_ISN_CHANGED,
    ANOMALY_LIMIT,
    ANOMALY_PORT_REUSE,
    DEFAULT_LIMITS,
    Budget,
    Chunk,
    Direction,
    FlowAnomaly,
    FlowLimits,
    HandshakeSegment,
    Stream,
    StreamMark,
)

__all__ = [
    "Chunk",
    "Direction",
    "Endpoint",
    "Flow",
    "FlowAnomaly",
    "FlowKey",
    "FlowLimits",
    "FlowTable",
    "FlowUpdate",
    "HandshakeSegment",
    "Stream",
    "StreamMark",
]

# (address as text, port)
Endpoint = tuple[str, int]
# The unordered endpoint pair, flat: (address, port, address, port), the lower endpoint
# first (one tuple per packet, not three, and no nested hash).
FlowKey = tuple[str, int, str, int]

_SYN: Final = int(TcpFlag.SYN)
_ACK: Final = int(TcpFlag.ACK)
_C2S: Final = Direction.CLIENT_TO_SERVER
_S2C: Final = Direction.SERVER_TO_CLIENT
_NO_ENDED: Final[tuple[FlowUpdate, ...]] = ()


class Flow:
    """One TCP connection as seen in a capture."""

    __slots__ = (
        "_max_anomalies",
        "anomalies",
        "anomalies_suppressed",
        "c2s",
        "client",
        "first_ts",
        "id",
        "last_packet_number",
        "last_ts",
        "packets",
        "s2c",
        "server",
    )

    def __init__(
        self,
        flow_id: int,
        client: Endpoint,
        server: Endpoint,
        ts: float,
        *,
        limits: FlowLimits,
        budget: Budget,
    ) -> None:
        self.id = flow_id
        self.client = client
        self.server = server
        self.first_ts = ts
        self.last_ts = ts
        self.packets = 0
        self.last_packet_number = 0
        self.anomalies: list[FlowAnomaly] = []
        self.anomalies_suppressed = 0  # anomalies past FlowLimits.max_anomalies, counted only
        self._max_anomalies = limits.max_anomalies
        self.c2s = Stream(Direction.CLIENT_TO_SERVER, limits, budget, self.note)
        self.s2c = Stream(Direction.SERVER_TO_CLIENT, limits, budget, self.note)

    def __repr__(self) -> str:
        client = f"{self.client[0]}:{self.client[1]}"
        server = f"{self.server[0]}:{self.server[1]}"
        return f"<Flow {self.id} {client} -> {server}, {self.packets} packets>"

    def stream(self, direction: Direction) -> Stream:
        """The stream that carries ``direction``'s bytes."""
        return self.c2s if direction is Direction.CLIENT_TO_SERVER else self.s2c

    def direction_of(self, pkt: TcpPacket) -> Direction:
        """Which way ``pkt`` (a packet of this flow) goes."""
        if pkt.sport == self.client[1] and pkt.src == self.client[0]:
            return Direction.CLIENT_TO_SERVER
        return Direction.SERVER_TO_CLIENT

    @property
    def closed(self) -> bool:
        """A reset was seen, or a FIN in each direction."""
        c2s, s2c = self.c2s, self.s2c
        return (
            c2s.rst is not None
            or s2c.rst is not None
            or (c2s.fin is not None and s2c.fin is not None)
        )

    def note(self, anomaly: FlowAnomaly) -> None:
        """Record an anomaly (counted only, past the per-flow limit)."""
        if len(self.anomalies) < self._max_anomalies:
            self.anomalies.append(anomaly)
        else:
            self.anomalies_suppressed += 1


class FlowUpdate(NamedTuple):
    """What one packet did: its flow and direction, and the bytes it made contiguous.

    ``chunks`` are ``(stream offset, bytes)`` of ``direction``, in order; a jump between
    offsets is a gap given up (an anomaly on the flow says which). ``ended`` holds the final
    updates of flows that ended before this packet was filed (evicted from a full table, or
    replaced by a new connection on the same port pair): one per direction, ``final`` set.

    Immutable, compared by value; a named tuple because one is made per packet.
    """

    flow: Flow
    direction: Direction
    packet_number: int
    chunks: tuple[Chunk, ...] = ()
    new_flow: bool = False
    final: bool = False
    ended: tuple[FlowUpdate, ...] = ()


class _Syn(Enum):
    """What a SYN on a known port pair means."""

    FILE = 1  # the first SYN of its direction, or a retransmission with the same ISN
    NEW_CONNECTION = 2  # a new ISN: the port pair is reused
    ISN_CHANGED = 3  # a SYN-ACK that contradicts the ISN already seen: ignored


class FlowTable:
    """All flows of a capture, numbered in the order of their first packet.

    Holds at most ``limits.max_flows`` flows (the least recently active one is evicted,
    with a ``tcp.reassembly.limit`` anomaly) and at most ``limits.max_buffered_bytes``
    buffered bytes across them.
    """

    def __init__(self, *, limits: FlowLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.budget = Budget(self.limits.max_buffered_bytes)
        self._flows: OrderedDict[FlowKey, Flow] = OrderedDict()  # least recently active first
        self._next_id = 1
        self.evicted = 0  # flows dropped from a full table

    def __len__(self) -> int:
        return len(self._flows)

    @property
    def flows(self) -> list[Flow]:
        """The flows in the table, by id."""
        return sorted(self._flows.values(), key=lambda flow: flow.id)

    def add(self, pkt: TcpPacket) -> FlowUpdate:
        """File one packet; return its flow, direction and newly contiguous chunks."""
        src, sport, dst, dport = pkt.src, pkt.sport, pkt.dst, pkt.dport
        if src < dst or (src == dst and sport <= dport):
            key = (src, sport, dst, dport)
        else:
            key = (dst, dport, src, sport)
        flow = self._flows.get(key)
        if flow is not None:
            self._flows.move_to_end(key)
            if not pkt.flags & _SYN:
                return self._file(flow, pkt, False, _NO_ENDED)
        ended: list[FlowUpdate] = []
        reuse: FlowAnomaly | None = None
        if flow is not None:
            verdict = _syn_verdict(flow, pkt)
            if verdict is _Syn.ISN_CHANGED:
                return self._ignore_syn(flow, pkt)
            if verdict is _Syn.NEW_CONNECTION:
                state = "closed" if flow.closed else "never closed"
                reuse = FlowAnomaly(
                    ANOMALY_PORT_REUSE,
                    pkt.number,
                    f"SYN with a new ISN on the port pair of flow {flow.id} ({state}): "
                    "a new connection",
                )
                del self._flows[key]
                ended += self._end(flow, pkt.number)
                flow = None
        new_flow = flow is None
        if flow is None:
            if len(self._flows) >= self.limits.max_flows:
                ended += self._evict(pkt.number)
            flow = self._new_flow(key, pkt)
            if reuse is not None:
                flow.note(reuse)
        return self._file(flow, pkt, new_flow, tuple(ended) if ended else _NO_ENDED)

    def flush(self) -> list[FlowUpdate]:
        """End of capture: give up every gap and return each flow's final updates (two per
        flow, by flow id). The table is empty afterwards."""
        updates: list[FlowUpdate] = []
        for flow in self.flows:
            updates += self._end(flow, flow.last_packet_number)
        self._flows.clear()
        return updates

    # -- helpers -------------------------------------------------------------------------

    def _new_flow(self, key: FlowKey, pkt: TcpPacket) -> Flow:
        sender = (pkt.src, pkt.sport)
        receiver = (pkt.dst, pkt.dport)
        if pkt.flags & _SYN and pkt.flags & _ACK:
            # The SYN-ACK's receiver sent the (uncaptured) SYN.
            sender, receiver = receiver, sender
        flow = Flow(self._next_id, sender, receiver, pkt.ts, limits=self.limits, budget=self.budget)
        self._next_id += 1
        self._flows[key] = flow
        return flow

    def _file(
        self, flow: Flow, pkt: TcpPacket, new_flow: bool, ended: tuple[FlowUpdate, ...]
    ) -> FlowUpdate:
        client = flow.client
        if pkt.sport == client[1] and pkt.src == client[0]:
            direction, stream, peer = _C2S, flow.c2s, flow.s2c
        else:
            direction, stream, peer = _S2C, flow.s2c, flow.c2s
        number = pkt.number
        flow.packets += 1
        flow.last_ts = pkt.ts
        flow.last_packet_number = number
        flags = pkt.flags
        if stream.handshake_open:
            stream.record_handshake(number, pkt.seq, pkt.ack, flags, pkt.options)
        chunks = stream.add(pkt.seq, flags, pkt.payload, number)
        if flags & _ACK:
            peer.acknowledge(pkt.ack)
        return FlowUpdate(
            flow, direction, number, tuple(chunks) if chunks else (), new_flow, False, ended
        )

    def _ignore_syn(self, flow: Flow, pkt: TcpPacket) -> FlowUpdate:
        direction = flow.direction_of(pkt)
        flow.packets += 1
        flow.last_ts = pkt.ts
        flow.last_packet_number = pkt.number
        isn = flow.stream(direction).isn
        seen = f"ISN {isn}" if isn is not None else "data"
        flow.note(
            FlowAnomaly(
                ANOMALY_ISN_CHANGED,
                pkt.number,
                f"SYN-ACK with ISN {pkt.seq} after {seen} in the same direction: ignored",
                None,
                direction,
            )
        )
        return FlowUpdate(flow, direction, pkt.number)

    def _end(self, flow: Flow, packet_number: int) -> list[FlowUpdate]:
        return [
            FlowUpdate(
                flow,
                stream.direction,
                packet_number,
                tuple(stream.flush(packet_number)),
                final=True,
            )
            for stream in (flow.c2s, flow.s2c)
        ]

    def _evict(self, packet_number: int) -> list[FlowUpdate]:
        _key, flow = self._flows.popitem(last=False)
        self.evicted += 1
        flow.note(
            FlowAnomaly(
                ANOMALY_LIMIT,
                packet_number,
                f"flow table full ({self.limits.max_flows} flows): least recently active "
                "flow evicted",
            )
        )
        return self._end(flow, packet_number)


def _syn_verdict(flow: Flow, pkt: TcpPacket) -> _Syn:
    stream = flow.stream(flow.direction_of(pkt))
    if stream.isn is not None and pkt.seq == stream.isn:
        return _Syn.FILE  # RFC 9293 §3.8.1: a retransmitted SYN repeats its ISN
    pure_syn = not pkt.flags & _ACK
    if stream.isn is not None or stream.base_seq is not None:
        return _Syn.NEW_CONNECTION if pure_syn else _Syn.ISN_CHANGED
    if pure_syn and flow.closed:
        return _Syn.NEW_CONNECTION
    return _Syn.FILE
