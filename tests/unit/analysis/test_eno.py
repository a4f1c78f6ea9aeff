"""TCP-ENO as the analyzer sees it in a capture (RFC 8547 §4): outcome, roles, fallback
reasons and the handshake findings. Option bytes are spelled out from RFC 8547 §4.1-§4.2."""

from __future__ import annotations

from tests.unit.analysis.builder import (
    ACK,
    ENO_ACK,
    ENO_SYN_X25519,
    ENO_SYNACK_X25519,
    SYN,
    C,
    Capture,
    S,
    analyze,
    finding,
    ids,
    one_flow,
)

MSS = bytes.fromhex("020405b4")  # RFC 9293 §3.1: kind 2, length 4, 1460
SACK_OK = bytes.fromhex("0402")  # RFC 2018 §2
TS = bytes.fromhex("080a0000000100000000")  # RFC 7323 §3.2
WS = bytes.fromhex("030307")  # RFC 7323 §2.2
NOP = b"\x01"


def handshake(syn: bytes, synack: bytes, ack: bytes = ENO_ACK) -> Capture:
    cap = Capture()
    conn = cap.conn()
    conn.handshake(syn, synack, ack)
    conn.segment(C, ACK)
    conn.segment(S, ACK)
    return cap


def test_success_roles_transcript_and_notes() -> None:
    flow = one_flow(analyze(handshake(ENO_SYN_X25519, ENO_SYNACK_X25519)))
    eno = flow.eno
    assert eno is not None
    assert (eno.status, eno.reason, eno.dialect) == ("encrypted", None, "rfc")
    assert eno.host_a == ("10.0.0.1", 40000) and eno.host_b == ("10.0.0.2", 8080)
    assert eno.syn_a == bytes.fromhex("450323") and eno.syn_b == bytes.fromhex("45040123")
    # RFC 8547 §4.8: A's option then B's, kind and length included, no delimiter.
    assert eno.transcript == bytes.fromhex("45032345040123")
    assert (eno.global_a, eno.global_b) == (0x00, 0x01)
    assert (eno.negotiated_tep, eno.negotiated_tep_byte) == (0x23, 0x23)
    assert eno.tep_name == "TCPCRYPT_ECDHE_Curve25519"
    assert not eno.simultaneous_open
    assert finding(flow, "tcpeno.option_space").message.endswith(
        "SYN uses 4 of 40 option bytes (ENO 3, EOL 1); 36 left"
    )
    # No data: tcpcrypt started but saw nothing.
    assert flow.tcpcrypt is not None and not flow.tcpcrypt.init1


def test_plain_tcp_has_no_eno() -> None:
    flow = one_flow(analyze(handshake(MSS, MSS, b"")))
    assert flow.eno is None and flow.tcpcrypt is None and not flow.findings


def fallback(cap: Capture) -> tuple[str | None, set[str]]:
    flow = one_flow(analyze(cap))
    assert flow.eno is not None and flow.eno.status == "fallback", flow.eno
    assert flow.tcpcrypt is None and flow.eno.negotiated_tep is None
    assert flow.eno.reason in ids(flow)
    return flow.eno.reason, ids(flow)


def test_fallback_no_eno_from_the_peer() -> None:
    reason, _ = fallback(handshake(ENO_SYN_X25519, MSS, b""))
    assert reason == "tcpeno.fallback.no_eno"


def test_fallback_b_conflict() -> None:
    # Both SYNs have the implicit global suboption 0x00, so b=0 on both (RFC 8547 §4.3).
    reason, _ = fallback(handshake(ENO_SYN_X25519, bytes.fromhex("450323")))
    assert reason == "tcpeno.fallback.b_conflict"


def test_fallback_vacuous_and_no_common_tep() -> None:
    assert fallback(handshake(ENO_SYN_X25519, bytes.fromhex("450301")))[0] == (
        "tcpeno.fallback.vacuous"
    )
    assert fallback(handshake(ENO_SYN_X25519, bytes.fromhex("45040121")))[0] == (
        "tcpeno.fallback.no_common_tep"
    )


def test_fallback_ill_formed() -> None:
    # Length byte 0x84 announces 5 data bytes, 1 is left (RFC 8547 §4.4 rule 1).
    reason, found = fallback(handshake(bytes.fromhex("450584a300"), ENO_SYNACK_X25519))
    assert reason == "tcpeno.fallback.ill_formed"
    assert "tcpeno.ill_formed.length_overrun" in found


