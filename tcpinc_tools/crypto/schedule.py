"""The tcpcrypt key schedule: RFC 8548 §3.1, §3.3 to §3.5, §3.8, and the legacy dialect (LEGACY.md).

Every TEP of RFC 8548 uses HKDF with SHA-256 (§5)::

    PRK      = Extract(N_A, eno_transcript | Init1 | Init2 | ES)      ss[0] = PRK
    ss[i]    = CPRF(ss[i-1], CONST_NEXTK, K_LEN)
    mk[0]    = CPRF(ss[i], CONST_REKEY | sn[i], K_LEN)
    mk[j]    = CPRF(mk[j-1], CONST_REKEY, K_LEN)
    k_ab[j]  = CPRF(mk[j], CONST_KEY_A, ae_key_len + ae_nonce_len)
    k_ba[j]  = CPRF(mk[j], CONST_KEY_B, ae_key_len + ae_nonce_len)
    session_id[i] = TEP-byte | CPRF(ss[i], CONST_SESSID | sn[i], K_LEN)
    resume[i]     = CPRF(ss[i], CONST_RESUME, 18)

The legacy dialect (tcpcryptd 0.5) has the same ss chain and PRK shape (the caller passes the
legacy transcript) but no session nonce, and 32-byte traffic keys: session ID = TEP byte ‖
Expand(ss, 0x02), mk = Expand(ss, 0x03), K_AB / K_BA = Expand(mk, 0x04 / 0x05); its resumption
identifier is the first 9 bytes after the TEP byte of the session ID of ss[i].

Secrets (mk, k_ab, k_ba) never appear in ``repr``. The session ID does: it is public by design
(RFC 8547 §5.1: applications may publish it).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from typing import Literal

from tcpinc_tools.crypto.aead import FrameCipher, resolve_aead, split_traffic_key, traffic_key_len
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.wire.constants import (
    CPRF_MAX_LEN,
    DIALECTS,
    K_LEN,
    RESUME_HALF_LEN,
    RESUME_ID_LEN,
    RESUME_NONCE_MAX,
    AeadId,
    Const,
    Dialect,
)

__all__ = [
    "Direction",
    "SessionKeys",
    "compute_ss0",
    "cprf",
    "derive_keys",
    "extract",
    "legacy_resume_id",
    "next_ss",
    "resume_id",
    "session_nonce",
]

# Who encrypts with a traffic key: "ab" = k_ab (host A of the session that created ss[0]
# encrypts, B decrypts), "ba" = k_ba. RFC 8548 §3.3 / §3.5: fixed by the ORIGINAL roles.
Direction = Literal["ab", "ba"]

_HASH = "sha256"  # RFC 8548 §5: HKDF-Expand-SHA256 for all four TEPs


def extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract with SHA-256."""
    # RFC 8548 §3.1 Fig. 1 (RFC 5869 §2.2): PRK = HMAC-Hash(salt, IKM).
    return hmac.digest(salt, ikm, _HASH)


def cprf(k: bytes, const: bytes, length: int) -> bytes:
    """CPRF(K, CONST, L): the first ``length`` bytes of HKDF-Expand-SHA256(PRK=k, info=const)."""
    if not 0 <= length <= CPRF_MAX_LEN:
        raise LocalProtocolError(f"CPRF output length {length} is outside [0, 255*32]")
    # RFC 8548 §3.1 Fig. 1: T(0) = empty, T(n) = HMAC-Hash(PRK, T(n-1) | CONST | n), the
    # one-octet counter n after the WHOLE const (for example CONST_REKEY | sn; DIGEST.md T15);
    # OKM = first L octets of T(1) | T(2) | ...
    okm = bytearray()
    t = b""
    counter = 1
    while len(okm) < length:
        t = hmac.digest(k, t + const + bytes((counter,)), _HASH)
        okm += t
        counter += 1
    return bytes(okm[:length])


def _const(c: Const, sn: bytes = b"") -> bytes:
    return bytes((c,)) + sn


def compute_ss0(n_a: bytes, transcript: bytes, init1: bytes, init2: bytes, es: bytes) -> bytes:
    """ss[0], the PRK. ``transcript`` is the ENO transcript of the dialect in use (the legacy
    one has the minimal ``fd 04 45 4e`` after each host's option), Init1 / Init2 the exact
    transmitted bytes, ES from :func:`tcpinc_tools.crypto.kex.shared_secret`."""
    # RFC 8548 §3.3: PRK = Extract(N_A, eno_transcript | Init1 | Init2 | ES); ss[0] = PRK.
    # LEGACY.md: the same formula in the legacy dialect.
    return extract(n_a, transcript + init1 + init2 + es)


def next_ss(ss: bytes) -> bytes:
    """ss[i+1] from ss[i] (both dialects)."""
    # RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, K_LEN); LEGACY.md: Expand(ss[i], 0x01).
    return cprf(ss, _const(Const.NEXTK), K_LEN)


def resume_id(ss: bytes) -> bytes:
    """resume[i], 18 bytes: A's 9-byte half (``[:9]``) then B's (``[9:]``), by original role."""
    # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18).
    return cprf(ss, _const(Const.RESUME), RESUME_ID_LEN)


def legacy_resume_id(ss: bytes) -> bytes:
    """The 9-byte legacy resumption identifier of ss[i] (both hosts send the same one)."""
    # LEGACY.md: the first 9 bytes after the TEP byte of the session ID that ss[i] gives,
    # i.e. of Expand(ss[i], 0x02).
    return cprf(ss, _const(Const.SESSID), K_LEN)[:RESUME_HALF_LEN]


