"""The ``fresh-<tep>-<aead>`` family: one full tcpcrypt key exchange per TEP and AEAD.

The client offers all four tcpcrypt TEPs and all three AEADs (its defaults); the server
prefers the named TEP and AEAD (last in its lists, RFC 8547 §4.5, RFC 8548 §3.3), so ENO
negotiates that TEP and Init2 picks that AEAD. Then an HTTP request and response travel in
frames, and both sides close with FINp (RFC 8548 §3.7).
"""

from __future__ import annotations

from ...wire.constants import AeadId, TepId, aead_name, tep_name
from ..driver import Simulation
from .common import (
    AEADS,
    ALL_AEADS,
    ALL_TEPS,
    TEPS,
    config,
    fetch,
    page,
    prefer,
    serve,
    tcpinc_end,
    two_hosts,
)
from .registry import Builder, ScenarioContext, register

__all__: list[str] = []


def _fresh(name: str, tep: TepId, aead: AeadId) -> Builder:
    def build(ctx: ScenarioContext) -> Simulation:
        pair = two_hosts(ctx)
        server = config(teps=prefer(ALL_TEPS, tep), bconf=prefer(ALL_AEADS, aead))
        body = page(name, f"negotiated {tep_name(tep)} with {aead_name(aead)}")
        serve(pair.server, tcpinc_end(server), body)
        fetch(pair, f"/{name}", tcpinc_end(keylog=True))
        return pair.sim

    return build


for _tep_key, _tep in TEPS.items():
    for _aead_key, _aead in AEADS.items():
        _name = f"fresh-{_tep_key}-{_aead_key}"
        register(
            _name,
            "fresh",
            description=(
                f"{tep_name(_tep)} key exchange, {aead_name(_aead)} frames, "
                "HTTP both ways, FINp close"
            ),
        )(_fresh(_name, _tep, _aead))
