"""tcpcrypt encryption frames: AEAD seal and open (RFC 8548 §3.6, §4.2; LEGACY.md "Frames").

A frame on the wire is ``control (1) ‖ clen (2, BE) ‖ ciphertext`` (RFC 8548 §4.2). This module
takes and returns *whole frames*; the plaintext it seals or returns is the already encoded frame
plaintext ``flags ‖ [urgent] ‖ data`` (RFC 8548 §4.2.1), which the wire layer builds and parses.

- Associated data: exactly the 3 header bytes ``control ‖ clen`` (§4.2.2), where clen is the
  *ciphertext* length including the 16-byte tag (DIGEST.md trap T13).
- rfc nonce: ``frame_ID XOR NR`` (§3.6, §4.2.3): frame_ID = the 8-byte big-endian offset,
  left-padded with zeros to ae_nonce_len (12); NR = the last ae_nonce_len bytes of the traffic
  key k_ab[j] / k_ba[j], whose first ae_key_len bytes are the AEAD key.
- legacy nonce (tcpcryptd 0.5): the frame offset as an 8-byte *little-endian* integer (an 8-byte
  GCM IV); the key is the first 16 (AES-128-GCM) or 32 (AES-256-GCM) bytes of the 32-byte
  K_AB / K_BA, and there is no nonce randomizer.

Frame offsets are the caller's business; this module only checks 0 <= offset < 2^64. The
project's decision (DIGEST.md §2.12, trap T12) is the literal RFC 8548 §3.6 reading: the offset
of a frame is the byte offset of its control byte in that direction's TCP data stream, counted
from the first byte after the SYN (ISN+1), so Init1 / Init2 at the start of the stream are
counted. (tcpcryptd 0.5 counts from the first byte after Init1 / Init2 instead, LEGACY.md; an
analyzer may try that reading when the literal one does not decrypt.)

Speed: :class:`FrameCipher` builds the AESGCM / ChaCha20Poly1305 object once per traffic key;
bulk decryption should hold one per direction and generation. :func:`seal_frame` and
:func:`open_frame` are one-shot wrappers. There is deliberately no global cache of ciphers:
it would keep traffic keys alive after their generation is done (RFC 8548 §3.8: old keys
SHOULD be deleted).
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from tcpinc_tools.errors import DecryptionError, EncodeError, LocalProtocolError
from tcpinc_tools.wire.constants import (
    AEAD_PARAMS,
    CLEN_MAX,
    DIALECTS,
    FRAME_HEADER_LEN,
    FRAME_OFFSET_LEN,
    LEGACY_AEAD_TO_RFC,
    LEGACY_NONCE_LEN,
    LEGACY_TRAFFIC_KEY_LEN,
    TAG_LEN,
    AeadId,
    Dialect,
    LegacyAeadId,
)

__all__ = [
    "FrameCipher",
    "frame_nonce",
    "legacy_frame_nonce",
    "open_frame",
    "resolve_aead",
    "seal_frame",
    "split_traffic_key",
    "traffic_key_len",
]

_OFFSET_LIMIT: Final = 1 << (8 * FRAME_OFFSET_LEN)
_MIN_FRAME_LEN: Final = FRAME_HEADER_LEN + TAG_LEN


def _check_dialect(dialect: Dialect) -> None:
    if dialect not in DIALECTS:
        raise LocalProtocolError(f"unknown dialect {dialect!r}")


def resolve_aead(aead: int, dialect: Dialect = "rfc") -> AeadId:
    """The RFC AEAD id of ``aead``: a two-byte AeadId, or in the legacy dialect also the
    one-byte LegacyAeadId (0x01 / 0x02, mapped by LEGACY_AEAD_TO_RFC)."""
    _check_dialect(dialect)
    try:
        if dialect == "legacy":
            # LEGACY.md: tcpcryptd 0.5 has AES-128-GCM and AES-256-GCM only.
            return LEGACY_AEAD_TO_RFC[LegacyAeadId(aead)]
        return AeadId(aead)
    except ValueError:
        raise LocalProtocolError(
            f"AEAD {aead:#06x} is not available in the {dialect} dialect"
        ) from None


def traffic_key_len(aead: int, dialect: Dialect = "rfc") -> int:
    """Length of k_ab / k_ba: ae_key_len + ae_nonce_len (RFC 8548 §3.3), 32 in legacy."""
    params = AEAD_PARAMS[resolve_aead(aead, dialect)]
    return LEGACY_TRAFFIC_KEY_LEN if dialect == "legacy" else params.traffic_key_len


def split_traffic_key(
    traffic_key: bytes, aead: int, *, dialect: Dialect = "rfc"
) -> tuple[bytes, bytes]:
    """(K, NR) of a traffic key: RFC 8548 §3.6 Fig. 4; in legacy (K, b"") (no randomizer)."""
    aead_id = resolve_aead(aead, dialect)
    expected = traffic_key_len(aead_id, dialect)
    if len(traffic_key) != expected:
        raise LocalProtocolError(
            f"a {aead_id.name} traffic key is {expected} bytes ({dialect}), not {len(traffic_key)}"
        )
    # RFC 8548 §3.6 Fig. 4: K = first ae_key_len bytes, NR = the following ae_nonce_len bytes.
    key_len = AEAD_PARAMS[aead_id].key_len
    if dialect == "legacy":
        return traffic_key[:key_len], b""
    return traffic_key[:key_len], traffic_key[key_len:]


def _check_offset(offset: int) -> None:
    if not 0 <= offset < _OFFSET_LIMIT:
        raise LocalProtocolError(f"frame offset {offset} is outside [0, 2^64)")


def frame_nonce(nr: bytes, offset: int) -> bytes:
    """The rfc AEAD nonce of the frame at ``offset``."""
    _check_offset(offset)
    if len(nr) < FRAME_OFFSET_LEN:
        raise LocalProtocolError(f"a nonce randomizer is at least 8 bytes, not {len(nr)}")
    # RFC 8548 §4.2.3: frame_ID = zero bytes ‖ offset (8 bytes, BE), ae_nonce_len long;
    # RFC 8548 §3.6: N = frame_ID XOR NR.
    return (int.from_bytes(nr, "big") ^ offset).to_bytes(len(nr), "big")


def legacy_frame_nonce(offset: int) -> bytes:
    """The legacy AEAD nonce: LEGACY.md, the offset as an 8-byte little-endian integer."""
    _check_offset(offset)
    return offset.to_bytes(LEGACY_NONCE_LEN, "little")


class FrameCipher:
    """Seals and opens the frames of one direction under one traffic key.

    The AEAD object is built once; keep one FrameCipher per direction and key generation.
    The key stays out of ``repr``.
    """

    __slots__ = ("_cipher", "_nonce_len", "_nr", "aead", "dialect")

    def __init__(self, traffic_key: bytes, aead: int, dialect: Dialect = "rfc") -> None:
        self.aead: AeadId = resolve_aead(aead, dialect)
        self.dialect: Dialect = dialect
        key, nr = split_traffic_key(traffic_key, self.aead, dialect=dialect)
        self._cipher: AESGCM | ChaCha20Poly1305 = (
            ChaCha20Poly1305(key) if self.aead == AeadId.AEAD_CHACHA20_POLY1305 else AESGCM(key)
        )
        self._nr: int | None = int.from_bytes(nr, "big") if dialect == "rfc" else None
        self._nonce_len = len(nr)

    def __repr__(self) -> str:
        return f"FrameCipher(aead={self.aead.name}, dialect={self.dialect!r})"

    def nonce(self, offset: int) -> bytes:
        """The AEAD nonce of the frame that starts at ``offset``."""
        _check_offset(offset)
        if self._nr is None:
            # LEGACY.md: the frame offset, 8 bytes little-endian.
            return offset.to_bytes(LEGACY_NONCE_LEN, "little")
        # RFC 8548 §3.6, §4.2.3: N = zero-pad(offset, ae_nonce_len) XOR NR.
        return (self._nr ^ offset).to_bytes(self._nonce_len, "big")

    def seal(self, offset: int, plaintext: bytes, control: int = 0) -> bytes:
        """The whole frame ``control ‖ clen ‖ C`` carrying the encoded ``plaintext``."""
        if not 0 <= control <= 0xFF:
            raise EncodeError(f"control byte {control} is not in 0..255")
        # RFC 8548 §3.6: the ciphertext (tag included) must be shorter than 2^16 bytes.
        clen = len(plaintext) + TAG_LEN
        if clen > CLEN_MAX:
            raise EncodeError(
                f"frame plaintext of {len(plaintext)} bytes gives clen {clen} >= 2^16"
            )
        # RFC 8548 §4.2.2: associated data = control ‖ clen, the frame's own header bytes.
        header = bytes((control, clen >> 8, clen & 0xFF))
        return header + self._cipher.encrypt(self.nonce(offset), plaintext, header)

    def open(self, offset: int, frame: bytes) -> bytes:
        """The encoded plaintext of a whole frame; DecryptionError if it does not authenticate."""
        if len(frame) < _MIN_FRAME_LEN:
            raise DecryptionError(
                f"frame of {len(frame)} bytes is shorter than header and tag ({_MIN_FRAME_LEN})"
            )
        # RFC 8548 §4.2: clen (big-endian) is the length of the ciphertext field.
        clen = (frame[1] << 8) | frame[2]
        if clen != len(frame) - FRAME_HEADER_LEN:
            raise DecryptionError(
                f"clen {clen} does not match the {len(frame) - FRAME_HEADER_LEN} ciphertext bytes"
            )
        nonce = self.nonce(offset)
        try:
            # RFC 8548 §3.6, §4.2.2: decrypt with A = control ‖ clen as received.
            return self._cipher.decrypt(
                nonce, bytes(frame[FRAME_HEADER_LEN:]), bytes(frame[:FRAME_HEADER_LEN])
            )
        except InvalidTag:
            raise DecryptionError(
                f"{self.aead.name} tag check failed for the frame at offset {offset}"
            ) from None


def seal_frame(
    traffic_key: bytes,
    aead: int,
    offset: int,
    plaintext: bytes,
    *,
    control: int = 0,
    dialect: Dialect = "rfc",
) -> bytes:
    """One-shot :meth:`FrameCipher.seal`."""
    return FrameCipher(traffic_key, aead, dialect).seal(offset, plaintext, control)


def open_frame(
    traffic_key: bytes, aead: int, offset: int, frame: bytes, *, dialect: Dialect = "rfc"
) -> bytes:
    """One-shot :meth:`FrameCipher.open`."""
    return FrameCipher(traffic_key, aead, dialect).open(offset, frame)
