"""tcpcrypt encryption frames on one connection: sealing, opening, key generations.

:class:`FrameWriter` turns application data into frames (RFC 8548 §3.6, §4.2): chunks small
enough that clen < 2^16, FINp on the last frame only (§3.7), URGp with the urgent field,
the rekey bit on the first frame of a new local generation (§3.8). :class:`FrameReader`
parses frames from the reassembled stream in order, counts remote generations by the rekey
bits, and reports a frame that fails as :class:`~.tcpcrypt_kex.TcpcryptAbort`.

Offsets (the frame ID): each side starts at the stream offset of its first frame, which the
session gives: in the rfc dialect the byte offset from the first data byte (ISN+1), so the
Init messages count (DIGEST.md §2.12, trap T12); in the legacy dialect from after
Init1 / Init2, and from the first byte on a resumed session (LEGACY.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..crypto.aead import FrameCipher
from ..crypto.schedule import Direction, SessionKeys
from ..errors import DecodeError, DecryptionError, LocalProtocolError
from ..wire.constants import CLEN_MAX, CONTROL_REKEY, FRAME_HEADER_LEN, TAG_LEN, Dialect
from ..wire.tcpcrypt import decode_frame_plaintext, encode_frame_plaintext, frame_length
from .tcpcrypt_kex import TcpcryptAbort

__all__ = [
    "MAX_CHUNK",
    "FrameReader",
    "FrameWriter",
    "ReceivedFrame",
]

# RFC 8548 §3.6: clen = len(plaintext) + 16-byte tag must stay below 2^16, and the plaintext
# holds a flags byte before the data (DIGEST.md §2.7): at most 65518 data bytes per frame.
_FLAGS_LEN: Final = 1
_URGENT_LEN: Final = 2
MAX_CHUNK: Final = CLEN_MAX - TAG_LEN - _FLAGS_LEN
_URGENT_MAX: Final = 0xFFFF

TAG_FAILURE = "tcpcrypt.tag_failure"
MALFORMED_FRAME = "tcpcrypt.malformed_frame"
DATA_AFTER_FINP = "tcpcrypt.data_after_finp"


class FrameWriter:
    """Seals our frames: one direction, the local generation, the running stream offset."""

    def __init__(
        self, keys: SessionKeys, direction: Direction, offset: int, *, chunk: int = MAX_CHUNK
    ) -> None:
        if not 1 <= chunk <= MAX_CHUNK:
            raise LocalProtocolError(f"frame chunk {chunk} outside 1..{MAX_CHUNK}")
        self._keys = keys
        self._direction: Direction = direction
        self._cipher = keys.cipher(direction)
        self._dialect: Dialect = keys.dialect
        self.offset = offset
        self.chunk = chunk
        self.generation = 0
        self.rekey_pending = False
        self.app_offset = 0  # application bytes sealed so far (for URGp)

    def _next_generation(self) -> None:
        # RFC 8548 §3.8: the new key set; §3.3: mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN).
        # The old keys go (retransmissions resend bytes TCP keeps, never re-encrypt).
        self._keys = self._keys.next_generation()
        self._cipher = self._keys.cipher(self._direction)
        self.generation += 1

    def catch_up(self, generation: int) -> None:
        """Advance to ``generation`` without sending (RFC 8548 §3.8, after our FIN)."""
        while self.generation < generation:
            self._next_generation()
        self.rekey_pending = False

    def _frame(self, data: bytes, *, fin: bool, urgent: int | None) -> tuple[bytes, bool]:
        control = 0
        rekeyed = self.rekey_pending
        if rekeyed:
            # RFC 8548 §3.8: rekey = 1 on the first frame under the new key set only.
            self._next_generation()
            control = CONTROL_REKEY
            self.rekey_pending = False
        plaintext = encode_frame_plaintext(data, fin=fin, urgent=urgent, dialect=self._dialect)
        frame = self._cipher.seal(self.offset, plaintext, control)
        self.offset += len(frame)
        self.app_offset += len(data)
        return frame, rekeyed

    def seal(
        self, data: bytes, *, fin: bool = False, urgent_end: int | None = None
    ) -> tuple[list[bytes], bool]:
        """Frames carrying ``data`` (at least one frame, possibly empty); FINp on the last
        when ``fin``. ``urgent_end`` is the application-stream index just past the urgent
        data (frames before it get URGp). Returns the frames and whether one was a rekey."""
        frames: list[bytes] = []
        rekeyed = False
        pos = 0
        while True:
            urgent: int | None = None
            size = self.chunk
            if urgent_end is not None and urgent_end > self.app_offset:
                # RFC 8548 §3.7: urgent = offset from this frame's data start to the last
                # urgent byte (DIGEST.md §2.8), capped at what two bytes hold.
                urgent = min(urgent_end - 1 - self.app_offset, _URGENT_MAX)
                size = min(size, MAX_CHUNK - _URGENT_LEN)
            piece = data[pos : pos + size]
            pos += len(piece)
            last = pos >= len(data)
            frame, rekey = self._frame(piece, fin=fin and last, urgent=urgent)
            frames.append(frame)
            rekeyed = rekeyed or rekey
            if last:
                return frames, rekeyed


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """What one authenticated frame carried. ``urgent_end`` is the application-stream index
    just past the last urgent byte when URGp was set; ``rekey`` its rekey bit."""

    data: bytes
    fin: bool
    rekey: bool
    urgent_end: int | None


class FrameReader:
    """Opens the peer's frames in stream order and tracks the remote generation."""

    def __init__(self, keys: SessionKeys, direction: Direction, offset: int) -> None:
        self._keys = keys
        self._direction: Direction = direction
        self._cipher: FrameCipher = keys.cipher(direction)
        self._dialect: Dialect = keys.dialect
        self.offset = offset
        self.generation = 0
        self.app_offset = 0
        self.fin = False

    def next_frame(self, buf: bytearray) -> ReceivedFrame | None:
        """Take one whole frame from the start of ``buf`` (removing it); None when the frame
        is not all there yet. Raises TcpcryptAbort for a frame that must end the connection."""
        length = frame_length(bytes(buf[:FRAME_HEADER_LEN]))
        if length is None or len(buf) < length:
            return None
        if self.fin:
            # RFC 8548 §3.7: FINp is on the sender's last frame and no other.
            raise TcpcryptAbort(DATA_AFTER_FINP, "a frame after the FINp frame")
        frame = bytes(buf[:length])
        if length - FRAME_HEADER_LEN < TAG_LEN:
            raise TcpcryptAbort(MALFORMED_FRAME, f"clen {length - FRAME_HEADER_LEN} < tag")
        rekey = bool(frame[0] & CONTROL_REKEY)
        if rekey:
            # RFC 8548 §3.8: a rekey bit moves the remote generation on by one; this frame
            # is the first under the new key set.
            self._keys = self._keys.next_generation()
            self._cipher = self._keys.cipher(self._direction)
            self.generation += 1
        try:
            # RFC 8548 §3.6: on FAIL, abort with an error distinct from end-of-file.
            plaintext = self._cipher.open(self.offset, frame)
        except DecryptionError as exc:
            raise TcpcryptAbort(TAG_FAILURE, str(exc)) from None
        try:
            # RFC 8548 §4.2.1: flags ‖ [urgent] ‖ data.
            body = decode_frame_plaintext(plaintext, dialect=self._dialect)
        except DecodeError as exc:
            raise TcpcryptAbort(MALFORMED_FRAME, str(exc)) from None
        del buf[:length]
        self.offset += length
        urgent_end = None
        if body.urgent is not None:
            # RFC 8548 §3.7: frame's data start + urgent = index of the last urgent byte.
            urgent_end = self.app_offset + body.urgent + 1
        self.app_offset += len(body.data)
        self.fin = body.fin
        return ReceivedFrame(body.data, body.fin, rekey, urgent_end)
