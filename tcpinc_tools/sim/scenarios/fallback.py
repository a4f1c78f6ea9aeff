"""The ``fallback-*`` family: TCP-ENO fails and the connection goes on as plain TCP (RFC 8547
§4.6), so the HTTP exchange is readable in the clear. Each scenario says where its capture
point is: the client's interface unless the evidence is only visible at the server's.

    fallback-no-eno            the server has TCP-ENO off: its SYN-ACK carries no ENO
    fallback-stripped-syn      a middlebox overwrites the SYN's ENO with NOPs (server side)
    fallback-stripped-synack   the reverse path strips the SYN-ACK's ENO (RFC 8547 Fig. 11):
                               the client's ACK comes without ENO (server side)
    fallback-b-conflict        a simultaneous open where both hosts keep b = 0 (§4.3)
    fallback-no-common-tep     the SYN offers X25519 only, the SYN-ACK answers P-256 (§4.5)
    fallback-aa-mandatory      the client requires a = 1 (§4.2), the server sends a = 0
    fallback-vacuous           the client sends a vacuous option, ENO<> (§4.6)
    fallback-ill-formed        the SYN-ACK's option arrives with a length byte followed by a
                               v = 0 TEP byte (§4.4)
    fallback-multiple-eno      the SYN arrives with two ENO options (§4.1) (server side)
"""

from __future__ import annotations

from ...wire.constants import GLOBAL_B, SUBOPTION_V, TEP_MIN, TcpOptionKind, TepId
from ..driver import Simulation
from ..middlebox import RewriteOption, StripEno, is_syn_ack, is_syn_only
from ..peers import scripted_end
from .common import config, fetch, open_simultaneously, page, serve, tcpinc_end, two_hosts
from .registry import ScenarioContext, register

__all__ = ["ill_formed"]


def _body(name: str, why: str) -> bytes:
    return page(name, f"TCP-ENO fell back ({why}): this response travelled as plain TCP")


@register("fallback-no-eno", "fallback")
def no_eno(ctx: ScenarioContext) -> Simulation:
    """the server has TCP-ENO disabled: SYN-ACK without ENO, plain TCP (RFC 8547 Fig. 10)"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(config(enabled=False)), _body("fallback-no-eno", "no ENO"))
    fetch(pair, "/fallback-no-eno", tcpinc_end(keylog=True))
    return pair.sim


@register("fallback-stripped-syn", "fallback")
def stripped_syn(ctx: ScenarioContext) -> Simulation:
    """a middlebox overwrites the SYN's ENO option with NOPs; captured at the server"""
    pair = two_hosts(ctx, capture="server", up=[StripEno(is_syn_only)])
    serve(pair.server, tcpinc_end(), _body("fallback-stripped-syn", "ENO stripped from the SYN"))
    fetch(pair, "/fallback-stripped-syn", tcpinc_end(keylog=True))
    return pair.sim


@register("fallback-stripped-synack", "fallback")
def stripped_synack(ctx: ScenarioContext) -> Simulation:
    """the reverse path strips ENO from the SYN-ACK, so the ACK lacks ENO; captured at server"""
    pair = two_hosts(ctx, capture="server", down=[StripEno(is_syn_ack)])
    body = _body("fallback-stripped-synack", "ENO stripped from the SYN-ACK")
    serve(pair.server, tcpinc_end(), body)
    fetch(pair, "/fallback-stripped-synack", tcpinc_end(keylog=True))
    return pair.sim


@register("fallback-b-conflict", "fallback")
def b_conflict(ctx: ScenarioContext) -> Simulation:
    """a simultaneous open where both hosts send b = 0: no role B, ENO fails (RFC 8547 §4.3)"""
    pair = two_hosts(ctx)
    body = _body("fallback-b-conflict", "both hosts sent b = 0")
    open_simultaneously(pair, "/fallback-b-conflict", body, tcpinc_end(keylog=True), tcpinc_end())
    return pair.sim


@register("fallback-no-common-tep", "fallback")
def no_common_tep(ctx: ScenarioContext) -> Simulation:
    """the SYN offers X25519 only; the server's fixed SYN-ACK answers P-256 (RFC 8547 §4.5)"""
    pair = two_hosts(ctx)
    # RFC 8547 §4.5 lets host B name TEPs the SYN did not offer ("implementation
    # considerations"): this server answers every SYN with ENO<b=1, P-256>.
    answer = bytes((TcpOptionKind.ENO, 4, GLOBAL_B, TepId.TCPCRYPT_ECDHE_P256))
    serve(pair.server, scripted_end(answer), _body("fallback-no-common-tep", "no TEP in common"))
    x25519 = config(teps=(TepId.TCPCRYPT_ECDHE_Curve25519,))
    fetch(pair, "/fallback-no-common-tep", tcpinc_end(x25519, keylog=True))
    return pair.sim


@register("fallback-aa-mandatory", "fallback")
def aa_mandatory(ctx: ScenarioContext) -> Simulation:
    """the client is in mandatory application-aware mode (a = 1), the server sends a = 0"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(), _body("fallback-aa-mandatory", "the server sent a = 0"))
    fetch(pair, "/fallback-aa-mandatory", tcpinc_end(config(aa_mandatory=True), keylog=True))
    return pair.sim


@register("fallback-vacuous", "fallback")
def vacuous(ctx: ScenarioContext) -> Simulation:
    """the client sends a vacuous ENO (supported but off); the server answers vacuously too"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(), _body("fallback-vacuous", "a vacuous ENO option"))
    fetch(pair, "/fallback-vacuous", tcpinc_end(config(vacuous=True), keylog=True))
    return pair.sim


# RFC 8547 §4.4 rule 2: a length byte (100nnnnn) followed by an octet in 0x00-0x9f.
def ill_formed(raw: bytes) -> bytes:
    """A SYN-form ENO option with a length byte (0x80: one byte of data) put before its
    first TEP suboption, whose byte has v = 0: ill-formed."""
    kind, contents = raw[0], raw[2:]
    first_tep = next(i for i, b in enumerate(contents) if TEP_MIN <= b < SUBOPTION_V)
    contents = contents[:first_tep] + bytes((SUBOPTION_V,)) + contents[first_tep:]
    return bytes((kind, len(contents) + 2)) + contents


@register("fallback-ill-formed", "fallback")
def ill_formed_synack(ctx: ScenarioContext) -> Simulation:
    """the SYN-ACK's ENO arrives ill-formed: a length byte before a v = 0 TEP (RFC 8547 §4.4)"""
    mangle = RewriteOption(is_syn_ack, TcpOptionKind.ENO, ill_formed)
    pair = two_hosts(ctx, down=[mangle])
    serve(pair.server, tcpinc_end(), _body("fallback-ill-formed", "an ill-formed ENO option"))
    fetch(pair, "/fallback-ill-formed", tcpinc_end(keylog=True))
    return pair.sim


@register("fallback-multiple-eno", "fallback")
def multiple_eno(ctx: ScenarioContext) -> Simulation:
    """the SYN arrives with its ENO option twice: treated as none (RFC 8547 §4.1); at server"""
    double = RewriteOption(is_syn_only, TcpOptionKind.ENO, lambda raw: raw + raw)
    pair = two_hosts(ctx, capture="server", up=[double])
    serve(pair.server, tcpinc_end(), _body("fallback-multiple-eno", "two ENO options"))
    fetch(pair, "/fallback-multiple-eno", tcpinc_end(keylog=True))
    return pair.sim
