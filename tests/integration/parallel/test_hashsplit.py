"""One capture split across processes by connection (``tcpinc analyze --jobs N`` on a lone
capture): the same bytes as one process, whatever the number of shares, with flow ids
renumbered as one flow table numbers them, connections handed out in the same order, and
expiry checks run at the same packets; whether every process reads the file (a path) or
this one reads it and feeds the workers (standard input, a pipe). A process that reads the
file picks its share from the raw headers: that share is the decoded packet's, for every
packet of every capture of captures/, over IPv4 and IPv6."""

from __future__ import annotations

import io
import ipaddress
import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis import hashsplit, to_json_document
from tcpinc_tools.analysis.hashsplit import (
    SplitWorkerError,
    _Workers,
    analyze_split,
    flow_share,
    packet_record,
    record_packet,
)
from tcpinc_tools.analysis.parallel import CaptureOutcome, TaskOptions, analyze_task, make_tasks
from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.capture.expiry import LINGER
from tcpinc_tools.capture.framing import Record, open_records
from tcpinc_tools.capture.packet import FrameDecoder, endpoint_share, frame_share
from tcpinc_tools.capture.reader import CaptureReader, read_packets
from tests.integration.parallel.conftest import Big
from tests.support import fuzz_settings, property_settings
from tests.unit.analysis.builder import ACK, SYN, C, Capture, fresh_rfc
from tests.unit.capture import handmade as hm
from tests.unit.commands.clirun import tcpinc

ROOT = Path(__file__).resolve().parents[3]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))


@pytest.mark.parametrize("mode", [("--json",), ("--jsonl",), ()])
def test_split_writes_the_bytes_of_one_process(
    capsys: pytest.CaptureFixture[str], big: Big, mode: tuple[str, ...]
) -> None:
    args = ("analyze", big.path, "--keylog", big.keys, *mode)
    one = tcpinc(capsys, *args, "--jobs", "1")
    assert one.status == 0 and len(one.out) > 10_000
    for jobs in ("2", "3"):
        split = tcpinc(capsys, *args, "--jobs", jobs)
        assert (split.status, split.out, split.err) == (one.status, one.out, one.err)


def test_split_outcome_equals_the_one_process_outcome(big: Big) -> None:
    options = TaskOptions.with_keylog(str(big.keys), payload=True)
    serial = analyze_task(make_tasks([str(big.path)])[0], options)
    split = analyze_split(str(big.path), shares=2, options=options)
    assert serial.result.capture.stats.packets > 3000
    assert len(serial.handed_out) == 400
    # The order flows are handed out in, flow by flow, findings and all.
    assert split.handed_out == serial.handed_out
    assert split.result.flows == serial.result.flows
    assert split.result.summaries == serial.result.summaries
    assert split.result.cross == serial.result.cross
    assert split.result.findings == serial.result.findings
    assert split.result.capture == serial.result.capture


def reuse_and_expiry() -> bytes:
    """Twelve sessions on distinct port pairs; then, within the linger, a new connection on
    the port pair of the fourth (port reuse: its message names that flow); much later the
    SYN of a connection that never closes (its expiry check ends the closed ones, in every
    share), then a stray segment of the first (a flow of its own), and three sessions."""
    cap = Capture(step=0.2)
    conns = [
        fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.1", 40000 + i)}, seed=i)[1]
        for i in range(12)
    ]
    cap.t += 1.0
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.1", 40003), "isn": (7777, 99999)}, seed=20)
    cap.t += LINGER + 5
    cap.conn(client=("10.0.0.9", 50000)).segment(C, SYN)
    conns[0].segment(C, ACK)
    for i in range(3):
        cap.t += 0.7
        fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.2", 41000 + i)}, seed=30 + i)
    return cap.pcap()


