"""Building blocks the scenarios share: configurations, the usual two-host set-up, HTTP.

The usual set-up: one client (``192.0.2.1`` or ``2001:db8:c::1``) and one server
(``198.51.100.1`` or ``2001:db8:5::1``, HTTP on port 80), 10 ms apart each way, the capture
at the client's interface (:func:`~tcpinc_tools.sim.link.client_side_paths`). The client's
stack writes the key log (one line per session, as a browser's SSLKEYLOGFILE would).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from ...protocol.connection import TcpincConfig, TcpincConnection
from ...protocol.eno import EnoConfig
from ...protocol.resumption import ResumptionCache
from ...protocol.tcpcrypt import TcpcryptConfig
from ...wire.constants import AeadId, Dialect, TepId
from ..apps import App, HttpClient, HttpServer, Socket, http_request, http_response
from ..driver import Connection, EndFactory, EndInfo, Endpoint, Host, Simulation
from ..link import Link, Side, Stage, client_side_paths, server_side_paths
from .registry import ScenarioContext

__all__ = [
    "AEADS",
    "ALL_AEADS",
    "ALL_TEPS",
    "DEFAULT_BCONF",
    "DEFAULT_TEPS",
    "DELAY",
    "HTTP_PORT",
    "SERVER_NAME",
    "TEPS",
    "Pair",
    "config",
    "fetch",
    "open_simultaneously",
    "page",
    "prefer",
    "serve",
    "tcpinc_end",
    "two_hosts",
]

_T = TypeVar("_T", bound=int)

# The scenario-name spellings of the tcpcrypt TEPs (RFC 8548 §7 Table 4) and AEADs (Table 5).
TEPS: Final = {
    "p256": TepId.TCPCRYPT_ECDHE_P256,
    "p521": TepId.TCPCRYPT_ECDHE_P521,
    "x25519": TepId.TCPCRYPT_ECDHE_Curve25519,
    "x448": TepId.TCPCRYPT_ECDHE_Curve448,
}
AEADS: Final = {
    "aes128gcm": AeadId.AEAD_AES_128_GCM,
    "aes256gcm": AeadId.AEAD_AES_256_GCM,
    "chacha20poly1305": AeadId.AEAD_CHACHA20_POLY1305,
}
ALL_TEPS: Final = tuple(TEPS.values())
ALL_AEADS: Final = tuple(AEADS.values())
# The defaults of our hosts, in increasing preference: the mandatory-to-implement X25519
# (RFC 8548 §5) and AES-128-GCM (§6) come last, so they are what two defaults agree on.
DEFAULT_TEPS: Final = (
    TepId.TCPCRYPT_ECDHE_P256,
    TepId.TCPCRYPT_ECDHE_P521,
    TepId.TCPCRYPT_ECDHE_Curve448,
    TepId.TCPCRYPT_ECDHE_Curve25519,
)
DEFAULT_BCONF: Final = (
    AeadId.AEAD_AES_256_GCM,
    AeadId.AEAD_CHACHA20_POLY1305,
    AeadId.AEAD_AES_128_GCM,
)
LEGACY_TEPS: Final = (TepId.TCPCRYPT_ECDHE_P256, TepId.TCPCRYPT_ECDHE_P521)

HTTP_PORT: Final = 80
SERVER_NAME: Final = "server.example"  # RFC 6761 §6.5: a name reserved for examples
DELAY: Final = 0.01  # one way: a 20 ms round trip


def prefer(items: Sequence[_T], choice: _T) -> tuple[_T, ...]:
    """``items`` with ``choice`` moved last: most preferred in a TEP list or BCONF
    (increasing preference, RFC 8547 §4.5 and draft-ietf-tcpinc-api-06 §3)."""
    return (*(i for i in items if i != choice), choice)


def config(
    *,
    teps: Sequence[int] = DEFAULT_TEPS,
    aconf: Sequence[AeadId] = ALL_AEADS,
    bconf: Sequence[AeadId] = DEFAULT_BCONF,
    dialect: Dialect = "rfc",
    **eno: bool,
) -> TcpincConfig:
    """A stack configuration: tcpcrypt TEPs and AEADs, and TCP-ENO switches (``eno``)."""
    return TcpincConfig(
        eno=EnoConfig(dialect=dialect, **eno),
        tcpcrypt=TcpcryptConfig(teps=tuple(teps), aconf=tuple(aconf), bconf=tuple(bconf)),
    )


def tcpinc_end(
    cfg: TcpincConfig | None = None,
    *,
    cache: ResumptionCache | None = None,
    keylog: bool = False,
) -> EndFactory:
    """Ends of our full stack (TCP + TCP-ENO + tcpcrypt). The resumption cache, if any,
    names each peer by its IP address; ``keylog`` lets this end write the run's key log."""

    def make(info: EndInfo) -> tuple[Endpoint, Socket]:
        conn = TcpincConnection(
            local_port=info.local_port,
            remote_port=info.remote_port,
            config=cfg if cfg is not None else config(),
            random_bytes=info.random_bytes,
            keylog=info.keylog if keylog else None,
            cache=cache,
            peer=info.remote_ip,
        )
        return conn, conn

    return make


