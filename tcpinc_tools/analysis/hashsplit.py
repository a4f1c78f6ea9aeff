"""One large capture split across worker processes by connection.

This process reads the capture and hands each TCP segment, as a compact record (the fields
the analysis reads, not the frame), to one of N worker processes, chosen by a *symmetric*
hash of the connection's addresses and ports (:func:`flow_share`: both directions of a
connection go to the same worker, as Zeek and Suricata clusters balance load). Each worker
analyzes its share with its own flow table and sends back its connections and their small
summaries; this process merges them into the :class:`~.parallel.CaptureOutcome` that a
one-process run (:func:`~.streaming.analyze_streaming`) gives, field for field:

- flow ids: a worker numbers a connection by the number of its first packet; the merge
  renumbers them 1, 2, ... in that order, which is the order in which one flow table
  numbers them (the ids inside findings and messages follow);
- the order connections are handed out: each worker notes when each of its connections
  ended (during which packet, by an expiry check after which packet, or at the end); the
  merge sorts by that, then by id, as the one flow table would have ended them;
- expiry: the reader runs the one-process schedule of expiry checks
  (:data:`~.streaming.EXPIRE_INTERVAL` of capture time) over *all* packets and sends each
  check to every worker at its place in the packet order, so a quiet closed connection ends
  at the same packet as in a one-process run, whatever the share's own packets;
- cross-connection findings: computed once, here, over the merged summaries; key log
  findings and the capture's error come from this process, which reads the file.

The output is identical to a one-process run's when the capture's timestamps do not go
backwards and no flow-table limit is reached (:class:`~tcpinc_tools.capture.flows.FlowLimits`:
65,536 connections, 256 MiB buffered): with timestamps out of order an expiry check may end
a different set of connections, and each worker has the limits to itself. Both give a
sound analysis, not necessarily the same bytes.

>>> options = TaskOptions(keylog="big.keys")
>>> outcome = analyze_split("big.pcap", shares=2, options=options)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import sys
import traceback
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Final

from ..capture.expiry import ExpiringFlowTable
from ..capture.flows import Flow, FlowUpdate
from ..capture.packet import TcpPacket
from ..capture.reader import CaptureReader, CaptureSource, capture_name
from ..capture.stream import ANOMALY_PORT_REUSE, DEFAULT_LIMITS
from ..errors import CaptureError, TcpincError
from .analyzer import PROGRESS_EVERY, Analyzer
from .cross import cross_connection_findings
from .model import AnalysisResult, CaptureInfo, Finding, FlowResult, FlowSummary
from .parallel import CaptureOutcome, TaskOptions, worker_context, worker_keylog
from .streaming import EXPIRE_INTERVAL, StreamingAnalyzer

__all__ = [
    "SPLIT_BATCH",
    "PacketRecord",
    "ShareAnalyzer",
    "ShareResult",
    "SplitWorkerError",
    "analyze_split",
    "flow_share",
    "merge_shares",
    "packet_record",
    "record_packet",
]

# Records per message to a worker: large enough that pickling and the pipe cost little per
# packet, small enough that a worker starts early and the reader holds little.
SPLIT_BATCH: Final = 512
# Connections whose share is remembered (the hash is then a dict look-up); cleared when full.
_ROUTES_MAX: Final = 1 << 16
# When a connection ended: (packet number, 0) while that packet was filed (a reused port
# pair, an eviction), (packet number, 1) at the expiry check after it, _AT_END at the end.
EndKey = tuple[int, int]
_AT_END: Final = (sys.maxsize, 0)
_PORT_REUSE_FLOW: Final = re.compile(r"(?<=port pair of flow )\d+")

# (number, ts, ip_version, src, dst, sport, dport, seq, ack, flags, window, urgent_pointer,
#  options, payload, truncated): a TcpPacket without its frame.
PacketRecord = tuple[
    int, float, int, str, str, int, int, int, int, int, int, int, bytes, bytes, bool
]
# An expiry check: (number of the packet it follows, that packet's timestamp).
_Tick = tuple[int, float]


class SplitWorkerError(TcpincError):
    """A worker of a split analysis failed or died: the message says which and why in one
    line; ``detail`` has the worker's traceback when there is one."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


def flow_share(src: str, sport: int, dst: str, dport: int, shares: int) -> int:
    """The worker (0 .. shares-1) of a connection: a CRC-32 of its two endpoints in a fixed
    order, so the same for both directions and for every run."""
    a = f"{src}|{sport}"
    b = f"{dst}|{dport}"
    key = f"{a}#{b}" if a <= b else f"{b}#{a}"
    return zlib.crc32(key.encode()) % shares


def packet_record(pkt: TcpPacket) -> PacketRecord:
    """The fields of ``pkt`` up to ``truncated`` (a plain tuple: cheap to pickle)."""
    return pkt[:15]


def record_packet(rec: PacketRecord) -> TcpPacket:
    """The packet of a record (no frame: ``tcp_offset`` 0, ``frame`` empty)."""
    return TcpPacket(*rec, 0, b"")


