"""Every way a peer makes a tcpcrypt session abort, each with its own reason, and never a
byte of plaintext delivered from the bad message or after it (RFC 8548 §3.3, §3.6, §3.7)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tcpinc_tools.crypto.schedule import derive_keys
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.events import ConnectionAborted, DataReceived, EndOfStream, Event
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig, TcpcryptSession, TcpcryptState
from tcpinc_tools.wire.constants import AeadId
from tcpinc_tools.wire.eno import Role

from .tcpcrypt_helpers import MemoryKeyLog, drain, pump
from .test_tcpcrypt_session import make_pair

AES128 = AeadId.AEAD_AES_128_GCM


def aborted_with(session: TcpcryptSession, events: list[Event], reason: str) -> None:
    assert session.state == TcpcryptState.ABORTED
    assert session.abort_reason == reason
    assert events[-1] == ConnectionAborted(reason)
    assert sum(isinstance(e, ConnectionAborted) for e in events) == 1
    assert session.take_outgoing() == []
    session.receive_data(b"\x00" * 100)  # ignored from now on
    session.receive_fin()
    assert session.next_event() is None
    with pytest.raises(LocalProtocolError):
        session.send(b"more")
    with pytest.raises(LocalProtocolError):
        session.close()


def no_data(events: list[Event]) -> bool:
    return not any(isinstance(e, DataReceived | EndOfStream) for e in events)


def first_only(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Apply ``change`` to the first chunk of a stream only (the Init message)."""
    done = False

    def tamper(data: bytes) -> bytes:
        nonlocal done
        if done:
            return data
        done = True
        return change(data)

    return tamper


def test_init1_bad_magic() -> None:
    a, b, _, _ = make_pair()
    a.send(b"secret")
    pump(a, b, a_to_b=first_only(lambda d: b"\x15\x10\x1a\x0f" + d[4:]))
    ev = drain(b)
    aborted_with(b, ev, "tcpcrypt.init1.bad_magic")
    assert no_data(ev)


def test_init2_bad_magic() -> None:
    a, b, _, _ = make_pair()
    b.send(b"secret")
    pump(a, b, b_to_a=first_only(lambda d: b"\x09\x71\x05\xe1" + d[4:]))
    ev = drain(a)
    aborted_with(a, ev, "tcpcrypt.init2.bad_magic")
    assert no_data(ev)


def test_bad_magic_is_seen_before_the_whole_header() -> None:
    a, b, _, _ = make_pair()
    a.take_outgoing()
    b.receive_data(b"GET ")
    aborted_with(b, drain(b), "tcpcrypt.init1.bad_magic")


def test_cipher_not_offered_by_forged_init2() -> None:
    # A offers only AES-128-GCM; the forged Init2 picks ChaCha20-Poly1305 (bytes 8-9).
    a, b, _, _ = make_pair(aead=AES128)
    b.send(b"secret")
    pump(a, b, b_to_a=first_only(lambda d: d[:8] + b"\x00\x10" + d[10:]))
    ev = drain(a)
    aborted_with(a, ev, "tcpcrypt.cipher_not_offered")
    assert no_data(ev)


def test_unknown_cipher_in_legacy_init2() -> None:
    cfg = TcpcryptConfig(aconf=(AES128,), bconf=(AES128,))
    a, b, _, _ = make_pair(0x21, dialect="legacy", config=cfg)
    pump(a, b, b_to_a=first_only(lambda d: d[:8] + b"\x10" + d[9:]))
    aborted_with(a, drain(a), "tcpcrypt.cipher_not_offered")


def test_no_common_cipher() -> None:
    a, b, _, _ = make_pair(
        config=TcpcryptConfig(aconf=(AES128,), bconf=(AeadId.AEAD_CHACHA20_POLY1305,))
    )
    pump(a, b)
    aborted_with(b, drain(b), "tcpcrypt.no_common_cipher")
    assert not a.keys_ready


def test_all_zero_x25519_key_from_a() -> None:
    # Init1 with one cipher: Pub_A is bytes 43-74; u = 0 gives an all-zero ES (RFC 8548 §5).
    a, b, _, _ = make_pair(0x23)
    a.send(b"secret")
    pump(a, b, a_to_b=first_only(lambda d: d[:43] + bytes(32) + d[75:]))
    ev = drain(b)
    aborted_with(b, ev, "tcpcrypt.invalid_public_key")
    assert no_data(ev) and b.take_outgoing() == []


def test_all_zero_x25519_key_from_b() -> None:
    a, b, _, _ = make_pair(0x23)
    pump(a, b, b_to_a=first_only(lambda d: d[:42] + bytes(32) + d[74:]))
    aborted_with(a, drain(a), "tcpcrypt.invalid_public_key")


def test_p256_key_off_the_curve() -> None:
    # Init1 (one cipher): pubkey_len at 43-44, the compressed point 45-77; x = 2^256 - 1 >= p.
    a, b, _, _ = make_pair(0x21)
    pump(a, b, a_to_b=first_only(lambda d: d[:46] + b"\xff" * 32 + d[78:]))
    aborted_with(b, drain(b), "tcpcrypt.invalid_public_key")


def test_p256_bad_pubkey_len_is_the_wire_finding() -> None:
    a, b, _, _ = make_pair(0x21)
    pump(a, b, a_to_b=first_only(lambda d: d[:43] + b"\x00\x01" + d[45:]))
    aborted_with(b, drain(b), "tcpcrypt.init.bad_pubkey_len")


def test_message_len_below_header() -> None:
    a, b, _, _ = make_pair()
    pump(a, b, a_to_b=first_only(lambda d: d[:4] + b"\x00\x00\x00\x04" + d[8:]))
    aborted_with(b, drain(b), "tcpcrypt.init.bad_message_len")