def test_fallback_stripped_ack() -> None:
    reason, _ = fallback(handshake(ENO_SYN_X25519, ENO_SYNACK_X25519, ack=b""))
    assert reason == "tcpeno.fallback.stripped"


def test_fallback_aa_mandatory_inferred() -> None:
    # A sent a=1 (global 0x02), B a=0; A then dropped ENO: mandatory application-aware mode.
    reason, _ = fallback(handshake(bytes.fromhex("45040223"), ENO_SYNACK_X25519, ack=b""))
    assert reason == "tcpeno.fallback.aa_mandatory"


def test_multiple_and_mixed_eno() -> None:
    legacy = bytes.fromhex("fd05454e21")
    reason, found = fallback(handshake(ENO_SYN_X25519 + legacy, ENO_SYNACK_X25519))
    assert reason == "tcpeno.fallback.multiple_eno"
    assert {"tcpeno.multiple_eno", "tcpeno.mixed_kinds"} <= found


def test_syn_retransmission_changed_and_dropped() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.eno_nonsyn = ENO_ACK
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(C, SYN, options=bytes.fromhex("45042123"))
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    conn.segment(C, ACK)
    reason, found = fallback(cap)
    assert reason == "tcpeno.fallback.syn_changed" and "tcpeno.syn_changed" in found

    cap = Capture()
    conn = cap.conn()
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(C, SYN, options=MSS)
    conn.segment(S, SYN | ACK, options=MSS)
    conn.segment(C, ACK)
    reason, found = fallback(cap)
    assert reason == "tcpeno.fallback.no_eno"
    assert "tcpeno.syn_retransmit_without_eno" in found


def test_identical_syn_retransmission_is_quiet() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.eno_nonsyn = ENO_ACK
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    conn.segment(C, ACK)
    flow = one_flow(analyze(cap))
    assert flow.eno is not None and flow.eno.status == "encrypted"
    assert ids(flow) == {"tcpeno.option_space"}


def test_option_space_with_other_options_and_exhaustion() -> None:
    mptcp = bytes.fromhex("1e0c0081") + bytes(8)  # RFC 8684 MP_CAPABLE, 12 bytes
    syn = MSS + SACK_OK + TS + NOP + WS + ENO_SYN_X25519
    # 37 bytes and 3 of EOL padding: the EOL byte counts, 2 bytes are left (syn_option_report).
    synack = MSS + SACK_OK + TS + NOP + WS + mptcp + NOP * 5
    flow = one_flow(analyze(handshake(syn, synack, b"")))
    note = finding(flow, "tcpeno.option_space").message
    assert "SYN uses 24 of 40 option bytes" in note
    assert "MSS 4, SACK-permitted 2, timestamps 10, NOP 1, window scale 3, ENO 3" in note
    assert note.endswith("16 left")
    warn = finding(flow, "tcpeno.option_space_exhausted").message
    assert "SYN-ACK without ENO has 2 of 40 option bytes free" in warn
    assert flow.eno is not None and flow.eno.reason == "tcpeno.fallback.no_eno"


def test_tfo_and_syn_data_with_eno() -> None:
    tfo = bytes.fromhex("220a0102030405060708")  # RFC 7413 cookie option, 8-byte cookie
    cap = Capture()
    conn = cap.conn()
    conn.eno_nonsyn = ENO_ACK
    conn.segment(C, SYN, options=ENO_SYN_X25519 + tfo, payload=b"early data")
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    conn.segment(C, ACK)
    flow = one_flow(analyze(cap))
    found = ids(flow)
    assert {"tcpeno.tfo_with_eno", "tcpeno.syn_data"} <= found
    assert "10 bytes" in finding(flow, "tcpeno.syn_data").message


