"""An in-memory link between two sans-IO endpoints, for tests (h11's ConnectionPair idea).

Any object with the protocol surface (``receive_segment``, ``segments_to_send``,
``get_timer``, ``handle_timer``, ``next_event``) can sit at either end, so the TCP-ENO
and tcpcrypt tests reuse this with their own connection objects.

Time is the link's own clock (``link.now``): each step jumps to the next segment arrival
or timer. Segments take ``delay`` seconds; with a seed the link can drop, duplicate and
reorder them, and a ``drop`` predicate removes chosen segments (for "lose the SYN" tests).
Every transmission is kept in ``link.trace``.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tcpinc_tools.protocol import (
    Connected,
    DataReceived,
    Event,
    Segment,
    TcpConfig,
    TcpConnection,
)
from tcpinc_tools.protocol.tcp import SegmentHook

Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")
PORT_A = 40000
PORT_B = 443


class Endpoint(Protocol):
    def receive_segment(self, seg: Segment, now: float) -> None: ...

    def segments_to_send(self, now: float) -> list[Segment]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...


@dataclass(frozen=True)
class Transmission:
    time: float
    sender: Side
    segment: Segment
    fate: Literal["sent", "dropped"]
    copies: int = 1


def other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def seeded_random_bytes(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


@dataclass
class Link:
    a: Endpoint
    b: Endpoint
    delay: float = 0.01
    seed: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_spread: float = 0.03
    drop: Callable[[Side, Segment], bool] | None = None
    now: float = 0.0
    drain: dict[Side, bool] = field(default_factory=lambda: {"a": True, "b": True})
    events: dict[Side, list[Event]] = field(default_factory=lambda: {"a": [], "b": []})
    trace: list[Transmission] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._queue: list[tuple[float, int, Side, Segment]] = []
        self._counter = itertools.count()

    def end(self, side: Side) -> Endpoint:
        return self.a if side == "a" else self.b

    # -- moving segments ---------------------------------------------------------------
    def _transmit(self, sender: Side, seg: Segment) -> None:
        if (self.drop is not None and self.drop(sender, seg)) or (
            self.loss and self._rng.random() < self.loss
        ):
            self.trace.append(Transmission(self.now, sender, seg, "dropped", 0))
            return
        when = self.now + self.delay
        if self.reorder and self._rng.random() < self.reorder:
            when += self._rng.uniform(0, self.reorder_spread)
        copies = 1
        heapq.heappush(self._queue, (when, next(self._counter), other(sender), seg))
        if self.duplicate and self._rng.random() < self.duplicate:
            copies = 2
            later = when + self._rng.uniform(0, self.reorder_spread)
            heapq.heappush(self._queue, (later, next(self._counter), other(sender), seg))
        self.trace.append(Transmission(self.now, sender, seg, "sent", copies))

    def drain_events(self, side: Side) -> list[Event]:
        """Take the pending events of one end (this frees its receive window)."""
        taken: list[Event] = []
        while (event := self.end(side).next_event()) is not None:
            taken.append(event)
        self.events[side].extend(taken)
        return taken

    def pump(self) -> None:
        """Put on the wire whatever both ends have to send; collect their events."""
        for side in SIDES:
            for seg in self.end(side).segments_to_send(self.now):
                self._transmit(side, seg)
            if self.drain[side]:
                self.drain_events(side)

    def next_time(self) -> float | None:
        times = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times, default=None)

    def step(self) -> bool:
        """Advance to the next arrival or timer and process it; False when all is quiet."""
        self.pump()
        when = self.next_time()
        if when is None:
            return False
        self.now = max(self.now, when)
        while self._queue and self._queue[0][0] <= self.now:
            _, _, dest, seg = heapq.heappop(self._queue)
            self.end(dest).receive_segment(seg, self.now)
            self.pump()
        for side in SIDES:
            timer = self.end(side).get_timer()
            if timer is not None and timer <= self.now:
                self.end(side).handle_timer(self.now)
        self.pump()
        return True

    def run(self, until: Callable[[], bool] | None = None, *, max_time: float = 3600.0) -> None:
        """Step until ``until()`` holds, nothing is left to happen, or ``max_time`` passes."""
        deadline = self.now + max_time
        while until is None or not until():
            if not self.step() or self.now > deadline:
                return

    # -- reading results ---------------------------------------------------------------
    def received(self, side: Side) -> bytes:
        """All in-order data delivered to ``side`` so far (events already drained)."""
        return b"".join(e.data for e in self.events[side] if isinstance(e, DataReceived))

    def has(self, side: Side, kind: type[Event]) -> bool:
        return any(isinstance(e, kind) for e in self.events[side])

    def sent_by(self, side: Side) -> list[Segment]:
        return [t.segment for t in self.trace if t.sender == side]


def make_pair(
    *,
    iss_a: int | None = 1000,
    iss_b: int | None = 5000,
    config_a: TcpConfig | None = None,
    config_b: TcpConfig | None = None,
    hook_a: SegmentHook | None = None,
    hook_b: SegmentHook | None = None,
    seed: int = 0,
) -> tuple[TcpConnection, TcpConnection]:
    """A client (port PORT_A) and a server (port PORT_B), neither opened yet."""
    a = TcpConnection(
        local_port=PORT_A,
        remote_port=PORT_B,
        iss=iss_a,
        random_bytes=seeded_random_bytes(seed),
        config=config_a or TcpConfig(),
        hook=hook_a,
    )
    b = TcpConnection(
        local_port=PORT_B,
        iss=iss_b,
        random_bytes=seeded_random_bytes(seed + 1),
        config=config_b or TcpConfig(),
        hook=hook_b,
    )
    return a, b


def open_link(a: TcpConnection, b: TcpConnection, **link_args: object) -> Link:
    """Active open from ``a`` to a listening ``b``; returns the link once both are
    ESTABLISHED (or as far as the link got)."""
    link = Link(a, b, **link_args)  # type: ignore[arg-type]
    b.listen()
    a.connect(link.now)
    link.run(lambda: link.has("a", Connected) and link.has("b", Connected), max_time=600)
    return link
