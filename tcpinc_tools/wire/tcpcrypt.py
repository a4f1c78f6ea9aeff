"""tcpcrypt codecs: Init1, Init2, resumption suboption data, frames (RFC 8548 §3.3-§5).

Two dialects (``Dialect``): ``"rfc"`` (RFC 8548: two-byte sym_cipher ids, compressed
NIST points) and ``"legacy"`` (tcpcryptd 0.5, shared/spec/LEGACY.md: one-byte cipher ids,
uncompressed NIST points, P-256 and P-521 only).

Decoders read one structure from the start of ``data`` and never look past its end
(message_len for Init1/Init2), so they can be handed a stream buffer holding more. The
``pull_*`` forms do the same over a :class:`Buffer`, consume exactly one structure, and
leave the position unchanged when they raise. The wire layer checks the form and length
of public keys; on-curve validation belongs to ``crypto``.

Frames are in :mod:`tcpinc_tools.wire.frames`; their names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import EncodeError, MalformedError
from ..records import picklable
from .buffer import Buffer, BytesLike
from .constants import (
    INIT1_MAGIC,
    INIT2_MAGIC,
    INIT_HEADER_LEN,
    LEGACY_PUBKEY_FORMAT,
    N_A_LEN,
    N_B_LEN,
    PUBKEY_FORMAT,
    PUBKEY_LEN_FIELD_LEN,
    RESUME_HALF_LEN,
    RESUME_NONCE_MAX,
    SYM_CIPHER_LEN,
    Dialect,
    PubkeyFormat,
    TepId,
)
from .frames import (
    Frame,
    FramePlaintext,
    _atomic_pull,
    _check_dialect,
    decode_frame,
    decode_frame_plaintext,
    encode_frame,
    encode_frame_plaintext,
    frame_header,
    frame_length,
    pull_frame,
)

__all__ = [
    "Frame",
    "FramePlaintext",
    "Init1",
    "Init2",
    "ResumeOffer",
    "decode_frame",
    "decode_frame_plaintext",
    "decode_init1",
    "decode_init2",
    "decode_resume_suboption",
    "encode_frame",
    "encode_frame_plaintext",
    "encode_init1",
    "encode_init2",
    "encode_resume_suboption",
    "frame_header",
    "frame_length",
    "init_message_length",
    "pull_frame",
    "pull_init1",
    "pull_init2",
]


@dataclass(frozen=True, slots=True)
class Init1:
    """A→B key-exchange message. ``pubkey`` is Pub_A without any pubkey_len prefix;
    ``trailing`` the ignored bytes inside message_len; ``raw`` the exact message bytes."""

    ciphers: tuple[int, ...]
    n_a: bytes
    pubkey: bytes
    message_len: int
    trailing: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class Init2:
    """B→A key-exchange message; fields as in :class:`Init1`."""

    cipher: int
    n_b: bytes
    pubkey: bytes
    message_len: int
    trailing: bytes
    raw: bytes


@dataclass(frozen=True, slots=True, init=False)
class ResumeOffer:
    """Resumption suboption data: a 9-byte identifier half and a 0-8 byte nonce."""

    half: bytes
    nonce: bytes

    def __init__(self, half: bytes, nonce: bytes) -> None:  # by hand: see records.py
        object.__setattr__(self, "half", half)
        object.__setattr__(self, "nonce", nonce)


# -- shared pieces ------------------------------------------------------------------------


def _pubkey_format(tep: int, dialect: Dialect) -> PubkeyFormat | None:
    """How ``tep`` puts its public key on the wire in ``dialect``; None if it does not."""
    _check_dialect(dialect)
    return (PUBKEY_FORMAT if dialect == "rfc" else LEGACY_PUBKEY_FORMAT).get(tep)


def _decoding_format(tep: int, dialect: Dialect) -> PubkeyFormat:
    fmt = _pubkey_format(tep, dialect)
    if fmt is None:
        raise MalformedError(
            f"TEP {tep:#x} is not a tcpcrypt TEP of the {dialect} dialect",
            field="tep",
            expert_id="tcpcrypt.unknown_tep",
        )
    return fmt


# RFC 8548 §4.1: magic (4) ‖ message_len (4, BE, whole message including the magic).
def _pull_header(buf: Buffer, magic: int, name: str) -> int:
    at = buf.tell()
    got = buf.pull_uint32("magic")
    if got != magic:
        raise MalformedError(
            f"{name} magic {got:08x}, expected {magic:08x}",
            offset=at,
            field="magic",
            expert_id=f"tcpcrypt.{name}.bad_magic",
        )
    return buf.pull_uint32("message_len")


def _check_message_len(message_len: int, needed: int, start: int, name: str) -> None:
    if message_len < needed:
        raise MalformedError(
            f"{name} message_len {message_len} is below the {needed} bytes its fields need",
            offset=start + 4,
            field="message_len",
            expert_id="tcpcrypt.init.bad_message_len",
        )


# RFC 8548 §5: Pub_A / Pub_B; raw for Curve25519 / Curve448, ``pubkey_len (2, counting
# itself, DIGEST.md T27) ‖ point`` for P-256 / P-521 (compressed in RFC 8548, uncompressed
# in the legacy dialect).
def _pull_pubkey(buf: Buffer, tep: int, dialect: Dialect, *, end: int, field: str) -> bytes:
    fmt = _decoding_format(tep, dialect)
    if not fmt.length_prefixed:
        return buf.pull_bytes(fmt.point_len, field)
    at = buf.tell()
    pubkey_len = buf.pull_uint16("pubkey_len")
    if pubkey_len < PUBKEY_LEN_FIELD_LEN or at + pubkey_len > end:
        raise MalformedError(
            f"pubkey_len {pubkey_len} is below 2 or runs past message_len ({end - at} left)",
            offset=at,
            field="pubkey_len",
            expert_id="tcpcrypt.init.bad_pubkey_len",
        )
    if pubkey_len - PUBKEY_LEN_FIELD_LEN != fmt.point_len:
        raise MalformedError(
            f"{pubkey_len - PUBKEY_LEN_FIELD_LEN}-byte {TepId(tep).name} key, "
            f"the {dialect} dialect needs {fmt.point_len}",
            offset=at,
            field="pubkey_len",
            expert_id="tcpcrypt.init.bad_pubkey",
        )
    point_at = buf.tell()
    point = buf.pull_bytes(fmt.point_len, field)
    if fmt.first_bytes is not None and point[0] not in fmt.first_bytes:
        form = "compressed (02/03)" if dialect == "rfc" else "uncompressed (04)"
        raise MalformedError(
            f"{TepId(tep).name} key starts with {point[0]:02x}; {dialect} sends {form} points",
            offset=point_at,
            field=field,
            expert_id="tcpcrypt.init.bad_pubkey",
        )
    return point


def _push_pubkey(buf: Buffer, pubkey: bytes, tep: int, dialect: Dialect) -> None:
    fmt = _pubkey_format(tep, dialect)
    if fmt is None:
        raise EncodeError(f"TEP {tep:#x} is not a tcpcrypt TEP of the {dialect} dialect")
    curve = TepId(tep).name
    if len(pubkey) != fmt.point_len:
        raise EncodeError(f"{len(pubkey)}-byte {curve} key; {dialect} needs {fmt.point_len}")
    if fmt.first_bytes is not None and pubkey[0] not in fmt.first_bytes:
        allowed = "/".join(f"{b:02x}" for b in sorted(fmt.first_bytes))
        raise EncodeError(f"{curve} key starts with {pubkey[0]:02x}, not {allowed} ({dialect})")
    if fmt.length_prefixed:
        buf.push_uint16(fmt.wire_len)
    buf.push_bytes(pubkey)


# RFC 8548 §4.1: sym_cipher ids are two bytes (BE); LEGACY.md: one byte.
def _pull_cipher(buf: Buffer, dialect: Dialect, field: str) -> int:
    return buf.pull_uint16(field) if SYM_CIPHER_LEN[dialect] == 2 else buf.pull_uint8(field)


def _push_cipher(buf: Buffer, cipher: int, dialect: Dialect) -> None:
    if SYM_CIPHER_LEN[dialect] == 2:
        buf.push_uint16(cipher)
    else:
        buf.push_uint8(cipher)


# RFC 8548 §4.1: "implementations MUST permit and ignore any bytes following Pub_A/Pub_B"
# up to message_len; the key schedule (§3.3) hashes the message exactly as sent.
def _pull_raw(buf: Buffer, start: int, message_len: int, field: str) -> tuple[bytes, bytes]:
    """The ignored bytes up to message_len, and the whole message as sent."""
    trailing = buf.pull_bytes(start + message_len - buf.tell(), field)
    end = buf.tell()
    buf.seek(start)
    raw = buf.pull_bytes(message_len)
    buf.seek(end)
    return trailing, raw


def _check_nonce(nonce: bytes, length: int, name: str) -> None:
    if len(nonce) != length:
        raise EncodeError(f"{name} is {len(nonce)} bytes, not {length}")


# RFC 8548 §4.1: message_len counts the whole message, the 8 header bytes included.
def _with_header(magic: int, body: Buffer, trailing: bytes) -> bytes:
    buf = Buffer()
    buf.push_uint32(magic)
    buf.push_uint32(INIT_HEADER_LEN + len(body) + len(trailing))
    buf.push_bytes(body.data + bytes(trailing))
    return buf.data


# -- Init1 --------------------------------------------------------------------------------


# RFC 8548 §4.1 Init1: magic ‖ message_len ‖ nciphers = K ‖ K sym_cipher ids ‖ N_A ‖ Pub_A
# ‖ ignored. LEGACY.md: the same with one-byte ids and an uncompressed point.
def _pull_init1(buf: Buffer, tep: int, dialect: Dialect) -> Init1:
    fmt = _decoding_format(tep, dialect)
    start = buf.tell()
    message_len = _pull_header(buf, INIT1_MAGIC, "init1")
    _check_message_len(message_len, INIT_HEADER_LEN + 1, start, "init1")
    nciphers = buf.pull_uint8("nciphers")
    pub_fixed = PUBKEY_LEN_FIELD_LEN if fmt.length_prefixed else fmt.point_len
    needed = INIT_HEADER_LEN + 1 + SYM_CIPHER_LEN[dialect] * nciphers + N_A_LEN + pub_fixed
    _check_message_len(message_len, needed, start, "init1")
    ciphers = tuple(_pull_cipher(buf, dialect, f"sym_cipher[{i}]") for i in range(nciphers))
    n_a = buf.pull_bytes(N_A_LEN, "N_A")
    pubkey = _pull_pubkey(buf, tep, dialect, end=start + message_len, field="Pub_A")
    trailing, raw = _pull_raw(buf, start, message_len, "ignored")
    return Init1(ciphers, n_a, pubkey, message_len, trailing, raw)


def pull_init1(buf: Buffer, tep: int, *, dialect: Dialect = "rfc") -> Init1:
    """Read one Init1 at the buffer's position; on failure the position is unchanged."""
    return _atomic_pull(buf, "tcpcrypt.init1.truncated", lambda: _pull_init1(buf, tep, dialect))


