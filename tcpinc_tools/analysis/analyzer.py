"""The capture analyzer: packets in, per-connection results and findings out.

>>> result = analyze_capture("fresh.pcap", keylog=KeyLog.load("fresh.keys"))  # doctest: +SKIP
>>> for flow in result.flows:                                                  # doctest: +SKIP
...     print(flow.id, flow.eno.status if flow.eno else "plain", flow.tcpcrypt)

Streaming use (bounded memory: a flow's state is dropped when the flow table ends it, and
finished results can be taken out as they come)::

    analyzer = Analyzer(keylog)
    for pkt in read_packets(path):
        analyzer.feed(pkt)
        for flow in analyzer.take_finished():
            emit(flow)
    result = analyzer.finish()          # the flows not taken yet, and the rest

The analysis never raises on packet content: a decode error becomes a finding (expert id,
severity, message, packet number). A capture file that cannot be read on stops the read;
:func:`analyze_capture` still returns everything decoded before it, with the error in
``result.capture_errors``.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final

from ..capture.flows import FlowLimits, FlowTable, FlowUpdate
from ..capture.packet import CaptureStats, TcpPacket
from ..capture.reader import CaptureReader, CaptureSource, capture_name
from ..capture.stream import DEFAULT_LIMITS
from ..errors import CaptureError
from ..keylog import KeyLog
from .cross import cross_connection_findings
from .flow_analysis import AnalysisContext, FlowAnalysis
from .model import AnalysisResult, CaptureInfo, Finding, FlowResult, FlowSummary, StreamRecord
from .model import make_finding as _make_finding

__all__ = [
    "DEFAULT_PAYLOAD_LIMIT",
    "PROGRESS_EVERY",
    "Analyzer",
    "analyze_capture",
    "capture_size",
    "frozen_gc",
    "paused_gc",
    "read_capture",
    "relaxed_gc",
]

# Plaintext kept per direction with payload=True: a bulk transfer must not fill the memory.
DEFAULT_PAYLOAD_LIMIT: Final = 16 << 20
# Packets between two progress reports.
PROGRESS_EVERY: Final = 4096
# The cyclic collector's first threshold while a capture is analyzed (Python's default: 700).
# The analysis frees what it drops by reference counting: it makes no reference cycles on
# the sample captures (tests/unit/analysis/test_gc_blocks.py checks it), a few dozen objects
# on a damaged one. A young collection therefore finds nothing and only walks what is alive
# (open flows, the summaries kept for the cross-connection findings) again and again: at
# Python's default that was ~15% of the time, at 50,000 still ~9% (0.2 s on the bench's
# 300,000 packets). Were the objects counted all garbage, they would hold about 50 MB.
GC_YOUNG_THRESHOLD: Final = 500_000


class _Blocks:
    """The open blocks of one kind (:func:`relaxed_gc`, :func:`frozen_gc`), nested or in
    several threads: the first to open sets the collector up, the last to close restores it."""

    def __init__(self, enter: Callable[[], None], leave: Callable[[], None]) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.enter = enter
        self.leave = leave


@contextmanager
def _block(blocks: _Blocks) -> Iterator[None]:
    """One block of ``blocks``' kind."""
    with blocks.lock:
        if blocks.depth == 0:
            blocks.enter()
        blocks.depth += 1
    try:
        yield
    finally:
        with blocks.lock:
            blocks.depth -= 1
            if blocks.depth == 0:
                blocks.leave()


class _Threshold:
    """Raises the collector's first threshold, and puts back the one it found."""

    def __init__(self) -> None:
        self.saved = gc.get_threshold()

    def raise_it(self) -> None:
        self.saved = gc.get_threshold()
        young, *older = self.saved
        gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)

    def restore(self) -> None:
        gc.set_threshold(*self.saved)


