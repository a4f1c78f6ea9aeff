"""Analyzing a capture with each connection handed out as soon as it is finished.

:func:`analyze_streaming` is :func:`~.analyzer.analyze_capture` for consumers that report
flows as they go (``tcpinc analyze --jsonl``) and for long captures: its analyzer ends a
closed connection once it has been quiet for :data:`~tcpinc_tools.capture.expiry.LINGER`
seconds of capture time (:class:`~tcpinc_tools.capture.expiry.ExpiringFlowTable`), calls
``on_flow`` with its result at once, and keeps nothing of it but the small summary the
cross-connection checks need. Memory then follows the connections open at one time, not
the length of the capture.

>>> result = analyze_streaming("big.pcap", on_flow=print, keep_flows=False)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..capture.expiry import LINGER, ExpiringFlowTable, UpdateObserver
from ..capture.packet import TcpPacket
from ..capture.reader import CaptureSource, capture_name
from ..capture.stream import DEFAULT_LIMITS
from ..keylog import KeyLog
from .analyzer import PROGRESS_EVERY, Analyzer, read_capture, relaxed_gc
from .model import AnalysisResult, FlowResult, StreamRecord

__all__ = ["EXPIRE_INTERVAL", "StreamingAnalyzer", "analyze_streaming"]

# Seconds of capture time between two looks for flows to end (one look is cheap: it stops at
# the first recently active flow).
EXPIRE_INTERVAL: Final = 1.0


class StreamingAnalyzer(Analyzer):
    """An :class:`~.analyzer.Analyzer` whose flow table ends closed, quiet flows; their
    results come out of :meth:`take_finished` while the capture is still being read."""

    def __init__(
        self,
        keylog: KeyLog | None = None,
        *,
        payload: bool = False,
        capture: int = 0,
        name: str = "<packets>",
        linger: float = LINGER,
        frame_sink: Callable[[StreamRecord], None] | None = None,
        observer: UpdateObserver | None = None,
        table: ExpiringFlowTable | None = None,
    ) -> None:
        self.expiring: ExpiringFlowTable = (
            table
            if table is not None
            else ExpiringFlowTable(limits=DEFAULT_LIMITS, linger=linger, observer=observer)
        )
        super().__init__(
            keylog,
            payload=payload,
            capture=capture,
            name=name,
            frame_sink=frame_sink,
            table=self.expiring,
        )
        self._next_expiry: float | None = None

    def feed(self, pkt: TcpPacket) -> None:
        super().feed(pkt)
        ts = pkt.ts
        if self._next_expiry is None:
            self._next_expiry = ts + EXPIRE_INTERVAL
        elif ts >= self._next_expiry:
            self._next_expiry = ts + EXPIRE_INTERVAL
            ended = self.expiring.expire(ts)
            if ended:
                self._end(ended)


def analyze_streaming(
    path: CaptureSource,
    *,
    keylog: KeyLog | None = None,
    payload: bool = False,
    capture: int = 0,
    on_flow: Callable[[FlowResult], None] | None = None,
    keep_flows: bool = True,
    progress: Callable[[int, int], None] | None = None,
    frame_sink: Callable[[StreamRecord], None] | None = None,
    observer: UpdateObserver | None = None,
    linger: float = LINGER,
    progress_every: int = PROGRESS_EVERY,
) -> AnalysisResult:
    """Analyze a capture file (or binary file object), calling ``on_flow`` with each
    connection as it finishes (in the order they finish; the rest at the end, by id).

    The result is :func:`~.analyzer.analyze_capture`'s, with ``flows`` holding every flow
    by id when ``keep_flows`` is set and none otherwise. ``progress(done, total)`` gets
    the bytes read and the file size (0 when unknown) every ``progress_every`` packets and
    at the end. ``frame_sink`` gets every tcpcrypt message and frame as it is delimited,
    ``observer`` every flow-table update (see
    :class:`~tcpinc_tools.capture.expiry.ExpiringFlowTable`). A capture that cannot be read
    on does not raise: the error is in
    ``capture_errors``, and every flow decoded before it is still handed out.
    """
    name = capture_name(path)
    analyzer = StreamingAnalyzer(
        keylog,
        payload=payload,
        capture=capture,
        name=name,
        linger=linger,
        frame_sink=frame_sink,
        observer=observer,
    )
    out = _HandOut(analyzer, on_flow, keep_flows)
    with relaxed_gc():  # the collector would walk every open flow again and again
        info, error = read_capture(
            analyzer,
            path,
            progress=progress,
            progress_every=progress_every,
            after_packet=out.after_packet,
        )
        result = analyzer.finish(capture_info=info, error=error)
        out.flows(result.flows)
        result.flows = sorted(out.kept, key=_flow_id)
        return result


def _flow_id(flow: FlowResult) -> int:
    return flow.id


class _HandOut:
    """Hands each finished flow to ``on_flow`` (and keeps it, with ``keep_flows``).

    A class rather than closures: compiled with mypyc, closures share an environment object
    that refers back to them, so everything the analyzer held would wait for the cyclic
    collector instead of being freed when the analysis returns.
    """

    def __init__(
        self,
        analyzer: StreamingAnalyzer,
        on_flow: Callable[[FlowResult], None] | None,
        keep_flows: bool,
    ) -> None:
        self.analyzer = analyzer
        self.on_flow = on_flow
        self.keep_flows = keep_flows
        self.kept: list[FlowResult] = []
        self.done = 0

    def flows(self, flows: list[FlowResult]) -> None:
        for flow in flows:
            if self.on_flow is not None:
                self.on_flow(flow)
            if self.keep_flows:
                self.kept.append(flow)

    def after_packet(self) -> None:
        analyzer = self.analyzer
        if analyzer.flows_done != self.done:
            self.done = analyzer.flows_done
            self.flows(analyzer.take_finished())
