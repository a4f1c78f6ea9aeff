"""The one registry of finding ids and dissector field names (ARCHITECTURE.md "Errors and
findings").

Every id the package can report - the wire decoders' ``DecodeError.expert_id`` values, the
capture layer's reassembly anomalies, the protocol layer's fallback and abort reasons and the
analyzer's own findings - is a :class:`FindingSpec` in :data:`REGISTRY`: its id, a severity
(Wireshark's expert severities), a group (Wireshark's expert groups), a one-line message and
the section of the specification it comes from. The same ids are the JSON finding ids and
the Lua dissector's ``ProtoExpert`` names.

:data:`FIELDS` is the second table: the dissector field names (``tcpeno.tep``,
``tcpcrypt.frame.clen``, ...) with their Wireshark field type and a description, so that the
Lua plugin and the field reference can be generated from it or checked against it.

Both tables are data; nothing here reads packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..records import picklable

__all__ = [
    "FIELDS",
    "REGISTRY",
    "FieldSpec",
    "FindingSpec",
    "Group",
    "Severity",
    "field_spec",
    "get",
    "lookup",
]


class Severity(StrEnum):
    """Wireshark's expert severities (epan/proto.h PI_CHAT ... PI_ERROR), lowest first."""

    CHAT = "chat"
    NOTE = "note"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 (chat) to 3 (error), for sorting and thresholds."""
        return _RANK[self]


_RANK: Final = {Severity.CHAT: 0, Severity.NOTE: 1, Severity.WARN: 2, Severity.ERROR: 3}


class Group(StrEnum):
    """Wireshark's expert groups (epan/proto.h PI_PROTOCOL, PI_MALFORMED, ...) we use."""

    PROTOCOL = "protocol"
    MALFORMED = "malformed"
    SECURITY = "security"
    SEQUENCE = "sequence"
    REASSEMBLE = "reassemble"
    DECRYPTION = "decryption"
    DEPRECATED = "deprecated"
    UNDECODED = "undecoded"
    ASSUMPTION = "assumption"


def _rows(table: str, width: int) -> list[list[str]]:
    """The cells of a ``|``-separated table, one row per non-comment line; an indented line
    is one more cell of the row above it."""
    rows: list[list[str]] = []
    for line in table.strip().splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith(" "):
            rows[-1].append(line.strip())
        else:
            rows.append([cell.strip() for cell in line.split(" | ")])
    for row in rows:
        assert len(row) == width, row  # a typo in the table, caught at import
    return rows


@dataclass(frozen=True, slots=True)
class FindingSpec:
    """One finding id: how severe, which group, a one-line message, and where it is from.

    ``message`` is the template a finding's text starts with; :meth:`render` appends the
    details of one occurrence after a colon.
    """

    id: str
    severity: Severity
    group: Group
    message: str
    rfc: str

    def render(self, detail: str | None = None) -> str:
        """The message of one occurrence (never raises, whatever ``detail`` holds)."""
        return f"{self.message}: {detail}" if detail else self.message


