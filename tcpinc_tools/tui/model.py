"""The monitor's connections, independent of any widget: rows, filter, sort order, totals.

:class:`ConnectionModel` takes :class:`~tcpinc_tools.analysis.live.FlowSnapshot` objects as
the ingest worker posts them and keeps one :class:`Row` per connection (at most
:data:`MAX_ROWS`: the oldest finished connections make room), the totals the header shows,
and the filter and sort the table applies. The table widget asks it which rows to show, in
which order, and with which cell texts.

Filter: the words typed, case-insensitive; a row matches when every word occurs in one of
its cells, its fallback reason or its finding ids (``fallback``, ``10.0.0.2``, ``chacha``,
``tag_failure``). A word starting with ``!`` excludes the rows that contain the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from ..analysis.live import FlowSnapshot
from ..analysis.model import Finding, FlowResult
from ..analysis.registry import Severity
from ..analysis.report import endpoint_text

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "Column",
    "ConnectionModel",
    "Row",
    "Totals",
    "row_status",
    "short_reason",
]

# Connections listed at most; past it the oldest finished ones leave the list (they stay
# counted in ``Totals.dropped``). A monitor runs for hours; its memory must not follow.
MAX_ROWS: Final = 5000
# Hex digits of the session ID shown in the table (its first byte is the TEP byte).
SESSION_ID_SHOWN: Final = 8

# Status keys of a row: the ENO status, or "plain" for a connection without ENO at all.
STATUSES: Final = ("encrypted", "fallback", "incomplete", "plain")


def short_reason(reason: str | None) -> str:
    """A fallback reason without its family: ``tcpeno.fallback.no_common_tep`` ->
    ``no_common_tep``, ``tcpcrypt.resume.mismatch`` -> ``resume.mismatch``."""
    if reason is None:
        return ""
    for prefix in ("tcpeno.fallback.", "tcpeno.", "tcpcrypt."):
        if reason.startswith(prefix):
            return reason.removeprefix(prefix)
    return reason


def row_status(flow: FlowResult) -> str:
    """One of :data:`STATUSES`."""
    return flow.eno.status if flow.eno is not None else "plain"


def _status_text(flow: FlowResult) -> str:
    eno = flow.eno
    if eno is None:
        return "no ENO"
    if eno.status == "fallback":
        return f"fallback {short_reason(eno.reason)}"
    return eno.status


def _tep(flow: FlowResult) -> str:
    if flow.eno is None or flow.eno.tep_name is None:
        return "-"
    return flow.eno.tep_name.removeprefix("TCPCRYPT_ECDHE_")


# AEAD names short enough for the table (the detail pane has the IANA names).
_AEAD_SHORT: Final = {
    "AEAD_AES_128_GCM": "AES128",
    "AEAD_AES_256_GCM": "AES256",
    "AEAD_CHACHA20_POLY1305": "ChaCha20",
}


def _aead(flow: FlowResult) -> str:
    tc = flow.tcpcrypt
    if tc is None or tc.aead is None:
        return "-"
    return _AEAD_SHORT.get(tc.aead, tc.aead.removeprefix("AEAD_"))


def _resumed(flow: FlowResult) -> str:
    tc = flow.tcpcrypt
    if tc is None:
        return "-"
    return "yes" if tc.resumed else "no"


def _session(flow: FlowResult) -> str:
    tc = flow.tcpcrypt
    if tc is None or tc.session_id is None:
        return "-"
    return tc.session_id.hex()[:SESSION_ID_SHOWN]


def _bytes(flow: FlowResult) -> int:
    return flow.bytes_client_to_server + flow.bytes_server_to_client


def human_bytes(count: int) -> str:
    """``1234567`` -> ``1.2M`` (powers of 1024, one decimal below 10)."""
    value = float(count)
    for unit in ("", "K", "M", "G"):
        if value < 1024 or unit == "G":
            if unit == "":
                return str(count)
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return str(count)


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: key, header, width, the cell text, and the sort key."""

    key: str
    label: str
    width: int
    text: Callable[[Row], str]
    sort: Callable[[Row], tuple[int | str, ...]]
    numeric: bool = False


