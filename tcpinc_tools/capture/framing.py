"""pcap and pcapng file framing: records out of a byte stream, with exact error offsets.

Our own framing rather than dpkt's readers: dpkt's pcap reader yields a cut-short last record
as if it were whole and cannot say at which byte a file went wrong, and its pcapng reader
takes the link type and timestamp resolution of the first interface for every packet.
The loop reads the file in large chunks and slices records out of them, so it also works on
pipes (``tcpdump -w -``) and never holds more than one chunk plus one record.

Everything here yields ``(ts, linktype, frame, wire_len)`` tuples, or raises
:class:`~tcpinc_tools.errors.CaptureError` naming the file and the byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal

from ..errors import CaptureError
from ..records import picklable
from ..wire.constants import (
    PCAP_FILE_HEADER_LEN,
    PCAP_MAGIC_NSEC,
    PCAP_MAGIC_USEC,
    PCAP_RECORD_HEADER_LEN,
    PCAP_VERSION,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_DEFAULT_TSRESOL,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_OPT_ENDOFOPT,
    PCAPNG_OPT_IF_TSOFFSET,
    PCAPNG_OPT_IF_TSRESOL,
    PCAPNG_PB,
    PCAPNG_SHB,
    PCAPNG_SPB,
    PCAPNG_TSRESOL_POW2,
    PCAPNG_VERSION,
)

__all__ = ["MAX_FRAME_LEN", "Record", "open_records"]

# One record: timestamp (s since the epoch), link type, captured bytes, original length.
Record = tuple[float, int, bytes, int]

# Read size. Large enough that the per-call cost of read() vanishes, small enough to stay
# out of the way of memory accounting on a long capture.
READ_CHUNK: Final = 1 << 20
# The longest frame we accept. Real links, GRO and BIG TCP stay far below (tcpdump's default
# snap length is 256 KiB); anything longer is a corrupt length field, and refusing it keeps
# a flipped bit from making us allocate gigabytes.
MAX_FRAME_LEN: Final = 16 << 20
# The longest pcapng block: a maximal frame plus room for its options.
MAX_BLOCK_LEN: Final = MAX_FRAME_LEN + (64 << 10)

_PCAP_LINKTYPE_MASK: Final = 0xFFFF  # pcap §4: the upper bits carry FCS information
_PCAPNG_SHB_MIN: Final = 28  # type, length, BOM, major, minor, section length, trailer
_PCAPNG_BLOCK_MIN: Final = 12  # type, length, trailing length
_PCAPNG_SHB_BYTES: Final = PCAPNG_SHB.to_bytes(4, "big")
_BYTE_ORDERS: Final[dict[str, Literal["little", "big"]]] = {"<": "little", ">": "big"}


@dataclass(slots=True)
class _Interface:
    """One pcapng interface: its link type and how to turn its timestamps into seconds."""

    linktype: int
    snaplen: int
    units: int  # timestamp units per second (if_tsresol)
    tsoffset: int  # seconds added to every timestamp (if_tsoffset)


class _Source:
    """A chunked view of a binary stream with the file offset of every byte."""

    __slots__ = ("base", "buf", "name", "pos", "read")

    def __init__(self, stream: BinaryIO, name: str) -> None:
        # read1 returns what a pipe has without waiting for a whole chunk.
        self.read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        self.name = name
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]

    def offset(self) -> int:
        return self.base + self.pos

    def fill(self, n: int) -> int:
        """Make ``n`` bytes available at ``pos``; return how many are (fewer only at EOF)."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return avail
        parts = [self.buf[self.pos :]]
        self.base += self.pos
        self.pos = 0
        while avail < n:
            try:
                chunk = self.read(max(n - avail, READ_CHUNK))
            except OSError as exc:
                raise CaptureError(
                    f"{self.name}: read error at byte {self.base + avail}: {exc.strerror or exc}",
                    offset=self.base + avail,
                ) from None
            if not chunk:
                break
            parts.append(chunk)
            avail += len(chunk)
        self.buf = b"".join(parts)
        return avail

    def error(self, offset: int, what: str) -> CaptureError:
        return CaptureError(f"{self.name}: {what} at byte {offset}", offset=offset)


def open_records(stream: BinaryIO, name: str) -> tuple[str, Iterator[Record], Callable[[], int]]:
    """Detect the format from the magic number; return it ("pcap" or "pcapng"), the records
    and a function giving the file offset reached (for progress reports).

    Raises :class:`CaptureError` at once for an empty file or an unknown magic number; the
    records iterator raises it for anything found later.
    """
    src = _Source(stream, name)
    avail = src.fill(4)
    if avail == 0:
        raise src.error(0, "empty file, not a pcap or pcapng capture")
    if avail < 4:
        raise src.error(0, "not a pcap or pcapng file (too short for a magic number)")
    head = src.buf[:4]
    if head == _PCAPNG_SHB_BYTES:
        return "pcapng", _pcapng_records(src), src.offset
    for byteorder in _BYTE_ORDERS:
        magic = int.from_bytes(head, _BYTE_ORDERS[byteorder])
        if magic in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
            records = _pcap_records(src, byteorder, nanosecond=magic == PCAP_MAGIC_NSEC)
            return "pcap", records, src.offset
    raise src.error(0, f"not a pcap or pcapng file (magic number 0x{head.hex()})")


