"""The filter line: the words typed narrow the connections table as you type."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import Input

__all__ = ["FilterBar"]


class FilterBar(Input):
    """A one-line input; Enter or ↓ goes back to the table, Escape clears and goes back."""

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    FilterBar:focus {
        border: none;
        background: $accent 20%;
    }
    """

    class Done(Message):
        """The user is done typing (the table should take the focus)."""

    def __init__(self) -> None:
        super().__init__(
            placeholder="filter: type words (/ to focus; ! excludes)",
            id="filter",
            select_on_focus=False,
        )

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.value = ""
            self.post_message(self.Done())
            return
        if event.key in ("enter", "down"):
            event.stop()
            event.prevent_default()
            self.post_message(self.Done())
            return
        await super()._on_key(event)
