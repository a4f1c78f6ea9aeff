"""Capture bytes built by hand, independently of tcpinc_tools.capture.

Every layout here is written out from its specification with struct (pcap-savefile(5),
draft-ietf-opsawg-pcapng, IEEE 802.3 / 802.1Q, tcpdump.org LINKTYPE_* pages, RFC 791,
RFC 8200, RFC 9293) and the RFC 1071 checksum is the textbook word-by-word loop, so the
reader and writer under test are checked against something they did not produce.
"""

from __future__ import annotations

import ipaddress
import struct
from fractions import Fraction


def ones_sum_checksum(data: bytes) -> int:
    """RFC 1071 §4.1, the reference C loop transcribed: add 16-bit words, fold carries."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int = 0,
    flags: int = 0x10,
    payload: bytes = b"",
    options: bytes = b"",
    window: int = 65535,
    urgent: int = 0,
) -> bytes:
    """RFC 9293 §3.1 header with the checksum over the RFC 9293 / RFC 8200 pseudo-header."""
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, urgent
    )
    segment = header + options + payload
    s, d = packed(src), packed(dst)
    if len(s) == 4:
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = s + d + struct.pack("!IxxxB", len(segment), 6)
    csum = ones_sum_checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    *,
    proto: int = 6,
    options: bytes = b"",
    frag: int = 0x4000,
    ident: int = 0x1234,
    ttl: int = 64,
    total: int | None = None,
) -> bytes:
    """RFC 791 §3.1 header (IHL from the options), checksum by the loop above."""
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    length = ihl * 4 + len(payload) if total is None else total
    header = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl,
            0,
            length,
            ident,
            frag,
            ttl,
            proto,
            0,
            packed(src),
            packed(dst),
        )
        + options
    )
    csum = ones_sum_checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def ipv6(
    src: str, dst: str, payload: bytes, *, next_header: int = 6, plen: int | None = None
) -> bytes:
    """RFC 8200 §3 header."""
    length = len(payload) if plen is None else plen
    return (
        struct.pack("!IHBB", 6 << 28, length, next_header, 64) + packed(src) + packed(dst) + payload
    )


def ext_header(next_header: int, body_units: int = 0) -> bytes:
    """RFC 8200 §4.3 / §4.4 / §4.6 generic extension header: 8 + 8*units bytes of padding."""
    return (
        bytes((next_header, body_units)) + b"\x01\x04\x00\x00\x00\x00" + b"\x00" * (8 * body_units)
    )


MAC_A = bytes.fromhex("00163e000001")
MAC_B = bytes.fromhex("00163e000002")


def ethernet(payload: bytes, ethertype: int, *, vlans: tuple[int, ...] = ()) -> bytes:
    """IEEE 802.3 header; each of ``vlans`` is a tag's TPID (0x8100, 0x88a8), outermost first.

    IEEE 802.1Q §9.6: a tag is TPID (in the type field's place) ‖ TCI, then the next type.
    """
    types = [*vlans, ethertype]
    out = MAC_B + MAC_A + struct.pack("!H", types[0])
    for i, next_type in enumerate(types[1:]):
        out += struct.pack("!HH", 100 + i, next_type)
    return out + payload


def sll(payload: bytes, protocol: int) -> bytes:
    """LINKTYPE_LINUX_SLL: packet type 0, ARPHRD_ETHER 1, address length 6, address, protocol."""
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_A + b"\x00\x00", protocol) + payload


def sll2(payload: bytes, protocol: int) -> bytes:
    """LINKTYPE_LINUX_SLL2: protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr."""
    return struct.pack("!HHIHBB8s", protocol, 0, 2, 1, 4, 6, MAC_A + b"\x00\x00") + payload


def pcap_file(
    frames: list[tuple[float, bytes]],
    *,
    linktype: int = 1,
    endian: str = "<",
    nano: bool = False,
    snaplen: int = 65535,
    caplens: dict[int, int] | None = None,
) -> bytes:
    """pcap-savefile(5): header then 16-byte record headers; ``caplens`` cuts frame i."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    scale = 10**9 if nano else 10**6
    for i, (ts, frame) in enumerate(frames):
        units = round(Fraction(ts) * scale)  # exact: no float drift in the builder
        sec, frac = divmod(units, scale)
        cap = frame if caplens is None or i not in caplens else frame[: caplens[i]]
        out += struct.pack(endian + "IIII", sec, frac, len(cap), len(frame)) + cap
    return out


def pcapng_block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return (
        struct.pack(endian + "II", btype, len(body) + 12)
        + body
        + struct.pack(endian + "I", len(body) + 12)
    )


def pcapng_option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def pcapng_shb(endian: str = "<") -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def pcapng_idb(
    linktype: int, *, tsresol: int | None = None, endian: str = "<", tsoffset: int | None = None
) -> bytes:
    body = struct.pack(endian + "HHI", linktype, 0, 0)
    if tsresol is not None:
        body += pcapng_option(9, bytes((tsresol,)), endian)
    if tsoffset is not None:
        body += pcapng_option(14, struct.pack(endian + "q", tsoffset), endian)
    if tsresol is not None or tsoffset is not None:
        body += pcapng_option(0, b"", endian)
    return pcapng_block(1, body, endian)


def pcapng_epb(
    iface: int, units: int, frame: bytes, endian: str = "<", wire_len: int | None = None
) -> bytes:
    body = struct.pack(
        endian + "IIIII",
        iface,
        units >> 32,
        units & 0xFFFFFFFF,
        len(frame),
        len(frame) if wire_len is None else wire_len,
    )
    return pcapng_block(6, body + frame, endian)