@dataclass(frozen=True, slots=True)
class Pair:
    sim: Simulation
    client: Host
    server: Host


def two_hosts(
    ctx: ScenarioContext,
    *,
    capture: Literal["client", "server"] = "client",
    delay: float = DELAY,
    up: Sequence[Stage] = (),
    down: Sequence[Stage] = (),
    paths: tuple[Sequence[Stage], Sequence[Stage]] | None = None,
) -> Pair:
    """The usual client and server. ``capture`` places the tap, ``up`` / ``down`` are the
    network's stages beyond it (:func:`~tcpinc_tools.sim.link.client_side_paths`); or
    ``paths`` gives both paths whole."""
    if paths is None:
        place = client_side_paths if capture == "client" else server_side_paths
        paths = place(ctx.tap, delay, up, down)
    sim = Simulation(Link(*paths), seed=ctx.seed, keylog=ctx.keylog)
    client = sim.host(ctx.address("client"), Side.CLIENT)
    server = sim.host(ctx.address("server"), Side.SERVER)
    return Pair(sim, client, server)


def page(scenario: str, *lines: str) -> bytes:
    """A small text/plain body that names the scenario (it shows in a decrypted capture)."""
    text = f"tcpinc gen scenario {scenario}\n" + "".join(f"{line}\n" for line in lines)
    return text.encode("ascii")


def serve(
    host: Host,
    factory: EndFactory,
    body: bytes,
    *,
    port: int = HTTP_PORT,
    app: type[HttpServer] = HttpServer,
) -> None:
    """An HTTP server on ``host``: every connection gets ``body`` back."""
    response = http_response(body)
    host.listen(port, factory, lambda: app(response))


def fetch(
    pair: Pair,
    path: str,
    factory: EndFactory,
    *,
    client: Host | None = None,
    app: App | None = None,
    port: int = HTTP_PORT,
    after: Connection | None = None,
    at: float | None = None,
    gap: float = 0.5,
) -> Connection:
    """A GET of ``path`` from ``client`` (the pair's client by default) to the server."""
    host = client if client is not None else pair.client
    return pair.sim.connect(
        host,
        pair.server.ip,
        port,
        factory,
        app if app is not None else HttpClient(http_request(path, SERVER_NAME)),
        after=after,
        at=at,
        gap=gap,
    )


def open_simultaneously(
    pair: Pair, path: str, body: bytes, client: EndFactory, server: EndFactory
) -> None:
    """A simultaneous open (RFC 9293 §3.5, RFC 8547 Fig. 12): the client, on a port of its
    own, and the server, on port 80, connect to each other at the same instant; the client
    GETs ``path`` and the server answers ``body`` over the one connection that results."""
    port = pair.client.ephemeral_port()
    pair.sim.connect(
        pair.client,
        pair.server.ip,
        HTTP_PORT,
        client,
        HttpClient(http_request(path, SERVER_NAME)),
        port=port,
        at=0.0,
    )
    pair.sim.connect(
        pair.server,
        pair.client.ip,
        port,
        server,
        HttpServer(http_response(body)),
        port=HTTP_PORT,
        at=0.0,
    )