# tcpdump.org pcap-savefile(5) / draft-ietf-opsawg-pcap §4: the 24-byte file header.
def _pcap_records(src: _Source, endian: str, *, nanosecond: bool) -> Iterator[Record]:
    if src.fill(PCAP_FILE_HEADER_LEN) < PCAP_FILE_HEADER_LEN:
        raise src.error(0, "truncated pcap file header")
    major, minor, _zone, _sigfigs, _snaplen, linkfield = struct.unpack_from(
        endian + "HHiIII", src.buf, 4
    )
    if major != PCAP_VERSION[0]:
        raise src.error(4, f"unsupported pcap version {major}.{minor}")
    linktype = linkfield & _PCAP_LINKTYPE_MASK
    src.pos = PCAP_FILE_HEADER_LEN
    divisor = 1_000_000_000 if nanosecond else 1_000_000
    header = struct.Struct(endian + "IIII")
    unpack_from = header.unpack_from
    hlen = PCAP_RECORD_HEADER_LEN
    # draft-ietf-opsawg-pcap §5: each record is a 16-byte header and caplen bytes.
    while True:
        pos = src.pos
        buf = src.buf
        if len(buf) - pos < hlen:
            avail = src.fill(hlen)
            if avail == 0:
                return
            if avail < hlen:
                raise src.error(src.offset(), "truncated packet record header")
            pos = src.pos
            buf = src.buf
        sec, frac, caplen, wire_len = unpack_from(buf, pos)
        if caplen > MAX_FRAME_LEN:
            raise src.error(
                src.offset(), f"corrupt packet record (captured length {caplen} is too large)"
            )
        end = pos + hlen + caplen
        if end > len(buf):
            if src.fill(hlen + caplen) < hlen + caplen:
                raise src.error(src.offset(), "truncated packet record")
            pos = src.pos
            buf = src.buf
            end = pos + hlen + caplen
        src.pos = end
        yield sec + frac / divisor, linktype, buf[pos + hlen : end], wire_len


_PCAPNG_BLOCK_HEAD = {e: struct.Struct(e + "II") for e in "<>"}
_PCAPNG_U32 = {e: struct.Struct(e + "I") for e in "<>"}
_PCAPNG_EPB = {e: struct.Struct(e + "IIIII") for e in "<>"}
_PCAPNG_PB = {e: struct.Struct(e + "HHIIII") for e in "<>"}
_PCAPNG_IDB = {e: struct.Struct(e + "HHI") for e in "<>"}
_PCAPNG_SHB = {e: struct.Struct(e + "HHq") for e in "<>"}
_PCAPNG_OPT = {e: struct.Struct(e + "HH") for e in "<>"}
_PACKET_BLOCKS: Final = frozenset({PCAPNG_EPB, PCAPNG_PB})


class _Block:
    """The pcapng block being read: where it starts in the file and where its body is."""

    __slots__ = ("body", "body_len", "buf", "endian", "src", "start")

    def __init__(self, src: _Source, start: int, endian: str, blen: int) -> None:
        self.src = src
        self.start = start
        self.endian = endian
        self.buf = src.buf
        self.body = src.pos + 8
        self.body_len = blen - _PCAPNG_BLOCK_MIN

    def error(self, what: str) -> CaptureError:
        return self.src.error(self.start, what)


# draft-ietf-opsawg-pcapng §3.1: every block is type (4) ‖ length (4) ‖ body ‖ length (4).
def _pcapng_records(src: _Source) -> Iterator[Record]:
    endian = "<"
    interfaces: list[_Interface] = []
    while True:
        start = src.offset()
        avail = src.fill(_PCAPNG_BLOCK_MIN)
        if avail == 0:
            return
        if avail < _PCAPNG_BLOCK_MIN:
            raise src.error(start, "truncated pcapng block header")
        pos = src.pos
        buf = src.buf
        if buf[pos : pos + 4] == _PCAPNG_SHB_BYTES:
            # §4.1: the byte-order magic after the length fixes the section's byte order.
            bom = buf[pos + 8 : pos + 12]
            if int.from_bytes(bom, "little") == PCAPNG_BYTE_ORDER_MAGIC:
                endian = "<"
            elif int.from_bytes(bom, "big") == PCAPNG_BYTE_ORDER_MAGIC:
                endian = ">"
            else:
                raise src.error(start, "corrupt pcapng section header (bad byte-order magic)")
        btype, blen = _PCAPNG_BLOCK_HEAD[endian].unpack_from(buf, pos)
        if blen < _PCAPNG_BLOCK_MIN or blen % 4 or blen > MAX_BLOCK_LEN:
            raise src.error(start, f"corrupt pcapng block (invalid block length {blen})")
        if avail < blen:
            if src.fill(blen) < blen:
                raise src.error(start, "truncated pcapng block")
            pos = src.pos
            buf = src.buf
        if _PCAPNG_U32[endian].unpack_from(buf, pos + blen - 4)[0] != blen:
            raise src.error(start, "corrupt pcapng block (trailing length does not match)")
        block = _Block(src, start, endian, blen)
        src.pos = pos + blen
        if btype in _PACKET_BLOCKS:
            yield _packet_block(block, btype, interfaces)
        elif btype == PCAPNG_SHB:
            _section_header(block)
            interfaces = []
        elif btype == PCAPNG_IDB:
            interfaces.append(_interface(block))
        elif btype == PCAPNG_SPB:
            yield _simple_packet_block(block, interfaces)
        # Every other block (name resolution, statistics, secrets, custom) carries no frame.


