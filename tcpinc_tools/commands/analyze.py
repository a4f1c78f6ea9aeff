"""``tcpinc analyze``: per connection, what TCP-ENO negotiated or why it fell back, what
tcpcrypt did, and - with a key log - what was said.

    tcpinc analyze CAPTURE... [--keylog F] [--json | --jsonl | --parquet OUT] [--payload]
                   [--jobs N | --dask ADDRESS]

Output: a rich summary on stdout (connections, findings, totals), or the JSON document of
ARCHITECTURE.md (``--json``), JSON lines streamed as connections finish (``--jsonl``), or
a Parquet connections table (``--parquet OUT``; a dataset partitioned by capture when OUT
is a folder or ends with '/', see :mod:`.dataset`); see docs/analyze.md. The key log comes
from ``--keylog`` or the TCPCRYPT_KEYLOG_FILE environment variable; a line it cannot use is
one warning on stderr, and the others are used.

CAPTURE may be a file, a folder (its captures, recursively) or a quoted glob. ``--jobs N``
analyzes several captures on N processes, one capture per process, or splits a lone
capture across N processes by connection; ``--dask ADDRESS`` runs the per-capture tasks on
a Dask cluster (``local:N`` starts one here); see docs/parallel.md. The output is the same
bytes as without them.

Exit status: 0 when every capture was read to its end, whatever the findings say; 2 when a
capture could not be read (missing, not a capture, truncated, corrupt, or its task failed:
one line on stderr each, and the report still covers every packet before the problem), a
folder or glob named no capture, or the key log could not be read at all (nothing is
analyzed then).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from types import TracebackType
from typing import Final, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ..analysis import AnalysisResult, FlowResult, JsonReport, cross_connection_findings
from ..analysis.analyzer import frozen_gc, relaxed_gc
from ..analysis.dask_backend import DaskUnavailableError, analyze_dask
from ..analysis.hashsplit import SplitWorkerError, analyze_split
from ..analysis.jsontext import write_json
from ..analysis.parallel import (
    STDIN,
    CaptureOutcome,
    TaskOptions,
    analyze_pool,
    expand_inputs,
    make_tasks,
)
from ..analysis.streaming import analyze_streaming
from ..capture.reader import CaptureSource
from ..errors import KeyLogError
from ..keylog import KEYLOG_ENV, KeyLog
from . import COMMANDS
from .dataset import ParquetDataset, is_dataset_target
from .export import JsonLines, ParquetTable
from .render import Summary, make_console

__all__ = ["HELP", "PROGRESS_DELAY", "configure", "load_keylog", "run"]

HELP: Final = COMMANDS["analyze"]
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
        "2 when a capture or the key log could not be read, a capture's task failed, or a "
        "folder or glob named no capture (the report still covers every packet read before "
        "the problem, and the other captures)."
    )
    parser.add_argument(
        "captures",
        nargs="+",
        metavar="CAPTURE",
        help="pcap or pcapng files, folders (their captures, recursively) or quoted globs "
        "('-': stdin)",
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
    output.add_argument(
        "--parquet",
        metavar="OUT",
        help="write the connections table to the file OUT; to a dataset partitioned by "
        "capture (connections, findings, captures) when OUT is a folder or ends with '/'",
    )
    parser.add_argument(
        "--payload", action="store_true", help="include the decrypted application data"
    )
    workers = parser.add_mutually_exclusive_group()
    workers.add_argument(
        "--jobs",
        "-j",
        type=_jobs,
        default=1,
        metavar="N",
        help="worker processes: one capture per process, or a lone capture split by "
        "connection (0: one per CPU; default 1)",
    )
    workers.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run one task per capture on the Dask cluster at ADDRESS (local:N: N worker "
        "processes here); the workers read captures and key log by their paths",
    )


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value or os.cpu_count() or 1


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
            self._progress = _progress_bar(DownloadColumn())
            self._progress.start()
        if self._task is None:
            self._task = self._progress.add_task(self._name, total=total)
        self._progress.update(self._task, completed=done)


def _progress_bar(counter: ProgressColumn) -> Progress:
    """A transient bar on stderr: description, bar, ``counter``, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        counter,
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )


