"""Two TcpincConnections over the fake link (tests/unit/protocol/link.py), h11 ConnectionPair
style, plus a link-side tamperer and a reassembler for what a side put on the wire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tcpinc_tools.keylog import KeyLogWriter
from tcpinc_tools.protocol.connection import ConnectionMode, TcpincConfig, TcpincConnection
from tcpinc_tools.protocol.eno import EnoConfig
from tcpinc_tools.protocol.events import ConnectionClosed, EncryptionEnabled, Event
from tcpinc_tools.protocol.resumption import ResumptionCache
from tcpinc_tools.protocol.segment import Segment
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig

from .link import PORT_A, PORT_B, Endpoint, Link, Side

__all__ = [
    "Pair",
    "Tamper",
    "config",
    "make_pair",
    "once",
    "sent_stream",
    "with_payload",
]

CLIENT, SERVER = "client-host", "server-host"


def config(
    *,
    dialect: str = "rfc",
    tcpcrypt: TcpcryptConfig | None = None,
    **eno: object,
) -> TcpincConfig:
    teps = (0x21, 0x22) if dialect == "legacy" else TcpcryptConfig().teps
    return TcpincConfig(
        eno=EnoConfig(dialect=dialect, **eno),  # type: ignore[arg-type]
        tcpcrypt=tcpcrypt or TcpcryptConfig(teps=teps),
    )


@dataclass
class Pair:
    a: TcpincConnection
    b: TcpincConnection
    link: Link

    def open(self, *, simultaneous: bool = False) -> Pair:
        """Open (b listens, a connects; or both connect) and run until ENO decided and the
        tcpcrypt keys, if any, are ready on both sides (or the connection died)."""
        if simultaneous:
            self.b.connect(self.link.now)
        else:
            self.b.listen()
        self.a.connect(self.link.now)
        self.link.run(lambda: self.settled("a") and self.settled("b"), max_time=120)
        return self

    def settled(self, side: Side) -> bool:
        """ENO decided and, when encrypting, the tcpcrypt keys are ready (or it ended)."""
        conn = self.end(side)
        if conn.mode in (ConnectionMode.PLAIN, ConnectionMode.ABORTED):
            return True
        return self.link.has(side, EncryptionEnabled)

    def end(self, side: Side) -> TcpincConnection:
        return self.a if side == "a" else self.b

    def run_until_received(self, side: Side, data: bytes, *, max_time: float = 600) -> None:
        self.link.run(lambda: self.link.received(side) == data, max_time=max_time)

    def close_both(self, *, max_time: float = 600) -> None:
        self.a.close()
        self.b.close()
        self.link.run(
            lambda: self.link.has("a", ConnectionClosed) and self.link.has("b", ConnectionClosed),
            max_time=max_time,
        )

    def events(self, side: Side) -> list[Event]:
        return self.link.events[side]

    def kinds(self, side: Side) -> list[str]:
        return [type(e).__name__ for e in self.link.events[side]]


class Tamper:
    """An endpoint whose outgoing segments pass through ``change`` (None drops one)."""

    def __init__(self, inner: Endpoint, change: Callable[[Segment], Segment | None]) -> None:
        self.inner = inner
        self.change = change

    def receive_segment(self, seg: Segment, now: float) -> None:
        self.inner.receive_segment(seg, now)

    def segments_to_send(self, now: float) -> list[Segment]:
        out = []
        for seg in self.inner.segments_to_send(now):
            changed = self.change(seg)
            if changed is not None:
                out.append(changed)
        return out

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def handle_timer(self, now: float) -> None:
        self.inner.handle_timer(now)

    def next_event(self) -> Event | None:
        return self.inner.next_event()


def once(
    change: Callable[[Segment], Segment | None], when: Callable[[Segment], bool]
) -> Callable[[Segment], Segment | None]:
    """Apply ``change`` to the first segment for which ``when`` holds, and to no other."""
    done = False

    def apply(seg: Segment) -> Segment | None:
        nonlocal done
        if done or not when(seg):
            return seg
        done = True
        return change(seg)

    return apply


def with_payload(seg: Segment, payload: bytes) -> Segment:
    return replace(seg, payload=payload)


def make_pair(
    *,
    config_a: TcpincConfig | None = None,
    config_b: TcpincConfig | None = None,
    seed: int = 0,
    keylog_a: KeyLogWriter | None = None,
    keylog_b: KeyLogWriter | None = None,
    cache_a: ResumptionCache | None = None,
    cache_b: ResumptionCache | None = None,
    random_a: Callable[[int], bytes] | None = None,
    random_b: Callable[[int], bytes] | None = None,
    tamper_a: Callable[[Segment], Segment | None] | None = None,
    tamper_b: Callable[[Segment], Segment | None] | None = None,
    swap_hosts: bool = False,
    simultaneous: bool = False,
    **link_args: object,
) -> Pair:
    """Connection ``a`` (port PORT_A, the active opener) and ``b`` (port PORT_B).

    ``a`` runs on the client host and ``b`` on the server host, so the caches name their
    peers "server-host" and "client-host"; ``swap_hosts`` puts ``a`` on the server host
    (the original B connecting actively, RFC 8548 §3.5)."""
    import random

    rng_a = random_a or random.Random(seed).randbytes
    rng_b = random_b or random.Random(seed + 1000).randbytes
    peer_a, peer_b = (CLIENT, SERVER) if swap_hosts else (SERVER, CLIENT)
    a = TcpincConnection(
        local_port=PORT_A,
        remote_port=PORT_B,
        config=config_a or config(),
        random_bytes=rng_a,
        keylog=keylog_a,
        cache=cache_a,
        peer=peer_a,
    )
    b = TcpincConnection(
        local_port=PORT_B,
        remote_port=PORT_A if simultaneous else None,
        config=config_b or config(),
        random_bytes=rng_b,
        keylog=keylog_b,
        cache=cache_b,
        peer=peer_b,
    )
    end_a: Endpoint = a if tamper_a is None else Tamper(a, tamper_a)
    end_b: Endpoint = b if tamper_b is None else Tamper(b, tamper_b)
    link = Link(end_a, end_b, seed=seed, **link_args)  # type: ignore[arg-type]
    return Pair(a, b, link)


def sent_stream(link: Link, side: Side) -> bytes:
    """The data bytes ``side`` put on the wire, in sequence order (each byte once)."""
    got: dict[int, int] = {}
    base: int | None = None
    for t in link.trace:
        seg = t.segment
        if t.sender != side:
            continue
        if seg.is_syn:
            base = (seg.seq + 1) % 2**32
            continue
        if base is None:
            continue
        start = (seg.seq - base) % 2**32
        for i, byte in enumerate(seg.payload):
            got.setdefault(start + i, byte)
    return bytes(got[i] for i in range(len(got)))
