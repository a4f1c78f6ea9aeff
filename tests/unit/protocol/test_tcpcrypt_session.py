"""TcpcryptSession at the stream level: key exchange, frames, FIN, checked by hand.

Two sessions are joined by :func:`pump` (no TCP): what one hands out is what the other
reads. The expected values are recomputed here from RFC 8548 with hmac/hashlib and the
`cryptography` primitives directly (tests/unit/protocol/tcpcrypt_helpers.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tcpinc_tools.crypto.schedule import derive_keys
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.events import (
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    Event,
    KeysUpdated,
    UrgentDataReceived,
)
from tcpinc_tools.protocol.tcpcrypt import (
    ResumeState,
    TcpcryptConfig,
    TcpcryptSession,
    TcpcryptState,
)
from tcpinc_tools.protocol.tcpcrypt_frames import MAX_CHUNK, FrameWriter
from tcpinc_tools.wire.constants import AeadId, TepId
from tcpinc_tools.wire.eno import Role

from .tcpcrypt_helpers import (
    ByHand,
    MemoryKeyLog,
    RecordingRandom,
    drain,
    expand,
    extract,
    pump,
    rfc_nonce,
)

TEPS = (0x21, 0x22, 0x23, 0x24)
AEADS = tuple(AeadId)
KEY_LEN = {
    AeadId.AEAD_AES_128_GCM: 16,
    AeadId.AEAD_AES_256_GCM: 32,
    AeadId.AEAD_CHACHA20_POLY1305: 32,
}
# RFC 8547 §4.8 (DIGEST.md §1.10 example): A sent 45 03 23, B sent 45 04 01 23.
TRANSCRIPT = bytes.fromhex("45032345040123")


def make_pair(
    tep: int = 0x23,
    aead: AeadId = AeadId.AEAD_AES_128_GCM,
    *,
    dialect: str = "rfc",
    seed: int = 1,
    config: TcpcryptConfig | None = None,
    keylog_a: MemoryKeyLog | None = None,
    keylog_b: MemoryKeyLog | None = None,
) -> tuple[TcpcryptSession, TcpcryptSession, RecordingRandom, RecordingRandom]:
    cfg = config or TcpcryptConfig(aconf=(aead,), bconf=(aead,))
    rng_a, rng_b = RecordingRandom(seed), RecordingRandom(seed + 100)
    a = TcpcryptSession(
        role=Role.A,
        dialect=dialect,  # type: ignore[arg-type]
        tep=tep,
        tep_byte=tep,
        transcript=TRANSCRIPT,
        config=cfg,
        random_bytes=rng_a,
        keylog=keylog_a.writer if keylog_a else None,
    )
    b = TcpcryptSession(
        role=Role.B,
        dialect=dialect,  # type: ignore[arg-type]
        tep=tep,
        tep_byte=tep,
        transcript=TRANSCRIPT,
        config=cfg,
        random_bytes=rng_b,
        keylog=keylog_b.writer if keylog_b else None,
    )
    return a, b, rng_a, rng_b


def data_of(events: Iterable[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, DataReceived))


@pytest.mark.parametrize(("tep", "aead"), list(itertools.product(TEPS, AEADS)))
def test_fresh_exchange_every_tep_and_aead(tep: int, aead: AeadId) -> None:
    a, b, _, _ = make_pair(tep, aead)
    a.send(b"ping from A")
    b.send(b"pong from B" * 100)
    a.close()
    b.close()
    pump(a, b)
    ev_a, ev_b = drain(a), drain(b)
    enabled_a = next(e for e in ev_a if isinstance(e, EncryptionEnabled))
    enabled_b = next(e for e in ev_b if isinstance(e, EncryptionEnabled))
    assert enabled_a == enabled_b
    assert enabled_a.session_id[0] == tep and len(enabled_a.session_id) == 33
    assert (enabled_a.tep, enabled_a.aead, enabled_a.resumed) == (tep, aead, False)
    assert data_of(ev_b) == b"ping from A"
    assert data_of(ev_a) == b"pong from B" * 100
    assert isinstance(ev_a[-1], EndOfStream) and isinstance(ev_b[-1], EndOfStream)
    assert a.fin_sent and a.fin_received and b.fin_sent and b.fin_received
    a.receive_fin()
    b.receive_fin()
    assert a.state == b.state == TcpcryptState.OPEN
    assert a.abort_reason is None and b.abort_reason is None
    assert (a.dialect, a.tep, a.tep_byte, a.role, b.role) == ("rfc", tep, tep, Role.A, Role.B)


def test_x25519_aes128_by_hand() -> None:
    """ss[0], the session ID and both directions' first frame, from RFC 8548 by hand."""
    a, b, rng_a, rng_b = make_pair(0x23, AeadId.AEAD_AES_128_GCM)
    a.send(b"hello B")
    b.send(b"hello A")
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    ab, ba = bytes(wires["ab"]), bytes(wires["ba"])
    # RFC 8548 §4.1: Init1 = magic ‖ len ‖ nciphers=1 ‖ 0001 ‖ N_A (32) ‖ Pub_A (32) = 75.
    n_a, priv_a = rng_a.draws[0], rng_a.draws[1]
    pub_a = x25519.X25519PrivateKey.from_private_bytes(priv_a).public_key()
    raw_pub_a = pub_a.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    init1 = bytes.fromhex("15101a0e0000004b010001") + n_a + raw_pub_a
    assert ab[:75] == init1
    # Init2 = magic ‖ len ‖ 0001 ‖ N_B ‖ Pub_B = 74 bytes.
    n_b, priv_b = rng_b.draws[0], rng_b.draws[1]
    pub_b = x25519.X25519PrivateKey.from_private_bytes(priv_b).public_key()
    raw_pub_b = pub_b.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    init2 = bytes.fromhex("097105e00000004a0001") + n_b + raw_pub_b
    assert ba[:74] == init2
    es = x25519.X25519PrivateKey.from_private_bytes(priv_a).exchange(pub_b)
    # RFC 8548 §3.3: ss[0] = Extract(N_A, eno_transcript | Init1 | Init2 | ES).
    hand = ByHand(extract(n_a, TRANSCRIPT + init1 + init2 + es))
    assert a.session_id == b.session_id == hand.session_id(0x23)
    # A's first frame starts at stream offset 75 (the Init1 bytes count, DIGEST.md §2.12).
    k_ab, k_ba = hand.k_ab(), hand.k_ba()
    frame = ab[75:]
    clen = int.from_bytes(frame[1:3], "big")
    assert frame[0] == 0 and len(frame) == 3 + clen
    plain = AESGCM(k_ab[:16]).decrypt(rfc_nonce(k_ab, 16, 75), frame[3:], frame[:3])
    assert plain == b"\x00hello B"
    frame = ba[74:]
    plain = AESGCM(k_ba[:16]).decrypt(rfc_nonce(k_ba, 16, 74), frame[3:], frame[:3])
    assert plain == b"\x00hello A"


