"""Every magic number of TCP-ENO and tcpcrypt, once, with the table it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

__all__ = [
    "AEAD_PARAMS",
    "ARP_HTYPE_ETHERNET",
    "ARP_PACKET_LEN",
    "CLEN_MAX",
    "CONTROL_CRES",
    "CONTROL_REKEY",
    "CPRF_MAX_LEN",
    "DIALECTS",
    "EC_POINT_COMPRESSED",
    "EC_POINT_UNCOMPRESSED",
    "ENO_EXID",
    "ENO_MAX_OPTION_LEN",
    "ES_LEN",
    "ETHERTYPE_ARP",
    "ETH_ADDR_LEN",
    "ETH_BROADCAST",
    "ETH_HEADER_LEN",
    "EXID_LEN",
    "FLAG_FINP",
    "FLAG_FRES",
    "FLAG_URGP",
    "FRAME_HEADER_LEN",
    "FRAME_OFFSET_LEN",
    "GLOBAL_A",
    "GLOBAL_B",
    "GLOBAL_RESERVED",
    "HASH_LEN",
    "INIT1_MAGIC",
    "INIT2_MAGIC",
    "INIT_HEADER_LEN",
    "IPV4_ADDR_LEN",
    "IPV4_DEFAULT_TTL",
    "IPV4_DONT_FRAGMENT",
    "IPV4_FRAGMENT_OFFSET",
    "IPV4_HEADER_LEN",
    "IPV4_MORE_FRAGMENTS",
    "K_LEN",
    "LEGACY_AEAD_TO_RFC",
    "LEGACY_MINIMAL_ENO",
    "LEGACY_NONCE_LEN",
    "LEGACY_PUBKEY_FORMAT",
    "LEGACY_RESUME_ID_LEN",
    "LEGACY_TRAFFIC_KEY_LEN",
    "LENGTH_BYTE_N",
    "LOOPBACK_AF_INET",
    "LOOPBACK_AF_INET6",
    "LOOPBACK_AF_INET6_WRITE",
    "MINIMAL_ENO",
    "MPTCP_FLAG_HMAC_SHA256",
    "MPTCP_MP_CAPABLE_SYN_LEN",
    "MPTCP_SUBTYPE_MP_CAPABLE",
    "MPTCP_VERSION_1",
    "N_A_LEN",
    "N_B_LEN",
    "PCAPNG_BYTE_ORDER_MAGIC",
    "PCAPNG_DEFAULT_TSRESOL",
    "PCAPNG_EPB",
    "PCAPNG_IDB",
    "PCAPNG_OPT_ENDOFOPT",
    "PCAPNG_OPT_IF_TSOFFSET",
    "PCAPNG_OPT_IF_TSRESOL",
    "PCAPNG_OPT_SHB_USERAPPL",
    "PCAPNG_PB",
    "PCAPNG_SHB",
    "PCAPNG_SPB",
    "PCAPNG_TSRESOL_POW2",
    "PCAPNG_VERSION",
    "PCAP_FILE_HEADER_LEN",
    "PCAP_MAGIC_NSEC",
    "PCAP_MAGIC_USEC",
    "PCAP_RECORD_HEADER_LEN",
    "PCAP_SNAPLEN",
    "PCAP_VERSION",
    "PUBKEY_FORMAT",
    "PUBKEY_LEN_FIELD_LEN",
    "RESUME_HALF_LEN",
    "RESUME_ID_LEN",
    "RESUME_NONCE_MAX",
    "SUBOPTION_DATA_MAX",
    "SUBOPTION_GLT",
    "SUBOPTION_V",
    "SYM_CIPHER_LEN",
    "TAG_LEN",
    "TCP_OPTION_SPACE",
    "TEP_MIN",
    "TEP_RESERVED",
    "TFO_COOKIE_REQUEST_LEN",
    "X448_PRIVATE_KEY_LEN",
    "X25519_PRIVATE_KEY_LEN",
    "AeadId",
    "AeadParams",
    "ArpOp",
    "Const",
    "Dialect",
    "EtherType",
    "IpProto",
    "LegacyAeadId",
    "LinkType",
    "PubkeyFormat",
    "TcpFlag",
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


# RFC 8547 §11 Table 3: 0x70-0x7f "Reserved for extended values".
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

# RFC 8548 §3.5: resume[i] is 18 bytes, each side sends a 9-byte half and a 0-8 byte nonce.
RESUME_ID_LEN: Final = 18
RESUME_HALF_LEN: Final = 9
RESUME_NONCE_MAX: Final = 8


# --- tcpcrypt messages and frames (wire/tcpcrypt.py, wire/frames.py) ----------------------

DIALECTS: Final = ("rfc", "legacy")

# RFC 8548 §4.1: INIT1_MAGIC / INIT2_MAGIC (4) ‖ message_len (4) open both messages.
INIT_HEADER_LEN: Final = 8
# RFC 8548 §4.1: sym_cipher ids are two bytes; LEGACY.md (tcpcrypt-02): one byte.
SYM_CIPHER_LEN: Final = {"rfc": 2, "legacy": 1}
# RFC 8548 §5: the pubkey_len field before a P-256 / P-521 point; it counts its own two
# bytes (DIGEST.md trap T27).
PUBKEY_LEN_FIELD_LEN: Final = 2
# IEEE 1363 §E.2.3 (= SEC 1 §2.3.3): first byte of an encoded EC point.
EC_POINT_COMPRESSED: Final = frozenset({0x02, 0x03})
EC_POINT_UNCOMPRESSED: Final = frozenset({0x04})


@dataclass(frozen=True, slots=True)
class PubkeyFormat:
    """How one TEP puts Pub_A / Pub_B on the wire (RFC 8548 §5)."""

    point_len: int  # bytes of the key itself
    length_prefixed: bool  # a pubkey_len field precedes the key (NIST curves)
    first_bytes: frozenset[int] | None = None  # allowed first key byte; None: any

    @property
    def wire_len(self) -> int:
        """Bytes on the wire: the key, plus pubkey_len when there is one."""
        return self.point_len + (PUBKEY_LEN_FIELD_LEN if self.length_prefixed else 0)


# RFC 8548 §5. Curve25519 / Curve448: raw, no prefix. P-256 / P-521: compressed points,
# 1 + 32 and 1 + 66 bytes (DERIVED, DIGEST.md §2.10 and T14).
PUBKEY_FORMAT: Final[dict[int, PubkeyFormat]] = {
    TepId.TCPCRYPT_ECDHE_P256: PubkeyFormat(33, True, EC_POINT_COMPRESSED),
    TepId.TCPCRYPT_ECDHE_P521: PubkeyFormat(67, True, EC_POINT_COMPRESSED),
    TepId.TCPCRYPT_ECDHE_Curve25519: PubkeyFormat(32, False),
    TepId.TCPCRYPT_ECDHE_Curve448: PubkeyFormat(56, False),
}
# LEGACY.md: tcpcryptd 0.5 has only the NIST curves and sends uncompressed points 04 ‖ X ‖ Y.
LEGACY_PUBKEY_FORMAT: Final[dict[int, PubkeyFormat]] = {
    TepId.TCPCRYPT_ECDHE_P256: PubkeyFormat(65, True, EC_POINT_UNCOMPRESSED),
    TepId.TCPCRYPT_ECDHE_P521: PubkeyFormat(133, True, EC_POINT_UNCOMPRESSED),
}

# RFC 8548 §4.2: control (1) ‖ clen (2); the same 3 bytes are the AEAD associated data (§4.2.2).
FRAME_HEADER_LEN: Final = 3
CONTROL_REKEY: Final = 0x01  # bit 0
CONTROL_CRES: Final = 0xFE  # bits 1-7, cres: sent as 0, ignored on receipt
# RFC 8548 §3.6: chunks small enough that clen < 2^16.
CLEN_MAX: Final = 0xFFFF
# RFC 8548 §4.2.1: plaintext flags.
FLAG_FINP: Final = 0x01
FLAG_URGP: Final = 0x02
FLAG_FRES: Final = 0xFC  # bits 2-7, fres: sent as 0, ignored on receipt


# --- ENO suboptions (wire/eno.py) -------------------------------------------------------

# RFC 8547 §4.1 Fig. 4 / Table 1: initial suboption byte = v (bit 7) ‖ glt (bits 0-6).
SUBOPTION_V: Final = 0x80
SUBOPTION_GLT: Final = 0x7F
# RFC 8547 §4.1 Table 1: glt < 0x20 is a global suboption (v=0) or a length byte (v=1);
# glt >= 0x20 is a TEP identifier.
TEP_MIN: Final = 0x20
# RFC 8547 §4.4 Fig. 6: length byte 100nnnnn, data length nnnnn + 1 (1 to 32 bytes).
LENGTH_BYTE_N: Final = 0x1F
SUBOPTION_DATA_MAX: Final = LENGTH_BYTE_N + 1
# RFC 6994 §3 / RFC 8547 §11: kind, length, 16-bit ExID before the legacy ENO contents.
EXID_LEN: Final = 2


# --- tcpcrypt key agreement, key schedule and frame AEAD (crypto/) --------------------------

# RFC 8548 §5, RFC 7748 §5: X25519 / X448 private keys are 32 / 56 bytes (any bytes; clamped).
X25519_PRIVATE_KEY_LEN: Final = 32
X448_PRIVATE_KEY_LEN: Final = 56
# RFC 8548 §5: the length of ES. X25519 / X448 output; for P-256 / P-521 the ECSVDP-DH
# x-coordinate as a fixed-length big-endian string (DERIVED, DIGEST.md trap T14).
ES_LEN: Final = {
    TepId.TCPCRYPT_ECDHE_P256: 32,
    TepId.TCPCRYPT_ECDHE_P521: 66,
    TepId.TCPCRYPT_ECDHE_Curve25519: 32,
    TepId.TCPCRYPT_ECDHE_Curve448: 56,
}
# RFC 8548 §5: HKDF-Expand-SHA256; RFC 5869 §2.3: L <= 255 * HashLen.
HASH_LEN: Final = 32
CPRF_MAX_LEN: Final = 255 * HASH_LEN
# RFC 8548 §4.2.3: the offset field of the frame ID is 8 bytes (so offsets are < 2^64).
FRAME_OFFSET_LEN: Final = 8
# LEGACY.md: K_AB / K_BA are 32-byte Expand outputs (the AES key is their first 16 or 32
# bytes, no nonce randomizer); the AEAD nonce is the frame offset, 8 bytes little-endian.
LEGACY_TRAFFIC_KEY_LEN: Final = 32
LEGACY_NONCE_LEN: Final = 8


# --- key log (keylog/) ----------------------------------------------------------------------

# LEGACY.md "Resumption": tcpcryptd 0.5's SYN carries a 9-byte resumption identifier, the first
# 9 bytes after the TEP byte of the session ID that ss[i] gives.
LEGACY_RESUME_ID_LEN: Final = 9


# --- captures: pcap / pcapng framing, link layers, IP and TCP headers (capture/) ----------


# RFC 9293 §3.1 (RFC 3168 §23.2 for ECE/CWR; bit 8 is RFC 3540's NS, now Accurate ECN's AE):
# the control bits, as the 12 low bits of TCP header bytes 12-13 (Wireshark's tcp.flags).
class TcpFlag(IntEnum):
    FIN = 0x001
    SYN = 0x002
    RST = 0x004
    PSH = 0x008
    ACK = 0x010
    URG = 0x020
    ECE = 0x040
    CWR = 0x080
    AE = 0x100


# tcpdump.org "LINK-LAYER HEADER TYPES" (LINKTYPE_ values in pcap / pcapng headers).
class LinkType(IntEnum):
    NULL = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
    ETHERNET = 1
    RAW_BSD = 12  # DLT_RAW as most BSDs number it; raw IP in the pcap files they wrote
    RAW_OPENBSD = 14  # DLT_RAW as OpenBSD numbers it
    RAW = 101  # raw IPv4 or IPv6, told apart by the version nibble
    LOOP = 108  # OpenBSD loopback: address family in network byte order
    LINUX_SLL = 113  # Linux "cooked" capture v1 (16-byte header)
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276  # Linux "cooked" capture v2 (20-byte header)


# IEEE 802 EtherType registry: the values a frame's type field takes on our paths.
class EtherType(IntEnum):
    IPV4 = 0x0800
    VLAN = 0x8100  # IEEE 802.1Q tag
    IPV6 = 0x86DD
    QINQ = 0x88A8  # IEEE 802.1ad service tag
    QINQ_OLD = 0x9100  # pre-802.1ad double tagging, still seen on some switches


# IANA "Assigned Internet Protocol Numbers": IPv4 protocol / IPv6 next header values.
class IpProto(IntEnum):
    HOPOPTS = 0  # RFC 8200 §4.3
    TCP = 6
    ROUTING = 43  # RFC 8200 §4.4
    FRAGMENT = 44  # RFC 8200 §4.5
    ESP = 50
    AH = 51  # RFC 4302 §2: its length counts 4-byte units, minus 2
    NONE = 59
    DSTOPTS = 60  # RFC 8200 §4.6


# tcpdump.org LINKTYPE_NULL / LINKTYPE_LOOP: the address family values for IPv4 and IPv6.
# AF_INET6 differs per OS: 10 Linux, 24 NetBSD/OpenBSD/BSD-OS, 28 FreeBSD, 30 Darwin.
LOOPBACK_AF_INET: Final = 2
LOOPBACK_AF_INET6: Final = frozenset({10, 24, 28, 30})
LOOPBACK_AF_INET6_WRITE: Final = 24  # what our writer puts (Wireshark accepts all four)

# pcap file format (tcpdump.org pcap-savefile(5), draft-ietf-opsawg-pcap §4): magic numbers
# of the file header in the writer's byte order, microsecond and nanosecond timestamps.
PCAP_MAGIC_USEC: Final = 0xA1B2C3D4
PCAP_MAGIC_NSEC: Final = 0xA1B23C4D
PCAP_VERSION: Final = (2, 4)
PCAP_FILE_HEADER_LEN: Final = 24
PCAP_RECORD_HEADER_LEN: Final = 16
# tcpdump's default snap length since 4.99 / libpcap's MAXIMUM_SNAPLEN.
PCAP_SNAPLEN: Final = 262144

# pcapng (draft-ietf-opsawg-pcapng §4): block types, the byte-order magic, option codes.
PCAPNG_SHB: Final = 0x0A0D0D0A  # Section Header Block (§4.1); a palindrome in both orders
PCAPNG_IDB: Final = 0x00000001  # Interface Description Block (§4.2)
PCAPNG_PB: Final = 0x00000002  # obsolete Packet Block (Appendix A)
PCAPNG_SPB: Final = 0x00000003  # Simple Packet Block (§4.4)
PCAPNG_EPB: Final = 0x00000006  # Enhanced Packet Block (§4.3)
PCAPNG_BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
PCAPNG_VERSION: Final = (1, 0)
PCAPNG_OPT_ENDOFOPT: Final = 0
PCAPNG_OPT_SHB_USERAPPL: Final = 4
PCAPNG_OPT_IF_TSRESOL: Final = 9  # §4.2: 1 byte; MSB 0: 10^-n s, MSB 1: 2^-n s; default 10^-6
PCAPNG_OPT_IF_TSOFFSET: Final = 14  # §4.2: signed 64-bit seconds added to every timestamp
PCAPNG_TSRESOL_POW2: Final = 0x80
PCAPNG_DEFAULT_TSRESOL: Final = 6


# --- TCP-ENO endpoint (protocol/eno.py) ------------------------------------------------------

# RFC 8547 §4.1 Fig. 3: the non-SYN-form ENO option with no contents (N = 0), which every
# segment carries after the SYN until the host receives a non-SYN segment (§4.6).
MINIMAL_ENO: Final = bytes((TcpOptionKind.ENO, 2))


# --- other TCP extensions beside ENO in a SYN (sim/ scenario coexist-mptcp-tfo) ------------

# RFC 8684 §3.1 Fig. 4: MP_CAPABLE is MPTCP subtype 0; version 1; in a SYN it is 4 bytes
# (kind, length, subtype|version, flags) and flag H (0x01) asks for HMAC-SHA256.
MPTCP_SUBTYPE_MP_CAPABLE: Final = 0x0
MPTCP_VERSION_1: Final = 1
MPTCP_FLAG_HMAC_SHA256: Final = 0x01
MPTCP_MP_CAPABLE_SYN_LEN: Final = 4
# RFC 7413 §4.1.1: a Fast Open cookie request is the TFO option with no cookie (length 2),
# the only TFO form RFC 8547 §4.7 allows beside ENO in a SYN.
TFO_COOKIE_REQUEST_LEN: Final = 2


# --- the live endpoint: Ethernet, ARP and IPv4 headers (endpoint/frames.py) -------------------

# IEEE 802.3 §3.1.1: destination (6) ‖ source (6) ‖ type (2).
ETH_ADDR_LEN: Final = 6
ETH_HEADER_LEN: Final = 14
ETH_BROADCAST: Final = b"\xff" * ETH_ADDR_LEN
# IEEE 802 EtherType registry: the Address Resolution Protocol (RFC 826).
ETHERTYPE_ARP: Final = 0x0806
# RFC 826 with IANA "ARP Parameters": hardware type 1 is Ethernet; for Ethernet and IPv4
# the packet is htype (2) ‖ ptype (2) ‖ hlen (1) ‖ plen (1) ‖ op (2) ‖ 2 x (MAC ‖ IPv4).
ARP_HTYPE_ETHERNET: Final = 1
ARP_PACKET_LEN: Final = 28


class ArpOp(IntEnum):
    REQUEST = 1  # RFC 826 "ares_op$REQUEST"
    REPLY = 2  # RFC 826 "ares_op$REPLY"


# RFC 791 §3.1: version 4, a header of at least 5 words; the DF flag; RFC 1122 §3.2.1.7 and
# Linux: a default TTL of 64.
IPV4_HEADER_LEN: Final = 20
IPV4_ADDR_LEN: Final = 4
IPV4_DONT_FRAGMENT: Final = 0x4000
IPV4_MORE_FRAGMENTS: Final = 0x2000
IPV4_FRAGMENT_OFFSET: Final = 0x1FFF
IPV4_DEFAULT_TTL: Final = 64