def session_nonce(nonce_a: bytes, nonce_b: bytes) -> bytes:
    """sn[i] of a resumed session from the two resumption nonces (0 to 8 bytes each)."""
    for name, nonce in (("nonce_a", nonce_a), ("nonce_b", nonce_b)):
        if len(nonce) > RESUME_NONCE_MAX:
            raise LocalProtocolError(f"{name} is {len(nonce)} bytes; at most 8 (RFC 8548 §3.5)")
    # RFC 8548 §3.5: sn[i] = nonce_a | nonce_b, ordered by the roles of the original session.
    return nonce_a + nonce_b


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The keys of one tcpcrypt session at one key generation j.

    ``session_id`` is 33 bytes (TEP byte as B sent it ‖ 32). ``mk`` is mk[j]; ``k_ab`` and
    ``k_ba`` are the whole traffic keys (rfc: K ‖ NR, 28 or 44 bytes; legacy: 32 bytes).
    """

    tep_byte: int
    aead: AeadId
    dialect: Dialect
    generation: int
    session_id: bytes
    mk: bytes = field(repr=False)
    k_ab: bytes = field(repr=False)
    k_ba: bytes = field(repr=False)

    def next_generation(self) -> SessionKeys:
        """The keys of generation j+1 (RFC 8548 §3.8 rekeying)."""
        # RFC 8548 §3.3: mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN). LEGACY.md is silent on
        # rekeying; the legacy dialect follows the same mk chain.
        mk = cprf(self.mk, _const(Const.REKEY), K_LEN)
        k_ab, k_ba = _traffic_keys(mk, self.aead, self.dialect)
        return replace(self, generation=self.generation + 1, mk=mk, k_ab=k_ab, k_ba=k_ba)

    def traffic_key(self, direction: Direction) -> bytes:
        """k_ab[j] or k_ba[j], whole."""
        if direction == "ab":
            return self.k_ab
        if direction == "ba":
            return self.k_ba
        raise LocalProtocolError(f"direction must be 'ab' or 'ba', not {direction!r}")

    def key(self, direction: Direction) -> bytes:
        """The AEAD key K: the first ae_key_len bytes of the traffic key (RFC 8548 §3.6)."""
        return split_traffic_key(self.traffic_key(direction), self.aead, dialect=self.dialect)[0]

    def nr(self, direction: Direction) -> bytes:
        """The nonce randomizer NR (RFC 8548 §3.6); empty in the legacy dialect."""
        return split_traffic_key(self.traffic_key(direction), self.aead, dialect=self.dialect)[1]

    def cipher(self, direction: Direction) -> FrameCipher:
        """A FrameCipher for the frames of ``direction`` at this generation."""
        return FrameCipher(self.traffic_key(direction), self.aead, self.dialect)


def _traffic_keys(mk: bytes, aead: AeadId, dialect: Dialect) -> tuple[bytes, bytes]:
    length = traffic_key_len(aead, dialect)
    # RFC 8548 §3.3: k_ab[j] = CPRF(mk[j], CONST_KEY_A, ae_key_len + ae_nonce_len),
    #                k_ba[j] = CPRF(mk[j], CONST_KEY_B, ae_key_len + ae_nonce_len).
    # LEGACY.md: K_AB = Expand(mk, 0x04), K_BA = Expand(mk, 0x05), 32 bytes each.
    return cprf(mk, _const(Const.KEY_A), length), cprf(mk, _const(Const.KEY_B), length)


def derive_keys(
    ss: bytes,
    *,
    tep_byte: int,
    aead: int,
    sn: bytes = b"",
    generation: int = 0,
    dialect: Dialect = "rfc",
) -> SessionKeys:
    """The session keys of ss[i] at key generation ``generation``.

    ``tep_byte`` is the negotiated TEP byte as host B sent it, v bit included (0x21-0x24
    fresh, 0xa1-0xa4 resumed; DIGEST.md T10). ``sn`` is sn[i] (empty for i = 0; see
    :func:`session_nonce`); the legacy dialect has no session nonce. ``aead`` is an AeadId,
    or in the legacy dialect also a one-byte LegacyAeadId.
    """
    if dialect not in DIALECTS:
        raise LocalProtocolError(f"unknown dialect {dialect!r}")
    if not 0 <= tep_byte <= 0xFF:
        raise LocalProtocolError(f"TEP byte {tep_byte} is not a byte")
    if generation < 0:
        raise LocalProtocolError(f"key generation {generation} is negative")
    if len(sn) > 2 * RESUME_NONCE_MAX:
        raise LocalProtocolError(f"sn[i] is {len(sn)} bytes; at most 16 (RFC 8548 §3.5)")
    if dialect == "legacy" and sn:
        raise LocalProtocolError("the legacy dialect has no session nonce (LEGACY.md)")
    aead_id = resolve_aead(aead, dialect)
    # RFC 8548 §3.4: session_id[i] = TEP-byte | CPRF(ss[i], CONST_SESSID | sn[i], K_LEN).
    # LEGACY.md: TEP byte ‖ Expand(ss[i], 0x02) (sn is empty).
    session_id = bytes((tep_byte,)) + cprf(ss, _const(Const.SESSID, sn), K_LEN)
    # RFC 8548 §3.3: mk[0] = CPRF(ss[i], CONST_REKEY | sn[i], K_LEN); LEGACY.md: Expand(ss, 0x03).
    mk = cprf(ss, _const(Const.REKEY, sn), K_LEN)
    k_ab, k_ba = _traffic_keys(mk, aead_id, dialect)
    keys = SessionKeys(tep_byte, aead_id, dialect, 0, session_id, mk, k_ab, k_ba)
    for _ in range(generation):
        keys = keys.next_generation()
    return keys
