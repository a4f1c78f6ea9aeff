"""What the analysis produces: findings, per-connection results, summaries, capture results.

All frozen dataclasses except :class:`AnalysisResult` (filled in as a capture is read) and
:class:`FindingSink` (the bounded list one flow's findings go to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from ..capture.packet import CaptureStats
from ..errors import CaptureError
from ..records import picklable
from ..wire.constants import Dialect
from ..wire.frames import FramePlaintext
from .registry import FindingSpec, Group, Severity, get

__all__ = [
    "MAX_FINDINGS_PER_FLOW",
    "MAX_FINDINGS_PER_ID",
    "AnalysisResult",
    "CaptureInfo",
    "CrossFinding",
    "EnoResult",
    "Finding",
    "FindingSink",
    "FlowRef",
    "FlowResult",
    "FlowSummary",
    "FrameDigest",
    "ResumeOfferSeen",
    "Status",
    "StreamRecord",
    "TcpcryptResult",
    "make_finding",
]

# Findings kept per flow, and per id within a flow; the rest are counted in one
# tcpinc.findings_suppressed finding. A tampered bulk transfer must not grow a list per frame.
MAX_FINDINGS_PER_FLOW: Final = 256
MAX_FINDINGS_PER_ID: Final = 32

Endpoint = tuple[str, int]
# A flow across captures: (capture tag, flow id). The tag is whatever the analyzer was given
# (the position of the capture in a multi-capture run).
FlowRef = tuple[int, int]
Status = Literal["encrypted", "fallback", "incomplete"]

# Used for ids no table knows (a bug elsewhere; the registry test keeps this unused).
_UNKNOWN: Final = FindingSpec("tcpinc.decode_error", Severity.WARN, Group.MALFORMED, "", "")


@dataclass(frozen=True, slots=True, init=False)
class Finding:
    """One occurrence of a registered finding.

    ``packet`` is the frame number (from 1, as Wireshark counts) where it was seen, None for
    what belongs to no packet (a key log line, a capture error). ``flow`` is the flow id,
    ``byte_range`` a [start, end) range of stream offsets, ``direction`` the capture
    direction (``client_to_server`` / ``server_to_client``).
    """

    id: str
    severity: Severity
    message: str
    packet: int | None = None
    flow: int | None = None
    byte_range: tuple[int, int] | None = None
    direction: str | None = None

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        id: str,
        severity: Severity,
        message: str,
        packet: int | None = None,
        flow: int | None = None,
        byte_range: tuple[int, int] | None = None,
        direction: str | None = None,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "packet", packet)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "byte_range", byte_range)
        object.__setattr__(self, "direction", direction)


def make_finding(
    finding_id: str,
    detail: str | None = None,
    *,
    packet: int | None = None,
    flow: int | None = None,
    byte_range: tuple[int, int] | None = None,
    direction: str | None = None,
) -> Finding:
    """A finding with the registry's severity and message (``detail`` appended)."""
    spec = get(finding_id)
    if spec is None:
        message = detail or finding_id
        return Finding(finding_id, _UNKNOWN.severity, message, packet, flow, byte_range, direction)
    return Finding(
        finding_id, spec.severity, spec.render(detail), packet, flow, byte_range, direction
    )


class FindingSink:
    """The findings of one flow, bounded (see MAX_FINDINGS_PER_FLOW / _PER_ID)."""

    __slots__ = ("_per_id", "flow", "items", "suppressed")

    def __init__(self, flow: int | None) -> None:
        self.flow = flow
        self.items: list[Finding] = []
        self._per_id: dict[str, int] = {}
        self.suppressed: dict[str, int] = {}

    def add(
        self,
        finding_id: str,
        detail: str | None = None,
        *,
        packet: int | None = None,
        byte_range: tuple[int, int] | None = None,
        direction: str | None = None,
    ) -> None:
        count = self._per_id.get(finding_id, 0) + 1
        self._per_id[finding_id] = count
        if count > MAX_FINDINGS_PER_ID or len(self.items) >= MAX_FINDINGS_PER_FLOW:
            self.suppressed[finding_id] = self.suppressed.get(finding_id, 0) + 1
            return
        self.items.append(
            make_finding(
                finding_id,
                detail,
                packet=packet,
                flow=self.flow,
                byte_range=byte_range,
                direction=direction,
            )
        )

    def finished(self) -> tuple[Finding, ...]:
        """Everything kept, plus one finding counting what was not."""
        if not self.suppressed:
            return tuple(self.items)
        total = sum(self.suppressed.values())
        parts = ", ".join(f"{k} x{n}" for k, n in sorted(self.suppressed.items()))
        extra = make_finding(
            "tcpinc.findings_suppressed", f"{total} not listed ({parts})", flow=self.flow
        )
        return (*self.items, extra)


