"""The capture reader against captures built by hand and by dpkt's writers."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import dpkt
import pytest

from tcpinc_tools.capture.packet import TcpPacket
from tcpinc_tools.capture.reader import CaptureReader, read_packets
from tests.unit.capture import handmade as hm

A4, B4 = "192.0.2.1", "198.51.100.2"
A6, B6 = "2001:db8::1", "2001:db8:0:1::2"
TS_OPTIONS = bytes.fromhex("0101080a0000000100000002")  # NOP NOP timestamps
PAYLOAD = b"hello"


def seg(src: str = A4, dst: str = B4, **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "sport": 40000,
        "dport": 443,
        "seq": 0x01020304,
        "ack": 0x05060708,
        "flags": 0x18,
        "payload": PAYLOAD,
        "options": TS_OPTIONS,
        "window": 501,
    }
    args.update(kw)
    return hm.tcp_segment(src, dst, **args)


def eth4(**kw: Any) -> bytes:
    return hm.ethernet(hm.ipv4(A4, B4, seg(**kw)), 0x0800)


def eth6(**kw: Any) -> bytes:
    return hm.ethernet(hm.ipv6(A6, B6, seg(A6, B6, **kw)), 0x86DD)


def read_all(data: bytes) -> tuple[list[TcpPacket], CaptureReader]:
    reader = CaptureReader(io.BytesIO(data))
    return list(reader), reader


def check_segment(pkt: TcpPacket, *, src: str = A4, dst: str = B4, version: int = 4) -> None:
    assert pkt.ip_version == version
    assert (pkt.src, pkt.dst) == (src, dst)
    assert (pkt.sport, pkt.dport) == (40000, 443)
    assert (pkt.seq, pkt.ack, pkt.flags) == (0x01020304, 0x05060708, 0x18)
    assert (pkt.window, pkt.urgent_pointer) == (501, 0)
    assert pkt.options == TS_OPTIONS
    assert pkt.payload == PAYLOAD
    assert not pkt.truncated


# -- file formats -------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_resolutions_and_byte_orders(endian: str, nano: bool) -> None:
    frames = [(1700000000.25, eth4()), (1700000001.000002, eth6())]
    data = hm.pcap_file(frames, endian=endian, nano=nano)
    pkts, reader = read_all(data)
    assert reader.format == "pcap"
    assert [p.number for p in pkts] == [1, 2]
    check_segment(pkts[0])
    check_segment(pkts[1], src=A6, dst=B6, version=6)
    assert pkts[0].ts == 1700000000.25
    assert pkts[1].ts == pytest.approx(1700000001.000002, abs=1e-9)
    assert pkts[0].frame == frames[0][1]
    assert pkts[0].ip_offset == 14 and pkts[0].tcp_offset == 34
    assert pkts[0].payload_offset == 34 + 32
    assert pkts[1].tcp_offset == 54
    assert reader.stats.tcp == 2 and reader.stats.ipv4 == 1 and reader.stats.ipv6 == 1


def test_pcap_nanosecond_field_is_kept() -> None:
    # 123456789 ns: the microsecond format could not say this.
    raw = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    frame = eth4()
    raw += struct.pack("<IIII", 1700000000, 123456789, len(frame), len(frame)) + frame
    (pkt,), _ = read_all(raw)
    assert pkt.ts == 1700000000 + 123456789 / 1e9


def test_dpkt_pcap_writer_micro_and_nano(tmp_path: Path) -> None:
    for nano in (False, True):
        path = tmp_path / f"dpkt{nano}.pcap"
        with path.open("wb") as f:
            writer = dpkt.pcap.Writer(f, nano=nano)
            writer.writepkt(eth4(), ts=1700000000.5)
            writer.writepkt(eth6(), ts=1700000002.75)
        pkts = list(read_packets(path))
        assert [p.ts for p in pkts] == [1700000000.5, 1700000002.75]
        check_segment(pkts[0])
        check_segment(pkts[1], src=A6, dst=B6, version=6)


def test_dpkt_pcapng_writer(tmp_path: Path) -> None:
    path = tmp_path / "dpkt.pcapng"
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f)
        writer.writepkt(eth4(), ts=1700000000.5)
        writer.writepkt(b"\x00" * 20, ts=1700000001.0)  # not IP
        writer.writepkt(eth6(), ts=1700000002.25)
    reader = CaptureReader(str(path))
    pkts = list(reader)
    assert reader.format == "pcapng"
    assert [(p.number, p.ts) for p in pkts] == [(1, 1700000000.5), (3, 1700000002.25)]
    assert reader.stats.packets == 3 and reader.stats.non_tcp == 1


def test_pcapng_interfaces_with_their_own_link_type_and_resolution() -> None:
    raw4 = hm.ipv4(A4, B4, seg())
    raw6 = hm.ipv6(A6, B6, seg(A6, B6))
    data = (
        hm.pcapng_shb()
        + hm.pcapng_idb(1)  # Ethernet, default 10^-6
        + hm.pcapng_idb(101, tsresol=9)  # raw IP, nanoseconds
        + hm.pcapng_idb(113, tsresol=0x8A, tsoffset=1_000_000_000)  # SLL, 2^-10 s, + offset
        + hm.pcapng_block(4, b"\x00\x00\x00\x00")  # name resolution block: not a frame
        + hm.pcapng_epb(0, 1700000000_250000, eth4())
        + hm.pcapng_epb(1, 1700000001_123456789, raw6)
        + hm.pcapng_block(5, struct.pack("<IIII", 0, 0, 0, 0))  # interface statistics
        + hm.pcapng_epb(2, 700000000 * 1024 + 512, hm.sll(raw4, 0x0800))
    )
    pkts, reader = read_all(data)
    assert [p.number for p in pkts] == [1, 2, 3]
    assert [p.linktype for p in pkts] == [1, 101, 113]
    assert pkts[0].ts == 1700000000.25
    assert pkts[1].ts == 1700000001 + 123456789 / 1e9
    assert pkts[2].ts == 1700000000.5
    check_segment(pkts[1], src=A6, dst=B6, version=6)
    check_segment(pkts[2])
    assert reader.stats.link_types == {1: 1, 101: 1, 113: 1}


def test_pcapng_big_endian_sections_simple_and_obsolete_packet_blocks() -> None:
    frame = eth4()
    second = (
        hm.pcapng_shb(">")
        + hm.pcapng_idb(1, endian=">")
        # Simple Packet Block: original length then data, interface 0, no timestamp.
        + hm.pcapng_block(3, struct.pack(">I", len(frame)) + frame, ">")
        # Obsolete Packet Block: interface (2), drops (2), ts high, ts low, caplen, len.
        + hm.pcapng_block(
            2, struct.pack(">HHIIII", 0, 0, 0, 3_000_000, len(frame), len(frame)) + frame, ">"
        )
    )
    data = hm.pcapng_shb() + hm.pcapng_idb(101) + hm.pcapng_epb(0, 0, eth4()) + second
    pkts, reader = read_all(data)
    # Frame 1 is Ethernet bytes on a raw-IP interface: a malformed IP header.
    assert [p.number for p in pkts] == [2, 3]
    assert [p.ts for p in pkts] == [0.0, 3.0]
    assert reader.stats.malformed == 1
    for pkt in pkts:
        check_segment(pkt)


def test_pcapng_simple_packet_block_honours_snaplen() -> None:
    frame = eth4()
    idb = hm.pcapng_block(1, struct.pack("<HHI", 1, 0, 68))
    spb = hm.pcapng_block(3, struct.pack("<I", len(frame)) + frame)
    (pkt,), reader = read_all(hm.pcapng_shb() + idb + spb)
    assert len(pkt.frame) == 68 and pkt.truncated and pkt.payload == PAYLOAD[:2]
    assert reader.stats.truncated == 1


# -- link types ---------------------------------------------------------------------------


def _af_null(family: int, order: str) -> bytes:
    return family.to_bytes(4, order)  # type: ignore[arg-type]


LINK_CASES = [
    ("ethernet", 1, hm.ethernet, 14),
    ("vlan", 1, lambda ip, et: hm.ethernet(ip, et, vlans=(0x8100,)), 18),
    ("qinq", 1, lambda ip, et: hm.ethernet(ip, et, vlans=(0x88A8, 0x8100)), 22),
    ("qinq-old", 1, lambda ip, et: hm.ethernet(ip, et, vlans=(0x9100, 0x8100)), 22),
    ("sll", 113, hm.sll, 16),
    ("sll-vlan", 113, lambda ip, et: hm.sll(struct.pack("!HH", 7, et) + ip, 0x8100), 20),
    ("sll2", 276, hm.sll2, 20),
    ("raw", 101, lambda ip, et: ip, 0),
    ("raw12", 12, lambda ip, et: ip, 0),
    ("raw14", 14, lambda ip, et: ip, 0),
    ("null-le", 0, lambda ip, et: _af_null(2 if et == 0x0800 else 30, "little") + ip, 4),
    ("null-be", 0, lambda ip, et: _af_null(2 if et == 0x0800 else 28, "big") + ip, 4),
    ("null-linux6", 0, lambda ip, et: _af_null(2 if et == 0x0800 else 10, "little") + ip, 4),
    ("loop", 108, lambda ip, et: _af_null(2 if et == 0x0800 else 24, "big") + ip, 4),
]


@pytest.mark.parametrize(("name", "linktype", "wrap", "ip_off"), LINK_CASES)
def test_link_types(name: str, linktype: int, wrap: object, ip_off: int) -> None:
    v4 = wrap(hm.ipv4(A4, B4, seg()), 0x0800)  # type: ignore[operator]
    v6 = wrap(hm.ipv6(A6, B6, seg(A6, B6)), 0x86DD)  # type: ignore[operator]
    data = hm.pcap_file([(1.0, v4), (2.0, v6)], linktype=linktype)
    pkts, reader = read_all(data)
    assert len(pkts) == 2, name
    check_segment(pkts[0])
    check_segment(pkts[1], src=A6, dst=B6, version=6)
    assert pkts[0].ip_offset == ip_off
    assert pkts[1].tcp_offset == ip_off + 40
    assert reader.stats.link_types == {linktype: 2}


def test_ipv4_and_ipv6_link_types() -> None:
    v4 = hm.pcap_file([(1.0, hm.ipv4(A4, B4, seg()))], linktype=228)
    v6 = hm.pcap_file([(1.0, hm.ipv6(A6, B6, seg(A6, B6)))], linktype=229)
    check_segment(read_all(v4)[0][0])
    check_segment(read_all(v6)[0][0], src=A6, dst=B6, version=6)


def test_frames_that_are_not_tcp_cost_a_counter() -> None:
    udp = hm.ipv4(A4, B4, b"\x00" * 12, proto=17)
    frames = [
        hm.ethernet(b"\x00" * 28, 0x0806),  # ARP
        hm.ethernet(udp, 0x0800),
        hm.ethernet(hm.ipv6(A6, B6, b"\x00" * 8, next_header=17), 0x86DD),
        hm.ethernet(udp, 0x8100)[:15],  # VLAN tag cut short
        b"\x00" * 10,  # runt
        hm.ethernet(hm.ipv6(A6, B6, b"", next_header=59), 0x86DD),  # no next header
        eth4(),
    ]
    pkts, reader = read_all(hm.pcap_file([(1.0, f) for f in frames]))
    assert [p.number for p in pkts] == [7]
    s = reader.stats
    assert (s.packets, s.tcp, s.non_tcp, s.ipv4, s.ipv6) == (7, 1, 6, 2, 2)


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (113, b"\x00" * 10),
        (276, b"\x00" * 10),
        (0, b"\x02\x00"),
        (0, b"\x07\x00\x00\x00" + b"\x45" + b"\x00" * 39),  # AF 7: not IP
        (108, b"\x00\x00\x00\x07" + b"\x00" * 40),
    ],
)
def test_short_or_foreign_link_headers(linktype: int, frame: bytes) -> None:
    pkts, reader = read_all(hm.pcap_file([(1.0, frame)], linktype=linktype))
    assert pkts == [] and reader.stats.non_tcp == 1


def test_unsupported_link_type_is_counted() -> None:
    pkts, reader = read_all(hm.pcap_file([(1.0, eth4())], linktype=147))
    assert pkts == []
    assert reader.stats.unsupported_link == 1 and reader.stats.non_tcp == 1


def test_raw_ip_with_a_bad_version_or_no_bytes() -> None:
    pkts, reader = read_all(hm.pcap_file([(1.0, b"\x75" + b"\x00" * 39), (2.0, b"")], linktype=101))
    assert pkts == []
    assert reader.stats.malformed == 1 and reader.stats.headers_truncated == 1


# -- IP and TCP details -------------------------------------------------------------------


def test_ipv4_options_move_the_tcp_header() -> None:
    options = bytes.fromhex("94040000")  # RFC 2113 router alert
    frame = hm.ethernet(hm.ipv4(A4, B4, seg(), options=options), 0x0800)
    (pkt,), _ = read_all(hm.pcap_file([(1.0, frame)]))
    assert pkt.tcp_offset == 14 + 24
    check_segment(pkt)


def test_ethernet_padding_is_not_payload() -> None:
    frame = hm.ethernet(hm.ipv4(A4, B4, seg(payload=b"", options=b"")), 0x0800)
    padded = frame + b"\xee" * (60 - len(frame))
    (pkt,), _ = read_all(hm.pcap_file([(1.0, padded)]))
    assert pkt.payload == b"" and not pkt.truncated


def test_tso_zero_lengths_use_the_frame() -> None:
    v4 = hm.ethernet(hm.ipv4(A4, B4, seg(), total=0), 0x0800)
    v6 = hm.ethernet(hm.ipv6(A6, B6, seg(A6, B6), plen=0), 0x86DD)
    pkts, _ = read_all(hm.pcap_file([(1.0, v4), (2.0, v6)]))
    check_segment(pkts[0])
    check_segment(pkts[1], src=A6, dst=B6, version=6)


def test_snaplen_cut_payload_is_marked_truncated() -> None:
    frame = eth4(payload=b"x" * 100)
    data = hm.pcap_file([(1.0, frame)], caplens={0: len(frame) - 40})
    (pkt,), reader = read_all(data)
    assert pkt.truncated and pkt.payload == b"x" * 60
    assert pkt.wire_len == len(frame)
    assert reader.stats.truncated == 1


@pytest.mark.parametrize("cut", [20, 14 + 19, 14 + 20 + 10, 14 + 20 + 25])
def test_snaplen_cut_headers_are_skipped(cut: int) -> None:
    frame = eth4()
    (pkts, reader) = read_all(hm.pcap_file([(1.0, frame)], caplens={0: cut}))
    assert pkts == [] and reader.stats.headers_truncated == 1


def test_ipv6_header_cut() -> None:
    frame = eth6()
    pkts, reader = read_all(hm.pcap_file([(1.0, frame)], caplens={0: 14 + 30}))
    assert pkts == [] and reader.stats.headers_truncated == 1


@pytest.mark.parametrize(
    "frame",
    [
        hm.ethernet(b"\x65" + hm.ipv4(A4, B4, seg())[1:], 0x0800),  # version 6 in IPv4
        hm.ethernet(b"\x44" + hm.ipv4(A4, B4, seg())[1:], 0x0800),  # IHL 4
        hm.ethernet(hm.ipv4(A4, B4, seg(), total=19), 0x0800),  # total < IHL
        hm.ethernet(hm.ipv4(A4, B4, seg(), total=30), 0x0800),  # no room for TCP
        hm.ethernet(b"\x45" + hm.ipv6(A6, B6, seg(A6, B6))[1:], 0x86DD),  # version 4 in IPv6
    ],
)
def test_malformed_ip_headers_are_counted(frame: bytes) -> None:
    pkts, reader = read_all(hm.pcap_file([(1.0, frame)]))
    assert pkts == [] and reader.stats.malformed == 1


def _with_data_offset(segment: bytes, words: int) -> bytes:
    return segment[:12] + bytes(((words << 4) | (segment[12] & 0x0F),)) + segment[13:]


@pytest.mark.parametrize("words", [0, 4, 15])
def test_malformed_tcp_data_offset(words: int) -> None:
    bad = _with_data_offset(seg(payload=b"", options=b""), words)
    frame = hm.ethernet(hm.ipv4(A4, B4, bad), 0x0800)
    pkts, reader = read_all(hm.pcap_file([(1.0, frame)]))
    assert pkts == [] and reader.stats.malformed == 1


def test_ipv4_fragments_are_skipped() -> None:
    first = hm.ethernet(hm.ipv4(A4, B4, seg(), frag=0x2000), 0x0800)  # MF
    later = hm.ethernet(hm.ipv4(A4, B4, b"\x00" * 16, frag=0x0003), 0x0800)  # offset 24
    pkts, reader = read_all(hm.pcap_file([(1.0, first), (2.0, later), (3.0, eth4())]))
    assert [p.number for p in pkts] == [3]
    assert reader.stats.fragments == 2 and reader.stats.ipv4 == 3


def test_ipv6_extension_headers_are_skipped() -> None:
    # hop-by-hop (0) -> routing (43) -> destination options (60) -> TCP, 8 + 16 + 8 bytes.
    chain = hm.ext_header(43) + hm.ext_header(60, 1) + hm.ext_header(6)
    ip = hm.ipv6(A6, B6, chain + seg(A6, B6), next_header=0)
    (pkt,), _ = read_all(hm.pcap_file([(1.0, hm.ethernet(ip, 0x86DD))]))
    check_segment(pkt, src=A6, dst=B6, version=6)
    assert pkt.tcp_offset == 14 + 40 + 32


def test_ipv6_authentication_header_is_skipped() -> None:
    # RFC 4302 §2.2: payload length 4 means (4 + 2) * 4 = 24 bytes.
    ah = bytes((6, 4, 0, 0)) + b"\x00" * 20
    ip = hm.ipv6(A6, B6, ah + seg(A6, B6), next_header=51)
    (pkt,), _ = read_all(hm.pcap_file([(1.0, hm.ethernet(ip, 0x86DD))]))
    assert pkt.tcp_offset == 14 + 40 + 24


def test_ipv6_fragments_and_bad_chains() -> None:
    frag = hm.ipv6(A6, B6, bytes((6, 0, 0, 1)) + b"\x00" * 4 + seg(A6, B6), next_header=44)
    overrun = hm.ipv6(A6, B6, hm.ext_header(6, 30)[:8], next_header=60)
    cut_chain = hm.ethernet(hm.ipv6(A6, B6, hm.ext_header(6) + seg(A6, B6), next_header=0), 0x86DD)
    frames = [hm.ethernet(frag, 0x86DD), hm.ethernet(overrun, 0x86DD), cut_chain]
    pkts, reader = read_all(hm.pcap_file([(1.0, f) for f in frames], caplens={2: 14 + 41}))
    assert pkts == []
    s = reader.stats
    assert (s.fragments, s.malformed, s.headers_truncated) == (1, 1, 1)


def test_ipv6_extension_header_past_the_payload_length() -> None:
    ip = hm.ipv6(A6, B6, b"", next_header=0, plen=1) + hm.ext_header(6)
    pkts, reader = read_all(hm.pcap_file([(1.0, hm.ethernet(ip, 0x86DD))]))
    assert pkts == [] and reader.stats.malformed == 1


def test_frame_numbers_count_every_frame_and_start_number() -> None:
    frames = [(1.0, b"\x00" * 14), (2.0, eth4()), (3.0, b"junk"), (4.0, eth6())]
    data = hm.pcap_file(frames)
    assert [p.number for p in read_packets(io.BytesIO(data))] == [2, 4]
    assert [p.number for p in read_packets(io.BytesIO(data), start_number=101)] == [102, 104]


def test_addresses_are_text_and_cached_consistently() -> None:
    frames = [(float(i), eth4(sport=40000 + i)) for i in range(3)]
    pkts, _ = read_all(hm.pcap_file(frames))
    assert {p.src for p in pkts} == {"192.0.2.1"}
    v6 = hm.ethernet(
        hm.ipv6("::ffff:192.0.2.1", "fe80::1", seg("::ffff:192.0.2.1", "fe80::1")), 0x86DD
    )
    (pkt,), _ = read_all(hm.pcap_file([(1.0, v6)]))
    assert (pkt.src, pkt.dst) == ("::ffff:c000:201", "fe80::1")


def test_address_cache_is_bounded() -> None:
    from tcpinc_tools.capture import packet

    decoder = packet.FrameDecoder()
    for i in range(packet._ADDR_CACHE_MAX + 10):
        src = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        pkt = decoder.decode(hm.ipv4(src, B4, seg(src, B4)), 101, i + 1, 0.0)
        assert pkt is not None and pkt.src == src
    assert len(decoder._v4) <= packet._ADDR_CACHE_MAX


# -- streams ------------------------------------------------------------------------------


class Trickle(io.RawIOBase):
    """A pipe-like stream: every read returns at most a few bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._step = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._step = self._step % 7 + 1
        n = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def test_short_reads_give_the_same_packets() -> None:
    frames = [(float(i), eth4(seq=i)) for i in range(50)]
    for data in (
        hm.pcap_file(frames),
        hm.pcapng_shb()
        + hm.pcapng_idb(1)
        + b"".join(hm.pcapng_epb(0, i, f) for i, (_, f) in enumerate(frames)),
    ):
        whole = [p.seq for p in read_packets(io.BytesIO(data))]
        trickled = [p.seq for p in read_packets(Trickle(data))]  # type: ignore[arg-type]
        assert whole == trickled == list(range(50))


