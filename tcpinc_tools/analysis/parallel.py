"""Many captures at once: inputs (files, folders, globs) and a local process pool.

The unit of work is one capture (:class:`CaptureTask`), analyzed in a worker process by
:func:`analyze_task` exactly as a one-process run analyzes it
(:func:`~.streaming.analyze_streaming`); the worker returns a :class:`CaptureOutcome`: the
:class:`~.model.AnalysisResult` and the connections in the order that run hands them out.
:func:`analyze_pool` runs the tasks on N processes and gives the outcomes back in input
order, whatever order they finish in, so that a consumer that replays them
(``tcpinc analyze --jobs N``) writes byte for byte what ``--jobs 1`` writes. Findings that
cross captures are not computed here: they come from the small per-flow summaries of every
outcome afterwards (:func:`~.cross.cross_connection_findings`), no packet leaves its worker.

>>> inputs = expand_inputs(["captures/", "more/*.pcapng"])        # doctest: +SKIP
>>> tasks = make_tasks(inputs.paths)                              # doctest: +SKIP
>>> options = TaskOptions.with_keylog("k.keys")
>>> for outcome in analyze_pool(tasks, options, jobs=2):          # doctest: +SKIP
...     print(outcome.result.capture.name, len(outcome.handed_out))

Workers are forked from a fork server that has imported the analysis and the caller's main
module once (:func:`worker_context`; not from the caller, which may run threads: a progress
bar), and each loads the key log from its path once (:func:`worker_keylog`); the key log is
never pickled. A task that raises (a bug, or
a worker that died) gives a failed outcome for its capture (:func:`failed_outcome`): one
error line like an unreadable capture's, and the other captures are still analyzed.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Final

from ..capture.expiry import LINGER
from ..capture.packet import CaptureStats
from ..errors import CaptureError
from ..keylog import KeyLog
from .model import AnalysisResult, CaptureInfo, FlowResult, make_finding
from .streaming import analyze_streaming

__all__ = [
    "CAPTURE_SUFFIXES",
    "STDIN",
    "WINDOW_PER_JOB",
    "CaptureOutcome",
    "CaptureTask",
    "InputList",
    "OutcomeCallback",
    "TaskOptions",
    "analyze_pool",
    "analyze_serial",
    "analyze_task",
    "expand_inputs",
    "failed_outcome",
    "forget_keylogs",
    "make_tasks",
    "worker_context",
    "worker_keylog",
]

# What a folder contributes: files with these suffixes (any case), in sorted path order.
CAPTURE_SUFFIXES: Final = (".pcap", ".pcapng", ".cap")
# The name that reads a capture from standard input.
STDIN: Final = "-"
# Tasks submitted ahead of the next outcome to give out, per worker: enough to keep every
# worker busy behind one slow capture, few enough that finished outcomes waiting for it
# (they are given out in input order) do not pile up.
WINDOW_PER_JOB: Final = 4
_GLOB_MAGIC: Final = frozenset("*?[")

# Called as each capture finishes, in finishing order: (captures done, captures in all).
OutcomeCallback = Callable[[int, int], None]


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputList:
    """Capture paths in the order given, folders and globs expanded; ``problems`` are the
    inputs that gave none (one line each, fit for stderr)."""

    paths: tuple[str, ...]
    problems: tuple[str, ...] = ()


def _folder(folder: str) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [
            os.path.join(root, name)
            for name in sorted(files)
            if name.lower().endswith(CAPTURE_SUFFIXES)
        ]
    return found


def expand_inputs(inputs: Iterable[str]) -> InputList:
    """Each input in turn: a folder gives the captures under it (recursively, sorted by
    path, :data:`CAPTURE_SUFFIXES`); a glob (``*``, ``?``, ``[``; ``**`` recurses) that
    names no existing file gives its matches, sorted, folders among them expanded; anything
    else is taken as it is (a missing file is then reported by the reader, as without this
    expansion). A folder or glob that gives nothing is a problem, not an error."""
    paths: list[str] = []
    problems: list[str] = []
    for item in inputs:
        if item == STDIN or os.path.isfile(item):
            paths.append(item)
        elif os.path.isdir(item):
            found = _folder(item)
            if not found:
                suffixes = ", ".join(f"*{s}" for s in CAPTURE_SUFFIXES)
                problems.append(f"{item}: no capture in this folder ({suffixes})")
            paths += found
        elif _GLOB_MAGIC & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            found = []
            for match in matches:
                found += _folder(match) if os.path.isdir(match) else [match]
            if not found:
                problems.append(f"{item}: no capture matches this pattern")
            paths += found
        else:
            paths.append(item)
    return InputList(tuple(paths), tuple(problems))


# -- tasks and outcomes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptureTask:
    """One capture to analyze: ``index`` is its position among the inputs (the ``capture``
    tag of its flows), ``name`` the path as given (how the report names it), ``path`` where
    a worker opens it (absolute: a worker may run in another directory)."""

    index: int
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """What every task of one run shares. ``keylog`` is the key log's path as given and
    ``keylog_path`` the same made absolute (each worker reads the file; on a cluster, a
    path the workers share: :meth:`with_keylog` sets both); ``keep_flows`` keeps the flows
    in the result too (as :func:`~.streaming.analyze_streaming` does), besides
    ``handed_out``."""

    keylog: str | None = None
    keylog_path: str | None = None
    payload: bool = False
    keep_flows: bool = True
    linger: float = LINGER

    @classmethod
    def with_keylog(cls, keylog: str | None, **options: Any) -> TaskOptions:
        """Options for the key log at ``keylog`` (as given; None for none)."""
        absolute = os.path.abspath(keylog) if keylog is not None else None
        return cls(keylog, absolute, **options)


@dataclass(slots=True)
class CaptureOutcome:
    """One analyzed capture: ``result`` as a one-process run gets it, and ``handed_out``,
    its connections in the order that run hands them out (as they finish)."""

    index: int
    result: AnalysisResult
    handed_out: list[FlowResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """The capture could not be read to its end (or its task failed)."""
        return bool(self.result.capture_errors)


def make_tasks(paths: Sequence[str]) -> list[CaptureTask]:
    """A task per path, in order; ``path`` made absolute against this process's directory."""
    return [
        CaptureTask(index, name, name if name == STDIN else os.path.abspath(name))
        for index, name in enumerate(paths)
    ]


def failed_outcome(task: CaptureTask, reason: str) -> CaptureOutcome:
    """The outcome of a task that could not run to its end (its worker died, a bug): no
    flows, and ``reason`` as the capture's error (reported like an unreadable capture)."""
    error = CaptureError(f"{task.name}: analysis failed: {reason}")
    info = CaptureInfo(task.name, None, CaptureStats(), error=str(error))
    result = AnalysisResult(
        capture=info,
        findings=[make_finding("tcpinc.capture.error", str(error))],
        capture_errors=[error],
        tag=task.index,
    )
    return CaptureOutcome(task.index, result)


# -- the work of one task --------------------------------------------------------------------

# The key logs this process has read: path -> ((size, mtime), KeyLog).
_KEYLOGS: dict[str, tuple[tuple[int, int], KeyLog]] = {}


def worker_keylog(options: TaskOptions) -> KeyLog | None:
    """The run's key log (None without one), read once per process and again only when the
    file changes; by its path as given when that names the same file here (so that its
    findings name it as a one-process run does), else by the absolute path. Raises
    :class:`~tcpinc_tools.errors.KeyLogError` if it cannot be read."""
    given = options.keylog
    if given is None:
        return None
    path = given
    if options.keylog_path is not None and os.path.abspath(given) != options.keylog_path:
        path = options.keylog_path
    try:
        stat = os.stat(path)
        stamp = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        stamp = (-1, -1)  # KeyLog.load reports the problem
    known = _KEYLOGS.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    keylog = KeyLog.load(path)
    _KEYLOGS[path] = (stamp, keylog)
    return keylog


def forget_keylogs() -> None:
    """Drop the key logs this process has read: the next task reads its key log again."""
    _KEYLOGS.clear()


def _open_path(task: CaptureTask) -> str:
    """The path to open: the name as given when it means the same file here (so that the
    report and error messages name it as a one-process run does), else the absolute path."""
    if task.name == STDIN or os.path.isabs(task.name) or os.path.abspath(task.name) == task.path:
        return task.name
    return task.path


def analyze_task(task: CaptureTask, options: TaskOptions) -> CaptureOutcome:
    """Analyze one capture (in a worker, or in this process): see the module doc.
    :data:`STDIN` reads this process's standard input (only sensible in the caller)."""
    keylog = worker_keylog(options)
    handed_out: list[FlowResult] = []
    path = _open_path(task)
    result = analyze_streaming(
        sys.stdin.buffer if path == STDIN else path,
        keylog=keylog,
        payload=options.payload,
        capture=task.index,
        on_flow=handed_out.append,
        keep_flows=options.keep_flows,
        linger=options.linger,
    )
    if path != task.name:
        _rename(result, path, task.name)
    return CaptureOutcome(task.index, result, handed_out)


def _rename(result: AnalysisResult, opened: str, name: str) -> None:
    """Name a capture opened by its absolute path as the caller named it."""
    info = result.capture

    def fix(text: str) -> str:
        return name + text[len(opened) :] if text.startswith(opened) else text

    errors = [CaptureError(fix(e.message), offset=e.offset) for e in result.capture_errors]
    result.capture = CaptureInfo(
        name,
        info.format,
        info.stats,
        fix(info.error) if info.error is not None else None,
        info.error_offset,
        info.size,
    )
    result.capture_errors = errors
    result.findings = [
        make_finding("tcpinc.capture.error", str(errors[0]))
        if f.id == "tcpinc.capture.error" and errors
        else f
        for f in result.findings
    ]


# -- running many ----------------------------------------------------------------------------


def analyze_serial(
    tasks: Sequence[CaptureTask],
    options: TaskOptions,
    *,
    on_done: OutcomeCallback | None = None,
) -> Iterator[CaptureOutcome]:
    """The tasks one after the other in this process (the reference for the others)."""
    for done, task in enumerate(tasks, start=1):
        outcome = analyze_task(task, options)
        if on_done is not None:
            on_done(done, len(tasks))
        yield outcome


def worker_context() -> multiprocessing.context.ForkServerContext:
    """How worker processes start: forked from a fork server that has imported the analysis
    and the caller's main module once (fast to start; and safe when the caller runs threads,
    which fork alone is not)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "tcpinc_tools.analysis.hashsplit"])
    return ctx


def analyze_pool(
    tasks: Sequence[CaptureTask],
    options: TaskOptions,
    *,
    jobs: int,
    on_done: OutcomeCallback | None = None,
    task: Callable[[CaptureTask, TaskOptions], CaptureOutcome] = analyze_task,
) -> Iterator[CaptureOutcome]:
    """The tasks on ``jobs`` worker processes, one capture per task; outcomes in the order
    of ``tasks`` (see the module doc). ``on_done`` is called as each one finishes.
    ``task`` is the function a worker runs (a module-level function: it is pickled)."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if jobs == 1 or len(tasks) <= 1:
        yield from analyze_serial(tasks, options, on_done=on_done)
        return
    window = jobs * WINDOW_PER_JOB
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=worker_context(),
    ) as pool:
        running: dict[Future[CaptureOutcome], int] = {}
        ready: dict[int, CaptureOutcome] = {}
        submitted = emitted = done = 0
        while emitted < len(tasks):
            while submitted < len(tasks) and submitted < emitted + window:
                try:
                    running[pool.submit(task, tasks[submitted], options)] = submitted
                except BrokenProcessPool as exc:  # a worker died: the pool takes no more
                    ready[submitted] = failed_outcome(tasks[submitted], _reason(exc))
                    done += 1
                    if on_done is not None:
                        on_done(done, len(tasks))
                submitted += 1
            if emitted not in ready:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    position = running.pop(future)
                    ready[position] = _collect(future, tasks[position])
                    done += 1
                    if on_done is not None:
                        on_done(done, len(tasks))
                continue
            yield ready.pop(emitted)
            emitted += 1


def _collect(future: Future[CaptureOutcome], task: CaptureTask) -> CaptureOutcome:
    try:
        return future.result()
    except Exception as exc:  # a bug in the analysis, or a worker that died
        return failed_outcome(task, _reason(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return "a worker process died"
    return f"{type(exc).__name__}: {exc}"
