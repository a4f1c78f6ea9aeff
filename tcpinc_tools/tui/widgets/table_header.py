"""The column headers above the connections table; the sorted column carries ▲ or ▼, and a
click on a header asks to sort by it."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from ..model import COLUMNS
from .connections_table import fit

__all__ = ["TableHeader"]


class TableHeader(Widget):
    """One line of column labels (see the module doc)."""

    DEFAULT_CSS = """
    TableHeader {
        height: 1;
        background: $panel;
        text-style: bold;
    }
    """

    class SortBy(Message):
        """A header was clicked."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self) -> None:
        super().__init__(id="table-header")
        self._spans: list[tuple[int, int, str]] = []
        self._text = Text()
        self._shown: tuple[str, bool] | None = None

    def show(self, sort_key: str, reverse: bool) -> None:
        if self._shown == (sort_key, reverse):
            return
        self._shown = (sort_key, reverse)
        line = Text(no_wrap=True, overflow="crop")
        self._spans = []
        for column in COLUMNS:
            label = column.label
            if column.key == sort_key:
                label += "▼" if reverse else "▲"
            start = line.cell_len
            line.append(fit(label, column.width, column.numeric))
            self._spans.append((start, line.cell_len, column.key))
        self._text = line
        self.refresh()

    def render(self) -> Text:
        return self._text

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, key in self._spans:
            if start <= offset.x < end:
                self.post_message(self.SortBy(key))
                return
