"""The human summary of ``tcpinc analyze``, with rich: a connections table per capture,
the plaintext with ``--payload``, a findings table, and the totals.

:class:`Summary` takes flows as they finish and keeps at most :data:`MAX_ROWS` of them (and
:data:`MAX_FINDING_ROWS` warnings and errors) for the tables, so that a capture of a
million connections still gives a readable page in bounded memory; the totals count all.
Colour follows rich's rules: on for a terminal, off when the output is a file or a pipe,
or when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from ..analysis import AnalysisResult, CrossFinding, Finding, FlowResult, Severity
from ..analysis.follow import escape_bytes
from ..analysis.report import endpoint_text
from .export import Totals
from .plaintable import Column, summary_table

__all__ = [
    "CONNECTION_COLUMNS",
    "MAX_FINDING_ROWS",
    "MAX_ROWS",
    "PAYLOAD_PREVIEW",
    "Summary",
    "make_console",
    "short_aead",
    "short_tep",
]

MAX_ROWS: Final = 1000  # connections listed (per run); the rest are counted
MAX_FINDING_ROWS: Final = 200  # warnings and errors listed one by one
PAYLOAD_PREVIEW: Final = 4096  # plaintext bytes shown per direction with --payload
_WIDTH_NOT_TTY: Final = 200  # columns when writing to a file or a pipe (rich would use 80)
_SESSION_ID_SHOWN: Final = 10  # hex digits of the session ID in the table

SEVERITY_STYLE: Final = {
    Severity.ERROR: "bold red",
    Severity.WARN: "yellow",
    Severity.NOTE: "cyan",
    Severity.CHAT: "dim",
}
# The connections table's columns: narrow terminals wrap the words (ENO, TEP); numbers,
# addresses and identifiers do not wrap.
CONNECTION_COLUMNS: Final[tuple[Column, ...]] = (
    ("id", "right", False),
    ("client", "left", False),
    ("server", "left", False),
    ("ENO", "left", True),
    ("TEP", "left", True),
    ("AEAD", "left", False),
    ("resumed", "left", False),
    ("session ID", "left", False),
    ("packets", "right", False),
    ("findings", "right", False),
)
STATUS_STYLE: Final = {"encrypted": "green", "fallback": "yellow", "incomplete": "magenta"}
A_TO_B_STYLE: Final = "red"  # Wireshark's Follow TCP Stream colours: client red, server blue
B_TO_A_STYLE: Final = "blue"


def make_console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (stdout by default): rich's terminal detection and NO_COLOR,
    and a wide page when the output is not a terminal (unless COLUMNS says otherwise)."""
    out = file if file is not None else sys.stdout
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=out, highlight=False, soft_wrap=False, width=_WIDTH_NOT_TTY)
    return console


def short_tep(name: str | None) -> str:
    """``TCPCRYPT_ECDHE_Curve25519`` -> ``Curve25519`` (the table is wide enough already)."""
    if name is None:
        return "-"
    return name.removeprefix("TCPCRYPT_ECDHE_")


def short_aead(name: str | None) -> str:
    """``AEAD_AES_128_GCM`` -> ``AES_128_GCM``."""
    return "-" if name is None else name.removeprefix("AEAD_")


@dataclass(frozen=True, slots=True)
class _Row:
    capture: int
    flow: FlowResult