@pytest.mark.parametrize("shares", [2, 3, 5])
def test_port_reuse_and_expiry_as_one_process(tmp_path: Path, shares: int) -> None:
    path = tmp_path / "reuse.pcap"
    path.write_bytes(reuse_and_expiry())
    options = TaskOptions()
    serial = analyze_task(make_tasks([str(path)])[0], options)
    split = analyze_split(str(path), shares=shares, options=options)
    reuse = [
        f for flow in serial.result.flows for f in flow.findings if f.id == "tcp.flow.port_reuse"
    ]
    assert [f.flow for f in reuse] == [13] and "port pair of flow 4 (closed)" in reuse[0].message
    stray = serial.result.flows[14]
    assert (stray.id, stray.client, stray.packets) == (15, ("10.0.0.1", 40000), 1)
    # Flow 4 ended at the reuse, the closed ones at the check after flow 14's SYN, the
    # rest at the end.
    assert [f.id for f in serial.handed_out] == [4, 1, 2, 3, *range(5, 19)]
    assert split.handed_out == serial.handed_out
    doc = to_json_document([serial.result])
    assert to_json_document([split.result]) == doc


def test_split_of_a_capture_cut_short(tmp_path: Path, big: Big) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(big.path.read_bytes()[:150_000])
    options = TaskOptions.with_keylog(str(big.keys))
    serial = analyze_task(make_tasks([str(cut)])[0], options)
    split = analyze_split(str(cut), shares=2, options=options)
    assert serial.result.capture.error is not None
    assert split.result.capture == serial.result.capture
    assert [str(e) for e in split.result.capture_errors] == [
        str(e) for e in serial.result.capture_errors
    ]
    assert split.handed_out == serial.handed_out
    assert to_json_document([split.result]) == to_json_document([serial.result])


def test_split_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, big: Big
) -> None:
    data = big.path.read_bytes()
    outs = []
    for jobs in ("1", "2"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        run = tcpinc(capsys, "analyze", "-", "--keylog", big.keys, "--jsonl", "--jobs", jobs)
        assert run.status == 0
        outs.append(run.out)
    assert outs[0] == outs[1]


addresses = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: str(ipaddress.ip_address(a)))
)
ports = st.integers(0, 65535)


@property_settings
@given(addresses, ports, addresses, ports, st.integers(1, 16))
def test_flow_share_is_symmetric(src: str, sport: int, dst: str, dport: int, n: int) -> None:
    share = flow_share(src, sport, dst, dport, n)
    assert share == flow_share(dst, dport, src, sport, n)
    assert 0 <= share < n


def test_flow_share_spreads_connections() -> None:
    counts = [0, 0]
    for port in range(1000):
        counts[flow_share("192.0.2.1", 40000 + port, "198.51.100.1", 80, 2)] += 1
    assert min(counts) > 400
    thirds = [0, 0, 0]
    for port in range(900):
        thirds[flow_share("2001:db8::1", 50000 + port, "2001:db8:1::2", 443, 3)] += 1
    assert min(thirds) > 250


def test_flow_share_is_a_crc32_of_the_endpoints_in_order() -> None:
    # 192.0.2.1:40000 is c0000201 9c40, 198.51.100.2:443 is c6336402 01bb; the smaller
    # endpoint (by bytes) first.
    key = bytes.fromhex("c00002019c40c633640201bb")
    for n in (1, 2, 3, 16):
        expected = zlib.crc32(key) % n
        assert flow_share("192.0.2.1", 40000, "198.51.100.2", 443, n) == expected
        assert flow_share("198.51.100.2", 443, "192.0.2.1", 40000, n) == expected
        a, b = bytes.fromhex("c633640201bb"), bytes.fromhex("c00002019c40")
        assert endpoint_share(a, b, n) == endpoint_share(b, a, n) == expected
    key6 = bytes.fromhex("20010db80000000000000000000000010050")
    key6 += bytes.fromhex("20010db8000000000000000000000002c350")
    assert flow_share("2001:db8::2", 50000, "2001:db8::1", 80, 7) == zlib.crc32(key6) % 7


def test_records_carry_what_the_analysis_reads(big: Big) -> None:
    for pkt in list(read_packets(str(big.path)))[:200]:
        back = record_packet(packet_record(pkt))
        assert back == pkt._replace(tcp_offset=0, frame=b"", ip_offset=0, linktype=1, wire_len=0)


