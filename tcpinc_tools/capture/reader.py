"""Streaming reader of pcap and pcapng captures: TCP segments out, everything else counted.

>>> for pkt in read_packets("capture.pcapng"):          # doctest: +SKIP
...     print(pkt.number, pkt.src, pkt.sport, "->", pkt.dst, pkt.dport, len(pkt.payload))

Formats: pcap with microsecond or nanosecond timestamps in either byte order; pcapng with
any number of sections and interfaces, each with its own link type, ``if_tsresol`` and
``if_tsoffset``. Link types: Ethernet (with stacked 802.1Q / 802.1ad tags), Linux cooked v1
and v2, raw IP (101, and 12 / 14 as BSDs wrote it), IPv4 (228), IPv6 (229), BSD null and
OpenBSD loop. A file that cannot be read on raises :class:`CaptureError` after every packet
before the problem has been yielded; nothing else escapes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import BinaryIO

from ..errors import CaptureError
from .framing import Record, open_records
from .packet import CaptureStats, FrameDecoder, TcpPacket, frame_share

__all__ = [
    "CaptureReader",
    "CaptureSource",
    "CaptureStats",
    "Sighting",
    "TcpPacket",
    "capture_name",
    "read_packets",
]

CaptureSource = str | os.PathLike[str] | BinaryIO
# A TCP segment of a capture read in shares: (frame number, timestamp, the packet when it is
# of the share read, else None).
Sighting = tuple[int, float, TcpPacket | None]


def capture_name(source: CaptureSource) -> str:
    """How error messages name a capture: the path as given, or the file object's name."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<capture>"


def _open(path: str | os.PathLike[str], name: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CaptureError(open_error(name, exc)) from None


def open_error(name: str, exc: OSError) -> str:
    """The one line that says why the capture ``name`` could not be opened."""
    if isinstance(exc, FileNotFoundError):
        return f"{name}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{name}: is a directory, not a capture file"
    if isinstance(exc, PermissionError):
        return f"{name}: permission denied"
    return f"{name}: cannot open: {exc.strerror or exc}"


class CaptureReader:
    """One pass over a capture, with counters in :attr:`stats`.

    ``source`` is a path or a binary file object (which the reader reads but does not
    close). Iterate once (or call :meth:`split` once); ``stats`` keeps counting across the
    pass and stays readable afterwards, also after a :class:`CaptureError`.
    ``start_number`` is the number the first frame gets (for a capture read in pieces);
    ``name`` how error messages name the capture (default: :func:`capture_name`).
    """

    def __init__(
        self, source: CaptureSource, *, start_number: int = 1, name: str | None = None
    ) -> None:
        self.source = source
        self.name = name if name is not None else capture_name(source)
        self.start_number = start_number
        self.stats = CaptureStats()
        self.format: str | None = None  # "pcap" or "pcapng" once the header has been read
        self._decoder = FrameDecoder(self.stats)
        self._stream: BinaryIO | None = None
        self._position: Callable[[], int] | None = None

    @property
    def position(self) -> int:
        """Bytes of the file consumed so far (for a progress bar); 0 before the first read."""
        return self._position() if self._position is not None else 0

    def __iter__(self) -> Iterator[TcpPacket]:
        return self._packets()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file if the reader opened it (a caller's file object stays open)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def split(self, share: int, shares: int) -> Iterator[Sighting]:
        """Every TCP segment of the capture, in file order, as ``(number, ts, packet)``;
        ``packet`` is built only for the segments of connections in ``share`` (of
        ``shares``: :func:`~.packet.frame_share` of the raw addresses and ports) and is None
        for the others. ``stats`` counts every frame, as a plain iteration does."""
        if not 0 <= share < shares:
            raise ValueError(f"share {share} is not one of {shares}")
        decoder = self._decoder
        locate, packet = decoder.locate, decoder.packet
        number = self.start_number
        try:
            for ts, linktype, frame, wire_len in self._records():
                where = locate(frame, linktype)
                if where is not None:
                    if frame_share(frame, where, shares) == share:
                        pkt = packet(frame, where, number, ts, linktype=linktype, wire_len=wire_len)
                        yield number, ts, pkt
                    else:
                        yield number, ts, None
                number += 1
        finally:
            self.close()

    def _packets(self) -> Iterator[TcpPacket]:
        decode = self._decoder.decode
        number = self.start_number
        try:
            for ts, linktype, frame, wire_len in self._records():
                pkt = decode(frame, linktype, number, ts, wire_len)
                number += 1
                if pkt is not None:
                    yield pkt
        finally:
            self.close()

    def _records(self) -> Iterator[Record]:
        """Open the capture (a path: the reader closes it) and read its header."""
        source = self.source
        if isinstance(source, str | os.PathLike):
            stream = self._stream = _open(source, self.name)
        else:
            stream = source
        self.format, records, self._position = open_records(stream, self.name)
        return records


def read_packets(source: CaptureSource, *, start_number: int = 1) -> Iterator[TcpPacket]:
    """The TCP segments of a capture, in file order; see :class:`CaptureReader`."""
    return iter(CaptureReader(source, start_number=start_number))
