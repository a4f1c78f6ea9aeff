"""Generated captures of encrypted connections, read back with the wire layer and the key log:
fresh-*, resume, rekey, simultaneous-open, urgent, bulk, lossy, many, coexist, legacy-*."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tcpinc_tools.commands.corpus import Written
from tcpinc_tools.crypto.schedule import derive_keys, session_nonce
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wire.constants import AeadId, TcpOptionKind, TepId
from tcpinc_tools.wire.eno import Role, negotiate
from tcpinc_tools.wire.frames import decode_frame
from tcpinc_tools.wire.tcp_options import iter_tcp_options, syn_option_report
from tcpinc_tools.wire.tcpcrypt import decode_init2

from .readback import (
    PSH,
    FlowView,
    assert_clean_close,
    decrypt_fresh,
    eno_raw,
    fresh_session,
    is_pure_syn,
    is_synack,
    open_frames,
    plaintext,
    read_flows,
    resume_suboption,
)

Corpus = tuple[Path, dict[str, Written]]

TEPS = {
    "p256": TepId.TCPCRYPT_ECDHE_P256,
    "p521": TepId.TCPCRYPT_ECDHE_P521,
    "x25519": TepId.TCPCRYPT_ECDHE_Curve25519,
    "x448": TepId.TCPCRYPT_ECDHE_Curve448,
}
AEADS = {
    "aes128gcm": AeadId.AEAD_AES_128_GCM,
    "aes256gcm": AeadId.AEAD_AES_256_GCM,
    "chacha20poly1305": AeadId.AEAD_CHACHA20_POLY1305,
}


def load(corpus: Corpus, stem: str) -> tuple[list[FlowView], KeyLog]:
    directory, _ = corpus
    return read_flows(directory / f"{stem}.pcap"), KeyLog.load(directory / f"{stem}.keys")


@pytest.mark.parametrize("aead_key", list(AEADS))
@pytest.mark.parametrize("tep_key", list(TEPS))
def test_fresh(corpus: Corpus, tep_key: str, aead_key: str) -> None:
    stem = f"fresh-{tep_key}-{aead_key}"
    tep, aead = TEPS[tep_key], AEADS[aead_key]
    (view,), keylog = load(corpus, stem)
    # RFC 8547 §4.1: kind 69, length 6, the four tcpcrypt TEPs; B: length 4, b=1, one TEP.
    assert eno_raw(view.syn) == bytes.fromhex("450621222423")
    assert eno_raw(view.synack) == bytes((0x45, 0x04, 0x01, tep))
    assert eno_raw(view.first_client_ack) == bytes.fromhex("4502")  # RFC 8547 §4.6
    session = fresh_session(view, keylog)
    assert session.outcome.negotiated_tep == tep and session.outcome.role_a is Role.A
    assert set(session.init1.ciphers) == set(AeadId) and session.init2.cipher == aead
    # RFC 8548 §3.3: PSH on the segment with the last byte of Init1 and of Init2.
    for client, n in ((True, len(session.init1.raw)), (False, len(session.init2.raw))):
        assert all(p.flags & PSH for p in view.covering(client=client, offset=n - 1))
    c2s, s2c, session_id = decrypt_fresh(view, keylog)
    # RFC 8548 §3.4: TEP byte as B sent it, then 32 bytes; what both stacks reported.
    assert len(session_id) == 33 and session_id[0] == tep
    ends = corpus[1][stem].summary.ends
    assert [e.session_id for e in ends] == [session_id, session_id]
    assert plaintext(c2s).startswith(f"GET /{stem} HTTP/1.1\r\n".encode())
    response = plaintext(s2c)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and stem.encode() in response
    assert_clean_close(view, c2s, s2c)


def test_resume_chains_from_one_secret(corpus: Corpus) -> None:
    flows, keylog = load(corpus, "resume")
    assert len(flows) == 3
    first = fresh_session(flows[0], keylog)
    assert first.outcome.negotiated_tep == TepId.TCPCRYPT_ECDHE_Curve25519
    # A log with only the INIT1 line: the analyzer must derive ss[1] and ss[2] itself.
    text = (corpus[0] / "resume.keys").read_text()
    assert text.count("TCPCRYPT_SS_INIT1") == 1 and text.count("TCPCRYPT_SS_RESUME") == 2
    init1_only = KeyLog.parse("\n".join(ln for ln in text.splitlines() if "INIT1" in ln))
    ids = []
    for i, view in enumerate(flows[1:], start=1):
        a_byte, a_data = resume_suboption(eno_raw(view.syn) or b"")
        b_byte, b_data = resume_suboption(eno_raw(view.synack) or b"")
        # RFC 8548 §3.5 Figs. 2-3: TEP|0x80, a 9-byte half, an 8-byte nonce, each way.
        assert a_byte == b_byte == 0xA3 and len(a_data) == len(b_data) == 17
        resume_id = a_data[:9] + b_data[:9]
        ids.append(resume_id)
        match = keylog.ss_for_resume(resume_id)
        derived = init1_only.ss_for_resume(resume_id)
        assert match is not None and derived is not None
        assert derived.ss == match.ss and derived.generation == i
        assert derived.origin == first.init1.n_a
        # sn[i] = nonce_a | nonce_b; the client was A originally, so it encrypts with k_ab.
        keys = derive_keys(
            match.ss,
            tep_byte=b_byte,
            aead=first.init2.cipher,
            sn=session_nonce(a_data[9:], b_data[9:]),
        )
        assert keys.session_id[0] == 0xA3
        # No Init messages: the first frame starts the stream (offset 0).
        c2s = open_frames(view.c2s, keys, "ab", start=0)
        s2c = open_frames(view.s2c, keys, "ba", start=0)
        assert plaintext(c2s).startswith(f"GET /resume/{i}-resumed HTTP/1.1".encode())
        assert plaintext(s2c).startswith(b"HTTP/1.1 200 OK")
        assert_clean_close(view, c2s, s2c)
    assert ids[0] != ids[1]


def test_rekey_reaches_generation_two_both_ways(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "rekey")
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    # RFC 8548 §3.8: each side's own rekey and its answer to the peer's: two rekey bits.
    assert sum(f.rekey for f in c2s) == 2 and sum(f.rekey for f in s2c) == 2
    assert b"the client rekeyed halfway through" in plaintext(c2s)
    assert b"the server rekeyed halfway through" in plaintext(s2c)
    # The rekey bit sits on the frame that starts a generation: data before and after it.
    first_rekey = next(i for i, f in enumerate(c2s) if f.rekey)
    assert c2s[first_rekey - 1].data and c2s[first_rekey].data
    assert_clean_close(view, c2s, s2c)


def test_simultaneous_open(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "simultaneous-open")
    syns = [p for p in view.packets if is_pure_syn(p)]
    synacks = [p for p in view.packets if is_synack(p)]
    assert len(syns) == 2 and len(synacks) == 2
    assert view.packets[:2] == syns  # the SYNs crossed
    # RFC 8547 §4.6: each host's SYN-ACK repeats its SYN's option.
    for syn in syns:
        mine = [p for p in synacks if (p.src, p.sport) == (syn.src, syn.sport)]
        assert eno_raw(mine[0]) == eno_raw(syn)
    outcome = negotiate(eno_raw(syns[0]), eno_raw(syns[1]))
    assert outcome.ok and outcome.role_a is Role.A and outcome.global_b == 0x01
    assert outcome.negotiated_tep == TepId.TCPCRYPT_ECDHE_Curve25519
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    assert plaintext(c2s).startswith(b"GET /simultaneous-open HTTP/1.1")
    assert_clean_close(view, c2s, s2c)


def test_urgent_frame(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "urgent")
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    urgent = [f for f in c2s if f.urgent is not None]
    assert len(urgent) == 1
    # RFC 8548 §3.7: frame start + urgent = the index of the last urgent byte.
    frame = urgent[0]
    assert frame.data == b"URGENT: interrupt\r\n" and frame.urgent == len(frame.data) - 1
    assert not any(p.urgent_pointer for p in view.packets)
    assert_clean_close(view, c2s, s2c)


def test_bulk_download(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "bulk-256k")
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    response = plaintext(s2c)
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"Content-Length: 262144" in head and len(body) == 256 << 10
    lines = body.split(b"\n")
    numbers = [int(line.split(b" ")[0]) for line in lines[:-1]]
    assert numbers == list(range(len(numbers)))
    # RFC 8548 §3.6: clen < 2^16; a frame spans many segments.
    assert len(s2c) >= 5 and all(len(f.data) <= 65518 for f in s2c)
    assert_clean_close(view, c2s, s2c)


def test_lossy_capture_still_decrypts(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "lossy")
    server = [p for p in view.sent_by_server() if p.payload]
    copies: dict[tuple[int, bytes], int] = {}
    for pkt in server:
        copies[(pkt.seq, pkt.payload)] = copies.get((pkt.seq, pkt.payload), 0) + 1
    # At the client's interface the server's segments arrive duplicated (same bytes at the
    # same sequence numbers) and out of order (reordered, or lost and sent again).
    assert any(n > 1 for n in copies.values())
    offsets = [view.offset(p) for p in server]
    assert offsets != sorted(offsets)
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    head, _, body = plaintext(s2c).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and len(body) == 48 << 10
    assert_clean_close(view, c2s, s2c)


def test_many_mixes_teps_aeads_resumptions_fallbacks(corpus: Corpus) -> None:
    flows, keylog = load(corpus, "many-16")
    assert len(flows) == 16
    teps, aeads, resumed, plain = set(), set(), 0, 0
    for view in flows:
        syn, synack = eno_raw(view.syn), eno_raw(view.synack)
        outcome = negotiate(syn, synack)
        if not outcome.ok:
            plain += 1
            assert view.c2s.startswith(b"GET /many/")
            assert view.s2c.startswith(b"HTTP/1.1 200 OK")
            continue
        teps.add(outcome.negotiated_tep)
        if outcome.negotiated_tep_byte is not None and outcome.negotiated_tep_byte & 0x80:
            resumed += 1
            continue
        c2s, s2c, _ = decrypt_fresh(view, keylog)
        aeads.add(decode_init2(view.s2c, outcome.negotiated_tep or 0).cipher)
        assert plaintext(c2s).startswith(b"GET /many/")
        assert_clean_close(view, c2s, s2c)
    assert len(teps) >= 3 and len(aeads) >= 2 and resumed >= 2 and plain >= 2


def test_coexist_option_space(corpus: Corpus) -> None:
    flows, keylog = load(corpus, "coexist-mptcp-tfo")
    assert len(flows) == 2
    first, second = (syn_option_report(v.syn.options) for v in flows)
    kinds = [o.kind for o in first.options if o.kind not in (0, 1)]
    assert kinds == [2, 4, 8, 3, 69, 30, 34]  # MSS, SACK-perm, TS, WS, ENO, MPTCP, TFO
    assert not first.anomalies and first.total_used <= 40
    mptcp = next(o for o in first.options if o.kind == TcpOptionKind.MPTCP)
    assert mptcp.raw == bytes.fromhex("1e040101")  # RFC 8684: MP_CAPABLE v1, flag H
    assert next(o for o in first.options if o.kind == TcpOptionKind.TFO).raw == b"\x22\x02"
    # The resumption offer crowds out timestamps (our TCP) and the TFO request (the host).
    kinds2 = [o.kind for o in second.options if o.kind not in (0, 1)]
    assert kinds2 == [2, 4, 3, 69, 30]
    eno = next(o for o in second.options if o.kind == TcpOptionKind.ENO)
    assert len(eno.raw) == 23 and resume_suboption(eno.raw)[0] == 0xA3
    assert len(flows[1].syn.options) == 40
    c2s, s2c, _ = decrypt_fresh(flows[0], keylog)
    assert plaintext(c2s).startswith(b"GET /coexist/fresh HTTP/1.1")
    assert_clean_close(flows[0], c2s, s2c)
    assert eno_raw(flows[1].synack) is not None
    assert resume_suboption(eno_raw(flows[1].synack) or b"")[0] == 0xA3


def test_legacy_fresh(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "legacy-fresh")
    # LEGACY.md: kind 253 + ExID 0x454E; no global suboption in the SYN-ACK; fd 04 45 4e.
    assert eno_raw(view.syn) == bytes.fromhex("fd06454e2221")
    assert eno_raw(view.synack) == bytes.fromhex("fd05454e21")
    assert eno_raw(view.first_client_ack) == bytes.fromhex("fd04454e")
    session = fresh_session(view, keylog, dialect="legacy")
    assert session.init1.ciphers == (0x01, 0x02) and session.init2.cipher == 0x01
    assert len(session.init1.raw) == 110 and len(session.init2.raw) == 108  # LEGACY.md
    assert session.init1.pubkey[0] == 0x04  # uncompressed point
    c2s, s2c, session_id = decrypt_fresh(view, keylog, dialect="legacy")
    assert session_id[0] == 0x21
    assert plaintext(c2s).startswith(b"GET /legacy-fresh HTTP/1.1")
    assert_clean_close(view, c2s, s2c)


def test_legacy_resume(corpus: Corpus) -> None:
    flows, keylog = load(corpus, "legacy-resume")
    fresh = fresh_session(flows[0], keylog, dialect="legacy")
    for i, view in enumerate(flows[1:], start=1):
        syn = eno_raw(view.syn) or b""
        # LEGACY.md: the fresh TEPs, then a1 and the 9-byte identifier; the SYN-ACK a1 alone.
        assert syn[:6] == bytes.fromhex("fd10454e2221")
        tep_byte, identifier = resume_suboption(syn)
        assert tep_byte == 0xA1 and len(identifier) == 9
        assert eno_raw(view.synack) == bytes.fromhex("fd05454ea1")
        match = keylog.ss_for_resume(identifier, dialect="legacy")
        assert match is not None and match.origin in (fresh.init1.n_a, identifier)
        keys = derive_keys(match.ss, tep_byte=0xA1, aead=fresh.init2.cipher, dialect="legacy")
        c2s = open_frames(view.c2s, keys, "ab", start=0)
        s2c = open_frames(view.s2c, keys, "ba", start=0)
        assert plaintext(c2s).startswith(f"GET /legacy-resume/{i}-resumed".encode())
        assert_clean_close(view, c2s, s2c)
    text = (corpus[0] / "legacy-resume.keys").read_text()
    assert len(re.findall(r"TCPCRYPT_SS_RESUME +[0-9a-f]{18} ", text)) == 2
    decode_frame(flows[1].c2s)  # a frame, not an Init message, opens the resumed stream
    assert not any(
        o.kind == TcpOptionKind.ENO for p in flows[0].packets for o in iter_tcp_options(p.options)
    )