def test_a_worker_that_fails_or_dies_is_an_error() -> None:
    workers = _Workers(2, TaskOptions(), 0)
    try:
        workers.send(0, [(1, 2.0, 3)])  # type: ignore[list-item]  # not a record
        workers.send(0, None)
        workers.send(1, None)
        with pytest.raises(SplitWorkerError, match=r"^worker 0 failed: \w+Error: ") as info:
            workers.results()
        assert "\n" not in str(info.value) and "Traceback" in (info.value.detail or "")
    finally:
        workers.close()
    workers = _Workers(1, TaskOptions(), 0)
    try:
        workers.processes[0].kill()
        workers.processes[0].join()
        with pytest.raises(SplitWorkerError, match=r"worker 0 died \(exit code -9\)"):
            workers.send(0, None)
            workers.results()
    finally:
        workers.close()


def test_split_worker_error_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, big: Big
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise SplitWorkerError("worker 1 died (exit code -9)")

    monkeypatch.setattr("tcpinc_tools.commands.analyze.analyze_split", broken)
    run = tcpinc(capsys, "analyze", big.path, "--jobs", "2", "--json")
    assert (run.status, run.out) == (2, "")
    assert run.err == "tcpinc analyze: worker 1 died (exit code -9)\n"


def test_a_reading_worker_that_fails_or_dies_is_an_error(tmp_path: Path, big: Big) -> None:
    # This process reads share 0; the workers the others, each from the file itself.
    missing = TaskOptions(keylog=str(tmp_path / "missing.keys"))
    workers = _Workers(2, missing, 0, path=str(big.path))
    try:
        assert workers.shares == [1] and not workers.inboxes
        workers.processes[0].join(60)
        with pytest.raises(SplitWorkerError, match=r"^worker 1 failed: \S*KeyLogError: ") as info:
            workers.check()  # what this process does while it reads its own share
        assert "\n" not in str(info.value) and "Traceback" in (info.value.detail or "")
    finally:
        workers.close(abort=True)
    workers = _Workers(3, TaskOptions(), 0, path=str(big.path))
    try:
        assert workers.shares == [1, 2]
        workers.processes[1].kill()
        workers.processes[1].join()
        with pytest.raises(SplitWorkerError, match=r"^worker 2 died \(exit code -9\)$"):
            workers.results()
    finally:
        workers.close(abort=True)


# -- the share of a frame, from its raw headers ---------------------------------------------


def records(path: Path) -> Iterator[Record]:
    with path.open("rb") as stream:
        _format, found, _position = open_records(stream, str(path))
        yield from found


def v6(address: str) -> str:
    return str(ipaddress.IPv6Address(f"2001:db8::{address}"))


def as_ipv6(path: Path, out: Path) -> Path:
    """The capture at ``path`` with each TCP segment carried over IPv6 (2001:db8::a.b.c.d for
    a.b.c.d); every third one behind an 802.1Q tag and a hop-by-hop options header."""
    frames = []
    for pkt in read_packets(str(path)):
        tcp = pkt.frame[pkt.tcp_offset : pkt.payload_offset + len(pkt.payload)]
        src, dst = v6(pkt.src), v6(pkt.dst)
        if pkt.number % 3:
            frame = hm.ethernet(hm.ipv6(src, dst, tcp), 0x86DD)
        else:
            ip = hm.ipv6(src, dst, hm.ext_header(6) + tcp, next_header=0)
            frame = hm.ethernet(ip, 0x86DD, vlans=(0x8100,))
        frames.append((pkt.ts, frame))
    out.write_bytes(hm.pcap_file(frames))
    return out


@pytest.fixture(scope="module")
def v6_captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("v6")
    return [as_ipv6(path, base / path.name) for path in CAPTURES]


