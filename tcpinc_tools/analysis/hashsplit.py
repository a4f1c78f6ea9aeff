"""One large capture split across processes by connection (see docs/parallel.md).

Each of N shares of the capture's connections, chosen by a *symmetric* hash of their
addresses and ports (:func:`flow_share`: both directions in one share), is analyzed with
its own flow table, and the merge gives the :class:`~.parallel.CaptureOutcome` of a
one-process run (:func:`~.streaming.analyze_streaming`), field for field:

- a capture file: this process analyzes share 0 and N - 1 workers the others; each reads
  every record itself and builds only the segments of its share (:func:`analyze_share`);
  only results cross a pipe. Standard input or a pipe (it cannot be read twice): this
  process reads it and feeds N workers compact records (:data:`SPLIT_BATCH` a message);
- flow ids: a share numbers a connection by its first packet; the merge renumbers them
  1, 2, ... in that order, as one flow table numbers them (ids in findings follow), and
  hands them out in the order they ended (during a packet, at the expiry check after one,
  at the end), then by id, as one flow table ends them;
- expiry checks (:data:`~.streaming.EXPIRE_INTERVAL` of capture time) run on one schedule
  over *all* packets in every share, so a quiet closed connection ends where it ends in a
  one-process run; cross-connection findings are computed here, over every summary.

The output is identical to a one-process run's when the capture's timestamps do not go
backwards and no flow-table limit is reached (:class:`~tcpinc_tools.capture.flows.FlowLimits`:
65,536 connections, 256 MiB buffered): with timestamps out of order an expiry check may end
a different set of connections, and each share has the limits to itself. Both give a sound
analysis, not necessarily the same bytes. A file still being written is read to different
lengths by each process: pipe it in (``tail -c +1 -f FILE |``) to split it.

>>> options = TaskOptions(keylog="big.keys")
>>> outcome = analyze_split("big.pcap", shares=2, options=options)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import ipaddress
import multiprocessing
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Final

from ..capture.expiry import ExpiringFlowTable
from ..capture.flows import Flow, FlowKey, FlowUpdate
from ..capture.packet import CaptureStats, TcpPacket, endpoint_share, packet_share
from ..capture.reader import CaptureReader, CaptureSource, capture_name
from ..capture.stream import DEFAULT_LIMITS
from ..errors import CaptureError, TcpincError
from ..records import picklable
from .analyzer import PROGRESS_EVERY, Analyzer, paused_gc, relaxed_gc
from .cross import cross_connection_findings
from .model import AnalysisResult, CaptureInfo
from .parallel import CaptureOutcome, TaskOptions, worker_context, worker_keylog
from .shares import (
    EndKey,
    ShareResult,
    dumps_result,
    in_order,
    merge_shares,
    numbering,
    renumbered,
)
from .streaming import EXPIRE_INTERVAL, StreamingAnalyzer

__all__ = [
    "SPLIT_BATCH",
    "PacketRecord",
    "ShareAnalyzer",
    "ShareRead",
    "ShareResult",
    "SplitWorkerError",
    "analyze_share",
    "analyze_split",
    "flow_share",
    "merge_shares",
    "packet_record",
    "record_packet",
]

# Records per message to a fed worker: large enough that pickling and the pipe cost little
# per packet, small enough that a worker starts early and the reader holds little.
SPLIT_BATCH: Final = 512
# When a connection ended (EndKey, tcpinc_tools.analysis.shares): the end of the capture.
_AT_END: Final = (sys.maxsize, 0)

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
    """The share (0 .. shares-1) of a connection given by its addresses as text: what a
    reader computes from the raw headers (:func:`~tcpinc_tools.capture.packet.endpoint_share`
    of the packed addresses and ports), the same for both directions and for every run."""
    a = ipaddress.ip_address(src).packed + sport.to_bytes(2, "big")
    b = ipaddress.ip_address(dst).packed + dport.to_bytes(2, "big")
    return endpoint_share(a, b, shares)


def packet_record(pkt: TcpPacket) -> PacketRecord:
    """The fields of ``pkt`` up to ``truncated`` (a plain tuple: cheap to pickle)."""
    return pkt[:15]


def record_packet(rec: PacketRecord) -> TcpPacket:
    """The packet of a record (no frame: ``tcp_offset`` 0, ``frame`` empty)."""
    return TcpPacket(*rec, 0, b"")


# -- a share ---------------------------------------------------------------------------------


class _ShareFlowTable(ExpiringFlowTable):
    """A flow table that numbers each connection by the number of its first packet."""

    def _new_flow(self, key: FlowKey, pkt: TcpPacket) -> Flow:
        self._next_id = pkt.number
        return super()._new_flow(key, pkt)


class ShareAnalyzer(StreamingAnalyzer):
    """The analyzer of one share: its packets, expiry checks when told (:meth:`tick`), and
    for each connection when it ended (``ends``)."""

    def __init__(self, options: TaskOptions, *, capture: int = 0, name: str = "<share>") -> None:
        super().__init__(
            worker_keylog(options),
            payload=options.payload,
            capture=capture,
            name=name,
            linger=options.linger,
            table=_ShareFlowTable(limits=DEFAULT_LIMITS, linger=options.linger),
        )
        self.ends: dict[int, EndKey] = {}
        self._now: EndKey = (0, 0)

    def feed(self, pkt: TcpPacket) -> None:
        self._now = (pkt.number, 0)
        Analyzer.feed(self, pkt)  # not StreamingAnalyzer's: the checks run over all packets

    def tick(self, number: int, ts: float) -> None:
        """The expiry check that follows packet ``number`` (of any share) at ``ts``."""
        self._now = (number, 1)
        ended = self.expiring.expire(ts)
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
class ShareRead:
    """What a reader saw of the whole capture, as a one-process run's reader reports it:
    the format, the counters (of every frame), the error that stopped it and the bytes
    read."""

    format: str | None
    stats: CaptureStats
    error: CaptureError | None
    position: int


def analyze_share(
    path: str,
    share: int,
    shares: int,
    options: TaskOptions,
    *,
    capture: int = 0,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ShareResult, ShareRead]:
    """Read the capture file at ``path`` to its end; analyze the connections of ``share``
    (of ``shares``) with the expiry checks of a one-process run over every packet.
    ``name`` names the capture in error messages (default: ``path``); ``progress(done)``
    gets the bytes read every few thousand packets. A capture that cannot be read on does
    not raise: the error is in the :class:`ShareRead`."""
    analyzer = ShareAnalyzer(options, capture=capture)
    feed, tick = analyzer.feed, analyzer.tick
    reader = CaptureReader(path, name=name)
    next_expiry: float | None = None
    error: CaptureError | None = None
    count = 0
    try:
        for number, ts, pkt in reader.split(share, shares):
            if pkt is not None:
                feed(pkt)
            # StreamingAnalyzer.feed's schedule, over every packet of the capture.
            if next_expiry is None:
                next_expiry = ts + EXPIRE_INTERVAL
            elif ts >= next_expiry:
                next_expiry = ts + EXPIRE_INTERVAL
                tick(number, ts)
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(reader.position)
    except CaptureError as exc:
        error = exc
    return analyzer.result(), ShareRead(reader.format, reader.stats, error, reader.position)


# -- worker processes ------------------------------------------------------------------------


def _fed_worker(inbox: Connection, outbox: Connection, options: TaskOptions, capture: int) -> None:
    """A worker fed by the reader: batches of records and ticks until None."""

    def work() -> ShareResult:
        analyzer = ShareAnalyzer(options, capture=capture)
        feed, tick = analyzer.feed, analyzer.tick
        while True:
            batch: list[PacketRecord | _Tick] | None = inbox.recv()
            if batch is None:
                return analyzer.result()
            for item in batch:
                if len(item) == 2:
                    tick(item[0], item[1])
                else:
                    feed(record_packet(item))

    _serve(work, outbox)


def _reading_worker(
    outbox: Connection, options: TaskOptions, capture: int, *, path: str, share: int, shares: int
) -> None:
    """A worker that reads the capture file itself."""
    _serve(lambda: analyze_share(path, share, shares, options, capture=capture)[0], outbox)


def _serve(work: Callable[[], ShareResult], outbox: Connection) -> None:
    """Send ``work()``'s flow ids, then its result (or the traceback of its failure)
    through ``outbox``: with the ids of every share, the parent renumbers its own
    connections while this process pickles its own."""
    try:
        with relaxed_gc():  # as in a one-process run: the collector would walk every flow
            result = work()
            outbox.send(("ids", [flow.id for flow in result.flows]))
            message = dumps_result(("ok", result))
        outbox.send_bytes(message)
    except KeyboardInterrupt:  # the terminal's ^C reaches the workers too: the parent says it
        pass
    except BaseException:
        with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
            outbox.send(("error", traceback.format_exc(limit=8)))
    finally:
        outbox.close()


# -- the workers -----------------------------------------------------------------------------


class _Workers:
    """Worker processes and the pipes to and from them. Without ``path``, one per share,
    each fed through its inbox (:meth:`send`); with it, one for each share but the first
    (this process's), each reading the file at ``path`` itself."""

    def __init__(
        self, shares: int, options: TaskOptions, capture: int, *, path: str | None = None
    ) -> None:
        ctx = worker_context()
        self.shares = list(range(shares) if path is None else range(1, shares))
        self.inboxes: list[Connection] = []
        self.outboxes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._ids: dict[int, list[int]] = {}
        self._results: dict[int, ShareResult] = {}
        try:
            for share in self.shares:
                outbox_r, outbox_w = ctx.Pipe(duplex=False)
                self.outboxes.append(outbox_r)
                if path is None:
                    inbox_r, inbox_w = ctx.Pipe(duplex=False)
                    self.inboxes.append(inbox_w)
                    args: tuple[object, ...] = (inbox_r, outbox_w, options, capture)
                    process = ctx.Process(target=_fed_worker, args=args, daemon=True)
                    process.start()
                    inbox_r.close()
                else:
                    where = {"path": path, "share": share, "shares": shares}
                    args = (outbox_w, options, capture)
                    process = ctx.Process(
                        target=_reading_worker, args=args, kwargs=where, daemon=True
                    )
                    process.start()
                outbox_w.close()
                self.processes.append(process)
        except BaseException:
            self.close(abort=True)
            raise

    def send(self, share: int, batch: list[PacketRecord | _Tick] | None) -> None:
        try:
            self.inboxes[share].send(batch)
        except OSError:  # BrokenPipeError: the worker is gone, perhaps saying why
            if self.outboxes[share].poll():
                self._take(share)
            raise SplitWorkerError(self._gone(share)) from None

    def check(self) -> None:
        """Take in what the workers have sent; raise :class:`SplitWorkerError` if one
        failed or died."""
        for i, outbox in enumerate(self.outboxes):
            if i not in self._results and outbox.poll():
                self._take(i)

    def ids(self) -> list[list[int]]:
        """Every worker's flow ids, in share order (see :meth:`results`)."""
        self._gather(self._ids)
        return [self._ids[i] for i in range(len(self.outboxes))]

    def results(self) -> list[ShareResult]:
        """Every worker's result, in share order. Raises :class:`SplitWorkerError` as soon
        as a worker fails or dies."""
        self._gather(self._results)
        return [self._results[i] for i in range(len(self.outboxes))]

    def _gather(self, got: dict[int, Any]) -> None:
        while len(got) < len(self.outboxes):
            ready = wait([box for i, box in enumerate(self.outboxes) if i not in got])
            for i, outbox in enumerate(self.outboxes):
                if outbox in ready:
                    self._take(i)

    def _take(self, i: int) -> None:
        try:
            with paused_gc():
                status, body = pickle.loads(self.outboxes[i].recv_bytes())
        except (EOFError, OSError):
            raise SplitWorkerError(self._gone(i)) from None
        if status == "ids":
            self._ids[i] = body
        elif status == "ok":
            self._results[i] = body
        else:
            lines = str(body).strip().splitlines() or ["?"]
            share = self.shares[i]
            raise SplitWorkerError(f"worker {share} failed: {lines[-1]}", detail=str(body))

    def _gone(self, i: int) -> str:
        process = self.processes[i]
        process.join(1.0)
        return f"worker {self.shares[i]} died (exit code {process.exitcode})"

    def close(self, *, abort: bool = False) -> None:
        """Close the pipes and end the processes: at once with ``abort`` (a worker failed,
        or this process was interrupted), else once they have exited (they have sent
        their results)."""
        for conn in (*self.inboxes, *self.outboxes):
            conn.close()
        for process in self.processes:
            if abort and process.is_alive():
                process.terminate()
            process.join(5.0)
            if process.is_alive():
                process.terminate()
                process.join()


# -- the split -------------------------------------------------------------------------------


def analyze_split(
    source: CaptureSource,
    *,
    shares: int,
    options: TaskOptions,
    capture: int = 0,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CaptureOutcome:
    """Analyze one capture in ``shares`` shares (see the module doc).

    ``source`` is a path or a binary file object; a regular file is read by every process,
    anything else (standard input, a pipe) by this one. ``name`` names the capture in the
    report (default: as the reader names it). ``progress(done, total)`` gets the bytes read
    and the file size (0 when unknown) every few thousand packets and at the end. A capture
    that cannot be read on does not raise: the error is in the result, as in a one-process
    run. Raises :class:`SplitWorkerError` when a worker fails.
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
    total = size or 0

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    keylog = worker_keylog(options)
    path = os.path.abspath(source) if isinstance(source, str | os.PathLike) else None
    if path is not None and not os.path.isfile(path):
        path = None  # a pipe or a device: it cannot be read twice
    named = capture_name(source)  # as error messages name it
    with relaxed_gc():  # the collector would walk every flow again and again
        workers = _Workers(shares, options, capture, path=path)
        finished = False
        try:
            if path is not None:

                def on_read(done: int) -> None:
                    workers.check()  # a worker that failed stops the run now, not at the end
                    report(done)

                own, read = analyze_share(  # share 0, here
                    path, 0, shares, options, capture=capture, name=named, progress=on_read
                )
                with paused_gc():
                    ids = numbering([[flow.id for flow in own.flows], *workers.ids()])
                    parts = [renumbered(own, ids)]
            else:
                reader = CaptureReader(source)
                error = _distribute(reader, workers, shares, report)
                for share in range(shares):
                    workers.send(share, None)
                read = ShareRead(reader.format, reader.stats, error, reader.position)
                ids = numbering(workers.ids())
                parts = []
            with paused_gc():
                parts += [renumbered(part, ids) for part in workers.results()]
                flows, summaries = in_order(parts)
            finished = True
        finally:
            workers.close(abort=not finished)
        report(read.position)
        error = read.error
        info = CaptureInfo(
            name=display,
            format=read.format,
            stats=read.stats,
            error=str(error) if error is not None else None,
            error_offset=error.offset if error is not None else None,
            size=size,
        )
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
    reader: CaptureReader, workers: _Workers, shares: int, report: Callable[[int], None]
) -> CaptureError | None:
    """Send each packet to the worker of its share, each expiry check to every worker."""
    batches: list[list[PacketRecord | _Tick]] = [[] for _ in range(shares)]
    next_expiry: float | None = None
    try:
        for count, pkt in enumerate(reader, start=1):
            share = packet_share(pkt, shares)
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
            if count % PROGRESS_EVERY == 0:
                report(reader.position)
    except CaptureError as exc:
        error: CaptureError | None = exc
    else:
        error = None
    for share, batch in enumerate(batches):
        if batch:
            workers.send(share, batch)
    return error


picklable(ShareRead)