def decode_init1(data: BytesLike, tep: int, *, dialect: Dialect = "rfc") -> Init1:
    """Decode the Init1 at the start of ``data`` for the negotiated ``tep`` (0x21-0x24)."""
    return pull_init1(Buffer(data), tep, dialect=dialect)


def encode_init1(
    ciphers: Sequence[int],
    n_a: bytes,
    pubkey: bytes,
    tep: int,
    *,
    dialect: Dialect = "rfc",
    trailing: bytes = b"",
) -> bytes:
    """Init1 with message_len (and pubkey_len) computed; ``trailing`` only if asked for."""
    _check_dialect(dialect)
    _check_nonce(n_a, N_A_LEN, "N_A")
    if len(ciphers) > 0xFF:
        raise EncodeError(f"{len(ciphers)} ciphers do not fit nciphers")
    body = Buffer()
    body.push_uint8(len(ciphers))
    for cipher in ciphers:
        _push_cipher(body, cipher, dialect)
    body.push_bytes(n_a)
    _push_pubkey(body, pubkey, tep, dialect)
    return _with_header(INIT1_MAGIC, body, trailing)


# -- Init2 --------------------------------------------------------------------------------


# RFC 8548 §4.1 Init2: magic ‖ message_len ‖ sym_cipher ‖ N_B ‖ Pub_B ‖ ignored.
# LEGACY.md: the same with a one-byte cipher id and an uncompressed point.
def _pull_init2(buf: Buffer, tep: int, dialect: Dialect) -> Init2:
    fmt = _decoding_format(tep, dialect)
    start = buf.tell()
    message_len = _pull_header(buf, INIT2_MAGIC, "init2")
    pub_fixed = PUBKEY_LEN_FIELD_LEN if fmt.length_prefixed else fmt.point_len
    needed = INIT_HEADER_LEN + SYM_CIPHER_LEN[dialect] + N_B_LEN + pub_fixed
    _check_message_len(message_len, needed, start, "init2")
    cipher = _pull_cipher(buf, dialect, "sym_cipher")
    n_b = buf.pull_bytes(N_B_LEN, "N_B")
    pubkey = _pull_pubkey(buf, tep, dialect, end=start + message_len, field="Pub_B")
    trailing, raw = _pull_raw(buf, start, message_len, "ignored")
    return Init2(cipher, n_b, pubkey, message_len, trailing, raw)


