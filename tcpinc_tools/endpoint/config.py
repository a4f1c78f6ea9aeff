"""Endpoint settings from names: TEP and AEAD lists, and the TcpincConfig they make.

Names follow ``tcpinc gen``'s scenario spellings (p256, p521, x25519, x448; aes128gcm,
aes256gcm, chacha20poly1305); the IANA names and hex ids are accepted too. Lists are in
increasing preference (RFC 8547 §4.5 for B's TEPs, draft-ietf-tcpinc-api-06 §3 for B's
AEADs): the last is the most preferred.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from ..protocol.connection import TcpincConfig
from ..protocol.eno import EnoConfig
from ..protocol.tcp import TcpConfig
from ..protocol.tcpcrypt import DEFAULT_TCPCRYPT_CONFIG, TcpcryptConfig
from ..sim.scenarios.common import AEADS, TEPS
from ..wire.constants import AeadId, Dialect, TepId
from .errors import EndpointError
from .host import DEFAULT_ENDPOINT_TCP

__all__ = ["EndpointSettings", "parse_aeads", "parse_teps"]

_TEP_ALIASES: Final = {
    **TEPS,
    **{t.name.lower(): t for t in TepId if t.name.startswith("TCPCRYPT_")},
    "curve25519": TepId.TCPCRYPT_ECDHE_Curve25519,
    "curve448": TepId.TCPCRYPT_ECDHE_Curve448,
}
_AEAD_ALIASES: Final = {
    **AEADS,
    **{a.name.lower(): a for a in AeadId},
    "chacha20": AeadId.AEAD_CHACHA20_POLY1305,
}


def _items(text: str) -> list[str]:
    items = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not items:
        raise EndpointError(f"empty list {text!r}")
    return items


def parse_teps(text: str) -> tuple[int, ...]:
    """``x25519,p256`` / ``0x23,0x21`` -> TEP ids, in the order given."""
    out = []
    for item in _items(text):
        tep = _TEP_ALIASES.get(item)
        if tep is None:
            try:
                tep = TepId(int(item, 16))
            except ValueError:
                known = ", ".join(TEPS)
                raise EndpointError(f"unknown TEP {item!r} (known: {known})") from None
        out.append(int(tep))
    return tuple(out)


def parse_aeads(text: str) -> tuple[AeadId, ...]:
    """``aes128gcm,chacha20poly1305`` / ``0x0001`` -> AEAD ids, in the order given."""
    out = []
    for item in _items(text):
        aead = _AEAD_ALIASES.get(item)
        if aead is None:
            try:
                aead = AeadId(int(item, 16))
            except ValueError:
                known = ", ".join(AEADS)
                raise EndpointError(f"unknown AEAD {item!r} (known: {known})") from None
        out.append(aead)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """What the command line (or an application) chooses; :meth:`config` makes the stack's
    configuration from it. ``aeads`` is what A offers in Init1 (TCP_CRYPT_ACONF) and, unless
    ``aead_order`` is given, also B's choice order (TCP_CRYPT_BCONF)."""

    teps: tuple[int, ...] | None = None
    aeads: tuple[AeadId, ...] | None = None
    aead_order: tuple[AeadId, ...] | None = None
    dialect: Dialect = "rfc"
    eno: bool = True
    require_encryption: bool = False
    require_aware: bool = False
    aware: bool = False
    role_b: bool = False
    resume: bool = True
    tcp: TcpConfig = DEFAULT_ENDPOINT_TCP

    def config(self) -> TcpincConfig:
        base = DEFAULT_TCPCRYPT_CONFIG
        tcpcrypt = replace(
            base,
            teps=self.teps if self.teps is not None else base.teps,
            aconf=self.aeads if self.aeads is not None else base.aconf,
            bconf=self.aead_order or self.aeads or base.bconf,
            resume=self.resume,
            accept_resumption=self.resume,
            cache_secrets=self.resume,
        )
        if self.dialect == "legacy":
            # LEGACY.md: tcpcryptd 0.5 has P-256 / P-521 and the two AES-GCMs only.
            tcpcrypt = _legacy_subset(tcpcrypt)
        eno = EnoConfig(
            enabled=self.eno,
            dialect=self.dialect,
            b=self.role_b,
            a=self.aware,
            aa_mandatory=self.require_aware,
            tep_mandatory=self.require_encryption,
        )
        return TcpincConfig(tcp=self.tcp, eno=eno, tcpcrypt=tcpcrypt)


def _legacy_subset(config: TcpcryptConfig) -> TcpcryptConfig:
    teps = config.teps_for("legacy")
    legacy_aeads = (AeadId.AEAD_AES_128_GCM, AeadId.AEAD_AES_256_GCM)
    aconf = tuple(a for a in config.aconf if a in legacy_aeads)
    bconf = tuple(a for a in config.bconf if a in legacy_aeads)
    if not teps or not aconf or not bconf:
        raise EndpointError(
            "the legacy dialect needs P-256 or P-521 and AES-128-GCM or AES-256-GCM"
        )
    return replace(config, teps=teps, aconf=aconf, bconf=bconf)