def test_p256_compressed_key_and_es_by_hand() -> None:
    """P-256: the compressed Pub_A with its 2-byte length (T27), ES = x-coordinate (T14)."""
    a, b, rng_a, rng_b = make_pair(0x21, AeadId.AEAD_AES_256_GCM)
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    # FIPS 186-4 §B.4.1, as crypto/kex.py documents it: d = (c mod (n-1)) + 1 from 40 bytes.
    d_a = int.from_bytes(rng_a.draws[1], "big") % (order - 1) + 1
    d_b = int.from_bytes(rng_b.draws[1], "big") % (order - 1) + 1
    key_a = ec.derive_private_key(d_a, ec.SECP256R1())
    key_b = ec.derive_private_key(d_b, ec.SECP256R1())
    comp_a = key_a.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    ab, ba = bytes(wires["ab"]), bytes(wires["ba"])
    # Init1: 8 + 1 + 2 + 32 + (2 + 33) = 78 bytes; pubkey_len 0x0023 counts itself.
    init1 = bytes.fromhex("15101a0e0000004e010002") + rng_a.draws[0] + b"\x00\x23" + comp_a
    assert ab[:78] == init1
    init2 = ba[:77]
    es = key_a.exchange(ec.ECDH(), key_b.public_key())
    hand = ByHand(extract(rng_a.draws[0], TRANSCRIPT + init1 + init2 + es), key_len=32)
    assert a.session_id == hand.session_id(0x21)


def test_init_messages_byte_by_byte() -> None:
    """Init1 and Init2 may span segments: feed every byte on its own."""
    a, b, _, _ = make_pair(0x24, AeadId.AEAD_CHACHA20_POLY1305)
    a.send(b"x" * 10)
    for data, push in a.take_outgoing():
        assert push
        for i in range(len(data)):
            b.receive_data(data[i : i + 1])
    out_b = b"".join(d for d, _ in b.take_outgoing())
    for i in range(len(out_b)):
        a.receive_data(out_b[i : i + 1])
    pump(a, b)
    assert a.session_id == b.session_id is not None
    assert data_of(drain(b)) == b"x" * 10