def test_legacy_kind_tls_draft_and_reserved_bits() -> None:
    # Kind 253 with ExID 0x454e (LEGACY.md); SYN-ACK with TEP 0x21 and no global suboption.
    legacy = handshake(bytes.fromhex("fd06454e2122"), bytes.fromhex("fd05454e21"), b"")
    flow = one_flow(analyze(legacy))
    assert "tcpeno.legacy_kind" in ids(flow)
    assert flow.eno is not None and flow.eno.dialect == "legacy"
    # TEP 0x30 (draft TCP-use-TLS), global 0x1c (z bits), a second global 0x04 (ignored).
    flow = one_flow(analyze(handshake(bytes.fromhex("45061c043023"), bytes.fromhex("45040130"))))
    found = ids(flow)
    assert {"tcpeno.tls_draft_tep", "tcpeno.global.reserved_bits", "tcpeno.global.ignored"} <= (
        found
    )
    eno = flow.eno
    assert eno is not None and eno.status == "encrypted" and eno.negotiated_tep == 0x30
    assert eno.tep_name == "TCP-use-TLS (draft)" and flow.tcpcrypt is None


def test_nonsyn_contents_and_missing_in_handshake() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    conn.segment(C, ACK, options=bytes.fromhex("4503aa"))
    conn.segment(C, ACK, options=b"")  # before the server sent a non-SYN segment
    conn.segment(S, ACK, options=b"")
    flow = one_flow(analyze(cap))
    assert {"tcpeno.nonsyn_contents", "tcpeno.missing_in_handshake"} <= ids(flow)
    assert flow.eno is not None and flow.eno.status == "encrypted"


def test_simultaneous_open_roles() -> None:
    for client_b in (False, True):
        cap = Capture()
        conn = cap.conn()
        mine = ENO_SYNACK_X25519 if client_b else ENO_SYN_X25519
        theirs = ENO_SYN_X25519 if client_b else ENO_SYNACK_X25519
        conn.eno_nonsyn = ENO_ACK
        conn.segment(C, SYN, options=mine)
        conn.segment(S, SYN, options=theirs)
        conn.segment(C, SYN | ACK, options=mine, seq=conn.isn[C])
        conn.segment(S, SYN | ACK, options=theirs, seq=conn.isn[S])
        conn.segment(C, ACK)
        conn.segment(S, ACK)
        flow = one_flow(analyze(cap))
        eno = flow.eno
        assert eno is not None and eno.simultaneous_open and eno.status == "encrypted"
        assert eno.negotiated_tep == 0x23
        assert eno.host_a == (("10.0.0.2", 8080) if client_b else ("10.0.0.1", 40000))
        assert eno.syn_a == ENO_SYN_X25519 and eno.syn_b == ENO_SYNACK_X25519


def test_legacy_simultaneous_open_falls_back() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.segment(C, SYN, options=bytes.fromhex("fd05454e21"))
    conn.segment(S, SYN, options=bytes.fromhex("fd05454e21"))
    assert fallback(cap)[0] == "tcpeno.fallback.legacy_simultaneous_open"


def test_resumption_answer_without_an_offer() -> None:
    answer = bytes.fromhex("45") + bytes([2 + 1 + 1 + 9]) + b"\x01\xa3" + bytes(9)
    assert fallback(handshake(ENO_SYN_X25519, answer))[0] == "tcpcrypt.resume.mismatch"


def test_incomplete_handshakes() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    flow = one_flow(analyze(cap))
    assert flow.eno is not None and flow.eno.status == "incomplete" and flow.eno.reason is None
    cap = Capture()
    conn = cap.conn()
    conn.segment(C, SYN, options=ENO_SYN_X25519)
    conn.segment(S, SYN | ACK, options=ENO_SYNACK_X25519)
    flow = one_flow(analyze(cap))
    assert flow.eno is not None and flow.eno.status == "incomplete"
    assert flow.eno.negotiated_tep == 0x23


def test_capture_started_mid_connection() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.segment(C, ACK, payload=b"abc")
    conn.segment(S, ACK)
    flow = one_flow(analyze(cap))
    assert flow.eno is None and "tcp.reassembly.no_syn" in ids(flow)


def test_bad_option_area_in_a_syn() -> None:
    # Kind 2 with length 1 (below 2): the walk stops there (RFC 9293 §3.1).
    flow = one_flow(analyze(handshake(ENO_SYN_X25519 + bytes.fromhex("0201"), ENO_SYNACK_X25519)))
    assert "tcp.option.bad_length" in ids(flow)
    # In the ACK: an option running past the option area, after a good ENO option.
    flow = one_flow(analyze(handshake(ENO_SYN_X25519, ENO_SYNACK_X25519, ENO_ACK + b"\x08\x0a")))
    assert "tcp.option.past_end" in ids(flow)
    assert flow.eno is not None and flow.eno.status == "encrypted"