@dataclass(frozen=True, slots=True, init=False)
class EnoResult:
    """TCP-ENO for one connection (the JSON ``eno`` object).

    ``host_a`` / ``host_b`` and ``syn_a`` / ``syn_b`` / ``global_a`` / ``global_b`` are by
    role (A: the host that sent b=0) once roles are known, by host otherwise (host "a": the
    active opener). ``syn_*`` is None for a side that sent no ENO option (or whose SYN was
    not captured); ``global_*`` is the effective global suboption (implicit 0x00 included).
    """

    dialect: Dialect
    status: Status
    reason: str | None
    host_a: Endpoint
    host_b: Endpoint
    syn_a: bytes | None
    syn_b: bytes | None
    transcript: bytes | None
    global_a: int | None
    global_b: int | None
    negotiated_tep: int | None
    negotiated_tep_byte: int | None
    tep_name: str | None
    a_is_client: bool = True
    simultaneous_open: bool = False

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        dialect: Dialect,
        status: Status,
        reason: str | None,
        host_a: Endpoint,
        host_b: Endpoint,
        syn_a: bytes | None,
        syn_b: bytes | None,
        transcript: bytes | None,
        global_a: int | None,
        global_b: int | None,
        negotiated_tep: int | None,
        negotiated_tep_byte: int | None,
        tep_name: str | None,
        a_is_client: bool = True,
        simultaneous_open: bool = False,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "host_a", host_a)
        object.__setattr__(self, "host_b", host_b)
        object.__setattr__(self, "syn_a", syn_a)
        object.__setattr__(self, "syn_b", syn_b)
        object.__setattr__(self, "transcript", transcript)
        object.__setattr__(self, "global_a", global_a)
        object.__setattr__(self, "global_b", global_b)
        object.__setattr__(self, "negotiated_tep", negotiated_tep)
        object.__setattr__(self, "negotiated_tep_byte", negotiated_tep_byte)
        object.__setattr__(self, "tep_name", tep_name)
        object.__setattr__(self, "a_is_client", a_is_client)
        object.__setattr__(self, "simultaneous_open", simultaneous_open)


@dataclass(frozen=True, slots=True, init=False)
class TcpcryptResult:
    """tcpcrypt for one connection (the JSON ``tcpcrypt`` object).

    ``plaintext_*`` is None unless the analyzer ran with ``payload=True``. ``offset_reading``
    says how frame offsets were counted for the frames that decrypted: ``"stream"`` (from
    ISN+1, Init messages included: the project's reading of RFC 8548 §4.2.3), ``"after_init"``
    (from the first byte after Init1 / Init2, as tcpcryptd 0.5 does), None when nothing
    decrypted.
    """

    aead: str | None
    resumed: bool
    init1: bool
    init2: bool
    session_id: bytes | None
    frames_a_to_b: int
    frames_b_to_a: int
    rekeys: int
    fin_authenticated: bool | None
    decrypted: bool
    decrypt_failures: int
    plaintext_a_to_b: bytes | None = None
    plaintext_b_to_a: bytes | None = None
    offset_reading: str | None = None
    tep: int | None = None
    frames_decrypted: int = 0
    urgent_frames: int = 0

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        aead: str | None,
        resumed: bool,
        init1: bool,
        init2: bool,
        session_id: bytes | None,
        frames_a_to_b: int,
        frames_b_to_a: int,
        rekeys: int,
        fin_authenticated: bool | None,
        decrypted: bool,
        decrypt_failures: int,
        plaintext_a_to_b: bytes | None = None,
        plaintext_b_to_a: bytes | None = None,
        offset_reading: str | None = None,
        tep: int | None = None,
        frames_decrypted: int = 0,
        urgent_frames: int = 0,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "aead", aead)
        object.__setattr__(self, "resumed", resumed)
        object.__setattr__(self, "init1", init1)
        object.__setattr__(self, "init2", init2)
        object.__setattr__(self, "session_id", session_id)
        object.__setattr__(self, "frames_a_to_b", frames_a_to_b)
        object.__setattr__(self, "frames_b_to_a", frames_b_to_a)
        object.__setattr__(self, "rekeys", rekeys)
        object.__setattr__(self, "fin_authenticated", fin_authenticated)
        object.__setattr__(self, "decrypted", decrypted)
        object.__setattr__(self, "decrypt_failures", decrypt_failures)
        object.__setattr__(self, "plaintext_a_to_b", plaintext_a_to_b)
        object.__setattr__(self, "plaintext_b_to_a", plaintext_b_to_a)
        object.__setattr__(self, "offset_reading", offset_reading)
        object.__setattr__(self, "tep", tep)
        object.__setattr__(self, "frames_decrypted", frames_decrypted)
        object.__setattr__(self, "urgent_frames", urgent_frames)


