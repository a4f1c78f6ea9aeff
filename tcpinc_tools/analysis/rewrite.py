"""``tcpinc decrypt``: a capture with tcpcrypt replaced by its plaintext, for Wireshark's own
dissectors (HTTP, ...) to read as if the connection had been plain TCP.

Two passes over the file. The first analyzes it with the key log (the same analyzer as
``tcpinc analyze``) and notes, for every TCP segment, the stream offsets of its sequence
and acknowledgement numbers, and for every frame that authenticated, where it ends and its
application data (spilled to a temporary file). The second copies the capture record by
record, rewriting the segments of each connection that decrypted ("rewritten connections").

The mapping, per direction of a rewritten connection:

- the new byte stream is the application data of the frames that authenticated, in stream
  order (RFC 8548 §4.2.1: flags and urgent field removed). Init1 / Init2, frame headers and
  tags, and frames that did not authenticate contribute nothing;
- a frame's data goes into the first segment that carries the frame's last byte (a segment
  holding stream bytes [s, e) gets the data of every frame ending in (s, e]); a
  retransmission of that byte gets the same data again, so Wireshark sees a retransmission;
- a stream offset x maps to M(x) = the data of the frames that end at or before x
  (x <= 0, the SYN, maps to itself; past the FIN, x maps to M(FIN) + (x - FIN)). Sequence
  numbers become seq + M(x) - x, acknowledgement numbers and SACK block edges likewise
  through the other direction's M: every number stays consistent with the ISNs on the wire;
- a segment that carried bytes but gets none (an Init message, the first part of a frame
  spread over several segments) is left out, unless it has SYN, FIN or RST; a segment that
  gets more than an IP datagram holds is split in several, with the same timestamp;
- ENO options (kind 69, and kind 253 with ExID 0x454E) become NOPs of the same length, so
  that the header keeps its size and nothing (our Lua dissector included) takes the plain
  stream for tcpcrypt; SACK blocks that become empty are replaced by NOPs;
- the IPv4 total length and header checksum, the IPv6 payload length and the TCP checksum
  are recomputed; link-layer headers are kept (a trailer after the IP datagram is dropped).

Everything else - other connections (plain, fallen back, encrypted without a key), non-TCP
frames - is copied byte for byte. The output is a pcap file with the link type of the
first record; records of another link type (a pcapng file with mixed interfaces) are left
out and counted.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Final

from ..capture.checksum import internet_checksum, tcp_checksum
from ..capture.flows import FlowUpdate
from ..capture.framing import open_records
from ..capture.packet import CaptureStats, FrameDecoder, TcpPacket
from ..capture.writer import CaptureWriter
from ..errors import CaptureError
from ..keylog import KeyLog
from ..wire.constants import ENO_EXID, LinkType, TcpFlag, TcpOptionKind
from .model import AnalysisResult, StreamRecord
from .streaming import analyze_streaming

__all__ = [
    "NO_OFFSET",
    "RewriteStats",
    "StreamMap",
    "decrypt_capture",
    "map_number",
    "rewrite_options",
    "rewrite_segment",
]

NO_OFFSET: Final = -(1 << 62)  # "no acknowledgement offset known"
_SEQ_MOD: Final = 1 << 32
_SEQ_HALF: Final = 1 << 31
_IP_MAX: Final = 0xFFFF  # RFC 791 Total Length / RFC 8200 Payload Length: 16 bits
_IPV6_LEN: Final = 40
_SYN: Final = int(TcpFlag.SYN)
_FIN: Final = int(TcpFlag.FIN)
_RST: Final = int(TcpFlag.RST)
_PSH: Final = int(TcpFlag.PSH)
_ACK: Final = int(TcpFlag.ACK)
_KEEP_FLAGS: Final = _SYN | _FIN | _RST
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_NOP: Final = int(TcpOptionKind.NOP)
_EOL: Final = int(TcpOptionKind.EOL)
_SACK: Final = int(TcpOptionKind.SACK)
_ENO: Final = int(TcpOptionKind.ENO)
_EXP: Final = int(TcpOptionKind.EXPERIMENTAL_1)
_ENO_EXID: Final = ENO_EXID.to_bytes(2, "big")


def _signed(delta: int) -> int:
    delta %= _SEQ_MOD
    return delta - _SEQ_MOD if delta >= _SEQ_HALF else delta


class StreamMap:
    """One direction of a rewritten connection: where its frames end and what they carry
    (see the module doc for M). Fill it with :meth:`add`, then :meth:`seal` it once."""

    __slots__ = ("_cum", "_ends", "_lens", "_spill", "_starts", "fin")

    def __init__(self, spill: IO[bytes]) -> None:
        self._ends = array("q")
        self._starts = array("q")  # where each frame's data lies in the spill file
        self._lens = array("q")
        self._cum = array("q", [0])
        self._spill = spill
        self.fin: int | None = None

    def add(self, end: int, data: bytes) -> None:
        """A frame ending at stream offset ``end`` whose application data is ``data``."""
        spill = self._spill
        spill.seek(0, os.SEEK_END)
        self._starts.append(spill.tell())
        spill.write(data)
        self._ends.append(end)
        self._lens.append(len(data))

    def seal(self) -> None:
        """Order the frames by their end (they come in stream order; a frame seen twice
        counts once) and sum up their data."""
        order = sorted(range(len(self._ends)), key=lambda k: self._ends[k])
        ends, starts, lens = array("q"), array("q"), array("q")
        for k in order:
            if ends and ends[-1] == self._ends[k]:
                continue
            ends.append(self._ends[k])
            starts.append(self._starts[k])
            lens.append(self._lens[k])
        self._ends, self._starts, self._lens = ends, starts, lens
        cum = array("q", [0])
        for size in lens:
            cum.append(cum[-1] + size)
        self._cum = cum

    def _p(self, x: int) -> int:
        return self._cum[bisect_right(self._ends, x)]

    def new_offset(self, x: int) -> int:
        """M(x): the offset of stream offset ``x`` in the plaintext stream."""
        if x <= 0:
            return x
        fin = self.fin
        if fin is not None and x > fin:
            return self._p(fin) + (x - fin)
        return self._p(x)

    def data(self, start: int, end: int) -> bytes:
        """The application data of the frames that end in (start, end]."""
        i = bisect_right(self._ends, start)
        j = bisect_right(self._ends, end)
        if i >= j:
            return b""
        spill = self._spill
        parts = []
        for k in range(i, j):
            spill.seek(self._starts[k])
            parts.append(spill.read(self._lens[k]))
        return b"".join(parts)

    @property
    def frames(self) -> int:
        return len(self._ends)


@dataclass(slots=True)
class RewriteStats:
    """What ``decrypt`` did. ``flows`` are the ids of the rewritten connections."""

    flows: list[int] = field(default_factory=list)
    records: int = 0  # records read in the second pass
    written: int = 0  # records written
    rewritten: int = 0  # segments of rewritten connections written (split ones counted once)
    dropped: int = 0  # segments left out (they carried no application data)
    split: int = 0  # extra segments made by splitting
    frames: int = 0  # frames whose plaintext was put in
    undecrypted: int = 0  # frames of rewritten connections that did not authenticate
    other_link: int = 0  # records left out: another link type than the first record's


class _Pass1:
    """What the first pass notes (see the module doc)."""

    def __init__(self, spill: IO[bytes]) -> None:
        self.spill = spill
        self.numbers = array("q")  # packet number of each TCP segment, in order
        self.flow_ids = array("q")
        self.sides = bytearray()
        self.seq_offsets = array("q")
        self.ack_offsets = array("q")
        self.maps: dict[tuple[int, int], StreamMap] = {}
        self.failed: dict[int, int] = {}  # flow -> frames that did not authenticate
        self.fins: dict[tuple[int, int], int] = {}

    def frame(self, record: StreamRecord) -> None:
        if record.kind != "frame":
            return
        if record.plaintext is None:
            self.failed[record.flow] = self.failed.get(record.flow, 0) + 1
            return
        side = 0 if record.direction == "client_to_server" else 1
        self.stream(record.flow, side).add(record.offset + record.size, record.plaintext.data)

    def stream(self, flow: int, side: int) -> StreamMap:
        stream = self.maps.get((flow, side))
        if stream is None:
            stream = self.maps[(flow, side)] = StreamMap(self.spill)
        return stream

    def update(self, update: FlowUpdate, pkt: TcpPacket | None) -> None:
        flow = update.flow
        if pkt is None:
            # The flow ended: where its FIN was, per direction.
            stream = flow.stream(update.direction)
            if stream.fin is not None:
                side = 0 if update.direction.value == "client_to_server" else 1
                self.fins[(flow.id, side)] = stream.fin.offset
            return
        stream = flow.stream(update.direction)
        reverse = flow.stream(update.direction.reverse)
        self.numbers.append(pkt.number)
        self.flow_ids.append(flow.id)
        self.sides.append(0 if update.direction.value == "client_to_server" else 1)
        self.seq_offsets.append(stream.offset_of(pkt.seq))
        known = pkt.flags & _ACK and reverse.base_seq is not None
        self.ack_offsets.append(reverse.offset_of(pkt.ack) if known else NO_OFFSET)


def decrypt_capture(
    source: str | os.PathLike[str], target: str | os.PathLike[str], *, keylog: KeyLog
) -> tuple[RewriteStats, AnalysisResult]:
    """Write ``target``: ``source`` with its tcpcrypt connections decrypted (see the module
    doc). The analysis of the first pass comes along. A capture that cannot be read to the
    end gives an output with every record before the problem, and the error in
    ``capture_errors`` (CaptureError is raised only when ``target`` cannot be written)."""
    with tempfile.TemporaryFile(prefix="tcpinc-decrypt-") as spill:
        notes = _Pass1(spill)
        result = analyze_streaming(
            source, keylog=keylog, frame_sink=notes.frame, observer=notes.update
        )
        stats = RewriteStats()
        rewritten = {f.id for f in result.flows if f.tcpcrypt is not None and f.tcpcrypt.decrypted}
        stats.flows = sorted(rewritten)
        stats.undecrypted = sum(n for flow, n in notes.failed.items() if flow in rewritten)
        for (flow, side), fin in notes.fins.items():
            if flow in rewritten:
                notes.stream(flow, side).fin = fin
        for stream in notes.maps.values():
            stream.seal()
        _second_pass(source, target, notes, rewritten, stats)
    return stats, result


def _records(source: str | os.PathLike[str]) -> Iterator[tuple[float, int, bytes, int]]:
    name = os.fspath(source)
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None
    try:
        _format, records, _position = open_records(handle, name)
        yield from records
    finally:
        handle.close()


class _Rewriter:
    """The second pass's decisions for one TCP segment (see the module doc)."""

    def __init__(self, notes: _Pass1, rewritten: set[int], stats: RewriteStats) -> None:
        self.notes = notes
        self.rewritten = rewritten
        self.stats = stats
        self.empty = StreamMap(notes.spill)
        self.cursor = 0
        # (flow, side) -> (acknowledgement number as captured, as written)
        self.acks: dict[tuple[int, int], tuple[int, int]] = {}

    def segment(self, pkt: TcpPacket) -> list[bytes] | None:
        """The frames that replace ``pkt``, or None to copy it as it is."""
        notes = self.notes
        numbers = notes.numbers
        while self.cursor < len(numbers) and numbers[self.cursor] < pkt.number:
            self.cursor += 1
        index = self.cursor
        if index >= len(numbers) or numbers[index] != pkt.number:
            return None
        flow = notes.flow_ids[index]
        if flow not in self.rewritten:
            return None
        side = notes.sides[index]
        own = notes.maps.get((flow, side), self.empty)
        peer = notes.maps.get((flow, 1 - side), self.empty)
        ack_offset = notes.ack_offsets[index]
        stats = self.stats
        if pkt.flags & _ACK and ack_offset != NO_OFFSET:
            new_ack = map_number(pkt.ack, ack_offset, peer)
            before = self.acks.get((flow, side))
            self.acks[(flow, side)] = (pkt.ack, new_ack)
            if (
                before is not None
                and not pkt.flags & _KEEP_FLAGS
                and _ip_end(pkt) == pkt.payload_offset
                and before[0] != pkt.ack
                and before[1] == new_ack
            ):
                # A pure ACK of bytes that map to nothing (an Init, part of a frame): it
                # would read as a duplicate ACK or a window update. A real duplicate ACK
                # (the same number as captured) is kept.
                stats.dropped += 1
                return []
        frames = rewrite_segment(pkt, notes.seq_offsets[index], ack_offset, own, peer)
        stats.rewritten += bool(frames)
        stats.dropped += not frames
        stats.split += max(len(frames) - 1, 0)
        return frames