def test_the_share_of_the_raw_headers_is_the_share_of_the_decoded_packet(
    v6_captures: list[Path],
) -> None:
    assert len(CAPTURES) >= 30
    checked = {4: 0, 6: 0}
    for path in [*CAPTURES, *v6_captures]:
        full, split = FrameDecoder(), FrameDecoder()
        for number, (ts, linktype, frame, wire_len) in enumerate(records(path), start=1):
            pkt = full.decode(frame, linktype, number, ts, wire_len)
            where = split.locate(frame, linktype)
            if pkt is None or where is None:
                assert pkt is None and where is None
                continue
            built = split.packet(frame, where, number, ts, linktype=linktype, wire_len=wire_len)
            assert built == pkt
            for n in (2, 3, 7):
                share = flow_share(pkt.src, pkt.sport, pkt.dst, pkt.dport, n)
                assert frame_share(frame, where, n) == share
            checked[pkt.ip_version] += 1
        assert split.stats == full.stats
    assert checked[4] > 1000 and checked[6] == checked[4]


@pytest.mark.parametrize("shares", [2, 3])
def test_every_share_sees_every_packet_and_builds_its_own(
    v6_captures: list[Path], shares: int
) -> None:
    for path in [*CAPTURES[::4], *v6_captures[::4]]:
        plain = CaptureReader(str(path))
        packets = list(plain)
        built = []
        for share in range(shares):
            reader = CaptureReader(str(path))
            seen = list(reader.split(share, shares))
            assert [(number, ts) for number, ts, _pkt in seen] == [
                (p.number, p.ts) for p in packets
            ]
            mine = [pkt for _number, _ts, pkt in seen if pkt is not None]
            assert mine == [
                p for p in packets if flow_share(p.src, p.sport, p.dst, p.dport, shares) == share
            ]
            assert (reader.format, reader.stats, reader.position) == (
                plain.format,
                plain.stats,
                plain.position,
            )
            built += mine
        assert sorted(p.number for p in built) == [p.number for p in packets]


# Frames of every link type the decoder knows, to mutate: (link type, frame).
_SEG4 = hm.tcp_segment("192.0.2.1", "198.51.100.2", 40000, 443, 1, options=b"\x01" * 4)
_SEG6 = hm.tcp_segment("2001:db8::1", "2001:db8::2", 40000, 443, 1, payload=b"hi")
_IP4 = hm.ipv4("192.0.2.1", "198.51.100.2", _SEG4)
_IP6 = hm.ipv6("2001:db8::1", "2001:db8::2", _SEG6)
_IP6_EXT = hm.ipv6("2001:db8::1", "2001:db8::2", hm.ext_header(6, 1) + _SEG6, next_header=60)
SEEDS = [
    (1, hm.ethernet(_IP4, 0x0800)),
    (1, hm.ethernet(_IP6_EXT, 0x86DD, vlans=(0x88A8, 0x8100))),
    (113, hm.sll(_IP4, 0x0800)),
    (276, hm.sll2(_IP6, 0x86DD)),
    (101, _IP6),
    (228, _IP4),
    (0, struct.pack("<I", 2) + _IP4),
    (108, struct.pack(">I", 24) + _IP6),
    (147, _IP4),  # a link type the decoder does not know
]


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, bytes]:
    """A seed frame with a few bytes changed and perhaps cut short, or random bytes."""
    if draw(st.booleans()):
        return draw(st.sampled_from([lt for lt, _ in SEEDS])), draw(st.binary(max_size=120))
    linktype, seed = draw(st.sampled_from(SEEDS))
    frame = bytearray(seed)
    for _ in range(draw(st.integers(0, 3))):
        frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
    return linktype, bytes(frame[: draw(st.integers(0, len(frame)))])


@fuzz_settings
@given(frames(), st.integers(1, 9))
def test_locating_a_frame_agrees_with_decoding_it(frame: tuple[int, bytes], n: int) -> None:
    linktype, data = frame
    full, split = FrameDecoder(), FrameDecoder()
    pkt = full.decode(data, linktype, 1, 0.5, len(data))
    where = split.locate(data, linktype)
    assert split.stats == full.stats
    if pkt is None or where is None:
        assert pkt is None and where is None
        return
    assert split.packet(data, where, 1, 0.5, linktype=linktype, wire_len=len(data)) == pkt
    assert frame_share(data, where, n) == flow_share(pkt.src, pkt.sport, pkt.dst, pkt.dport, n)


