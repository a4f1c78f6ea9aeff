"""analyze_streaming: the same analysis as analyze_capture, each closed connection handed
out once it has been quiet for LINGER seconds of capture time, not at the end."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.analysis.streaming import StreamingAnalyzer, analyze_streaming
from tcpinc_tools.capture.expiry import LINGER
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.keylog import KeyLog
from tests.unit.analysis.builder import Capture, fresh_rfc

CAPTURES = Path(__file__).resolve().parents[3] / "captures"


def two_apart(gap: float) -> tuple[Capture, str]:
    """Two fresh sessions, the second starting ``gap`` seconds after the first ended."""
    cap, _, sess = fresh_rfc()
    cap.t += gap
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.1", 40001)}, seed=2)
    return cap, sess.keylog()


@pytest.mark.parametrize("name", ["resume", "many-16", "lossy", "attack-resume-replay"])
def test_same_document_as_analyze_capture(name: str) -> None:
    path = CAPTURES / f"{name}.pcap"
    keylog = KeyLog.load(path.with_suffix(".keys"))
    whole = analyze_capture(path, keylog=keylog, payload=True)
    streamed = analyze_streaming(path, keylog=keylog, payload=True)
    assert to_json_document([streamed]) == to_json_document([whole])


def test_closed_connection_comes_out_while_the_capture_is_read() -> None:
    cap, keys = two_apart(LINGER + 10)
    analyzer = StreamingAnalyzer(KeyLog.parse(keys))
    packets = list(read_packets(io.BytesIO(cap.pcap())))
    first_of_second = next(p.number for p in packets if p.sport == 40001)
    out: list[tuple[int, int]] = []
    for pkt in packets:
        analyzer.feed(pkt)
        out += [(pkt.number, flow.id) for flow in analyzer.take_finished()]
    # Flow 1 ends at the first packet of flow 2 (LINGER + 10 s later), not at the end.
    assert out == [(first_of_second, 1)]
    rest = analyzer.finish()
    assert [f.id for f in rest.flows] == [2]


def test_connections_close_together_stay_to_the_end() -> None:
    cap, keys = two_apart(1.0)
    seen: list[int] = []
    result = analyze_streaming(
        io.BytesIO(cap.pcap()), keylog=KeyLog.parse(keys), on_flow=lambda f: seen.append(f.id)
    )
    assert seen == [1, 2] and [f.id for f in result.flows] == [1, 2]


def test_keep_flows_false_keeps_only_summaries() -> None:
    cap, keys = two_apart(LINGER + 1)
    seen: list[int] = []
    result = analyze_streaming(
        io.BytesIO(cap.pcap()),
        keylog=KeyLog.parse(keys),
        on_flow=lambda f: seen.append(f.id),
        keep_flows=False,
    )
    assert seen == [1, 2] and result.flows == []
    assert [s.flow for s in result.summaries] == [1, 2]


def test_a_capture_error_still_hands_out_what_was_read(tmp_path: Path) -> None:
    cap, keys = two_apart(1.0)
    data = cap.pcap()
    seen: list[int] = []
    result = analyze_streaming(
        io.BytesIO(data[:-5]), keylog=KeyLog.parse(keys), on_flow=lambda f: seen.append(f.id)
    )
    assert seen == [1, 2]
    assert result.capture.error is not None and "truncated" in result.capture.error
    missing = analyze_streaming(tmp_path / "none.pcap")
    assert missing.flows == [] and "no such file" in str(missing.capture_errors[0])
