"""tcpcrypt frames and frame plaintext (RFC 8548 §4.2, §4.2.1, §4.2.2; LEGACY.md).

Frames are imported from ``tcpinc_tools.wire.tcpcrypt``, where the public names live; the
hex below is spelled out from the layouts, not produced by the encoders under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, TruncatedError
from tcpinc_tools.wire.buffer import Buffer
from tcpinc_tools.wire.constants import Dialect
from tcpinc_tools.wire.tcpcrypt import (
    Frame,
    FramePlaintext,
    decode_frame,
    decode_frame_plaintext,
    encode_frame,
    encode_frame_plaintext,
    frame_header,
    frame_length,
    pull_frame,
)
from tests.support import fuzz_settings, property_settings

TAG = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"  # a 16-byte AEAD tag (RFC 5116 §5.1, RFC 8439)

# -- frames (RFC 8548 §4.2) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_frame", "control", "rekey", "reserved", "ciphertext"),
    [
        # control 00, clen 0x0010: an empty plaintext's tag alone.
        ("00" + "0010" + TAG, 0x00, False, 0x00, TAG),
        # rekey bit set, clen 0x0013 = 3 data bytes + tag.
        ("01" + "0013" + "a1a2a3" + TAG, 0x01, True, 0x00, "a1a2a3" + TAG),
        # cres bits 1-7 kept in place and reported; rekey still read.
        ("ff" + "0011" + "00" + TAG, 0xFF, True, 0xFE, "00" + TAG),
        ("82" + "0000", 0x82, False, 0x82, ""),
    ],
)
def test_frame_hex_round_trip(
    hex_frame: str, control: int, rekey: bool, reserved: int, ciphertext: str
) -> None:
    data = bytes.fromhex(hex_frame)
    frame = decode_frame(data)
    assert frame == Frame(control=control, ciphertext=bytes.fromhex(ciphertext))
    assert (frame.control, frame.rekey, frame.reserved) == (control, rekey, reserved)
    assert frame.clen == len(ciphertext) // 2 == int(hex_frame[2:6], 16)
    assert frame.size == len(data) == 3 + frame.clen
    assert frame.header == data[:3]
    assert encode_frame(frame.ciphertext, rekey=rekey, reserved=reserved) == data
    assert frame_length(data) == len(data)


def test_frame_encoder_defaults_and_header() -> None:
    assert encode_frame(bytes.fromhex(TAG)) == bytes.fromhex("000010" + TAG)
    assert encode_frame(b"\xaa" * 17, rekey=True)[:3] == bytes.fromhex("010011")
    # RFC 8548 §4.2.2: associated data = control ‖ clen (clen counts the tag, trap T13).
    assert frame_header(0x01, 0x0013) == bytes.fromhex("010013")
    assert frame_header(0xFE, 0xFFFF) == bytes.fromhex("feffff")


def test_frame_encoder_errors() -> None:
    assert len(encode_frame(bytes(0xFFFF))) == 0xFFFF + 3
    with pytest.raises(EncodeError, match="2\\^16"):
        encode_frame(bytes(0x10000))
    with pytest.raises(EncodeError, match="bits 1-7"):
        encode_frame(b"", reserved=0x01)
    with pytest.raises(EncodeError):
        encode_frame(b"", reserved=0x100)
    with pytest.raises(EncodeError):
        frame_header(0x100, 0)
    with pytest.raises(EncodeError):
        frame_header(-1, 0)
    with pytest.raises(EncodeError):
        frame_header(0, 0x10000)


def test_frame_truncation_at_every_byte() -> None:
    data = bytes.fromhex("01" + "0013" + "a1a2a3" + TAG)
    starts = {0: 0, 1: 1, 2: 1}  # control, clen; from byte 3 on: the ciphertext
    for cut in range(len(data)):
        with pytest.raises(TruncatedError) as info:
            decode_frame(data[:cut])
        assert info.value.offset == starts.get(cut, 3)
        assert info.value.expert_id == "tcpcrypt.frame.truncated"
        buf = Buffer(data[:cut])
        with pytest.raises(TruncatedError):
            pull_frame(buf)
        assert buf.tell() == 0
        assert frame_length(data[:cut]) == (None if cut < 3 else len(data))


def test_frames_in_one_stream_buffer() -> None:
    stream = bytes.fromhex("00" + "0002" + "aabb" + "01" + "0000" + "00" + "0001" + "cc" + "00")
    assert decode_frame(stream) == Frame(0x00, b"\xaa\xbb")  # bytes after 3+clen not read
    buf = Buffer(stream)
    frames = [pull_frame(buf), pull_frame(buf), pull_frame(buf)]
    assert [(f.rekey, f.ciphertext) for f in frames] == [
        (False, b"\xaa\xbb"),
        (True, b""),
        (False, b"\xcc"),
    ]
    assert buf.tell() == 12
    with pytest.raises(TruncatedError) as info:
        pull_frame(buf)
    assert info.value.offset == 13  # the clen field of the fourth frame
    assert buf.tell() == 12


# -- frame plaintext (RFC 8548 §4.2.1) ----------------------------------------------------


@pytest.mark.parametrize(
    ("hex_plain", "fin", "urg", "reserved_flags", "urgent", "data"),
    [
        ("00" + "68656c6c6f", False, False, 0x00, None, "68656c6c6f"),  # "hello"
        ("01", True, False, 0x00, None, ""),  # FINp alone, no data
        ("02" + "0005" + "6869", False, True, 0x00, 5, "6869"),  # URGp: urgent field
        ("03" + "ffff", True, True, 0x00, 0xFFFF, ""),
        ("fd" + "00", True, False, 0xFC, None, "00"),  # fres kept in place
        ("fe" + "0102" + "03", False, True, 0xFC, 0x0102, "03"),
    ],
)
def test_plaintext_rfc_hex(
    hex_plain: str, fin: bool, urg: bool, reserved_flags: int, urgent: int | None, data: str
) -> None:
    raw = bytes.fromhex(hex_plain)
    plain = decode_frame_plaintext(raw)
    assert plain == FramePlaintext(flags=raw[0], urgent=urgent, data=bytes.fromhex(data))
    assert (plain.fin, plain.urg, plain.reserved_flags) == (fin, urg, reserved_flags)
    encoded = encode_frame_plaintext(plain.data, fin=fin, urgent=urgent)
    assert encoded == bytes([raw[0] & 0x03]) + raw[1:]  # senders write fres as 0


@pytest.mark.parametrize(
    ("hex_plain", "fin", "urg", "data"),
    [
        ("00" + "6869", False, False, "6869"),
        ("01", True, False, ""),
        # LEGACY.md: flags ‖ data; URGp is reported but there is no urgent field.
        ("02" + "0005", False, True, "0005"),
        ("fc" + "00", False, False, "00"),
    ],
)
def test_plaintext_legacy_hex(hex_plain: str, fin: bool, urg: bool, data: str) -> None:
    raw = bytes.fromhex(hex_plain)
    plain = decode_frame_plaintext(raw, dialect="legacy")
    assert plain == FramePlaintext(raw[0], None, bytes.fromhex(data))
    assert (plain.fin, plain.urg) == (fin, urg)
    if not urg:
        assert encode_frame_plaintext(plain.data, fin=fin, dialect="legacy") == bytes(
            [raw[0] & 0x03]
        ) + bytes.fromhex(data)


def test_plaintext_truncation() -> None:
    for raw, dialect, offset, field in [
        (b"", "rfc", 0, "flags"),
        (b"", "legacy", 0, "flags"),
        (b"\x02", "rfc", 1, "urgent"),
        (b"\x03\x00", "rfc", 1, "urgent"),
    ]:
        with pytest.raises(TruncatedError) as info:
            decode_frame_plaintext(raw, dialect=dialect)  # type: ignore[arg-type]
        assert (info.value.offset, info.value.field) == (offset, field)
        assert info.value.expert_id == "tcpcrypt.plaintext.truncated"
    assert decode_frame_plaintext(b"\x02", dialect="legacy").data == b""


def test_plaintext_encoder_errors() -> None:
    assert encode_frame_plaintext(b"x", urgent=0) == bytes.fromhex("02000078")
    with pytest.raises(EncodeError, match="legacy"):
        encode_frame_plaintext(b"x", urgent=1, dialect="legacy")
    with pytest.raises(EncodeError):
        encode_frame_plaintext(b"x", urgent=0x10000)
    with pytest.raises(EncodeError):
        encode_frame_plaintext(b"x", urgent=-1)
    with pytest.raises(ValueError, match="dialect"):
        encode_frame_plaintext(b"x", dialect="tcpcrypt-02")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dialect"):
        decode_frame_plaintext(b"\x00", dialect="")  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------


@property_settings
@given(st.binary(max_size=2000), st.booleans(), st.integers(0, 127), st.binary(max_size=8))
def test_frame_round_trip_property(ciphertext: bytes, rekey: bool, cres: int, extra: bytes) -> None:
    data = encode_frame(ciphertext, rekey=rekey, reserved=cres << 1)
    frame = decode_frame(data + extra)
    assert (frame.ciphertext, frame.rekey, frame.reserved) == (ciphertext, rekey, cres << 1)
    assert frame.size == len(data) == frame_length(data + extra)


@property_settings
@given(
    st.binary(max_size=200),
    st.booleans(),
    st.none() | st.integers(0, 0xFFFF),
    st.sampled_from(["rfc", "legacy"]),
)
def test_plaintext_round_trip_property(
    data: bytes, fin: bool, urgent: int | None, dialect: Dialect
) -> None:
    if dialect == "legacy":
        urgent = None
    plain = decode_frame_plaintext(
        encode_frame_plaintext(data, fin=fin, urgent=urgent, dialect=dialect), dialect=dialect
    )
    assert (plain.data, plain.fin, plain.urgent, plain.urg) == (
        data,
        fin,
        urgent,
        urgent is not None,
    )
    assert plain.reserved_flags == 0


# -- decoder contract (fuzz) --------------------------------------------------------------


@fuzz_settings
@given(st.binary(max_size=300) | st.binary(max_size=40).map(lambda b: b"\x00\x00" + b))
def test_decode_frame_contract(data: bytes) -> None:
    length = frame_length(data)
    try:
        frame = decode_frame(data)
    except DecodeError:
        assert length is None or length > len(data)
        return
    assert length == frame.size <= len(data)
    assert frame.header + frame.ciphertext == data[: frame.size]


@pytest.mark.parametrize("dialect", ["rfc", "legacy"])
@fuzz_settings
@given(data=st.binary(max_size=100))
def test_decode_frame_plaintext_contract(dialect: Dialect, data: bytes) -> None:
    try:
        plain = decode_frame_plaintext(data, dialect=dialect)
    except DecodeError:
        assert len(data) < 3
        return
    assert plain.flags == data[0]
    assert plain.data == data[(3 if plain.urgent is not None else 1) :]