# -- a worker's share ------------------------------------------------------------------------


class _ShareFlowTable(ExpiringFlowTable):
    """A flow table that numbers each connection by the number of its first packet."""

    def _new_flow(self, key: tuple[tuple[str, int], tuple[str, int]], pkt: TcpPacket) -> Flow:
        self._next_id = pkt.number
        return super()._new_flow(key, pkt)


class ShareAnalyzer(StreamingAnalyzer):
    """The analyzer of one worker: packets of its share, expiry checks when told
    (:meth:`tick`), and for each connection when it ended (``ends``)."""

    def __init__(self, options: TaskOptions, *, capture: int = 0, name: str = "<share>") -> None:
        super().__init__(
            worker_keylog(options),
            payload=options.payload,
            capture=capture,
            name=name,
            linger=options.linger,
        )
        self.table = _ShareFlowTable(limits=DEFAULT_LIMITS, linger=options.linger)
        self.ends: dict[int, EndKey] = {}
        self._now: EndKey = (0, 0)

    def feed(self, pkt: TcpPacket) -> None:
        self._now = (pkt.number, 0)
        Analyzer.feed(self, pkt)  # not StreamingAnalyzer's: expiry comes from the reader

    def tick(self, number: int, ts: float) -> None:
        """The expiry check that follows packet ``number`` (of any share) at ``ts``."""
        self._now = (number, 1)
        ended = self.table.expire(ts)
        if ended:
            self._end(ended)

    def _end(self, updates: Iterable[FlowUpdate]) -> None:
        updates = list(updates)
        for update in updates:
            self.ends.setdefault(update.flow.id, self._now)
        super()._end(updates)

    def result(self) -> ShareResult:
        """End every connection still open; the share's connections and summaries."""
        self._now = _AT_END
        self._end(self.table.flush())
        return ShareResult(self.take_finished(), list(self.summaries), dict(self.ends))


@dataclass(frozen=True, slots=True)
class ShareResult:
    """What a worker sends back: its connections and their summaries (flow ids numbered by
    first packet), and when each connection ended."""

    flows: list[FlowResult]
    summaries: list[FlowSummary]
    ends: dict[int, EndKey]


def _worker(inbox: Connection, outbox: Connection, options: TaskOptions, capture: int) -> None:
    """A worker process: batches of records and ticks until None, then its ShareResult."""
    try:
        analyzer = ShareAnalyzer(options, capture=capture)
        feed, tick = analyzer.feed, analyzer.tick
        while True:
            batch: list[PacketRecord | _Tick] | None = inbox.recv()
            if batch is None:
                break
            for item in batch:
                if len(item) == 2:
                    tick(item[0], item[1])
                else:
                    feed(record_packet(item))
        outbox.send(("ok", analyzer.result()))
    except KeyboardInterrupt:  # the terminal's ^C reaches the workers too: the reader says it
        pass
    except BaseException:
        with contextlib.suppress(OSError):  # the reader is gone: nobody to tell
            outbox.send(("error", traceback.format_exc(limit=8)))
    finally:
        outbox.close()


# -- the merge -------------------------------------------------------------------------------


def _renumber_finding(finding: Finding, ids: dict[int, int]) -> Finding:
    flow = ids.get(finding.flow, finding.flow) if finding.flow is not None else None
    message = finding.message
    if finding.id == ANOMALY_PORT_REUSE:
        message = _PORT_REUSE_FLOW.sub(lambda m: str(ids.get(int(m[0]), int(m[0]))), message)
    if flow == finding.flow and message == finding.message:
        return finding
    return replace(finding, flow=flow, message=message)


def merge_shares(shares: Sequence[ShareResult]) -> tuple[list[FlowResult], list[FlowSummary]]:
    """The connections of every share renumbered as one flow table numbers them, in the
    order one analyzer hands them out; and their summaries, in the same order."""
    ends: dict[int, EndKey] = {}
    for share in shares:
        ends.update(share.ends)
    flows = [flow for share in shares for flow in share.flows]
    ids = {old: new for new, old in enumerate(sorted(f.id for f in flows), start=1)}
    renumbered = [
        replace(
            flow,
            id=ids[flow.id],
            findings=tuple(_renumber_finding(f, ids) for f in flow.findings),
        )
        for flow in flows
    ]
    order = {ids[old]: (end, ids[old]) for old, end in ends.items()}
    renumbered.sort(key=lambda f: order[f.id])
    summaries = [replace(s, flow=ids[s.flow]) for share in shares for s in share.summaries]
    summaries.sort(key=lambda s: order[s.flow])
    return renumbered, summaries


# -- the reader ------------------------------------------------------------------------------


