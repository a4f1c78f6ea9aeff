"""Caller misuse raises LocalProtocolError; nothing the peer sends ever raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol import (
    ConnectionAborted,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    TcpState,
)
from tests.support import property_settings

from .link import PORT_A, PORT_B, make_pair, open_link


def fresh() -> TcpConnection:
    return TcpConnection(local_port=PORT_A, remote_port=PORT_B, iss=1)


def connected() -> TcpConnection:
    a, b = make_pair()
    open_link(a, b)
    return a


def closed_by_peer() -> TcpConnection:
    a, b = make_pair()
    link = open_link(a, b)
    b.abort()
    link.run()
    assert a.next_event() is None and link.events["a"][-1] == ConnectionAborted(
        "connection reset by peer"
    )
    return a


def calls(*names: str) -> Callable[[TcpConnection], None]:
    """Call the named methods in turn (the last one is the misuse)."""

    def run(conn: TcpConnection) -> None:
        for name in names:
            method = getattr(conn, name)
            if name == "connect":
                method(0.0)
            elif name in ("send", "send_urgent"):
                method(b"x")
            else:
                method()

    return run


MISUSES: list[tuple[str, Callable[[], TcpConnection], Callable[[TcpConnection], None]]] = [
    ("connect twice", fresh, calls("connect", "connect")),
    ("connect after listen", fresh, calls("listen", "connect")),
    ("listen after connect", fresh, calls("connect", "listen")),
    ("listen twice", fresh, calls("listen", "listen")),
    ("connect without a remote port", lambda: TcpConnection(local_port=1), calls("connect")),
    ("send before opening", fresh, calls("send")),
    ("send while listening", fresh, calls("listen", "send")),
    ("send after close", connected, calls("close", "send")),
    ("urgent after close", connected, calls("close", "send_urgent")),
    ("close twice", connected, calls("close", "close")),
    ("close before opening", fresh, calls("close")),
    ("send after a reset", closed_by_peer, calls("send")),
    ("close after a reset", closed_by_peer, calls("close")),
    ("reconnect after a reset", closed_by_peer, calls("connect")),
]


@pytest.mark.parametrize(("name", "make", "misuse"), MISUSES, ids=[m[0] for m in MISUSES])
def test_misuse_raises(
    name: str, make: Callable[[], TcpConnection], misuse: Callable[[TcpConnection], None]
) -> None:
    conn = make()
    with pytest.raises(LocalProtocolError):
        misuse(conn)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"local_port": 70000},
        {"local_port": 1, "remote_port": -1},
        {"local_port": 1, "iss": 2**32},
        {"local_port": 1, "iss": -1},
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(LocalProtocolError):
        TcpConnection(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mss": 10},
        {"mss": 70000},
        {"window_scale": 15},
        {"window_scale": None, "window": 70000},
        {"window_scale": 14, "window": 8192},  # not even one 16 KiB unit to offer
        {"window": 0},
        {"min_rto": 2.0, "initial_rto": 1.0},
        {"max_retransmissions": -1},
        {"time_wait": -1.0},
    ],
)
def test_bad_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        TcpConfig(**kwargs)  # type: ignore[arg-type]


def test_iss_from_random_bytes() -> None:
    conn = TcpConnection(local_port=1, random_bytes=lambda n: bytes(range(1, n + 1)))
    assert conn.iss == 0x01020304


flags = st.integers(0, 0xFF).map(TcpFlags)
junk_segments = st.builds(
    Segment,
    src_port=st.sampled_from([PORT_A, PORT_B, 9]),
    dst_port=st.sampled_from([PORT_A, PORT_B]),
    seq=st.integers(0, 2**32 - 1),
    ack=st.integers(0, 2**32 - 1),
    flags=flags,
    window=st.integers(0, 0xFFFF),
    options=st.binary(max_size=40),
    payload=st.binary(max_size=64),
    urgent_pointer=st.integers(0, 0xFFFF),
)


@property_settings
@given(
    start=st.sampled_from(["closed", "listen", "syn_sent", "established", "fin_wait"]),
    junk=st.lists(junk_segments, max_size=8),
    near=st.lists(st.tuples(flags, st.integers(-3000, 3000), st.integers(-3000, 3000))),
)
def test_peer_misbehaviour_never_raises(
    start: str, junk: list[Segment], near: list[tuple[TcpFlags, int, int]]
) -> None:
    a, b = make_pair(iss_a=2**32 - 2, iss_b=12)
    if start == "established" or start == "fin_wait":
        open_link(a, b)
        if start == "fin_wait":
            a.send(b"data")
            a.close()
    elif start == "listen":
        a.listen()
    elif start == "syn_sent":
        a.connect(0.0)
    now = 5.0
    # Segments near the live sequence numbers reach the interesting branches.
    plausible = [
        Segment(
            PORT_B, PORT_A, (a.rcv_nxt + ds) % 2**32, (a.snd_nxt + da) % 2**32, f, 512, b"", b"z"
        )
        for f, ds, da in near
    ]
    for seg in [*junk, *plausible]:
        a.receive_segment(seg, now)
        for out in a.segments_to_send(now):
            assert out.src_port == PORT_A
        while a.next_event() is not None:
            pass
        timer = a.get_timer()
        if timer is not None:
            now = max(now, timer)
            a.handle_timer(now)
    assert isinstance(a.state, TcpState)
