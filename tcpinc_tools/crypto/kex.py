"""Key agreement for tcpcrypt: the four ECDHE schemes of RFC 8548 §5, and the legacy forms.

Sans-IO and reproducible: nothing here draws randomness on its own. A caller passes either the
private key bytes or a ``random_bytes(n) -> bytes`` callable (``os.urandom`` in the endpoint, a
seeded generator in the simulator), so generated captures are byte-for-byte repeatable.

Public keys (:attr:`KeyPair.public`, the ``peer_public`` arguments) are the encoded key exactly
as Init1/Init2 carry it, *without* the two-byte ``pubkey_len`` that precedes a NIST point on the
wire (that field is the wire layer's):

========== ====================== ==========================================
TEP        rfc dialect            legacy dialect (tcpcryptd 0.5, LEGACY.md)
========== ====================== ==========================================
P-256      33-byte compressed     65-byte uncompressed ``04 ‖ X ‖ Y``
P-521      67-byte compressed     133-byte uncompressed
Curve25519 32 raw bytes           (not in legacy: tcpcryptd 0.5 has NIST only)
Curve448   56 raw bytes           (not in legacy)
========== ====================== ==========================================

Errors: anything wrong with the *peer's* key or the shared secret raises
:class:`~tcpinc_tools.errors.KeyExchangeError` (RFC 8548 §3.3: abort the connection); a caller
mistake (a TEP that is not a tcpcrypt scheme, a private key of the wrong size) raises
:class:`~tcpinc_tools.errors.LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from tcpinc_tools.errors import KeyExchangeError, LocalProtocolError
from tcpinc_tools.wire.constants import (
    DIALECTS,
    ES_LEN,
    LEGACY_PUBKEY_FORMAT,
    PUBKEY_FORMAT,
    X448_PRIVATE_KEY_LEN,
    X25519_PRIVATE_KEY_LEN,
    Dialect,
    PubkeyFormat,
    TepId,
    tep_name,
)

__all__ = [
    "KeyPair",
    "PrivateKey",
    "RandomBytes",
    "check_shared_secret",
    "generate_keypair",
    "keypair_from_private_bytes",
    "shared_secret",
    "validate_public_key",
]

RandomBytes = Callable[[int], bytes]
PrivateKey = x25519.X25519PrivateKey | x448.X448PrivateKey | ec.EllipticCurvePrivateKey
_PublicKey = x25519.X25519PublicKey | x448.X448PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class _NistCurve:
    """Domain parameters of a NIST prime curve y² = x³ - 3x + b over GF(p), cofactor 1."""

    curve: ec.EllipticCurve
    p: int  # field prime; p ≡ 3 (mod 4) for both curves, so √a = a^((p+1)/4)
    b: int
    n: int  # order of the base point (prime; the group order, as the cofactor is 1)

    @property
    def field_len(self) -> int:
        """Bytes of a field element or scalar (FE2OSP / I2OSP length): 32 or 66."""
        return (self.p.bit_length() + 7) // 8


# FIPS 186-4 §D.1.2.3 (P-256) and §D.1.2.5 (P-521); the same values are in SEC 2 §2.4.2 / §2.6.1.
_NIST: Final = {
    TepId.TCPCRYPT_ECDHE_P256: _NistCurve(
        curve=ec.SECP256R1(),
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    TepId.TCPCRYPT_ECDHE_P521: _NistCurve(
        curve=ec.SECP521R1(),
        p=(1 << 521) - 1,
        b=int(
            "0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
            "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00",
            16,
        ),
        n=int(
            "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
            "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
            16,
        ),
    ),
}
# FIPS 186-4 §B.4.1: draw at least 64 bits more than the order has, then reduce.
_EXTRA_RANDOM_BYTES: Final = 8


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ephemeral key pair for one tcpcrypt key exchange.

    ``public`` is the encoded public key as Init1/Init2 carry it (no ``pubkey_len``).
    The private key stays out of ``repr`` and out of equality.
    """

    tep: TepId
    public: bytes
    private_key: PrivateKey = field(repr=False, compare=False)
    dialect: Dialect = "rfc"


@contextmanager
def _peer_input(what: str) -> Iterator[None]:
    """Turn whatever ``cryptography`` raises on bad peer input into KeyExchangeError."""
    try:
        yield
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyExchangeError(f"{what}: {exc}") from exc


def _scheme(tep: int, dialect: Dialect) -> TepId:
    """The key-agreement scheme of a TEP id (the v bit, 0x80, is ignored)."""
    if dialect not in DIALECTS:
        raise LocalProtocolError(f"unknown dialect {dialect!r}")
    glt = tep & 0x7F
    if not 0 <= tep <= 0xFF or glt not in ES_LEN:
        raise LocalProtocolError(f"TEP {tep:#04x} is not a tcpcrypt key-agreement scheme")
    scheme = TepId(glt)
    if dialect == "legacy" and scheme not in LEGACY_PUBKEY_FORMAT:
        raise LocalProtocolError(f"the legacy dialect has no {tep_name(scheme)} (LEGACY.md)")
    return scheme