class _Workers:
    """The worker processes and the pipes to and from them."""

    def __init__(self, shares: int, options: TaskOptions, capture: int) -> None:
        ctx = worker_context()
        self.inboxes: list[Connection] = []
        self.outboxes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(shares):
            inbox_r, inbox_w = ctx.Pipe(duplex=False)
            outbox_r, outbox_w = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_worker, args=(inbox_r, outbox_w, options, capture), daemon=True
            )
            process.start()
            inbox_r.close()
            outbox_w.close()
            self.inboxes.append(inbox_w)
            self.outboxes.append(outbox_r)
            self.processes.append(process)

    def send(self, share: int, batch: list[PacketRecord | _Tick] | None) -> None:
        try:
            self.inboxes[share].send(batch)
        except OSError:  # BrokenPipeError: the worker is gone
            raise SplitWorkerError(self._gone(share)) from None

    def results(self) -> list[ShareResult]:
        out: list[ShareResult] = []
        for share, outbox in enumerate(self.outboxes):
            try:
                status, body = outbox.recv()
            except (EOFError, OSError):
                raise SplitWorkerError(self._gone(share)) from None
            if status != "ok":
                lines = str(body).strip().splitlines() or ["?"]
                raise SplitWorkerError(f"worker {share} failed: {lines[-1]}", detail=str(body))
            out.append(body)
        return out

    def _gone(self, share: int) -> str:
        process = self.processes[share]
        process.join(1.0)
        return f"worker {share} died (exit code {process.exitcode})"

    def close(self) -> None:
        for conn in (*self.inboxes, *self.outboxes):
            conn.close()
        for process in self.processes:
            process.join(5.0)
            if process.is_alive():
                process.terminate()
                process.join()


def analyze_split(
    source: CaptureSource,
    *,
    shares: int,
    options: TaskOptions,
    capture: int = 0,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CaptureOutcome:
    """Analyze one capture with ``shares`` worker processes (see the module doc).

    ``source`` is a path or a binary file object (standard input: the reader is this
    process). ``name`` names the capture in the report (default: as the reader names it).
    ``progress(done, total)`` gets the bytes read and the file size (0 when unknown) every
    few thousand packets and at the end. A capture that cannot be read on does not raise:
    the error is in the result, as in a one-process run. Raises :class:`SplitWorkerError`
    when a worker fails.
    """
    if shares < 1:
        raise ValueError(f"shares must be at least 1, not {shares}")
    display = name if name is not None else capture_name(source)
    size: int | None = None
    if isinstance(source, str | os.PathLike):
        try:
            size = os.path.getsize(source)
        except OSError:
            size = None
    keylog = worker_keylog(options)
    workers = _Workers(shares, options, capture)
    try:
        reader = CaptureReader(source)
        error = _distribute(reader, workers, shares, size, progress)
        for share in range(shares):
            workers.send(share, None)
        parts = workers.results()
    finally:
        workers.close()
    if progress is not None:
        progress(reader.position, size or 0)
    info = CaptureInfo(
        name=display,
        format=reader.format,
        stats=reader.stats,
        error=str(error) if error is not None else None,
        error_offset=error.offset if error is not None else None,
        size=size,
    )
    flows, summaries = merge_shares(parts)
    # Key log lines and the capture error: what an analyzer with no packets reports.
    base = Analyzer(keylog, payload=options.payload, capture=capture, name=display)
    findings = base.finish(capture_info=info, error=error).findings
    result = AnalysisResult(
        capture=info,
        flows=sorted(flows, key=lambda f: f.id) if options.keep_flows else [],
        findings=findings,
        summaries=summaries,
        capture_errors=[error] if error is not None else [],
        cross=cross_connection_findings(summaries),
        tag=capture,
    )
    return CaptureOutcome(capture, result, flows)


def _distribute(
    reader: CaptureReader,
    workers: _Workers,
    shares: int,
    size: int | None,
    progress: Callable[[int, int], None] | None,
) -> CaptureError | None:
    """Read the capture, sending each packet to its share and each expiry check to all."""
    batches: list[list[PacketRecord | _Tick]] = [[] for _ in range(shares)]
    routes: dict[tuple[str, int, str, int], int] = {}
    next_expiry: float | None = None
    try:
        for count, pkt in enumerate(reader, start=1):
            key = (pkt.src, pkt.sport, pkt.dst, pkt.dport)
            share = routes.get(key)
            if share is None:
                if len(routes) >= _ROUTES_MAX:
                    routes.clear()
                share = routes[key] = flow_share(*key, shares)
            batch = batches[share]
            batch.append(packet_record(pkt))
            ts = pkt.ts
            # StreamingAnalyzer.feed's schedule, over every packet of the capture.
            if next_expiry is None:
                next_expiry = ts + EXPIRE_INTERVAL
            elif ts >= next_expiry:
                next_expiry = ts + EXPIRE_INTERVAL
                tick = (pkt.number, ts)
                for other in batches:
                    other.append(tick)
            if len(batch) >= SPLIT_BATCH:
                workers.send(share, batch)
                batches[share] = []
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(reader.position, size or 0)
    except CaptureError as exc:
        error: CaptureError | None = exc
    else:
        error = None
    for share, batch in enumerate(batches):
        if batch:
            workers.send(share, batch)
    return error
