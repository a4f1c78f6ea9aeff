"""The endpoint's host: TcpincConnections driven over a :class:`~.link.PacketLink`.

:class:`Host` is to the sans-IO stack what an operating system is: one selector loop
(``step`` / ``run_until``) reads frames from the link and hands each TCP segment to its
connection (by four-tuple), fires the connections' timers at their ``get_timer()``,
sends what ``segments_to_send(now)`` returns, and passes the events on to the
:class:`~.conn.TcpincSocket` of each connection. Time is ``time.monotonic()``.

A pure SYN to a listening port makes a new connection (the listener's config; its
``handler`` serves it, or ``accept()`` returns it once it is ready). Segments for a port
the host claimed (listening or connecting) with no connection get a RST, as from a closed
port (RFC 9293 §3.10.7.1); segments for other ports are left alone, since they may be the
kernel's own connections when it shares the address.

Bounds (SYN flood): at most :data:`MAX_HALF_OPEN` connections wait in SYN-RECEIVED; a new
SYN beyond that evicts the oldest of them silently (as a SYN queue drops its oldest entry),
so a flood costs bounded memory and a real client still gets through between the
flooder's SYNs. At most :data:`MAX_CONNECTIONS` connections exist at once; SYNs beyond
that are dropped.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from ..keylog import KeyLogWriter
from ..protocol.connection import TcpincConfig, TcpincConnection
from ..protocol.resumption import ResumptionCache
from ..protocol.segment import Segment
from ..protocol.tcp import TcpConfig, TcpState
from ..sim.link import Packet, reset_for
from .conn import TcpincSocket
from .errors import EndpointError
from .impair import Impairment
from .link import PacketLink
from .nft import RstGuard
from .signals import deferred_signals

__all__ = [
    "DEFAULT_ENDPOINT_TCP",
    "MAX_CONNECTIONS",
    "MAX_HALF_OPEN",
    "Host",
    "HostStats",
    "Listener",
]

# The SYN-flood cap: connections in SYN-RECEIVED at once (Linux's default backlog order).
MAX_HALF_OPEN: Final = 128
# All connections at once (each holds buffers; this bounds the host's memory).
MAX_CONNECTIONS: Final = 1024
# RFC 6335 §6: the dynamic port range for our active opens.
EPHEMERAL_PORTS: Final = range(49152, 65536)
# TCP settings for live use: a larger window than the simulator's default for throughput,
# and a short TIME-WAIT (2*MSL would keep a command waiting for minutes; 1 s is enough on
# a LAN to answer a repeated FIN).
DEFAULT_ENDPOINT_TCP: Final = TcpConfig(window=256 * 1024, time_wait=1.0)
# The abort reason of connections still open when the host closes, and of half-open ones
# evicted by the SYN-flood cap.
STOPPED: Final = "endpoint stopped"
EVICTED: Final = "evicted (half-open cap)"

_HANDSHAKE: Final = frozenset({TcpState.SYN_SENT, TcpState.SYN_RECEIVED})
# Abort reasons that are findings of the shared vocabulary (the peer broke TCP-ENO or
# tcpcrypt), as opposed to TCP's own words (reset, retransmissions exhausted).
_FINDING_PREFIXES: Final = ("tcpeno.", "tcpcrypt.")
ReportHook = Callable[[TcpincSocket], None]
HandlerFactory = Callable[[TcpincSocket], None]
_Key = tuple[int, str, int]  # local port, remote address, remote port


@dataclass(slots=True)
class HostStats:
    connections: int = 0  # connections made (both directions)
    half_open_peak: int = 0
    evicted_half_open: int = 0  # dropped by the SYN-flood cap
    refused: int = 0  # SYNs dropped at MAX_CONNECTIONS
    resets_sent: int = 0  # answers to segments for no connection
    reported: int = 0  # connections that finished and were reported
    half_open_dropped: int = 0  # passive connections that ended before their handshake


class Listener:
    """A listening port: new connections are served by ``handler`` or queued for accept()."""

    def __init__(
        self, host: Host, port: int, config: TcpincConfig, handler: HandlerFactory | None
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.handler = handler
        self.backlog: list[TcpincSocket] = []
        self.waiting: list[TcpincSocket] = []
        self.closed = False
        # The listener came from the module-level listen(): closing it closes its host.
        self.owns_host = False

    def accept(self, *, timeout: float | None = None) -> TcpincSocket:
        """The next connection that is ready (keys in use, or plain after a fallback)."""
        if not self.host.run_until(lambda: bool(self.backlog), timeout):
            raise TimeoutError(f"no connection on port {self.port} within {timeout} s")
        return self.backlog.pop(0)

    def close(self) -> None:
        """Stop taking connections (those accepted stay open, unless this listener owns
        its host: then the host closes, aborting them)."""
        self.closed = True
        self.host.listeners.pop(self.port, None)
        if self.owns_host:
            self.host.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _poll(self) -> None:
        for sock in [s for s in self.waiting if s.ready]:
            self.waiting.remove(sock)
            if sock.connected or sock.encrypted:
                self.backlog.append(sock)


class Host:
    """TcpincConnections on one address of one interface."""

    def __init__(
        self,
        link: PacketLink,
        *,
        config: TcpincConfig | None = None,
        keylog: KeyLogWriter | None = None,
        cache: ResumptionCache | None = None,
        guard: RstGuard | None = None,
        rekey_interval: float | None = None,
        rekey_bytes: int | None = None,
        max_half_open: int = MAX_HALF_OPEN,
        max_connections: int = MAX_CONNECTIONS,
        on_report: ReportHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        base = config if config is not None else TcpincConfig(tcp=DEFAULT_ENDPOINT_TCP)
        self.config = self.fit(base)
        self.keylog = keylog
        self.cache = cache if cache is not None else ResumptionCache()
        self.guard = guard
        self.rekey_interval = rekey_interval
        self.rekey_bytes = rekey_bytes
        self.max_half_open = max_half_open
        self.max_connections = max_connections
        self.on_report = on_report
        self.clock = clock
        self.stats = HostStats()
        self.listeners: dict[int, Listener] = {}
        # Test and debugging hooks: every segment sent may be replaced by a list (a scripted
        # misbehaving peer), every segment received is shown to rx_tap first.
        self.tx_filter: Callable[[TcpincSocket, Segment], list[Segment]] | None = None
        self.rx_tap: Callable[[str, Segment], None] | None = None
        self._conns: dict[_Key, TcpincSocket] = {}
        self._half_open: OrderedDict[_Key, TcpincSocket] = OrderedDict()
        self._dirty: dict[int, TcpincSocket] = {}
        self._claimed: set[int] = set()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._readers: dict[int, Callable[[], None]] = {}
        self._selector = selectors.PollSelector()
        self._selector.register(link.fileno(), selectors.EVENT_READ, None)
        self.closed = False

    @classmethod
    def open(
        cls,
        iface: str,
        addr: str,
        *,
        netns: str | None = None,
        rst_guard: bool = True,
        impairment: Impairment | None = None,
        config: TcpincConfig | None = None,
        keylog: KeyLogWriter | None = None,
        cache: ResumptionCache | None = None,
        rekey_interval: float | None = None,
        rekey_bytes: int | None = None,
        max_half_open: int = MAX_HALF_OPEN,
        on_report: ReportHook | None = None,
    ) -> Host:
        """A host on ``iface`` (in namespace ``netns``) for ``addr``, with its nftables
        guard installed (``rst_guard``) and its output impaired (``impairment``); the other
        options are the constructor's."""
        link = PacketLink.open(iface, addr, netns=netns)
        guard = RstGuard(link.addr, netns=netns) if rst_guard else None
        try:
            if guard is not None:
                guard.install()
            if impairment is not None:
                link.scheduler = impairment.scheduler()
            return cls(
                link,
                config=config,
                keylog=keylog,
                cache=cache,
                guard=guard,
                rekey_interval=rekey_interval,
                rekey_bytes=rekey_bytes,
                max_half_open=max_half_open,
                on_report=on_report,
            )
        except BaseException:
            link.close()
            if guard is not None:
                guard.remove()
            raise

    def fit(self, config: TcpincConfig) -> TcpincConfig:
        """``config`` with its MSS brought within the interface's MTU."""
        if config.tcp.mss <= self.link.mss:
            return config
        return replace(config, tcp=replace(config.tcp, mss=self.link.mss))

    def now(self) -> float:
        return self.clock()

    @property
    def addr(self) -> str:
        return self.link.addr

    @property
    def connections(self) -> list[TcpincSocket]:
        return list(self._conns.values())

    @property
    def half_open(self) -> int:
        return len(self._half_open)

    # -- opening -------------------------------------------------------------------------
    def claim_port(self, port: int) -> None:
        """From now on this host answers for ``port`` (and the kernel's RSTs on it go)."""
        if port not in self._claimed:
            self._claimed.add(port)
            if self.guard is not None:
                self.guard.add_port(port)

    def listen(
        self,
        port: int,
        *,
        config: TcpincConfig | None = None,
        handler: HandlerFactory | None = None,
    ) -> Listener:
        if not 0 < port <= 0xFFFF:
            raise EndpointError(f"port {port} outside 1..65535")
        if port in self.listeners:
            raise EndpointError(f"port {port} is already listening")
        self.claim_port(port)
        listener = Listener(self, port, self.fit(config or self.config), handler)
        self.listeners[port] = listener
        return listener

    def ephemeral_port(self) -> int:
        used = {key[0] for key in self._conns} | set(self.listeners)
        start = int.from_bytes(os.urandom(2), "big") % len(EPHEMERAL_PORTS)
        for i in range(len(EPHEMERAL_PORTS)):
            port = EPHEMERAL_PORTS[(start + i) % len(EPHEMERAL_PORTS)]
            if port not in used:
                return port
        raise EndpointError("no free ephemeral port")

    def open_connection(
        self,
        remote: tuple[str, int],
        *,
        local_port: int | None = None,
        config: TcpincConfig | None = None,
    ) -> TcpincSocket:
        """Start an active open (a SYN goes out at the next flush); does not wait."""
        rip, rport = remote
        port = local_port if local_port is not None else self.ephemeral_port()
        key = (port, rip, rport)
        if key in self._conns:
            raise EndpointError(f"a connection {self.addr}:{port} -> {rip}:{rport} exists")
        self.claim_port(port)
        conn = TcpincConnection(
            local_port=port,
            remote_port=rport,
            config=self.fit(config or self.config),
            keylog=self.keylog,
            cache=self.cache,
            peer=rip,
        )
        sock = self._add(key, conn, active=True)
        conn.connect(self.now())
        self.touch(sock)
        self.flush()
        return sock

    def connect(
        self,
        remote: tuple[str, int],
        *,
        local_port: int | None = None,
        config: TcpincConfig | None = None,
        timeout: float | None = 10.0,
    ) -> TcpincSocket:
        """Open a connection and wait until it is ready: encrypted, or plain TCP after a
        fallback. ConnectionFailed if it aborts or times out."""
        sock = self.open_connection(remote, local_port=local_port, config=config)
        sock.wait_ready(timeout)
        return sock

    def _add(self, key: _Key, conn: TcpincConnection, *, active: bool) -> TcpincSocket:
        sock = TcpincSocket(
            self,
            conn,
            local=(self.addr, key[0]),
            peer=(key[1], key[2]),
            active=active,
            rekey_bytes=self.rekey_bytes,
        )
        self._conns[key] = sock
        self.stats.connections += 1
        return sock

    # -- loop ----------------------------------------------------------------------------
    def touch(self, sock: TcpincSocket) -> None:
        self._dirty[id(sock)] = sock

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        if fd not in self._readers:
            self._selector.register(fd, selectors.EVENT_READ, fd)
        self._readers[fd] = callback

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._selector.unregister(fd)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.now() + delay, next(self._timer_seq), callback))

    def next_deadline(self) -> float | None:
        times = [t for s in self._conns.values() if (t := s.conn.get_timer()) is not None]
        link_timer = self.link.get_timer()
        if link_timer is not None:
            times.append(link_timer)
        if self._timers:
            times.append(self._timers[0][0])
        return min(times, default=None)

    def step(self, timeout: float | None = None) -> None:
        """Wait for a frame, a reader or a timer (at most ``timeout`` s), then handle all."""
        self.flush()
        now = self.now()
        wait = timeout
        deadline = self.next_deadline()
        if deadline is not None:
            until = max(0.0, deadline - now)
            wait = until if wait is None else min(wait, until)
        ready = self._selector.select(wait)
        now = self.now()
        for key, _ in ready:
            if key.data is None:
                self._receive(now)
            else:
                callback = self._readers.get(key.data)
                if callback is not None:
                    callback()
        self._fire_timers(self.now())
        self.flush()

    def run_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run the loop until ``predicate()`` holds (True) or ``timeout`` passes (False)."""
        self.flush()
        end = None if timeout is None else self.now() + timeout
        while not predicate():
            if end is not None:
                left = end - self.now()
                if left <= 0:
                    return False
                self.step(left)
            else:
                self.step(None)
        return True

    def _receive(self, now: float) -> None:
        tap = self.rx_tap
        for src, seg in self.link.receive(now):
            if tap is not None:
                tap(src, seg)
            self._dispatch(src, seg, now)

    def _dispatch(self, src: str, seg: Segment, now: float) -> None:
        key = (seg.dst_port, src, seg.src_port)
        sock = self._conns.get(key)
        if sock is not None and sock.conn.state is not TcpState.CLOSED:
            before = sock.conn.state
            sock.conn.receive_segment(seg, now)
            self.touch(sock)
            if key in self._half_open and sock.conn.state is not TcpState.SYN_RECEIVED:
                del self._half_open[key]
            if before in _HANDSHAKE:
                # The handshake goes segment by segment, as in a kernel (a simultaneous
                # open's SYN-ACK must go out before the crossing SYN-ACK is taken); data
                # segments of a batch are answered together, like GRO.
                self.flush()
            return
        listener = self.listeners.get(seg.dst_port)
        if listener is not None and seg.is_syn and not seg.is_ack and not seg.is_rst:
            self._accept_syn(listener, key, seg, now)
        elif seg.dst_port in self._claimed:
            rst = reset_for(Packet(src, self.addr, seg))
            if rst is not None:
                self.stats.resets_sent += 1
                self.link.send(src, rst.segment, now)

    def _accept_syn(self, listener: Listener, key: _Key, seg: Segment, now: float) -> None:
        self._conns.pop(key, None)
        if len(self._half_open) >= self.max_half_open:
            old_key, old = self._half_open.popitem(last=False)
            self._conns.pop(old_key, None)
            # Silently: no RST to what is most likely a spoofed source. Marked finished so
            # that an accept() queue lets go of it too.
            old.abort_reason = EVICTED
            old.reported = True
            self.stats.evicted_half_open += 1
        if len(self._conns) >= self.max_connections:
            self.stats.refused += 1
            return
        conn = TcpincConnection(
            local_port=listener.port,
            remote_port=seg.src_port,
            config=listener.config,
            keylog=self.keylog,
            cache=self.cache,
            peer=key[1],
        )
        sock = self._add(key, conn, active=False)
        conn.listen()
        conn.receive_segment(seg, now)
        if conn.state is TcpState.SYN_RECEIVED:
            self._half_open[key] = sock
            self.stats.half_open_peak = max(self.stats.half_open_peak, len(self._half_open))
        if listener.handler is not None:
            listener.handler(sock)
        else:
            listener.waiting.append(sock)
        self.touch(sock)

    def _fire_timers(self, now: float) -> None:
        for sock in list(self._conns.values()):
            timer = sock.conn.get_timer()
            if timer is not None and timer <= now:
                sock.conn.handle_timer(now)
                self.touch(sock)
        if (link_timer := self.link.get_timer()) is not None and link_timer <= now:
            self.link.handle_timer(now)
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            callback()

    def flush(self) -> None:
        """Send what the touched connections have to send and deliver their events."""
        while self._dirty:
            now = self.now()
            _, sock = self._dirty.popitem()
            busy = True
            while busy:
                busy = False
                for seg in sock.conn.segments_to_send(now):
                    busy = True
                    self._send(sock, seg, now)
                while (event := sock.conn.next_event()) is not None:
                    busy = True
                    was_encrypted = sock.encrypted
                    sock.on_event(event, now)
                    if not was_encrypted and sock.encrypted and self.rekey_interval:
                        self._schedule_rekey(sock)
            self._settle(sock)
        for listener in self.listeners.values():
            listener._poll()

    def _send(self, sock: TcpincSocket, seg: Segment, now: float) -> None:
        segments = [seg] if self.tx_filter is None else self.tx_filter(sock, seg)
        for out in segments:
            self.link.send(sock.peer[0], out, now)

    def _settle(self, sock: TcpincSocket) -> None:
        key = (sock.local[1], sock.peer[0], sock.peer[1])
        if sock.finished and not sock.reported:
            sock.reported = True
            # Passive connections that never completed the handshake are not worth a
            # report line (a flood's SYNs, a scan), unless the peer broke the protocol.
            reason = sock.abort_reason or ""
            if sock.active or sock.connected or reason.startswith(_FINDING_PREFIXES):
                self.stats.reported += 1
                if self.on_report is not None:
                    self.on_report(sock)
            else:
                self.stats.half_open_dropped += 1
        if sock.conn.state is TcpState.CLOSED and self._conns.get(key) is sock:
            del self._conns[key]
            self._half_open.pop(key, None)

    def _schedule_rekey(self, sock: TcpincSocket) -> None:
        interval = self.rekey_interval
        assert interval is not None

        def rekey() -> None:
            if sock.finished or not sock.encrypted or sock.conn.session is None:
                return
            if not sock.conn.session.fin_sent and sock.conn.tcp.state is TcpState.ESTABLISHED:
                sock.rekey()
            self.call_later(interval, rekey)

        self.call_later(interval, rekey)

    # -- closing -------------------------------------------------------------------------
    def close(self, *, linger: float = 0.0) -> None:
        """Let open connections finish for up to ``linger`` s, abort the rest (RST), close
        the link and remove the nftables table."""
        if self.closed:
            return
        try:
            if linger > 0:
                self.run_until(lambda: all(s.finished for s in self._conns.values()), linger)
        finally:
            with deferred_signals():
                self._teardown()

    def _teardown(self) -> None:
        try:
            for sock in list(self._conns.values()):
                if not sock.finished:
                    sock.abort_reason = sock.abort_reason or STOPPED
                    sock.conn.abort()
                    self.touch(sock)
            self.flush()
        finally:
            self.closed = True
            self._selector.close()
            self.link.close()
            if self.guard is not None:
                self.guard.remove()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return self.link.describe()
