"""``resume``: a full exchange, then resumptions i = 1 and i = 2 (RFC 8548 §3.5).

Both hosts keep a resumption cache (keyed by the peer's address). The first connection does
a fresh X25519 exchange; each host caches ss[1]. The second connection's SYN offers
resumption (TEP 0xa3 with A's half of resume[1] and an 8-byte nonce), the SYN-ACK accepts
with B's half: no Init1/Init2, frames from the first data byte, the session ID's first byte
0xa3. The third does the same with ss[2]. The key log has one TCPCRYPT_SS_INIT1 line and a
TCPCRYPT_SS_RESUME line per resumption (each derivable from the first: ss[i] chains).
"""

from __future__ import annotations

from ...protocol.resumption import ResumptionCache
from ...wire.constants import AeadId, TepId
from ..driver import Simulation
from .common import config, fetch, page, serve, tcpinc_end, two_hosts
from .registry import ScenarioContext, register

__all__: list[str] = []


@register("resume", "resume")
def resume(ctx: ScenarioContext) -> Simulation:
    """full X25519 exchange, then two resumed sessions (ss[1], ss[2]); HTTP in each"""
    pair = two_hosts(ctx)
    cfg = config(teps=(TepId.TCPCRYPT_ECDHE_Curve25519,), aconf=(AeadId.AEAD_AES_128_GCM,))
    serve(
        pair.server,
        tcpinc_end(cfg, cache=ResumptionCache()),
        page("resume", "one full key exchange, then resumptions i = 1 and i = 2"),
    )
    client = tcpinc_end(cfg, cache=ResumptionCache(), keylog=True)
    first = fetch(pair, "/resume/0-fresh", client)
    second = fetch(pair, "/resume/1-resumed", client, after=first)
    fetch(pair, "/resume/2-resumed", client, after=second)
    return pair.sim
