"""TcpincConnection pairs over the fake link: TCP + TCP-ENO + tcpcrypt end to end."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tcpinc_tools.errors import LocalProtocolError, NoSessionError
from tcpinc_tools.protocol.connection import ConnectionMode, TcpincConfig, TcpincConnection
from tcpinc_tools.protocol.eno import EnoConfig
from tcpinc_tools.protocol.events import (
    Connected,
    ConnectionAborted,
    ConnectionClosed,
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    EnoEnabled,
    EnoNegotiated,
    FellBack,
    KeysUpdated,
    UrgentDataReceived,
)
from tcpinc_tools.protocol.segment import TcpFlags
from tcpinc_tools.protocol.tcp import TcpState
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig
from tcpinc_tools.wire.constants import AeadId
from tcpinc_tools.wire.eno import Role

from .link import PORT_A, PORT_B
from .tcpcrypt_helpers import ByHand, MemoryKeyLog, RecordingRandom, extract, rfc_nonce
from .tcpinc_pair import config, make_pair, sent_stream

TEPS = (0x21, 0x22, 0x23, 0x24)
AEADS = tuple(AeadId)


def only(tep: int, aead: AeadId) -> TcpincConfig:
    return config(tcpcrypt=TcpcryptConfig(teps=(tep,), aconf=(aead,), bconf=(aead,)))


@pytest.mark.parametrize(("tep", "aead"), list(itertools.product(TEPS, AEADS)))
def test_every_tep_and_aead_end_to_end(tep: int, aead: AeadId) -> None:
    pair = make_pair(config_a=only(tep, aead), config_b=only(tep, aead), seed=tep + aead)
    up, down = b"client says hi " * 300, b"server answers " * 500
    pair.a.send(up)  # queued before ENO has decided: goes out encrypted later
    pair.open()
    pair.b.send(down)
    pair.run_until_received("b", up)
    pair.run_until_received("a", down)
    pair.close_both()
    a, b = pair.a, pair.b
    assert pair.link.received("b") == up and pair.link.received("a") == down
    assert a.session_id == b.session_id and a.session_id[0] == tep and len(a.session_id) == 33
    assert a.aead == b.aead == aead and a.negotiated_tep == b.negotiated_tep == tep
    for side in ("a", "b"):
        kinds = pair.kinds(side)
        assert kinds.index("EnoNegotiated") < kinds.index("EnoEnabled")
        assert kinds.index("EncryptionEnabled") < kinds.index("DataReceived")
        assert kinds[-2:] == ["EndOfStream", "ConnectionClosed"]
    assert a.state is TcpState.CLOSED or a.state is TcpState.TIME_WAIT
    # Nothing of the plaintext travels in the clear.
    wire = sent_stream(pair.link, "a") + sent_stream(pair.link, "b")
    assert b"says hi" not in wire and b"answers" not in wire


def test_x25519_aes128_session_id_and_frame_by_hand() -> None:
    log = MemoryKeyLog()
    rng = RecordingRandom(3)
    cfg = only(0x23, AeadId.AEAD_AES_128_GCM)
    pair = make_pair(config_a=cfg, config_b=cfg, keylog_a=log.writer, random_a=rng)
    pair.open()
    pair.a.send(b"first frame")
    pair.run_until_received("b", b"first frame")
    # RFC 8547 §4.8: A's SYN option 45 03 23, B's SYN-ACK option 45 04 01 23 (b=1, TEP).
    transcript = bytes.fromhex("45032345040123")
    assert pair.a.transcript == pair.b.transcript == transcript
    up, down = sent_stream(pair.link, "a"), sent_stream(pair.link, "b")
    init1, init2 = up[:75], down[:74]
    n_a = init1[11:43]
    priv_a = rng.draws[rng.draws.index(n_a) + 1]  # the draw after N_A: A's private key
    pub_b = x25519.X25519PublicKey.from_public_bytes(init2[42:74])
    es = x25519.X25519PrivateKey.from_private_bytes(priv_a).exchange(pub_b)
    ss0 = extract(n_a, transcript + init1 + init2 + es)
    assert log.lines == [("TCPCRYPT_SS_INIT1", n_a, ss0)]
    hand = ByHand(ss0)
    assert pair.a.session_id == pair.b.session_id == hand.session_id(0x23)
    k_ab = hand.k_ab()
    frame = up[75:]
    plain = AESGCM(k_ab[:16]).decrypt(rfc_nonce(k_ab, 16, 75), frame[3:], frame[:3])
    assert plain == b"\x00first frame"
    pub_a = x25519.X25519PrivateKey.from_private_bytes(priv_a).public_key()
    assert init1[43:75] == pub_a.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_api_accessors() -> None:
    cfg_b = config(
        tcpcrypt=TcpcryptConfig(
            aconf=(AeadId.AEAD_AES_128_GCM,),
            bconf=(AeadId.AEAD_CHACHA20_POLY1305, AeadId.AEAD_AES_128_GCM),
        )
    )
    pair = make_pair(config_b=cfg_b)
    a, b = pair.a, pair.b
    for conn in (a, b):
        with pytest.raises(NoSessionError):
            conn.session_id  # noqa: B018 - no connection yet
        with pytest.raises(NoSessionError):
            conn.self_name  # noqa: B018
    assert a.role is None and a.transcript is None and a.negotiated_tep is None
    assert a.aead is None and not a.resumed and a.mode is ConnectionMode.PENDING
    assert a.teps == (0x21, 0x22, 0x24, 0x23)
    pair.open()
    assert a.encrypted and b.encrypted
    assert a.role is Role.A and b.role is Role.B
    assert a.self_name == b"\x00" + a.session_id == b.peer_name
    assert b.self_name == b"\x01" + b.session_id == a.peer_name
    assert a.negotiated_tep == 0x23  # B answered with its most preferred TEP
    assert a.peer_global_suboption == 0x01 and b.peer_global_suboption == 0x00
    assert a.self_global_suboption == 0x00 and b.self_global_suboption == 0x01
    assert b.aead == AeadId.AEAD_AES_128_GCM  # the only one A offered, though B prefers it
    assert b.bconf == cfg_b.tcpcrypt.bconf and b.aconf == cfg_b.tcpcrypt.aconf
    assert not a.aa_mandatory and not a.tep_mandatory
    assert a.eno.enabled and a.session is not None and a.fallback_reason is None
    assert a.transcript is not None and a.transcript.startswith(b"\x45")
    assert a.config.dialect == "rfc"


def test_fallback_to_plain_tcp_and_session_id_error() -> None:
    pair = make_pair(config_b=config(enabled=False))
    pair.a.send(b"plain after fallback")
    pair.open()
    pair.run_until_received("b", b"plain after fallback")
    pair.b.send(b"plain reply", urgent=True)
    pair.run_until_received("a", b"plain reply")
    a = pair.a
    assert a.mode is ConnectionMode.PLAIN and not a.encrypted
    assert any(
        isinstance(e, FellBack) and e.reason == "tcpeno.fallback.no_eno" for e in pair.events("a")
    )
    assert a.fallback_reason == "tcpeno.fallback.no_eno" and a.role is None
    with pytest.raises(NoSessionError):
        a.session_id  # noqa: B018
    with pytest.raises(NoSessionError):
        a.peer_name  # noqa: B018
    with pytest.raises(LocalProtocolError):
        a.rekey()
    assert b"plain after fallback" in sent_stream(pair.link, "a")
    assert pair.link.has("a", UrgentDataReceived)
    pair.close_both()
    assert pair.link.has("a", EndOfStream) and pair.link.has("b", ConnectionClosed)


def test_tep_mandatory_aborts_instead_of_falling_back() -> None:
    pair = make_pair(config_a=config(tep_mandatory=True), config_b=config(enabled=False))
    pair.a.send(b"must never leave in the clear")
    pair.open()
    events = pair.events("a")
    fell = [e for e in events if isinstance(e, FellBack)]
    assert fell == [FellBack("tcpeno.fallback.no_eno", abort=True)]
    assert events[-1] == ConnectionAborted("tcpeno.fallback.no_eno")
    assert pair.a.mode is ConnectionMode.ABORTED
    assert b"must never" not in sent_stream(pair.link, "a")
    with pytest.raises(LocalProtocolError):
        pair.a.send(b"x")


def test_rekey_from_either_side_and_both() -> None:
    pair = make_pair().open()
    a, b = pair.a, pair.b
    a.rekey()
    a.send(b"A1")
    pair.run_until_received("b", b"A1")
    pair.link.run(max_time=1)
    assert [a.session.local_generation, a.session.remote_generation] == [1, 1]  # type: ignore[union-attr]
    b.rekey()
    b.send(b"B1")
    pair.run_until_received("a", b"B1")
    a.rekey()
    b.rekey()
    a.send(b"A2")
    b.send(b"B2")
    pair.run_until_received("a", b"B1B2")
    pair.run_until_received("b", b"A1A2")
    pair.link.run(max_time=1)
    for conn in (a, b):
        assert conn.session is not None
        assert conn.session.local_generation == conn.session.remote_generation == 3
    updates = [e for e in pair.events("b") if isinstance(e, KeysUpdated)]
    assert [(e.generation, e.direction) for e in updates][:2] == [(1, "remote"), (1, "local")]
    pair.close_both()


def test_keepalive() -> None:
    pair = make_pair().open()
    assert pair.a.keepalive() is True
    assert pair.a.keepalive() is False  # RFC 8548 §3.8: one concurrent empty rekey
    pair.link.run(max_time=1)
    assert pair.b.session is not None and pair.b.session.local_generation == 1
    assert pair.a.session is not None and pair.a.session.remote_generation == 1
    assert pair.a.keepalive() is True
    pair.link.run(max_time=1)
    assert pair.b.session.remote_generation == 2


def test_simultaneous_open_encrypted() -> None:
    pair = make_pair(config_b=config(b=True), simultaneous=True)
    pair.open(simultaneous=True)
    a, b = pair.a, pair.b
    assert a.role is Role.A and b.role is Role.B
    assert a.session_id == b.session_id
    a.send(b"simultaneous A")
    b.send(b"simultaneous B")
    pair.run_until_received("a", b"simultaneous B")
    pair.run_until_received("b", b"simultaneous A")
    pair.close_both()


def test_lossy_link_still_delivers_encrypted_data() -> None:
    pair = make_pair(seed=11, loss=0.08, duplicate=0.08, reorder=0.2)
    blob = bytes(i % 251 for i in range(60000))
    pair.a.send(blob)
    pair.open()
    pair.b.send(blob[::-1])
    pair.run_until_received("b", blob)
    pair.run_until_received("a", blob[::-1])
    pair.close_both()
    assert any(t.fate == "dropped" for t in pair.link.trace)
    assert any(t.copies == 2 for t in pair.link.trace)
    assert pair.a.session_id == pair.b.session_id
    assert blob[1000:1100] not in sent_stream(pair.link, "a")


def test_urgent_data_encrypted() -> None:
    pair = make_pair().open()
    pair.a.send(b"abc")
    pair.a.send(b"URG", urgent=True)
    pair.run_until_received("b", b"abcURG")
    assert [e for e in pair.events("b") if isinstance(e, UrgentDataReceived)] == [
        UrgentDataReceived(6)
    ]


def test_misuse_raises() -> None:
    pair = make_pair()
    with pytest.raises(LocalProtocolError):
        pair.a.rekey()
    with pytest.raises(LocalProtocolError):
        pair.a.keepalive()
    pair.open()
    pair.a.close()
    with pytest.raises(LocalProtocolError):
        pair.a.send(b"after close")
    with pytest.raises(LocalProtocolError):
        pair.a.close()
    legacy = TcpincConnection(local_port=1, remote_port=2, config=config(dialect="legacy"))
    with pytest.raises(LocalProtocolError):
        legacy.send(b"x", urgent=True)


def test_close_before_keys_sends_finp_after_them() -> None:
    pair = make_pair()
    pair.a.send(b"early")
    pair.a.close()
    pair.open()
    pair.link.run(lambda: pair.link.has("b", EndOfStream), max_time=60)
    assert pair.link.received("b") == b"early"
    pair.b.close()
    pair.link.run(max_time=60)
    assert pair.link.has("a", ConnectionClosed) and pair.link.has("b", ConnectionClosed)


def test_application_abort() -> None:
    pair = make_pair().open()
    pair.a.abort()
    pair.link.run(max_time=5)
    assert pair.events("a")[-1] == ConnectionAborted("aborted locally")
    assert isinstance(pair.events("b")[-1], ConnectionAborted)
    pair.a.abort()  # a no-op now
    with pytest.raises(LocalProtocolError):
        pair.a.send(b"x")


def test_eno_events_come_first() -> None:
    pair = make_pair().open()
    # B negotiates on the SYN and enables on A's ACK; A negotiates on the SYN-ACK.
    assert pair.kinds("b")[:2] == ["EnoNegotiated", "EnoEnabled"]
    assert isinstance(pair.events("a")[0], EnoNegotiated)
    assert any(isinstance(e, Connected) for e in pair.events("a"))
    assert any(isinstance(e, EnoEnabled) for e in pair.events("a"))
    enabled = [e for e in pair.events("a") if isinstance(e, EncryptionEnabled)]
    aead = pair.a.aead
    assert aead is not None
    assert enabled == [EncryptionEnabled(pair.a.session_id, 0x23, aead, False)]


def test_passive_plain_when_eno_disabled_locally() -> None:
    cfg = TcpincConfig(eno=EnoConfig(enabled=False))
    b = TcpincConnection(local_port=PORT_B, config=cfg)
    b.listen()
    assert b.mode is ConnectionMode.PLAIN
    assert not any(isinstance(e, DataReceived) for e in iter(b.next_event, None))


def test_queued_urgent_data_and_close_go_plain_after_fallback() -> None:
    pair = make_pair(config_b=config(enabled=False))
    pair.a.send(b"queued ")
    pair.a.send(b"urgent", urgent=True)
    pair.a.close()
    pair.open()
    pair.link.run(lambda: pair.link.has("b", EndOfStream), max_time=60)
    assert pair.link.received("b") == b"queued urgent"
    assert pair.link.has("b", UrgentDataReceived)
    assert pair.a.tcp.state in (TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2)


def test_peer_bytes_before_our_ack_are_never_delivered_in_the_clear() -> None:
    """Data (and a FIN) right after the SYN-ACK, before A sent the ACK that enables ENO
    (an endpoint that takes two segments before sending): the bytes are held for the TEP,
    never handed to the application as plaintext."""
    a = TcpincConnection(local_port=PORT_A, remote_port=PORT_B, random_bytes=bytes)
    b = TcpincConnection(local_port=PORT_B, random_bytes=lambda n: bytes(range(n)))
    b.listen()
    a.connect(0.0)
    (syn,) = a.tcp.segments_to_send(0.0)
    b.receive_segment(syn, 0.0)
    (synack,) = b.segments_to_send(0.0)
    a.receive_segment(synack, 0.0)  # ENO negotiated on A; its ACK not built yet
    early = replace(
        synack,
        seq=(synack.seq + 1) % 2**32,
        flags=TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN,
        payload=b"GET / HTTP/1.0\r\n",
    )
    a.receive_segment(early, 0.0)
    a.segments_to_send(0.0)
    events = list(iter(a.next_event, None))
    assert a.tcp.bytes_received == len(early.payload)  # TCP took them ...
    assert not any(isinstance(e, DataReceived | EndOfStream) for e in events)  # ... held
    assert a.mode is not ConnectionMode.PLAIN
