"""crypto/aead.py: frame nonces, seal and open (RFC 8548 §3.6, §4.2; LEGACY.md frames)."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.crypto import (
    FrameCipher,
    frame_nonce,
    legacy_frame_nonce,
    open_frame,
    resolve_aead,
    seal_frame,
    split_traffic_key,
    traffic_key_len,
)
from tcpinc_tools.errors import DecryptionError, EncodeError, LocalProtocolError
from tcpinc_tools.wire.constants import AeadId, Dialect, LegacyAeadId
from tests.support import fuzz_settings, property_settings

h = bytes.fromhex

# (aead, dialect, traffic key length, AEAD key length): RFC 8548 §6 Table 3; LEGACY.md.
CASES: list[tuple[int, Dialect, int, int]] = [
    (0x0001, "rfc", 28, 16),
    (0x0002, "rfc", 44, 32),
    (0x0010, "rfc", 44, 32),
    (0x01, "legacy", 32, 16),
    (0x02, "legacy", 32, 32),
]


def traffic_key(length: int, start: int = 0x40) -> bytes:
    return bytes((start + i) & 0xFF for i in range(length))


# --- nonces -------------------------------------------------------------------------------


def test_frame_nonce_spelled_out() -> None:
    # frame_ID = 00000000 0102030405060708; NR = 000102030405060708090a0b.
    # 04^01 05^02 06^03 07^04 08^05 09^06 0a^07 0b^08 = 05 07 05 03 0d 0f 0d 03.
    nr = h("000102030405060708090a0b")
    assert frame_nonce(nr, 0x0102030405060708) == h("00010203050705030d0f0d03")
    assert frame_nonce(nr, 0) == nr
    assert frame_nonce(nr, 2**64 - 1) == h("00010203fbfaf9f8f7f6f5f4")


def test_legacy_nonce_is_little_endian() -> None:
    assert legacy_frame_nonce(0x0102030405060708) == h("0807060504030201")
    assert legacy_frame_nonce(110) == h("6e00000000000000")


@pytest.mark.parametrize("offset", [-1, 2**64])
def test_offsets_outside_64_bits_are_local_errors(offset: int) -> None:
    with pytest.raises(LocalProtocolError, match="offset"):
        frame_nonce(bytes(12), offset)
    with pytest.raises(LocalProtocolError, match="offset"):
        legacy_frame_nonce(offset)
    with pytest.raises(LocalProtocolError, match="offset"):
        FrameCipher(traffic_key(28), 0x0001).seal(offset, b"\x00")


def test_short_nonce_randomizer() -> None:
    with pytest.raises(LocalProtocolError, match="randomizer"):
        frame_nonce(bytes(7), 0)


def test_cipher_nonce_matches_the_free_functions() -> None:
    tk = traffic_key(44)
    assert FrameCipher(tk, 0x0002).nonce(1234) == frame_nonce(tk[32:], 1234)
    assert FrameCipher(traffic_key(32), 0x02, "legacy").nonce(1234) == legacy_frame_nonce(1234)


# --- seal: the frame layout, checked against the AEAD called by hand ------------------------


@pytest.mark.parametrize(("aead", "dialect", "tk_len", "key_len"), CASES)
def test_seal_is_header_then_aead_output(
    aead: int, dialect: Dialect, tk_len: int, key_len: int
) -> None:
    tk = traffic_key(tk_len)
    offset = 0x1122334455
    plaintext = b"\x01" + b"last words"
    frame = seal_frame(tk, aead, offset, plaintext, control=0x01, dialect=dialect)
    # RFC 8548 §4.2: control ‖ clen (BE, ciphertext incl. the 16-byte tag) ‖ C.
    clen = len(plaintext) + 16
    header = bytes([0x01, clen >> 8, clen & 0xFF])
    assert frame[:3] == header
    if dialect == "legacy":
        nonce = offset.to_bytes(8, "little")
    else:
        nr = tk[key_len:]
        frame_id = bytes(4) + offset.to_bytes(8, "big")
        nonce = bytes(a ^ b for a, b in zip(frame_id, nr, strict=True))
    key = tk[:key_len]
    cipher = ChaCha20Poly1305(key) if aead == 0x0010 else AESGCM(key)
    # RFC 8548 §4.2.2: the associated data is exactly the 3 header bytes.
    assert frame[3:] == cipher.encrypt(nonce, plaintext, header)
    assert len(frame) == 3 + clen


@pytest.mark.parametrize(("aead", "dialect", "tk_len", "key_len"), CASES)
def test_round_trip(aead: int, dialect: Dialect, tk_len: int, key_len: int) -> None:
    cipher = FrameCipher(traffic_key(tk_len), aead, dialect)
    for offset, plaintext, control in [
        (0, b"\x00", 0x00),
        (77, b"\x00" + bytes(range(256)) * 4, 0x01),
        (2**64 - 1, b"\x02\x00\x05urgent", 0xFE),  # cres bits are carried and authenticated
    ]:
        frame = cipher.seal(offset, plaintext, control)
        assert frame[0] == control
        assert cipher.open(offset, frame) == plaintext
        assert open_frame(traffic_key(tk_len), aead, offset, frame, dialect=dialect) == plaintext


def test_largest_frame() -> None:
    cipher = FrameCipher(traffic_key(28), 0x0001)
    plaintext = bytes(65535 - 16)
    frame = cipher.seal(0, plaintext)
    assert frame[1:3] == b"\xff\xff"
    assert cipher.open(0, frame) == plaintext
    # RFC 8548 §3.6: clen must stay below 2^16.
    with pytest.raises(EncodeError, match="2\\^16"):
        cipher.seal(0, bytes(65535 - 15))


@pytest.mark.parametrize("control", [-1, 0x100])
def test_control_must_be_a_byte(control: int) -> None:
    with pytest.raises(EncodeError, match="control"):
        FrameCipher(traffic_key(28), 0x0001).seal(0, b"\x00", control)


# --- open: every tampering fails ------------------------------------------------------------


@pytest.fixture(params=CASES, ids=lambda c: f"{c[1]}-{c[0]:#x}")
def sealed(request: pytest.FixtureRequest) -> tuple[FrameCipher, bytes, int, int, Dialect]:
    aead, dialect, tk_len, _ = request.param
    cipher = FrameCipher(traffic_key(tk_len), aead, dialect)
    return cipher, cipher.seal(4242, b"\x00attack at dawn"), aead, tk_len, dialect


def _flip(frame: bytes, index: int, mask: int = 0x01) -> bytes:
    data = bytearray(frame)
    data[index] ^= mask
    return bytes(data)


@pytest.mark.parametrize(
    ("what", "index", "mask"),
    [
        ("rekey bit", 0, 0x01),
        ("cres bit", 0, 0x80),
        ("first ciphertext byte", 3, 0x01),
        ("last tag byte", -1, 0x80),
        ("first tag byte", -16, 0x01),
    ],
)
def test_tampered_bytes_fail(
    sealed: tuple[FrameCipher, bytes, int, int, Dialect], what: str, index: int, mask: int
) -> None:
    cipher, frame, *_ = sealed
    with pytest.raises(DecryptionError, match="tag"):
        cipher.open(4242, _flip(frame, index, mask))


def test_wrong_clen_fails(sealed: tuple[FrameCipher, bytes, int, int, Dialect]) -> None:
    cipher, frame, *_ = sealed
    with pytest.raises(DecryptionError, match="clen"):
        cipher.open(4242, _flip(frame, 2))
    with pytest.raises(DecryptionError, match="clen"):
        cipher.open(4242, frame[:-1])
    # A clen that matches a frame with one extra byte still fails the tag: clen is in A.
    longer = bytearray(frame + b"\x00")
    longer[1:3] = (len(longer) - 3).to_bytes(2, "big")
    with pytest.raises(DecryptionError, match="tag"):
        cipher.open(4242, bytes(longer))


def test_short_frames_fail(sealed: tuple[FrameCipher, bytes, int, int, Dialect]) -> None:
    cipher, *_ = sealed
    for frame in (b"", b"\x00", b"\x00\x00\x10", b"\x00\x00\x0f" + bytes(15)):
        with pytest.raises(DecryptionError, match="shorter"):
            cipher.open(0, frame)


def test_wrong_offset_fails(sealed: tuple[FrameCipher, bytes, int, int, Dialect]) -> None:
    cipher, frame, *_ = sealed
    for offset in (4241, 4243, 0, 4242 + 2**32):
        with pytest.raises(DecryptionError):
            cipher.open(offset, frame)


def test_wrong_key_fails(sealed: tuple[FrameCipher, bytes, int, int, Dialect]) -> None:
    _, frame, aead, tk_len, dialect = sealed
    other = FrameCipher(traffic_key(tk_len, start=0x41), aead, dialect)
    with pytest.raises(DecryptionError):
        other.open(4242, frame)


def test_nonce_randomizer_matters() -> None:
    # Same AEAD key, different NR: the nonce differs, so the frame does not open.
    tk = traffic_key(28)
    frame = FrameCipher(tk, 0x0001).seal(9, b"\x00x")
    with pytest.raises(DecryptionError):
        FrameCipher(tk[:16] + bytes(12), 0x0001).open(9, frame)


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(("aead", "dialect", "tk_len", "key_len"), CASES)
def test_key_layout(aead: int, dialect: Dialect, tk_len: int, key_len: int) -> None:
    tk = traffic_key(tk_len)
    assert traffic_key_len(aead, dialect) == tk_len
    key, nr = split_traffic_key(tk, aead, dialect=dialect)
    assert key == tk[:key_len]
    assert nr == (b"" if dialect == "legacy" else tk[key_len:])
    assert len(nr) in (0, 12)


def test_resolve_aead() -> None:
    assert resolve_aead(0x0010) is AeadId.AEAD_CHACHA20_POLY1305
    assert resolve_aead(LegacyAeadId.AES_256_GCM, "legacy") is AeadId.AEAD_AES_256_GCM
    assert resolve_aead(AeadId.AEAD_AES_128_GCM, "legacy") is AeadId.AEAD_AES_128_GCM
    for aead, dialect in [(0x0003, "rfc"), (0x0000, "rfc"), (0x0010, "legacy"), (0x03, "legacy")]:
        with pytest.raises(LocalProtocolError, match="not available"):
            resolve_aead(aead, dialect)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="dialect"):
        resolve_aead(0x0001, "tls")  # type: ignore[arg-type]


@pytest.mark.parametrize(("aead", "dialect", "tk_len", "key_len"), CASES)
def test_wrong_traffic_key_length(aead: int, dialect: Dialect, tk_len: int, key_len: int) -> None:
    for length in {key_len, tk_len - 1, tk_len + 1} - {tk_len}:
        with pytest.raises(LocalProtocolError, match="traffic key"):
            FrameCipher(traffic_key(length), aead, dialect)


def test_repr_hides_the_key() -> None:
    tk = traffic_key(44)
    cipher = FrameCipher(tk, 0x0010)
    assert repr(cipher) == "FrameCipher(aead=AEAD_CHACHA20_POLY1305, dialect='rfc')"
    assert tk.hex() not in repr(cipher)


# --- contracts --------------------------------------------------------------------------------

_CIPHERS = [FrameCipher(traffic_key(tk_len), aead, dialect) for aead, dialect, tk_len, _ in CASES]


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=80))
    if draw(st.booleans()):
        return body
    control = draw(st.integers(0, 255))
    return bytes([control]) + len(body).to_bytes(2, "big") + body


@fuzz_settings
@given(st.sampled_from(range(len(_CIPHERS))), st.integers(0, 2**64 - 1), frames())
def test_open_gives_plaintext_or_decryption_error(index: int, offset: int, frame: bytes) -> None:
    # Random bytes never authenticate: anything but DecryptionError escapes and fails the test.
    with contextlib.suppress(DecryptionError):
        _CIPHERS[index].open(offset, frame)


@property_settings
@given(
    st.sampled_from(range(len(_CIPHERS))),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=300),
    st.integers(0, 255),
)
def test_seal_open_property(index: int, offset: int, plaintext: bytes, control: int) -> None:
    cipher = _CIPHERS[index]
    frame = cipher.seal(offset, plaintext, control)
    assert len(frame) == 3 + len(plaintext) + 16
    assert cipher.open(offset, frame) == plaintext
