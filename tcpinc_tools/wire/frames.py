"""tcpcrypt encryption frames and their plaintext (RFC 8548 §3.6, §4.2).

A frame is ``control (1) ‖ clen (2, BE) ‖ ciphertext (clen bytes, AEAD tag included)`` in
both dialects. The plaintext inside is ``flags (1) ‖ urgent (2, only when URGp) ‖ data``
(RFC) or ``flags (1) ‖ data`` (legacy, shared/spec/LEGACY.md).

Reserved bits (``cres`` in the control byte, ``fres`` in the flags) are kept in place and
reported: ``Frame.reserved == control & 0xFE`` and ``FramePlaintext.reserved_flags ==
flags & 0xFC``. The public names are re-exported by :mod:`tcpinc_tools.wire.tcpcrypt`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import DecodeError, EncodeError, TruncatedError
from ..records import picklable
from .buffer import Buffer, BytesLike
from .constants import (
    CLEN_MAX,
    CONTROL_CRES,
    CONTROL_REKEY,
    DIALECTS,
    FLAG_FINP,
    FLAG_FRES,
    FLAG_URGP,
    FRAME_HEADER_LEN,
    Dialect,
)

__all__ = [
    "Frame",
    "FramePlaintext",
    "decode_frame",
    "decode_frame_plaintext",
    "encode_frame",
    "encode_frame_plaintext",
    "frame_header",
    "frame_length",
    "pull_frame",
]

_T = TypeVar("_T")


def _check_dialect(dialect: str) -> None:
    """A caller's mistake, not the peer's: an unknown dialect name is a ValueError."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")


def _atomic_pull(buf: Buffer, truncated_id: str, pull: Callable[[], _T]) -> _T:
    """Run ``pull``; on a DecodeError put ``buf`` back where it was and re-raise.

    A stream parser can then wait for more bytes and retry. Truncations get the expert id
    of the structure being read (``tcpcrypt.frame.truncated``…) instead of the generic one.
    """
    start = buf.tell()
    try:
        return pull()
    except TruncatedError as exc:
        buf.seek(start)
        raise TruncatedError(
            exc.message, offset=exc.offset, field=exc.field, expert_id=truncated_id
        ) from None
    except DecodeError:
        buf.seek(start)
        raise


@dataclass(frozen=True, slots=True, init=False)
class Frame:
    """One encryption frame as on the wire; ``clen`` is ``len(ciphertext)``."""

    control: int
    ciphertext: bytes

    def __init__(self, control: int, ciphertext: bytes) -> None:  # by hand: see records.py
        object.__setattr__(self, "control", control)
        object.__setattr__(self, "ciphertext", ciphertext)

    @property
    def rekey(self) -> bool:
        """Bit 0 of control: the first frame under a new key generation (RFC 8548 §3.8)."""
        return bool(self.control & CONTROL_REKEY)

    @property
    def reserved(self) -> int:
        """Control bits 1-7 (cres), in place: ``control & 0xFE``."""
        return self.control & CONTROL_CRES

    @property
    def clen(self) -> int:
        return len(self.ciphertext)

    @property
    def size(self) -> int:
        """Bytes the frame takes in the stream: 3 + clen."""
        return FRAME_HEADER_LEN + self.clen

    @property
    def header(self) -> bytes:
        """control ‖ clen: the AEAD associated data (RFC 8548 §4.2.2)."""
        return frame_header(self.control, self.clen)


@dataclass(frozen=True, slots=True, init=False)
class FramePlaintext:
    """The AEAD plaintext of a frame. ``urgent`` is None when no urgent field is present."""

    flags: int
    urgent: int | None
    data: bytes

    def __init__(
        self, flags: int, urgent: int | None, data: bytes
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "urgent", urgent)
        object.__setattr__(self, "data", data)

    @property
    def fin(self) -> bool:
        """FINp: the sender's last frame (RFC 8548 §3.7)."""
        return bool(self.flags & FLAG_FINP)

    @property
    def urg(self) -> bool:
        """URGp: in the RFC dialect, the urgent field is present."""
        return bool(self.flags & FLAG_URGP)

    @property
    def reserved_flags(self) -> int:
        """Flag bits 2-7 (fres), in place: ``flags & 0xFC``."""
        return self.flags & FLAG_FRES


