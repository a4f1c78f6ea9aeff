"""The monitor's ingest: packets from a source through the live analyzer, in batches.

Two threads, neither of which touches a widget:

- the reader (a plain daemon thread) takes packets from the source as they come and queues
  them with their arrival time; it blocks when :data:`QUEUE_LIMIT` packets wait, so a file
  is never read far ahead of the analysis (a live capture tool then buffers, and drops when
  its own buffer is full: it counts those drops);
- the worker (:meth:`Ingest.run`, a textual thread worker) feeds the queued packets to a
  :class:`~tcpinc_tools.analysis.live.LiveAnalyzer` and every ``interval`` seconds posts one
  :class:`~.messages.FlowsUpdated` with the snapshots of the connections that changed, so
  the screen is updated ten times a second whatever the packet rate. At the end of a file
  it posts :class:`~.messages.SourceEnded`.

With a key log, the worker re-reads it each interval before feeding packets, and lets
packets of a live source wait ``grace`` seconds (:data:`~.config.KEY_GRACE`) so that a secret
written just after its handshake went by is there in time.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final

from textual.message import Message

from ..analysis.live import FlowSnapshot, LiveAnalyzer
from ..analysis.model import CaptureInfo
from ..capture.packet import TcpPacket
from ..errors import KeyLogError, TcpincError
from ..keylog import KeyLog
from .messages import FlowsUpdated, IngestStats, SourceEnded
from .sources import PacketSource

__all__ = ["FEED_SLICE", "QUEUE_LIMIT", "Ingest", "KeyLogWatcher"]

# Packets read but not analyzed yet, at most (about 100 MB of full-size frames).
QUEUE_LIMIT: Final = 1 << 16
# Packets fed between two looks at the clock (a batch is posted on time even at full load).
FEED_SLICE: Final = 512
# Seconds the worker sleeps when nothing is queued.
IDLE_SLEEP: Final = 0.005
# The rate shown is over the updates of about this many seconds.
RATE_WINDOW: Final = 1.0


class KeyLogWatcher:
    """A key log that is re-read as it grows and may not exist yet.

    ``wait``: a missing file is not an error; it is loaded once it appears (a live source
    started before the endpoints). Otherwise :class:`~tcpinc_tools.errors.KeyLogError`
    at once, as ``tcpinc analyze`` does. The analyzer keeps :attr:`log`: the same object
    is filled in as lines come.
    """

    def __init__(self, path: str, *, wait: bool = False) -> None:
        self.path = path
        self.log = KeyLog()
        self.loaded = False
        self.error: str | None = None
        if not wait or os.path.exists(path):
            self._load()

    def _load(self) -> None:
        self.log.merge(KeyLog.load(self.path))
        self.loaded = True

    def poll(self) -> int:
        """Read what was appended (or the file, once it exists); the new secrets."""
        before = len(self.log)
        try:
            if not self.loaded:
                if os.path.exists(self.path):
                    self._load()
            else:
                self.log.refresh()
            self.error = None
        except KeyLogError as exc:
            self.error = str(exc)
        return len(self.log) - before


class Ingest:
    """Packets of ``source`` through a live analyzer, posted in batches (module doc)."""

    def __init__(
        self,
        source: PacketSource,
        *,
        keylog: KeyLogWatcher | None = None,
        interval: float = 0.1,
        grace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.keylog = keylog
        self.interval = interval
        self.grace = grace
        self.clock = clock
        self.analyzer = LiveAnalyzer(keylog.log if keylog is not None else None, name=source.name)
        self._queue: deque[tuple[float, TcpPacket]] = deque()
        self._stop = threading.Event()
        self._reader_done = threading.Event()
        self._error: str | None = None
        self._fed = 0
        self._samples: deque[tuple[float, int]] = deque()

    # -- the reader thread -----------------------------------------------------------------

    def _read(self) -> None:
        queue = self._queue
        clock = self.clock
        stop = self._stop
        try:
            for pkt in self.source.packets():
                while len(queue) >= QUEUE_LIMIT:
                    if stop.is_set():
                        return
                    time.sleep(IDLE_SLEEP)
                if stop.is_set():
                    return
                queue.append((clock(), pkt))
        except TcpincError as exc:
            self._error = str(exc)
        except OSError as exc:
            self._error = f"{self.source.name}: {exc.strerror or exc}"
        finally:
            self._reader_done.set()

    # -- the worker ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask both threads to end (from any thread)."""
        self._stop.set()
        self.source.stop()

    def run(self, post: Callable[[Message], object]) -> None:
        """The worker's body: runs until the source ends or :meth:`stop`."""
        if not self.source.blocking:
            try:
                self._loop(post, self._direct())
            finally:
                self.stop()
                self.source.close()
            return
        reader = threading.Thread(target=self._read, name="tcpinc-monitor-reader", daemon=True)
        reader.start()
        try:
            self._loop(post, self._queued())
        finally:
            self.stop()
            reader.join(2.0)
            self.source.close()

    def _direct(self) -> Iterator[TcpPacket | None]:
        """The packets of a source that never waits, read right here."""
        try:
            yield from self.source.packets()
        except TcpincError as exc:
            self._error = str(exc)
        except OSError as exc:
            self._error = f"{self.source.name}: {exc.strerror or exc}"

    def _queued(self) -> Iterator[TcpPacket | None]:
        """The packets the reader thread queued, each once it is ``grace`` seconds old;
        None when none is ready yet."""
        queue = self._queue
        clock = self.clock
        grace = self.grace
        while True:
            if queue:
                arrived, pkt = queue[0]
                if arrived <= clock() - grace:
                    queue.popleft()
                    yield pkt
                    continue
            elif self._reader_done.is_set():
                return
            yield None

    def _loop(self, post: Callable[[Message], object], packets: Iterator[TcpPacket | None]) -> None:
        feed = self.analyzer.feed
        clock = self.clock
        next_post = clock() + self.interval
        if self.keylog is not None:
            self.keylog.poll()
        ended = False
        while not self._stop.is_set():
            fed = 0
            for pkt in packets:
                if pkt is None:
                    break
                feed(pkt)
                fed += 1
                if fed >= FEED_SLICE:
                    break
            else:
                ended = True
            self._fed += fed
            if ended:
                break
            now = clock()
            if now >= next_post:
                if self.keylog is not None:
                    self.keylog.poll()
                post(FlowsUpdated(self._by_id(self.analyzer.snapshots()), self.stats(now)))
                next_post = now + self.interval
            if not fed:
                time.sleep(IDLE_SLEEP)
        if self._stop.is_set():
            return
        info = CaptureInfo(self.source.name, None, self.source.stats, error=self._error)
        snapshots, result = self.analyzer.close(capture_info=info)
        post(FlowsUpdated(self._by_id(snapshots), self.stats(clock(), done=True)))
        post(SourceEnded(self._error, result.findings, result.cross))

    @staticmethod
    def _by_id(snapshots: list[FlowSnapshot]) -> dict[int, FlowSnapshot]:
        return {snap.id: snap for snap in snapshots}

    def stats(self, now: float, *, done: bool = False) -> IngestStats:
        """The counters now (the rate over about :data:`RATE_WINDOW` seconds)."""
        samples = self._samples
        samples.append((now, self._fed))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        then, fed_then = samples[0]
        rate = (self._fed - fed_then) / (now - then) if now > then and not done else 0.0
        return IngestStats(
            frames=self.source.stats.packets,
            packets=self._fed,
            rate=rate,
            active=self.analyzer.active_flows,
            queued=len(self._queue),
            secrets=len(self.keylog.log) if self.keylog is not None else None,
            done=done,
        )
