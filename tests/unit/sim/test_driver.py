"""The driver: connections run to completion on the simulated clock, hosts route segments
and answer strays with RST, sequencing, determinism, and the stuck-run errors."""

from __future__ import annotations

import random

import pytest

from tcpinc_tools.protocol.tcp import TcpConnection, TcpState
from tcpinc_tools.sim.apps import App, HttpClient, HttpServer, PlainSocket, Socket
from tcpinc_tools.sim.driver import EPHEMERAL_PORTS, EndInfo, Endpoint, Simulation, SimulationError
from tcpinc_tools.sim.link import EPOCH, Impair, Link, Side, Tap, client_side_paths

from .helpers import ListSink


def plain(info: EndInfo) -> tuple[Endpoint, Socket]:
    tcp = TcpConnection(
        local_port=info.local_port, remote_port=info.remote_port, random_bytes=info.random_bytes
    )
    return tcp, PlainSocket(tcp)


def setup(seed: int = 0, **impair: float) -> tuple[Simulation, ListSink]:
    sink = ListSink()
    stages = [Impair(random.Random(seed), **impair)] if impair else []
    sim = Simulation(Link(*client_side_paths(Tap(sink), 0.01, up=stages)), seed=seed)
    return sim, sink


def test_plain_http_runs_to_completion() -> None:
    sim, sink = setup()
    client = sim.host("192.0.2.1", Side.CLIENT)
    server = sim.host("198.51.100.1", Side.SERVER)
    server.listen(80, plain, lambda: HttpServer(b"HTTP/1.1 200 OK\r\n\r\nhello"))
    app = HttpClient(b"GET / HTTP/1.1\r\n\r\n")
    conn = sim.connect(client, server.ip, 80, plain, app)
    sim.run()
    assert app.received == b"HTTP/1.1 200 OK\r\n\r\nhello" and app.ended == "closed"
    assert conn.finished() and conn.end is not None and conn.peer is not None
    assert conn.peer.app.received == b"GET / HTTP/1.1\r\n\r\n"
    # SYN, SYN-ACK, ACK+request, ACK, response+FIN, ACK, FIN, ACK at least; all after EPOCH.
    assert len(sink.records) >= 7 and sink.records[0][0] == EPOCH
    assert [r[0] for r in sink.records] == sorted(r[0] for r in sink.records)
    assert conn.end.local_port in EPHEMERAL_PORTS


def test_ports_and_randomness_depend_on_seed_and_name_only() -> None:
    ports = []
    for seed in (0, 0, 1):
        sim, _ = setup(seed)
        host = sim.host("192.0.2.1", Side.CLIENT)
        ports.append((host.ephemeral_port(), host.ephemeral_port()))
    assert ports[0] == ports[1] and ports[0] != ports[2]
    assert ports[0][1] == ports[0][0] + 1
    sim, _ = setup()
    assert sim.rng("x").random() == Simulation(Link([], []), seed=0).rng("x").random()


def test_closed_port_answers_rst() -> None:
    sim, sink = setup()
    client = sim.host("192.0.2.1", Side.CLIENT)
    sim.host("198.51.100.1", Side.SERVER)
    app = App()
    sim.connect(client, "198.51.100.1", 81, plain, app)
    sim.run()
    assert app.ended == "connection refused (reset in SYN-SENT)"
    assert len(sink.records) == 2  # the SYN and the RST


def test_after_starts_a_connection_once_the_first_finished() -> None:
    sim, _ = setup()
    client = sim.host("192.0.2.1", Side.CLIENT)
    server = sim.host("198.51.100.1", Side.SERVER)
    server.listen(80, plain, lambda: HttpServer(b"ok"))
    first = sim.connect(client, server.ip, 80, plain, HttpClient(b"GET /1 HTTP/1.1\r\n\r\n"))
    second = sim.connect(
        client, server.ip, 80, plain, HttpClient(b"GET /2 HTTP/1.1\r\n\r\n"), after=first, gap=1.0
    )
    sim.run()
    assert first.end is not None and second.end is not None
    assert first.end.finished_at is not None
    assert second.end.started_at == pytest.approx(first.end.finished_at + 1.0)
    assert second.end.local_port == first.end.local_port + 1


class Silent(HttpServer):
    """Takes the request and never answers."""

    def respond(self, now: float) -> None:
        pass


def test_a_stuck_run_is_reported() -> None:
    sim, _ = setup()
    client = sim.host("192.0.2.1", Side.CLIENT)
    server = sim.host("198.51.100.1", Side.SERVER)
    server.listen(80, plain, lambda: Silent(b""))
    sim.connect(client, server.ip, 80, plain, HttpClient(b"GET / HTTP/1.1\r\n\r\n"))
    with pytest.raises(SimulationError, match=r"not finished: .* in ESTABLISHED"):
        sim.run()


def test_time_limit() -> None:
    sim, _ = setup(loss=0.999999)
    sim.time_limit = 5.0
    client = sim.host("192.0.2.1", Side.CLIENT)
    sim.host("198.51.100.1", Side.SERVER)
    sim.connect(client, "198.51.100.1", 80, plain, App())
    with pytest.raises(SimulationError, match=r"still running at 5\.0 s"):
        sim.run()


def test_listener_makes_one_end_per_connection_and_timers_close_time_wait() -> None:
    sim, _ = setup()
    client = sim.host("192.0.2.1", Side.CLIENT)
    server = sim.host("198.51.100.1", Side.SERVER)
    server.listen(80, plain, lambda: HttpServer(b"ok"))
    apps = [HttpClient(b"GET / HTTP/1.1\r\n\r\n") for _ in range(3)]
    for i, app in enumerate(apps):
        sim.connect(client, server.ip, 80, plain, app, at=0.001 * i)
    sim.run()
    assert len(server.ends) == 3 and len(sim.ends) == 6
    assert len({e.name for e in sim.ends}) == 6
    # The server closed first: its ends sat in TIME-WAIT, whose timer the run let expire.
    assert all(e.endpoint.state is TcpState.CLOSED for e in server.ends.values())
    assert [a.ended for a in apps] == ["closed"] * 3
