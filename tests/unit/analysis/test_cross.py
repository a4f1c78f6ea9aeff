"""Cross-connection findings: resumption replay, tracking and other servers, nonce and public
key reuse, frame-ID reuse; computed over summaries, within one capture and across several."""

from __future__ import annotations

from dataclasses import replace

from tcpinc_tools.analysis import cross_connection_findings, to_json_document
from tcpinc_tools.analysis.model import AnalysisResult
from tests.unit.analysis.builder import C, Capture, S, Session, analyze, fresh_rfc
from tests.unit.analysis.test_decrypt import SS0, resumed


def cross_ids(result: AnalysisResult, flow_id: int) -> set[str]:
    return {f.id for f in result.flow_findings(flow_id)}


def test_replay_of_a_resumption_identifier() -> None:
    cap, _, _ = resumed()
    resumed(cap=cap, client=("10.0.0.1", 40002))  # the same SYN offer again
    result = analyze(cap)
    assert len(result.flows) == 2
    assert "tcpcrypt.resume.replay" not in cross_ids(result, 1)
    assert cross_ids(result, 2) >= {"tcpcrypt.resume.replay"}
    assert not cross_ids(result, 2) & {"tcpcrypt.resume.tracking", "tcpcrypt.resume.other_server"}
    (item,) = [c for c in result.cross if c.finding.id == "tcpcrypt.resume.replay"]
    assert item.subject == (0, 2) and item.related == ((0, 1),)
    assert "offered before in flow 1" in item.finding.message


def test_tracking_and_other_server_from_one_identifier() -> None:
    cap, _, _ = resumed()
    resumed(cap=cap, client=("10.9.9.9", 40002), server=("10.0.0.3", 8080))
    result = analyze(cap)
    assert cross_ids(result, 2) >= {
        "tcpcrypt.resume.replay",
        "tcpcrypt.resume.tracking",
        "tcpcrypt.resume.other_server",
    }


def test_tracking_and_other_server_traced_through_the_key_log() -> None:
    # The fresh session 10.0.0.1 -> 10.0.0.2 whose ss[0] is SS0, then ss[1] resumed from
    # another address (tracking) and, in a second capture, by the client with another server.
    cap, _, sess = fresh_rfc(ss=SS0)
    log = sess.keylog()
    resumed(cap=cap, client=("10.7.7.7", 50000), keylog=log)
    result = analyze(cap, log)
    (tracking,) = [c for c in result.cross if c.finding.id == "tcpcrypt.resume.tracking"]
    assert tracking.subject == (0, 2) and tracking.related == ((0, 1),)
    assert "resumed by 10.7.7.7 with the secret of flow 1" in tracking.finding.message
    later = Capture(t0=1_700_000_100.0)
    other, _, _ = resumed(
        cap=later, client=("10.0.0.1", 40009), server=("10.0.0.3", 8080), keylog=log
    )
    other_result = analyze(other, log)
    assert not other_result.cross  # nothing to compare with inside that capture
    doc = to_json_document([result, other_result])
    items = [f for f in doc["findings"] if f["id"] == "tcpcrypt.resume.other_server"]
    assert {(f["capture"], f["flow"]) for f in items} == {(1, 1)}
    assert [[0, 1]] in [f["related"] for f in items]  # traced to the fresh session
    assert [[0, 2]] in [f["related"] for f in items]  # the same identifier offered before
    flow = next(f for f in doc["flows"] if f["capture"] == 1)
    assert "tcpcrypt.resume.other_server" in {f["id"] for f in flow["findings"]}


def test_nonce_pubkey_and_frame_id_reuse() -> None:
    cap, _, _ = fresh_rfc(seed=7, client_data=(b"first",))
    # Same seed: the same N_A, N_B and public keys, so the same ss[0] and keys.
    fresh_rfc(seed=7, client_data=(b"other",), cap=cap, conn_kw={"client": ("10.0.0.1", 40100)})
    result = analyze(cap)
    found = cross_ids(result, 2)
    assert {"tcpcrypt.nonce_reuse", "tcpcrypt.pubkey_reuse", "tcpcrypt.frame_id_reuse"} <= found
    assert all(c.subject == (0, 2) for c in result.cross)
    messages = [c.finding.message for c in result.cross if c.finding.id == "tcpcrypt.nonce_reuse"]
    assert any("N_A" in m for m in messages) and any("N_B" in m for m in messages)


def test_equal_public_keys_in_one_session() -> None:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn)
    sess.pub_b = sess.pub_a
    conn.handshake()
    sess.inits()
    conn.send_all(C)
    conn.send_all(S)
    result = analyze(cap)
    assert "tcpcrypt.pubkey_reuse" in cross_ids(result, 1)


def test_findings_are_reported_on_the_later_flow_whatever_the_order_given() -> None:
    cap, _, _ = resumed()
    resumed(cap=cap, client=("10.0.0.1", 40002))
    summaries = analyze(cap).summaries
    forward = cross_connection_findings(summaries)
    backward = cross_connection_findings(list(reversed(summaries)))
    assert forward == backward
    # Several captures: tags keep the flows apart.
    both = cross_connection_findings([replace(s, capture=i) for i, s in enumerate(summaries)])
    assert [c.subject for c in both] == [(1, 2)]
