"""One capture split across worker processes by connection (``tcpinc analyze --jobs N`` on a
lone capture): the same bytes as one process, whatever the number of shares, with flow ids
renumbered as one flow table numbers them, connections handed out in the same order, and
expiry checks run at the same packets."""

from __future__ import annotations

import io
import ipaddress
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis import to_json_document
from tcpinc_tools.analysis.hashsplit import (
    SplitWorkerError,
    _Workers,
    analyze_split,
    flow_share,
    packet_record,
    record_packet,
)
from tcpinc_tools.analysis.parallel import TaskOptions, analyze_task, make_tasks
from tcpinc_tools.capture.expiry import LINGER
from tcpinc_tools.capture.reader import read_packets
from tests.integration.parallel.conftest import Big
from tests.support import property_settings
from tests.unit.analysis.builder import ACK, SYN, C, Capture, fresh_rfc
from tests.unit.commands.clirun import tcpinc


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