@dataclass(slots=True)
class Row:
    """One connection: its latest snapshot and what belongs to no snapshot (the
    cross-connection findings reported on it when a capture ends). ``version`` grows with
    every change; the cell texts and the filter text are computed when first asked for
    after one (a batch may change thousands of rows, the screen shows a few dozen)."""

    snapshot: FlowSnapshot
    extra_findings: tuple[Finding, ...] = ()
    order: int = 0  # arrival order in the model
    version: int = 0
    _texts: tuple[str, ...] | None = None
    _haystack: str | None = None

    def changed(self) -> None:
        self.version += 1
        self._texts = None
        self._haystack = None

    @property
    def id(self) -> int:
        return self.snapshot.result.id

    @property
    def flow(self) -> FlowResult:
        return self.snapshot.result

    @property
    def status(self) -> str:
        return row_status(self.snapshot.result)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (*self.snapshot.result.findings, *self.extra_findings)

    @property
    def worst(self) -> Severity | None:
        """The highest severity among the findings (None without findings)."""
        found = self.findings
        return max((f.severity for f in found), key=lambda s: s.rank) if found else None

    def cells(self) -> tuple[str, ...]:
        """The cell texts, one per column of :data:`COLUMNS`."""
        if self._texts is None:
            self._texts = tuple(column.text(self) for column in COLUMNS)
        return self._texts

    @property
    def haystack(self) -> str:
        """What the filter words are looked for in (lower case)."""
        if self._haystack is None:
            self._haystack = _haystack(self)
        return self._haystack


def _findings_text(row: Row) -> str:
    return str(len(row.findings))


COLUMNS: Final[tuple[Column, ...]] = (
    Column("id", "#", 5, lambda r: str(r.id), lambda r: (r.id,), numeric=True),
    Column(
        "client",
        "client",
        19,
        lambda r: endpoint_text(r.flow.client),
        lambda r: (endpoint_text(r.flow.client),),
    ),
    Column(
        "server",
        "server",
        19,
        lambda r: endpoint_text(r.flow.server),
        lambda r: (endpoint_text(r.flow.server),),
    ),
    Column(
        "status",
        "ENO status",
        22,
        lambda r: _status_text(r.flow),
        lambda r: (STATUSES.index(r.status), _status_text(r.flow)),
    ),
    Column("tep", "TEP", 10, lambda r: _tep(r.flow), lambda r: (_tep(r.flow),)),
    Column("aead", "AEAD", 8, lambda r: _aead(r.flow), lambda r: (_aead(r.flow),)),
    Column("resumed", "res", 3, lambda r: _resumed(r.flow), lambda r: (_resumed(r.flow),)),
    Column("session", "session", 8, lambda r: _session(r.flow), lambda r: (_session(r.flow),)),
    Column("packets", "pkts", 5, lambda r: str(r.flow.packets), lambda r: (r.flow.packets,), True),
    Column(
        "bytes",
        "bytes",
        5,
        lambda r: human_bytes(_bytes(r.flow)),
        lambda r: (_bytes(r.flow),),
        True,
    ),
    Column("findings", "fnd", 3, _findings_text, lambda r: (len(r.findings),), True),
)
COLUMN_KEYS: Final = tuple(c.key for c in COLUMNS)
_BY_KEY: Final = {c.key: c for c in COLUMNS}


@dataclass(slots=True)
class Totals:
    """What the header counts, over the connections listed since the last clear."""

    connections: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    fallbacks: dict[str, int] = field(default_factory=dict)  # short reason -> connections
    dropped: int = 0  # connections that left the list (MAX_ROWS)

    @property
    def encrypted_share(self) -> float:
        """Encrypted connections among all listed (0.0 when there are none)."""
        return self.by_status["encrypted"] / self.connections if self.connections else 0.0

    def count(self, row: Row, sign: int) -> None:
        self.connections += sign
        status = row.status
        self.by_status[status] += sign
        if status == "fallback":
            reason = short_reason(row.flow.eno.reason if row.flow.eno else None) or "?"
            left = self.fallbacks.get(reason, 0) + sign
            if left:
                self.fallbacks[reason] = left
            else:
                self.fallbacks.pop(reason, None)


def _haystack(row: Row) -> str:
    flow = row.flow
    parts = [*row.cells()]
    if flow.eno is not None:
        parts += [flow.eno.dialect, flow.eno.reason or "", flow.eno.tep_name or ""]
    if flow.tcpcrypt is not None:
        tc = flow.tcpcrypt
        parts += [tc.aead or "", tc.session_id.hex() if tc.session_id else ""]
        parts.append("decrypted" if tc.decrypted else "not-decrypted")
    parts += ["active" if row.snapshot.active else "closed"]
    parts += [f.id for f in row.findings]
    return " ".join(parts).lower()


