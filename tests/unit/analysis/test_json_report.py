"""JsonReport: the ``--json`` document of flows handed out one at a time, held on disk.

The reference is :func:`to_json_document` of the same analyses with their flows kept,
written by the standard library's ``json.dumps(..., indent=2)``.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.analysis.jsontext import dumps_json
from tcpinc_tools.analysis.model import AnalysisResult, FlowResult
from tcpinc_tools.analysis.report import JsonReport
from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.keylog import KeyLog

CAPTURES = sorted((Path(__file__).resolve().parents[3] / "captures").glob("*.pcap"))


def keylog_of(path: Path) -> KeyLog | None:
    keys = path.with_suffix(".keys")
    return KeyLog.load(keys) if keys.exists() else None


def handed_out(path: Path, capture: int, report: JsonReport) -> AnalysisResult:
    """Analyze ``path`` as ``tcpinc analyze --json`` does: every flow to the report as it
    finishes, none kept."""
    flows: list[FlowResult] = []

    def on_flow(flow: FlowResult) -> None:
        flows.append(flow)
        report.flow(capture, flow)

    result = analyze_streaming(
        path, keylog=keylog_of(path), payload=True, capture=capture, on_flow=on_flow,
        keep_flows=False,
    )  # fmt: skip
    assert result.flows == []
    report.capture(capture, result, len(flows))
    return result


def kept(path: Path, capture: int = 0) -> AnalysisResult:
    return analyze_streaming(path, keylog=keylog_of(path), payload=True, capture=capture)


def test_each_capture_as_the_document_of_its_kept_flows() -> None:
    assert len(CAPTURES) >= 30
    for path in CAPTURES:
        with closing(JsonReport()) as report:
            handed_out(path, 0, report)
            expected = json.dumps(to_json_document([kept(path)]), indent=2)
            assert dumps_json(report.document()) == expected, path.name


def test_several_captures_done_in_any_order() -> None:
    """Captures may finish out of order (worker processes): the document is by index, and
    the cross-connection findings span them all and land on their flows."""
    order = list(reversed(range(len(CAPTURES))))
    with closing(JsonReport()) as report:
        for index in order:
            handed_out(CAPTURES[index], index, report)
        text = dumps_json(report.document())
    expected = to_json_document([kept(path, index) for index, path in enumerate(CAPTURES)])
    assert text == json.dumps(expected, indent=2)
    related = [f for f in expected["findings"] if "related" in f]
    assert related, "no cross-connection finding: the splice into flows went untested"
    flows_with_cross = {(f["capture"], f["flow"]) for f in related if f["flow"] is not None}
    assert flows_with_cross


def test_flows_a_result_still_holds_are_taken_too() -> None:
    path = next(p for p in CAPTURES if p.name == "resume.pcap")
    result = analyze_capture(path, keylog=keylog_of(path), payload=True)
    assert result.flows
    with closing(JsonReport()) as report:
        report.capture(0, result, 0)
        text = dumps_json(report.document())
    assert text == json.dumps(to_json_document([result]), indent=2)


def test_the_report_keeps_no_flow_and_closes_its_file() -> None:
    path = next(p for p in CAPTURES if p.name == "many-16.pcap")
    result = analyze_capture(path)
    spool = io.BytesIO()
    with closing(JsonReport(spool)) as report:
        before = [sys.getrefcount(flow) for flow in result.flows]
        for flow in result.flows:
            report.flow(0, flow)
        del flow  # the loop's own reference to the last one
        assert [sys.getrefcount(flow) for flow in result.flows] == before
        assert spool.tell() > 0
        report.capture(0, _without_flows(result), len(result.flows))
        first = dumps_json(report.document())
        assert dumps_json(report.document()) == first  # the file is read again, whole
    assert spool.closed
    assert first == json.dumps(to_json_document([result]), indent=2)


def test_no_flows_at_all() -> None:
    with closing(JsonReport()) as report:
        report.capture(0, analyze_capture(io.BytesIO(_empty_pcap())), 0)
        doc = json.loads(dumps_json(report.document()))
    assert doc["flows"] == [] and doc["stats"]["flows"] == 0
    assert doc["captures"][0]["flows"] == 0


def _without_flows(result: AnalysisResult) -> AnalysisResult:
    return replace(result, flows=[])


def _empty_pcap() -> bytes:
    # pcap global header (little-endian, v2.4, snaplen 65535, Ethernet), no records
    return bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