def test_large_capture_crosses_read_chunks(tmp_path: Path) -> None:
    big = eth4(payload=b"z" * 1400)
    frames = [(float(i), big) for i in range(1000)]  # ~1.5 MB: more than one read chunk
    path = tmp_path / "big.pcap"
    path.write_bytes(hm.pcap_file(frames))
    reader = CaptureReader(path)
    assert sum(len(p.payload) for p in reader) == 1400 * 1000
    assert reader.stats.tcp == 1000


def test_reader_context_manager_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(hm.pcap_file([(1.0, eth4())] * 3))
    with CaptureReader(path) as reader:
        it = iter(reader)
        next(it)
        assert reader._stream is not None
    assert reader._stream is None


def test_caller_file_object_is_not_closed() -> None:
    f = io.BytesIO(hm.pcap_file([(1.0, eth4())]))
    assert len(list(read_packets(f))) == 1
    assert not f.closed


def test_position_follows_the_records_for_progress_reports() -> None:
    frames = [(1.0, eth4()), (2.0, eth6())]
    data = hm.pcap_file(frames)
    reader = CaptureReader(io.BytesIO(data))
    assert reader.position == 0
    it = iter(reader)
    next(it)
    assert reader.position == 24 + 16 + len(frames[0][1])
    list(it)
    assert reader.position == len(data)
