"""The analyzer as a whole: capture files that end badly, progress, streaming, limits."""

from __future__ import annotations

import io
from pathlib import Path

from tcpinc_tools.analysis import Analyzer, analyze_capture
from tcpinc_tools.capture.flows import FlowLimits
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.keylog import KeyLog
from tests.unit.analysis.builder import ACK, SYN, C, Capture, S, fresh_rfc, ids


def two_flows() -> tuple[bytes, str]:
    cap, _, sess = fresh_rfc()
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.5", 41000)}, seed=2)
    return cap.pcap(), sess.keylog()


def test_truncated_capture_keeps_the_flows_before(tmp_path: Path) -> None:
    data, keylog = two_flows()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-30])  # the last record is cut
    result = analyze_capture(path, keylog=KeyLog.parse(keylog), payload=True)
    assert len(result.capture_errors) == 1
    error = result.capture_errors[0]
    assert "truncated" in str(error) and error.offset is not None
    assert result.capture.error == str(error) and result.capture.error_offset == error.offset
    assert [f.id for f in result.findings] == ["tcpinc.capture.error"]
    first = result.flows[0]
    assert first.eno is not None and first.eno.status == "encrypted"
    assert first.tcpcrypt is not None and first.tcpcrypt.plaintext_a_to_b == (
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert len(result.flows) == 2 and result.capture.size == len(data) - 30


def test_missing_file_and_not_a_capture(tmp_path: Path) -> None:
    result = analyze_capture(tmp_path / "nope.pcap")
    assert result.flows == [] and "no such file" in str(result.capture_errors[0])
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file")
    result = analyze_capture(junk)
    assert result.flows == [] and "not a pcap or pcapng" in str(result.capture_errors[0])
    assert result.capture.format is None


def test_progress_reports(tmp_path: Path) -> None:
    cap = Capture()
    for i in range(30):
        fresh_rfc(cap=cap, conn_kw={"client": ("10.0.1.1", 30000 + i)}, seed=i)
    path = tmp_path / "many.pcap"
    cap.write(str(path))
    calls: list[tuple[int, int]] = []
    analyze_capture(
        path, progress=lambda done, total: calls.append((done, total)), progress_every=16
    )
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    assert all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) > 10 and 0 < calls[0][0] < size


def test_pcapng_and_file_objects() -> None:
    cap, _, sess = fresh_rfc()
    result = analyze_capture(io.BytesIO(cap.pcap(fmt="pcapng")), keylog=KeyLog.parse(sess.keylog()))
    assert result.capture.format == "pcapng"
    assert result.flows[0].tcpcrypt is not None and result.flows[0].tcpcrypt.decrypted


def test_streaming_hands_out_finished_flows() -> None:
    # Two connections on one port pair: the second SYN (a new ISN) ends the first.
    cap, _, _ = fresh_rfc()
    fresh_rfc(cap=cap, conn_kw={"isn": (77777, 88888)}, seed=3)
    analyzer = Analyzer()
    handed: list[int] = []
    for pkt in read_packets(io.BytesIO(cap.pcap())):
        analyzer.feed(pkt)
        handed += [f.id for f in analyzer.take_finished()]
    assert handed == [1] and analyzer.active_flows == 1
    result = analyzer.finish()
    assert [f.id for f in result.flows] == [2]
    assert len(result.summaries) == 2 and analyzer.flows_done == 2
    assert "tcp.flow.port_reuse" in ids(result.flows[0])


def test_flow_table_limits_end_flows_early() -> None:
    cap, _, _ = fresh_rfc()
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.9", 41000)}, seed=4)
    analyzer = Analyzer(limits=FlowLimits(max_flows=1))
    analyzer.feed_all(read_packets(io.BytesIO(cap.pcap())))
    result = analyzer.finish()
    assert analyzer.flows_done >= 2
    assert any("tcp.reassembly.limit" in ids(flow) for flow in result.flows)


class _BrokenKeyLog(KeyLog):
    """A key log whose look-up fails: a bug in code the analysis calls mid-connection."""

    def ss_for_init1(self, n_a: bytes) -> bytes | None:
        raise RuntimeError("boom")


def test_an_analyzer_bug_becomes_a_finding() -> None:
    cap, _, _ = fresh_rfc()
    result = analyze_capture(io.BytesIO(cap.pcap()), keylog=_BrokenKeyLog())
    (flow,) = result.flows
    errors = [f for f in flow.findings if f.id == "tcpinc.analyzer_error"]
    assert len(errors) == 1 and "RuntimeError: boom" in errors[0].message
    assert flow.tcpcrypt is None and flow.eno is not None


def test_packets_of_unrelated_flows_interleaved() -> None:
    cap = Capture()
    a = cap.conn()
    b = cap.conn(client=("10.0.0.3", 1234), server=("10.0.0.4", 80))
    a.segment(C, SYN)
    b.segment(C, SYN)
    a.segment(S, SYN | ACK)
    b.segment(S, SYN | ACK)
    a.segment(C, ACK)
    b.segment(C, ACK)
    result = analyze_capture(io.BytesIO(cap.pcap()))
    assert [(f.id, f.packets, f.eno) for f in result.flows] == [(1, 3, None), (2, 3, None)]
    assert result.flows[0].first_packet == 1 and result.flows[1].first_packet == 2
