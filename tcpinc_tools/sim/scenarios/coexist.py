"""TCP-ENO beside other users of the SYN: ``coexist-mptcp-tfo`` and ``tls-tep``.

``coexist-mptcp-tfo``: the client's stack also speaks MPTCP (RFC 8684) and TCP Fast Open
(RFC 7413), which add MP_CAPABLE (4 bytes) and a TFO cookie request (2 bytes, the only TFO
form RFC 8547 §4.7 allows beside ENO) to each SYN, after TCP's own options and ENO. The
server supports neither and ignores them (RFC 8684 §3.1, RFC 7413 §4.2: plain TCP). The
first connection's SYN fits everything in 32 bytes. The second offers resumption: its
23-byte ENO option makes TCP leave out timestamps (ENO before timestamps, our stack's
rule), MP_CAPABLE still fits and the TFO request does not: a full 40-byte option area.

``tls-tep``: a draft-era TCP-use-TLS client offers TEP 0x30 only (draft-ietf-tcpinc-
tcpeno-06 §10; never registered) to a tcpcrypt server, which has no TEP in common and
answers with a vacuous option (RFC 8547 §4.6): plain TCP.
"""

from __future__ import annotations

from typing import Final

from ...protocol.resumption import ResumptionCache
from ...wire.constants import (
    MPTCP_FLAG_HMAC_SHA256,
    MPTCP_MP_CAPABLE_SYN_LEN,
    MPTCP_SUBTYPE_MP_CAPABLE,
    MPTCP_VERSION_1,
    TFO_COOKIE_REQUEST_LEN,
    TcpOptionKind,
    TepId,
)
from ..driver import Simulation
from ..link import Delay
from ..middlebox import AddOptions, is_syn_only
from ..peers import scripted_end
from .common import DELAY, fetch, page, serve, tcpinc_end, two_hosts
from .registry import ScenarioContext, register

__all__ = ["MP_CAPABLE_SYN", "TFO_COOKIE_REQUEST"]

# RFC 8684 §3.1: kind 30, length 4, subtype 0 | version 1, flags with H (HMAC-SHA256).
MP_CAPABLE_SYN: Final = bytes(
    (
        TcpOptionKind.MPTCP,
        MPTCP_MP_CAPABLE_SYN_LEN,
        (MPTCP_SUBTYPE_MP_CAPABLE << 4) | MPTCP_VERSION_1,
        MPTCP_FLAG_HMAC_SHA256,
    )
)
# RFC 7413 §4.1.1: kind 34, length 2, no cookie.
TFO_COOKIE_REQUEST: Final = bytes((TcpOptionKind.TFO, TFO_COOKIE_REQUEST_LEN))


@register("coexist-mptcp-tfo", "coexist")
def coexist_mptcp_tfo(ctx: ScenarioContext) -> Simulation:
    """SYNs with ENO beside MSS, SACK-permitted, timestamps, window scale, MPTCP and TFO"""
    # The client host's other extensions add their options as the SYN leaves it, before
    # the capture point: UP is add-options, tap, delay.
    extras = AddOptions(is_syn_only, (MP_CAPABLE_SYN, TFO_COOKIE_REQUEST))
    tap = ctx.tap
    pair = two_hosts(ctx, paths=([extras, tap, Delay(DELAY)], [Delay(DELAY), tap]))
    body = page("coexist-mptcp-tfo", "ENO shared the SYN with MPTCP and TFO")
    serve(pair.server, tcpinc_end(cache=ResumptionCache()), body)
    client = tcpinc_end(cache=ResumptionCache(), keylog=True)
    first = fetch(pair, "/coexist/fresh", client)
    fetch(pair, "/coexist/resumed", client, after=first)
    return pair.sim


@register("tls-tep", "coexist")
def tls_tep(ctx: ScenarioContext) -> Simulation:
    """a draft TCP-use-TLS client offers TEP 0x30 only; the tcpcrypt server answers vacuously"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(), page("tls-tep", "TEP 0x30 offered, not in common: plain"))
    offer = bytes((TcpOptionKind.ENO, 3, TepId.TCP_USE_TLS_DRAFT))
    fetch(pair, "/tls-tep", scripted_end(offer))
    return pair.sim