def _second_pass(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    notes: _Pass1,
    rewritten: set[int],
    stats: RewriteStats,
) -> None:
    decoder = FrameDecoder(CaptureStats())
    rewriter = _Rewriter(notes, rewritten, stats)
    writer: CaptureWriter | None = None
    number = 0
    try:
        try:
            for ts, linktype, frame, wire_len in _records(source):
                number += 1
                stats.records += 1
                if writer is None:
                    writer = CaptureWriter(target, linktype=linktype)
                if linktype != writer.linktype:
                    stats.other_link += 1
                    continue
                pkt = decoder.decode(frame, linktype, number, ts, wire_len)
                frames = rewriter.segment(pkt) if pkt is not None else None
                if frames is None:
                    writer.write_frame(ts, frame, wire_len=wire_len)
                    stats.written += 1
                    continue
                for new in frames:
                    writer.write_frame(ts, new)
                    stats.written += 1
        except CaptureError:
            pass  # the first pass met the same error; its result reports it
        if writer is None:
            writer = CaptureWriter(target, linktype=LinkType.ETHERNET)
    finally:
        if writer is not None:
            writer.close()
    stats.frames = sum(m.frames for m in notes.maps.values())


def map_number(number: int, offset: int, stream: StreamMap) -> int:
    """A sequence (or acknowledgement) number of ``stream``'s direction whose stream offset
    is ``offset``, in the rewritten stream: number + M(offset) - offset, modulo 2^32."""
    return (number + stream.new_offset(offset) - offset) % _SEQ_MOD


