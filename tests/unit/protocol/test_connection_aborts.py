"""Tampering on the link: each tcpcrypt violation aborts the connection (RST) with its own
reason, delivers no plaintext, and leaves nothing usable (RFC 8548 §3.3, §3.6, §3.7)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.connection import ConnectionMode, TcpincConfig
from tcpinc_tools.protocol.events import ConnectionAborted, DataReceived, EndOfStream
from tcpinc_tools.protocol.segment import Segment
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig
from tcpinc_tools.wire.constants import AeadId

from .link import Side
from .tcpinc_pair import Pair, config, make_pair, once, with_payload

INIT1 = bytes.fromhex("15101a0e")
INIT2 = bytes.fromhex("097105e0")
AES128 = AeadId.AEAD_AES_128_GCM
SECRET = b"the plaintext that must never be delivered"


def one(tep: int) -> TcpincConfig:
    return config(tcpcrypt=TcpcryptConfig(teps=(tep,), aconf=(AES128,)))


def patch(offset: int, new: bytes) -> Callable[[Segment], Segment]:
    def change(seg: Segment) -> Segment:
        p = seg.payload
        return with_payload(seg, p[:offset] + new + p[offset + len(new) :])

    return change


def starts_with(magic: bytes) -> Callable[[Segment], bool]:
    return lambda seg: seg.payload.startswith(magic)


def is_frame(seg: Segment) -> bool:
    return bool(seg.payload) and not seg.payload.startswith((INIT1, INIT2))


def run_aborted(pair: Pair, victim: Side, reason: str) -> None:
    """Send SECRET both ways, run, and check the victim aborted with ``reason``."""
    pair.a.send(SECRET)
    pair.b.send(SECRET)
    pair.open()
    pair.link.run(max_time=30)
    conn = pair.end(victim)
    events = pair.events(victim)
    assert events[-1] == ConnectionAborted(reason)
    assert not any(isinstance(e, DataReceived | EndOfStream) for e in events)
    assert conn.mode is ConnectionMode.ABORTED and conn.session is None
    with pytest.raises(LocalProtocolError):
        conn.send(b"more")
    # The abort is TCP's: a RST went to the peer, which reports the reset.
    peer: Side = "b" if victim == "a" else "a"
    assert any(t.sender == victim and t.segment.is_rst for t in pair.link.trace)
    assert pair.events(peer)[-1] == ConnectionAborted("connection reset by peer")


def test_flipped_ciphertext_bit() -> None:
    def flip(seg: Segment) -> Segment:
        p = bytearray(seg.payload)
        p[-1] ^= 0x04
        return with_payload(seg, bytes(p))

    pair = make_pair(tamper_a=once(flip, is_frame))
    run_aborted(pair, "b", "tcpcrypt.tag_failure")


def test_bad_init1_magic() -> None:
    pair = make_pair(tamper_a=once(patch(0, b"\x15\x10\x1a\x0f"), starts_with(INIT1)))
    run_aborted(pair, "b", "tcpcrypt.init1.bad_magic")


def test_bad_init2_magic() -> None:
    pair = make_pair(tamper_b=once(patch(3, b"\xe1"), starts_with(INIT2)))
    run_aborted(pair, "a", "tcpcrypt.init2.bad_magic")


def test_cipher_not_offered_in_forged_init2() -> None:
    # A offers AES-128-GCM only; Init2's sym_cipher (bytes 8-9) becomes ChaCha20-Poly1305.
    pair = make_pair(
        config_a=one(0x23),
        tamper_b=once(patch(8, b"\x00\x10"), starts_with(INIT2)),
    )
    run_aborted(pair, "a", "tcpcrypt.cipher_not_offered")


def test_invalid_p256_public_key() -> None:
    # Init1 with one cipher: pubkey_len at 43-44, then 02/03 and x at 46-77: x >= p.
    pair = make_pair(
        config_a=one(0x21),
        config_b=one(0x21),
        tamper_a=once(patch(46, b"\xff" * 32), starts_with(INIT1)),
    )
    run_aborted(pair, "b", "tcpcrypt.invalid_public_key")


def test_all_zero_x25519_key() -> None:
    pair = make_pair(
        config_a=one(0x23),
        tamper_a=once(patch(43, bytes(32)), starts_with(INIT1)),
    )
    run_aborted(pair, "b", "tcpcrypt.invalid_public_key")


def test_fin_without_finp() -> None:
    """The FINp frame is stripped from the FIN segment: B sees a bare TCP FIN."""
    pair = make_pair(tamper_a=once(lambda seg: with_payload(seg, b""), lambda seg: seg.is_fin))
    pair.open()
    pair.a.send(b"authentic")
    pair.run_until_received("b", b"authentic")
    pair.a.close()
    pair.link.run(max_time=30)
    events = pair.events("b")
    assert events[-1] == ConnectionAborted("tcpcrypt.fin_without_finp")
    assert not any(isinstance(e, EndOfStream) for e in events)
    assert pair.link.received("b") == b"authentic"  # authenticated before the FIN: kept
    assert any(t.sender == "b" and t.segment.is_rst for t in pair.link.trace)
