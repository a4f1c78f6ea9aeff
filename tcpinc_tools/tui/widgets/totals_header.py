"""The header: the source, its counters and packets/s, and the totals of the connections
listed (encrypted share, fallbacks by reason)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..detail import STATUS_STYLE
from ..messages import IngestStats
from ..model import Totals

__all__ = ["TotalsHeader"]


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:.0f}"


class TotalsHeader(Widget):
    """Two lines: the source and the ingest; the connections. Its size never changes, so an
    update repaints these two lines and nothing else (no layout)."""

    DEFAULT_CSS = """
    TotalsHeader {
        height: 2;
        padding: 0 1;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text()

    def show(
        self,
        *,
        source: str,
        stats: IngestStats,
        totals: Totals,
        paused: bool = False,
        held: int = 0,
        error: str | None = None,
    ) -> None:
        first = Text()
        first.append("tcpinc monitor ", style="bold")
        first.append(source, style="bold cyan")
        state = "done" if stats.done else "live"
        first.append(f"  {state}", style="grey50" if stats.done else "green")
        first.append(f"  {stats.packets} packets  {_rate(stats.rate)} pkt/s")
        if stats.queued:
            first.append(f"  {stats.queued} queued", style="yellow")
        if stats.secrets is not None:
            first.append(f"  keys {stats.secrets}")
        if paused:
            first.append("  PAUSED", style="bold reverse yellow")
            if held:
                first.append(f" ({held} updates held)", style="yellow")
        if error:
            first.append(f"  {error}", style="bold red")
        second = Text()
        count = totals.connections
        second.append(f"{count} connection{'' if count == 1 else 's'}: ")
        by = totals.by_status
        share = f" ({totals.encrypted_share:.0%})" if count else ""
        second.append(f"{by['encrypted']} encrypted{share}", style=STATUS_STYLE["encrypted"])
        second.append(", ")
        second.append(f"{by['fallback']} fallback", style=STATUS_STYLE["fallback"])
        second.append(", ")
        second.append(f"{by['incomplete']} incomplete", style=STATUS_STYLE["incomplete"])
        second.append(f", {by['plain']} no ENO")
        if totals.fallbacks:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(totals.fallbacks.items()))
            second.append(f"  fallbacks: {reasons}", style=STATUS_STYLE["fallback"])
        if totals.dropped:
            second.append(f"  ({totals.dropped} older not listed)", style="grey50")
        self._text = Text("\n").join([first, second])
        self.refresh()

    def render(self) -> Text:
        return self._text