def _ip_end(pkt: TcpPacket) -> int:
    frame, off = pkt.frame, pkt.ip_offset
    if pkt.ip_version == 4:
        total = _U16.unpack_from(frame, off + 2)[0]
    else:
        plen = _U16.unpack_from(frame, off + 4)[0]
        total = _IPV6_LEN + plen if plen else 0
    return off + total if total else len(frame)


def rewrite_segment(
    pkt: TcpPacket, seq_offset: int, ack_offset: int, own: StreamMap, peer: StreamMap
) -> list[bytes]:
    """The frames that replace ``pkt`` (none: it is left out). ``seq_offset`` is the stream
    offset of its sequence number, ``ack_offset`` that of its acknowledgement number in the
    other direction (:data:`NO_OFFSET` when unknown); ``own`` and ``peer`` map the two
    directions."""
    flags = pkt.flags
    start = seq_offset + (1 if flags & _SYN else 0)
    declared = max(_ip_end(pkt) - pkt.payload_offset, 0)
    data = own.data(start, start + declared) if declared else b""
    if declared and not data and not flags & _KEEP_FLAGS:
        return []
    seq = map_number(pkt.seq, seq_offset, own)
    ack = pkt.ack if ack_offset == NO_OFFSET else map_number(pkt.ack, ack_offset, peer)
    options = rewrite_options(pkt.options, ack_offset, pkt.ack, peer)
    frame = pkt.frame
    link = frame[: pkt.ip_offset]
    ip_header = frame[pkt.ip_offset : pkt.tcp_offset]
    tcp_header = bytearray(frame[pkt.tcp_offset : pkt.payload_offset])
    tcp_header[20:] = options
    # The most payload one IP datagram carries (IPv6's payload length excludes its header).
    ip_counted = len(ip_header) if pkt.ip_version == 4 else len(ip_header) - _IPV6_LEN
    room = _IP_MAX - len(tcp_header) - ip_counted
    pieces = [data[i : i + room] for i in range(0, len(data), room)] or [b""]
    out = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        piece_flags = flags if last else flags & ~(_FIN | _PSH)
        out.append(
            link
            + _segment(
                pkt,
                ip_header,
                tcp_header=tcp_header,
                seq=seq,
                ack=ack,
                flags=piece_flags,
                payload=piece,
            )
        )
        seq = (seq + len(piece)) % _SEQ_MOD
    return out