class _Switch:
    """Turns the collector off, and back on if it was on."""

    def __init__(self) -> None:
        self.was_enabled = gc.isenabled()

    def off(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def back(self) -> None:
        if self.was_enabled:
            gc.enable()


_THRESHOLD: Final = _Threshold()
_SWITCH: Final = _Switch()
_RELAXED: Final = _Blocks(_THRESHOLD.raise_it, _THRESHOLD.restore)
_FROZEN: Final = _Blocks(gc.freeze, gc.unfreeze)
_PAUSED: Final = _Blocks(_SWITCH.off, _SWITCH.back)


def relaxed_gc() -> AbstractContextManager[None]:
    """Raise the collector's first threshold to :data:`GC_YOUNG_THRESHOLD` for the block
    (never lower it); nested and concurrent blocks restore it when the last one ends."""
    return _block(_RELAXED)


def paused_gc() -> AbstractContextManager[None]:
    """The collector off for the block (back on when the last nested block ends, if it was
    on): for taking in the results of worker processes, a few hundred thousand objects and
    no cycle, which it would otherwise walk again and again."""
    return _block(_PAUSED)


def frozen_gc() -> AbstractContextManager[None]:
    """Move every object alive on entry out of the collector's sight for the block
    (:func:`gc.freeze`), and back when the last nested block ends (:func:`gc.unfreeze`).

    For the output phase of a command: an analysis leaves hundreds of thousands of live
    objects (summaries, indexes, memos), and each full collection that the rendering's
    allocations trigger would walk all of them again. Objects made inside the block are
    collected as usual; the frozen ones are freed by reference counting, and a cycle among
    them waits until the block ends.
    """
    return _block(_FROZEN)


class Analyzer:
    """Analyzes the packets of one capture, in file order (see the module doc).

    ``keylog``: session secrets for decryption. ``payload``: keep the decrypted application
    data (``plaintext_*``). ``capture``: the tag the flow summaries carry (the capture's
    position when several are merged). ``frame_sink``: called with every Init message and
    frame as it is delimited (for ``decrypt`` / ``follow``). ``table``: the flow table to
    use (by default a :class:`~tcpinc_tools.capture.flows.FlowTable` with ``limits``).
    """

    def __init__(
        self,
        keylog: KeyLog | None = None,
        *,
        payload: bool = False,
        capture: int = 0,
        name: str = "<packets>",
        limits: FlowLimits = DEFAULT_LIMITS,
        payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
        frame_sink: Callable[[StreamRecord], None] | None = None,
        table: FlowTable | None = None,
    ) -> None:
        self.keylog = keylog
        self.name = name
        self.capture = capture
        self.table: FlowTable = table if table is not None else FlowTable(limits=limits)
        self._ctx = AnalysisContext(keylog, payload, payload_limit, frame_sink, capture)
        self._active: dict[int, FlowAnalysis] = {}
        self._finished: list[FlowResult] = []
        self.summaries: list[FlowSummary] = []
        self.packets = 0
        self.flows_done = 0

    @property
    def active_flows(self) -> int:
        """Flows whose state is held (not yet ended by the flow table)."""
        return len(self._active)

    def feed(self, pkt: TcpPacket) -> None:
        """One TCP segment of the capture, in file order."""
        self.packets += 1
        update = self.table.add(pkt)
        if update.ended:
            self._end(update.ended)
        flow = update.flow
        analysis = self._active.get(flow.id)
        if analysis is None:
            analysis = self._active[flow.id] = FlowAnalysis(flow, self._ctx, pkt.number)
        analysis.on_packet(pkt, update)

    def feed_all(self, packets: Iterable[TcpPacket]) -> None:
        for pkt in packets:
            self.feed(pkt)

    def take_finished(self) -> list[FlowResult]:
        """The flows finished since the last call, by end order; they are not kept."""
        done, self._finished = self._finished, []
        return done

    def _end(self, updates: Iterable[FlowUpdate]) -> None:
        by_flow: dict[int, list[FlowUpdate]] = {}
        for update in updates:
            by_flow.setdefault(update.flow.id, []).append(update)
        for flow_id, flow_updates in by_flow.items():
            analysis = self._active.pop(flow_id, None)
            if analysis is None:
                continue
            for update in flow_updates:
                analysis.on_final(update)
            result, summary = analysis.finish()
            analysis.release()
            self._finished.append(result)
            self.summaries.append(summary)
            self.flows_done += 1

    def finish(
        self, *, capture_info: CaptureInfo | None = None, error: CaptureError | None = None
    ) -> AnalysisResult:
        """End every flow; the flows not taken yet, the cross-connection findings (among
        this analyzer's flows), and what belongs to no flow (key log lines, ``error``)."""
        self._end(self.table.flush())
        info = capture_info or CaptureInfo(self.name, None, CaptureStats())
        findings = self.keylog_findings()
        if error is not None:
            findings.append(_make_finding("tcpinc.capture.error", str(error)))
        flows = sorted(self.take_finished(), key=lambda f: f.id)
        return AnalysisResult(
            capture=info,
            flows=flows,
            findings=findings,
            summaries=list(self.summaries),
            capture_errors=[error] if error is not None else [],
            cross=cross_connection_findings(self.summaries),
            tag=self.capture,
        )

    def keylog_findings(self) -> list[Finding]:
        """The key log's unusable lines and notes, as findings."""
        if self.keylog is None:
            return []
        out = [_make_finding("tcpinc.keylog.bad_line", str(e)) for e in self.keylog.errors]
        out += [_make_finding("tcpinc.keylog.note", note) for note in self.keylog.notes]
        return out


def analyze_capture(
    path: CaptureSource,
    *,
    keylog: KeyLog | None = None,
    payload: bool = False,
    progress: Callable[[int, int], None] | None = None,
    capture: int = 0,
    frame_sink: Callable[[StreamRecord], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> AnalysisResult:
    """Analyze a whole capture file (or binary file object).

    ``progress(done, total)`` is called every ``progress_every`` packets and at the end
    with bytes of the file read and its size (0 when unknown). A file that cannot be read on
    (missing, not a capture, truncated, corrupt) does not raise: the result holds what was
    decoded before the problem and the error in ``capture_errors``.
    """
    name = capture_name(path)
    analyzer = Analyzer(keylog, payload=payload, capture=capture, name=name, frame_sink=frame_sink)
    with relaxed_gc():  # the collector would walk every open flow again and again
        info, error = read_capture(analyzer, path, progress=progress, progress_every=progress_every)
        return analyzer.finish(capture_info=info, error=error)


def capture_size(path: CaptureSource) -> int | None:
    """The size of a capture file in bytes; None for a file object or a file that is not
    there (the reader then says why)."""
    if isinstance(path, str | os.PathLike):
        try:
            return os.path.getsize(path)
        except OSError:
            return None
    return None


def read_capture(
    analyzer: Analyzer,
    path: CaptureSource,
    *,
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
    after_packet: Callable[[], None] | None = None,
) -> tuple[CaptureInfo, CaptureError | None]:
    """Feed every packet of ``path`` to ``analyzer`` (calling ``after_packet`` after each),
    up to the end or to the first record that cannot be read: the capture's description and
    that error. ``progress`` as in :func:`analyze_capture`."""
    size = capture_size(path)
    reader = CaptureReader(path)
    error: CaptureError | None = None
    feed = analyzer.feed
    try:
        for count, pkt in enumerate(reader, start=1):
            feed(pkt)
            if after_packet is not None:
                after_packet()
            if progress is not None and count % progress_every == 0:
                progress(reader.position, size or 0)
    except CaptureError as exc:
        error = exc
    if progress is not None:
        progress(reader.position, size or 0)
    info = CaptureInfo(
        name=analyzer.name,
        format=reader.format,
        stats=reader.stats,
        error=str(error) if error is not None else None,
        error_offset=error.offset if error is not None else None,
        size=size,
    )
    return info, error