# Two lines per id: "id | severity | group | source", then the message, indented. Grouped by
# the layer that raises them; "#" lines are comments.
_TABLE: Final = """
# the error classes' defaults (tcpinc_tools/errors.py)
tcpinc.decode_error | error | malformed | ARCHITECTURE.md
    Bytes that do not decode
tcpinc.malformed | error | malformed | ARCHITECTURE.md
    Bytes that break a rule of their format
tcpinc.truncated | error | malformed | ARCHITECTURE.md
    Bytes end before the structure does
# the analyzer about itself and its inputs
tcpinc.analyzer_error | error | undecoded | ARCHITECTURE.md
    The analyzer failed on this flow
tcpinc.capture.error | error | malformed | pcap-savefile(5)
    The capture file cannot be read on
tcpinc.findings_suppressed | note | protocol | ARCHITECTURE.md
    More findings than listed
tcpinc.keylog.bad_line | warn | decryption | ARCHITECTURE.md Key log
    Key log line not used
tcpinc.keylog.note | note | decryption | ARCHITECTURE.md Key log
    Key log note
# TCP header and options (protocol/segment.py, wire/tcp_options.py)
tcp.header.bad_data_offset | error | malformed | RFC 9293 §3.1
    TCP data offset out of range
tcp.header.truncated | error | malformed | RFC 9293 §3.1
    TCP header truncated
tcp.option.bad_length | error | malformed | RFC 9293 §3.1
    TCP option length below 2
tcp.option.data_after_eol | warn | malformed | RFC 9293 §3.1
    Non-zero bytes after End of Option List
tcp.option.mss.bad_length | warn | malformed | RFC 9293 §3.1
    MSS option of the wrong length
tcp.option.past_end | error | malformed | RFC 9293 §3.1
    TCP option runs past the option area
tcp.option.sack.bad_length | warn | malformed | RFC 2018 §3
    SACK option of the wrong length
tcp.option.sack_perm.bad_length | warn | malformed | RFC 2018 §2
    SACK-permitted option of the wrong length
tcp.option.timestamps.bad_length | warn | malformed | RFC 7323 §3.2
    Timestamps option of the wrong length
tcp.option.wrong_kind | error | malformed | RFC 9293 §3.1
    TCP option of another kind than expected
tcp.option.wscale.bad_length | warn | malformed | RFC 7323 §2.2
    Window scale option of the wrong length
# reassembly (capture/stream.py, capture/flows.py)
tcp.flow.isn_changed | warn | sequence | RFC 9293 §3.4
    SYN-ACK contradicts the ISN already seen
tcp.flow.port_reuse | note | sequence | RFC 9293 §3.4
    New connection on a reused port pair
tcp.reassembly.gap | warn | sequence | RFC 9293 §3.10.7.4
    Bytes missing from the capture
tcp.reassembly.limit | warn | reassemble | capture/stream.py
    Reassembly limit reached
tcp.reassembly.no_syn | note | sequence | RFC 9293 §3.4
    Connection without a captured SYN
tcp.reassembly.overlap_mismatch | warn | sequence | RFC 9293 §3.10.7.4
    Retransmitted bytes differ from the first
# the ENO option (wire/eno.py, wire/tcp_options.py)
tcpeno.bad_length | error | malformed | RFC 8547 §4.1
    ENO option length out of range
tcpeno.ill_formed.length_overrun | warn | malformed | RFC 8547 §4.4
    ENO length byte runs past the option
tcpeno.ill_formed.length_then_non_tep | warn | malformed | RFC 8547 §4.4
    ENO length byte not followed by a TEP with v=1
tcpeno.mixed_kinds | warn | protocol | RFC 8547 §11
    ENO under kind 69 and kind 253 in one segment
tcpeno.multiple_eno | warn | protocol | RFC 8547 §4.1
    More than one ENO option in a SYN
tcpeno.not_eno | chat | undecoded | RFC 8547 §4.1
    Option is not ENO
tcpeno.not_eno_exid | chat | undecoded | RFC 6994 §3
    Kind 253 with an ExID other than ENO's
tcpeno.tfo_with_eno | warn | protocol | RFC 8547 §4.7
    Non-empty TFO option beside ENO
tcpeno.truncated | error | malformed | RFC 8547 §4.1
    ENO option truncated
# fallback reasons (wire/eno.py negotiate, protocol/eno.py)
tcpeno.fallback.aa_mandatory | note | protocol | RFC 8547 §4.2
    Fell back: mandatory application-aware mode and the peer sent a=0
tcpeno.fallback.b_conflict | warn | protocol | RFC 8547 §4.3
    Fell back: both hosts sent the same b bit
tcpeno.fallback.ill_formed | warn | protocol | RFC 8547 §4.6
    Fell back: ill-formed SYN-form ENO option
tcpeno.fallback.legacy_simultaneous_open | note | protocol | LEGACY.md
    Fell back: simultaneous open in the legacy dialect (no b bit)
tcpeno.fallback.multiple_eno | warn | protocol | RFC 8547 §4.1
    Fell back: several ENO options in a SYN
tcpeno.fallback.no_common_tep | note | protocol | RFC 8547 §4.5
    Fell back: no TEP valid for both hosts
tcpeno.fallback.no_eno | note | protocol | RFC 8547 §4.6
    Fell back: a SYN without ENO
tcpeno.fallback.stripped | warn | protocol | RFC 8547 §4.6
    Fell back: ENO missing on a handshake segment (stripped?)
tcpeno.fallback.syn_changed | warn | protocol | RFC 8547 §4.6
    Fell back: a SYN-form ENO option changed between retransmissions
tcpeno.fallback.vacuous | note | protocol | RFC 8547 §4.6
    Fell back: vacuous ENO option (no TEP)
# the analyzer's ENO findings (analysis/eno_analysis.py)
tcpeno.global.ignored | note | protocol | RFC 8547 §4.2
    Global suboption after the first one (ignored)
tcpeno.global.reserved_bits | note | protocol | RFC 8547 §4.2
    Reserved bits z1-z3 set in a global suboption
tcpeno.legacy_kind | warn | deprecated | RFC 8547 §11
    ENO under experimental kind 253: migrate to kind 69
tcpeno.missing_in_handshake | warn | protocol | RFC 8547 §4.6
    ENO missing before the sender received a non-SYN segment
tcpeno.nonsyn_contents | note | protocol | RFC 8547 §4.1
    Non-SYN ENO option with contents
tcpeno.option_space | note | protocol | RFC 9293 §3.1, RFC 8547 §4.1
    SYN option space
tcpeno.option_overwritten | note | protocol | RFC 8547 §6 Fig. 11
    Run of NOP options in a SYN without ENO (an option overwritten by a middlebox?)
tcpeno.option_space_exhausted | warn | protocol | RFC 9293 §3.1, RFC 8547 §4.1
    No room left for ENO in a SYN
tcpeno.syn_changed | warn | protocol | RFC 8547 §4.6
    SYN-form ENO option changed between retransmissions
tcpeno.syn_data | warn | protocol | RFC 8547 §4.7
    SYN data beside ENO (tcpcrypt defines none)
tcpeno.syn_retransmit_without_eno | note | protocol | RFC 8547 §4.6
    SYN retransmitted without ENO
tcpeno.tls_draft_tep | warn | deprecated | draft-ietf-tcpinc-tcpeno-06 §10
    Draft TCP-use-TLS TEP 0x30 (never registered)
# tcpcrypt messages and frames (wire/tcpcrypt.py, wire/frames.py)
tcpcrypt.frame.truncated | warn | malformed | RFC 8548 §4.2
    Frame cut short
tcpcrypt.init.bad_magic | error | malformed | RFC 8548 §4.1
    Neither Init1's nor Init2's magic
tcpcrypt.init.bad_message_len | error | malformed | RFC 8548 §4.1
    Init message_len too short
tcpcrypt.init.bad_pubkey | error | malformed | RFC 8548 §5
    Public key of the wrong size or form
tcpcrypt.init.bad_pubkey_len | error | malformed | RFC 8548 §5
    The pubkey_len is below 2 or runs past the message
tcpcrypt.init1.bad_magic | error | malformed | RFC 8548 §4.1
    Init1 with a wrong magic
tcpcrypt.init1.truncated | error | malformed | RFC 8548 §4.1
    Init1 ends before message_len
tcpcrypt.init2.bad_magic | error | malformed | RFC 8548 §4.1
    Init2 with a wrong magic
tcpcrypt.init2.truncated | error | malformed | RFC 8548 §4.1
    Init2 ends before message_len
tcpcrypt.plaintext.truncated | error | malformed | RFC 8548 §4.2.1
    Frame plaintext too short for its flags
tcpcrypt.resume.too_long | warn | malformed | RFC 8548 §3.5
    Resumption suboption longer than 9 + 8 bytes
tcpcrypt.unknown_tep | error | malformed | RFC 8548 §7
    Init message for a TEP that is not tcpcrypt
# protocol aborts (protocol/tcpcrypt*.py, protocol/resumption.py)
tcpcrypt.cipher_not_offered | error | protocol | RFC 8548 §3.3
    Init2 chose an AEAD that Init1 did not offer
tcpcrypt.data_after_finp | error | protocol | RFC 8548 §3.7
    Data after the FINp frame
tcpcrypt.fin_without_finp | error | security | RFC 8548 §3.7
    TCP FIN without a FINp frame
tcpcrypt.init.too_long | error | protocol | RFC 8548 §4.1
    Init message_len beyond 64 KiB
tcpcrypt.invalid_public_key | error | security | RFC 8548 §5
    Public key fails validation
tcpcrypt.malformed_frame | error | malformed | RFC 8548 §4.2
    Frame too short for the AEAD tag
tcpcrypt.no_common_cipher | error | protocol | RFC 8548 §3.3
    No AEAD in common
tcpcrypt.resume.mismatch | warn | protocol | RFC 8548 §3.5
    Resumption identifier half does not match
tcpcrypt.tag_failure | error | security | RFC 8548 §3.6
    Frame fails authentication
tcpcrypt.unsupported_tep | note | protocol | RFC 8548 §3.2
    Negotiated TEP is not a tcpcrypt TEP
# the analyzer's tcpcrypt findings (analysis/tcpcrypt_analysis.py, decrypt.py)
tcpcrypt.frame.reserved_bits | note | protocol | RFC 8548 §4.2
    Reserved control bits (cres) set
tcpcrypt.frame_id_reuse | error | security | RFC 8548 §3.6
    One frame ID under one key with different content
tcpcrypt.init.missing_psh | warn | protocol | RFC 8548 §3.3
    Segment ending an Init message lacks PSH
tcpcrypt.init.trailing | note | protocol | RFC 8548 §4.1
    Ignored bytes after the public key
tcpcrypt.key_mismatch | warn | decryption | ARCHITECTURE.md Key log
    The key log's secret does not decrypt this session
tcpcrypt.no_key | chat | decryption | ARCHITECTURE.md Key log
    No secret for this session in the key log
tcpcrypt.nonce_reuse | error | security | RFC 8548 §3.3, §8
    Nonce seen in another session (weak entropy?)
tcpcrypt.offset_reading | note | decryption | RFC 8548 §4.2.3, DIGEST.md T12
    Frames decrypt with the alternative offset reading
tcpcrypt.payload_truncated | note | protocol | ARCHITECTURE.md
    Plaintext kept only up to the payload limit
tcpcrypt.plaintext.reserved_bits | note | protocol | RFC 8548 §4.2.1
    Reserved flag bits (fres) set
tcpcrypt.plaintext_after_enable | error | security | RFC 8547 §4.6, RFC 8548 §3.2
    Plaintext after encryption was enabled
tcpcrypt.pubkey_reuse | warn | security | RFC 8548 §3.3, §8
    Public key seen in another session (weak entropy?)
tcpcrypt.resume.other_server | warn | security | RFC 8548 §3.5
    Resumption offered to a server other than the original's
tcpcrypt.resume.replay | error | security | RFC 8548 §3.5
    Resumption identifier used twice
tcpcrypt.resume.tracking | warn | security | RFC 8548 §3.5, §8
    One resumption identifier from different client addresses
tcpcrypt.resync | warn | sequence | RFC 8548 §4.2
    Frame boundary searched for after undecodable bytes
tcpcrypt.truncation | error | security | RFC 8548 §3.7, §8
    TCP FIN without a FINp frame (truncation)
tcpcrypt.unauthenticated_reset | warn | security | RFC 8548 §8
    RST before both FINp frames (unauthenticated)
tcpcrypt.unknown_aead | warn | protocol | RFC 8548 §7
    Init2 chose an AEAD id that is not registered
"""

