"""The messages the ingest worker posts to the app (the worker touches no widget).

:class:`FlowsUpdated` arrives every batch interval. When the app falls behind and two of them
wait in its queue one after the other, the older one is folded into the newer
(:meth:`FlowsUpdated.can_replace`): the app then applies one update with the latest
snapshot of each connection and the latest counters, and no connection is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..analysis.live import FlowSnapshot
from ..analysis.model import CrossFinding, Finding

__all__ = ["FlowsUpdated", "IngestStats", "SourceEnded"]


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters of the ingest so far.

    ``frames``: frames the source read (TCP or not); ``packets``: TCP segments analyzed;
    ``rate``: TCP segments analyzed per second over about the last second; ``active``:
    connections still open in the analyzer; ``queued``: segments read but not analyzed yet;
    ``secrets``: session secrets in the key log (None without one); ``done``: the source
    ended.
    """

    frames: int = 0
    packets: int = 0
    rate: float = 0.0
    active: int = 0
    queued: int = 0
    secrets: int | None = None
    done: bool = False


class FlowsUpdated(Message):
    """Connections that changed since the last update (latest snapshot per flow id)."""

    def __init__(self, snapshots: dict[int, FlowSnapshot], stats: IngestStats) -> None:
        super().__init__()
        self.snapshots = snapshots
        self.stats = stats
        self.folded = 1  # updates this message stands for

    def can_replace(self, message: Message) -> bool:
        """Called on the older of two queued messages with the newer one: fold this
        update's connections into the newer update (its snapshots win) and let it go."""
        if not isinstance(message, FlowsUpdated):
            return False
        merged = dict(self.snapshots)
        merged.update(message.snapshots)
        message.snapshots = merged
        message.folded += self.folded
        return True


class SourceEnded(Message):
    """The source ended (a file read to its end) or failed (``error``). ``findings``: what
    belongs to no connection (key log lines, the capture error); ``cross``: findings about
    several connections, computed once every connection is known."""

    def __init__(
        self,
        error: str | None,
        findings: list[Finding] | None = None,
        cross: list[CrossFinding] | None = None,
    ) -> None:
        super().__init__()
        self.error = error
        self.findings = findings or []
        self.cross = cross or []