def test_outgoing_push_flags_and_no_plaintext_before_keys() -> None:
    a, b, _, _ = make_pair()
    secret = b"SECRET-APPLICATION-DATA"
    a.send(secret)
    a.close()
    out = a.take_outgoing()
    # Only Init1 goes out before Init2 arrives; the data and FINp wait for the keys.
    assert len(out) == 1 and out[0][1] is True and out[0][0].startswith(b"\x15\x10\x1a\x0e")
    assert not a.keys_ready and a.state == TcpcryptState.KEY_EXCHANGE and not a.fin_sent
    b.send(secret)
    b.receive_data(out[0][0])
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    assert secret not in wires["ab"] and secret not in wires["ba"]
    assert a.fin_sent and data_of(drain(b)) == secret


def test_chunking_keeps_frames_below_2_16() -> None:
    a, b, _, _ = make_pair()
    blob = bytes(range(256)) * 800  # 204800 bytes
    a.send(blob)
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    stream = bytes(wires["ab"])[75:]
    sizes = []
    while stream:
        clen = int.from_bytes(stream[1:3], "big")
        sizes.append(clen)
        stream = stream[3 + clen :]
    # RFC 8548 §3.6: clen < 2^16; 65518 data + 1 flags + 16 tag = 65535.
    assert sizes == [65535, 65535, 65535, 204800 - 3 * 65518 + 17]
    assert data_of(drain(b)) == blob


def test_small_chunk_setting() -> None:
    cfg = TcpcryptConfig(aconf=(AeadId.AEAD_AES_128_GCM,), chunk=100)
    a, b, _, _ = make_pair(config=cfg)
    a.send(b"y" * 1050)
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    assert len(wires["ab"]) == 75 + 11 * (3 + 1 + 16) + 1050
    assert data_of(drain(b)) == b"y" * 1050


def test_keylog_holds_ss0_of_both_sides() -> None:
    log_a, log_b = MemoryKeyLog(), MemoryKeyLog()
    a, b, rng_a, _ = make_pair(keylog_a=log_a, keylog_b=log_b)
    pump(a, b)
    assert log_a.lines == log_b.lines
    ((label, n_a, ss0),) = log_a.lines
    assert label == "TCPCRYPT_SS_INIT1" and n_a == rng_a.draws[0]
    assert ByHand(ss0).session_id(0x23) == a.session_id
    # The next secret is ss[1], handed out once for the resumption cache.
    assert a.take_next_secret() == ByHand(ss0).next()
    assert a.take_next_secret() is None


def test_urgent_data() -> None:
    a, b, _, _ = make_pair()
    a.send(b"normal ")
    a.send(b"URGENT", urgent=True)
    a.send(b" tail")
    pump(a, b)
    events = drain(b)
    urgent = [e for e in events if isinstance(e, UrgentDataReceived)]
    # RFC 8548 §3.7: the urgent data ends at application index 12; offset is one past it.
    assert urgent == [UrgentDataReceived(13)]
    assert data_of(events) == b"normal URGENT tail"


def test_urgent_spanning_frames() -> None:
    cfg = TcpcryptConfig(aconf=(AeadId.AEAD_AES_128_GCM,), chunk=4)
    a, b, _, _ = make_pair(config=cfg)
    a.send(b"0123456789", urgent=True)
    pump(a, b)
    events = drain(b)
    assert {e.offset for e in events if isinstance(e, UrgentDataReceived)} == {10}
    assert data_of(events) == b"0123456789"


def test_rekey_from_a_is_answered() -> None:
    a, b, _, _ = make_pair()
    pump(a, b)
    drain(a), drain(b)
    a.rekey()
    a.rekey()  # still pending: no second generation step
    a.send(b"after rekey")
    pump(a, b)
    ev_a, ev_b = drain(a), drain(b)
    assert (a.local_generation, a.remote_generation) == (1, 1)
    assert (b.local_generation, b.remote_generation) == (1, 1)
    assert [type(e).__name__ for e in ev_b] == ["KeysUpdated", "KeysUpdated", "DataReceived"]
    assert [(e.generation, e.direction) for e in ev_b if isinstance(e, KeysUpdated)] == [
        (1, "remote"),
        (1, "local"),
    ]
    assert [(e.generation, e.direction) for e in ev_a if isinstance(e, KeysUpdated)] == [
        (1, "local"),
        (1, "remote"),
    ]
    assert len(ev_a) == 2
    assert data_of(ev_b) == b"after rekey"