REGISTRY: Final[tuple[FindingSpec, ...]] = tuple(
    FindingSpec(i, Severity(sev), Group(grp), msg, rfc)
    for i, sev, grp, rfc, msg in _rows(_TABLE, 5)
)
_BY_ID: Final[dict[str, FindingSpec]] = {spec.id: spec for spec in REGISTRY}


def get(finding_id: str) -> FindingSpec | None:
    """The spec of ``finding_id``, or None when it is not registered."""
    return _BY_ID.get(finding_id)


def lookup(finding_id: str) -> FindingSpec:
    """The spec of ``finding_id``; KeyError (naming the id) when it is not registered."""
    spec = _BY_ID.get(finding_id)
    if spec is None:
        raise KeyError(f"finding id {finding_id!r} is not in the registry")
    return spec


# --- dissector fields -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One dissector field: its filter name, Wireshark ProtoField type, and what it holds.

    ``type`` is the Lua ``ProtoField`` constructor name (``uint8``, ``uint16``, ``uint32``,
    ``uint64``, ``bool``, ``bytes``, ``string``, ``framenum``, ``none`` for a subtree).
    """

    name: str
    type: str
    description: str


# One line per field: name | Lua ProtoField type | description.
_FIELD_TABLE: Final = """
tcpeno | none | TCP-ENO option (RFC 8547)
tcpeno.kind | uint8 | Option kind: 69, or 253 in the legacy dialect
tcpeno.length | uint8 | Option length, kind and length bytes included
tcpeno.exid | uint16 | RFC 6994 ExID 0x454e (legacy kind 253 only)
tcpeno.syn_form | bool | SYN-form option (in a SYN segment)
tcpeno.contents | bytes | Contents of a non-SYN-form option
tcpeno.global | uint8 | Global suboption byte (0x00-0x1f)
tcpeno.global.b | bool | b: passive role bit
tcpeno.global.a | bool | a: application-aware bit
tcpeno.global.z | uint8 | z1-z3: reserved bits (mask 0x1c)
tcpeno.suboption | none | TEP suboption
tcpeno.suboption.length_byte | uint8 | Length byte 100nnnnn before a v=1 TEP
tcpeno.suboption.v | bool | v: the suboption carries data
tcpeno.suboption.data | bytes | Suboption data
tcpeno.tep | uint8 | TEP identifier (glt, 0x20-0x7f)
tcpeno.role | string | Role of the sender: A or B
tcpeno.status | string | Negotiation outcome: encrypted, fallback or incomplete
tcpeno.reason | string | Fallback reason (a tcpeno.fallback.* finding id)
tcpeno.negotiated_tep | uint8 | Negotiated TEP id (v bit cleared)
tcpeno.negotiated_tep_byte | uint8 | Negotiated TEP byte as B sent it (v bit kept)
tcpeno.transcript | bytes | Negotiation transcript: A's SYN option then B's
tcpeno.option_space.used | uint8 | Bytes of TCP option space a SYN uses
tcpeno.option_space.left | uint8 | Bytes of TCP option space a SYN leaves free
tcpcrypt | none | tcpcrypt (RFC 8548)
tcpcrypt.resume.half | bytes | Resumption identifier half (9 bytes)
tcpcrypt.resume.nonce | bytes | Resumption nonce (0-8 bytes)
tcpcrypt.init1 | none | Init1 key-exchange message
tcpcrypt.init1.magic | uint32 | INIT1_MAGIC 0x15101a0e
tcpcrypt.init1.message_len | uint32 | Init1 length, magic included
tcpcrypt.init1.nciphers | uint8 | Number of AEAD ids offered
tcpcrypt.init1.sym_cipher | uint16 | AEAD id offered
tcpcrypt.init1.n_a | bytes | N_A, A's nonce
tcpcrypt.init1.pubkey_len | uint16 | pubkey_len (NIST curves; counts its own 2 bytes)
tcpcrypt.init1.pub_a | bytes | Pub_A, A's ephemeral public key
tcpcrypt.init2 | none | Init2 key-exchange message
tcpcrypt.init2.magic | uint32 | INIT2_MAGIC 0x097105e0
tcpcrypt.init2.message_len | uint32 | Init2 length, magic included
tcpcrypt.init2.sym_cipher | uint16 | AEAD id chosen
tcpcrypt.init2.n_b | bytes | N_B, B's nonce
tcpcrypt.init2.pubkey_len | uint16 | pubkey_len (NIST curves; counts its own 2 bytes)
tcpcrypt.init2.pub_b | bytes | Pub_B, B's ephemeral public key
tcpcrypt.init.ignored | bytes | Ignored bytes after the public key, up to message_len
tcpcrypt.frame | none | Encryption frame
tcpcrypt.frame.control | uint8 | Control byte
tcpcrypt.frame.rekey | bool | Rekey: first frame of a new key generation
tcpcrypt.frame.cres | uint8 | Reserved control bits (mask 0xfe)
tcpcrypt.frame.clen | uint16 | Ciphertext length, tag included
tcpcrypt.frame.ciphertext | bytes | AEAD ciphertext and tag
tcpcrypt.frame.offset | uint64 | Frame offset (frame ID) used as AEAD nonce input
tcpcrypt.frame.generation | uint32 | Key generation of the frame
tcpcrypt.aead | string | AEAD algorithm (IANA name)
tcpcrypt.session_id | bytes | Session ID: TEP byte as B sent it, then 32 bytes
tcpcrypt.plaintext | bytes | Decrypted frame plaintext
tcpcrypt.flags | uint8 | Plaintext flags byte
tcpcrypt.flags.fin | bool | FINp: the sender's last frame
tcpcrypt.flags.urg | bool | URGp: the urgent field is present
tcpcrypt.flags.fres | uint8 | Reserved flag bits (mask 0xfc)
tcpcrypt.urgent | uint16 | Urgent offset, from the frame's data start
tcpcrypt.data | bytes | Application data
"""

FIELDS: Final[tuple[FieldSpec, ...]] = tuple(
    FieldSpec(name, kind, text) for name, kind, text in _rows(_FIELD_TABLE, 3)
)
_FIELD_BY_NAME: Final[dict[str, FieldSpec]] = {spec.name: spec for spec in FIELDS}


def field_spec(name: str) -> FieldSpec:
    """The field called ``name``; KeyError when there is none."""
    spec = _FIELD_BY_NAME.get(name)
    if spec is None:
        raise KeyError(f"field {name!r} is not in the registry")
    return spec


picklable(FindingSpec, FieldSpec)
