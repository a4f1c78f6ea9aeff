"""One connection's conversation, as Wireshark's "Follow TCP Stream" shows it: the
application data of each direction in capture order, decrypted where a key log allows.

- a tcpcrypt connection that decrypts: the application data of its frames (RFC 8548 §4.2.1:
  flags and urgent field removed), each piece at the packet that completed its frame;
- a connection that is plain TCP (no ENO, a fallback, a TEP that is not tcpcrypt): its
  reassembled byte streams, each piece at the packet that made it contiguous;
- a tcpcrypt connection without its key: nothing (the frames are counted).

:func:`follow_capture` reads the capture once when told which connection (or all), twice
otherwise: the first pass picks the connection (see :func:`default_flow`), the second
collects it. Both passes number flows the same way (the same analyzer on the same bytes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from ..capture.flows import FlowUpdate
from ..capture.packet import TcpPacket
from ..keylog import KeyLog
from .model import AnalysisResult, FlowResult, StreamRecord
from .streaming import analyze_streaming

__all__ = [
    "CLIENT_TO_SERVER",
    "FOLLOW_LIMIT",
    "SERVER_TO_CLIENT",
    "Conversation",
    "Piece",
    "default_flow",
    "escape_bytes",
    "follow_capture",
]

CLIENT_TO_SERVER: Final = "client_to_server"
SERVER_TO_CLIENT: Final = "server_to_client"
# Bytes kept per connection and direction; the rest is counted (a follow of a bulk download
# is read by a person, and must not need the whole download in memory).
FOLLOW_LIMIT: Final = 64 << 20


@dataclass(frozen=True, slots=True)
class Piece:
    """Application data of one direction: ``packet`` is the frame number that completed it,
    ``offset`` its stream offset (the frame's, for decrypted data)."""

    direction: str
    packet: int
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Conversation:
    """One connection followed. ``mode`` is ``decrypted`` (tcpcrypt plaintext), ``plain``
    (a TCP stream that was never encrypted) or ``encrypted`` (tcpcrypt, not decrypted:
    no pieces). ``cut`` counts bytes past :data:`FOLLOW_LIMIT`, per direction."""

    flow: FlowResult
    mode: str
    pieces: tuple[Piece, ...]
    cut: tuple[int, int] = (0, 0)

    def total(self, direction: str) -> int:
        """Bytes shown for ``direction``."""
        return sum(len(p.data) for p in self.pieces if p.direction == direction)


@dataclass(slots=True)
class _Kept:
    pieces: list[tuple[int, int, Piece]] = field(default_factory=list)  # (packet, order, piece)
    size: list[int] = field(default_factory=lambda: [0, 0])
    cut: list[int] = field(default_factory=lambda: [0, 0])

    def add(self, order: int, piece: Piece) -> None:
        side = 0 if piece.direction == CLIENT_TO_SERVER else 1
        room = FOLLOW_LIMIT - self.size[side]
        data = piece.data
        if len(data) > room:
            self.cut[side] += len(data) - max(room, 0)
            if room <= 0:
                return
            piece = Piece(piece.direction, piece.packet, piece.offset, data[:room])
        self.size[side] += len(piece.data)
        self.pieces.append((piece.packet, order, piece))

    def ordered(self) -> tuple[Piece, ...]:
        return tuple(p for _, _, p in sorted(self.pieces, key=lambda t: (t[0], t[1])))


class _Collector:
    """Keeps the decrypted frames and the raw stream chunks of the wanted flows."""

    def __init__(self, wanted: set[int] | None) -> None:
        self.wanted = wanted
        self.decrypted: dict[int, _Kept] = {}
        self.raw: dict[int, _Kept] = {}
        self._order = 0

    def _want(self, flow: int) -> bool:
        return self.wanted is None or flow in self.wanted

    def frame(self, record: StreamRecord) -> None:
        body = record.plaintext
        if body is None or not body.data or not self._want(record.flow):
            return
        self._order += 1
        piece = Piece(record.direction, record.packet, record.offset, body.data)
        self.decrypted.setdefault(record.flow, _Kept()).add(self._order, piece)

    def update(self, update: FlowUpdate, pkt: TcpPacket | None) -> None:
        for item in (update, *update.ended):
            if not item.chunks or not self._want(item.flow.id):
                continue
            kept = self.raw.setdefault(item.flow.id, _Kept())
            for offset, data in item.chunks:
                self._order += 1
                piece = Piece(item.direction.value, item.packet_number, offset, data)
                kept.add(self._order, piece)

    def conversation(self, flow: FlowResult) -> Conversation:
        tc = flow.tcpcrypt
        if tc is not None and tc.decrypted:
            kept = self.decrypted.get(flow.id, _Kept())
            return Conversation(flow, "decrypted", kept.ordered(), (kept.cut[0], kept.cut[1]))
        if tc is not None:
            return Conversation(flow, "encrypted", ())
        kept = self.raw.get(flow.id, _Kept())
        return Conversation(flow, "plain", kept.ordered(), (kept.cut[0], kept.cut[1]))


def default_flow(flows: Iterable[FlowResult]) -> FlowResult | None:
    """The connection ``follow`` shows when not told: the first tcpcrypt one that decrypted,
    else the first tcpcrypt one, else the first one."""
    flows = list(flows)
    for test in (
        lambda f: f.tcpcrypt is not None and f.tcpcrypt.decrypted,
        lambda f: f.tcpcrypt is not None,
        lambda f: True,
    ):
        found = next((f for f in flows if test(f)), None)
        if found is not None:
            return found
    return None


def follow_capture(
    path: str | os.PathLike[str],
    *,
    keylog: KeyLog | None = None,
    flow: int | None = None,
    every: bool = False,
) -> tuple[list[Conversation], AnalysisResult]:
    """The conversations of the capture file ``path``: of flow ``flow``, of every flow
    (``every``), or of :func:`default_flow`'s (two passes over the file). The analysis
    result comes along (its ``capture_errors`` say whether the capture was read to the
    end). No conversation when ``flow`` is not a flow id of the capture (or the capture
    has none)."""
    if not every and flow is None:
        first = analyze_streaming(path, keylog=keylog)
        chosen = default_flow(first.flows)
        if chosen is None:
            return [], first
        return _collect(path, keylog, {chosen.id})
    return _collect(path, keylog, None if every else {flow} if flow is not None else None)


def _collect(
    path: str | os.PathLike[str], keylog: KeyLog | None, wanted: set[int] | None
) -> tuple[list[Conversation], AnalysisResult]:
    collector = _Collector(wanted)
    result = analyze_streaming(
        path, keylog=keylog, frame_sink=collector.frame, observer=collector.update
    )
    flows = [f for f in result.flows if wanted is None or f.id in wanted]
    return [collector.conversation(f) for f in flows], result


def escape_bytes(data: bytes) -> str:
    """Application data as text: printable ASCII as is, CR LF and LF as a line break, tab
    as tab, a backslash doubled, anything else as ``\\xNN``."""
    out: list[str] = []
    append = out.append
    n = len(data)
    i = 0
    while i < n:
        b = data[i]
        if b == 0x0D and i + 1 < n and data[i + 1] == 0x0A:
            append("\n")
            i += 2
            continue
        if b == 0x5C:
            append("\\\\")
        elif 0x20 <= b < 0x7F or b in (0x0A, 0x09):
            append(chr(b))
        else:
            append(f"\\x{b:02x}")
        i += 1
    return "".join(out)
