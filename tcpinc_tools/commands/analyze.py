"""``tcpinc analyze``: per connection, what TCP-ENO negotiated or why it fell back, what
tcpcrypt did, and - with a key log - what was said.

    tcpinc analyze CAPTURE... [--keylog F] [--json | --jsonl | --parquet OUT] [--payload]

Output: a rich summary on stdout (connections, findings, totals), or the JSON document of
ARCHITECTURE.md (``--json``), JSON lines streamed as connections finish (``--jsonl``), or
a Parquet connections table (``--parquet OUT``); see docs/analyze.md. The key log comes
from ``--keylog`` or the TCPCRYPT_KEYLOG_FILE environment variable; a line it cannot use is
one warning on stderr, and the others are used.

Exit status: 0 when every capture was read to its end, whatever the findings say; 2 when a
capture could not be read (missing, not a capture, truncated, corrupt: one line on stderr
each, and the report still covers every packet before the problem) or the key log could
not be read at all (nothing is analyzed then).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from types import TracebackType
from typing import Final, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ..analysis import AnalysisResult, FlowResult, cross_connection_findings, to_json_document
from ..analysis.streaming import analyze_streaming
from ..capture.reader import CaptureSource
from ..errors import KeyLogError
from ..keylog import KEYLOG_ENV, KeyLog
from .export import JsonLines, ParquetTable
from .render import Summary, make_console

__all__ = ["HELP", "PROGRESS_DELAY", "configure", "load_keylog", "run"]

HELP: Final = "report per connection: TCP-ENO outcome, tcpcrypt session, findings (decrypts)"
# Seconds a capture must have been read for before the progress bar appears: short
# captures finish without one.
PROGRESS_DELAY: Final = 0.5
PROG: Final = "tcpinc analyze"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Analyze pcap/pcapng captures: per TCP connection, what TCP-ENO negotiated or why it "
        "fell back, what tcpcrypt did (key exchange, AEAD, resumption, frames), and with a "
        "key log the session IDs and the decrypted data; findings for what the RFCs forbid."
    )
    parser.epilog = (
        "Exit status: 0 when every capture was read to its end (findings do not change it); "
        "2 when a capture or the key log could not be read (the report still covers every "
        "packet read before the problem)."
    )
    parser.add_argument(
        "captures", nargs="+", metavar="CAPTURE", help="pcap or pcapng files ('-': stdin)"
    )
    parser.add_argument(
        "--keylog",
        metavar="F",
        help=f"tcpcrypt key log (default: the file named by ${KEYLOG_ENV}, if set)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="one JSON document (ARCHITECTURE.md contract)"
    )
    output.add_argument(
        "--jsonl", action="store_true", help="JSON lines, one connection per line, streamed"
    )
    output.add_argument("--parquet", metavar="OUT", help="write the connections table to OUT")
    parser.add_argument(
        "--payload", action="store_true", help="include the decrypted application data"
    )


def _warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")


def load_keylog(path: str | None, prog: str = PROG) -> KeyLog | None:
    """The key log of ``--keylog`` or TCPCRYPT_KEYLOG_FILE (None when neither), with one
    warning line on stderr per unusable line and per note. Raises KeyLogError when the
    file cannot be read at all."""
    keylog = KeyLog.load(path) if path is not None else KeyLog.from_env()
    if keylog is not None:
        for error in keylog.errors:
            sys.stderr.write(f"{prog}: warning: key log line not used: {error}\n")
        for note in keylog.notes:
            sys.stderr.write(f"{prog}: note: {note}\n")
    return keylog


class _ProgressBar:
    """A progress bar on stderr for captures that take a while, only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._name = ""
        self._started = 0.0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def capture(self, name: str) -> None:
        """A new capture is being read."""
        self._name = name
        self._task = None
        self._started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        if self._progress is None:
            if time.monotonic() - self._started < PROGRESS_DELAY:
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
        if self._task is None:
            self._task = self._progress.add_task(self._name, total=total)
        self._progress.update(self._task, completed=done)


class _Output(Protocol):
    def flow(self, capture: int, flow: FlowResult) -> None: ...


class _JsonDocument:
    """``--json``: the document is made at the end; flows are kept by the analysis."""

    def flow(self, capture: int, flow: FlowResult) -> None:
        return None


class _ParquetOutput:
    def __init__(self, table: ParquetTable, names: list[str]) -> None:
        self.table = table
        self.names = names

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.table.flow(capture, self.names[capture], flow)


def run(args: argparse.Namespace) -> int:
    try:
        keylog = load_keylog(args.keylog)
    except KeyLogError as exc:
        _warn(str(exc))
        return 2
    summary: Summary | None = None
    lines: JsonLines | None = None
    table: ParquetTable | None = None
    output: _Output
    if args.json:
        output = _JsonDocument()
    elif args.jsonl:
        output = lines = JsonLines(sys.stdout)
    elif args.parquet is not None:
        table = ParquetTable()
        output = _ParquetOutput(table, list(args.captures))
    else:
        output = summary = Summary(payload=args.payload)
    status = 0
    results: list[AnalysisResult] = []
    with _ProgressBar(sys.stderr.isatty()) as bar:
        for index, path in enumerate(args.captures):
            bar.capture(path)
            counted = 0

            def on_flow(flow: FlowResult, index: int = index) -> None:
                nonlocal counted
                counted += 1
                output.flow(index, flow)

            source: CaptureSource = sys.stdin.buffer if path == "-" else path
            result = analyze_streaming(
                source,
                keylog=keylog,
                payload=args.payload,
                capture=index,
                on_flow=on_flow,
                keep_flows=bool(args.json),
                progress=bar,
            )
            for error in result.capture_errors:
                _warn(str(error))
                status = 2
            if lines is not None:
                lines.capture(index, result, counted)
            if summary is not None:
                summary.capture(result)
            results.append(result)
    if args.json:
        json.dump(to_json_document(results), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    cross = cross_connection_findings(s for r in results for s in r.summaries)
    if lines is not None:
        lines.finish(cross)
    elif table is not None:
        table.cross(cross)
        try:
            rows = table.write(args.parquet)
        except (OSError, ValueError) as exc:
            _warn(f"cannot write {args.parquet}: {exc}")
            return 2
        sys.stdout.write(f"{rows} connections -> {args.parquet}\n")
    elif summary is not None:
        summary.cross(cross)
        summary.render(make_console())
    return status