# -- every way in gives the bytes of one process ---------------------------------------------


def documents(*outcomes: CaptureOutcome) -> list[object]:
    return [(o.handed_out, to_json_document([o.result]), o.result.capture_errors) for o in outcomes]


@pytest.mark.parametrize("name", ["many-16.pcap", "resume.pcap", "lossy.pcap", "rekey.pcap"])
def test_split_over_ipv6_as_one_process(v6_captures: list[Path], name: str) -> None:
    (path,) = [p for p in v6_captures if p.name == name]
    options = TaskOptions.with_keylog(str(ROOT / "captures" / name.replace(".pcap", ".keys")))
    serial = analyze_task(make_tasks([str(path)])[0], options)
    assert serial.result.capture.stats.ipv6 > 10 and serial.result.flows
    for shares in (2, 3):
        split = analyze_split(str(path), shares=shares, options=options)
        assert documents(split) == documents(serial)


def test_a_capture_file_is_read_by_every_process(monkeypatch: pytest.MonkeyPatch, big: Big) -> None:
    def fed(*args: object) -> None:
        raise AssertionError("a capture file is not read by this process for the others")

    monkeypatch.setattr(hashsplit, "_distribute", fed)
    options = TaskOptions.with_keylog(str(big.keys))
    serial = analyze_task(make_tasks([str(big.path)])[0], options)
    split = analyze_split(big.path, shares=2, options=options)  # a path-like object too
    assert documents(split) == documents(serial)


def test_a_file_object_and_a_named_pipe_are_read_once_here(tmp_path: Path, big: Big) -> None:
    options = TaskOptions.with_keylog(str(big.keys))
    serial = analyze_task(make_tasks([str(big.path)])[0], options)
    with big.path.open("rb") as stream:
        fed = analyze_split(stream, shares=2, options=options)
    assert fed.result.capture.size is None  # not a path: no size, as in a one-process run
    fed.result.capture = serial.result.capture
    assert documents(fed) == documents(serial)
    # A path that is not a regular file (tcpdump -w into a FIFO, <(...)): read by this
    # process alone, as standard input is.
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)
    data = big.path.read_bytes()
    runs = []
    for shares in (1, 2):
        writer = threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True)
        writer.start()
        if shares == 1:
            runs.append(analyze_task(make_tasks([str(fifo)])[0], options))
        else:
            runs.append(analyze_split(str(fifo), shares=2, options=options))
        writer.join(30)
    assert runs[0].result.capture.stats == serial.result.capture.stats
    assert documents(runs[1]) == documents(runs[0])


def test_progress_is_what_one_process_reports(tmp_path: Path, big: Big) -> None:
    # The big capture three times over, a day apart: about 10,500 packets.
    longer = tmp_path / "longer.pcap"
    with CaptureWriter(longer) as writer:
        for day in range(3):
            for ts, _linktype, frame, wire_len in records(big.path):
                writer.write_frame(ts + day * 86_400, frame, wire_len=wire_len)
    options = TaskOptions.with_keylog(str(big.keys))
    serial: list[tuple[int, int]] = []
    reference = analyze_streaming(
        str(longer),
        keylog=None,
        progress=_into(serial),
    )
    assert reference.capture.stats.tcp > 2 * 4096 and len(serial) == 3
    size = longer.stat().st_size
    assert serial[-1] == (size, size) and serial[0][0] < serial[1][0] < size
    for shares in (2, 3):
        split: list[tuple[int, int]] = []
        outcome = analyze_split(str(longer), shares=shares, options=options, progress=_into(split))
        assert split == serial
        assert documents(outcome) == documents(analyze_task(make_tasks([str(longer)])[0], options))


def _into(calls: list[tuple[int, int]]) -> Callable[[int, int], None]:
    return lambda done, total: calls.append((done, total))