def _segment(
    pkt: TcpPacket,
    ip_header: bytes,
    *,
    tcp_header: bytearray,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
) -> bytes:
    # RFC 9293 §3.1: sequence number, acknowledgement number, data offset / flags, checksum.
    tcp = bytearray(tcp_header)
    _U32.pack_into(tcp, 4, seq)
    _U32.pack_into(tcp, 8, ack)
    tcp[12] = (tcp[12] & 0xF0) | ((flags >> 8) & 0x0F)
    tcp[13] = flags & 0xFF
    tcp[16:18] = b"\x00\x00"
    tcp += payload
    ip = bytearray(ip_header)
    if pkt.ip_version == 4:
        # RFC 791 §3.1: total length, and the header checksum over the header.
        src, dst = bytes(ip[12:16]), bytes(ip[16:20])
        _U16.pack_into(ip, 2, len(ip) + len(tcp))
        ip[10:12] = b"\x00\x00"
        _U16.pack_into(ip, 10, internet_checksum(bytes(ip)))
    else:
        # RFC 8200 §3: the payload length counts extension headers and the segment.
        src, dst = bytes(ip[8:24]), bytes(ip[24:40])
        _U16.pack_into(ip, 4, len(ip) - _IPV6_LEN + len(tcp))
    _U16.pack_into(tcp, 16, tcp_checksum(src, dst, bytes(tcp)))
    return bytes(ip) + bytes(tcp)