def test_message_len_too_long() -> None:
    a, b, _, _ = make_pair()
    pump(a, b, a_to_b=first_only(lambda d: d[:4] + b"\x7f\x00\x00\x00" + d[8:]))
    aborted_with(b, drain(b), "tcpcrypt.init.too_long")


def test_trailing_bytes_inside_message_len_are_accepted() -> None:
    # RFC 8548 §4.1: receivers ignore bytes after Pub up to message_len. The PRK covers the
    # bytes as sent, so A (which sent none) derives other keys: B's first frame then fails.
    a, b, _, _ = make_pair()
    pump(a, b, a_to_b=first_only(lambda d: d[:4] + b"\x00\x00\x00\x4f" + d[8:75] + b"pad!"))
    assert b.keys_ready and b.abort_reason is None
    b.send(b"x")
    pump(a, b)
    aborted_with(a, drain(a), "tcpcrypt.tag_failure")


def handshake() -> tuple[TcpcryptSession, TcpcryptSession, MemoryKeyLog]:
    log = MemoryKeyLog()
    a, b, _, _ = make_pair(keylog_a=log)
    pump(a, b)
    drain(a), drain(b)
    return a, b, log


@pytest.mark.parametrize("where", [0, 3, 10, -1])
def test_flipped_frame_bit_is_a_tag_failure(where: int) -> None:
    """The control byte (its rekey bit), the ciphertext and the tag are all authenticated."""
    a, b, _ = handshake()
    a.send(b"attack at dawn")
    (frame, _), *_ = a.take_outgoing()
    bad = bytearray(frame)
    bad[where] ^= 0x01 if where == 0 else 0x80
    b.receive_data(bytes(bad))
    ev = drain(b)
    aborted_with(b, ev, "tcpcrypt.tag_failure")
    assert no_data(ev)


def test_frame_shorter_than_a_tag_is_malformed() -> None:
    _a, b, _ = handshake()
    b.receive_data(b"\x00\x00\x05hello")
    ev = drain(b)
    aborted_with(b, ev, "tcpcrypt.malformed_frame")


def test_authentic_frame_with_empty_plaintext_is_malformed() -> None:
    _a, b, log = handshake()
    ((_, _, ss0),) = log.lines
    keys = derive_keys(ss0, tep_byte=0x23, aead=AES128)
    # A's first frame would start at offset 75 (after Init1) and carries no flags byte.
    forged = keys.cipher("ab").seal(75, b"")
    b.receive_data(forged)
    aborted_with(b, drain(b), "tcpcrypt.malformed_frame")


def test_urgent_flag_without_urgent_field_is_malformed() -> None:
    _a, b, log = handshake()
    ((_, _, ss0),) = log.lines
    keys = derive_keys(ss0, tep_byte=0x23, aead=AES128)
    forged = keys.cipher("ab").seal(75, b"\x02\x00")  # URGp set, one byte where two belong
    b.receive_data(forged)
    aborted_with(b, drain(b), "tcpcrypt.malformed_frame")


def test_fin_without_finp() -> None:
    a, b, _ = handshake()
    a.send(b"half a message")
    pump(a, b)
    b.receive_fin()  # a TCP FIN, but the stream has no FINp frame
    ev = drain(b)
    assert ev[0] == DataReceived(b"half a message")  # authenticated earlier, kept
    aborted_with(b, ev, "tcpcrypt.fin_without_finp")
    assert not any(isinstance(e, EndOfStream) for e in ev)


def test_fin_during_key_exchange() -> None:
    _a, b, _, _ = make_pair()
    b.receive_fin()
    aborted_with(b, drain(b), "tcpcrypt.fin_without_finp")


def test_frame_after_finp() -> None:
    a, b, log = handshake()
    a.close()
    (fin_frame, _), *_ = a.take_outgoing()
    ((_, _, ss0),) = log.lines
    keys = derive_keys(ss0, tep_byte=0x23, aead=AES128)
    extra = keys.cipher("ab").seal(75 + len(fin_frame), b"\x00more")
    b.receive_data(fin_frame + extra)
    ev = drain(b)
    assert isinstance(ev[0], EndOfStream)
    aborted_with(b, ev, "tcpcrypt.data_after_finp")
    assert no_data(ev[1:])


def test_partial_bytes_after_finp_then_fin() -> None:
    a, b, _ = handshake()
    a.close()
    pump(a, b)
    b.receive_data(b"\x00")
    b.receive_fin()
    aborted_with(b, drain(b), "tcpcrypt.data_after_finp")


def test_abort_drops_queued_output_and_secrets() -> None:
    a, b, _, _ = make_pair()
    a.send(b"queued before keys")
    out = a.take_outgoing()
    b.receive_data(out[0][0])
    a.receive_data(b"\x00\x00\x00\x00")  # not Init2
    assert a.take_outgoing() == [] and a.take_next_secret() is None
    aborted_with(a, drain(a), "tcpcrypt.init2.bad_magic")
    assert a.session_id is None and a.role is Role.A


def test_init2_decode_error_is_the_wire_finding() -> None:
    a, b, _, _ = make_pair()
    pump(a, b, b_to_a=first_only(lambda d: d[:4] + b"\x00\x00\x00\x0c" + d[8:12]))
    aborted_with(a, drain(a), "tcpcrypt.init.bad_message_len")


def test_short_random_source_is_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        TcpcryptSession(
            role=Role.A,
            dialect="rfc",
            tep=0x23,
            tep_byte=0x23,
            transcript=b"",
            random_bytes=lambda n: bytes(n - 1),
        )
