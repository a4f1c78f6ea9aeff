"""tcpcrypt in the reassembled streams: Init messages across segments, frames delimited by
clen through reordering, retransmissions and gaps, rekeys, FINp, and the findings."""

from __future__ import annotations

import io

from tcpinc_tools.analysis import Analyzer
from tcpinc_tools.analysis.model import StreamRecord
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wire.constants import AeadId
from tests.unit.analysis.builder import (
    ACK,
    FIN,
    PSH,
    C,
    Capture,
    S,
    Session,
    analyze,
    by_hand_session_id,
    fresh_rfc,
    ids,
    one_flow,
)

AES128, AES256 = AeadId.AEAD_AES_128_GCM, AeadId.AEAD_AES_256_GCM
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\n\r\nhello"


def setup(**kw: object) -> tuple[Capture, object, Session]:
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn, **kw)  # type: ignore[arg-type]
    conn.handshake()
    sess.inits()
    return cap, conn, sess


def test_fresh_session_without_a_key_log() -> None:
    cap, _, _ = fresh_rfc(client_data=(b"a", b"b"), server_data=(b"c",))
    flow = one_flow(analyze(cap))
    tc = flow.tcpcrypt
    assert tc is not None
    assert (tc.init1, tc.init2, tc.resumed, tc.aead) == (True, True, False, "AEAD_AES_128_GCM")
    assert (tc.frames_a_to_b, tc.frames_b_to_a, tc.rekeys) == (2, 1, 0)
    assert tc.session_id is None and not tc.decrypted and tc.decrypt_failures == 0
    assert tc.fin_authenticated is None and tc.plaintext_a_to_b is None
    assert ids(flow) == {"tcpeno.option_space"}


def test_fresh_session_decrypted() -> None:
    cap, _, sess = fresh_rfc()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.decrypted and tc.frames_decrypted == 2
    assert tc.session_id == by_hand_session_id(sess.ss, 0x23)
    assert tc.plaintext_a_to_b == REQUEST and tc.plaintext_b_to_a == RESPONSE
    assert tc.fin_authenticated is True and tc.offset_reading == "stream"
    assert ids(flow) == {"tcpeno.option_space"}


def test_init1_split_across_segments_and_psh() -> None:
    for psh_on_last in (True, False):
        cap, conn, sess = setup()
        sess.frame(C, b"x", fin=True)
        sess.frame(S, b"y", fin=True)
        conn.data(C, 0, 20, flags=ACK)
        last = ACK | PSH if psh_on_last else ACK
        conn.data(C, 20, sess.init_len[C] + 5, flags=last)  # Init1 ends inside this segment
        conn.data(S, 0)
        conn.data(C, sess.init_len[C] + 5)
        conn.close()
        flow = one_flow(analyze(cap, sess.keylog(), payload=True))
        tc = flow.tcpcrypt
        assert tc is not None and tc.init1 and tc.plaintext_a_to_b == b"x"
        assert ("tcpcrypt.init.missing_psh" in ids(flow)) is not psh_on_last


def test_reordered_and_retransmitted_segments() -> None:
    cap, conn, sess = setup()
    for i in range(4):
        sess.frame(C, bytes([65 + i]) * 100, fin=i == 3)
    sess.frame(S, b"ok", fin=True)
    conn.data(C, 0, sess.init_len[C])
    conn.data(S, 0)
    ranges = []
    pos = sess.init_len[C]
    while pos < len(conn.streams[C]):
        ranges.append((pos, min(pos + 50, len(conn.streams[C]))))
        pos += 50
    for start, end in reversed(ranges):
        conn.data(C, start, end)
    conn.data(C, *ranges[1])  # an identical retransmission
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None
    assert tc.plaintext_a_to_b == b"A" * 100 + b"B" * 100 + b"C" * 100 + b"D" * 100
    assert tc.frames_a_to_b == 4 and tc.fin_authenticated is True
    assert "tcp.reassembly.overlap_mismatch" not in ids(flow)