def pull_init2(buf: Buffer, tep: int, *, dialect: Dialect = "rfc") -> Init2:
    """Read one Init2 at the buffer's position; on failure the position is unchanged."""
    return _atomic_pull(buf, "tcpcrypt.init2.truncated", lambda: _pull_init2(buf, tep, dialect))


def decode_init2(data: BytesLike, tep: int, *, dialect: Dialect = "rfc") -> Init2:
    """Decode the Init2 at the start of ``data`` for the negotiated ``tep`` (0x21-0x24)."""
    return pull_init2(Buffer(data), tep, dialect=dialect)


def encode_init2(
    cipher: int,
    n_b: bytes,
    pubkey: bytes,
    tep: int,
    *,
    dialect: Dialect = "rfc",
    trailing: bytes = b"",
) -> bytes:
    """Init2 with message_len (and pubkey_len) computed; ``trailing`` only if asked for."""
    _check_dialect(dialect)
    _check_nonce(n_b, N_B_LEN, "N_B")
    body = Buffer()
    _push_cipher(body, cipher, dialect)
    body.push_bytes(n_b)
    _push_pubkey(body, pubkey, tep, dialect)
    return _with_header(INIT2_MAGIC, body, trailing)


# RFC 8548 §4.1: message_len (bytes 4-7) gives the length of the whole Init1 or Init2.
def init_message_length(data: bytes) -> int | None:
    """Length of the Init1/Init2 starting at ``data[0]``, or None before its 8 header bytes.

    Raises MalformedError when the magic is neither INIT1_MAGIC nor INIT2_MAGIC, or when
    message_len does not even cover the header (a stream parser would never advance).
    """
    if len(data) < INIT_HEADER_LEN:
        return None
    magic = int.from_bytes(data[:4], "big")
    if magic not in (INIT1_MAGIC, INIT2_MAGIC):
        raise MalformedError(
            f"magic {magic:08x} is neither Init1's nor Init2's",
            offset=0,
            field="magic",
            expert_id="tcpcrypt.init.bad_magic",
        )
    message_len = int.from_bytes(data[4:INIT_HEADER_LEN], "big")
    if message_len < INIT_HEADER_LEN:
        raise MalformedError(
            f"message_len {message_len} does not cover the 8-byte header",
            offset=4,
            field="message_len",
            expert_id="tcpcrypt.init.bad_message_len",
        )
    return message_len