# RFC 8548 §4.2: control (1) ‖ clen (2, BE); clen counts the ciphertext with its tag.
def frame_length(data: bytes) -> int | None:
    """Bytes of the frame starting at ``data[0]`` (3 + clen), or None before 3 bytes."""
    if len(data) < FRAME_HEADER_LEN:
        return None
    return FRAME_HEADER_LEN + int.from_bytes(data[1:FRAME_HEADER_LEN], "big")


# RFC 8548 §4.2.2: the associated data is control ‖ clen, the frame's own header bytes.
def frame_header(control: int, clen: int) -> bytes:
    """The 3 header bytes of a frame, which are also its AEAD associated data."""
    if not 0 <= control <= 0xFF:
        raise EncodeError(f"control {control} does not fit in one byte")
    if not 0 <= clen <= CLEN_MAX:
        raise EncodeError(f"clen {clen} is not below 2^16 (RFC 8548 §3.6)")
    return bytes((control,)) + clen.to_bytes(2, "big")


# RFC 8548 §4.2: control (1) ‖ clen (2, BE) ‖ ciphertext (clen).
def _pull_frame(buf: Buffer) -> Frame:
    control = buf.pull_uint8("control")
    clen = buf.pull_uint16("clen")
    return Frame(control, buf.pull_bytes(clen, "ciphertext"))


def pull_frame(buf: Buffer) -> Frame:
    """Read one frame at the buffer's position; on failure the position is unchanged."""
    return _atomic_pull(buf, "tcpcrypt.frame.truncated", lambda: _pull_frame(buf))


def decode_frame(data: BytesLike) -> Frame:
    """Decode the frame at the start of ``data``; bytes after it are not read."""
    return pull_frame(Buffer(data))


def encode_frame(ciphertext: bytes, *, rekey: bool = False, reserved: int = 0) -> bytes:
    """control ‖ clen ‖ ciphertext. ``reserved`` holds cres in place (bits 1-7, bit 0 clear)."""
    if reserved & ~CONTROL_CRES:
        raise EncodeError(f"reserved {reserved:#x} is outside control bits 1-7 (mask 0xfe)")
    control = reserved | (CONTROL_REKEY if rekey else 0)
    return frame_header(control, len(ciphertext)) + bytes(ciphertext)


# RFC 8548 §4.2.1: flags (1) ‖ urgent (2, BE, only when URGp) ‖ data.
# LEGACY.md: flags (1) ‖ data, never an urgent field.
def _pull_frame_plaintext(buf: Buffer, dialect: Dialect) -> FramePlaintext:
    flags = buf.pull_uint8("flags")
    urgent = buf.pull_uint16("urgent") if dialect == "rfc" and flags & FLAG_URGP else None
    return FramePlaintext(flags, urgent, buf.pull_rest())


def decode_frame_plaintext(data: BytesLike, *, dialect: Dialect = "rfc") -> FramePlaintext:
    """Decode a decrypted frame body; the data runs to the end of ``data``."""
    _check_dialect(dialect)
    buf = Buffer(data)
    return _atomic_pull(
        buf, "tcpcrypt.plaintext.truncated", lambda: _pull_frame_plaintext(buf, dialect)
    )


def encode_frame_plaintext(
    data: bytes, *, fin: bool = False, urgent: int | None = None, dialect: Dialect = "rfc"
) -> bytes:
    """flags ‖ [urgent] ‖ data; URGp is set exactly when ``urgent`` is given (RFC only)."""
    _check_dialect(dialect)
    flags = FLAG_FINP if fin else 0
    if urgent is None:
        return bytes((flags,)) + bytes(data)
    if dialect == "legacy":
        raise EncodeError("the legacy plaintext has no urgent field")
    if not 0 <= urgent <= 0xFFFF:
        raise EncodeError(f"urgent {urgent} does not fit in two bytes")
    return bytes((flags | FLAG_URGP,)) + urgent.to_bytes(2, "big") + bytes(data)


picklable(Frame, FramePlaintext)
