"""The driver: hosts, their connections, and the loop that runs them to completion.

A :class:`Simulation` owns the simulated clock (``now``, seconds from 0.0), the
:class:`~.link.Link`, the hosts on either side of it, and every connection end. It runs
sans-IO stacks (:class:`~tcpinc_tools.protocol.connection.TcpincConnection`, or a bare
:class:`~tcpinc_tools.protocol.tcp.TcpConnection` for scripted peers) the way an operating
system would: segments out of ``segments_to_send`` go on the link, arriving segments go to
``receive_segment``, timers fire at ``get_timer()`` through ``handle_timer``, and events go
to the end's :class:`~.apps.App`.

Each loop step jumps the clock to the earliest of: a packet reaching its next link stage,
a protocol timer, an application timer, a scheduled connection start. A host hands an
arriving segment to the end with its four-tuple; a pure SYN to a listening port with no
live end there creates one (from the listener's factory); anything else gets a RST
(RFC 9293 §3.10.7.1), as from a closed port. The run is over when every end has finished
(closed, aborted, or in TIME-WAIT, whose timer still runs out), no connection waits to
start and nothing is in flight; :class:`SimulationError` says what was stuck otherwise.

Randomness: every end draws from its own ``random.Random`` seeded with the run's seed and
the end's name (``"<seed>:<name>"``), so one more connection does not change the bytes of
the others, and the same seed gives the same run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from ..crypto.kex import RandomBytes
from ..errors import LocalProtocolError, TcpincError
from ..keylog import KeyLogWriter
from ..protocol.events import EncryptionEnabled, EnoNegotiated, Event, FellBack, KeysUpdated
from ..protocol.segment import Segment
from ..protocol.tcp import TcpState
from .apps import App, Socket
from .link import Link, Packet, Side, reset_for

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "EPHEMERAL_PORTS",
    "Connection",
    "End",
    "EndFactory",
    "EndInfo",
    "EndResult",
    "Endpoint",
    "Host",
    "Simulation",
    "SimulationError",
]

# The latest a run may go on (simulated seconds): far beyond any scenario, and beyond TCP's
# give-up after 12 backed-off retransmissions (about 8 minutes with a 60 s RTO ceiling), so
# a stuck scenario is reported instead of simulated for ever.
DEFAULT_TIME_LIMIT: Final = 900.0
# RFC 6335 §6: the dynamic port range, where clients' ephemeral ports come from.
EPHEMERAL_PORTS: Final = range(49152, 65536)
_FINISHED: Final = frozenset({TcpState.CLOSED, TcpState.TIME_WAIT})


class SimulationError(TcpincError):
    """A scenario did not run to completion (a bug in the scenario or a stack)."""


class Endpoint(Protocol):
    """The sans-IO surface of a connection end."""

    def receive_segment(self, seg: Segment, now: float) -> None: ...

    def segments_to_send(self, now: float) -> list[Segment]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...

    def connect(self, now: float) -> None: ...

    def listen(self) -> None: ...

    @property
    def state(self) -> TcpState: ...


@dataclass(frozen=True, slots=True)
class EndInfo:
    """What a factory needs to build one end."""

    name: str
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    random_bytes: RandomBytes
    keylog: KeyLogWriter | None


EndFactory = Callable[[EndInfo], tuple[Endpoint, Socket]]
AppFactory = Callable[[], App]


@dataclass(slots=True)
class EndResult:
    """What one end saw, from its events (for summaries; tests read the capture)."""

    negotiated: EnoNegotiated | None = None
    encryption: EncryptionEnabled | None = None
    fallback: FellBack | None = None
    generation: int = 0  # the highest key generation seen, either way


@dataclass(eq=False)
class End:
    """One end of one connection on one host."""

    name: str
    host: Host
    local_port: int
    remote_ip: str
    remote_port: int
    endpoint: Endpoint
    app: App
    active: bool
    started_at: float
    result: EndResult = field(default_factory=EndResult)
    finished_at: float | None = None
    dirty: bool = False

    @property
    def finished(self) -> bool:
        """Closed, aborted, or in TIME-WAIT (only re-acknowledging a repeated FIN)."""
        return self.endpoint.state in _FINISHED

    def label(self) -> str:
        return f"{self.host.ip}:{self.local_port}"


class Host:
    """An IP address on one side of the link, with its connection ends and listeners."""

    def __init__(self, sim: Simulation, ip: str, side: Side) -> None:
        self.sim = sim
        self.ip = ip
        self.side = side
        self.ends: dict[tuple[int, str, int], End] = {}
        self.listeners: dict[int, tuple[EndFactory, AppFactory]] = {}
        rng = random.Random(f"{sim.seed}:ports:{ip}")
        self._next_port = EPHEMERAL_PORTS.start + rng.randrange(len(EPHEMERAL_PORTS) // 2)

    def __repr__(self) -> str:
        return f"Host({self.ip})"

    def ephemeral_port(self) -> int:
        """The next client port (RFC 6335 §6 dynamic range), from a seeded start."""
        port = self._next_port
        self._next_port += 1
        if port not in EPHEMERAL_PORTS:
            raise SimulationError(f"{self.ip} ran out of ephemeral ports")
        return port

    def listen(self, port: int, factory: EndFactory, app: AppFactory) -> None:
        """Accept connections on ``port``: every new SYN gets an end from ``factory``."""
        self.listeners[port] = (factory, app)

    def receive(self, packet: Packet, now: float) -> None:
        seg = packet.segment
        key = (seg.dst_port, packet.src, seg.src_port)
        end = self.ends.get(key)
        pure_syn = seg.is_syn and not seg.is_ack
        if (
            pure_syn
            and seg.dst_port in self.listeners
            and (end is None or end.endpoint.state is TcpState.CLOSED)
        ):
            factory, app = self.listeners[seg.dst_port]
            end = self.sim.open_end(
                self, seg.dst_port, (packet.src, seg.src_port), factory, app(), active=False
            )
        if end is None:
            rst = reset_for(packet)
            if rst is not None:
                self.sim.link.send(self.side.path, rst, now)
            return
        end.endpoint.receive_segment(seg, now)
        self.sim.touch(end)


@dataclass(eq=False)
class _Start:
    """A connection that will be opened: at ``at``, or ``gap`` after ``after`` finished."""

    open: Callable[[], End]
    at: float | None
    after: Callable[[], bool] | None
    gap: float


class Simulation:
    """Hosts, the link and the clock of one run."""

    def __init__(
        self,
        link: Link,
        *,
        seed: int = 0,
        keylog: KeyLogWriter | None = None,
        time_limit: float = DEFAULT_TIME_LIMIT,
    ) -> None:
        self.link = link
        self.seed = seed
        self.keylog = keylog
        self.time_limit = time_limit
        self.now = 0.0
        self.hosts: dict[str, Host] = {}
        self.ends: list[End] = []
        self._starts: list[_Start] = []
        self._dirty: list[End] = []
        self._names: dict[str, int] = {}

    # -- set-up ------------------------------------------------------------------------
    def rng(self, name: str) -> random.Random:
        """A generator of its own for ``name``, seeded from the run's seed."""
        return random.Random(f"{self.seed}:{name}")

    def host(self, ip: str, side: Side) -> Host:
        if ip in self.hosts:
            raise LocalProtocolError(f"host {ip} exists already")
        host = self.hosts[ip] = Host(self, ip, side)
        return host

    def _unique(self, name: str) -> str:
        count = self._names.get(name, 0)
        self._names[name] = count + 1
        return name if count == 0 else f"{name}#{count}"

    def open_end(
        self,
        host: Host,
        local_port: int,
        remote: tuple[str, int],
        factory: EndFactory,
        app: App,
        *,
        active: bool,
    ) -> End:
        """Build an end, register it, bind its app, and connect() or listen()."""
        remote_ip, remote_port = remote
        name = self._unique(f"{host.ip}:{local_port}-{remote_ip}:{remote_port}")
        info = EndInfo(
            name,
            host.ip,
            local_port,
            remote_ip,
            remote_port,
            self.rng(f"end:{name}").randbytes,
            self.keylog,
        )
        endpoint, sock = factory(info)
        end = End(name, host, local_port, remote_ip, remote_port, endpoint, app, active, self.now)
        host.ends[(local_port, remote_ip, remote_port)] = end
        self.ends.append(end)
        app.bind(sock)
        if active:
            endpoint.connect(self.now)
        else:
            endpoint.listen()
        app.on_start(self.now)
        self.touch(end)
        return end

    def connect(
        self,
        client: Host,
        server_ip: str,
        server_port: int,
        factory: EndFactory,
        app: App,
        *,
        at: float | None = None,
        after: Connection | None = None,
        gap: float = 0.5,
        port: int | None = None,
    ) -> Connection:
        """Schedule an active open from ``client``: at time ``at``, or ``gap`` seconds after
        connection ``after`` finished (both ends), or now."""
        conn = Connection(self, client, server_ip, server_port)

        def start() -> End:
            local = port if port is not None else client.ephemeral_port()
            conn.end = self.open_end(
                client, local, (server_ip, server_port), factory, app, active=True
            )
            return conn.end

        when = at if at is not None or after is not None else self.now
        self._starts.append(_Start(start, when, after.finished if after is not None else None, gap))
        return conn

    # -- running -----------------------------------------------------------------------
    def touch(self, end: End) -> None:
        if not end.dirty:
            end.dirty = True
            self._dirty.append(end)

    def _pump(self) -> None:
        """Let every touched end send and report until all are quiet."""
        while self._dirty:
            end = self._dirty.pop(0)
            end.dirty = False
            busy = True
            while busy:
                busy = False
                for seg in end.endpoint.segments_to_send(self.now):
                    busy = True
                    packet = Packet(end.host.ip, end.remote_ip, seg)
                    self.link.send(end.host.side.path, packet, self.now)
                while (event := end.endpoint.next_event()) is not None:
                    busy = True
                    self._note(end, event)
                    end.app.on_event(event, self.now)
            if end.finished_at is None and end.finished:
                end.finished_at = self.now

    @staticmethod
    def _note(end: End, event: Event) -> None:
        result = end.result
        if isinstance(event, EnoNegotiated):
            result.negotiated = event
        elif isinstance(event, EncryptionEnabled):
            result.encryption = event
        elif isinstance(event, FellBack):
            result.fallback = event
        elif isinstance(event, KeysUpdated):
            result.generation = max(result.generation, event.generation)

    def _deliver(self, packet: Packet, now: float) -> None:
        host = self.hosts.get(packet.dst)
        if host is not None:
            host.receive(packet, now)

    def _start_due(self) -> None:
        for start in list(self._starts):
            if start.at is None and start.after is not None and start.after():
                start.at = self.now + start.gap
            if start.at is not None and start.at <= self.now:
                self._starts.remove(start)
                start.open()

    def _next_time(self) -> float | None:
        times: list[float] = []
        link_time = self.link.next_time()
        if link_time is not None:
            times.append(link_time)
        for end in self.ends:
            timer = end.endpoint.get_timer()
            if timer is not None:
                times.append(timer)
            if end.app.timer is not None:
                times.append(end.app.timer)
        times += [s.at for s in self._starts if s.at is not None]
        return min(times, default=None)

    def run(self) -> None:
        """Run until every connection has finished and nothing is in flight."""
        while True:
            self._start_due()
            self._pump()
            when = self._next_time()
            if when is None:
                break
            if when > self.time_limit:
                raise SimulationError(f"still running at {self.time_limit} s: {self._stuck()}")
            self.now = max(self.now, when)
            while self.link.advance(self.now, self._deliver):
                self._pump()
            for end in self.ends:
                timer = end.endpoint.get_timer()
                if timer is not None and timer <= self.now:
                    end.endpoint.handle_timer(self.now)
                    self.touch(end)
                if end.app.timer is not None and end.app.timer <= self.now:
                    end.app.on_timer(self.now)
                    self.touch(end)
        if self._starts or any(not end.finished for end in self.ends):
            raise SimulationError(f"nothing left to happen, but not finished: {self._stuck()}")

    def _stuck(self) -> str:
        waiting = [f"{e.name} in {e.endpoint.state.value}" for e in self.ends if not e.finished]
        if self._starts:
            waiting.append(f"{len(self._starts)} connection(s) not started")
        return ", ".join(waiting) or "nothing"


class Connection:
    """A connection opened by :meth:`Simulation.connect`: its active end, and the peer
    end (found on the peer host by the four-tuple) once there is one."""

    def __init__(self, sim: Simulation, client: Host, server_ip: str, server_port: int) -> None:
        self.sim = sim
        self.client = client
        self.server_ip = server_ip
        self.server_port = server_port
        self.end: End | None = None

    @property
    def peer(self) -> End | None:
        host = self.sim.hosts.get(self.server_ip)
        if self.end is None or host is None:
            return None
        return host.ends.get((self.server_port, self.client.ip, self.end.local_port))

    def finished(self) -> bool:
        """Both ends finished (or the SYN never made one on the peer)."""
        end = self.end
        if end is None or not end.finished:
            return False
        peer = self.peer
        return peer is None or peer.finished
