"""Reading a generated capture back, the way an analyzer would: with the capture reader, the
flow table, the wire decoders and the key schedule, fed only by the capture and its key log
(never by the generator's bookkeeping).

``read_flows(path)`` gives each TCP connection of a capture with its packets and its two
reassembled byte streams. ``fresh_keys`` / ``resumed_keys`` derive a session's keys from the
Init messages or resumption suboptions seen on the wire and the key log's secrets;
``open_frames`` walks a stream's frames and opens each with those keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tcpinc_tools.capture import Direction as FlowDirection
from tcpinc_tools.capture import FlowTable, TcpPacket, read_packets
from tcpinc_tools.capture.flows import Flow, FlowUpdate
from tcpinc_tools.crypto.schedule import Direction, SessionKeys, derive_keys
from tcpinc_tools.errors import DecodeError, DecryptionError
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wire.constants import Dialect, TcpFlag
from tcpinc_tools.wire.eno import EnoOption, EnoOutcome, Role, decode_eno_option, negotiate
from tcpinc_tools.wire.frames import decode_frame, decode_frame_plaintext
from tcpinc_tools.wire.tcp_options import TcpOption, is_eno_option, iter_tcp_options
from tcpinc_tools.wire.tcpcrypt import Init1, Init2, decode_init1, decode_init2

SYN, ACK, FIN, RST, PSH = (
    int(f) for f in (TcpFlag.SYN, TcpFlag.ACK, TcpFlag.FIN, TcpFlag.RST, TcpFlag.PSH)
)


def eno_options(pkt: TcpPacket) -> list[TcpOption]:
    """Every ENO option (kind 69, or 253 with ExID 0x454E) of a packet."""
    return [o for o in iter_tcp_options(pkt.options) if is_eno_option(o)]


def eno_raw(pkt: TcpPacket) -> bytes | None:
    """The one ENO option of a packet, raw, or None (no ENO or several)."""
    found = eno_options(pkt)
    return found[0].raw if len(found) == 1 else None


def is_pure_syn(pkt: TcpPacket) -> bool:
    return bool(pkt.flags & SYN) and not pkt.flags & ACK


def is_synack(pkt: TcpPacket) -> bool:
    return bool(pkt.flags & SYN) and bool(pkt.flags & ACK)


@dataclass
class FlowView:
    """One connection as captured."""

    flow: Flow
    packets: list[TcpPacket] = field(default_factory=list)
    c2s_chunks: list[tuple[int, bytes]] = field(default_factory=list)
    s2c_chunks: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def client(self) -> tuple[str, int]:
        return self.flow.client

    @property
    def server(self) -> tuple[str, int]:
        return self.flow.server

    def from_client(self, pkt: TcpPacket) -> bool:
        return (pkt.src, pkt.sport) == self.client

    def sent_by_client(self) -> list[TcpPacket]:
        return [p for p in self.packets if self.from_client(p)]

    def sent_by_server(self) -> list[TcpPacket]:
        return [p for p in self.packets if not self.from_client(p)]

    def first(self, client: bool, *, flags: int, without: int = 0) -> TcpPacket:
        sent = self.sent_by_client() if client else self.sent_by_server()
        return next(p for p in sent if p.flags & flags == flags and not p.flags & without)

    @property
    def syn(self) -> TcpPacket:
        return self.first(True, flags=SYN, without=ACK)

    @property
    def synack(self) -> TcpPacket:
        return self.first(False, flags=SYN | ACK)

    @property
    def first_client_ack(self) -> TcpPacket:
        return self.first(True, flags=ACK, without=SYN)

    def stream(self, client: bool) -> bytes:
        """The reassembled bytes one way; the chunks must join without a gap."""
        out = bytearray()
        for offset, data in self.c2s_chunks if client else self.s2c_chunks:
            assert offset == len(out), f"gap in the stream at {len(out)} (next chunk {offset})"
            out += data
        return bytes(out)

    @property
    def c2s(self) -> bytes:
        return self.stream(True)

    @property
    def s2c(self) -> bytes:
        return self.stream(False)

    def negotiate(self, *, dialect: Dialect = "rfc", **aa: bool) -> EnoOutcome:
        """wire.eno.negotiate on the SYN's and the SYN-ACK's ENO options as captured."""
        return negotiate(eno_raw(self.syn), eno_raw(self.synack), dialect=dialect, **aa)

    def isn(self, *, client: bool) -> int:
        return (self.syn if client else self.synack).seq

    def offset(self, pkt: TcpPacket) -> int:
        """The stream offset of a packet's first payload byte (RFC 9293: from ISN+1)."""
        return (pkt.seq - self.isn(client=self.from_client(pkt)) - 1) % (1 << 32)

    def covering(self, *, client: bool, offset: int) -> list[TcpPacket]:
        """The packets of one direction whose payload holds stream byte ``offset``."""
        sent = self.sent_by_client() if client else self.sent_by_server()
        return [
            p
            for p in sent
            if p.payload and self.offset(p) <= offset < self.offset(p) + len(p.payload)
        ]

    def has_rst(self, *, client: bool) -> bool:
        sent = self.sent_by_client() if client else self.sent_by_server()
        return any(p.flags & RST for p in sent)

    def has_fin(self, *, client: bool) -> bool:
        sent = self.sent_by_client() if client else self.sent_by_server()
        return any(p.flags & FIN for p in sent)


def _collect(views: dict[int, FlowView], update: FlowUpdate) -> None:
    view = views.setdefault(update.flow.id, FlowView(update.flow))
    toward_server = update.direction is FlowDirection.CLIENT_TO_SERVER
    target = view.c2s_chunks if toward_server else view.s2c_chunks
    target.extend(update.chunks)


