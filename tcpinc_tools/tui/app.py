"""The monitor app: header, filter, connections table, detail pane, footer.

Build it with :func:`create_app` (the command and the tests do the same). The app starts the
ingest worker (:class:`~.ingest.Ingest`, a thread worker that only posts messages) on mount
and applies each :class:`~.messages.FlowsUpdated` to the model, the table, the detail pane
and the header. While paused, updates are held (folded into one) and applied on resume: the
capture goes on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar, Final

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input

from ..analysis.jsontext import write_json
from ..analysis.live import FlowSnapshot
from ..analysis.model import Finding
from ..analysis.report import JSON_VERSION, finding_to_json, flow_to_json
from .config import MonitorConfig
from .detail import render_detail
from .ingest import Ingest, KeyLogWatcher
from .messages import FlowsUpdated, IngestStats, SourceEnded
from .model import COLUMN_KEYS, ConnectionModel
from .sources import PacketSource, open_source
from .widgets import (
    ConnectionsTable,
    DetailPane,
    FilterBar,
    HelpScreen,
    TableHeader,
    TotalsHeader,
)

__all__ = ["EXPORT_PREFIX", "MonitorApp", "create_app"]

EXPORT_PREFIX: Final = "tcpinc-monitor-"
# Seconds between two redraws of the detail pane caused by new packets of the connection
# shown (a redraw of a long conversation costs tens of milliseconds); a key that selects
# another connection redraws it at once.
DETAIL_EVERY: Final = 0.25


class MonitorApp(App[int]):
    """The terminal UI of ``tcpinc monitor`` (see the module doc)."""

    TITLE = "tcpinc monitor"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen {
        layout: vertical;
    }
    DetailPane {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("s", "sort", "sort"),
        Binding("r", "reverse", "reverse"),
        Binding("p", "pause", "pause"),
        Binding("c", "clear", "clear"),
        Binding("e", "export", "export JSON"),
    ]

    def __init__(
        self,
        config: MonitorConfig,
        source: PacketSource,
        keylog: KeyLogWatcher | None,
    ) -> None:
        super().__init__()
        self.config = config
        self.source = source
        self.keylog = keylog
        self.model = ConnectionModel()
        self.ingest = Ingest(source, keylog=keylog, interval=config.interval, grace=config.grace)
        self.stats = IngestStats(secrets=len(keylog.log) if keylog is not None else None)
        self.paused = False
        self._held: dict[int, FlowSnapshot] = {}
        self._held_updates = 0
        self.error: str | None = None
        self.ended: SourceEnded | None = None
        self.updates = 0  # FlowsUpdated messages applied (folded ones count as one)
        self.exports: list[Path] = []
        self._closing_down = False  # the screen is going: late messages are dropped
        self._detail_due = False

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TotalsHeader(id="header")
        yield FilterBar()
        yield TableHeader()
        yield ConnectionsTable()
        yield DetailPane()
        yield Footer()

    @property
    def table(self) -> ConnectionsTable:
        return self.query_one(ConnectionsTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    def on_mount(self) -> None:
        self.table.focus()
        self._refresh_header()
        self._show_rows()
        self.detail.show(None, render_detail(None))
        self.set_interval(DETAIL_EVERY, self._detail_tick)
        self.run_worker(self._ingest_body, name="ingest", group="ingest", thread=True)

    def _ingest_body(self) -> None:
        self.ingest.run(self.post_message)

    def on_unmount(self) -> None:
        self._closing_down = True
        self.ingest.stop()

    # -- updates from the worker ---------------------------------------------------------

    def on_flows_updated(self, message: FlowsUpdated) -> None:
        if self._closing_down:
            return
        self.stats = message.stats
        if self.paused:
            self._held.update(message.snapshots)
            self._held_updates += message.folded
            self._refresh_header()
            return
        self._apply(message.snapshots)

    def on_source_ended(self, message: SourceEnded) -> None:
        self.ended = message
        if self._closing_down:
            return
        if message.error:
            self.error = message.error
            self.notify(message.error, title="capture", severity="error", timeout=10)
        for finding in message.findings:
            self.notify(finding.message, title=finding.id, severity="warning", timeout=8)
        by_flow: dict[int, list[Finding]] = {}
        for cross in message.cross:
            by_flow.setdefault(cross.subject[1], []).append(cross.finding)
        if by_flow:
            changed = self.model.add_findings(by_flow)
            self._show_rows()
            self._refresh_detail(changed)
        self._refresh_header()

    def _apply(self, snapshots: dict[int, FlowSnapshot]) -> None:
        self.updates += 1
        changed, _removed = self.model.update(snapshots.values(), keep=self.table.selected)
        self._show_rows()
        selected = self.table.selected
        if (selected is not None and selected in changed) or self.detail.shown != selected:
            self._detail_due = True  # drawn by the detail timer: at most DETAIL_EVERY
        self._refresh_header()

    def _show_rows(self) -> None:
        self.table.show(self.model.visible())
        self.query_one(TableHeader).show(self.model.sort_key, self.model.sort_reverse)

    def _detail_tick(self) -> None:
        if self._detail_due:
            self._refresh_detail()

    def _refresh_header(self) -> None:
        self.query_one(TotalsHeader).show(
            source=self.config.label,
            stats=self.stats,
            totals=self.model.totals,
            paused=self.paused,
            held=self._held_updates,
            error=self.error,
        )

    def _refresh_detail(self, changed: set[int] | None = None) -> None:
        selected = self.table.selected
        if changed is not None and selected not in changed and self.detail.shown == selected:
            return
        self._detail_due = False
        row = self.model.rows.get(selected) if selected is not None else None
        self.detail.show(selected if row is not None else None, render_detail(row))

    # -- table events --------------------------------------------------------------------

    @on(ConnectionsTable.Highlighted)
    def _row_highlighted(self, event: ConnectionsTable.Highlighted) -> None:
        self._refresh_detail()

    @on(TableHeader.SortBy)
    def _header_clicked(self, event: TableHeader.SortBy) -> None:
        reverse = not self.model.sort_reverse if event.key == self.model.sort_key else False
        self._sort(event.key, reverse)

    @on(ConnectionsTable.StartFilter)
    def _start_filter(self, event: ConnectionsTable.StartFilter) -> None:
        bar = self.query_one(FilterBar)
        bar.value += event.text
        bar.cursor_position = len(bar.value)
        bar.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.model.set_filter(event.value)
        self._show_rows()

    @on(FilterBar.Done)
    def _filter_done(self) -> None:
        self.table.focus()

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While the filter has the focus, every key is text, not a command.
        return not isinstance(self.focused, Input)

    def action_filter(self) -> None:
        self.query_one(FilterBar).focus()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def _sort(self, key: str, reverse: bool) -> None:
        self.model.set_sort(key, reverse)
        self._show_rows()
        arrow = "↓" if reverse else "↑"
        self.notify(f"sorted by {key} {arrow}", timeout=2)

    def action_sort(self) -> None:
        keys = COLUMN_KEYS
        nxt = keys[(keys.index(self.model.sort_key) + 1) % len(keys)]
        self._sort(nxt, False)

    def action_reverse(self) -> None:
        self._sort(self.model.sort_key, not self.model.sort_reverse)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self._held:
            held, self._held = self._held, {}
            self._held_updates = 0
            self._apply(held)
        self._held_updates = 0 if not self.paused else self._held_updates
        self._refresh_header()

    def action_clear(self) -> None:
        self.model.clear()
        self._held.clear()
        self._held_updates = 0
        self._show_rows()
        self._refresh_detail()
        self._refresh_header()

    def action_export(self) -> None:
        try:
            path = self.export_view()
        except OSError as exc:
            self.notify(f"export failed: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"{len(self.model.visible())} connections written to {path}", title="export")

    def export_view(self) -> Path:
        """Write the connections shown (filter and order) as JSON; the file written."""
        folder = Path(self.config.export_dir)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{EXPORT_PREFIX}{stamp}.json"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"{EXPORT_PREFIX}{stamp}-{n}.json"
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", encoding="utf-8") as handle:
            write_json(self.view_document(), handle)
            handle.write("\n")
        os.replace(tmp, path)
        self.exports.append(path)
        return path

    def view_document(self) -> dict[str, Any]:
        """The JSON of the current view: the flows as ``tcpinc analyze --json`` writes them
        (plus ``active``), in the order and under the filter shown, and the header's totals."""
        totals = self.model.totals
        flows = []
        for row in self.model.visible():
            entry = flow_to_json(row.flow, extra_findings=row.extra_findings)
            entry["active"] = row.snapshot.active
            flows.append(entry)
        stats = self.stats
        return {
            "version": JSON_VERSION,
            "source": {"kind": self.config.source, "name": self.config.label},
            "exported_at": time.time(),
            "view": {
                "filter": self.model.filter_text,
                "sort": self.model.sort_key,
                "reverse": self.model.sort_reverse,
                "paused": self.paused,
            },
            "totals": {
                "connections": totals.connections,
                **totals.by_status,
                "fallbacks": dict(totals.fallbacks),
                "dropped": totals.dropped,
                "packets": stats.packets,
                "frames": stats.frames,
            },
            "flows": flows,
            "findings": [finding_to_json(f) for f in (self.ended.findings if self.ended else [])],
        }


def create_app(config: MonitorConfig) -> MonitorApp:
    """The monitor for ``config``: its source opened, its key log loaded (a live or followed
    source may name a key log that does not exist yet). Raises
    :class:`~.sources.SourceError` or :class:`~tcpinc_tools.errors.KeyLogError`."""
    keylog = None
    if config.keylog is not None:
        keylog = KeyLogWatcher(config.keylog, wait=config.source != "file")
    source = open_source(config)
    return MonitorApp(config, source, keylog)
