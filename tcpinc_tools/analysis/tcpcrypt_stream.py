"""Delimiting one direction of a tcpcrypt connection: Init message, frames, resync (RFC 8548
§3.3, §4.1, §4.2).

:class:`DirectionStream` takes the in-order chunks of one direction (stream offsets from
ISN+1; a jump is a gap the reassembler gave up) and cuts them into the Init message and the
frames, which it hands to its :class:`StreamHooks` (the session tracker). Its phases:

``init``    a fresh session: Init1 (A's stream) or Init2 (B's) at offset 0, delimited by
            message_len across any number of segments; then ``frames``
``frames``  frames delimited by clen, rekey bits counted into the key generation (§3.8)
``resync``  after bytes that cannot be delimited (a gap that hid a frame header, plaintext,
            a frame too short for its tag): the next offset where a frame starts, confirmed
            by decryption when a key is known, else by :data:`RESYNC_CHAIN` plausible headers
            in a row (a random byte passes as a header with probability ~2/256)
``opaque``  the stream cannot be tcpcrypt (no Init where one must be): counted only

A gap inside a frame whose header was seen costs that frame only (it is counted, its rekey
bit too, and skipped); a gap inside an Init message whose length is known skips the message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final, Protocol

from ..wire.constants import (
    CONTROL_CRES,
    CONTROL_REKEY,
    FRAME_HEADER_LEN,
    INIT1_MAGIC,
    INIT2_MAGIC,
    INIT_HEADER_LEN,
    TAG_LEN,
)
from .decrypt import StreamDecryptor
from .model import FindingSink, FrameDigest

__all__ = [
    "FRAMES",
    "GAP_LOOKAHEAD",
    "INIT",
    "INIT_MESSAGE_MAX",
    "OPAQUE",
    "RESYNC",
    "RESYNC_CHAIN",
    "DirectionStream",
    "StreamHooks",
    "looks_like_text",
]

# The longest Init message followed (as protocol/tcpcrypt_kex.py: real ones are ~120 bytes).
INIT_MESSAGE_MAX: Final = 0x10000
RESYNC_CHAIN: Final = 3
# Generations tried beyond the counted one after a gap (rekey bits may have been lost).
GAP_LOOKAHEAD: Final = 3
_RECENT_FRAMES: Final = 64

INIT, FRAMES, RESYNC, OPAQUE = "init", "frames", "resync", "opaque"
DIRECTIONS: Final = ("client_to_server", "server_to_client")
_PRINTABLE: Final = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def looks_like_text(data: bytearray | bytes) -> bool:
    """At least three bytes, the first eight all printable ASCII: plaintext, not a frame
    (a frame's control byte is 0x00 or 0x01) nor an Init message (binary magic)."""
    head = bytes(data[:8])
    return len(head) >= 3 and all(b in _PRINTABLE for b in head)


def _clen(buf: bytearray, at: int) -> int:
    # RFC 8548 §4.2: clen, two bytes big-endian after the control byte.
    return (buf[at + 1] << 8) | buf[at + 2]


class StreamHooks(Protocol):
    """What the session tracker does with what a direction delimits."""

    def init_message(self, st: DirectionStream, raw: bytes, offset: int, packet: int) -> None:
        """A whole Init1 / Init2 (its bytes exactly as sent)."""

    def init_failed(self, st: DirectionStream) -> None:
        """The Init message of ``st`` will never be decoded (missing, cut, not tcpcrypt)."""

    def frame(self, st: DirectionStream, offset: int, frame: bytes, packet: int) -> None:
        """A whole frame at stream ``offset``; ``st.generation`` already counts its rekey
        bit and ``st.lookahead`` says how many generations a gap may have hidden."""


class DirectionStream:
    """One direction's delimiting state, plus the per-direction decryption state the session
    tracker keeps on it (``decryptor``, ``held``, counters, ``plaintext``)."""

    __slots__ = (
        "a_side",
        "base",
        "buf",
        "damaged",
        "decrypted",
        "decryptor",
        "digests",
        "early_failures",
        "failures",
        "fin_frame",
        "frames",
        "generation",
        "held",
        "held_bytes",
        "hooks",
        "index",
        "init_end",
        "init_len",
        "lookahead",
        "noted",
        "payload_cut",
        "phase",
        "plaintext",
        "recent",
        "resync_from",
        "sink",
        "urgent",
    )

    def __init__(
        self,
        index: int,
        *,
        a_side: bool,
        resumed: bool,
        payload: bool,
        sink: FindingSink,
        hooks: StreamHooks,
    ) -> None:
        self.index = index  # 0: the client's stream, 1: the server's
        self.a_side = a_side  # the stream of host A (current roles)
        self.sink = sink
        self.hooks = hooks
        self.phase = FRAMES if resumed else INIT
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.init_len = 0
        self.init_end: int | None = None
        self.frames = 0
        self.damaged = 0
        self.generation = 0
        self.lookahead = 0
        self.resync_from: int | None = None
        self.recent: deque[tuple[int, int]] = deque(maxlen=_RECENT_FRAMES)
        # Decryption state, kept by the session tracker.
        self.decryptor: StreamDecryptor | None = None
        self.held: deque[tuple[int, int, bytes, int, int]] = deque()
        self.held_bytes = 0
        self.decrypted = 0
        self.failures = 0
        self.early_failures: list[int] = []
        self.fin_frame: int | None = None
        self.urgent = 0
        self.digests: list[FrameDigest] = []
        self.plaintext: bytearray | None = bytearray() if payload else None
        self.payload_cut = False
        self.noted: set[str] = set()

    @property
    def name(self) -> str:
        return "A→B" if self.a_side else "B→A"

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.index]

    # -- input ---------------------------------------------------------------------------

    def feed(self, chunks: Iterable[tuple[int, bytes]], packet: int) -> None:
        """In-order chunks ``(stream offset, bytes)``; offsets jump over bytes given up."""
        for chunk_offset, chunk in chunks:
            offset, data = chunk_offset, chunk
            end = self.base + len(self.buf)
            if offset > end:
                self._gap(end, offset)
                end = self.base + len(self.buf)
            if offset < end:  # bytes inside a region being skipped
                if offset + len(data) <= end:
                    continue
                data = data[end - offset :]
                offset = end
            if self.phase == OPAQUE:
                self.base = offset + len(data)
                continue
            self.buf += data
            self.parse(packet)

    def parse(self, packet: int) -> None:
        while True:
            if self.phase == FRAMES:
                progressed = self._parse_frame(packet)
            elif self.phase == INIT:
                progressed = self._parse_init(packet)
            elif self.phase == RESYNC:
                progressed = self.resync(packet, final=False)
            else:
                self.base += len(self.buf)
                self.buf.clear()
                progressed = False
            if not progressed:
                return

    def _gap(self, start: int, stop: int) -> None:
        """Bytes [start, stop) are missing: skip the damaged frame or Init, or search."""
        buf = self.buf
        if self.phase == INIT and len(buf) >= INIT_HEADER_LEN:
            message_len = int.from_bytes(buf[4:INIT_HEADER_LEN], "big")
            if stop <= self.base + message_len:
                self.init_len = message_len
                self.init_end = self.base + message_len
                self.phase = FRAMES
                self.base += message_len
                buf.clear()
                self.hooks.init_failed(self)
                return
        elif self.phase == FRAMES and len(buf) >= FRAME_HEADER_LEN:
            frame_end = self.base + FRAME_HEADER_LEN + _clen(buf, 0)
            if stop <= frame_end:
                # The header is known: count the frame and its rekey bit, skip its bytes.
                self.frames += 1
                self.damaged += 1
                if buf[0] & CONTROL_REKEY:
                    self.generation += 1
                self.base = frame_end
                buf.clear()
                return
        if self.phase == OPAQUE:
            self.base = stop
            return
        failed_init = self.phase == INIT
        if self.resync_from is None:
            self.resync_from = start
        self.phase = RESYNC
        self.lookahead = GAP_LOOKAHEAD
        self.base = stop
        buf.clear()
        if failed_init:
            self.hooks.init_failed(self)

    # -- the Init message ----------------------------------------------------------------

    # RFC 8548 §3.3, §4.1: Init1 opens A's stream, Init2 B's; magic (4) ‖ message_len (4).
    def _parse_init(self, packet: int) -> bool:
        buf = self.buf
        name = "init1" if self.a_side else "init2"
        if len(buf) < 4:
            return False
        magic = int.from_bytes(buf[:4], "big")
        if magic != (INIT1_MAGIC if self.a_side else INIT2_MAGIC):
            if looks_like_text(buf):
                self.plaintext_finding(packet)
            else:
                self.sink.add(
                    f"tcpcrypt.{name}.bad_magic",
                    f"{self.name} stream opens with {bytes(buf[:4]).hex()}",
                    packet=packet,
                    direction=self.direction,
                )
            self.phase = OPAQUE
            self.hooks.init_failed(self)
            return True
        if len(buf) < INIT_HEADER_LEN:
            return False
        # RFC 8548 §4.1: message_len counts the whole message, magic included.
        message_len = int.from_bytes(buf[4:INIT_HEADER_LEN], "big")
        if message_len > INIT_MESSAGE_MAX or message_len < INIT_HEADER_LEN:
            too_long = message_len > INIT_MESSAGE_MAX
            self.sink.add(
                "tcpcrypt.init.too_long" if too_long else "tcpcrypt.init.bad_message_len",
                f"{name} message_len {message_len}",
                packet=packet,
            )
            self.phase = OPAQUE
            self.hooks.init_failed(self)
            return True
        self.init_end = self.base + message_len
        if len(buf) < message_len:
            return False
        raw = bytes(buf[:message_len])
        del buf[:message_len]
        start = self.base
        self.base += message_len
        self.init_len = message_len
        self.phase = FRAMES
        self.hooks.init_message(self, raw, start, packet)
        return True

    # -- frames --------------------------------------------------------------------------

    # RFC 8548 §4.2: control (1) ‖ clen (2) ‖ ciphertext (clen, the 16-byte tag included).
    def _parse_frame(self, packet: int) -> bool:
        buf = self.buf
        if len(buf) < FRAME_HEADER_LEN:
            return False
        control = buf[0]
        clen = _clen(buf, 0)
        text = bool(control & CONTROL_CRES) and looks_like_text(buf)
        if text or clen < TAG_LEN:
            if text:
                self.plaintext_finding(packet)
            else:
                self.sink.add(
                    "tcpcrypt.malformed_frame",
                    f"{self.name} frame at offset {self.base} has clen {clen}, below the tag",
                    packet=packet,
                )
            if self.resync_from is None:
                self.resync_from = self.base
            self.phase = RESYNC
            del buf[:1]
            self.base += 1
            return True
        size = FRAME_HEADER_LEN + clen
        if len(buf) < size:
            return False
        frame = bytes(buf[:size])
        del buf[:size]
        offset = self.base
        self.base += size
        self.frames += 1
        if control & CONTROL_REKEY:
            # RFC 8548 §3.8: the first frame under the next key generation.
            self.generation += 1
        self.recent.append((offset, offset + size))
        self.hooks.frame(self, offset, frame, packet)
        self.lookahead = 0
        return True

    def plaintext_finding(self, packet: int) -> None:
        preview = bytes(self.buf[:16]).decode("ascii", "replace")
        self.sink.add(
            "tcpcrypt.plaintext_after_enable",
            f"{self.name} stream at offset {self.base}: {preview!r}",
            packet=packet,
            direction=self.direction,
        )

    def resync(self, packet: int, *, final: bool) -> bool:
        """Search the buffer for a frame boundary; True when one was found."""
        buf = self.buf
        n = len(buf)
        for p in range(max(n - FRAME_HEADER_LEN + 1, 0)):
            if buf[p] > CONTROL_REKEY or _clen(buf, p) < TAG_LEN:
                continue
            verdict = self._confirm(p, final)
            if verdict is None:
                # Not enough bytes to decide at p yet: keep everything from p on.
                del buf[:p]
                self.base += p
                return False
            if verdict:
                start = self.resync_from or 0
                self.sink.add(
                    "tcpcrypt.resync",
                    f"{self.name} frames resume at offset {self.base + p}, "
                    f"{self.base + p - start} bytes after offset {start}",
                    packet=packet,
                    direction=self.direction,
                )
                del buf[:p]
                self.base += p
                self.resync_from = None
                self.phase = FRAMES
                return True
        keep = min(n, FRAME_HEADER_LEN - 1)
        del buf[: n - keep]
        self.base += n - keep
        return False

    def _confirm(self, p: int, final: bool) -> bool | None:
        """Whether a frame starts at buf[p]: True, False, or None (wait for more bytes)."""
        buf = self.buf
        dec = self.decryptor
        if dec is not None and dec.determined:
            size = FRAME_HEADER_LEN + _clen(buf, p)
            if len(buf) < p + size:
                return False if final else None
            frame = bytes(buf[p : p + size])
            return (
                dec.open(self.base + p, self.generation, frame, lookahead=GAP_LOOKAHEAD) is not None
            )
        q = p
        for _ in range(RESYNC_CHAIN):
            if q == len(buf) and final and q > p:
                return True  # the chain ends exactly where the stream does
            if q + FRAME_HEADER_LEN > len(buf):
                return False if final else None
            if buf[q] > CONTROL_REKEY or _clen(buf, q) < TAG_LEN:
                return False
            q += FRAME_HEADER_LEN + _clen(buf, q)
        return True

    def finish(self) -> None:
        """The stream ended: search once more, and report what was left undelimited."""
        if self.phase == RESYNC:
            start = self.resync_from
            if not self.resync(0, final=True):
                self.sink.add(
                    "tcpcrypt.resync", f"{self.name}: no frame boundary found after offset {start}"
                )
            self.parse(0)
        if self.buf and self.phase == INIT:
            name = "init1" if self.a_side else "init2"
            self.sink.add(
                f"tcpcrypt.{name}.truncated",
                f"{self.name} stream ends after {len(self.buf)} bytes of the message",
            )
            self.hooks.init_failed(self)
        elif self.buf and self.phase == FRAMES:
            self.sink.add(
                "tcpcrypt.frame.truncated",
                f"{self.name} stream ends {len(self.buf)} bytes into the frame at offset "
                f"{self.base}",
            )
