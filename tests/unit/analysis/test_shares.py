"""tcpinc_tools.analysis.shares: a share's result pickled by the copyreg reductions of
tcpinc_tools.records (by position) and loaded as it was; the merge's renumbering."""

from __future__ import annotations

import pickle

from tcpinc_tools.analysis.model import (
    EnoResult,
    Finding,
    FlowResult,
    FlowSummary,
    FrameDigest,
    ResumeOfferSeen,
)
from tcpinc_tools.analysis.registry import Severity
from tcpinc_tools.analysis.shares import ShareResult, dumps_result, merge_shares, renumbered
from tcpinc_tools.capture.stream import ANOMALY_PORT_REUSE

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 443)


def finding(flow: int, message: str = "m", finding_id: str = "tcpeno.vacuous") -> Finding:
    return Finding(finding_id, Severity.WARN, message, 7, flow, (0, 16), "client_to_server")


def flow(flow_id: int, *findings: Finding, eno: EnoResult | None = None) -> FlowResult:
    return FlowResult(flow_id, CLIENT, SERVER, 1.0, 2.0, 9, eno, None, findings, 10, 20, flow_id)


def summary(flow_id: int) -> FlowSummary:
    offer = ResumeOfferSeen(b"\x01" * 9, b"\x02" * 8, 0x21, "10.0.0.1", "10.0.0.2", flow_id)
    digest = FrameDigest("ab", 0, b"\x03" * 32)
    return FlowSummary(0, flow_id, flow_id, 1.0, CLIENT, SERVER, offer=offer, frames=(digest,))


def share() -> ShareResult:
    reuse = finding(
        12, "SYN with a new ISN on the port pair of flow 5 (open): x", ANOMALY_PORT_REUSE
    )
    return ShareResult(
        [flow(5, finding(5)), flow(12, reuse, finding(12, "other"))],
        [summary(5), summary(12)],
        {5: (30, 0), 12: (2**63 - 1, 0)},
    )


def test_a_result_loads_as_it_was_and_through_the_constructors_by_position() -> None:
    message = ("ok", share())
    data = dumps_result(message)
    assert pickle.loads(data) == message
    # every dataclass of it by position (the keyword form names tcpinc_tools.records._rebuild)
    assert b"_rebuild" not in data
    assert data[:2] == bytes([0x80, pickle.HIGHEST_PROTOCOL])


def test_renumbered_follows_the_ids_into_findings_and_messages() -> None:
    out = renumbered(share(), {5: 1, 12: 2})
    assert [f.id for f in out.flows] == [1, 2]
    assert [x.flow for f in out.flows for x in f.findings] == [1, 2, 2]
    assert out.flows[1].findings[0].message == (
        "SYN with a new ISN on the port pair of flow 1 (open): x"
    )
    assert out.flows[1].findings[1].message == "other"  # another id: its text as it was
    assert [s.flow for s in out.summaries] == [1, 2]
    assert out.summaries[0].offer == summary(5).offer
    assert out.ends == {1: (30, 0), 2: (2**63 - 1, 0)}
    # the rest of each record as it was
    assert out.flows[0].bytes_server_to_client == 20
    assert out.flows[0].first_packet == 5


def test_a_finding_already_numbered_is_kept_as_it_is() -> None:
    kept = finding(1)
    out = renumbered(ShareResult([flow(1, kept)], [summary(1)], {1: (3, 1)}), {1: 1})
    assert out.flows[0].findings[0] is kept


def test_merge_numbers_by_first_packet_and_orders_by_end() -> None:
    other = ShareResult([flow(8, finding(8))], [summary(8)], {8: (20, 1)})
    flows, summaries = merge_shares([share(), other])
    # 5 -> 1, 8 -> 2, 12 -> 3; ended at 20 (8), 30 (5), the end of the capture (12)
    assert [f.id for f in flows] == [2, 1, 3]
    assert [s.flow for s in summaries] == [2, 1, 3]
    assert [f.findings[0].flow for f in flows] == [2, 1, 3]
