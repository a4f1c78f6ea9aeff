"""Traffic shapes over an encrypted connection: rekey, simultaneous open, urgent data, bulk
transfer, a lossy path, and many connections at once."""

from __future__ import annotations

from typing import Final

from ...protocol.resumption import ResumptionCache
from ...wire.constants import TepId
from ..apps import HttpClient, HttpServer, http_request
from ..driver import Simulation
from ..link import Impair, Link, Side, client_side_paths
from .common import (
    ALL_AEADS,
    ALL_TEPS,
    HTTP_PORT,
    SERVER_NAME,
    config,
    fetch,
    open_simultaneously,
    page,
    serve,
    tcpinc_end,
    two_hosts,
)
from .registry import ScenarioContext, register

__all__: list[str] = []

# bulk: "several MB one way" (issue 4); the captures/ corpus uses a smaller --size.
BULK_SIZE: Final = 4 << 20
# many: connections when --count is not given.
MANY_COUNT: Final = 20
# lossy: the response size, enough for a few dozen segments to lose, copy and reorder.
LOSSY_BODY: Final = 48 << 10


class _RekeyClient(HttpClient):
    """Waits for the keys, sends half the request body, rekeys, sends the other half."""

    def on_start(self, now: float) -> None:
        pass

    def on_encrypted(self, now: float) -> None:
        half = len(self.request) // 2
        self.sock.send(self.request[:half])
        self.sock.rekey()
        self.sock.send(self.request[half:])


class _RekeyServer(HttpServer):
    """Sends half the response, rekeys, sends the rest and closes."""

    def respond(self, now: float) -> None:
        half = len(self.response) // 2
        self.sock.send(self.response[:half])
        self.sock.rekey()
        self.sock.send(self.response[half:])
        self.close()


@register("rekey", "traffic")
def rekey(ctx: ScenarioContext) -> Simulation:
    """each side rekeys mid-message (RFC 8548 §3.8); the peer answers: key generation 2"""
    pair = two_hosts(ctx)
    body = page("rekey", *(f"line {i}: the server rekeyed halfway through" for i in range(8)))
    serve(pair.server, tcpinc_end(), body, app=_RekeyServer)
    upload = page("rekey", *(f"line {i}: the client rekeyed halfway through" for i in range(8)))
    request = http_request("/rekey", SERVER_NAME, method="POST", body=upload)
    fetch(pair, "/rekey", tcpinc_end(keylog=True), app=_RekeyClient(request))
    return pair.sim


@register("simultaneous-open", "traffic")
def simultaneous_open(ctx: ScenarioContext) -> Simulation:
    """both hosts connect at once (RFC 8547 Fig. 12); the one with b=1 is B; HTTP over it"""
    pair = two_hosts(ctx)
    body = page("simultaneous-open", "both ends sent a SYN; the SYNs crossed")
    # RFC 8547 §4.3: exactly one side sets b=1 (out-of-band coordination); here the host on
    # the server side. Both SYN-ACKs repeat their SYN's option (§4.6).
    open_simultaneously(
        pair,
        "/simultaneous-open",
        body,
        tcpinc_end(keylog=True),
        tcpinc_end(config(b=True)),
    )
    return pair.sim


class _UrgentClient(HttpClient):
    """Sends the request, then urgent bytes (URGp in a frame, RFC 8548 §3.7)."""

    URGENT: Final = b"URGENT: interrupt\r\n"

    def on_start(self, now: float) -> None:
        self.sock.send(self.request)
        self.sock.send(self.URGENT, urgent=True)


@register("urgent", "traffic")
def urgent(ctx: ScenarioContext) -> Simulation:
    """the client sends urgent data after its request: a frame with URGp and urgent field"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(), page("urgent", "the request was followed by urgent data"))
    request = http_request("/urgent", SERVER_NAME)
    fetch(pair, "/urgent", tcpinc_end(keylog=True), app=_UrgentClient(request))
    return pair.sim


def bulk_body(size: int) -> bytes:
    """``size`` bytes of numbered text lines (readable in a decrypted capture)."""
    line = b"%09d tcpinc gen bulk transfer: numbered lines of text\n"
    line_len = len(line % 0)  # every line has the same length: 9 digits
    return b"".join(line % i for i in range(size // line_len + 1))[:size]


@register("bulk", "traffic", size=BULK_SIZE)
def bulk(ctx: ScenarioContext) -> Simulation:
    """a large download, --size bytes (default 4 MiB) one way, in 64 KiB frames"""
    size = ctx.size if ctx.size is not None else BULK_SIZE
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(), bulk_body(size))
    fetch(pair, "/bulk.txt", tcpinc_end(keylog=True))
    return pair.sim


@register("lossy", "traffic")
def lossy(ctx: ScenarioContext) -> Simulation:
    """5% loss, 3% duplication, 5% reordering each way; retransmissions repeat frame bytes"""
    up, down = (
        [Impair(ctx.rng(f"impair:{name}"), loss=0.05, duplicate=0.03, reorder=0.05)]
        for name in ("up", "down")
    )
    pair = two_hosts(ctx, up=up, down=down)
    serve(pair.server, tcpinc_end(), bulk_body(LOSSY_BODY))
    fetch(pair, "/lossy.txt", tcpinc_end(keylog=True))
    return pair.sim


@register("many", "traffic", count=MANY_COUNT)
def many(ctx: ScenarioContext) -> Simulation:
    """--count connections (default 20): mixed TEPs, AEADs, resumptions and fallbacks"""
    count = ctx.count if ctx.count is not None else MANY_COUNT
    up, down = client_side_paths(ctx.tap, 0.01)
    sim = Simulation(Link(up, down), seed=ctx.seed, keylog=ctx.keylog)
    clients = [sim.host(ctx.address("client", n), Side.CLIENT) for n in (1, 2, 3)]
    full, plain, p256 = (sim.host(ctx.address("server", n), Side.SERVER) for n in (1, 2, 3))
    body = page("many", "one of many connections")
    # A tcpcrypt server with every TEP; one with TCP-ENO off (RFC 8547 §4.6: plain TCP);
    # one with P-256 only, which clients that do not offer it reach unencrypted.
    serve(full, tcpinc_end(cache=ResumptionCache()), body)
    serve(plain, tcpinc_end(config(enabled=False)), body)
    serve(
        p256, tcpinc_end(config(teps=(TepId.TCPCRYPT_ECDHE_P256,)), cache=ResumptionCache()), body
    )
    caches = {client.ip: ResumptionCache() for client in clients}
    rng = ctx.rng("many")
    start = 0.0
    for i in range(count):
        client = rng.choice(clients)
        server = rng.choices((full, plain, p256), weights=(6, 2, 2))[0]
        teps = rng.sample(ALL_TEPS, rng.randint(1, len(ALL_TEPS)))
        aeads = rng.sample(ALL_AEADS, rng.randint(1, len(ALL_AEADS)))
        cfg = config(teps=teps, aconf=aeads)
        # Connections overlap: a new one every 20-60 ms; a client with a cached secret for
        # the server (and a TEP offered with it) resumes on its own (RFC 8548 §3.5).
        start += rng.uniform(0.02, 0.06)
        sim.connect(
            client,
            server.ip,
            HTTP_PORT,
            tcpinc_end(cfg, cache=caches[client.ip], keylog=True),
            HttpClient(http_request(f"/many/{i}", SERVER_NAME)),
            at=start,
        )
    return sim
