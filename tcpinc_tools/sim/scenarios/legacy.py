"""The legacy dialect (tcpcryptd 0.5, shared/spec/LEGACY.md): ``legacy-fresh``, ``legacy-resume``.

ENO travels as kind 253 with ExID 0x454E; the SYN-ACK has no global suboption (the active
opener is A); later handshake segments carry ``fd 04 45 4e``. Both hosts offer P-521 and
P-256 with P-256 preferred, as tcpcryptd's ``fd 06 45 4e 21 22`` / ``fd 05 45 4e 21``, and
AES-128-GCM (one-byte cipher ids in Init1/Init2). Frame offsets start after Init1 / Init2,
or at the first data byte of a resumed session. Our stacks write a key log (tcpcryptd never
did) with the same labels as the RFC dialect; the resumption id is the 9-byte legacy one.
"""

from __future__ import annotations

from ...protocol.resumption import ResumptionCache
from ...wire.constants import AeadId, TepId
from ..driver import Simulation
from .common import config, fetch, page, serve, tcpinc_end, two_hosts
from .registry import ScenarioContext, register

__all__: list[str] = []

_LEGACY = config(
    dialect="legacy",
    teps=(TepId.TCPCRYPT_ECDHE_P521, TepId.TCPCRYPT_ECDHE_P256),
    aconf=(AeadId.AEAD_AES_128_GCM, AeadId.AEAD_AES_256_GCM),
    bconf=(AeadId.AEAD_AES_256_GCM, AeadId.AEAD_AES_128_GCM),
)


@register("legacy-fresh", "legacy")
def legacy_fresh(ctx: ScenarioContext) -> Simulation:
    """the tcpcryptd 0.5 dialect: kind 253/0x454E, P-256, AES-128-GCM; HTTP, FINp close"""
    pair = two_hosts(ctx)
    serve(pair.server, tcpinc_end(_LEGACY), page("legacy-fresh", "the legacy dialect"))
    fetch(pair, "/legacy-fresh", tcpinc_end(_LEGACY, keylog=True))
    return pair.sim


@register("legacy-resume", "legacy")
def legacy_resume(ctx: ScenarioContext) -> Simulation:
    """the legacy dialect: a full exchange, then two resumptions (9-byte identifiers)"""
    pair = two_hosts(ctx)
    serve(
        pair.server,
        tcpinc_end(_LEGACY, cache=ResumptionCache()),
        page("legacy-resume", "the legacy dialect, resumed"),
    )
    client = tcpinc_end(_LEGACY, cache=ResumptionCache(), keylog=True)
    first = fetch(pair, "/legacy-resume/0-fresh", client)
    second = fetch(pair, "/legacy-resume/1-resumed", client, after=first)
    fetch(pair, "/legacy-resume/2-resumed", client, after=second)
    return pair.sim
