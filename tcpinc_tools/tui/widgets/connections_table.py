"""The connections table: one line per connection, coloured by ENO status.

A virtual list (a :class:`~textual.scroll_view.ScrollView` that renders only the lines on
screen): the app hands it the rows to show, in order (:meth:`ConnectionsTable.show`), after
each batch; a batch that changes thousands of connections costs one sort of the row list
and the few dozen lines in view, each rendered once per change of its row (an LRU cache of
lines keyed by row version). The selected connection stays selected when rows move.
"""

from __future__ import annotations

from typing import ClassVar, Final

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...analysis.registry import Severity
from ..detail import SEVERITY_STYLE, STATUS_STYLE
from ..model import COLUMNS, Row

__all__ = ["ACTION_KEYS", "LINE_WIDTH", "ConnectionsTable", "fit"]

# Keys that are commands while the table has the focus; other printable keys start a filter.
ACTION_KEYS: Final = frozenset("pcesrq?/")
# Every column is its width plus a one-cell gap before it: 118 cells, for a 120-cell screen.
LINE_WIDTH: Final = sum(c.width + 1 for c in COLUMNS)
_CACHE_LINES: Final = 1024
# The largest share of the screen's height the table takes (the detail pane has the rest).
MAX_SHARE: Final = 0.45


def fit(text: str, width: int, numeric: bool) -> str:
    """``text`` in ``width`` cells (cut with an ellipsis), after a one-cell gap."""
    if len(text) > width:
        text = text[: width - 1] + "…"
    return " " + (text.rjust(width) if numeric else text.ljust(width))


def row_line(row: Row) -> Text:
    """One connection as a table line, each cell in its colour."""
    line = Text(no_wrap=True, overflow="crop", end="")
    status_style = STATUS_STYLE[row.status]
    for column, text in zip(COLUMNS, row.cells(), strict=True):
        style = ""
        if column.key == "status":
            style = status_style
        elif column.key == "findings":
            worst = row.worst
            if worst is not None and worst.rank >= Severity.WARN.rank:
                style = SEVERITY_STYLE[worst]
        elif column.key == "session" and text != "-":
            style = "green"
        line.append(fit(text, column.width, column.numeric), style=style)
    return line


class ConnectionsTable(ScrollView, can_focus=True):
    """The table (see the module doc). ``selected``: the flow id under the cursor."""

    DEFAULT_CSS = """
    ConnectionsTable {
        height: auto;
        min-height: 3;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    ConnectionsTable > .connections--cursor {
        background: $accent 50%;
        text-style: bold;
    }
    ConnectionsTable:focus > .connections--cursor {
        background: $accent;
    }
    ConnectionsTable > .connections--zebra {
        background: $boost;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"connections--cursor", "connections--zebra"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        """The cursor is on another connection (``flow_id`` None: the table is empty)."""

        def __init__(self, flow_id: int | None) -> None:
            super().__init__()
            self.flow_id = flow_id

    class StartFilter(Message):
        """A printable key that is no command was typed: it starts the filter."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__(id="connections")
        self.rows: list[Row] = []
        self.selected: int | None = None
        self._index: dict[int, int] = {}
        self._lines: LRUCache[tuple[int, int, int, int], Strip] = LRUCache(_CACHE_LINES)
        self._height = 0

    # -- content -------------------------------------------------------------------------

    def show(self, rows: list[Row]) -> None:
        """Show ``rows`` in this order; the selected connection keeps the cursor if it is
        among them, else the cursor stays where it was (on another connection)."""
        self.rows = rows
        self._index = {row.id: i for i, row in enumerate(rows)}
        self.virtual_size = Size(LINE_WIDTH, len(rows))
        # Grow with the rows up to MAX_SHARE of the screen; past it the height stays put
        # (a change of height is a new layout of the whole screen).
        cap = max(int(self.screen.size.height * MAX_SHARE), 3)
        height = min(max(len(rows), 1), cap)
        if height != self._height:
            self._height = height
            self.styles.height = height
        index = self._index.get(self.selected, -1) if self.selected is not None else -1
        if index < 0:
            index = min(self.cursor, len(rows) - 1)
        self._set_cursor(max(index, 0))
        self.refresh()

    @property
    def shown_ids(self) -> list[int]:
        """The flow ids listed, top to bottom."""
        return [row.id for row in self.rows]

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def _set_cursor(self, index: int) -> None:
        self.cursor = index
        flow_id = self.rows[index].id if 0 <= index < len(self.rows) else None
        if flow_id != self.selected:
            self.selected = flow_id
            self.post_message(self.Highlighted(flow_id))

    def watch_cursor(self, old: int, new: int) -> None:
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif height and new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()

    # -- keys and mouse ------------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        if self.rows:
            self._set_cursor(min(max(self.cursor + step, 0), len(self.rows) - 1))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self._set_cursor(where if where >= 0 else len(self.rows) - 1)

    async def _on_key(self, event: events.Key) -> None:
        char = event.character
        if event.is_printable and char is not None and char not in ACTION_KEYS and char != " ":
            event.stop()
            event.prevent_default()
            self.post_message(self.StartFilter(char))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = offset.y + int(self.scroll_y)
        if 0 <= index < len(self.rows):
            self._set_cursor(index)

    # -- rendering -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        cursor = 1 if index == self.cursor else 0
        key = (row.id, row.version, cursor * 2 + (index % 2) + (4 if self.has_focus else 0), 0)
        strip = self._lines.get(key)
        if strip is None:
            strip = self._render_row(row, cursor=bool(cursor), zebra=bool(index % 2))
            self._lines[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _render_row(self, row: Row, *, cursor: bool, zebra: bool) -> Strip:
        text = row_line(row)
        base: Style = self.rich_style
        if cursor:
            base = base + self.get_component_rich_style("connections--cursor")
        elif zebra:
            base = base + self.get_component_rich_style("connections--zebra")
        text.stylize_before(base)
        segments = list(text.render(self.app.console))
        return Strip(segments).extend_cell_length(LINE_WIDTH, base)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