def rewrite_options(options: bytes, ack_offset: int, ack: int, peer: StreamMap) -> bytes:
    """The TCP options of a rewritten segment, of the same length: ENO options as NOPs,
    SACK edges mapped like the acknowledgement number (blocks that become empty, or all of
    them when the acknowledgement offset is unknown, as NOPs). Bytes that do not walk as
    options (RFC 9293 §3.1) are kept as they are. Never raises."""
    out = bytearray(options)
    n = len(options)
    i = 0
    while i < n:
        kind = options[i]
        if kind == _EOL:
            break
        if kind == _NOP:
            i += 1
            continue
        if i + 1 >= n:
            break
        length = options[i + 1]
        if length < 2 or i + length > n:
            break
        body = options[i + 2 : i + length]
        if kind == _ENO or (kind == _EXP and body[:2] == _ENO_EXID):
            out[i : i + length] = bytes((_NOP,)) * length
        elif kind == _SACK:
            out[i : i + length] = _sack(body, length, ack_offset, ack, peer)
        i += length
    return bytes(out)


def _sack(body: bytes, length: int, ack_offset: int, ack: int, peer: StreamMap) -> bytes:
    # RFC 2018 §3: kind 5, length, then pairs of 32-bit left / right edges.
    blocks = []
    if ack_offset != NO_OFFSET and len(body) % 8 == 0:
        for k in range(0, len(body), 8):
            left, right = _U32.unpack_from(body, k)[0], _U32.unpack_from(body, k + 4)[0]
            lo = ack_offset + _signed(left - ack)
            hi = ack_offset + _signed(right - ack)
            new_left = map_number(left, lo, peer)
            new_right = map_number(right, hi, peer)
            if new_left != new_right:
                blocks.append(_U32.pack(new_left) + _U32.pack(new_right))
    if not blocks:
        return bytes((_NOP,)) * length
    option = bytes((_SACK, 2 + 8 * len(blocks))) + b"".join(blocks)
    return option + bytes((_NOP,)) * (length - len(option))