@dataclass(frozen=True, slots=True, init=False)
class FlowResult:
    """One TCP connection as analyzed (a JSON ``flows`` entry)."""

    id: int
    client: Endpoint
    server: Endpoint
    first_ts: float
    last_ts: float
    packets: int
    eno: EnoResult | None
    tcpcrypt: TcpcryptResult | None
    findings: tuple[Finding, ...]
    bytes_client_to_server: int = 0
    bytes_server_to_client: int = 0
    first_packet: int = 0

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        id: int,
        client: Endpoint,
        server: Endpoint,
        first_ts: float,
        last_ts: float,
        packets: int,
        eno: EnoResult | None,
        tcpcrypt: TcpcryptResult | None,
        findings: tuple[Finding, ...],
        bytes_client_to_server: int = 0,
        bytes_server_to_client: int = 0,
        first_packet: int = 0,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "client", client)
        object.__setattr__(self, "server", server)
        object.__setattr__(self, "first_ts", first_ts)
        object.__setattr__(self, "last_ts", last_ts)
        object.__setattr__(self, "packets", packets)
        object.__setattr__(self, "eno", eno)
        object.__setattr__(self, "tcpcrypt", tcpcrypt)
        object.__setattr__(self, "findings", findings)
        object.__setattr__(self, "bytes_client_to_server", bytes_client_to_server)
        object.__setattr__(self, "bytes_server_to_client", bytes_server_to_client)
        object.__setattr__(self, "first_packet", first_packet)


@dataclass(frozen=True, slots=True, init=False)
class ResumeOfferSeen:
    """A resumption suboption in an active opener's SYN (what replay and tracking use)."""

    half: bytes  # the 9-byte identifier half (rfc) or identifier (legacy)
    nonce: bytes
    tep: int
    offerer: str  # the IP address that offered it
    peer: str  # the IP address it was offered to
    packet: int

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self, half: bytes, nonce: bytes, tep: int, offerer: str, peer: str, packet: int
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "half", half)
        object.__setattr__(self, "nonce", nonce)
        object.__setattr__(self, "tep", tep)
        object.__setattr__(self, "offerer", offerer)
        object.__setattr__(self, "peer", peer)
        object.__setattr__(self, "packet", packet)


@dataclass(frozen=True, slots=True, init=False)
class FrameDigest:
    """The first frames of a session under its first key: ``direction`` "ab" / "ba" (by the
    key used), stream offset and a digest of the whole frame."""

    direction: str
    offset: int
    digest: bytes

    def __init__(
        self, direction: str, offset: int, digest: bytes
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "digest", digest)