def test_rekey_from_both_at_once() -> None:
    a, b, _, _ = make_pair()
    pump(a, b)
    a.rekey()
    b.rekey()
    a.send(b"A1")
    b.send(b"B1")
    pump(a, b)
    assert a.local_generation == a.remote_generation == b.local_generation == 1
    assert b.remote_generation == 1
    for _ in range(3):
        a.rekey()
        a.send(b"A")
        pump(a, b)
    b.send(b"B2")
    pump(a, b)
    assert a.local_generation == b.remote_generation == b.local_generation == 4
    assert data_of(drain(b)) == b"A1AAA"
    assert data_of(drain(a)) == b"B1B2"


def test_keepalive_probe_and_answer() -> None:
    a, b, _, _ = make_pair()
    pump(a, b)
    assert a.keepalive() is True
    assert a.keepalive() is False  # §3.8: no second concurrent empty rekey
    out = a.take_outgoing()
    assert len(out) == 1 and len(out[0][0]) == 3 + 1 + 16  # an empty frame
    b.receive_data(out[0][0])
    pump(a, b)
    assert a.local_generation == a.remote_generation == 1
    assert a.keepalive() is True
    pump(a, b)
    assert b.local_generation == 2


def test_rekey_after_fin_sent_catches_up_silently() -> None:
    a, b, _, _ = make_pair()
    pump(a, b)
    b.close()
    pump(a, b)
    a.rekey()
    a.send(b"late")
    pump(a, b)
    assert b.remote_generation == 1 and b.local_generation == 1
    assert b.take_outgoing() == []
    assert data_of(drain(b)) == b"late"


def test_legacy_fresh_by_hand() -> None:
    """LEGACY.md: 1-byte cipher ids, uncompressed keys, offsets from after Init1/Init2,
    32-byte K_AB with the AES key in front and an 8-byte little-endian nonce."""
    log = MemoryKeyLog()
    cfg = TcpcryptConfig(aconf=(AeadId.AEAD_AES_128_GCM, AeadId.AEAD_AES_256_GCM))
    a, b, rng_a, _ = make_pair(0x21, dialect="legacy", config=cfg, keylog_a=log)
    a.send(b"legacy hello")
    wires: dict[str, bytearray] = {}
    pump(a, b, wires=wires)
    ab = bytes(wires["ab"])
    # Init1: magic, len 0x6e = 110 (LEGACY.md example), 2 ciphers 01 02, N_A, 00 43, 04 ‖ X ‖ Y.
    assert ab[:11] == bytes.fromhex("15101a0e0000006e020102")
    assert ab[11:43] == rng_a.draws[0]
    assert ab[43:46] == b"\x00\x43\x04"
    ((_, _, ss0),) = log.lines
    mk = expand(ss0, b"\x03", 32)
    k_ab = expand(mk, b"\x04", 32)
    assert a.session_id == b"\x21" + expand(ss0, b"\x02", 32)
    # B chose AES-256-GCM (bconf default prefers it): key = all 32 bytes of K_AB.
    assert a.aead == AeadId.AEAD_AES_256_GCM
    frame = ab[110:]
    nonce = (0).to_bytes(8, "little")
    assert AESGCM(k_ab).decrypt(nonce, frame[3:], frame[:3]) == b"\x00legacy hello"
    assert data_of(drain(b)) == b"legacy hello"


def test_legacy_rejects_urgent_and_non_nist_tep() -> None:
    a = make_pair(0x22, dialect="legacy")[0]
    with pytest.raises(LocalProtocolError):
        a.send(b"x", urgent=True)
    with pytest.raises(LocalProtocolError):
        make_pair(0x23, dialect="legacy")


