"""Test-side builder of TCP-ENO / tcpcrypt captures.

:class:`Capture` lays out TCP segments of one or more connections and writes them with
``CaptureWriter``; :class:`Conn` is one connection (two byte streams, explicit segments, so a
test can split, reorder, retransmit or drop any range); :class:`Session` fills the streams
with Init1 / Init2 and frames sealed with ``FrameCipher`` under keys ``derive_keys`` gives
for a known ss; :func:`by_hand_session_id` and :func:`hkdf_expand` recompute values from the
RFC 8548 formulas with hmac/hashlib only, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import random
from dataclasses import dataclass, field

from tcpinc_tools.analysis import analyze_capture
from tcpinc_tools.analysis.model import AnalysisResult, Finding, FlowResult
from tcpinc_tools.analysis.registry import get
from tcpinc_tools.capture.writer import CaptureWriter
from tcpinc_tools.crypto.aead import FrameCipher
from tcpinc_tools.crypto.kex import generate_keypair
from tcpinc_tools.crypto.schedule import SessionKeys, derive_keys
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.protocol.segment import Segment, TcpFlags, encode_tcp_header
from tcpinc_tools.wire.constants import AeadId, Dialect
from tcpinc_tools.wire.tcpcrypt import encode_frame_plaintext, encode_init1, encode_init2

SYN, ACK, FIN, RST, PSH, URG = 0x02, 0x10, 0x01, 0x04, 0x08, 0x20
C, S = 0, 1  # the client's side, the server's

# ENO options as on the wire (RFC 8547 §4.1-§4.2).
ENO_SYN_X25519 = bytes.fromhex("450323")  # SYN: TEP 0x23, implicit global 0x00
ENO_SYNACK_X25519 = bytes.fromhex("45040123")  # SYN-ACK: b=1, TEP 0x23
ENO_ACK = bytes.fromhex("4502")  # non-SYN form
LEGACY_ENO_ACK = bytes.fromhex("fd04454e")


def pad_options(*options: bytes) -> bytes:
    """Options padded with EOL to a multiple of 4 (RFC 9293 §3.1)."""
    out = b"".join(options)
    return out + bytes(-len(out) % 4)


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3 / RFC 8548 §3.1 CPRF: T(n) = HMAC(PRK, T(n-1) | info | n)."""
    okm, t, n = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([n]), hashlib.sha256).digest()
        okm += t
        n += 1
    return okm[:length]


def by_hand_session_id(ss: bytes, tep_byte: int, sn: bytes = b"") -> bytes:
    """RFC 8548 §3.4: TEP-byte | CPRF(ss[i], CONST_SESSID | sn[i], 32)."""
    return bytes([tep_byte]) + hkdf_expand(ss, b"\x02" + sn, 32)


def by_hand_next_ss(ss: bytes) -> bytes:
    """RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, 32)."""
    return hkdf_expand(ss, b"\x01", 32)


def by_hand_resume_id(ss: bytes) -> bytes:
    """RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18)."""
    return hkdf_expand(ss, b"\x06", 18)


