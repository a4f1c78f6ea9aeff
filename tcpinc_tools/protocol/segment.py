"""TCP segments: the header as a frozen dataclass, its codec and its checksum.

:func:`encode_tcp_header` and :func:`decode_tcp_header` are the bytes boundary used by the
pcap writer and the raw-socket endpoint; the state machines only ever see :class:`Segment`.
The decoder is strict: for any input it returns a :class:`Segment` or raises a
:class:`~tcpinc_tools.errors.DecodeError` subclass. It does not check the checksum (it has
no addresses); :func:`verify_tcp_checksum` does that for callers that have them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from ..errors import EncodeError, MalformedError, TruncatedError
from ..wire.buffer import Buffer
from ..wire.constants import TCP_OPTION_SPACE

__all__ = [
    "IPPROTO_TCP",
    "TCP_HEADER_LEN",
    "Segment",
    "TcpFlags",
    "decode_tcp_header",
    "encode_tcp_header",
    "tcp_checksum",
    "verify_tcp_checksum",
]

# RFC 9293 §3.1: the fixed part of the header is 20 bytes (data offset 5).
TCP_HEADER_LEN: Final = 20
# IANA protocol number of TCP, the "PTCL" of the IPv4 pseudo-header and IPv6 next header.
IPPROTO_TCP: Final = 6

# Expert ids for the decoder's errors (the shared finding vocabulary).
TRUNCATED_HEADER = "tcp.header.truncated"
BAD_DATA_OFFSET = "tcp.header.bad_data_offset"


# RFC 9293 §3.1 (Control Bits), with ECE and CWR from RFC 3168 §23.2.
class TcpFlags(IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


_FLAG_LETTERS: Final = (
    (TcpFlags.SYN, "S"),
    (TcpFlags.FIN, "F"),
    (TcpFlags.RST, "R"),
    (TcpFlags.PSH, "P"),
    (TcpFlags.URG, "U"),
    (TcpFlags.ECE, "E"),
    (TcpFlags.CWR, "W"),
    (TcpFlags.ACK, "."),
)


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment as the state machine sees it.

    ``options`` are the raw option bytes exactly as they go in the header (a multiple of 4,
    at most 40); ``seq`` and ``ack`` are 32-bit wire values.
    """

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: TcpFlags
    window: int
    options: bytes
    payload: bytes
    urgent_pointer: int = 0

    @property
    def is_syn(self) -> bool:
        return bool(self.flags & TcpFlags.SYN)

    @property
    def is_ack(self) -> bool:
        return bool(self.flags & TcpFlags.ACK)

    @property
    def is_fin(self) -> bool:
        return bool(self.flags & TcpFlags.FIN)

    @property
    def is_rst(self) -> bool:
        return bool(self.flags & TcpFlags.RST)

    # RFC 9293 §3.3.1: SEG.LEN counts the data and the SYN and FIN controls.
    @property
    def seg_len(self) -> int:
        return len(self.payload) + self.is_syn + self.is_fin

    def describe(self) -> str:
        """A tcpdump-like one-line summary, for logs and test failure messages."""
        letters = "".join(c for f, c in _FLAG_LETTERS if self.flags & f) or "none"
        text = f"{self.src_port}>{self.dst_port} [{letters}] seq {self.seq}"
        if self.is_ack:
            text += f" ack {self.ack}"
        text += f" win {self.window} len {len(self.payload)}"
        if self.options:
            text += f" opts {self.options.hex()}"
        return text


def _pseudo_header(src_ip: bytes, dst_ip: bytes, length: int) -> bytes:
    if len(src_ip) != len(dst_ip) or len(src_ip) not in (4, 16):
        raise EncodeError(
            f"addresses must both be 4 (IPv4) or 16 (IPv6) bytes, got {len(src_ip)} and "
            f"{len(dst_ip)}"
        )
    if len(src_ip) == 4:
        # RFC 9293 §3.1 (Checksum): source, destination, zero, PTCL, TCP length (16 bits).
        if length > 0xFFFF:
            raise EncodeError(f"a {length}-byte TCP segment does not fit in IPv4")
        return src_ip + dst_ip + bytes((0, IPPROTO_TCP)) + length.to_bytes(2, "big")
    # RFC 8200 §8.1: source, destination, upper-layer length (32 bits), 3 zeros, next header.
    if length > 0xFFFFFFFF:
        raise EncodeError(f"a {length}-byte TCP segment does not fit in IPv6")
    return src_ip + dst_ip + length.to_bytes(4, "big") + bytes((0, 0, 0, IPPROTO_TCP))


