"""The help screen: what the monitor shows and its keys."""

from __future__ import annotations

from typing import ClassVar, Final

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP_INTRO", "KEYS", "HelpScreen"]

HELP_INTRO: Final = (
    "Each row is one TCP connection. ENO status: encrypted (TCP-ENO negotiated a TEP and "
    "both sides confirmed it), fallback and the reason (the finding id without its "
    "family), incomplete (the handshake not all seen yet), no ENO (plain TCP). The session "
    "column shows the start of the tcpcrypt session ID once the key log has the session's "
    "secret and a frame decrypted. The header counts the connections listed and the "
    "packets analyzed per second."
)
KEYS: Final = (
    ("↑ ↓ PgUp PgDn Home End", "select a connection; the detail pane follows"),
    ("/ or a digit", "type a filter: words that must all occur; !word excludes"),
    ("Enter  Esc", "leave the filter (Esc also clears it)"),
    ("s  r", "sort by the next column / reverse the order (or click a header)"),
    ("Tab", "move between the table and the detail pane (then ↑ ↓ scroll it)"),
    ("p", "pause / resume the screen (the capture goes on; updates are held)"),
    ("c", "clear the list and the totals"),
    ("e", "export the connections shown (filter and order) as JSON"),
    ("?", "this help (Esc closes it)"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    """The keys; any of Esc, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 92;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("question_mark", "close", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        for key, does in KEYS:
            keys.add_row(key, does)
        title = Text("tcpinc monitor — keys", style="bold")
        with VerticalScroll():
            yield Static(Group(title, Text(""), Text(HELP_INTRO), Text(""), keys))

    def action_close(self) -> None:
        self.dismiss(None)