# -- resumption suboption -----------------------------------------------------------------


# RFC 8548 §3.5 Figs. 2-3: resume[i] half (9) ‖ nonce (0-8); fewer than 9 data bytes is a
# fresh-exchange offer ("as if the same TEP had been sent with v = 0").
# LEGACY.md: exactly the 9 identifier bytes, no nonce.
def decode_resume_suboption(data: bytes, *, dialect: Dialect = "rfc") -> ResumeOffer | None:
    """Resumption data after the TEP|0x80 byte; None when it is a fresh-exchange offer."""
    _check_dialect(dialect)
    if len(data) < RESUME_HALF_LEN:
        return None
    limit = RESUME_HALF_LEN + (RESUME_NONCE_MAX if dialect == "rfc" else 0)
    if len(data) > limit:
        raise MalformedError(
            f"{len(data)} bytes of resumption data; the {dialect} dialect allows {limit}",
            offset=limit,
            field="nonce",
            expert_id="tcpcrypt.resume.too_long",
        )
    return ResumeOffer(bytes(data[:RESUME_HALF_LEN]), bytes(data[RESUME_HALF_LEN:]))


def encode_resume_suboption(half: bytes, nonce: bytes = b"", *, dialect: Dialect = "rfc") -> bytes:
    """The suboption data (after the TEP|0x80 byte): half ‖ nonce."""
    _check_dialect(dialect)
    if len(half) != RESUME_HALF_LEN:
        raise EncodeError(f"identifier half is {len(half)} bytes, not {RESUME_HALF_LEN}")
    limit = RESUME_NONCE_MAX if dialect == "rfc" else 0
    if len(nonce) > limit:
        raise EncodeError(f"{len(nonce)}-byte nonce; the {dialect} dialect allows {limit}")
    return bytes(half) + bytes(nonce)


picklable(Init1, Init2, ResumeOffer)