# draft-ietf-opsawg-pcapng §4.1: Section Header Block.
def _section_header(block: _Block) -> None:
    if block.body_len < _PCAPNG_SHB_MIN - _PCAPNG_BLOCK_MIN:
        raise block.error("corrupt pcapng section header (too short)")
    major, minor, _section_len = _PCAPNG_SHB[block.endian].unpack_from(block.buf, block.body + 4)
    if major != PCAPNG_VERSION[0]:
        raise block.error(f"unsupported pcapng version {major}.{minor}")


# draft-ietf-opsawg-pcapng §4.2: Interface Description Block and its if_tsresol/if_tsoffset.
def _interface(block: _Block) -> _Interface:
    if block.body_len < 8:
        raise block.error("corrupt pcapng interface description (too short)")
    buf, endian = block.buf, block.endian
    linktype, _reserved, snaplen = _PCAPNG_IDB[endian].unpack_from(buf, block.body)
    iface = _Interface(linktype, snaplen, 10**PCAPNG_DEFAULT_TSRESOL, 0)
    opt_head = _PCAPNG_OPT[endian]
    p = block.body + 8
    end = block.body + block.body_len
    # §3.5: options are code (2) ‖ length (2) ‖ value padded to 32 bits, ended by opt_endofopt
    # or by the end of the block.
    while p + 4 <= end:
        code, length = opt_head.unpack_from(buf, p)
        value = p + 4
        if code == PCAPNG_OPT_ENDOFOPT:
            break
        if value + length > end:
            raise block.error("corrupt pcapng interface description (option overruns block)")
        if code == PCAPNG_OPT_IF_TSRESOL and length >= 1:
            resol = buf[value]
            if resol & PCAPNG_TSRESOL_POW2:
                iface.units = 1 << (resol & ~PCAPNG_TSRESOL_POW2)
            else:
                iface.units = 10**resol
        elif code == PCAPNG_OPT_IF_TSOFFSET and length >= 8:
            iface.tsoffset = int.from_bytes(
                buf[value : value + 8], _BYTE_ORDERS[endian], signed=True
            )
        p = value + ((length + 3) & ~3)
    return iface


# draft-ietf-opsawg-pcapng §4.3 (Enhanced Packet Block) and Appendix A (obsolete Packet Block).
def _packet_block(block: _Block, btype: int, interfaces: list[_Interface]) -> Record:
    if block.body_len < 20:
        raise block.error("corrupt pcapng packet block (too short)")
    buf, body = block.buf, block.body
    if btype == PCAPNG_EPB:
        index, ts_high, ts_low, caplen, wire_len = _PCAPNG_EPB[block.endian].unpack_from(buf, body)
    else:
        index, _drops, ts_high, ts_low, caplen, wire_len = _PCAPNG_PB[block.endian].unpack_from(
            buf, body
        )
    if index >= len(interfaces):
        raise block.error(f"corrupt pcapng packet block (no interface {index})")
    if 20 + caplen > block.body_len:
        raise block.error("corrupt pcapng packet block (captured length overruns block)")
    iface = interfaces[index]
    units = iface.units
    # §4.3: a 64-bit count of if_tsresol units, plus if_tsoffset seconds.
    sec, frac = divmod((ts_high << 32) | ts_low, units)
    ts = sec + iface.tsoffset + frac / units
    return ts, iface.linktype, buf[body + 20 : body + 20 + caplen], wire_len


# draft-ietf-opsawg-pcapng §4.4: Simple Packet Block (interface 0, no timestamp).
def _simple_packet_block(block: _Block, interfaces: list[_Interface]) -> Record:
    if block.body_len < 4 or not interfaces:
        raise block.error("corrupt pcapng simple packet block")
    wire_len = _PCAPNG_U32[block.endian].unpack_from(block.buf, block.body)[0]
    iface = interfaces[0]
    caplen = min(wire_len, block.body_len - 4)
    if iface.snaplen:
        caplen = min(caplen, iface.snaplen)
    return 0.0, iface.linktype, block.buf[block.body + 4 : block.body + 4 + caplen], wire_len


picklable(_Interface)
