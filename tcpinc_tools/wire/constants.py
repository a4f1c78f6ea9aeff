"""Every magic number of TCP-ENO and tcpcrypt, once, with the table it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

__all__ = [
    "AEAD_PARAMS",
    "ENO_EXID",
    "ENO_MAX_OPTION_LEN",
    "GLOBAL_A",
    "GLOBAL_B",
    "GLOBAL_RESERVED",
    "INIT1_MAGIC",
    "INIT2_MAGIC",
    "K_LEN",
    "LEGACY_AEAD_TO_RFC",
    "LEGACY_MINIMAL_ENO",
    "N_A_LEN",
    "N_B_LEN",
    "RESUME_HALF_LEN",
    "RESUME_ID_LEN",
    "RESUME_NONCE_MAX",
    "TAG_LEN",
    "TCP_OPTION_SPACE",
    "TEP_RESERVED",
    "AeadId",
    "AeadParams",
    "Const",
    "Dialect",
    "LegacyAeadId",
    "TcpOptionKind",
    "TepId",
    "aead_name",
    "tep_name",
]

Dialect = Literal["rfc", "legacy"]


# IANA "TCP Option Kind Numbers"; 69 from RFC 8547 §11 Table 2, 253/254 from RFC 4727/6994.
class TcpOptionKind(IntEnum):
    EOL = 0  # RFC 9293
    NOP = 1  # RFC 9293
    MSS = 2  # RFC 9293
    WINDOW_SCALE = 3  # RFC 7323
    SACK_PERMITTED = 4  # RFC 2018
    SACK = 5  # RFC 2018
    TIMESTAMPS = 8  # RFC 7323
    MPTCP = 30  # RFC 8684
    TFO = 34  # RFC 7413
    ENO = 69  # RFC 8547 §11
    EXPERIMENTAL_1 = 253  # RFC 4727, with RFC 6994 ExIDs; legacy ENO uses ExID 0x454E
    EXPERIMENTAL_2 = 254  # RFC 4727


# RFC 8547 §11: the ExID under which pre-RFC implementations carried ENO in kind 253.
ENO_EXID: Final = 0x454E
# RFC 9293 §3.1: the data offset allows at most 40 bytes of options.
TCP_OPTION_SPACE: Final = 40
ENO_MAX_OPTION_LEN: Final = TCP_OPTION_SPACE
# LEGACY.md: the option every later legacy handshake segment carries, and the delimiter
# tcpcryptd 0.5 puts after each host's option in its transcript.
LEGACY_MINIMAL_ENO: Final = bytes((TcpOptionKind.EXPERIMENTAL_1, 4)) + ENO_EXID.to_bytes(2, "big")


# RFC 8547 §4.2 Fig. 5: global suboption bits.
GLOBAL_B: Final = 0x01  # passive role bit
GLOBAL_A: Final = 0x02  # application-aware bit
GLOBAL_RESERVED: Final = 0x1C  # z1 z2 z3: sent as 0, ignored on receipt


# RFC 8547 §11 Table 3 and RFC 8548 §7 Table 4 ("TCP Encryption Protocol Identifiers").
class TepId(IntEnum):
    EXPERIMENTAL = 0x20  # RFC 8547 §11 "Experimental Use"
    TCPCRYPT_ECDHE_P256 = 0x21  # RFC 8548 §7
    TCPCRYPT_ECDHE_P521 = 0x22  # RFC 8548 §7
    TCPCRYPT_ECDHE_Curve25519 = 0x23  # RFC 8548 §7
    TCPCRYPT_ECDHE_Curve448 = 0x24  # RFC 8548 §7
    TCP_USE_TLS_DRAFT = 0x30  # draft-ietf-tcpinc-tcpeno-06 §10 only; never registered


# RFC 8547 §11 Table 3: 0x70–0x7f "Reserved for extended values".
TEP_RESERVED: Final = range(0x70, 0x80)

_TEP_NAMES: Final = {
    TepId.EXPERIMENTAL: "experimental",
    TepId.TCPCRYPT_ECDHE_P256: "TCPCRYPT_ECDHE_P256",
    TepId.TCPCRYPT_ECDHE_P521: "TCPCRYPT_ECDHE_P521",
    TepId.TCPCRYPT_ECDHE_Curve25519: "TCPCRYPT_ECDHE_Curve25519",
    TepId.TCPCRYPT_ECDHE_Curve448: "TCPCRYPT_ECDHE_Curve448",
    TepId.TCP_USE_TLS_DRAFT: "TCP-use-TLS (draft)",
}


def tep_name(tep: int) -> str | None:
    """The IANA registry name of a TEP id (low 7 bits; the v bit is ignored), or None."""
    glt = tep & 0x7F
    if glt in TEP_RESERVED:
        return "reserved"
    try:
        return _TEP_NAMES[TepId(glt)]
    except ValueError:
        return None


# RFC 8548 §6 Table 3 and §7 Table 5 ("tcpcrypt AEAD Algorithms"); two bytes on the wire.
class AeadId(IntEnum):
    AEAD_AES_128_GCM = 0x0001
    AEAD_AES_256_GCM = 0x0002
    AEAD_CHACHA20_POLY1305 = 0x0010


# LEGACY.md / draft-ietf-tcpinc-tcpcrypt-02: one-byte cipher ids.
class LegacyAeadId(IntEnum):
    AES_128_GCM = 0x01
    AES_256_GCM = 0x02


LEGACY_AEAD_TO_RFC: Final = {
    LegacyAeadId.AES_128_GCM: AeadId.AEAD_AES_128_GCM,
    LegacyAeadId.AES_256_GCM: AeadId.AEAD_AES_256_GCM,
}


@dataclass(frozen=True, slots=True)
class AeadParams:
    """RFC 8548 §6 Table 3: key and nonce lengths; the tag is 16 bytes (RFC 5116, RFC 8439)."""

    key_len: int
    nonce_len: int
    tag_len: int = 16

    @property
    def traffic_key_len(self) -> int:
        """k_ab/k_ba length: key ‖ nonce randomizer (RFC 8548 §3.3)."""
        return self.key_len + self.nonce_len


AEAD_PARAMS: Final = {
    AeadId.AEAD_AES_128_GCM: AeadParams(16, 12),
    AeadId.AEAD_AES_256_GCM: AeadParams(32, 12),
    AeadId.AEAD_CHACHA20_POLY1305: AeadParams(32, 12),
}
TAG_LEN: Final = 16


def aead_name(aead: int) -> str | None:
    """The IANA name of a two-byte tcpcrypt AEAD id, or None if unassigned."""
    try:
        return AeadId(aead).name
    except ValueError:
        return None


# RFC 8548 §4.3 Table 1.
class Const(IntEnum):
    NEXTK = 0x01
    SESSID = 0x02
    REKEY = 0x03
    KEY_A = 0x04
    KEY_B = 0x05
    RESUME = 0x06  # not 0x05: see DIGEST.md trap T8


INIT1_MAGIC: Final = 0x15101A0E  # RFC 8548 §4.3 Table 1
INIT2_MAGIC: Final = 0x097105E0  # RFC 8548 §4.3 Table 1

# RFC 8548 §5: the same for all four TEPs.
K_LEN: Final = 32
N_A_LEN: Final = 32
N_B_LEN: Final = 32

# RFC 8548 §3.5: resume[i] is 18 bytes, each side sends a 9-byte half and a 0–8 byte nonce.
RESUME_ID_LEN: Final = 18
RESUME_HALF_LEN: Final = 9
RESUME_NONCE_MAX: Final = 8
