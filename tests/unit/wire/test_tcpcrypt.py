"""tcpcrypt Init1 / Init2 and resumption data (RFC 8548 §3.3, §3.5, §4.1, §5; LEGACY.md).

Every message below is spelled out field by field from the layouts of RFC 8548 §4.1 and §5
(DIGEST.md §2.3, §2.10, trap T27) and of shared/spec/LEGACY.md, never produced by the
encoder under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, MalformedError, TruncatedError
from tcpinc_tools.wire.buffer import Buffer
from tcpinc_tools.wire.constants import Dialect
from tcpinc_tools.wire.tcpcrypt import (
    Init1,
    Init2,
    ResumeOffer,
    decode_init1,
    decode_init2,
    decode_resume_suboption,
    encode_init1,
    encode_init2,
    encode_resume_suboption,
    init_message_length,
    pull_frame,
    pull_init1,
    pull_init2,
)
from tests.support import fuzz_settings, property_settings

# Field values, 32 bytes each unless said: nonces and keys with distinct bytes, so that a
# field read at the wrong offset cannot go unnoticed.
NA = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
NB = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
X25519 = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
X448 = (  # 56 bytes
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
)
P256X = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
P256Y = "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
P521X = (  # 66 bytes
    "01ff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
)
P521Y = (  # 66 bytes
    "00ee404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
)
M1 = "15101a0e"  # INIT1_MAGIC, RFC 8548 §4.3 Table 1
M2 = "097105e0"  # INIT2_MAGIC


@dataclass(frozen=True)
class Vec:
    """One message: its wire fields in order (hex) and the values a decoder must report."""

    name: str
    dialect: Dialect
    tep: int
    fields: tuple[str, ...]
    ciphers: tuple[int, ...]  # Init1: the list; Init2: the one chosen
    nonce: str
    pubkey: str

    @property
    def data(self) -> bytes:
        return bytes.fromhex("".join(self.fields))

    @property
    def starts(self) -> list[int]:
        """Offset of each field: where a truncation inside it must be reported."""
        return [0, *accumulate(len(f) // 2 for f in self.fields)][:-1]


INIT1 = [
    # RFC: magic ‖ message_len ‖ nciphers ‖ 2-byte ids ‖ N_A ‖ Pub_A. 73+2K = 77.
    Vec(
        "rfc-x25519",
        "rfc",
        0x23,
        (M1, "0000004d", "02", "0001", "0010", NA, X25519),
        (0x0001, 0x0010),
        NA,
        X25519,
    ),
    # 97+2K = 99.
    Vec("rfc-x448", "rfc", 0x24, (M1, "00000063", "01", "0010", NA, X448), (0x0010,), NA, X448),
    # 76+2K = 80; pubkey_len 0x0023 = 2 + 33 counts itself (T27).
    Vec(
        "rfc-p256",
        "rfc",
        0x21,
        (M1, "00000050", "02", "0001", "0002", NA, "0023", "02" + P256X),
        (0x0001, 0x0002),
        NA,
        "02" + P256X,
    ),
    # 110+2K = 116; pubkey_len 0x0045 = 2 + 67.
    Vec(
        "rfc-p521",
        "rfc",
        0x22,
        (M1, "00000074", "03", "0001", "0002", "0010", NA, "0045", "03" + P521X),
        (0x0001, 0x0002, 0x0010),
        NA,
        "03" + P521X,
    ),
    # LEGACY.md: 1-byte ids, pubkey_len 0x0043 = 2 + 65, uncompressed point; 110 bytes.
    Vec(
        "legacy-p256",
        "legacy",
        0x21,
        (M1, "0000006e", "02", "01", "02", NA, "0043", "04" + P256X + P256Y),
        (0x01, 0x02),
        NA,
        "04" + P256X + P256Y,
    ),
    # 4+4+1+1+32+2+133 = 177 = 0xb1; pubkey_len 0x0087 = 2 + 133.
    Vec(
        "legacy-p521",
        "legacy",
        0x22,
        (M1, "000000b1", "01", "02", NA, "0087", "04" + P521X + P521Y),
        (0x02,),
        NA,
        "04" + P521X + P521Y,
    ),
]

INIT2 = [
    # RFC: magic ‖ message_len ‖ sym_cipher (2) ‖ N_B ‖ Pub_B. 74 bytes.
    Vec("rfc-x25519", "rfc", 0x23, (M2, "0000004a", "0001", NB, X25519), (0x0001,), NB, X25519),
    Vec("rfc-x448", "rfc", 0x24, (M2, "00000062", "0010", NB, X448), (0x0010,), NB, X448),
    Vec(
        "rfc-p256",
        "rfc",
        0x21,
        (M2, "0000004d", "0002", NB, "0023", "03" + P256X),
        (0x0002,),
        NB,
        "03" + P256X,
    ),
    Vec(
        "rfc-p521",
        "rfc",
        0x22,
        (M2, "0000006f", "0001", NB, "0045", "02" + P521X),
        (0x0001,),
        NB,
        "02" + P521X,
    ),
    # LEGACY.md: 1-byte cipher; 108 bytes for P-256.
    Vec(
        "legacy-p256",
        "legacy",
        0x21,
        (M2, "0000006c", "01", NB, "0043", "04" + P256X + P256Y),
        (0x01,),
        NB,
        "04" + P256X + P256Y,
    ),
    # 4+4+1+32+2+133 = 176 = 0xb0.
    Vec(
        "legacy-p521",
        "legacy",
        0x22,
        (M2, "000000b0", "02", NB, "0087", "04" + P521X + P521Y),
        (0x02,),
        NB,
        "04" + P521X + P521Y,
    ),
]

ids = [v.name for v in INIT1]
BOTH = [(decode_init1, pull_init1, v) for v in INIT1] + [
    (decode_init2, pull_init2, v) for v in INIT2
]
BOTH_IDS = [f"init1-{i}" for i in ids] + [f"init2-{i}" for i in ids]


# -- hex round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("vec", INIT1, ids=ids)
def test_init1_hex_round_trip(vec: Vec) -> None:
    data = vec.data
    assert len(data) == int(vec.fields[1], 16)  # message_len counts the whole message
    msg = decode_init1(data, vec.tep, dialect=vec.dialect)
    assert msg == Init1(
        ciphers=vec.ciphers,
        n_a=bytes.fromhex(vec.nonce),
        pubkey=bytes.fromhex(vec.pubkey),
        message_len=len(data),
        trailing=b"",
        raw=data,
    )
    assert encode_init1(vec.ciphers, msg.n_a, msg.pubkey, vec.tep, dialect=vec.dialect) == data


@pytest.mark.parametrize("vec", INIT2, ids=ids)
def test_init2_hex_round_trip(vec: Vec) -> None:
    data = vec.data
    assert len(data) == int(vec.fields[1], 16)
    msg = decode_init2(data, vec.tep, dialect=vec.dialect)
    assert msg == Init2(
        cipher=vec.ciphers[0],
        n_b=bytes.fromhex(vec.nonce),
        pubkey=bytes.fromhex(vec.pubkey),
        message_len=len(data),
        trailing=b"",
        raw=data,
    )
    assert encode_init2(vec.ciphers[0], msg.n_b, msg.pubkey, vec.tep, dialect=vec.dialect) == data


def test_legacy_example_sizes() -> None:
    # LEGACY.md: "110 bytes for P-256 with two ciphers", Init2 "108 bytes for P-256".
    assert len(INIT1[4].data) == 110
    assert len(INIT2[4].data) == 108


# DIGEST.md §2.3 DERIVED sizes: (Init1 base, Init2) with Init1 = base + 2K.
SIZES = {0x23: (73, 74, X25519), 0x24: (97, 98, X448), 0x21: (76, 77, "02" + P256X),
         0x22: (110, 111, "03" + P521X)}  # fmt: skip


@pytest.mark.parametrize("tep", sorted(SIZES))
@pytest.mark.parametrize("k", [0, 1, 2, 3, 17, 255])
def test_derived_sizes_table(tep: int, k: int) -> None:
    base, init2_len, pub = SIZES[tep]
    pubkey = bytes.fromhex(pub)
    ciphers = [0x0001 + i for i in range(k)]
    init1 = encode_init1(ciphers, bytes(32), pubkey, tep)
    assert len(init1) == base + 2 * k
    assert init1[4:8] == (base + 2 * k).to_bytes(4, "big")
    assert decode_init1(init1, tep).ciphers == tuple(ciphers)
    init2 = encode_init2(0x0001, bytes(32), pubkey, tep)
    assert len(init2) == init2_len
    assert init2[4:8] == init2_len.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("tep", "point", "init1_base", "init2_len"), [(0x21, 65, 108, 108), (0x22, 133, 176, 176)]
)
@pytest.mark.parametrize("k", [0, 2, 255])
def test_legacy_sizes(tep: int, point: int, init1_base: int, init2_len: int, k: int) -> None:
    # LEGACY.md: 8 + 1 + K + 32 + 2 + point = 43 + K + point; Init2: 8 + 1 + 32 + 2 + point.
    pubkey = b"\x04" + bytes(point - 1)
    init1 = encode_init1(list(range(k)), bytes(32), pubkey, tep, dialect="legacy")
    assert len(init1) == init1_base + k == 43 + k + point
    assert init1[8] == k
    assert init1[9 + k + 32 : 9 + k + 34] == (2 + point).to_bytes(2, "big")
    init2 = encode_init2(1, bytes(32), pubkey, tep, dialect="legacy")
    assert len(init2) == init2_len
    assert init2[41:43] == (2 + point).to_bytes(2, "big")


# -- trailing bytes, bytes after the message, stream use ----------------------------------


def test_trailing_bytes_inside_message_len_are_ignored() -> None:
    # RFC 8548 §4.1: receivers MUST permit and ignore bytes after Pub_A within message_len.
    data = bytes.fromhex(M1 + "00000051" + "02" + "0001" + "0010" + NA + X25519 + "deadbeef")
    msg = decode_init1(data, 0x23)
    assert msg.pubkey == bytes.fromhex(X25519)
    assert msg.trailing == bytes.fromhex("deadbeef")
    assert msg.message_len == 81
    assert msg.raw == data
    # Senders MUST leave the ignored part empty: the encoder adds nothing by default ...
    plain = encode_init1(msg.ciphers, msg.n_a, msg.pubkey, 0x23)
    assert plain == INIT1[0].data
    # ... and writes trailing bytes only when told to.
    assert encode_init1(msg.ciphers, msg.n_a, msg.pubkey, 0x23, trailing=msg.trailing) == data


def test_trailing_bytes_init2_p256() -> None:
    data = bytes.fromhex(M2 + "0000004f" + "0002" + NB + "0023" + "03" + P256X + "0000")
    msg = decode_init2(data, 0x21)
    assert (msg.pubkey, msg.trailing, msg.message_len) == (bytes.fromhex("03" + P256X), b"\0\0", 79)
    assert encode_init2(2, msg.n_b, msg.pubkey, 0x21, trailing=b"\0\0") == data


def test_legacy_trailing_bytes() -> None:
    fields = (M1, "0000006e", "01", "01", NA, "0043", "04" + P256X + P256Y, "aa")
    msg = decode_init1(bytes.fromhex("".join(fields)), 0x21, dialect="legacy")
    assert msg.ciphers == (1,)
    assert msg.trailing == b"\xaa"


@pytest.mark.parametrize(("decode", "pull", "vec"), BOTH, ids=BOTH_IDS)
def test_bytes_after_message_len_are_not_read(
    decode: Callable[..., Init1 | Init2], pull: Callable[..., Init1 | Init2], vec: Vec
) -> None:
    data = vec.data
    more = data + bytes.fromhex("0000020102")  # e.g. a frame that follows in the stream
    assert decode(more, vec.tep, dialect=vec.dialect) == decode(data, vec.tep, dialect=vec.dialect)
    buf = Buffer(more)
    assert pull(buf, vec.tep, dialect=vec.dialect).raw == data
    assert buf.tell() == len(data)
    assert init_message_length(more) == len(data)
    frame = pull_frame(buf)
    assert (frame.control, frame.ciphertext) == (0, b"\x01\x02")
    assert buf.eof()


def test_pull_init_at_a_non_zero_position() -> None:
    buf = Buffer(b"\xff\xff" + INIT1[0].data + INIT2[0].data)
    buf.seek(2)
    assert pull_init1(buf, 0x23).raw == INIT1[0].data
    assert pull_init2(buf, 0x23).raw == INIT2[0].data
    assert buf.eof()


# -- truncation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("decode", "pull", "vec"), BOTH, ids=BOTH_IDS)
def test_truncation_at_every_byte(
    decode: Callable[..., Init1 | Init2], pull: Callable[..., Init1 | Init2], vec: Vec
) -> None:
    expert = f"tcpcrypt.{decode.__name__.removeprefix('decode_')}.truncated"
    data = vec.data
    for cut in range(len(data)):
        with pytest.raises(TruncatedError) as info:
            decode(data[:cut], vec.tep, dialect=vec.dialect)
        # The offset is the start of the field the data ends in.
        assert info.value.offset == max(s for s in vec.starts if s <= cut), cut
        assert info.value.expert_id == expert
        buf = Buffer(data[:cut])
        with pytest.raises(TruncatedError):
            pull(buf, vec.tep, dialect=vec.dialect)
        assert buf.tell() == 0  # a failed pull leaves the position unchanged


def test_message_len_beyond_the_data_is_truncated() -> None:
    # message_len 0x50 promises 3 ignored bytes; only the 77 bytes of the key are there.
    data = bytes.fromhex(M1 + "00000050" + "02" + "0001" + "0010" + NA + X25519)
    with pytest.raises(TruncatedError) as info:
        decode_init1(data, 0x23)
    assert (info.value.offset, info.value.field) == (77, "ignored")


def test_truncation_error_names_the_field() -> None:
    with pytest.raises(TruncatedError) as info:
        decode_init1(INIT1[2].data[:50], 0x21)
    assert (info.value.offset, info.value.field) == (47, "Pub_A")
    assert "Pub_A" in str(info.value)


# -- malformed messages -------------------------------------------------------------------


def _malformed(
    expert_id: str, offset: int | None, call: Callable[..., object], *args: object, **kw: object
) -> None:
    with pytest.raises(MalformedError) as info:
        call(*args, **kw)
    assert info.value.expert_id == expert_id
    assert info.value.offset == offset


def test_bad_magic() -> None:
    bad = bytes.fromhex("15101a0f") + INIT1[0].data[4:]
    _malformed("tcpcrypt.init1.bad_magic", 0, decode_init1, bad, 0x23)
    _malformed("tcpcrypt.init1.bad_magic", 0, decode_init1, INIT2[0].data, 0x23)
    _malformed("tcpcrypt.init2.bad_magic", 0, decode_init2, INIT1[0].data, 0x23)
    # Four bytes are enough to tell.
    _malformed("tcpcrypt.init2.bad_magic", 0, decode_init2, bytes.fromhex("00000000"), 0x23)


def test_message_len_too_small() -> None:
    # message_len 8 cannot even hold nciphers: malformed, although nothing else is there.
    _malformed(
        "tcpcrypt.init.bad_message_len", 4, decode_init1, bytes.fromhex(M1 + "00000008"), 0x23
    )
    # One byte short of Pub_A (77 needed).
    short = bytes.fromhex(M1 + "0000004c" + "02" + "0001" + "0010" + NA + X25519)
    _malformed("tcpcrypt.init.bad_message_len", 4, decode_init1, short, 0x23)
    # P-256: the fixed part ends with pubkey_len (8+1+4+32+2 = 47).
    p256 = bytes.fromhex(M1 + "0000002e" + "02" + "0001" + "0002" + NA + "0023")
    _malformed("tcpcrypt.init.bad_message_len", 4, decode_init1, p256, 0x21)
    _malformed(
        "tcpcrypt.init.bad_message_len", 4, decode_init2, bytes.fromhex(M2 + "00000049"), 0x23
    )
    legacy = bytes.fromhex(M2 + "0000002a" + "01" + NB + "00")
    _malformed("tcpcrypt.init.bad_message_len", 4, decode_init2, legacy, 0x21, dialect="legacy")


@pytest.mark.parametrize("pubkey_len", ["0000", "0001", "0024", "ffff"])
def test_bad_pubkey_len(pubkey_len: str) -> None:
    # Below 2 (it counts itself, T27), or past message_len (0x50 = 80 leaves 35 bytes at 45).
    data = bytes.fromhex(M1 + "00000050" + "02" + "0001" + "0002" + NA + pubkey_len + "02" + P256X)
    _malformed("tcpcrypt.init.bad_pubkey_len", 45, decode_init1, data, 0x21)


def test_pubkey_len_not_counting_itself_is_rejected() -> None:
    # A sender that wrote 33 (the point alone) would claim a 31-byte point.
    data = bytes.fromhex(M2 + "0000004d" + "0002" + NB + "0021" + "03" + P256X)
    _malformed("tcpcrypt.init.bad_pubkey", 42, decode_init2, data, 0x21)


def test_rfc_rejects_an_uncompressed_point() -> None:
    # A legacy-style 65-byte key under the RFC dialect: wrong length for the curve.
    data = bytes.fromhex(
        M1 + "00000070" + "02" + "0001" + "0002" + NA + "0043" + "04" + P256X + P256Y
    )
    _malformed("tcpcrypt.init.bad_pubkey", 45, decode_init1, data, 0x21)
    # Right length, wrong form byte: 04 is not 02/03.
    data = bytes.fromhex(M1 + "00000050" + "02" + "0001" + "0002" + NA + "0023" + "04" + P256X)
    _malformed("tcpcrypt.init.bad_pubkey", 47, decode_init1, data, 0x21)
    data = bytes.fromhex(M2 + "0000006f" + "0001" + NB + "0045" + "00" + P521X)
    _malformed("tcpcrypt.init.bad_pubkey", 44, decode_init2, data, 0x22)


def test_legacy_requires_an_uncompressed_point() -> None:
    data = bytes.fromhex(M2 + "0000006c" + "01" + NB + "0043" + "02" + P256X + P256Y)
    _malformed("tcpcrypt.init.bad_pubkey", 43, decode_init2, data, 0x21, dialect="legacy")
    # A compressed RFC key under the legacy dialect: wrong length.
    data = bytes.fromhex(M2 + "0000004c" + "01" + NB + "0023" + "03" + P256X)
    _malformed("tcpcrypt.init.bad_pubkey", 41, decode_init2, data, 0x21, dialect="legacy")
    # The RFC Init2 read as legacy: the fields shift and pubkey_len runs past message_len.
    _malformed(
        "tcpcrypt.init.bad_pubkey_len", 41, decode_init2, INIT2[2].data, 0x21, dialect="legacy"
    )


@pytest.mark.parametrize(
    ("tep", "dialect"),
    [
        (0x20, "rfc"),
        (0x25, "rfc"),
        (0xA3, "rfc"),
        (0x30, "rfc"),
        (0x23, "legacy"),
        (0x24, "legacy"),
    ],
)
def test_unknown_tep(tep: int, dialect: Dialect) -> None:
    _malformed("tcpcrypt.unknown_tep", None, decode_init1, INIT1[0].data, tep, dialect=dialect)
    _malformed("tcpcrypt.unknown_tep", None, decode_init2, INIT2[0].data, tep, dialect=dialect)
    buf = Buffer(INIT1[0].data)
    with pytest.raises(MalformedError):
        pull_init1(buf, tep, dialect=dialect)
    assert buf.tell() == 0


def test_malformed_pull_leaves_position() -> None:
    buf = Buffer(bytes.fromhex("15101a0f") + INIT1[0].data[4:])
    with pytest.raises(MalformedError):
        pull_init1(buf, 0x23)
    assert buf.tell() == 0


def test_unknown_dialect_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="dialect"):
        decode_init1(INIT1[0].data, 0x23, dialect="draft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dialect"):
        encode_init2(1, bytes(32), bytes(32), 0x23, dialect="draft")  # type: ignore[arg-type]


# -- encoder errors -----------------------------------------------------------------------


def test_encoder_rejects_what_cannot_go_on_the_wire() -> None:
    key = bytes.fromhex(X25519)
    with pytest.raises(EncodeError, match="N_A"):
        encode_init1([1], bytes(31), key, 0x23)
    with pytest.raises(EncodeError, match="N_B"):
        encode_init2(1, bytes(33), key, 0x23)
    with pytest.raises(EncodeError, match="key"):
        encode_init1([1], bytes(32), key[:31], 0x23)
    with pytest.raises(EncodeError, match="starts with 04"):
        encode_init1([1], bytes(32), bytes.fromhex("04" + P256X), 0x21)
    with pytest.raises(EncodeError, match="starts with 02"):
        encode_init2(1, bytes(32), bytes.fromhex("02" + P256X + P256Y), 0x21, dialect="legacy")
    with pytest.raises(EncodeError, match="nciphers"):
        encode_init1(list(range(256)), bytes(32), key, 0x23)
    with pytest.raises(EncodeError):
        encode_init1([0x10000], bytes(32), key, 0x23)
    with pytest.raises(EncodeError):
        encode_init2(0x100, bytes(32), bytes.fromhex("04" + P256X + P256Y), 0x21, dialect="legacy")
    with pytest.raises(EncodeError, match="TEP"):
        encode_init1([1], bytes(32), key, 0x23, dialect="legacy")


# -- init_message_length ------------------------------------------------------------------


def test_init_message_length() -> None:
    data = INIT1[3].data
    for cut in range(8):
        assert init_message_length(data[:cut]) is None
    assert init_message_length(data[:8]) == 116
    assert init_message_length(INIT2[5].data) == 176
    with pytest.raises(MalformedError) as info:
        init_message_length(bytes.fromhex("0000001300000050"))
    assert info.value.expert_id == "tcpcrypt.init.bad_magic"
    with pytest.raises(MalformedError) as info:
        init_message_length(bytes.fromhex(M2 + "00000007"))
    assert (info.value.expert_id, info.value.offset) == ("tcpcrypt.init.bad_message_len", 4)


# -- resumption suboption data (RFC 8548 §3.5) --------------------------------------------

HALF = "0102030405060708ff"


@pytest.mark.parametrize("nonce", ["", "aa", "a1a2a3a4a5a6a7a8"])
def test_resume_rfc_hex(nonce: str) -> None:
    data = bytes.fromhex(HALF + nonce)
    offer = decode_resume_suboption(data)
    assert offer == ResumeOffer(half=bytes.fromhex(HALF), nonce=bytes.fromhex(nonce))
    assert encode_resume_suboption(offer.half, offer.nonce, dialect="rfc") == data


def test_resume_fewer_than_9_bytes_is_a_fresh_offer() -> None:
    # "less than 9 bytes ... MUST behave as if the same TEP had been sent with v = 0".
    for n in range(9):
        assert decode_resume_suboption(bytes.fromhex(HALF)[:n]) is None
        assert decode_resume_suboption(bytes.fromhex(HALF)[:n], dialect="legacy") is None


def test_resume_too_long() -> None:
    _malformed("tcpcrypt.resume.too_long", 17, decode_resume_suboption, bytes(18))
    _malformed("tcpcrypt.resume.too_long", 17, decode_resume_suboption, bytes(32))
    _malformed("tcpcrypt.resume.too_long", 9, decode_resume_suboption, bytes(10), dialect="legacy")


def test_resume_legacy_hex() -> None:
    # LEGACY.md: `a1` then exactly 9 identifier bytes, no nonce.
    offer = decode_resume_suboption(bytes.fromhex(HALF), dialect="legacy")
    assert offer == ResumeOffer(bytes.fromhex(HALF), b"")
    assert encode_resume_suboption(bytes.fromhex(HALF), dialect="legacy") == bytes.fromhex(HALF)


def test_resume_encoder_errors() -> None:
    with pytest.raises(EncodeError):
        encode_resume_suboption(bytes(8))
    with pytest.raises(EncodeError):
        encode_resume_suboption(bytes(9), bytes(9))
    with pytest.raises(EncodeError):
        encode_resume_suboption(bytes(9), b"\x01", dialect="legacy")
    with pytest.raises(ValueError, match="dialect"):
        decode_resume_suboption(bytes(9), dialect="rfc8548")  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------

COMBOS: list[tuple[Dialect, int]] = [(v.dialect, v.tep) for v in INIT1]
POINT = {  # (dialect, tep) -> (point length, allowed first bytes or None)
    ("rfc", 0x23): (32, None), ("rfc", 0x24): (56, None), ("rfc", 0x21): (33, (2, 3)),
    ("rfc", 0x22): (67, (2, 3)), ("legacy", 0x21): (65, (4,)), ("legacy", 0x22): (133, (4,)),
}  # fmt: skip


@st.composite
def pubkeys(draw: st.DrawFn, dialect: Dialect, tep: int) -> bytes:
    length, first = POINT[(dialect, tep)]
    key = draw(st.binary(min_size=length, max_size=length))
    if first is not None:
        key = bytes([draw(st.sampled_from(first))]) + key[1:]
    return key


@st.composite
def init_args(draw: st.DrawFn) -> tuple[Dialect, int, list[int], bytes, bytes, bytes]:
    dialect, tep = draw(st.sampled_from(COMBOS))
    width = 0xFFFF if dialect == "rfc" else 0xFF
    ciphers = draw(st.lists(st.integers(0, width), max_size=20))
    nonce = draw(st.binary(min_size=32, max_size=32))
    trailing = draw(st.binary(max_size=20))
    return dialect, tep, ciphers, nonce, draw(pubkeys(dialect, tep)), trailing


@property_settings
@given(init_args(), st.binary(max_size=10))
def test_init1_round_trip_property(
    args: tuple[Dialect, int, list[int], bytes, bytes, bytes], extra: bytes
) -> None:
    dialect, tep, ciphers, n_a, pubkey, trailing = args
    data = encode_init1(ciphers, n_a, pubkey, tep, dialect=dialect, trailing=trailing)
    msg = decode_init1(data + extra, tep, dialect=dialect)
    assert msg == Init1(tuple(ciphers), n_a, pubkey, len(data), trailing, data)


@property_settings
@given(init_args(), st.binary(max_size=10))
def test_init2_round_trip_property(
    args: tuple[Dialect, int, list[int], bytes, bytes, bytes], extra: bytes
) -> None:
    dialect, tep, ciphers, n_b, pubkey, trailing = args
    cipher = ciphers[0] if ciphers else 1
    data = encode_init2(cipher, n_b, pubkey, tep, dialect=dialect, trailing=trailing)
    buf = Buffer(data + extra)
    assert pull_init2(buf, tep, dialect=dialect) == Init2(
        cipher, n_b, pubkey, len(data), trailing, data
    )
    assert buf.tell() == len(data)


@property_settings
@given(st.binary(min_size=9, max_size=9), st.binary(max_size=8))
def test_resume_round_trip_property(half: bytes, nonce: bytes) -> None:
    data = encode_resume_suboption(half, nonce)
    assert decode_resume_suboption(data) == ResumeOffer(half, nonce)
    assert decode_resume_suboption(half, dialect="legacy") == ResumeOffer(half, b"")


# -- decoder contract (fuzz) --------------------------------------------------------------


def _mutants(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid messages with a few bytes overwritten, cut short or extended."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 3))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
        return bytes(data) + draw(st.binary(max_size=8))

    return mutate()


def _fuzz_inputs(seeds: list[bytes], magic: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: bytes.fromhex(magic) + b),
        _mutants(seeds),
    )


TEPS = st.one_of(
    st.sampled_from(COMBOS), st.tuples(st.sampled_from(["rfc", "legacy"]), st.integers(0, 0xFF))
)


@fuzz_settings
@given(TEPS, _fuzz_inputs([v.data for v in INIT1 + INIT2], M1))
def test_decode_init1_contract(combo: tuple[Dialect, int], data: bytes) -> None:
    dialect, tep = combo
    try:  # the stream delimiter gets the same inputs
        length = init_message_length(data)
    except DecodeError:
        length = None
    assert length is None or length >= 8
    try:
        msg = decode_init1(data, tep, dialect=dialect)
    except DecodeError:
        return
    assert msg.raw == data[: msg.message_len]
    assert length == msg.message_len
    again = encode_init1(
        msg.ciphers, msg.n_a, msg.pubkey, tep, dialect=dialect, trailing=msg.trailing
    )
    assert again == msg.raw


@fuzz_settings
@given(TEPS, _fuzz_inputs([v.data for v in INIT2 + INIT1], M2))
def test_decode_init2_contract(combo: tuple[Dialect, int], data: bytes) -> None:
    dialect, tep = combo
    try:
        msg = decode_init2(data, tep, dialect=dialect)
    except DecodeError:
        return
    assert msg.raw == data[: msg.message_len]
    assert init_message_length(data) == msg.message_len
    again = encode_init2(
        msg.cipher, msg.n_b, msg.pubkey, tep, dialect=dialect, trailing=msg.trailing
    )
    assert again == msg.raw


@fuzz_settings
@given(st.sampled_from(["rfc", "legacy"]), st.binary(max_size=40))
def test_decode_resume_suboption_contract(dialect: Dialect, data: bytes) -> None:
    try:
        offer = decode_resume_suboption(data, dialect=dialect)
    except DecodeError:
        return
    if offer is None:
        assert len(data) < 9
    else:
        assert offer.half + offer.nonce == data
        assert encode_resume_suboption(offer.half, offer.nonce, dialect=dialect) == data
