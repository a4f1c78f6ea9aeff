"""The plain TCP facts against tshark, read through pyshark: how many connections
(``tcp.stream``), between which endpoints, and how many packets each, on every committed
capture and on a larger generated one."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import pyshark
import pytest

from tcpinc_tools.analysis.report import endpoint_text
from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.sim.scenarios import generate

CAPTURES = Path(__file__).resolve().parents[3] / "captures"
PCAPS = sorted(CAPTURES.glob("*.pcap"))

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

Facts = list[tuple[tuple[str, str], int]]


def tshark_facts(path: Path) -> Facts:
    """Per tcp.stream, in stream order: its two endpoints (sorted) and its packets."""
    capture = pyshark.FileCapture(str(path), display_filter="tcp", keep_packets=False)
    packets: collections.Counter[int] = collections.Counter()
    ends: dict[int, tuple[str, str]] = {}
    try:
        for pkt in capture:
            stream = int(pkt.tcp.stream)
            packets[stream] += 1
            ip = pkt.ip if hasattr(pkt, "ip") else pkt.ipv6
            src = endpoint_text((ip.src, int(pkt.tcp.srcport)))
            dst = endpoint_text((ip.dst, int(pkt.tcp.dstport)))
            a, b = sorted((src, dst))
            ends.setdefault(stream, (a, b))
    finally:
        capture.close()
    return [(ends[s], packets[s]) for s in sorted(packets)]


def our_facts(path: Path) -> Facts:
    result = analyze_streaming(path)
    assert not result.capture_errors
    out: Facts = []
    for flow in result.flows:
        a, b = sorted((endpoint_text(flow.client), endpoint_text(flow.server)))
        out.append(((a, b), flow.packets))
    return out


@pytest.mark.parametrize("path", PCAPS, ids=[p.stem for p in PCAPS])
def test_streams_and_packet_counts_match(path: Path) -> None:
    assert our_facts(path) == tshark_facts(path)


def test_a_larger_mixed_capture(tmp_path: Path) -> None:
    path = tmp_path / "many.pcap"
    with CaptureWriter(path) as writer:
        summary = generate("many", writer, seed=7, count=150, ipv6=True)
    ours = our_facts(path)
    assert len(ours) == 150 and sum(n for _, n in ours) == summary.packets
    assert ours == tshark_facts(path)