def _matches(haystack: str, words: tuple[str, ...]) -> bool:
    for word in words:
        if word.startswith("!") and len(word) > 1:
            if word[1:] in haystack:
                return False
        elif word not in haystack:
            return False
    return True


class ConnectionModel:
    """Rows by flow id, with filter, sort and totals (see the module doc)."""

    def __init__(self, *, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self.rows: dict[int, Row] = {}
        self.totals = Totals()
        self.filter_text = ""
        self._words: tuple[str, ...] = ()
        self.sort_key = "id"
        self.sort_reverse = False
        self._order = 0
        self._view: list[Row] | None = None  # visible(), until something changes it
        self._by_id = True  # self.rows is in flow id order (rows come by id, except after clear)

    # -- input ---------------------------------------------------------------------------

    def update(
        self, snapshots: Iterable[FlowSnapshot], *, keep: int | None = None
    ) -> tuple[set[int], set[int]]:
        """Take new snapshots; return (ids changed or added, ids that left the list).
        ``keep``: a flow id that must not leave the list (the one selected)."""
        changed: set[int] = set()
        added = False
        for snap in sorted(snapshots, key=lambda s: s.result.id):
            flow_id = snap.result.id
            row = self.rows.get(flow_id)
            if row is None:
                if self.rows and flow_id < next(reversed(self.rows)):
                    self._by_id = False
                self._order += 1
                row = Row(snap, order=self._order)
                self.rows[flow_id] = row
                added = True
            else:
                self.totals.count(row, -1)
                row.snapshot = snap
                row.changed()
            self.totals.count(row, +1)
            changed.add(flow_id)
        removed = self._trim(keep)
        # The order shown changes with new or removed rows, and with changed rows when the
        # sort or the filter looks at what changes.
        if added or removed or (changed and (self._words or self.sort_key != "id")):
            self._view = None
        return changed - removed, removed

    def add_findings(self, by_flow: dict[int, list[Finding]]) -> set[int]:
        """Cross-connection findings reported on listed flows; the ids changed."""
        changed = set()
        for flow_id, found in by_flow.items():
            row = self.rows.get(flow_id)
            if row is None:
                continue
            row.extra_findings = (*row.extra_findings, *found)
            row.changed()
            changed.add(flow_id)
        if changed:
            self._view = None
        return changed

    def clear(self) -> None:
        """Forget every row and total (connections that go on come back as they send)."""
        self.rows.clear()
        self.totals = Totals()
        self._view = None
        self._by_id = True

    def _trim(self, keep: int | None) -> set[int]:
        removed: set[int] = set()
        excess = len(self.rows) - self.max_rows
        if excess <= 0:
            return removed
        for flow_id, row in self.rows.items():  # oldest first (insertion order)
            if len(removed) >= excess:
                break
            if not row.snapshot.active and flow_id != keep:
                removed.add(flow_id)
        for flow_id in removed:
            row = self.rows.pop(flow_id)
            self.totals.count(row, -1)
            self.totals.dropped += 1
        return removed

    # -- view ----------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._words = tuple(text.lower().split())
        self._view = None

    def set_sort(self, key: str, reverse: bool = False) -> None:
        if key not in _BY_KEY:
            raise KeyError(key)
        self.sort_key = key
        self.sort_reverse = reverse
        self._view = None

    def matches(self, row: Row) -> bool:
        return not self._words or _matches(row.haystack, self._words)

    def sort_value(self, row: Row) -> tuple[int | str, ...]:
        """The sort key of ``row`` under the current sort (ties broken by flow id)."""
        return (*_BY_KEY[self.sort_key].sort(row), row.id)

    def visible(self) -> list[Row]:
        """The rows that pass the filter, in sort order (kept until something changes it:
        the caller must not modify the list)."""
        if self._view is not None:
            return self._view
        if self.sort_key == "id" and not self._words:
            rows = list(self.rows.values())
            if not self._by_id:
                rows.sort(key=lambda r: r.id)
            if self.sort_reverse:
                rows.reverse()
        else:
            rows = [r for r in self.rows.values() if self.matches(r)]
            rows.sort(key=self.sort_value, reverse=self.sort_reverse)
        self._view = rows
        return rows