@dataclass(frozen=True, slots=True, init=False)
class FlowSummary:
    """What cross-connection checks need of one flow: small, no packets, mergeable across
    captures (``capture`` is the tag of the capture the flow came from)."""

    capture: int
    flow: int
    first_packet: int
    first_ts: float
    client: Endpoint
    server: Endpoint
    dialect: str | None = None
    tep: int | None = None
    resumed: bool = False
    offer: ResumeOfferSeen | None = None
    n_a: bytes | None = None
    n_b: bytes | None = None
    pub_a: bytes | None = None  # digests of the public keys
    pub_b: bytes | None = None
    key_id: bytes | None = None  # equal for sessions with equal traffic keys
    frames: tuple[FrameDigest, ...] = ()
    origin: bytes | None = None  # key log: N_A (or resumption id) the secret came from
    origin_generation: int | None = None

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        capture: int,
        flow: int,
        first_packet: int,
        first_ts: float,
        client: Endpoint,
        server: Endpoint,
        dialect: str | None = None,
        tep: int | None = None,
        resumed: bool = False,
        offer: ResumeOfferSeen | None = None,
        n_a: bytes | None = None,
        n_b: bytes | None = None,
        pub_a: bytes | None = None,
        pub_b: bytes | None = None,
        key_id: bytes | None = None,
        frames: tuple[FrameDigest, ...] = (),
        origin: bytes | None = None,
        origin_generation: int | None = None,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "capture", capture)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "first_packet", first_packet)
        object.__setattr__(self, "first_ts", first_ts)
        object.__setattr__(self, "client", client)
        object.__setattr__(self, "server", server)
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "tep", tep)
        object.__setattr__(self, "resumed", resumed)
        object.__setattr__(self, "offer", offer)
        object.__setattr__(self, "n_a", n_a)
        object.__setattr__(self, "n_b", n_b)
        object.__setattr__(self, "pub_a", pub_a)
        object.__setattr__(self, "pub_b", pub_b)
        object.__setattr__(self, "key_id", key_id)
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "origin_generation", origin_generation)

    @property
    def ref(self) -> FlowRef:
        return (self.capture, self.flow)


@dataclass(frozen=True, slots=True, init=False)
class StreamRecord:
    """One tcpcrypt message or frame of a stream, for consumers such as ``decrypt`` and
    ``follow``: where it lies in the stream and, once decrypted, what it carried.

    ``kind`` is ``init1``, ``init2`` or ``frame``; ``direction`` the capture direction;
    ``offset`` the stream offset of its first byte (from ISN+1); ``size`` its length on the
    wire; ``plaintext`` the decoded plaintext of a frame that authenticated (else None).
    """

    flow: int
    direction: str
    kind: str
    offset: int
    size: int
    packet: int
    generation: int = 0
    rekey: bool = False
    plaintext: FramePlaintext | None = None

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        flow: int,
        direction: str,
        kind: str,
        offset: int,
        size: int,
        packet: int,
        generation: int = 0,
        rekey: bool = False,
        plaintext: FramePlaintext | None = None,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "packet", packet)
        object.__setattr__(self, "generation", generation)
        object.__setattr__(self, "rekey", rekey)
        object.__setattr__(self, "plaintext", plaintext)


@dataclass(frozen=True, slots=True)
class CrossFinding:
    """A finding about several connections: ``subject`` is the flow it is reported on (the
    later one), ``related`` the flows it was compared with."""

    finding: Finding
    subject: FlowRef
    related: tuple[FlowRef, ...]


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """One capture file as read: its name, format and counters, and the error that stopped
    the read (None when it was read to the end)."""

    name: str
    format: str | None
    stats: CaptureStats
    error: str | None = None
    error_offset: int | None = None
    size: int | None = None


@dataclass(slots=True)
class AnalysisResult:
    """The analysis of one capture (or one stream of packets).

    ``flows`` are the connections, by id; ``findings`` what belongs to no single flow (key log
    lines, the capture error, cross-connection findings, which are also copied into the flows
    they name); ``summaries`` the per-flow summaries for cross-connection checks across
    captures; ``capture_errors`` the error that stopped reading (at most one per capture).
    """

    capture: CaptureInfo
    flows: list[FlowResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summaries: list[FlowSummary] = field(default_factory=list)
    capture_errors: list[CaptureError] = field(default_factory=list)
    cross: list[CrossFinding] = field(default_factory=list)
    tag: int = 0

    def flow_findings(self, flow_id: int) -> list[Finding]:
        """A flow's own findings and the cross-connection findings reported on it."""
        own = next((f.findings for f in self.flows if f.id == flow_id), ())
        subject = (self.tag, flow_id)
        return [*own, *(c.finding for c in self.cross if c.subject == subject)]


picklable(
    Finding,
    EnoResult,
    TcpcryptResult,
    FlowResult,
    ResumeOfferSeen,
    FrameDigest,
    FlowSummary,
    StreamRecord,
    CrossFinding,
    CaptureInfo,
    AnalysisResult,
)