@dataclass
class Conn:
    """One TCP connection: addresses, ISNs, the two stream contents, and its segments."""

    cap: Capture
    client: tuple[str, int]
    server: tuple[str, int]
    isn: tuple[int, int] = (1000, 500000)
    streams: tuple[bytearray, bytearray] = field(default_factory=lambda: (bytearray(), bytearray()))
    acked: list[int] = field(default_factory=lambda: [0, 0])  # stream bytes sent by each side
    fin_sent: list[bool] = field(default_factory=lambda: [False, False])
    # RFC 8547 §4.6: with ENO, every segment carries ENO until its sender has received a
    # non-SYN segment; handshake() sets the non-SYN option to add.
    eno_nonsyn: bytes | None = None
    nonsyn_sent: list[bool] = field(default_factory=lambda: [False, False])

    def _ends(self, side: int) -> tuple[tuple[str, int], tuple[str, int]]:
        return (self.client, self.server) if side == C else (self.server, self.client)

    def segment(
        self,
        side: int,
        flags: int,
        *,
        payload: bytes = b"",
        options: bytes | None = None,
        seq: int | None = None,
        ack: int | None = None,
        urgent: int = 0,
    ) -> None:
        """A raw segment; ``seq`` defaults to ISN (SYN) or the next stream byte; ``options``
        to the non-SYN ENO option while the sender must still send it (RFC 8547 §4.6)."""
        src, dst = self._ends(side)
        if options is None:
            options = b""
            auto = self.eno_nonsyn
            if auto is not None and not flags & (SYN | RST) and not self.nonsyn_sent[1 - side]:
                options = auto
        if not flags & SYN:
            self.nonsyn_sent[side] = True
        if seq is None:
            seq = self.isn[side] if flags & SYN else self.isn[side] + 1 + self.acked[side]
        if ack is None:
            other = 1 - side
            ack = (self.isn[other] + 1 + self.acked[other] + self.fin_sent[other]) % 2**32
            if not flags & ACK:
                ack = 0
        seg = Segment(
            src_port=src[1],
            dst_port=dst[1],
            seq=seq % 2**32,
            ack=ack,
            flags=TcpFlags(flags),
            window=65535,
            options=pad_options(options),
            payload=payload,
            urgent_pointer=urgent,
        )
        tcp = encode_tcp_header(
            seg, ipaddress.ip_address(src[0]).packed, ipaddress.ip_address(dst[0]).packed
        )
        self.cap.add(src[0], dst[0], tcp)

    def handshake(
        self,
        syn_opts: bytes = ENO_SYN_X25519,
        synack_opts: bytes = ENO_SYNACK_X25519,
        ack_opts: bytes = ENO_ACK,
    ) -> None:
        self.eno_nonsyn = ack_opts or None
        self.segment(C, SYN, options=syn_opts)
        self.segment(S, SYN | ACK, options=synack_opts)
        self.segment(C, ACK, options=ack_opts)

    def data(
        self,
        side: int,
        start: int,
        end: int | None = None,
        *,
        flags: int = ACK | PSH,
        options: bytes | None = None,
        payload: bytes | None = None,
    ) -> None:
        """Stream bytes [start, end) of ``side`` in one segment (``payload`` overrides them:
        a retransmission with other content, say)."""
        stream = self.streams[side]
        end = len(stream) if end is None else end
        body = bytes(stream[start:end]) if payload is None else payload
        seq = self.isn[side] + 1 + start
        self.acked[side] = max(self.acked[side], start + len(body))
        self.segment(side, flags, payload=body, options=options, seq=seq)

    def send_all(
        self, side: int, start: int = 0, *, mss: int = 1400, options: bytes | None = None
    ) -> None:
        stream = self.streams[side]
        pos = start
        while pos < len(stream):
            end = min(pos + mss, len(stream))
            self.data(side, pos, end, options=options)
            pos = end

    def fin(self, side: int, *, options: bytes | None = None) -> None:
        self.segment(side, FIN | ACK, options=options)
        self.fin_sent[side] = True

    def close(self) -> None:
        self.fin(C)
        self.fin(S)
        self.segment(C, ACK)

    def rst(self, side: int) -> None:
        self.segment(side, RST | ACK)


class Capture:
    """Segments of any number of connections, in the order they are added."""

    def __init__(self, t0: float = 1_700_000_000.0, step: float = 0.001) -> None:
        self.items: list[tuple[float, str, str, bytes]] = []
        self.t = t0
        self.step = step

    def conn(
        self,
        client: tuple[str, int] = ("10.0.0.1", 40000),
        server: tuple[str, int] = ("10.0.0.2", 8080),
        isn: tuple[int, int] = (1000, 500000),
    ) -> Conn:
        return Conn(self, client, server, isn)

    def add(self, src: str, dst: str, tcp: bytes) -> None:
        self.t += self.step
        self.items.append((self.t, src, dst, tcp))

    def pcap(self, *, fmt: str = "pcap") -> bytes:
        out = io.BytesIO()
        with CaptureWriter(out, format=fmt) as writer:  # type: ignore[arg-type]
            for ts, src, dst, tcp in self.items:
                writer.write_tcp(ts, src, dst, tcp)
        return out.getvalue()

    def write(self, path: str) -> str:
        with open(path, "wb") as handle:
            handle.write(self.pcap())
        return path