# RFC 1071 §2: the 16-bit one's complement sum. Since 2**16 = 1 (mod 2**16 - 1), the sum of
# the big-endian 16-bit words is congruent to the whole byte string read as one integer;
# the end-around carry makes a non-zero sum come out as 0xffff rather than 0.
def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        return 0xFFFF
    return total


# RFC 9293 §3.1 (Checksum): the one's complement of the one's complement sum of the
# pseudo-header, the TCP header and the data (padded with a zero byte to an even length).
def tcp_checksum(src_ip: bytes, dst_ip: bytes, segment: bytes) -> int:
    """The checksum of ``segment`` (TCP header + data) between two IPv4 or IPv6 addresses.

    ``segment`` is summed as given: with a zero checksum field this is the value to put in
    the field; with a correct checksum in the field it is 0.
    """
    pseudo = _pseudo_header(bytes(src_ip), bytes(dst_ip), len(segment))
    return ~_ones_complement_sum(pseudo + bytes(segment)) & 0xFFFF


def verify_tcp_checksum(src_ip: bytes, dst_ip: bytes, segment: bytes) -> bool:
    """Whether the checksum field of ``segment`` is right for these addresses."""
    return tcp_checksum(src_ip, dst_ip, segment) == 0


def _field(value: int, bits: int, name: str) -> int:
    if not 0 <= value < 1 << bits:
        raise EncodeError(f"TCP {name} {value} does not fit in {bits} bits")
    return value


# RFC 9293 §3.1 (Header Format).
def encode_tcp_header(seg: Segment, src_ip: bytes, dst_ip: bytes) -> bytes:
    """The TCP header, options and payload of ``seg`` with its checksum filled in."""
    if len(seg.options) % 4 or len(seg.options) > TCP_OPTION_SPACE:
        raise EncodeError(
            f"{len(seg.options)} option bytes: must be a multiple of 4 and at most "
            f"{TCP_OPTION_SPACE}"
        )
    data_offset = (TCP_HEADER_LEN + len(seg.options)) // 4
    header = b"".join(
        (
            _field(seg.src_port, 16, "source port").to_bytes(2, "big"),
            _field(seg.dst_port, 16, "destination port").to_bytes(2, "big"),
            _field(seg.seq, 32, "sequence number").to_bytes(4, "big"),
            _field(seg.ack, 32, "acknowledgment number").to_bytes(4, "big"),
            bytes((data_offset << 4, _field(int(seg.flags), 8, "flags"))),
            _field(seg.window, 16, "window").to_bytes(2, "big"),
            b"\x00\x00",
            _field(seg.urgent_pointer, 16, "urgent pointer").to_bytes(2, "big"),
        )
    )
    unsummed = header + seg.options + seg.payload
    checksum = tcp_checksum(src_ip, dst_ip, unsummed)
    return unsummed[:16] + checksum.to_bytes(2, "big") + unsummed[18:]


# RFC 9293 §3.1 (Header Format): fixed 20 bytes, then (data offset - 5) words of options.
def decode_tcp_header(data: bytes) -> Segment:
    """Decode a TCP segment (header, options, payload). The checksum is not checked.

    The 4 reserved bits between the data offset and the flags are ignored, as RFC 9293
    §3.1 tells receivers to do.
    """
    data = bytes(data)
    buf = Buffer(data)
    try:
        src_port = buf.pull_uint16("src_port")
        dst_port = buf.pull_uint16("dst_port")
        seq = buf.pull_uint32("seq")
        ack = buf.pull_uint32("ack")
        offset_byte = buf.pull_uint8("data_offset")
        flags = TcpFlags(buf.pull_uint8("flags"))
        window = buf.pull_uint16("window")
        buf.pull_uint16("checksum")
        urgent_pointer = buf.pull_uint16("urgent_pointer")
    except TruncatedError as exc:
        raise TruncatedError(
            f"TCP header truncated: {exc.message}",
            offset=exc.offset,
            field=exc.field,
            expert_id=TRUNCATED_HEADER,
        ) from None
    header_len = (offset_byte >> 4) * 4
    if header_len < TCP_HEADER_LEN:
        raise MalformedError(
            f"data offset {header_len // 4} is below the minimum of 5",
            offset=12,
            field="data_offset",
            expert_id=BAD_DATA_OFFSET,
        )
    if header_len > len(data):
        raise TruncatedError(
            f"data offset {header_len // 4} points past the end of a {len(data)}-byte segment",
            offset=12,
            field="data_offset",
            expert_id=BAD_DATA_OFFSET,
        )
    return Segment(
        src_port=src_port,
        dst_port=dst_port,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        options=data[TCP_HEADER_LEN:header_len],
        payload=data[header_len:],
        urgent_pointer=urgent_pointer,
    )
