"""The attack-* captures read back: what is wrong on purpose is on the wire, and the honest
client's reaction (an abort, a refusal) is there too."""

from __future__ import annotations

from pathlib import Path

from tcpinc_tools.commands.corpus import Written
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wire.eno import decode_eno_option

from .readback import (
    ACK,
    FIN,
    RST,
    FlowView,
    client_direction,
    decrypt_fresh,
    eno_raw,
    fresh_session,
    is_pure_syn,
    is_synack,
    open_frames,
    plaintext,
    read_all,
    read_flows,
    resume_suboption,
)

Corpus = tuple[Path, dict[str, Written]]


def load(corpus: Corpus, stem: str) -> tuple[list[FlowView], KeyLog]:
    directory, _ = corpus
    return read_flows(directory / f"{stem}.pcap"), KeyLog.load(directory / f"{stem}.keys")


def rst_after(view: FlowView, *, client: bool) -> bool:
    """The last packet the client (or server) sent is a RST."""
    sent = view.sent_by_client() if client else view.sent_by_server()
    return bool(sent[-1].flags & RST)


def test_bad_tag(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "attack-bad-tag")
    c2s, s2c, _ = decrypt_fresh(view, keylog)
    assert all(f.ok for f in c2s) and plaintext(c2s).startswith(b"GET /attack-bad-tag")
    # Exactly one frame fails its tag: the response; the server's FINp frame still opens.
    assert [f.ok for f in s2c] == [False, True] and s2c[1].fin
    assert rst_after(view, client=True)  # RFC 8548 §3.6: the client aborts


def test_truncation(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "attack-truncation")
    _, s2c, _ = decrypt_fresh(view, keylog)
    assert all(f.ok for f in s2c) and s2c
    # The server's TCP FIN arrived, but no frame of its stream carries FINp.
    fin = [p for p in view.sent_by_server() if p.flags & FIN]
    assert len(fin) == 1 and not fin[0].payload
    assert view.offset(fin[0]) == len(view.s2c)
    assert not any(f.fin for f in s2c)
    assert plaintext(s2c).startswith(b"HTTP/1.1 200 OK")  # the first half only
    assert b"line 11 " not in plaintext(s2c)
    assert rst_after(view, client=True)  # RFC 8548 §3.7: an abort, not an end of file


def test_rst_injection(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "attack-rst-injection")
    server = view.sent_by_server()
    rst_index = next(i for i, p in enumerate(server) if p.flags & RST)
    rst = server[rst_index]
    before = [p for p in server[:rst_index] if p.payload]
    # The forged RST has the exact next sequence number after the first half.
    assert view.offset(rst) == view.offset(before[-1]) + len(before[-1].payload)
    assert not rst.flags & ACK
    session = fresh_session(view, keylog)
    _, down = client_direction(session.outcome)
    first_half = view.s2c[: view.offset(rst)]
    frames = open_frames(first_half, session.keys, down, start=len(session.init2.raw))
    assert frames and all(f.ok and not f.fin for f in frames)  # no FINp before the RST
    # The real rest of the response (with FINp and FIN) comes after, to a closed port.
    assert any(p.flags & FIN for p in server[rst_index + 1 :])
    assert rst_after(view, client=True)


def test_resume_replay(corpus: Corpus) -> None:
    packets = read_all(corpus[0] / "attack-resume-replay.pcap")
    syns = [p for p in packets if is_pure_syn(p)]
    offers = [
        p
        for p in syns
        if any(s.v for s in decode_eno_option(eno_raw(p) or b"", syn=True).suboptions)
    ]
    assert len(offers) == 2
    original, replay = offers
    # Byte for byte: ports, ISN, options (the same resumption id), 5 s later.
    assert (original.sport, original.seq, original.options) == (
        replay.sport,
        replay.seq,
        replay.options,
    )
    assert replay.ts - original.ts >= 5.0
    half = resume_suboption(eno_raw(original) or b"")[1][:9]
    assert sum(1 for p in syns if half in p.options) == 2
    answers = [p for p in packets if is_synack(p) and p.dport == original.sport]
    assert len(answers) == 2
    accepted, refused = (decode_eno_option(eno_raw(p) or b"", syn=True) for p in answers)
    assert accepted.suboptions[0].byte == 0xA3  # the original was resumed
    assert [s.byte for s in refused.suboptions] == [0x23]  # the replay: fresh, v = 0
    last = packets[-1]
    assert last.flags & RST and last.sport == original.sport  # the closed port resets


def test_plaintext_after_enable(corpus: Corpus) -> None:
    (view,), keylog = load(corpus, "attack-plaintext-after-enable")
    # Encryption was enabled: ENO in both SYNs, agreed, and the client's ACK carries ENO.
    assert view.negotiate().ok and eno_raw(view.first_client_ack) == b"\x45\x02"
    session = fresh_session(view, keylog)
    after_init2 = view.s2c[len(session.init2.raw) :]
    assert after_init2.startswith(b"HTTP/1.1 200 OK\r\n")  # cleartext where frames belong
    _, down = client_direction(session.outcome)
    frames = open_frames(view.s2c, session.keys, down, start=len(session.init2.raw))
    assert frames and not frames[0].ok  # 'H' 'T' 'T' is no frame header that opens
    assert rst_after(view, client=True)


def test_tracking(corpus: Corpus) -> None:
    flows, keylog = load(corpus, "attack-tracking")
    assert len(flows) == 3
    resumed, clone = flows[1], flows[2]
    assert resumed.client[0] != clone.client[0]
    mine = resume_suboption(eno_raw(resumed.syn) or b"")
    theirs = resume_suboption(eno_raw(clone.syn) or b"")
    # One identifier half from two addresses (different nonces): the addresses are linked.
    assert mine[0] == theirs[0] == 0xA3
    assert mine[1][:9] == theirs[1][:9] and mine[1][9:] != theirs[1][9:]
    # The server refuses (no secret for the clone's address): a fresh exchange follows.
    assert [
        s.byte for s in decode_eno_option(eno_raw(clone.synack) or b"", syn=True).suboptions
    ] == [0x23]
    c2s, s2c, _ = decrypt_fresh(clone, keylog)
    assert plaintext(c2s).startswith(b"GET /attack-tracking/clone HTTP/1.1")
    assert all(f.ok for f in c2s + s2c) and c2s[-1].fin and s2c[-1].fin
