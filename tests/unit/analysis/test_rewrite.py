"""``tcpinc decrypt``'s rewriting (analysis/rewrite.py): the offset mapping M, options, and
whole captures read back: plaintext where the frames were, numbers that add up, checksums
that verify (by the RFC 1071 loop of tests/unit/capture/handmade.py), the rest unchanged."""

from __future__ import annotations

import io
import itertools
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis.rewrite import (
    NO_OFFSET,
    RewriteStats,
    StreamMap,
    decrypt_capture,
    rewrite_options,
)
from tcpinc_tools.capture.packet import TcpPacket
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.keylog import KeyLog
from tests.support import fuzz_settings
from tests.unit.analysis.builder import ACK, ENO_ACK, PSH, SYN, C, Capture, S, Session, fresh_rfc
from tests.unit.capture.handmade import ones_sum_checksum, packed

C_ISN, S_ISN = 1000, 500000  # the builder's default ISNs


def spill() -> io.BytesIO:
    return io.BytesIO()


def stream_map(frames: list[tuple[int, bytes]], fin: int | None = None) -> StreamMap:
    m = StreamMap(spill())
    for end, data in frames:
        m.add(end, data)
    m.fin = fin
    m.seal()
    return m


# -- the mapping M ------------------------------------------------------------------------


def test_new_offset_counts_the_data_of_frames_ended_before() -> None:
    # Init 0-100; frames ending at 150 (10 bytes), 200 (0 bytes: FINp), 260 (20 bytes).
    m = stream_map([(150, b"x" * 10), (200, b""), (260, b"y" * 20)], fin=260)
    assert [m.new_offset(x) for x in (-1, 0, 1, 100, 149, 150, 199, 200, 259, 260)] == [
        -1,
        0,
        0,
        0,
        0,
        10,
        10,
        10,
        10,
        30,
    ]
    # Past the FIN (RFC 9293 §3.4: FIN takes one sequence number): M(FIN) + 1.
    assert m.new_offset(261) == 31


def test_data_is_that_of_frames_ending_inside_the_segment() -> None:
    m = stream_map([(150, b"first....."), (260, b"second")])
    assert m.data(0, 149) == b""  # a segment with the frame's start only
    assert m.data(100, 150) == b"first....."  # the segment with its last byte
    assert m.data(149, 150) == b"first....."
    assert m.data(150, 260) == b"second"
    assert m.data(0, 300) == b"first.....second"
    assert m.data(260, 400) == b""


def test_frames_given_out_of_order_or_twice_are_sorted_once() -> None:
    m = stream_map([(260, b"second"), (150, b"first"), (260, b"second")])
    assert m.frames == 2
    assert m.data(0, 300) == b"firstsecond"
    assert m.new_offset(200) == 5


# -- options --------------------------------------------------------------------------------

NOP = b"\x01"


def test_eno_options_become_nops_others_stay() -> None:
    mss = bytes.fromhex("020405b4")
    eno = bytes.fromhex("450323")  # RFC 8547 §4.1: kind 69, length 3, TEP 0x23
    legacy = bytes.fromhex("fd06454e2221")  # RFC 6994 ExID 0x454E
    other_exp = bytes.fromhex("fd06abcd2221")  # kind 253, another ExID: not ENO
    options = mss + eno + legacy + other_exp + NOP + b"\x00"
    out = rewrite_options(options, NO_OFFSET, 0, stream_map([]))
    assert out == mss + NOP * 3 + NOP * 6 + other_exp + NOP + b"\x00"


def test_bytes_that_do_not_walk_as_options_are_kept() -> None:
    bad = bytes.fromhex("450123")  # RFC 9293 §3.1: a length below 2
    assert rewrite_options(bad, NO_OFFSET, 0, stream_map([])) == bad
    past_end = bytes.fromhex("4508") + b"\x00\x00"
    assert rewrite_options(past_end, NO_OFFSET, 0, stream_map([])) == past_end