def read_flows(path: Path | str) -> list[FlowView]:
    """The flows of a capture, by flow id, with packets and reassembled streams."""
    table = FlowTable()
    views: dict[int, FlowView] = {}
    for pkt in read_packets(path):
        update = table.add(pkt)
        for ended in update.ended:
            _collect(views, ended)
        _collect(views, update)
        views[update.flow.id].packets.append(pkt)
    for update in table.flush():
        _collect(views, update)
    return [views[k] for k in sorted(views)]


def read_all(path: Path | str) -> list[TcpPacket]:
    return list(read_packets(path))


# -- tcpcrypt ------------------------------------------------------------------------------


@dataclass
class OpenedFrame:
    """One frame of a stream: where it starts, its control bits and, when its tag checked
    out, its plaintext fields."""

    offset: int
    rekey: bool
    ok: bool
    fin: bool = False
    urgent: int | None = None
    data: bytes = b""


def open_frames(
    stream: bytes,
    keys: SessionKeys,
    direction: Direction,
    *,
    start: int,
    nonce_base: int = 0,
) -> list[OpenedFrame]:
    """Walk the frames of ``stream`` from ``start`` (RFC 8548 §4.2), following the key
    generation by the rekey bits (§3.8). The AEAD offset of a frame is its stream offset
    minus ``nonce_base`` (0 in the rfc dialect; the Init message's length in legacy)."""
    frames: list[OpenedFrame] = []
    offset = start
    while offset < len(stream):
        try:
            frame = decode_frame(stream[offset:])
        except DecodeError:
            frames.append(OpenedFrame(offset, False, False))
            break
        if frame.rekey:
            keys = keys.next_generation()
        raw = stream[offset : offset + frame.size]
        try:
            plain = decode_frame_plaintext(
                keys.cipher(direction).open(offset - nonce_base, raw), dialect=keys.dialect
            )
        except DecryptionError:
            frames.append(OpenedFrame(offset, frame.rekey, False))
        else:
            frames.append(
                OpenedFrame(offset, frame.rekey, True, plain.fin, plain.urgent, plain.data)
            )
        offset += frame.size
    return frames


def plaintext(frames: list[OpenedFrame]) -> bytes:
    return b"".join(f.data for f in frames if f.ok)


@dataclass
class FreshSession:
    init1: Init1
    init2: Init2
    keys: SessionKeys
    outcome: EnoOutcome


def fresh_session(view: FlowView, keylog: KeyLog, *, dialect: Dialect = "rfc") -> FreshSession:
    """The keys of a fresh session: the TEP from negotiate() on the captured SYNs, N_A from
    the Init1 at the start of the client's stream, ss[0] from the key log (by N_A), the AEAD
    from Init2, the TEP byte as B sent it (RFC 8548 §3.4)."""
    outcome = view.negotiate(dialect=dialect)
    assert outcome.ok, outcome.reason
    tep = outcome.negotiated_tep
    assert tep is not None and outcome.negotiated_tep_byte is not None
    init1 = decode_init1(view.c2s, tep, dialect=dialect)
    init2 = decode_init2(view.s2c, tep, dialect=dialect)
    ss = keylog.ss_for_init1(init1.n_a)
    assert ss is not None, "no TCPCRYPT_SS_INIT1 line for this N_A"
    keys = derive_keys(
        ss,
        tep_byte=outcome.negotiated_tep_byte,
        aead=init2.cipher,
        dialect=dialect,
    )
    return FreshSession(init1, init2, keys, outcome)


def client_direction(outcome: EnoOutcome) -> tuple[Direction, Direction]:
    """(client->server, server->client) key directions: A encrypts with k_ab."""
    return ("ab", "ba") if outcome.role_a is Role.A else ("ba", "ab")


def resume_suboption(opt: bytes) -> tuple[int, bytes]:
    """(TEP byte, data) of the v = 1 suboption of a SYN-form ENO option."""
    parsed: EnoOption = decode_eno_option(opt, syn=True)
    sub = next(s for s in parsed.suboptions if s.v)
    return sub.byte, sub.data


def decrypt_fresh(
    view: FlowView, keylog: KeyLog, *, dialect: Dialect = "rfc"
) -> tuple[list[OpenedFrame], list[OpenedFrame], bytes]:
    """Both directions' frames of a fresh session, and its session ID."""
    session = fresh_session(view, keylog, dialect=dialect)
    up, down = client_direction(session.outcome)
    n1, n2 = len(session.init1.raw), len(session.init2.raw)
    # rfc: frame offsets count from ISN+1, Init included (DIGEST.md §2.12); legacy: from
    # after Init1 / Init2 (LEGACY.md).
    base1, base2 = (0, 0) if dialect == "rfc" else (n1, n2)
    c2s = open_frames(view.c2s, session.keys, up, start=n1, nonce_base=base1)
    s2c = open_frames(view.s2c, session.keys, down, start=n2, nonce_base=base2)
    return c2s, s2c, session.keys.session_id


def assert_clean_close(view: FlowView, c2s: list[OpenedFrame], s2c: list[OpenedFrame]) -> None:
    """Every frame opens, FINp on the last frame only, each side's TCP FIN on the segment
    with that frame's last byte (RFC 8548 §3.7), no RST."""
    for client, frames in ((True, c2s), (False, s2c)):
        assert frames and all(f.ok for f in frames)
        assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
        stream = view.stream(client)
        last = view.covering(client=client, offset=len(stream) - 1)
        assert last and all(p.flags & FIN for p in last)
        assert not view.has_rst(client=client)
