"""The simulated wire: packets, the simulated clock, and the link stages they pass through.

The link joins two sides, ``client`` and ``server`` (hosts of a scenario sit on one side or
the other). Each direction is a *path*: a list of :class:`Stage` objects a packet crosses in
order, from its sender to its receiver::

    UP   (client side -> server side):  stage 0, stage 1, ... -> receiver
    DOWN (server side -> client side):  stage 0, stage 1, ... -> receiver

A stage takes one packet at one simulated time and returns what goes on: nothing (lost),
the packet (maybe changed, maybe later), or several packets (duplicated, injected). Delay
is a stage too, so every stage sees a packet at the time it reaches that point of the path.
The :class:`Link` keeps one time-ordered queue for both paths; ties keep their insertion
order, so a run is a pure function of the scenario and its seed.

The capture point is a :class:`Tap` stage: it records each packet as it passes, with the
time it passes. Where the tap sits is a choice of the scenario, documented with it; the
usual one (:func:`client_side_paths`) is the client's interface: UP packets are recorded
as they leave the client, before delay and impairments; DOWN packets after every stage,
as they arrive at the client.

Time: the protocol stacks run on a clock that starts at 0.0; the tap writes
``EPOCH + now`` (2026-01-01T00:00:00Z), so captures never depend on the wall clock.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final, Protocol

from ..errors import LocalProtocolError
from ..protocol.segment import Segment, TcpFlags, encode_tcp_header

__all__ = [
    "EPOCH",
    "Delay",
    "Emitted",
    "Impair",
    "Link",
    "Packet",
    "PacketSink",
    "PathName",
    "Side",
    "Stage",
    "Tap",
    "client_side_paths",
    "server_side_paths",
]

# 2026-01-01T00:00:00Z as seconds since the Unix epoch: simulated time 0.
EPOCH: Final = 1_767_225_600.0


class PathName(Enum):
    """Which way a packet crosses the link."""

    UP = "client side -> server side"
    DOWN = "server side -> client side"


class Side(Enum):
    """Where a host sits: its packets take the UP path (client side) or DOWN (server)."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def path(self) -> PathName:
        return PathName.UP if self is Side.CLIENT else PathName.DOWN


@dataclass(frozen=True, slots=True)
class Packet:
    """One IP packet carrying one TCP segment; addresses as text (IPv4 or IPv6)."""

    src: str
    dst: str
    segment: Segment

    def with_segment(self, segment: Segment) -> Packet:
        return replace(self, segment=segment)

    def describe(self) -> str:
        seg = self.segment
        return f"{self.src}:{seg.src_port} > {self.dst}:{seg.dst_port} {seg.describe()}"


class PacketSink(Protocol):
    """Where the tap writes: :class:`tcpinc_tools.capture.CaptureWriter` fits (the sim
    layer does not import the capture layer; the caller hands the writer in)."""

    def write_tcp(self, ts: float, src_ip: str, dst_ip: str, tcp: bytes) -> None: ...


# What a stage returns: (time, packet) pairs, each time >= the time it was given.
Emitted = list[tuple[float, Packet]]


class Stage:
    """One point of a path. The base stage passes every packet on unchanged."""

    def process(self, packet: Packet, now: float) -> Emitted:
        return [(now, packet)]


class Delay(Stage):
    """A fixed one-way delay (propagation and queueing), in seconds."""

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise LocalProtocolError(f"delay {seconds} is negative")
        self.seconds = seconds

    def process(self, packet: Packet, now: float) -> Emitted:
        return [(now + self.seconds, packet)]