def _pubkey_format(scheme: TepId, dialect: Dialect) -> PubkeyFormat:
    return (LEGACY_PUBKEY_FORMAT if dialect == "legacy" else PUBKEY_FORMAT)[scheme]


def _draw(random_bytes: RandomBytes, n: int) -> bytes:
    out = random_bytes(n)
    if len(out) != n:
        raise LocalProtocolError(f"random_bytes({n}) returned {len(out)} bytes")
    return bytes(out)


def _encode_public(private_key: PrivateKey, dialect: Dialect) -> bytes:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        # RFC 8548 §5: IEEE 1363 §E.2.3 point-to-octet-string, "MUST ... compressed format";
        # LEGACY.md: tcpcryptd 0.5 sends the uncompressed form.
        fmt = (
            serialization.PublicFormat.UncompressedPoint
            if dialect == "legacy"
            else serialization.PublicFormat.CompressedPoint
        )
        return private_key.public_key().public_bytes(serialization.Encoding.X962, fmt)
    # RFC 8548 §5: X25519 / X448 keys go on the wire raw (RFC 7748 §5 encoding).
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def keypair_from_private_bytes(tep: int, secret: bytes, *, dialect: Dialect = "rfc") -> KeyPair:
    """The key pair of a given private key.

    ``secret`` is 32 (X25519) or 56 (X448) bytes as in RFC 7748 §5 (clamped when used), or for
    P-256 / P-521 the scalar d as a 32 / 66-byte big-endian string with 1 <= d < n.
    """
    scheme = _scheme(tep, dialect)
    private_key: PrivateKey
    if scheme == TepId.TCPCRYPT_ECDHE_Curve25519:
        if len(secret) != X25519_PRIVATE_KEY_LEN:
            raise LocalProtocolError(f"an X25519 private key is 32 bytes, not {len(secret)}")
        private_key = x25519.X25519PrivateKey.from_private_bytes(secret)
    elif scheme == TepId.TCPCRYPT_ECDHE_Curve448:
        if len(secret) != X448_PRIVATE_KEY_LEN:
            raise LocalProtocolError(f"an X448 private key is 56 bytes, not {len(secret)}")
        private_key = x448.X448PrivateKey.from_private_bytes(secret)
    else:
        curve = _NIST[scheme]
        if len(secret) != curve.field_len:
            raise LocalProtocolError(
                f"a {tep_name(scheme)} private key is {curve.field_len} bytes, not {len(secret)}"
            )
        d = int.from_bytes(secret, "big")
        if not 1 <= d < curve.n:
            raise LocalProtocolError(f"a {tep_name(scheme)} private scalar must be in [1, n-1]")
        private_key = ec.derive_private_key(d, curve.curve)
    return KeyPair(scheme, _encode_public(private_key, dialect), private_key, dialect)


def generate_keypair(tep: int, random_bytes: RandomBytes, *, dialect: Dialect = "rfc") -> KeyPair:
    """A fresh ephemeral key pair from caller-supplied randomness (deterministic for a
    deterministic ``random_bytes``); ``random_bytes`` is called exactly once."""
    scheme = _scheme(tep, dialect)
    if scheme == TepId.TCPCRYPT_ECDHE_Curve25519:
        # RFC 7748 §6.1: the private key is 32 random bytes.
        return keypair_from_private_bytes(
            scheme, _draw(random_bytes, X25519_PRIVATE_KEY_LEN), dialect=dialect
        )
    if scheme == TepId.TCPCRYPT_ECDHE_Curve448:
        # RFC 7748 §6.2: the private key is 56 random bytes.
        return keypair_from_private_bytes(
            scheme, _draw(random_bytes, X448_PRIVATE_KEY_LEN), dialect=dialect
        )
    curve = _NIST[scheme]
    # FIPS 186-4 §B.4.1 (key pair generation using extra random bits): c from at least
    # bitlen(n) + 64 random bits, d = (c mod (n - 1)) + 1, so d is in [1, n-1] with negligible
    # bias and no retry loop.
    c = int.from_bytes(_draw(random_bytes, curve.field_len + _EXTRA_RANDOM_BYTES), "big")
    d = c % (curve.n - 1) + 1
    return keypair_from_private_bytes(scheme, d.to_bytes(curve.field_len, "big"), dialect=dialect)


