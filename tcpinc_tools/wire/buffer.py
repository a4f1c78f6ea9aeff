"""A byte buffer with paired pull/push codecs (aioquic style).

``Buffer(data)`` reads; ``Buffer()`` writes (pushes append at the end). A pull that fails
raises :class:`TruncatedError` and leaves the position where it was, so the caller can
report the offset of the field that did not fit. A push of a value that does not fit its
width raises :class:`EncodeError`.
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError, TruncatedError

__all__ = ["Buffer", "BytesLike"]

# What the public decoders take: bytes, or a bytearray or memoryview of them (copied to
# bytes on entry, so compiled code sees one type).
BytesLike = bytes | bytearray | memoryview


class Buffer:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: BytesLike = b"") -> None:
        self._data = bytearray(data)
        self._pos = 0

    # -- position ---------------------------------------------------------------------
    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int) -> None:
        if not 0 <= pos <= len(self._data):
            raise DecodeError(f"seek to {pos} outside 0..{len(self._data)}", offset=pos)
        self._pos = pos

    def __len__(self) -> int:
        return len(self._data)

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def eof(self) -> bool:
        return self._pos >= len(self._data)

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    # -- pull -------------------------------------------------------------------------
    def pull_bytes(self, n: int, field: str | None = None) -> bytes:
        if n < 0:
            raise DecodeError(f"negative length {n}", offset=self._pos, field=field)
        end = self._pos + n
        if end > len(self._data):
            raise TruncatedError(
                f"need {n} bytes, {len(self._data) - self._pos} left",
                offset=self._pos,
                field=field,
            )
        out = bytes(self._data[self._pos : end])
        self._pos = end
        return out

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining)

    def pull_uint8(self, field: str | None = None) -> int:
        return self.pull_bytes(1, field)[0]

    def pull_uint16(self, field: str | None = None) -> int:
        return int.from_bytes(self.pull_bytes(2, field), "big")

    def pull_uint32(self, field: str | None = None) -> int:
        return int.from_bytes(self.pull_bytes(4, field), "big")

    def pull_uint64(self, field: str | None = None) -> int:
        return int.from_bytes(self.pull_bytes(8, field), "big")

    # -- push -------------------------------------------------------------------------
    def push_bytes(self, b: bytes) -> None:
        self._data += b
        self._pos = len(self._data)

    def _push_uint(self, v: int, width: int) -> None:
        if not 0 <= v < 1 << (8 * width):
            raise EncodeError(f"{v} does not fit in {width} byte(s)")
        self.push_bytes(v.to_bytes(width, "big"))

    def push_uint8(self, v: int) -> None:
        self._push_uint(v, 1)

    def push_uint16(self, v: int) -> None:
        self._push_uint(v, 2)

    def push_uint32(self, v: int) -> None:
        self._push_uint(v, 4)

    def push_uint64(self, v: int) -> None:
        self._push_uint(v, 8)