def test_sack_edges_follow_the_acknowledgement_mapping() -> None:
    # The peer's stream: Init 0-100, frames ending at 150 (10 bytes) and 260 (20 bytes).
    peer = stream_map([(150, b"x" * 10), (260, b"y" * 20)])
    ack, ack_offset = 5000 + 100, 100  # acknowledges the Init: sequence number 5100
    # RFC 2018 §3: one block, left edge 5150 (offset 150), right edge 5260 (offset 260).
    sack = bytes((5, 10)) + struct.pack("!II", 5150, 5260)
    out = rewrite_options(NOP + NOP + sack, ack_offset, ack, peer)
    # M(150) = 10, M(260) = 30: edges 5150 - 150 + 10 and 5260 - 260 + 30.
    assert out == NOP + NOP + bytes((5, 10)) + struct.pack("!II", 5010, 5030)


def test_sack_block_that_maps_to_nothing_or_without_a_reference_becomes_nops() -> None:
    peer = stream_map([(150, b"x" * 10)])
    empty_block = bytes((5, 10)) + struct.pack("!II", 5110, 5140)  # offsets 110-140: M = 0, 0
    assert rewrite_options(empty_block, 100, 5100, peer) == NOP * 10
    two = bytes((5, 18)) + struct.pack("!IIII", 5110, 5140, 5100, 5150)
    assert rewrite_options(two, 100, 5100, peer) == (
        bytes((5, 10)) + struct.pack("!II", 5000, 5010) + NOP * 8
    )
    assert rewrite_options(empty_block, NO_OFFSET, 5100, peer) == NOP * 10


@fuzz_settings
@given(st.binary(max_size=40), st.integers(-(2**40), 2**40), st.integers(0, 2**32 - 1))
def test_rewrite_options_never_raises_and_keeps_the_length(
    options: bytes, ack_offset: int, ack: int
) -> None:
    peer = stream_map([(150, b"x" * 10)])
    assert len(rewrite_options(options, ack_offset, ack, peer)) == len(options)


# -- whole captures -------------------------------------------------------------------------


def run(tmp_path: Path, cap: Capture, keylog: str) -> tuple[list[TcpPacket], RewriteStats]:
    source = tmp_path / "in.pcap"
    target = tmp_path / "out.pcap"
    cap.write(str(source))
    stats, result = decrypt_capture(source, target, keylog=KeyLog.parse(keylog))
    assert not result.capture_errors
    packets = list(read_packets(target))
    for pkt in packets:
        check_checksums(pkt)
    return packets, stats


def check_checksums(pkt: TcpPacket) -> None:
    """IPv4 header and TCP checksums verify (RFC 1071: the sum over the data with the
    checksum in place is 0xFFFF, so the loop's complement is 0)."""
    frame = pkt.frame
    ip = frame[pkt.ip_offset : pkt.tcp_offset]
    assert ones_sum_checksum(ip) == 0
    tcp = frame[pkt.tcp_offset : pkt.payload_offset] + pkt.payload
    assert struct.unpack_from("!H", ip, 2)[0] == len(ip) + len(tcp)
    pseudo = packed(pkt.src) + packed(pkt.dst) + struct.pack("!BBH", 0, 6, len(tcp))
    assert ones_sum_checksum(pseudo + tcp) == 0


def options_kinds(options: bytes) -> list[int]:
    kinds, i = [], 0
    while i < len(options) and options[i] != 0:
        kinds.append(options[i])
        i += 1 if options[i] == 1 else options[i + 1]
    return kinds