class Session:
    """tcpcrypt content for a connection's two streams (A = client unless told)."""

    def __init__(
        self,
        conn: Conn,
        *,
        ss: bytes = bytes(range(32)),
        tep: int = 0x23,
        aead: int = AeadId.AEAD_AES_128_GCM,
        offered: tuple[int, ...] | None = None,
        dialect: Dialect = "rfc",
        tep_byte: int | None = None,
        sn: bytes = b"",
        seed: int = 1,
        a_is_client: bool = True,
        a_key: str = "ab",
        resumed: bool = False,
        after_init_offsets: bool | None = None,
    ) -> None:
        self.conn = conn
        self.ss = ss
        self.tep = tep
        self.aead = aead
        self.dialect = dialect
        self.tep_byte = tep if tep_byte is None else tep_byte
        self.a_side = C if a_is_client else S
        self.b_side = 1 - self.a_side
        rng = random.Random(seed)
        self.n_a = rng.randbytes(32)
        self.n_b = rng.randbytes(32)
        self.pub_a = generate_keypair(tep, rng.randbytes, dialect=dialect).public
        self.pub_b = generate_keypair(tep, rng.randbytes, dialect=dialect).public
        self.keys0: SessionKeys = derive_keys(
            ss, tep_byte=self.tep_byte, aead=aead, sn=sn, dialect=dialect
        )
        self.keys = {"ab": self.keys0, "ba": self.keys0}
        # Which traffic key each stream uses: by ORIGINAL roles (RFC 8548 §3.5).
        self.key_of = {self.a_side: a_key, self.b_side: "ba" if a_key == "ab" else "ab"}
        self.offered = (aead,) if offered is None else offered
        self.init_len = {C: 0, S: 0}
        self.after_init = (
            (dialect == "legacy") if after_init_offsets is None else after_init_offsets
        )
        self.resumed = resumed

    def inits(self) -> tuple[bytes, bytes]:
        init1 = encode_init1(self.offered, self.n_a, self.pub_a, self.tep, dialect=self.dialect)
        init2 = encode_init2(self.aead, self.n_b, self.pub_b, self.tep, dialect=self.dialect)
        self.conn.streams[self.a_side].extend(init1)
        self.conn.streams[self.b_side].extend(init2)
        self.init_len = {self.a_side: len(init1), self.b_side: len(init2)}
        return init1, init2

    def keylog(self) -> str:
        return f"TCPCRYPT_SS_INIT1 {self.n_a.hex()} {self.ss.hex()}\n"

    def frame(
        self,
        side: int,
        data: bytes,
        *,
        fin: bool = False,
        urgent: int | None = None,
        rekey: bool = False,
        control: int = 0,
        tamper: bool = False,
        offset: int | None = None,
        plaintext: bytes | None = None,
    ) -> tuple[int, int]:
        """Seal a frame onto ``side``'s stream; returns its [start, end) stream offsets."""
        key = self.key_of[side]
        if rekey:
            self.keys[key] = self.keys[key].next_generation()
            control |= 0x01
        stream = self.conn.streams[side]
        start = len(stream)
        nonce_offset = start - (self.init_len[side] if self.after_init else 0)
        if offset is not None:
            nonce_offset = offset
        cipher = FrameCipher(self.keys[key].traffic_key(key), self.aead, self.dialect)  # type: ignore[arg-type]
        if plaintext is None:
            plaintext = encode_frame_plaintext(data, fin=fin, urgent=urgent, dialect=self.dialect)
        frame = bytearray(cipher.seal(nonce_offset, plaintext, control))
        if tamper:
            frame[-1] ^= 0x01
        stream.extend(frame)
        return start, len(stream)


def fresh_rfc(
    *,
    client_data: tuple[bytes, ...] = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",),
    server_data: tuple[bytes, ...] = (b"HTTP/1.1 200 OK\r\n\r\nhello",),
    close: bool = True,
    cap: Capture | None = None,
    conn_kw: dict[str, object] | None = None,
    **session_kw: object,
) -> tuple[Capture, Conn, Session]:
    """A complete fresh rfc session: handshake, Init1, Init2, frames both ways, FINp, FIN."""
    cap = cap or Capture()
    conn = cap.conn(**(conn_kw or {}))  # type: ignore[arg-type]
    sess = Session(conn, **session_kw)  # type: ignore[arg-type]
    conn.handshake()
    sess.inits()
    conn.data(C, 0, sess.init_len[C])
    conn.data(S, 0, sess.init_len[S])
    for i, data in enumerate(client_data):
        sess.frame(C, data, fin=close and i == len(client_data) - 1)
    for i, data in enumerate(server_data):
        sess.frame(S, data, fin=close and i == len(server_data) - 1)
    conn.send_all(C, sess.init_len[C])
    conn.send_all(S, sess.init_len[S])
    if close:
        conn.close()
    return cap, conn, sess


def analyze(
    cap: Capture, keylog: str | None = None, *, payload: bool = False, **kw: object
) -> AnalysisResult:
    """Write ``cap`` as a pcap and analyze it (``keylog``: key log text)."""
    log = KeyLog.parse(keylog) if keylog is not None else None
    result = analyze_capture(io.BytesIO(cap.pcap()), keylog=log, payload=payload, **kw)  # type: ignore[arg-type]
    for flow in result.flows:
        for finding in flow.findings:
            assert get(finding.id) is not None, finding
            assert finding.id != "tcpinc.analyzer_error", finding
    return result


def one_flow(result: AnalysisResult) -> FlowResult:
    (flow,) = result.flows
    return flow


def ids(flow: FlowResult) -> set[str]:
    return {f.id for f in flow.findings}


def finding(flow: FlowResult, finding_id: str) -> Finding:
    return next(f for f in flow.findings if f.id == finding_id)