def _load_nist_point(scheme: TepId, data: bytes, fmt: PubkeyFormat) -> ec.EllipticCurvePublicKey:
    # RFC 8548 §5: validate per IEEE 1363 §A.16.10. With cofactor 1 the checks are: Q is not
    # the point at infinity, x (and y) are field elements (< p), and Q is on the curve; the
    # order check nQ = O then holds for every curve point.
    name = tep_name(scheme)
    curve = _NIST[scheme]
    first = data[0]
    if first == 0x00:
        raise KeyExchangeError(f"{name} public key is the point at infinity (identity)")
    assert fmt.first_bytes is not None  # NIST formats always name their first bytes
    if first not in fmt.first_bytes:
        allowed = "/".join(f"{b:02x}" for b in sorted(fmt.first_bytes))
        raise KeyExchangeError(
            f"{name} public key starts with {first:02x}, expected {allowed} "
            f"({'uncompressed' if 0x04 in fmt.first_bytes else 'compressed'} point)"
        )
    p, flen = curve.p, curve.field_len
    x = int.from_bytes(data[1 : 1 + flen], "big")
    if x >= p:
        raise KeyExchangeError(f"{name} public key x-coordinate is not below the field prime")
    rhs = (pow(x, 3, p) - 3 * x + curve.b) % p
    if first == 0x04:
        # IEEE 1363 §E.2.3: uncompressed, 04 ‖ X ‖ Y.
        y = int.from_bytes(data[1 + flen :], "big")
        if y >= p:
            raise KeyExchangeError(f"{name} public key y-coordinate is not below the field prime")
        if y * y % p != rhs:
            raise KeyExchangeError(f"{name} public key is not a point on the curve")
    else:
        # IEEE 1363 §E.2.3: compressed, 02/03 ‖ X; a point exists iff x³ - 3x + b is a square.
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p != rhs:
            raise KeyExchangeError(f"{name} public key x-coordinate is not on the curve")
    with _peer_input(f"{name} public key"):
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.curve, data)


def _load_public(scheme: TepId, data: bytes, dialect: Dialect) -> _PublicKey:
    fmt = _pubkey_format(scheme, dialect)
    name = tep_name(scheme)
    if len(data) != fmt.point_len:
        raise KeyExchangeError(
            f"{name} public key is {len(data)} bytes, expected {fmt.point_len} ({dialect} dialect)"
        )
    # RFC 7748 §5: every 32 / 56-byte string is a u-coordinate; small-order points are caught
    # by the all-zero check on the shared secret (RFC 8548 §5).
    with _peer_input(f"{name} public key"):
        if scheme == TepId.TCPCRYPT_ECDHE_Curve25519:
            return x25519.X25519PublicKey.from_public_bytes(data)
        if scheme == TepId.TCPCRYPT_ECDHE_Curve448:
            return x448.X448PublicKey.from_public_bytes(data)
    return _load_nist_point(scheme, data, fmt)


def validate_public_key(tep: int, data: bytes, *, dialect: Dialect = "rfc") -> None:
    """Check a peer's public key (RFC 8548 §5); KeyExchangeError says what is wrong with it."""
    _load_public(_scheme(tep, dialect), data, dialect)


def check_shared_secret(tep: int, es: bytes) -> bytes:
    """Return ES, or raise KeyExchangeError for an all-zero X25519 / X448 result.

    OpenSSL already refuses to produce that value; the check keeps the RFC rule in our code
    whatever the backend does.
    """
    scheme = _scheme(tep, "rfc")
    # RFC 8548 §5, RFC 7748 §6: "MUST check whether the computed Diffie-Hellman shared secret
    # is the all-zero value and abort if so".
    curves = (TepId.TCPCRYPT_ECDHE_Curve25519, TepId.TCPCRYPT_ECDHE_Curve448)
    if scheme in curves and not any(es):
        raise KeyExchangeError(
            f"{tep_name(scheme)} shared secret is all zero: the peer sent a small-order point"
        )
    return es


def _exchange(private_key: PrivateKey, public_key: _PublicKey) -> bytes:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        # RFC 8548 §5: ECSVDP-DH; cryptography returns the x-coordinate as a fixed-length
        # big-endian string, FE2OSP (32 bytes P-256, 66 bytes P-521; DIGEST.md trap T14).
        return private_key.exchange(ec.ECDH(), public_key)
    if isinstance(private_key, x25519.X25519PrivateKey):
        assert isinstance(public_key, x25519.X25519PublicKey)
        return private_key.exchange(public_key)
    assert isinstance(public_key, x448.X448PublicKey)
    return private_key.exchange(public_key)


def shared_secret(keypair: KeyPair, peer_public: bytes, *, dialect: Dialect | None = None) -> bytes:
    """ES, the ephemeral secret of RFC 8548 §3.3, from our key pair and the peer's public key.

    ``dialect`` is the encoding of ``peer_public``; by default the key pair's own dialect.
    Raises KeyExchangeError on an invalid peer key or an all-zero X25519 / X448 result.
    """
    dialect = keypair.dialect if dialect is None else dialect
    scheme = _scheme(keypair.tep, dialect)
    public_key = _load_public(scheme, peer_public, dialect)
    with _peer_input(f"{tep_name(scheme)} key agreement"):
        es = _exchange(keypair.private_key, public_key)
    return check_shared_secret(scheme, es)
