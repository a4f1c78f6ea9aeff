"""The detail pane: a scrollable view of one connection (see :mod:`..detail`)."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

__all__ = ["DetailPane"]


class DetailPane(VerticalScroll):
    """Shows a renderable; keeps its scroll position when the same connection updates."""

    DEFAULT_CSS = """
    DetailPane {
        height: 1fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    DetailPane:focus {
        border-top: thick $accent;
    }
    DetailPane > Static {
        width: 100%;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="detail")
        self.can_focus = True
        self.shown: int | None = None  # the flow id on screen
        self._body = Static(id="detail-body")

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, flow_id: int | None, renderable: RenderableType) -> None:
        if flow_id != self.shown:
            self.scroll_home(animate=False)
        self.shown = flow_id
        self._body.update(renderable)