def test_retransmission_with_other_content_is_frame_id_reuse() -> None:
    cap, conn, sess = setup()
    start, end = sess.frame(C, b"first content", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    forged = bytes(b ^ 0x55 for b in conn.streams[C][start:end])
    conn.data(C, start, end, payload=forged)
    flow = one_flow(analyze(cap))
    assert {"tcp.reassembly.overlap_mismatch", "tcpcrypt.frame_id_reuse"} <= ids(flow)


def test_gap_inside_a_frame_costs_that_frame_only() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"one" * 100)
    second = sess.frame(C, b"two" * 100)
    sess.frame(C, b"three", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.data(C, 0, second[0] + 10)  # Init1, frame one, the header of frame two
    conn.send_all(C, second[0] + 100, mss=40)  # bytes second[0]+10 .. +100 never captured
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None
    assert tc.frames_a_to_b == 3 and tc.frames_decrypted == 3  # two of A's, one of B's
    assert tc.plaintext_a_to_b == b"one" * 100 + b"three"
    assert "tcp.reassembly.gap" in ids(flow) and "tcpcrypt.resync" not in ids(flow)
    assert tc.fin_authenticated is True


def test_gap_hiding_headers_resyncs() -> None:
    for keyed in (True, False):
        cap, conn, sess = setup()
        sess.frame(C, b"one" * 10)
        lost = sess.frame(C, b"two" * 10)
        for i in range(4):
            sess.frame(C, b"after%d" % i, fin=i == 3)
        sess.frame(S, b"ok", fin=True)
        conn.data(C, 0, lost[0] + 2)  # ends inside the header of frame two
        conn.data(C, lost[1])  # resumes exactly at the next frame
        conn.send_all(S)
        conn.close()
        flow = one_flow(analyze(cap, sess.keylog() if keyed else None, payload=True))
        tc = flow.tcpcrypt
        assert tc is not None and "tcpcrypt.resync" in ids(flow)
        assert tc.frames_a_to_b == 5  # one, and the four after the gap
        if keyed:
            assert tc.plaintext_a_to_b == b"one" * 10 + b"after0after1after2after3"


def test_rekeys_counted_and_followed() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"gen0")
    sess.frame(C, b"gen1", rekey=True)
    sess.frame(S, b"answer", rekey=True)  # RFC 8548 §3.8: the peer answers at once
    sess.frame(C, b"gen2", rekey=True, fin=True)
    sess.frame(S, b"bye", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.rekeys == 2
    assert tc.plaintext_a_to_b == b"gen0gen1gen2" and tc.plaintext_b_to_a == b"answerbye"
    assert tc.decrypt_failures == 0


def test_rekey_frame_lost_in_a_gap() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"gen0")
    hidden = sess.frame(C, b"gen1", rekey=True)
    sess.frame(C, b"still gen1", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.data(C, 0, hidden[0])
    conn.data(C, hidden[1])
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.plaintext_a_to_b == b"gen0still gen1"
    assert tc.rekeys == 1 and "tcpcrypt.resync" in ids(flow)


def test_gap_inside_a_rekey_frame_keeps_the_generation() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"gen0")
    damaged = sess.frame(C, b"gen1 " * 20, rekey=True)
    sess.frame(C, b"still gen1", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.data(C, 0, damaged[0] + 5)
    conn.data(C, damaged[0] + 40)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.plaintext_a_to_b == b"gen0still gen1"
    assert tc.rekeys == 1 and tc.frames_a_to_b == 3 and "tcpcrypt.resync" not in ids(flow)


def test_tag_failure() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"good")
    sess.frame(C, b"tampered", tamper=True)
    sess.frame(C, b"good again", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.decrypt_failures == 1 and tc.decrypted
    assert tc.plaintext_a_to_b == b"goodgood again"
    failures = [f for f in flow.findings if f.id == "tcpcrypt.tag_failure"]
    assert len(failures) == 1 and "A→B frame at offset" in failures[0].message


def test_first_frame_tampered_still_reported() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"bad", tamper=True)
    sess.frame(C, b"good", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    assert flow.tcpcrypt is not None and flow.tcpcrypt.plaintext_a_to_b == b"good"
    assert "tcpcrypt.tag_failure" in ids(flow) and "tcpcrypt.key_mismatch" not in ids(flow)


def test_truncation() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"no FINp here")
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog()))
    assert "tcpcrypt.truncation" in ids(flow)
    assert flow.tcpcrypt is not None and flow.tcpcrypt.fin_authenticated is False
    # Without keys FINp cannot be seen: no verdict.
    flow = one_flow(analyze(cap))
    assert flow.tcpcrypt is not None and flow.tcpcrypt.fin_authenticated is None
    assert "tcpcrypt.truncation" not in ids(flow)