class Summary:
    """Collects what the summary shows (see the module doc)."""

    def __init__(self, *, payload: bool = False) -> None:
        self.payload = payload
        self.rows: list[_Row] = []
        self.hidden = 0
        self.totals = Totals()
        self.findings: list[tuple[int, Finding]] = []  # (capture, finding): warn and error
        self.hidden_findings = 0
        self.by_id: dict[tuple[Severity, str], int] = {}
        self.flow_findings: dict[tuple[int, int], int] = {}
        self.results: list[AnalysisResult] = []
        self.counts: dict[int, int] = {}  # capture -> connections
        self._seen: set[tuple[str, str]] = set()

    # -- input -------------------------------------------------------------------------

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.totals.flow(flow)
        self.counts[capture] = self.counts.get(capture, 0) + 1
        for finding in flow.findings:
            self._finding(capture, finding)
        if len(self.rows) >= MAX_ROWS:
            self.hidden += 1
            return
        self.flow_findings[(capture, flow.id)] = len(flow.findings)
        tc = flow.tcpcrypt
        if tc is not None and self.payload:
            # Keep only what will be shown.
            tc = replace(
                tc,
                plaintext_a_to_b=(tc.plaintext_a_to_b or b"")[: PAYLOAD_PREVIEW + 1],
                plaintext_b_to_a=(tc.plaintext_b_to_a or b"")[: PAYLOAD_PREVIEW + 1],
            )
            flow = replace(flow, tcpcrypt=tc)
        self.rows.append(_Row(capture, flow))

    def capture(self, result: AnalysisResult) -> None:
        """A capture read (its flows already given): its counters and its own findings."""
        self.totals.capture(result)
        self.results.append(result)
        for finding in result.findings:
            key = (finding.id, finding.message)
            if key in self._seen:  # key log lines come once per capture
                continue
            self._seen.add(key)
            self._finding(len(self.results) - 1, finding)

    def cross(self, items: Sequence[CrossFinding]) -> None:
        for item in items:
            self.totals.findings((item.finding,))
            capture, flow = item.subject
            if (capture, flow) in self.flow_findings:  # a row of the table
                self.flow_findings[(capture, flow)] += 1
            self._finding(capture, item.finding)

    def _finding(self, capture: int, finding: Finding) -> None:
        key = (finding.severity, finding.id)
        self.by_id[key] = self.by_id.get(key, 0) + 1
        if finding.severity in (Severity.WARN, Severity.ERROR):
            if len(self.findings) < MAX_FINDING_ROWS:
                self.findings.append((capture, finding))
            else:
                self.hidden_findings += 1

    # -- output ------------------------------------------------------------------------

    def render(self, console: Console) -> None:
        several = len(self.results) > 1
        for index, result in enumerate(self.results):
            console.print(self._capture_line(result, self.counts.get(index, 0)), soft_wrap=True)
            rows = [r for r in self.rows if r.capture == index]
            if rows:
                console.print(self._connections(rows, console.width))
            if self.payload:
                for row in rows:
                    self._plaintext(console, row, several)
        if self.hidden:
            console.print(
                Text(
                    f"... and {self.hidden} more connections "
                    "(all of them: --json, --jsonl or --parquet)",
                    style="dim",
                )
            )
        if self.findings or self.by_id:
            console.print(self._findings_table(several))
        console.print(self._totals_line(), soft_wrap=True)

    def _capture_line(self, result: AnalysisResult, flows: int) -> Text:
        info = result.capture
        stats = info.stats
        text = Text()
        text.append(info.name, style="bold")
        text.append(
            f"  {info.format or 'unreadable'}, {stats.packets} packets ({stats.tcp} TCP), "
            f"{flows} connection{'s' if flows != 1 else ''}"
        )
        if info.error is not None:
            text.append(f"\n  read stopped: {info.error}", style="bold red")
        return text

    def _connections(self, rows: list[_Row], width: int) -> RenderableType:
        return summary_table(CONNECTION_COLUMNS, [self.row_cells(row) for row in rows], width)

    def row_cells(self, row: _Row) -> list[Text]:
        flow = row.flow
        eno, tc = flow.eno, flow.tcpcrypt
        if eno is None:
            status = Text("plain TCP", style="dim")
        else:
            status = Text(eno.status, style=STATUS_STYLE.get(eno.status, ""))
            if eno.reason is not None:
                status.append(f" ({eno.reason.removeprefix('tcpeno.fallback.')})")
            if eno.dialect == "legacy":
                status.append(" legacy", style="dim")
        resumed = "-" if tc is None else ("yes" if tc.resumed else "no")
        session = "-"
        if tc is not None and tc.session_id is not None:
            session = tc.session_id.hex()[:_SESSION_ID_SHOWN] + "…"
        elif tc is not None and tc.frames_a_to_b + tc.frames_b_to_a:
            session = "no key" if not tc.decrypted else "-"
        count = self.flow_findings.get((row.capture, flow.id), len(flow.findings))
        return [
            Text(str(flow.id)),
            Text(endpoint_text(flow.client)),
            Text(endpoint_text(flow.server)),
            status,
            Text(short_tep(eno.tep_name if eno is not None else None)),
            Text(short_aead(tc.aead if tc is not None else None)),
            Text(resumed),
            Text(session),
            Text(str(flow.packets)),
            Text(str(count)),
        ]

    def _plaintext(self, console: Console, row: _Row, several: bool) -> None:
        tc = row.flow.tcpcrypt
        if tc is None or not tc.decrypted:
            return
        eno = row.flow.eno
        a, b = (row.flow.client, row.flow.server)
        if eno is not None and not eno.a_is_client:
            a, b = b, a
        where = f"capture {row.capture}, " if several else ""
        for label, data, style, src, dst in (
            ("A→B", tc.plaintext_a_to_b, A_TO_B_STYLE, a, b),
            ("B→A", tc.plaintext_b_to_a, B_TO_A_STYLE, b, a),
        ):
            if not data:
                continue
            head = Text(
                f"flow {row.flow.id} ({where}{label} {endpoint_text(src)} → {endpoint_text(dst)})",
                style="bold " + style,
            )
            console.print(head)
            text = escape_bytes(data[:PAYLOAD_PREVIEW]).removesuffix("\n")
            body = Text("\n".join("  " + line for line in text.split("\n")), style=style)
            if len(data) > PAYLOAD_PREVIEW:
                body.append("\n... (more: --json --payload has it all)", style="dim")
            console.print(body)

    def _findings_table(self, several: bool) -> Table:
        table = Table(
            title="Findings",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("severity", no_wrap=True)
        table.add_column("id", no_wrap=True)
        if several:
            table.add_column("capture", justify="right")
        table.add_column("flow", justify="right")
        table.add_column("packet", justify="right")
        table.add_column("message", overflow="fold")
        for capture, finding in sorted(
            self.findings, key=lambda item: (-item[1].severity.rank, item[0], item[1].flow or 0)
        ):
            cells = [
                Text(finding.severity.value, style=SEVERITY_STYLE[finding.severity]),
                Text(finding.id),
            ]
            if several:
                cells.append(Text(str(capture)))
            cells += [
                Text(str(finding.flow) if finding.flow is not None else "-"),
                Text(str(finding.packet) if finding.packet is not None else "-"),
                Text(finding.message),
            ]
            table.add_row(*cells)
        quiet = sorted(
            (
                (sev, fid, n)
                for (sev, fid), n in self.by_id.items()
                if sev.rank < Severity.WARN.rank
            ),
            key=lambda t: (-t[0].rank, t[1]),
        )
        for severity, finding_id, count in quiet:
            cells = [Text(severity.value, style=SEVERITY_STYLE[severity]), Text(finding_id)]
            if several:
                cells.append(Text(""))
            cells += [Text(""), Text(""), Text(f"x{count} (details: --json)", style="dim")]
            table.add_row(*cells)
        if self.hidden_findings:
            extra = [Text("")] * (5 if several else 4)
            table.add_row(Text("..."), *extra[:-1], Text(f"{self.hidden_findings} more"))
        return table

    def _totals_line(self) -> Text:
        t = self.totals
        sev = t.severities
        text = Text()
        text.append(_count(t.flows, "connection"), style="bold")
        text.append(
            f": {t.status['encrypted']} encrypted ({t.decrypted} decrypted, {t.resumed} resumed), "
            f"{t.status['fallback']} fell back, {t.status['incomplete']} incomplete, "
            f"{t.plain} plain TCP; "
        )
        text.append(_count(sev["error"], "error"), style="bold red" if sev["error"] else "")
        text.append(", ")
        text.append(_count(sev["warn"], "warning"), style="yellow" if sev["warn"] else "")
        text.append(f", {_count(sev['note'], 'note')}; {_count(t.packets, 'packet')} in ")
        text.append(_count(t.captures, "capture"))
        return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