def test_frame_spanning_segments_is_put_in_the_last_one(tmp_path: Path) -> None:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn)
    conn.handshake()
    sess.inits()
    request = b"GET /big HTTP/1.1\r\n\r\n" + b"a" * 2979  # 3000 bytes
    response = b"HTTP/1.1 200 OK\r\n\r\nok"
    sess.frame(C, request, fin=True)  # 3020 bytes on the wire: control, clen, flags, tag
    sess.frame(S, response, fin=True)
    init_c, init_s = sess.init_len[C], sess.init_len[S]
    conn.data(C, 0, init_c)  # Init1 alone: left out
    conn.data(S, 0, init_s)
    conn.send_all(C, init_c, mss=1000)  # 1000, 1000, 1000, 20: the frame ends in the 4th
    conn.send_all(S, init_s)
    conn.close()
    packets, stats = run(tmp_path, cap, sess.keylog())

    assert stats.flows == [1] and stats.frames == 2 and stats.undecrypted == 0
    # Out: SYN, SYN-ACK, ACK, the request's last segment, the response, FIN, FIN, ACK.
    data = [(p.src, p.seq, p.ack, p.flags, p.payload) for p in packets if p.payload]
    assert data == [
        ("10.0.0.1", C_ISN + 1, S_ISN + 1, ACK | PSH, request),
        ("10.0.0.2", S_ISN + 1, C_ISN + 1 + 3000, ACK | PSH, response),
    ]
    assert stats.dropped == 2 + 3  # the Init segments, and three pieces of the frame
    assert len(packets) == 8
    fins = [(p.src, p.seq, p.ack) for p in packets if p.flags & 0x01]
    assert fins == [
        ("10.0.0.1", C_ISN + 1 + 3000, S_ISN + 1 + len(response)),
        ("10.0.0.2", S_ISN + 1 + len(response), C_ISN + 1 + 3000 + 1),
    ]
    last = packets[-1]  # (the builder's last ACK repeats its FIN's sequence number)
    assert (last.seq, last.ack) == (C_ISN + 1 + 3000, S_ISN + 1 + len(response) + 1)
    # SYNs keep their ISNs; no ENO option is left (RFC 8547 kind 69).
    assert [(p.seq, p.flags) for p in packets[:2]] == [(C_ISN, SYN), (S_ISN, SYN | ACK)]
    assert all(69 not in options_kinds(p.options) for p in packets)
    assert packets[0].options[:3] == NOP * 3  # the SYN's 45 03 23


def test_more_data_than_a_datagram_holds_is_split(tmp_path: Path) -> None:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn)
    conn.handshake()
    sess.inits()
    first, second = b"1" * 40000, b"2" * 40000
    start = sess.frame(S, first)[0]
    end = sess.frame(S, second, fin=True)[1]
    sess.frame(C, b"GET / HTTP/1.1\r\n\r\n", fin=True)
    conn.data(C, 0, sess.init_len[C])
    conn.send_all(C, sess.init_len[C])
    conn.data(S, 0, start)  # Init2
    conn.data(S, start, start + 30000)  # most of the first frame
    conn.data(S, start + 30000, end)  # its end and all of the second: 80,000 bytes out
    conn.close()
    packets, stats = run(tmp_path, cap, sess.keylog())
    out = [p for p in packets if p.src == "10.0.0.2" and p.payload]
    assert stats.split == 1
    room = 65535 - 20 - 20  # RFC 791 Total Length, less the IPv4 and TCP headers
    assert [len(p.payload) for p in out] == [room, 80000 - room]
    assert out[1].seq == out[0].seq + len(out[0].payload)
    assert not out[0].flags & PSH and out[1].flags & PSH
    assert out[0].payload + out[1].payload == first + second


def test_other_connections_are_copied_byte_for_byte(tmp_path: Path) -> None:
    cap, _conn, sess = fresh_rfc()
    plain = cap.conn(client=("10.0.0.3", 40001), isn=(7, 70))
    plain.handshake(b"", b"", b"")
    plain.streams[C].extend(b"plain request")
    plain.send_all(C)
    plain.close()
    source = tmp_path / "in.pcap"
    cap.write(str(source))
    stats, _ = decrypt_capture(source, tmp_path / "out.pcap", keylog=KeyLog.parse(sess.keylog()))
    before = [p.frame for p in read_packets(source) if p.src == "10.0.0.3" or p.dst == "10.0.0.3"]
    after = [
        p.frame
        for p in read_packets(tmp_path / "out.pcap")
        if p.src == "10.0.0.3" or p.dst == "10.0.0.3"
    ]
    assert stats.flows == [1]
    assert after == before and len(before) == 7


