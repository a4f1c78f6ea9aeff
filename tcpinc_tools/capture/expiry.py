"""A flow table that ends closed connections once they have been quiet for a while.

:class:`~.flows.FlowTable` ends a flow only when the table is full, when a new SYN reuses its
port pair, or at the end of the capture: every flow of a long capture stays in memory to the
end, and a consumer that reports flows as they finish (``tcpinc analyze --jsonl``) sees
nothing before the end. :class:`ExpiringFlowTable` also ends a flow that is closed (a reset,
or a FIN each way) and has seen no packet for :data:`LINGER` seconds of capture time.

The linger stands in for TIME-WAIT (RFC 9293 §3.6.1: 2 MSL): a retransmitted FIN or the last
ACK of a closed connection usually follows within a few RTOs, and a packet that comes after
the flow was ended starts a flow of its own (without a SYN, so ``tcp.reassembly.no_syn``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .flows import FlowTable, FlowUpdate
from .packet import TcpPacket
from .stream import DEFAULT_LIMITS, FlowLimits

__all__ = ["LINGER", "ExpiringFlowTable", "UpdateObserver"]

# Called with each update the table gives out: the packet's own (with the packet), and every
# final update of an ended flow (with None; those inside ``update.ended`` come with their
# packet's update, not again).
UpdateObserver = Callable[[FlowUpdate, TcpPacket | None], None]

# Seconds of capture time a closed flow stays in the table after its last packet. Linux
# retransmits an unacknowledged FIN for up to ~2 minutes, but after 30 s of silence one more
# segment of a finished connection is rare, and 30 s keeps the table small on busy links.
LINGER: Final = 30.0


class ExpiringFlowTable(FlowTable):
    """A :class:`~.flows.FlowTable` with :meth:`expire` (see the module doc), and an
    ``observer`` that sees every update (``tcpinc decrypt`` and ``follow`` read the stream
    offsets of each packet and the bytes of plain TCP flows there)."""

    def __init__(
        self,
        *,
        limits: FlowLimits = DEFAULT_LIMITS,
        linger: float = LINGER,
        observer: UpdateObserver | None = None,
    ) -> None:
        super().__init__(limits=limits)
        self.linger = linger
        self.observer = observer
        self.expired = 0  # flows ended by expire()

    def add(self, pkt: TcpPacket) -> FlowUpdate:
        update = super().add(pkt)
        if self.observer is not None:
            self.observer(update, pkt)
        return update

    def flush(self) -> list[FlowUpdate]:
        return self._observed(super().flush())

    def _observed(self, updates: list[FlowUpdate]) -> list[FlowUpdate]:
        observer = self.observer
        if observer is not None:
            for update in updates:
                observer(update, None)
        return updates

    def expire(self, now: float) -> list[FlowUpdate]:
        """End every closed flow whose last packet is ``linger`` seconds or more before
        ``now``; their final updates (two per flow), by flow id."""
        ended = []
        deadline = now - self.linger
        # The table is ordered least recently active first: stop at the first recent flow.
        for key, flow in self._flows.items():
            if flow.last_ts > deadline:
                break
            if flow.closed:
                ended.append((key, flow))
        updates: list[FlowUpdate] = []
        for key, flow in sorted(ended, key=lambda item: item[1].id):
            del self._flows[key]
            self.expired += 1
            updates += self._end(flow, flow.last_packet_number)
        return self._observed(updates)