def test_fin_without_any_frame_is_truncation_even_without_keys() -> None:
    cap, conn, _ = setup()
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap))
    assert "tcpcrypt.truncation" in ids(flow)
    assert flow.tcpcrypt is not None and flow.tcpcrypt.fin_authenticated is False


def test_reset_is_unauthenticated() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"hello")
    conn.send_all(C)
    conn.send_all(S)
    conn.rst(S)
    flow = one_flow(analyze(cap, sess.keylog()))
    assert "tcpcrypt.unauthenticated_reset" in ids(flow)
    assert "tcpcrypt.truncation" not in ids(flow)


def test_plaintext_instead_of_init1() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.handshake()
    conn.streams[C].extend(REQUEST)
    conn.send_all(C)
    flow = one_flow(analyze(cap))
    found = [f for f in flow.findings if f.id == "tcpcrypt.plaintext_after_enable"]
    assert len(found) == 1 and "GET / HTTP/1.1" in found[0].message
    assert flow.tcpcrypt is not None and not flow.tcpcrypt.init1


def test_plaintext_between_frames_then_resync() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"before")
    conn.streams[C].extend(b"PLAINTEXT INJECTED\r\n")
    sess.frame(C, b"after1")
    sess.frame(C, b"after2")
    sess.frame(C, b"after3", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    assert {"tcpcrypt.plaintext_after_enable", "tcpcrypt.resync"} <= ids(flow)
    assert flow.tcpcrypt is not None
    assert flow.tcpcrypt.plaintext_a_to_b == b"beforeafter1after2after3"


def test_bad_init_messages() -> None:
    cap = Capture()
    conn = cap.conn()
    conn.handshake()
    conn.streams[C].extend(bytes.fromhex("deadbeef00000010") + bytes(8))
    conn.send_all(C)
    assert "tcpcrypt.init1.bad_magic" in ids(one_flow(analyze(cap)))
    # message_len past 64 KiB, and below the 8-byte header.
    for message_len, expected in (
        (0x20000, "tcpcrypt.init.too_long"),
        (4, "tcpcrypt.init.bad_message_len"),
    ):
        cap = Capture()
        conn = cap.conn()
        conn.handshake()
        conn.streams[C].extend(bytes.fromhex("15101a0e") + message_len.to_bytes(4, "big"))
        conn.send_all(C)
        assert expected in ids(one_flow(analyze(cap)))


def test_cipher_not_offered_trailing_and_unknown_aead() -> None:
    cap, conn, sess = setup(aead=AES256, offered=(AES128,))
    sess.frame(C, b"x", fin=True)
    sess.frame(S, b"y", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    assert "tcpcrypt.cipher_not_offered" in ids(flow)
    assert flow.tcpcrypt is not None and flow.tcpcrypt.plaintext_a_to_b == b"x"
    # An Init2 with an unregistered AEAD id that Init1 did offer, and trailing bytes.
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn)
    conn.handshake()
    from tcpinc_tools.wire.tcpcrypt import encode_init1, encode_init2

    conn.streams[C].extend(encode_init1((0x0003,), sess.n_a, sess.pub_a, 0x23, trailing=b"zz"))
    conn.streams[S].extend(encode_init2(0x0003, sess.n_b, sess.pub_b, 0x23))
    conn.send_all(C)
    conn.send_all(S)
    flow = one_flow(analyze(cap, sess.keylog()))
    assert {"tcpcrypt.unknown_aead", "tcpcrypt.init.trailing"} <= ids(flow)
    assert flow.tcpcrypt is not None and flow.tcpcrypt.aead is None


def test_invalid_p256_public_key() -> None:
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    # The smallest x for which x^3 - 3x + b is not a square mod p: no point has it (Euler).
    x = next(x for x in range(1, 100) if pow((x**3 - 3 * x + b) % p, (p - 1) // 2, p) != 1)
    cap = Capture()
    conn = cap.conn()
    sess = Session(conn, tep=0x21)
    conn.handshake(bytes.fromhex("450321"), bytes.fromhex("45040121"))
    sess.pub_a = b"\x02" + x.to_bytes(32, "big")
    sess.inits()
    conn.send_all(C)
    conn.send_all(S)
    flow = one_flow(analyze(cap))
    assert "tcpcrypt.invalid_public_key" in ids(flow)


def test_streams_ending_mid_message() -> None:
    cap, conn, sess = setup()
    conn.data(C, 0, sess.init_len[C])
    conn.data(S, 0, 20)  # Init2 cut short
    assert "tcpcrypt.init2.truncated" in ids(one_flow(analyze(cap)))
    cap, conn, sess = setup()
    _, end = sess.frame(C, b"x" * 50)
    conn.data(C, 0, end - 10)
    assert "tcpcrypt.frame.truncated" in ids(one_flow(analyze(cap)))


def test_malformed_frame_reserved_bits_urgent_and_data_after_finp() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"urgent!", urgent=3, control=0x80)  # cres bit 7 set
    sess.frame(C, b"", plaintext=bytes([0x04]) + b"fres")  # fres bit 2 set
    sess.frame(C, b"last", fin=True)
    sess.frame(C, b"after the last")
    sess.frame(C, b"", plaintext=b"")  # authenticates, but holds no flags byte
    conn.streams[C].extend(bytes.fromhex("00000a") + bytes(10))  # clen 10 < tag
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    found = ids(flow)
    assert {
        "tcpcrypt.frame.reserved_bits",
        "tcpcrypt.plaintext.reserved_bits",
        "tcpcrypt.data_after_finp",
        "tcpcrypt.malformed_frame",
        "tcpcrypt.plaintext.truncated",
    } <= found
    tc = flow.tcpcrypt
    assert tc is not None and tc.urgent_frames == 1
    assert tc.plaintext_a_to_b == b"urgent!freslastafter the last"


def test_init2_captured_after_a_frames_held() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"early", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)  # Init1 and A's frame
    conn.data(S, 20)  # B's stream from byte 20: Init2's first 20 bytes come later
    conn.data(S, 0, 20)
    conn.close()
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and tc.plaintext_a_to_b == b"early" and tc.plaintext_b_to_a == b"ok"


def test_init2_lost_keys_from_the_offered_ciphers() -> None:
    cap, conn, sess = setup(aead=AES256, offered=(AES128, AES256))
    sess.frame(C, b"through", fin=True)
    conn.send_all(C)
    conn.data(S, 30)  # Init2's first 30 bytes were never captured
    flow = one_flow(analyze(cap, sess.keylog(), payload=True))
    tc = flow.tcpcrypt
    assert tc is not None and not tc.init2 and tc.plaintext_a_to_b == b"through"
    assert tc.aead == "AEAD_AES_256_GCM"


def test_payload_limit_and_frame_sink() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"0123456789abcdef", fin=True)
    sess.frame(S, b"ok", fin=True)
    conn.send_all(C)
    conn.send_all(S)
    records: list[StreamRecord] = []
    analyzer = Analyzer(
        KeyLog.parse(sess.keylog()), payload=True, payload_limit=10, frame_sink=records.append
    )
    for pkt in read_packets(io.BytesIO(cap.pcap())):
        analyzer.feed(pkt)
    flow = one_flow(analyzer.finish())
    assert flow.tcpcrypt is not None and flow.tcpcrypt.plaintext_a_to_b == b"0123456789"
    assert "tcpcrypt.payload_truncated" in ids(flow)
    kinds = [(r.direction, r.kind) for r in records]
    assert kinds == [
        ("client_to_server", "init1"),
        ("server_to_client", "init2"),
        ("client_to_server", "frame"),
        ("server_to_client", "frame"),
    ]
    frame = records[2]
    assert frame.offset == sess.init_len[C] and frame.plaintext is not None
    assert frame.plaintext.fin and frame.plaintext.data == b"0123456789abcdef"


def test_fin_flag_on_data_segment() -> None:
    cap, conn, sess = setup()
    sess.frame(C, b"x", fin=True)
    sess.frame(S, b"y", fin=True)
    conn.data(C, 0, flags=ACK | PSH | FIN)
    conn.data(S, 0, flags=ACK | PSH | FIN)
    flow = one_flow(analyze(cap, sess.keylog()))
    assert flow.tcpcrypt is not None and flow.tcpcrypt.fin_authenticated is True