def test_without_the_key_nothing_is_rewritten(tmp_path: Path) -> None:
    cap, _conn, _sess = fresh_rfc()
    source = tmp_path / "in.pcap"
    cap.write(str(source))
    other = "TCPCRYPT_SS_INIT1 " + "00" * 32 + " " + "11" * 32 + "\n"
    stats, result = decrypt_capture(source, tmp_path / "out.pcap", keylog=KeyLog.parse(other))
    assert stats.flows == [] and result.flows[0].tcpcrypt is not None
    assert (tmp_path / "out.pcap").read_bytes() == source.read_bytes()


def test_a_truncated_capture_gives_what_was_read(tmp_path: Path) -> None:
    cap, _conn, sess = fresh_rfc()
    whole = cap.pcap()
    source = tmp_path / "in.pcap"
    source.write_bytes(whole[:-10])  # the last record cut
    stats, result = decrypt_capture(
        source, tmp_path / "out.pcap", keylog=KeyLog.parse(sess.keylog())
    )
    assert result.capture_errors and "truncated" in str(result.capture_errors[0])
    assert stats.records == len(list(read_packets(io.BytesIO(whole)))) - 1
    packets = list(read_packets(tmp_path / "out.pcap"))
    assert any(p.payload == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" for p in packets)


def test_eno_ack_option_on_data_segments_is_blanked(tmp_path: Path) -> None:
    cap, _conn, sess = fresh_rfc()
    packets, _ = run(tmp_path, cap, sess.keylog())
    assert all(ENO_ACK not in p.options for p in packets)


def test_ipv6_payload_length_and_checksum(tmp_path: Path) -> None:
    cap, _conn, sess = fresh_rfc(
        conn_kw={"client": ("2001:db8::1", 40000), "server": ("2001:db8::2", 80)}
    )
    source = tmp_path / "in.pcap"
    cap.write(str(source))
    decrypt_capture(source, tmp_path / "out.pcap", keylog=KeyLog.parse(sess.keylog()))
    packets = list(read_packets(tmp_path / "out.pcap"))
    assert {p.ip_version for p in packets} == {6}
    for pkt in packets:
        frame = pkt.frame
        tcp = frame[pkt.tcp_offset : pkt.payload_offset] + pkt.payload
        # RFC 8200 §3: payload length; §8.1: the pseudo-header for the checksum.
        assert struct.unpack_from("!H", frame, pkt.ip_offset + 4)[0] == len(tcp)
        pseudo = packed(pkt.src) + packed(pkt.dst) + struct.pack("!IxxxB", len(tcp), 6)
        assert ones_sum_checksum(pseudo + tcp) == 0
    request = b"".join(p.payload for p in packets if p.dport == 80)
    assert request == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_acks_of_bytes_that_map_to_nothing_are_left_out(tmp_path: Path) -> None:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn)
    conn.handshake()
    sess.inits()
    response = b"r" * 3000
    sess.frame(C, b"GET / HTTP/1.1\r\n\r\n", fin=True)
    sess.frame(S, response, fin=True)
    conn.data(C, 0, sess.init_len[C])
    conn.send_all(C, sess.init_len[C])
    init2 = sess.init_len[S]
    cuts = [0, init2, init2 + 1000, init2 + 2000, len(conn.streams[S])]
    for start, end in itertools.pairwise(cuts):
        conn.data(S, start, end)
        conn.segment(C, ACK)  # a pure ACK of each server segment
    conn.segment(C, ACK)  # and a real duplicate ACK: the same number again
    conn.close()
    packets, _ = run(tmp_path, cap, sess.keylog())
    acks = [p.ack for p in packets if p.src == "10.0.0.1" and not p.payload and p.flags == ACK]
    # The handshake's ACK, the ACK of the whole response (after its last piece), the
    # duplicate, and the last ACK: the ones of Init2 and of the first pieces are gone.
    done = S_ISN + 1 + len(response)
    assert acks == [S_ISN + 1, done, done, done + 1]