@pytest.mark.parametrize("dialect", ["rfc", "legacy"])
@pytest.mark.parametrize("original_a_is_b_now", [False, True])
def test_resumed_sessions(dialect: str, original_a_is_b_now: bool) -> None:
    """RFC 8548 §3.5: keys from ss[i] and sn[i]; directions by ORIGINAL role (T11)."""
    ss = bytes(range(32))
    nonce_a, nonce_b = (b"NA-nonce", b"NB") if dialect == "rfc" else (b"", b"")
    rid = ByHand(ss).resume() if dialect == "rfc" else expand(ss, b"\x02", 32)[:9]
    wire_aead = AeadId.AEAD_AES_128_GCM
    tep_byte = 0xA1
    logs = MemoryKeyLog(), MemoryKeyLog()
    sessions = []
    for original, log in zip((Role.A, Role.B), logs, strict=True):
        now = original.other if original_a_is_b_now else original
        state = ResumeState(ss, original, wire_aead, nonce_a, nonce_b, rid)
        sessions.append(
            TcpcryptSession(
                role=now,
                dialect=dialect,  # type: ignore[arg-type]
                tep=0x21,
                tep_byte=tep_byte,
                transcript=b"ignored when resuming",
                resumption=state,
                random_bytes=RecordingRandom(0),
                keylog=log.writer,
            )
        )
    orig_a, orig_b = sessions
    assert orig_a.resumed and orig_a.keys_ready and orig_a.take_outgoing() == []
    orig_a.send(b"from original A")
    wires: dict[str, bytearray] = {}
    pump(orig_a, orig_b, wires=wires)
    sn = nonce_a + nonce_b
    hand = ByHand(ss, sn=sn) if dialect == "rfc" else None
    if hand is not None:
        assert orig_a.session_id == orig_b.session_id == hand.session_id(0xA1)
        k_ab = hand.k_ab()
        frame = bytes(wires["ab"])
        plain = AESGCM(k_ab[:16]).decrypt(rfc_nonce(k_ab, 16, 0), frame[3:], frame[:3])
        assert plain == b"\x00from original A"
    else:
        assert orig_a.session_id == b"\xa1" + expand(ss, b"\x02", 32)
    ev = drain(orig_b)
    assert ev[0] == EncryptionEnabled(orig_a.session_id, 0x21, wire_aead, True)
    assert data_of(ev) == b"from original A"
    for log in logs:
        assert log.lines == [("TCPCRYPT_SS_RESUME", rid, ss)]
    assert orig_a.original_role is Role.A and orig_a.take_next_secret() is None


def test_caller_misuse_raises() -> None:
    a, b, _, _ = make_pair()
    with pytest.raises(LocalProtocolError):
        a.rekey()  # keys not ready
    with pytest.raises(LocalProtocolError):
        a.keepalive()
    pump(a, b)
    a.send(b"")
    assert a.take_outgoing() == []
    a.close()
    with pytest.raises(LocalProtocolError):
        a.close()
    with pytest.raises(LocalProtocolError):
        a.send(b"x")
    with pytest.raises(LocalProtocolError):
        a.rekey()
    with pytest.raises(LocalProtocolError):
        TcpcryptSession(role=Role.A, dialect="rfc", tep=0x20, tep_byte=0x20, transcript=b"")
    with pytest.raises(LocalProtocolError):
        TcpcryptSession(role=Role.A, dialect="rfc", tep=0x23, tep_byte=0xA1, transcript=b"")
    state = ResumeState(bytes(32), Role.A, AeadId.AEAD_CHACHA20_POLY1305, b"", b"", bytes(9))
    with pytest.raises(LocalProtocolError):
        TcpcryptSession(
            role=Role.A,
            dialect="legacy",
            tep=0x21,
            tep_byte=0xA1,
            transcript=b"",
            resumption=state,
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"teps": (0x20,)},
        {"teps": (0x23, 0x23)},
        {"aconf": ()},
        {"bconf": (0x0003,)},
        {"resume_nonce_len": 9},
        {"chunk": 0},
        {"chunk": 65519},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        TcpcryptConfig(**kwargs)  # type: ignore[arg-type]


def test_config_teps_for_dialect() -> None:
    cfg = TcpcryptConfig()
    assert cfg.teps_for("rfc") == (0x21, 0x22, 0x24, 0x23)
    assert cfg.teps_for("legacy") == (TepId.TCPCRYPT_ECDHE_P256, TepId.TCPCRYPT_ECDHE_P521)


def test_legacy_without_a_legacy_aead_is_misuse() -> None:
    cfg = TcpcryptConfig(aconf=(AeadId.AEAD_CHACHA20_POLY1305,))
    with pytest.raises(LocalProtocolError):
        make_pair(0x21, dialect="legacy", config=cfg)


def test_frame_writer_chunk_bounds() -> None:
    keys = derive_keys(bytes(32), tep_byte=0x23, aead=AeadId.AEAD_AES_128_GCM)
    for chunk in (0, MAX_CHUNK + 1):
        with pytest.raises(LocalProtocolError):
            FrameWriter(keys, "ab", 0, chunk=chunk)
    writer = FrameWriter(keys, "ab", 0, chunk=MAX_CHUNK)
    writer.rekey_pending = True
    writer.catch_up(3)
    assert writer.generation == 3 and not writer.rekey_pending
