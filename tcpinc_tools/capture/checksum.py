"""The Internet checksum (RFC 1071) for IPv4 headers and TCP segments.

The capture layer needs it to write IPv4 headers and to rewrite segments (``tcpinc decrypt``);
``protocol/`` has its own encoder and this layer must not import it.
"""

from __future__ import annotations

from typing import Final

from ..wire.constants import IpProto

__all__ = ["internet_checksum", "tcp_checksum"]

_ONES: Final = 0xFFFF


# RFC 1071 §1: the 16-bit one's complement of the one's complement sum of the 16-bit words
# (an odd final byte is padded with a zero). 2^16 = 1 (mod 0xFFFF), so the one's complement
# sum of the words is the big-endian integer of the data modulo 0xFFFF (0xFFFF for a
# non-zero multiple).
def internet_checksum(data: bytes) -> int:
    """The RFC 1071 checksum of ``data``, as an int to store big-endian."""
    if len(data) % 2:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    total = value % _ONES
    if total == 0 and value:
        total = _ONES
    return _ONES - total


# RFC 9293 §3.1: the checksum covers a pseudo-header (RFC 9293 Fig. 2 for IPv4, RFC 8200 §8.1
# for IPv6) and the whole segment with the checksum field taken as zero.
def tcp_checksum(src_ip: bytes, dst_ip: bytes, tcp: bytes) -> int:
    """The TCP checksum of ``tcp`` (header and payload) between two 4- or 16-byte addresses.

    The checksum field in ``tcp`` is ignored, so a segment can be checked by comparing the
    result with the field.
    """
    segment = tcp[:16] + b"\x00\x00" + tcp[18:] if len(tcp) >= 18 else tcp
    length = len(tcp)
    if len(src_ip) == 4:
        pseudo = src_ip + dst_ip + bytes((0, IpProto.TCP)) + length.to_bytes(2, "big")
    else:
        pseudo = src_ip + dst_ip + length.to_bytes(4, "big") + bytes((0, 0, 0, IpProto.TCP))
    return internet_checksum(pseudo + segment)
