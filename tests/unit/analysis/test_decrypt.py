"""Decryption with a key log: both offset readings, the legacy dialect, resumed sessions by
chaining from an earlier ss, and key logs that do not fit (RFC 8548 §3.3-§3.6, LEGACY.md)."""

from __future__ import annotations

from tcpinc_tools.wire.constants import AeadId
from tests.unit.analysis.builder import (
    C,
    Capture,
    S,
    Session,
    analyze,
    by_hand_next_ss,
    by_hand_resume_id,
    by_hand_session_id,
    fresh_rfc,
    hkdf_expand,
    ids,
    one_flow,
)

CHACHA = AeadId.AEAD_CHACHA20_POLY1305
SS0 = bytes(range(100, 132))
OTHER_N_A = bytes(32)


def test_alternative_offset_reading_is_found_and_noted() -> None:
    cap, _, sess = fresh_rfc(after_init_offsets=True)
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.decrypted and tc.offset_reading == "after_init"
    assert tc.plaintext_b_to_a == b"HTTP/1.1 200 OK\r\n\r\nhello"
    assert "tcpcrypt.offset_reading" in ids(flow)


def legacy_fresh() -> tuple[Capture, Session]:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn, tep=0x21, aead=0x01, dialect="legacy")
    # LEGACY.md: SYN fd 06 45 4e 21 22, SYN-ACK fd 05 45 4e 21, then fd 04 45 4e.
    conn.handshake(
        bytes.fromhex("fd06454e2122"), bytes.fromhex("fd05454e21"), bytes.fromhex("fd04454e")
    )
    init1, init2 = sess.inits()
    assert len(init1) == 8 + 1 + 1 + 32 + 2 + 65 and len(init2) == 8 + 1 + 32 + 2 + 65
    sess.frame(C, b"legacy request", fin=True)
    sess.frame(S, b"legacy response", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    return cap, sess


def test_legacy_fresh_session() -> None:
    cap, sess = legacy_fresh()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    eno, tc = flow.eno, flow.tcpcrypt
    assert eno is not None and eno.dialect == "legacy" and eno.status == "encrypted"
    # LEGACY.md: A's option ‖ fd 04 45 4e ‖ B's option ‖ fd 04 45 4e.
    assert eno.transcript == bytes.fromhex("fd06454e2122fd04454efd05454e21fd04454e")
    assert tc is not None and tc.aead == "AEAD_AES_128_GCM"
    assert tc.plaintext_a_to_b == b"legacy request" and tc.fin_authenticated
    assert tc.offset_reading == "after_init" and "tcpcrypt.offset_reading" not in ids(flow)
    assert tc.session_id == by_hand_session_id(sess.ss, 0x21)
    assert "tcpeno.legacy_kind" in ids(flow)


def resumed(
    *,
    swap: bool = False,
    keylog: str | None = None,
    nonces: tuple[bytes, bytes] = (b"nonce--a", b"nonce--b"),
    cap: Capture | None = None,
    client: tuple[str, int] = ("10.0.0.1", 40001),
    server: tuple[str, int] = ("10.0.0.2", 8080),
) -> tuple[Capture, Session, str]:
    """A resumed rfc session with ss[1] of SS0. ``swap``: the client was B originally."""
    ss1 = by_hand_next_ss(SS0)
    rid = by_hand_resume_id(ss1)
    nonce_a, nonce_b = nonces
    # RFC 8548 §3.5 Figs. 2-3: original A sends rid[0..8] ‖ nonce_a, B rid[9..17] ‖ nonce_b.
    client_data = (rid[9:] + nonce_b) if swap else (rid[:9] + nonce_a)
    server_data = (rid[:9] + nonce_a) if swap else (rid[9:] + nonce_b)
    syn = bytes([0x45, 3 + len(client_data), 0xA3]) + client_data
    synack = bytes([0x45, 4 + len(server_data), 0x01, 0xA3]) + server_data
    cap = cap or Capture()
    conn = cap.conn(client=client, server=server)
    sess = Session(
        conn,
        ss=ss1,
        tep_byte=0xA3,
        sn=nonce_a + nonce_b,
        aead=CHACHA,
        a_key="ba" if swap else "ab",
        resumed=True,
    )
    conn.handshake(syn, synack)
    sess.frame(C, b"resumed request", fin=True)
    sess.frame(S, b"resumed response", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    log = keylog if keylog is not None else f"TCPCRYPT_SS_INIT1 {OTHER_N_A.hex()} {SS0.hex()}\n"
    return cap, sess, log


def test_resumed_session_decrypted_by_chaining() -> None:
    for swap in (False, True):
        cap, _, log = resumed(swap=swap)
        flow = one_flow(analyze(cap, log, payload=True))
        tc = flow.tcpcrypt
        assert tc is not None and tc.resumed and not tc.init1 and not tc.init2
        assert tc.aead == "AEAD_CHACHA20_POLY1305"
        assert tc.plaintext_a_to_b == b"resumed request"
        assert tc.plaintext_b_to_a == b"resumed response"
        # RFC 8548 §3.4/§3.5: v=1 TEP byte, sn = nonce_a ‖ nonce_b by original roles.
        ss1 = by_hand_next_ss(SS0)
        assert tc.session_id == by_hand_session_id(ss1, 0xA3, b"nonce--anonce--b")
        assert tc.fin_authenticated is True
        assert flow.eno is not None and flow.eno.negotiated_tep_byte == 0xA3


def test_resumed_session_from_a_resume_line_and_without_keys() -> None:
    ss1 = by_hand_next_ss(SS0)
    line = f"TCPCRYPT_SS_RESUME {by_hand_resume_id(ss1).hex()} {ss1.hex()}\n"
    cap, _, log = resumed(keylog=line)
    tc = one_flow(analyze(cap, log, payload=True)).tcpcrypt
    assert tc is not None and tc.plaintext_a_to_b == b"resumed request"
    flow = one_flow(analyze(cap))
    assert flow.tcpcrypt is not None and flow.tcpcrypt.frames_a_to_b == 1
    assert flow.tcpcrypt.aead is None and not flow.tcpcrypt.decrypted
    flow = one_flow(analyze(cap, f"TCPCRYPT_SS_INIT1 {OTHER_N_A.hex()} {bytes(32).hex()}\n"))
    assert "tcpcrypt.no_key" in ids(flow)


def test_legacy_resumption() -> None:
    ss1 = by_hand_next_ss(SS0)
    # LEGACY.md: the 9 bytes after the TEP byte of the session ID of ss[i].
    ident = hkdf_expand(ss1, b"\x02", 32)[:9]
    cap = Capture()
    conn = cap.conn()
    sess = Session(
        conn,
        ss=ss1,
        tep=0x21,
        tep_byte=0xA1,
        aead=0x02,
        dialect="legacy",
        resumed=True,
        after_init_offsets=False,
    )
    syn = bytes.fromhex("fd0f454e21a1") + ident
    conn.handshake(syn, bytes.fromhex("fd05454ea1"), bytes.fromhex("fd04454e"))
    sess.frame(C, b"legacy resumed", fin=True)
    sess.frame(S, b"yes", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(
        analyze(cap, f"TCPCRYPT_SS_INIT1 {OTHER_N_A.hex()} {SS0.hex()}\n", payload=True)
    )
    tc = flow.tcpcrypt
    assert tc is not None and tc.resumed and tc.aead == "AEAD_AES_256_GCM"
    assert tc.plaintext_a_to_b == b"legacy resumed" and tc.plaintext_b_to_a == b"yes"
    assert tc.session_id == by_hand_session_id(ss1, 0xA1)


def test_key_for_another_session() -> None:
    cap, _, sess = fresh_rfc()
    flow = one_flow(analyze(cap, f"TCPCRYPT_SS_INIT1 {OTHER_N_A.hex()} {sess.ss.hex()}\n"))
    tc = flow.tcpcrypt
    assert tc is not None and not tc.decrypted and tc.session_id is None
    assert "tcpcrypt.no_key" in ids(flow)
    # The right N_A with another session's secret: nothing authenticates.
    flow = one_flow(analyze(cap, f"TCPCRYPT_SS_INIT1 {sess.n_a.hex()} {bytes(32).hex()}\n"))
    tc = flow.tcpcrypt
    assert tc is not None and not tc.decrypted and tc.session_id is None
    assert tc.decrypt_failures == 2 and "tcpcrypt.key_mismatch" in ids(flow)
    assert "tcpcrypt.tag_failure" not in ids(flow)
    assert tc.fin_authenticated is None


def test_wrong_key_gives_up_after_the_trial_frames() -> None:
    cap, _, sess = fresh_rfc(client_data=tuple(b"%d" % i for i in range(20)))
    flow = one_flow(analyze(cap, f"TCPCRYPT_SS_INIT1 {sess.n_a.hex()} {bytes(32).hex()}\n"))
    tc = flow.tcpcrypt
    assert tc is not None and tc.frames_a_to_b == 20 and not tc.decrypted
    assert tc.decrypt_failures == 16 + 1  # 16 trials A→B, then no more; B→A's one frame


def test_resumption_suboption_too_long() -> None:
    ss1 = by_hand_next_ss(SS0)
    rid = by_hand_resume_id(ss1)
    data = rid[:9] + bytes(11)  # 9 + 11 bytes: the nonce is at most 8 (RFC 8548 §3.5)
    syn = bytes([0x45, 3 + len(data), 0xA3]) + data
    synack = bytes([0x45, 4 + 17, 0x01, 0xA3]) + rid[9:] + bytes(8)
    cap = Capture()
    conn = cap.conn()
    conn.handshake(syn, synack)
    conn.segment(S, 0x10)
    flow = one_flow(analyze(cap, f"TCPCRYPT_SS_INIT1 {OTHER_N_A.hex()} {SS0.hex()}\n"))
    assert {"tcpcrypt.resume.too_long", "tcpcrypt.no_key"} <= ids(flow)


def test_bad_key_log_lines_leave_the_good_ones_working() -> None:
    cap, _, sess = fresh_rfc()
    text = "# a comment\nTCPCRYPT_SS_INIT1 zz 00\nCLIENT_RANDOM 00 00\n" + sess.keylog()
    result = analyze(cap, text, payload=True)
    tc = one_flow(result).tcpcrypt
    assert tc is not None and tc.decrypted
    found = {f.id: f for f in result.findings}
    assert "<string>:2" in found["tcpinc.keylog.bad_line"].message
    assert "unknown label CLIENT_RANDOM" in found["tcpinc.keylog.note"].message