class _CaptureCounter:
    """Captures done of a parallel run, as a progress bar on stderr (only on a terminal)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = _progress_bar(MofNCompleteColumn())
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=total)
        assert self._task is not None
        self._progress.update(self._task, completed=done)
        if done >= total:
            self.stop()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class _Output(Protocol):
    def flow(self, capture: int, flow: FlowResult) -> None: ...


class _ParquetOutput:
    def __init__(self, table: ParquetTable, names: list[str]) -> None:
        self.table = table
        self.names = names

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.table.flow(capture, self.names[capture], flow)


class _DatasetOutput:
    def __init__(self, dataset: ParquetDataset) -> None:
        self.dataset = dataset

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.dataset.flow(capture, flow)


def _parallel(
    args: argparse.Namespace, names: list[str], bar: _ProgressBar
) -> Iterator[CaptureOutcome] | None:
    """The outcomes of a run on several processes (None for a run in this process); they
    are replayed into the outputs, which then write what a run in this process writes."""
    if args.dask is None and (args.jobs <= 1 or not names):
        return None
    keylog = args.keylog if args.keylog is not None else os.environ.get(KEYLOG_ENV) or None
    options = TaskOptions.with_keylog(keylog, payload=args.payload, keep_flows=False)
    tasks = make_tasks(names)
    if args.dask is not None:
        counter = _CaptureCounter(sys.stderr.isatty(), f"{len(tasks)} captures on {args.dask}")
        return analyze_dask(tasks, options, address=args.dask, on_done=counter)
    if len(tasks) == 1:
        bar.capture(names[0])
        source: CaptureSource = sys.stdin.buffer if names[0] == STDIN else names[0]
        outcome = analyze_split(source, shares=args.jobs, options=options, progress=bar)
        return iter([outcome])
    counter = _CaptureCounter(sys.stderr.isatty(), f"{len(tasks)} captures, {args.jobs} jobs")
    return analyze_pool(tasks, options, jobs=args.jobs, on_done=counter)


def run(args: argparse.Namespace) -> int:
    # The collector's raised threshold lasts until the output is written. Were it restored
    # when the analysis ends, the next allocation would set off a collection of everything
    # the analysis left alive (0.18 s on the bench's capture); inside, frozen_gc() moves
    # that into the permanent generation first, and out to the oldest one at its end.
    with relaxed_gc():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        keylog = load_keylog(args.keylog)
    except KeyLogError as exc:
        _warn(str(exc))
        return 2
    status = 0
    inputs = expand_inputs(args.captures)
    for problem in inputs.problems:
        _warn(problem)
        status = 2
    names = list(inputs.paths)
    if not names:
        return status
    if STDIN in names and (args.dask is not None or (args.jobs > 1 and len(names) > 1)):
        _warn(
            "'-' (standard input) cannot go to worker processes: analyze it alone "
            "(--jobs N then splits it by connection) or without --jobs and --dask"
        )
        return 2
    if not args.json:
        return _analyze(args, keylog, names, status, None)
    with closing(JsonReport()) as report:  # its temporary file goes at the end
        return _analyze(args, keylog, names, status, report)


def _analyze(
    args: argparse.Namespace,
    keylog: KeyLog | None,
    names: list[str],
    status: int,
    report: JsonReport | None,
) -> int:
    summary: Summary | None = None
    lines: JsonLines | None = None
    table: ParquetTable | None = None
    dataset: ParquetDataset | None = None
    output: _Output
    if report is not None:
        output = report
    elif args.jsonl:
        output = lines = JsonLines(sys.stdout)
    elif args.parquet is not None and is_dataset_target(args.parquet):
        dataset = ParquetDataset(args.parquet, names)
        output = _DatasetOutput(dataset)
    elif args.parquet is not None:
        table = ParquetTable()
        output = _ParquetOutput(table, names)
    else:
        output = summary = Summary(payload=args.payload)
    results: list[AnalysisResult] = []

    def capture_done(index: int, result: AnalysisResult, counted: int) -> None:
        nonlocal status
        for error in result.capture_errors:
            _warn(str(error))
            status = 2
        if lines is not None:
            lines.capture(index, result, counted)
        if summary is not None:
            summary.capture(result)
        if dataset is not None:
            dataset.capture(index, result, counted)
        if report is not None:
            report.capture(index, result, counted)
        results.append(result)

    with _ProgressBar(sys.stderr.isatty()) as bar:
        try:
            outcomes = _parallel(args, names, bar)
            for outcome in outcomes or ():
                for flow in outcome.handed_out:
                    output.flow(outcome.index, flow)
                capture_done(outcome.index, outcome.result, len(outcome.handed_out))
        except (DaskUnavailableError, SplitWorkerError) as exc:
            _warn(str(exc))
            return 2
        if outcomes is None:
            for index, path in enumerate(names):
                bar.capture(path)
                counted = 0

                def on_flow(flow: FlowResult, index: int = index) -> None:
                    nonlocal counted
                    counted += 1
                    output.flow(index, flow)

                source: CaptureSource = sys.stdin.buffer if path == STDIN else path
                result = analyze_streaming(
                    source,
                    keylog=keylog,
                    payload=args.payload,
                    capture=index,
                    on_flow=on_flow,
                    keep_flows=False,
                    progress=bar,
                )
                capture_done(index, result, counted)
    # What is alive now stays alive until the output is written: the collector need not
    # walk it again while the output is built (0.23 s of the bench summary's rendering).
    with frozen_gc():
        if report is not None:
            write_json(report.document(), sys.stdout)
            sys.stdout.write("\n")
            return status
        cross = cross_connection_findings(s for r in results for s in r.summaries)
        if lines is not None:
            lines.finish(cross)
        elif dataset is not None:
            dataset.cross(cross)
            try:
                written = dataset.write()
            except (OSError, ValueError) as exc:
                _warn(f"cannot write {args.parquet}: {exc}")
                return 2
            sys.stdout.write(
                f"{written.connections} connections, {written.findings} findings, "
                f"{written.captures} captures -> {args.parquet}\n"
            )
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
