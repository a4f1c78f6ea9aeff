"""Writing pcap and pcapng captures, byte-for-byte reproducible.

:meth:`CaptureWriter.write_tcp` wraps an encoded TCP segment (checksum already computed by
the caller) in an IPv4 or IPv6 header, chosen by the address family, and a link-layer
header; :meth:`CaptureWriter.write_frame` writes a frame as given. Nothing depends on the
wall clock, the host or randomness: the same calls give the same bytes.

Ethernet addresses are derived from the IP address so that both directions of a
connection agree: ``02:00:a:b:c:d`` for IPv4 ``a.b.c.d`` and ``06:`` followed by the last
five bytes of an IPv6 address. Both are locally administered unicast addresses
(IEEE 802 §8.4: bit 1 of the first octet set, bit 0 clear), so they cannot clash with a
real vendor's.
"""

from __future__ import annotations

import ipaddress
import math
import os
import struct
from types import TracebackType
from typing import BinaryIO, Final, Literal

from ..errors import CaptureError, EncodeError, LocalProtocolError
from ..wire.constants import (
    LOOPBACK_AF_INET,
    LOOPBACK_AF_INET6_WRITE,
    PCAP_MAGIC_NSEC,
    PCAP_MAGIC_USEC,
    PCAP_SNAPLEN,
    PCAP_VERSION,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_OPT_ENDOFOPT,
    PCAPNG_OPT_IF_TSRESOL,
    PCAPNG_OPT_SHB_USERAPPL,
    PCAPNG_SHB,
    PCAPNG_VERSION,
    EtherType,
    IpProto,
    LinkType,
)
from .checksum import internet_checksum

__all__ = ["USER_APPLICATION", "CaptureWriter", "mac_for_ip"]

CaptureFormat = Literal["pcap", "pcapng"]

# The pcapng shb_userappl option we write (no version: the bytes must not change with it).
USER_APPLICATION: Final = "tcpinc_tools"
# RFC 791 §3.1: version 4, IHL 5 (no options); flags = DF.
_IPV4_VERSION_IHL: Final = 0x45
_IPV4_DF: Final = 0x4000
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IPV6_HEADER = struct.Struct("!IHBB16s16s")
_IP_MAX_LEN: Final = 0xFFFF  # RFC 791 Total Length / RFC 8200 Payload Length: 16 bits
_FLOW_LABEL_MAX: Final = 0xFFFFF  # RFC 8200 §3: 20 bits
_NSEC: Final = 1_000_000_000
_USEC: Final = 1_000_000
_MAC_V4_PREFIX: Final = b"\x02\x00"
_MAC_V6_PREFIX: Final = b"\x06"
_TCP_LINKS: Final = frozenset({LinkType.ETHERNET, LinkType.RAW, LinkType.NULL, LinkType.LOOP})


def mac_for_ip(address: bytes) -> bytes:
    """The Ethernet address the writer gives a 4- or 16-byte IP address (see module doc)."""
    if len(address) == 4:
        return _MAC_V4_PREFIX + address
    return _MAC_V6_PREFIX + address[-5:]


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    # draft-ietf-opsawg-pcapng §3.5: code (2) ‖ length (2) ‖ value padded to 32 bits.
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(btype: int, body: bytes) -> bytes:
    # draft-ietf-opsawg-pcapng §3.1: type ‖ total length ‖ body ‖ total length.
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