class Impair(Stage):
    """Loss, duplication and reordering, drawn from ``rng`` (one generator per stage).

    Each packet is lost with probability ``loss``; a survivor is held back by an extra
    uniform(0, ``spread``) seconds with probability ``reorder`` (so later packets overtake
    it), and copied with probability ``duplicate`` (the copy arrives up to ``spread``
    seconds after the original).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        spread: float = 0.02,
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p < 1.0:
                raise LocalProtocolError(f"{name} probability {p} outside [0, 1)")
        if spread < 0:
            raise LocalProtocolError(f"spread {spread} is negative")
        self.rng = rng
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.spread = spread
        self.lost = 0
        self.duplicated = 0
        self.reordered = 0

    def process(self, packet: Packet, now: float) -> Emitted:
        rng = self.rng
        # Draw all three every time, so one decision does not shift the others' sequence.
        lose, hold, copy = rng.random(), rng.random(), rng.random()
        extra, copy_extra = rng.uniform(0, self.spread), rng.uniform(0, self.spread)
        if lose < self.loss:
            self.lost += 1
            return []
        when = now
        if hold < self.reorder:
            self.reordered += 1
            when += extra
        out = [(when, packet)]
        if copy < self.duplicate:
            self.duplicated += 1
            out.append((when + copy_extra, packet))
        return out


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


class Tap(Stage):
    """The capture point: writes every packet that passes to ``sink`` (when there is one),
    with its TCP checksum computed for the packet's addresses, at ``EPOCH + now``."""

    def __init__(self, sink: PacketSink | None) -> None:
        self.sink = sink
        self.packets = 0

    def process(self, packet: Packet, now: float) -> Emitted:
        self.packets += 1
        if self.sink is not None:
            tcp = encode_tcp_header(packet.segment, _packed(packet.src), _packed(packet.dst))
            self.sink.write_tcp(EPOCH + now, packet.src, packet.dst, tcp)
        return [(now, packet)]


def client_side_paths(
    tap: Tap, delay: float, up: Sequence[Stage] = (), down: Sequence[Stage] = ()
) -> tuple[list[Stage], list[Stage]]:
    """Paths with the capture at the client's interface: UP = tap, delay, ``up``;
    DOWN = delay, ``down``, tap. ``up`` / ``down`` are the network's stages."""
    return [tap, Delay(delay), *up], [Delay(delay), *down, tap]


def server_side_paths(
    tap: Tap, delay: float, up: Sequence[Stage] = (), down: Sequence[Stage] = ()
) -> tuple[list[Stage], list[Stage]]:
    """Paths with the capture at the server's interface: UP = delay, ``up``, tap;
    DOWN = tap, delay, ``down``."""
    return [Delay(delay), *up, tap], [tap, Delay(delay), *down]


Deliver = Callable[[Packet, float], None]


class Link:
    """Both paths and the one queue of packets in flight on them."""

    def __init__(self, up: Sequence[Stage], down: Sequence[Stage]) -> None:
        self.paths: dict[PathName, list[Stage]] = {PathName.UP: list(up), PathName.DOWN: list(down)}
        self._queue: list[tuple[float, int, PathName, int, Packet]] = []
        self._order = itertools.count()

    def send(self, path: PathName, packet: Packet, now: float) -> None:
        """A host puts ``packet`` on ``path`` at ``now``."""
        self._push(now, path, 0, packet)

    def _push(self, when: float, path: PathName, index: int, packet: Packet) -> None:
        heapq.heappush(self._queue, (when, next(self._order), path, index, packet))

    def next_time(self) -> float | None:
        """When the next packet reaches its next stage (or its receiver)."""
        return self._queue[0][0] if self._queue else None

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def advance(self, now: float, deliver: Deliver) -> bool:
        """Move the earliest packet one stage on if it is due at ``now``; a packet past the
        last stage goes to ``deliver``. False when nothing was due."""
        if not self._queue or self._queue[0][0] > now:
            return False
        when, _, path, index, packet = heapq.heappop(self._queue)
        stages = self.paths[path]
        if index == len(stages):
            deliver(packet, when)
            return True
        for t, out in stages[index].process(packet, when):
            if t < when:
                raise LocalProtocolError(f"stage {stages[index]!r} sent a packet back in time")
            self._push(t, path, index + 1, out)
        return True


# RFC 9293 §3.10.7.1 (CLOSED state): SEG.ACK set: <SEQ=SEG.ACK><CTL=RST>; otherwise
# <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; an incoming RST is dropped.
def reset_for(packet: Packet) -> Packet | None:
    """The RST a host with no connection for ``packet`` answers with (RFC 9293 §3.10.7.1),
    or None for an incoming RST."""
    seg = packet.segment
    if seg.is_rst:
        return None
    if seg.is_ack:
        flags, seq, ack = TcpFlags.RST, seg.ack, 0
    else:
        flags, seq, ack = TcpFlags.RST | TcpFlags.ACK, 0, (seg.seq + seg.seg_len) % (1 << 32)
    rst = Segment(seg.dst_port, seg.src_port, seq, ack, flags, 0, b"", b"")
    return Packet(packet.dst, packet.src, rst)