class CaptureWriter:
    """A pcap or pcapng file being written; a context manager.

    ``target`` is a path (created or truncated) or a binary file object (written to, not
    closed). pcap files get the standard 24-byte header with snap length 262144; pcapng
    files a section header and one interface description (``if_tsresol`` = 9 for
    nanoseconds). Both are little-endian.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        format: CaptureFormat = "pcap",
        nanosecond: bool = False,
        linktype: int = LinkType.ETHERNET,
    ) -> None:
        if format not in ("pcap", "pcapng"):
            raise LocalProtocolError(f"unknown capture format {format!r}")
        if not 0 <= linktype <= 0xFFFF:
            raise LocalProtocolError(f"link type {linktype} out of range")
        self.format: CaptureFormat = format
        self.nanosecond = nanosecond
        self.linktype = linktype
        self.packets = 0
        self._units = _NSEC if nanosecond else _USEC
        self._ip_ids: dict[tuple[bytes, bytes], int] = {}
        self._owned = isinstance(target, str | os.PathLike)
        if isinstance(target, str | os.PathLike):
            self.name = os.fspath(target)
            try:
                self._stream: BinaryIO | None = open(target, "wb")  # noqa: SIM115
            except OSError as exc:
                raise CaptureError(
                    f"{self.name}: cannot create: {exc.strerror or exc}", offset=None
                ) from None
        else:
            self.name = str(getattr(target, "name", "<capture>"))
            self._stream = target
        self._write(self._file_header())

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush; close the file if the writer opened it. Idempotent."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        if self._owned:
            stream.close()
        else:
            stream.flush()

    # -- records ------------------------------------------------------------------------

    def write_frame(self, ts: float, frame: bytes, *, wire_len: int | None = None) -> None:
        """Write one frame of the writer's link type, captured whole unless ``wire_len``."""
        units = self._timestamp(ts)
        caplen = len(frame)
        wire = caplen if wire_len is None else max(wire_len, caplen)
        if self.format == "pcap":
            sec, frac = divmod(units, self._units)
            if sec > 0xFFFFFFFF:
                raise EncodeError(f"timestamp {ts} does not fit a pcap record (after 2106)")
            # draft-ietf-opsawg-pcap §5: seconds ‖ µs or ns ‖ captured length ‖ original length.
            record = struct.pack("<IIII", sec, frac, caplen, wire) + frame
        else:
            # draft-ietf-opsawg-pcapng §4.3: interface 0, 64-bit timestamp split high / low.
            body = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, caplen, wire)
            record = _block(PCAPNG_EPB, body + _pad4(frame))
        self._write(record)
        self.packets += 1

    def write_tcp(
        self,
        ts: float,
        src_ip: str,
        dst_ip: str,
        tcp: bytes,
        *,
        ttl: int = 64,
        ip_id: int | None = None,
        flow_label: int = 0,
    ) -> None:
        """Wrap an encoded TCP segment in IPv4 or IPv6 and the link layer; write it.

        ``ip_id`` defaults to a counter per (source, destination), starting at 0; IPv4
        packets are sent with DF set, like Linux does for TCP.
        """
        src = _address(src_ip)
        dst = _address(dst_ip)
        if len(src) != len(dst):
            raise EncodeError(f"address families differ: {src_ip} and {dst_ip}")
        if not 0 <= ttl <= 0xFF:
            raise EncodeError(f"TTL / hop limit {ttl} out of range 0-255")
        if len(src) == 4:
            ip = self._ipv4(src, dst, tcp, ttl, ip_id)
        else:
            if not 0 <= flow_label <= _FLOW_LABEL_MAX:
                raise EncodeError(f"flow label {flow_label} out of range (20 bits)")
            if len(tcp) > _IP_MAX_LEN:
                raise EncodeError(f"TCP segment of {len(tcp)} bytes exceeds an IPv6 payload")
            # RFC 8200 §3: version 6 ‖ traffic class 0 ‖ flow label, payload length, next
            # header, hop limit, addresses.
            ip = _IPV6_HEADER.pack((6 << 28) | flow_label, len(tcp), IpProto.TCP, ttl, src, dst)
            ip += tcp
        self.write_frame(ts, self._link_header(src, dst) + ip)

    # -- helpers ------------------------------------------------------------------------

    # RFC 791 §3.1: the IPv4 header, without options.
    def _ipv4(self, src: bytes, dst: bytes, tcp: bytes, ttl: int, ip_id: int | None) -> bytes:
        total = 20 + len(tcp)
        if total > _IP_MAX_LEN:
            raise EncodeError(f"TCP segment of {len(tcp)} bytes exceeds an IPv4 datagram")
        if ip_id is None:
            key = (src, dst)
            ip_id = self._ip_ids.get(key, 0)
            self._ip_ids[key] = (ip_id + 1) & 0xFFFF
        elif not 0 <= ip_id <= 0xFFFF:
            raise EncodeError(f"IP identification {ip_id} out of range 0-65535")
        # RFC 791 §3.1: the header checksum is computed with the field at zero.
        header = _IPV4_HEADER.pack(
            _IPV4_VERSION_IHL, 0, total, ip_id, _IPV4_DF, ttl, IpProto.TCP, 0, src, dst
        )
        checksum = internet_checksum(header)
        return header[:10] + checksum.to_bytes(2, "big") + header[12:] + tcp

    # IEEE 802.3 §3.1 and tcpdump.org LINKTYPE_NULL / LINKTYPE_LOOP: the link-layer header.
    def _link_header(self, src: bytes, dst: bytes) -> bytes:
        v4 = len(src) == 4
        linktype = self.linktype
        if linktype == LinkType.ETHERNET:
            # IEEE 802.3 §3.1: destination ‖ source ‖ EtherType.
            ethertype = EtherType.IPV4 if v4 else EtherType.IPV6
            return mac_for_ip(dst) + mac_for_ip(src) + ethertype.to_bytes(2, "big")
        if linktype == LinkType.RAW:
            return b""
        if linktype in (LinkType.NULL, LinkType.LOOP):
            family = LOOPBACK_AF_INET if v4 else LOOPBACK_AF_INET6_WRITE
            # LINKTYPE_NULL: host byte order (we write little-endian); LINKTYPE_LOOP: network.
            return family.to_bytes(4, "little" if linktype == LinkType.NULL else "big")
        raise EncodeError(
            f"write_tcp cannot frame link type {linktype}; "
            f"use write_frame, or one of {sorted(int(t) for t in _TCP_LINKS)}"
        )

    def _timestamp(self, ts: float) -> int:
        """Seconds to an integer count of µs or ns: the float's exact value, rounded once
        (half to even), so a simulated clock never drifts."""
        if not math.isfinite(ts) or ts < 0:
            raise EncodeError(f"timestamp {ts} is not a time since the epoch")
        numerator, denominator = ts.as_integer_ratio()
        units, rest = divmod(numerator * self._units, denominator)
        if 2 * rest > denominator or (2 * rest == denominator and units & 1):
            units += 1
        return units

    def _file_header(self) -> bytes:
        if self.format == "pcap":
            magic = PCAP_MAGIC_NSEC if self.nanosecond else PCAP_MAGIC_USEC
            # draft-ietf-opsawg-pcap §4: magic, version 2.4, two reserved fields, snap
            # length, link type.
            return struct.pack("<IHHiIII", magic, *PCAP_VERSION, 0, 0, PCAP_SNAPLEN, self.linktype)
        # draft-ietf-opsawg-pcapng §4.1: byte-order magic, version 1.0, section length
        # unknown (-1), options.
        shb_opts = _option(PCAPNG_OPT_SHB_USERAPPL, USER_APPLICATION.encode())
        shb_opts += _option(PCAPNG_OPT_ENDOFOPT, b"")
        shb = struct.pack("<IHHq", PCAPNG_BYTE_ORDER_MAGIC, *PCAPNG_VERSION, -1) + shb_opts
        # §4.2: link type, reserved, snap length, if_tsresol (10^-9) for nanoseconds.
        idb = struct.pack("<HHI", self.linktype, 0, PCAP_SNAPLEN)
        if self.nanosecond:
            idb += _option(PCAPNG_OPT_IF_TSRESOL, bytes((9,)))
            idb += _option(PCAPNG_OPT_ENDOFOPT, b"")
        return _block(PCAPNG_SHB, shb) + _block(PCAPNG_IDB, idb)

    def _write(self, data: bytes) -> None:
        if self._stream is None:
            raise LocalProtocolError(f"{self.name}: the capture writer is closed")
        try:
            self._stream.write(data)
        except OSError as exc:
            raise CaptureError(f"{self.name}: write error: {exc.strerror or exc}") from None


def _address(text: str) -> bytes:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        raise EncodeError(f"not an IPv4 or IPv6 address: {text!r}") from None
